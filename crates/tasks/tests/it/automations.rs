//! Automations: trigger → conditions → actions over a board's tasks (status changes, creation,
//! the hourly overdue sweep), each run logged; a refused action logs a failure; automations
//! that keep answering each other stop (loop prevented); bad rules are refused.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

async fn automation(cell: &Cell, token: &str, board: &str, body: Value) -> anyhow::Result<String> {
    let (status, out) = cell
        .post(
            &format!("/api/v1/boards/{board}/automations"),
            Some(token),
            body,
        )
        .await?;
    anyhow::ensure!(status == 201, "automation: {status} {out}");
    Ok(id(&out))
}

async fn runs(cell: &Cell, token: &str, automation: &str) -> anyhow::Result<Vec<Value>> {
    let (status, out) = cell
        .get(
            &format!("/api/v1/automations/{automation}/runs"),
            Some(token),
        )
        .await?;
    anyhow::ensure!(status == 200, "runs: {status} {out}");
    Ok(out.as_array().cloned().unwrap_or_default())
}

fn outcomes(runs: &[Value]) -> Vec<&str> {
    let mut o: Vec<&str> = runs.iter().filter_map(|r| r["outcome"].as_str()).collect();
    o.sort();
    o
}

db_test!(
    async fn automations_act_on_a_boards_tasks_and_stop_loops(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let lea = user(&cell, "lea@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let other = org(&cell, "Other").await?;
        let gus = user(&cell, "gus@other.test", other, "admin").await?;
        let (mia_id, max_id, lea_id, gus_id) = (me(&cell, &mia).await?, me(&cell, &max).await?, me(&cell, &lea).await?, me(&cell, &gus).await?);
        let b = board(&cell, &mia, "Delivery").await?;
        let bid = id(&b);
        let col = |i: usize| b["columns"][i]["id"].as_str().unwrap_or_default().to_owned();
        let elsewhere = board(&cell, &mia, "Elsewhere").await?;
        let path = format!("/api/v1/boards/{bid}/automations");

        // Bad rules: the field named, nothing kept.
        let ok = json!({"name": "r", "trigger": "task.created", "actions": [{"type": "set_field", "field": "priority", "value": "high"}]});
        for (change, name) in [
            (json!({"trigger": "task.exploded"}), "trigger"),
            (json!({"conditions": [{"field": "colour", "eq": "red"}]}), "conditions[0].field"),
            (json!({"conditions": [{"field": "status", "eq": "done"}]}), "conditions[0].eq"),
            (json!({"conditions": [{"field": "priority", "gte": 3}]}), "conditions[0].field"),
            (json!({"conditions": [{"field": "status", "eq": "todo", "ne": "review"}]}), "conditions[0].field"),
            (json!({"conditions": [{"field": "status", "to": "review"}]}), "conditions[0].field"),
            (json!({"actions": [{"type": "move", "column_id": elsewhere["columns"][0]["id"]}]}), "actions[0].column_id"),
            (json!({"actions": [{"type": "reassign", "target": gus_id}]}), "actions[0].target"),
            (json!({"actions": [{"type": "set_field", "field": "priority", "value": "asap"}]}), "actions[0].value"),
            (json!({"actions": [{"type": "notify", "target": "everyone", "message": "hi"}]}), "actions[0].target"),
        ] {
            let mut body = ok.clone();
            for (k, v) in change.as_object().into_iter().flatten() {
                body[k] = v.clone();
            }
            let (status, e) = cell.post(&path, Some(&mia), body).await?;
            assert_eq!((status, field(&e)), (422, vec![name.to_owned()]), "{change}: {e}");
        }
        assert_eq!(cell.post(&path, Some(&vic), ok.clone()).await?.0, 403);
        assert_eq!(cell.post(&path, Some(&gus), ok.clone()).await?.0, 404);
        assert_eq!(cell.get(&path, Some(&mia)).await?.1, json!([]));

        // Into Review: urgent, and the creator is told.
        let review = automation(&cell, &mia, &bid, json!({"name": "Review is urgent", "trigger": "task.status_changed",
            "conditions": [{"field": "status", "to": "review"}],
            "actions": [{"type": "set_field", "field": "priority", "value": "urgent"},
                        {"type": "notify", "target": "creator", "message": "Ready for review"}]})).await?;
        let t = task(&cell, &max, json!({"title": "Spec", "board_id": bid, "priority": "low"})).await?;
        cell.patch(&format!("/api/v1/tasks/{t}/move"), Some(&mia), json!({"column_id": col(1)})).await?;
        settle(&cell).await?;
        assert_eq!(cell.get(&format!("/api/v1/tasks/{t}"), Some(&vic)).await?.1["priority"], "low", "In Progress is not Review");
        cell.patch(&format!("/api/v1/tasks/{t}/move"), Some(&mia), json!({"column_id": col(2)})).await?;
        settle(&cell).await?;
        assert_eq!(cell.get(&format!("/api/v1/tasks/{t}"), Some(&vic)).await?.1["priority"], "urgent");
        let told = cell.events("tasks.automation.notified").await?;
        assert_eq!((told.len(), &told[0]["user_ids"], &told[0]["message"]), (1, &json!([max_id]), &json!("Ready for review")));
        let log = runs(&cell, &vic, &review).await?;
        assert_eq!(outcomes(&log), ["applied"]);
        assert_eq!(log[0]["detail"]["actions"][1], json!({"type": "notify", "users": [max_id]}));

        // A new urgent task is tagged (collab's tags, in the automation author's name); a tag of
        // another org, or a `bot:` one, is refused when the rule is saved.
        let (_, tag) = cell.post("/api/v1/tags", Some(&mia), json!({"name": "Escalated"})).await?;
        let (_, theirs) = cell.post("/api/v1/tags", Some(&gus), json!({"name": "Theirs"})).await?;
        let tag_rule = |tag: &Value| json!({"name": "Tag urgent", "trigger": "task.created",
            "conditions": [{"field": "priority", "eq": "urgent"}],
            "actions": [{"type": "add_tag", "tag_id": id(tag)}]});
        let (status, e) = cell.post(&path, Some(&mia), tag_rule(&theirs)).await?;
        assert_eq!((status, field(&e)), (422, vec!["actions[0].tag_id".to_owned()]), "{e}");
        let tagger = automation(&cell, &mia, &bid, tag_rule(&tag)).await?;

        // A new urgent task goes to In Progress.
        automation(&cell, &mia, &bid, json!({"name": "Urgent starts", "trigger": "task.created",
            "conditions": [{"field": "priority", "eq": "urgent"}],
            "actions": [{"type": "move", "column_id": col(1)}]})).await?;
        let u = task(&cell, &mia, json!({"title": "Outage", "board_id": bid, "priority": "urgent"})).await?;
        let calm = task(&cell, &mia, json!({"title": "Tidy", "board_id": bid})).await?;
        settle(&cell).await?;
        assert_eq!(cell.get(&format!("/api/v1/tasks/{u}"), Some(&vic)).await?.1["status"], "in_progress");
        assert_eq!(cell.get(&format!("/api/v1/tasks/{calm}"), Some(&vic)).await?.1["status"], "todo");
        let names = |tags: Value| tags.as_array().into_iter().flatten().map(|t| t["name"].clone()).collect::<Vec<_>>();
        assert_eq!(names(cell.get(&format!("/api/v1/tasks/{u}/tags"), Some(&vic)).await?.1), [json!("Escalated")]);
        assert_eq!(names(cell.get(&format!("/api/v1/tasks/{calm}/tags"), Some(&vic)).await?.1), Vec::<Value>::new());
        let log = runs(&cell, &vic, &tagger).await?;
        assert_eq!(outcomes(&log), ["applied"]);
        assert_eq!(log[0]["detail"]["actions"][0], json!({"type": "add_tag", "tag_id": id(&tag), "added": true}));

        // A refused action is logged as a failure: completed is final.
        let reopen = automation(&cell, &mia, &bid, json!({"name": "Reopen", "trigger": "task.completed",
            "actions": [{"type": "set_field", "field": "status", "value": "todo"}]})).await?;
        assert_eq!(cell.patch(&format!("/api/v1/tasks/{calm}"), Some(&mia), json!({"status": "completed"})).await?.0, 200);
        settle(&cell).await?;
        let log = runs(&cell, &vic, &reopen).await?;
        assert_eq!(outcomes(&log), ["failed"]);
        assert!(log[0]["detail"]["error"].as_str().is_some_and(|e| e.contains("final")), "{log:?}");
        assert_eq!(cell.get(&format!("/api/v1/tasks/{calm}"), Some(&vic)).await?.1["status"], "completed");

        // Overdue three days or more: urgent, to the project's lead; once per due date.
        let (_, p) = cell.post("/api/v1/projects", Some(&mia), json!({"name": "Launch", "lead_id": lea_id})).await?;
        let overdue = automation(&cell, &mia, &bid, json!({"name": "Escalate", "trigger": "task.overdue",
            "conditions": [{"field": "overdue_days", "gte": 3}, {"field": "project_id", "eq": id(&p).to_uppercase()}],
            "actions": [{"type": "set_field", "field": "priority", "value": "urgent"},
                        {"type": "reassign", "target": "project_lead"}]})).await?;
        let days_ago = |d: i64| (chrono::Utc::now() - chrono::Duration::days(d)).to_rfc3339();
        let late = task(&cell, &mia, json!({"title": "Late", "board_id": bid, "project_id": id(&p), "assignee_id": mia_id, "due_date": days_ago(5)})).await?;
        let recent = task(&cell, &mia, json!({"title": "Recent", "board_id": bid, "project_id": id(&p), "assignee_id": mia_id, "due_date": days_ago(1)})).await?;
        settle(&cell).await?;
        let sweep = || async {
            let db = cell.ctx.db().system();
            cell.ctx.jobs().enqueue(db.conn(), "tasks.overdue", None, json!({"tick": chrono::Utc::now().to_rfc3339()})).await?;
            settle(&cell).await
        };
        sweep().await?;
        let (_, l) = cell.get(&format!("/api/v1/tasks/{late}"), Some(&vic)).await?;
        assert_eq!((&l["priority"], &l["assignee_id"]), (&json!("urgent"), &json!(lea_id)), "{l}");
        let (_, r) = cell.get(&format!("/api/v1/tasks/{recent}"), Some(&vic)).await?;
        assert_eq!((&r["priority"], &r["assignee_id"]), (&json!("medium"), &json!(mia_id)));
        sweep().await?;
        assert_eq!(outcomes(&runs(&cell, &vic, &overdue).await?), ["applied"], "once per due date");

        // Two automations answering each other: each runs once per chain, then the chain stops.
        let loop_board = board(&cell, &mia, "Loop").await?;
        let lb = id(&loop_board);
        let up = automation(&cell, &mia, &lb, json!({"name": "Up", "trigger": "task.updated",
            "actions": [{"type": "set_field", "field": "priority", "value": "high"}]})).await?;
        let down = automation(&cell, &mia, &lb, json!({"name": "Down", "trigger": "task.updated",
            "actions": [{"type": "set_field", "field": "priority", "value": "low"}]})).await?;
        let w = task(&cell, &mia, json!({"title": "Ping", "board_id": lb})).await?;
        settle(&cell).await?;
        let updates_before = cell.events("tasks.task.updated").await?.len();
        cell.patch(&format!("/api/v1/tasks/{w}"), Some(&mia), json!({"title": "Pong"})).await?;
        settle(&cell).await?;
        for a in [&up, &down] {
            let log = runs(&cell, &vic, a).await?;
            let mut o = outcomes(&log);
            o.dedup();
            assert_eq!(o, ["applied", "loop_prevented"], "{a}");
        }
        let updates = cell.events("tasks.task.updated").await?.len() - updates_before;
        assert_eq!(updates, 3, "the user's change and one by each automation");

        // Edited, listed, removed; another org reaches none of it.
        let auto = format!("/api/v1/automations/{up}");
        let mut off = json!({"name": "Up", "trigger": "task.updated", "enabled": false,
            "actions": [{"type": "set_field", "field": "priority", "value": "high"}]});
        assert_eq!(put(&cell, &auto, &gus, off.clone()).await?.0, 404);
        let (status, a) = put(&cell, &auto, &mia, off.clone()).await?;
        assert_eq!((status, &a["enabled"]), (200, &json!(false)), "{a}");
        off["trigger"] = json!("task.exploded");
        assert_eq!(put(&cell, &auto, &mia, off).await?.0, 422);
        assert_eq!(cell.get(&format!("/api/v1/boards/{lb}/automations"), Some(&vic)).await?.1.as_array().map(Vec::len), Some(2));
        assert_eq!(cell.get(&format!("/api/v1/boards/{lb}/automations"), Some(&gus)).await?.0, 404);
        assert_eq!(cell.get(&format!("{auto}/runs"), Some(&gus)).await?.0, 404);
        assert_eq!(cell.delete(&auto, Some(&gus)).await?.0, 404);
        assert_eq!(cell.delete(&auto, Some(&vic)).await?.0, 403);
        assert_eq!(cell.delete(&auto, Some(&mia)).await?.0, 204);
        assert_eq!(cell.get(&format!("{auto}/runs"), Some(&mia)).await?.0, 404);
        Ok(())
    }
);
