//! Recurring tasks: RFC 5545 rules counted in the user's time zone (09:00 in Paris stays 09:00
//! across the change to summer time), clones made by the schedule once per occurrence however
//! often it runs, assignees by turns or by load, bad rules refused.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

/// Runs the recurrence schedule's job as of `tick`, as the kernel's scheduler would.
async fn recur(cell: &Cell, tick: &str) -> anyhow::Result<()> {
    let db = cell.ctx.db().system();
    cell.ctx
        .jobs()
        .enqueue(db.conn(), "tasks.recur", None, json!({ "tick": tick }))
        .await?;
    settle(cell).await
}

/// The clones of a rule: (start, due, assignee), by start.
async fn clones(
    cell: &Cell,
    token: &str,
    rule: &str,
) -> anyhow::Result<Vec<(Value, Value, Value)>> {
    let (status, page) = cell
        .get(
            &format!("/api/v1/tasks?filter[recurrence_id]={rule}&sort=start_date:asc&limit=100"),
            Some(token),
        )
        .await?;
    anyhow::ensure!(status == 200, "{page}");
    Ok(page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["start_date"].clone(),
                t["due_date"].clone(),
                t["assignee_id"].clone(),
            )
        })
        .collect())
}

db_test!(
    async fn recurring_tasks_keep_their_local_time_and_occur_once(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let other = org(&cell, "Other").await?;
        let gus = user(&cell, "gus@other.test", other, "admin").await?;
        let (mia_id, max_id, gus_id) = (me(&cell, &mia).await?, me(&cell, &max).await?, me(&cell, &gus).await?);
        let b = board(&cell, &mia, "Ops").await?;

        // Mondays 09:00 in Paris from 15 March 2027 (UTC+1), two hours each, with a checklist.
        let weekly = task(&cell, &mia, json!({"title": "Weekly report", "board_id": id(&b),
            "start_date": "2027-03-15T08:00:00Z", "due_date": "2027-03-15T10:00:00Z"})).await?;
        cell.post(&format!("/api/v1/tasks/{weekly}/checklists"), Some(&mia), json!({"title": "Send", "items": ["numbers", "notes"]})).await?;
        let path = format!("/api/v1/tasks/{weekly}/recurrence");
        // Mia lives in Paris: a rule that names no zone counts in hers.
        let (status, profile) = cell.patch("/api/v1/users/me", Some(&mia), json!({"timezone": "Europe/Paris"})).await?;
        assert_eq!(status, 200, "{profile}");
        let rule = json!({"rule": "FREQ=WEEKLY;BYDAY=MO",
            "assignee_strategy": "rotate", "assignees": [mia_id, max_id]});

        // Bad rules, zones and assignees are refused, with the field named; nothing is kept.
        for (change, name) in [
            (json!({"rule": "FREQ=SOMETIMES"}), "rule"),
            (json!({"rule": "FREQ=MINUTELY"}), "rule"),
            (json!({"rule": "FREQ=WEEKLY\nRRULE:FREQ=DAILY"}), "rule"),
            (json!({"timezone": "Mars/Olympus"}), "timezone"),
            (json!({"assignees": []}), "assignees"),
            (json!({"assignees": [mia_id, gus_id]}), "assignees[1]"),
            (json!({"assignees": [mia_id, mia_id]}), "assignees[1]"),
            (json!({"assignee_strategy": "same"}), "assignees"),
            (json!({"assignee_strategy": "random"}), "assignee_strategy"),
        ] {
            let mut body = rule.clone();
            for (k, v) in change.as_object().into_iter().flatten() {
                body[k] = v.clone();
            }
            let (status, e) = put(&cell, &path, &mia, body).await?;
            assert_eq!((status, field(&e)), (422, vec![name.to_owned()]), "{change}: {e}");
        }
        assert_eq!(cell.get(&path, Some(&mia)).await?.0, 404);
        assert_eq!(put(&cell, &path, &vic, rule.clone()).await?.0, 403);
        assert_eq!(put(&cell, &path, &gus, rule.clone()).await?.0, 404, "another org's task");

        let (status, r) = put(&cell, &path, &mia, rule.clone()).await?;
        assert_eq!((status, &r["timezone"]), (200, &json!("Europe/Paris")), "{r}");
        let rid = id(&r);
        // Wall time kept across the change to summer time on 28 March: UTC moves an hour.
        let upcoming: Vec<(&Value, &Value)> = r["upcoming"].as_array().into_iter().flatten().map(|o| (&o["at"], &o["local"])).collect();
        assert_eq!(upcoming[..3], [
            (&json!("2027-03-15T08:00:00Z"), &json!("2027-03-15T09:00:00+01:00")),
            (&json!("2027-03-22T08:00:00Z"), &json!("2027-03-22T09:00:00+01:00")),
            (&json!("2027-03-29T07:00:00Z"), &json!("2027-03-29T09:00:00+02:00")),
        ]);
        assert_eq!(cell.get(&path, Some(&vic)).await?.1["next_at"], "2027-03-15T08:00:00Z");
        assert_eq!(cell.get(&path, Some(&gus)).await?.0, 404);

        // Nothing before the first occurrence.
        recur(&cell, "2027-03-15T07:59:00Z").await?;
        assert!(clones(&cell, &vic, &rid).await?.is_empty());
        // A tick after the change of time makes the three occurrences so far, in turn.
        recur(&cell, "2027-03-29T07:30:00Z").await?;
        let made = clones(&cell, &vic, &rid).await?;
        assert_eq!(made, [
            (json!("2027-03-15T08:00:00Z"), json!("2027-03-15T10:00:00Z"), json!(mia_id)),
            (json!("2027-03-22T08:00:00Z"), json!("2027-03-22T10:00:00Z"), json!(max_id)),
            (json!("2027-03-29T07:00:00Z"), json!("2027-03-29T09:00:00Z"), json!(mia_id)),
        ]);
        // The same tick again, and an earlier one: nothing more.
        recur(&cell, "2027-03-29T07:30:00Z").await?;
        recur(&cell, "2027-03-20T00:00:00Z").await?;
        assert_eq!(clones(&cell, &vic, &rid).await?.len(), 3);
        // Two runs of the next tick at once (two instances): one occurrence.
        let db = cell.ctx.db().system();
        for _ in 0..2 {
            cell.ctx.jobs().enqueue(db.conn(), "tasks.recur", None, json!({"tick": "2027-04-05T07:00:00Z"})).await?;
        }
        let (a, b2) = tokio::join!(cell.ctx.jobs().run_once(&cell.ctx), cell.ctx.jobs().run_once(&cell.ctx));
        a?;
        b2?;
        settle(&cell).await?;
        let made = clones(&cell, &vic, &rid).await?;
        assert_eq!(made.len(), 4);
        assert_eq!(made[3], (json!("2027-04-05T07:00:00Z"), json!("2027-04-05T09:00:00Z"), json!(max_id)));
        // Each clone is a task of its own: on the board, with the checklist, told to its assignee.
        let (_, page) = cell.get(&format!("/api/v1/tasks?filter[recurrence_id]={rid}&filter[assignee_id]={max_id}"), Some(&vic)).await?;
        let clone = &page["data"][0];
        assert_eq!((&clone["title"], &clone["board_id"], &clone["status"]), (&json!("Weekly report"), &b["id"], &json!("todo")));
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{}", id(clone)), Some(&vic)).await?;
        assert_eq!(detail["checklists"][0]["items"].as_array().map(Vec::len), Some(2), "{detail}");
        let told: Vec<Value> = cell.events("tasks.task.assigned").await?;
        assert_eq!(told.iter().filter(|e| e["assignee_id"] == json!(max_id)).count(), 2);
        let (_, r) = cell.get(&path, Some(&vic)).await?;
        assert_eq!((&r["occurrences"], &r["next_at"]), (&json!(4), &json!("2027-04-12T07:00:00Z")));

        // Round robin: the one of the two with the fewest open tasks (max, once one of his is done).
        let (status, _) = cell.patch(&format!("/api/v1/tasks/{}", id(clone)), Some(&max), json!({"status": "completed"})).await?;
        assert_eq!(status, 200);
        let mut rr = rule.clone();
        rr["assignee_strategy"] = json!("round_robin");
        rr["starts_at"] = json!("2027-03-15T08:00:00Z");
        assert_eq!(put(&cell, &path, &mia, rr).await?.0, 200);
        recur(&cell, "2027-04-12T07:00:00Z").await?;
        let made = clones(&cell, &vic, &rid).await?;
        assert_eq!(made.len(), 5);
        assert_eq!(made[4].2, json!(max_id));

        // Stopped: no more occurrences; those made stay.
        assert_eq!(cell.delete(&path, Some(&gus)).await?.0, 404);
        assert_eq!(cell.delete(&path, Some(&mia)).await?.0, 204);
        assert_eq!(cell.get(&path, Some(&mia)).await?.0, 404);
        recur(&cell, "2027-05-01T00:00:00Z").await?;
        assert_eq!(clones(&cell, &vic, &rid).await?.len(), 5);
        // A rule that ends: COUNT.
        let once = task(&cell, &mia, json!({"title": "Twice", "start_date": "2027-06-01T12:00:00Z"})).await?;
        let (status, r) = put(&cell, &format!("/api/v1/tasks/{once}/recurrence"), &mia, json!({"rule": "RRULE:FREQ=DAILY;COUNT=2"})).await?;
        assert_eq!((status, r["upcoming"].as_array().map(Vec::len)), (200, Some(2)), "{r}");
        recur(&cell, "2027-06-10T00:00:00Z").await?;
        assert_eq!(clones(&cell, &vic, &id(&r)).await?.len(), 2);
        assert_eq!(cell.get(&format!("/api/v1/tasks/{once}/recurrence"), Some(&vic)).await?.1["next_at"], json!(null));

        Ok(())
    }
);
