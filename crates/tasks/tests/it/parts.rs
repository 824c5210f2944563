//! Subtasks at any depth, checklists, dependencies (cycles refused, unblocking), watchers,
//! assignees, the trash with subtasks, notifications' recipients.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn subtasks_checklists_and_the_trash(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;

        let a = task(&cell, &mia, json!({"title": "epic"})).await?;
        let (status, b) = cell.post(&format!("/api/v1/tasks/{a}/subtasks"), Some(&mia), json!({"title": "story"})).await?;
        assert_eq!((status, &b["parent_id"]), (201, &json!(a)), "{b}");
        let b = id(&b);
        let (_, c) = cell.post(&format!("/api/v1/tasks/{b}/subtasks"), Some(&mia), json!({"title": "step"})).await?;
        let c = id(&c);
        let (status, _) = cell.post(&format!("/api/v1/tasks/{b}/subtasks"), Some(&mia), json!({"title": "x", "parent_id": a})).await?;
        assert_eq!(status, 422);
        let (status, detail) = cell.get(&format!("/api/v1/tasks/{a}"), Some(&max)).await?;
        assert_eq!(status, 200, "{detail}");
        let subs: Vec<(&str, &str)> = detail["subtasks"].as_array().into_iter().flatten()
            .map(|t| (t["title"].as_str().unwrap_or_default(), t["parent_id"].as_str().unwrap_or_default())).collect();
        assert_eq!(subs, [("story", a.as_str()), ("step", b.as_str())]);
        // No task under its own subtask.
        let (status, e) = cell.patch(&format!("/api/v1/tasks/{a}"), Some(&mia), json!({"parent_id": c})).await?;
        assert_eq!(status, 409, "{e}");
        let (status, e) = cell.patch(&format!("/api/v1/tasks/{a}"), Some(&mia), json!({"parent_id": a})).await?;
        assert_eq!(status, 409, "{e}");

        // Checklists: the last item done completes them, once.
        let (status, list) = cell.post(&format!("/api/v1/tasks/{a}/checklists"), Some(&mia), json!({"title": "Ready", "items": ["spec", "review"]})).await?;
        assert_eq!(status, 201, "{list}");
        let lid = id(&list);
        let (status, more) = cell.post(&format!("/api/v1/checklists/{lid}/items"), Some(&mia), json!({"title": "sign-off"})).await?;
        assert_eq!(status, 201, "{more}");
        let items = [id(&list["items"][0]), id(&list["items"][1]), id(&more)];
        let item = |i: &str| format!("/api/v1/checklists/{lid}/items/{i}");
        for i in &items[..2] {
            let (status, x) = cell.patch(&item(i), Some(&max), json!({"done": true})).await?;
            assert_eq!((status, &x["done"]), (200, &json!(true)), "{x}");
        }
        assert!(cell.events("tasks.task.checklist_completed").await?.is_empty());
        cell.patch(&item(&items[2]), Some(&max), json!({"done": true})).await?;
        cell.patch(&item(&items[2]), Some(&max), json!({"done": true})).await?;
        assert_eq!(cell.events("tasks.task.checklist_completed").await?.len(), 1);
        let (status, _) = cell.patch(&format!("/api/v1/checklists/{lid}/items/{b}"), Some(&max), json!({"done": true})).await?;
        assert_eq!(status, 404);
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{a}"), Some(&max)).await?;
        assert_eq!(detail["checklists"][0]["items"].as_array().map(Vec::len), Some(3));

        // The trash: another member may not delete Mia's task, an admin may; its subtasks go
        // with it and come back with it.
        assert_eq!(cell.delete(&format!("/api/v1/tasks/{a}"), Some(&max)).await?.0, 403);
        assert_eq!(cell.delete(&format!("/api/v1/tasks/{b}"), Some(&boss)).await?.0, 204);
        assert_eq!(cell.get(&format!("/api/v1/tasks/{c}"), Some(&mia)).await?.0, 404, "the subtask went with it");
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{a}"), Some(&mia)).await?;
        assert_eq!(detail["subtasks"], json!([]));
        let (status, trash) = cell.get("/api/v1/trash?type=task", Some(&boss)).await?;
        assert_eq!(status, 200, "{trash}");
        let (status, e) = cell.post(&format!("/api/v1/trash/{b}/restore?type=task"), Some(&boss), json!({})).await?;
        assert_eq!(status, 200, "{e}");
        assert_eq!(cell.get(&format!("/api/v1/tasks/{c}"), Some(&mia)).await?.0, 200, "back with its parent");
        Ok(())
    }
);

db_test!(
    async fn dependencies_refuse_cycles_and_completion_unblocks(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let (max_id, vic_id, gus_id) = (me(&cell, &max).await?, me(&cell, &vic).await?, me(&cell, &gus).await?);

        let d = task(&cell, &mia, json!({"title": "design"})).await?;
        let e = task(&cell, &mia, json!({"title": "build", "assignee_id": max_id})).await?;
        let f = task(&cell, &mia, json!({"title": "ship"})).await?;
        let dep = |t: &str| format!("/api/v1/tasks/{t}/dependencies");
        assert_eq!(cell.post(&dep(&e), Some(&mia), json!({"depends_on_id": d})).await?.0, 201);
        assert_eq!(cell.post(&dep(&f), Some(&mia), json!({"depends_on_id": e, "type": "finish_to_start"})).await?.0, 201);
        let (status, err) = cell.post(&dep(&f), Some(&mia), json!({"depends_on_id": e})).await?;
        assert_eq!(status, 409, "twice: {err}");
        let (status, err) = cell.post(&dep(&d), Some(&mia), json!({"depends_on_id": f})).await?;
        assert_eq!(status, 409, "{err}");
        assert_eq!(err["error"]["details"]["cycle"], json!([d, f, e, d]), "{err}");
        let (status, err) = cell.post(&dep(&d), Some(&mia), json!({"depends_on_id": d})).await?;
        assert_eq!(status, 409, "{err}");
        let (status, _) = cell.post(&dep(&d), Some(&mia), json!({"depends_on_id": e, "type": "sideways"})).await?;
        assert_eq!(status, 422);

        // A blocked task cannot start; completing what it waits for unblocks it.
        let (status, err) = cell.patch(&format!("/api/v1/tasks/{e}"), Some(&max), json!({"status": "in_progress"})).await?;
        assert_eq!(status, 409, "{err}");
        assert_eq!(err["error"]["details"]["blocked_by"], json!([d]));
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{e}"), Some(&max)).await?;
        assert_eq!((&detail["blocked"], &detail["dependencies"][0]["title"]), (&json!(true), &json!("design")));
        let (status, done) = cell.patch(&format!("/api/v1/tasks/{d}"), Some(&mia), json!({"status": "completed"})).await?;
        assert_eq!((status, &done["status"]), (200, &json!("completed")), "{done}");
        let unblocked = cell.events("tasks.task.unblocked").await?;
        assert_eq!(unblocked, [json!({"task_id": e, "by_task_id": d})]);
        assert_eq!(cell.patch(&format!("/api/v1/tasks/{e}"), Some(&max), json!({"status": "in_progress"})).await?.0, 200);
        assert_eq!(cell.delete(&format!("/api/v1/tasks/{f}/dependencies/{e}"), Some(&mia)).await?.0, 204);
        assert_eq!(cell.delete(&format!("/api/v1/tasks/{f}/dependencies/{e}"), Some(&mia)).await?.0, 404);

        // Assignees work in the org; watchers belong to it.
        assert_eq!(cell.events("tasks.task.assigned").await?.len(), 1);
        for who in [&vic_id, &gus_id] {
            let (status, err) = cell.patch(&format!("/api/v1/tasks/{f}"), Some(&mia), json!({"assignee_id": who})).await?;
            assert_eq!(status, 422, "{err}");
        }
        let (status, _) = cell.patch(&format!("/api/v1/tasks/{f}"), Some(&mia), json!({"assignee_id": max_id})).await?;
        assert_eq!(status, 200);
        let assigned = cell.events("tasks.task.assigned").await?;
        assert_eq!(assigned.len(), 2);
        assert_eq!(assigned[1]["assignee_id"], json!(max_id));
        let w = |t: &str| format!("/api/v1/tasks/{t}/watchers");
        assert_eq!(cell.post(&w(&f), Some(&mia), json!({"user_id": vic_id})).await?.0, 201);
        assert_eq!(cell.post(&w(&f), Some(&mia), json!({"user_id": vic_id})).await?.0, 200);
        assert_eq!(cell.post(&w(&f), Some(&mia), json!({"user_id": gus_id})).await?.0, 422);
        assert_eq!(cell.post(&w(&f), Some(&vic), json!({})).await?.0, 403, "viewers are watched for, they do not write");
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{f}"), Some(&mia)).await?;
        assert_eq!(detail["watchers"], json!([vic_id]));

        // The assignee completes it.
        let (status, _) = cell.patch(&format!("/api/v1/tasks/{f}"), Some(&max), json!({"status": "completed"})).await?;
        assert_eq!(status, 200);

        // Another org's tasks are not there to depend on or watch.
        let (status, _) = cell.post(&dep(&f), Some(&gus), json!({"depends_on_id": d})).await?;
        assert_eq!(status, 404);
        let theirs = task(&cell, &gus, json!({"title": "theirs"})).await?;
        let (status, err) = cell.post(&dep(&e), Some(&mia), json!({"depends_on_id": theirs})).await?;
        assert_eq!(status, 422, "{err}");
        assert_eq!(cell.post(&w(&f), Some(&gus), json!({})).await?.0, 404);
        assert_eq!(cell.post(&format!("/api/v1/tasks/{f}/checklists"), Some(&gus), json!({"title": "x"})).await?.0, 404);

        // Anchors name an entity of the cell the caller sees.
        let (status, err) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "x", "anchor_type": "spaceship", "anchor_id": d})).await?;
        assert_eq!(status, 422, "{err}");
        let (status, err) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "x", "anchor_type": "task", "anchor_id": theirs})).await?;
        assert_eq!(status, 422, "{err}");
        let (status, t) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "follow up", "anchor_type": "task", "anchor_id": d})).await?;
        assert_eq!((status, &t["anchor_id"]), (201, &json!(d)), "{t}");
        let (_, anchored) = cell.get(&format!("/api/v1/tasks?filter[anchor_id]={d}"), Some(&mia)).await?;
        assert_eq!(anchored["meta"]["total"], 1);
        Ok(())
    }
);
