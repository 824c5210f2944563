//! Projects (their status machine), milestones (reached by hand or by their tasks:
//! `tasks.milestone.reached`), project templates with relative dates, time by project, and what
//! happens to a member's tasks when they leave the org.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

fn template() -> Value {
    json!({
        "name": "Website",
        "structure": {
            "milestones": [
                {"key": "design", "name": "Design", "due_in_days": 14, "amount": 500000, "currency": "EUR"},
                {"key": "build", "name": "Build", "due_in_days": 30}
            ],
            "tasks": [
                {"title": "Brief", "start_in_days": 0, "due_in_days": 3, "milestone": "design", "priority": "high",
                 "checklists": [{"title": "Ready", "items": ["goals", "budget"]}],
                 "subtasks": [{"title": "Call the client", "due_in_days": 1,
                               "subtasks": [{"title": "Book a room"}]}]},
                {"title": "Build it", "start_in_days": 14, "due_in_days": 30, "milestone": "build"}
            ]
        }
    })
}

fn titles(page: &Value) -> Vec<String> {
    let mut t: Vec<String> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["title"].as_str().map(str::to_owned))
        .collect();
    t.sort();
    t
}

db_test!(
    async fn projects_from_templates_reach_their_milestones(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let other = org(&cell, "Other").await?;
        let gus = user(&cell, "gus@other.test", other, "admin").await?;
        let max_id = me(&cell, &max).await?;

        // Templates are checked whole; viewers read them but do not write them.
        assert_eq!(cell.post("/api/v1/project-templates", Some(&vic), template()).await?.0, 403);
        let mut bad = template();
        bad["structure"]["tasks"][1]["milestone"] = json!("launch");
        let (status, e) = cell.post("/api/v1/project-templates", Some(&mia), bad).await?;
        assert_eq!((status, field(&e)), (422, vec!["tasks[1].milestone".to_owned()]), "{e}");
        let mut deep = json!({"title": "leaf"});
        for _ in 0..5 {
            deep = json!({"title": "level", "subtasks": [deep]});
        }
        let (status, e) = cell.post("/api/v1/project-templates", Some(&mia), json!({"name": "Deep", "structure": {"tasks": [deep]}})).await?;
        assert_eq!(status, 422, "six levels: {e}");
        let mut blank = template();
        blank["structure"]["tasks"][0]["checklists"][0]["items"][1] = json!("  ");
        let (status, e) = cell.post("/api/v1/project-templates", Some(&mia), blank).await?;
        assert_eq!((status, field(&e)), (422, vec!["tasks[0].checklists[0].items[1]".to_owned()]), "{e}");
        let (status, tpl) = cell.post("/api/v1/project-templates", Some(&mia), template()).await?;
        assert_eq!(status, 201, "{tpl}");
        let tid = id(&tpl);
        assert_eq!(cell.get(&format!("/api/v1/project-templates/{tid}"), Some(&vic)).await?.0, 200);

        // A project from it: milestones and tasks dated from its start, subtasks and checklists.
        let body = json!({"name": "Acme site", "lead_id": max_id, "template_id": tid, "start_date": "2027-01-04T09:00:00Z"});
        assert_eq!(cell.post("/api/v1/projects", Some(&vic), body.clone()).await?.0, 403);
        let (status, p) = cell.post("/api/v1/projects", Some(&mia), body).await?;
        assert_eq!((status, &p["status"]), (201, &json!("not_started")), "{p}");
        let pid = id(&p);
        let due: Vec<&Value> = p["milestones"].as_array().into_iter().flatten().map(|m| &m["due_date"]).collect();
        assert_eq!(due, [&json!("2027-01-18T09:00:00Z"), &json!("2027-02-03T09:00:00Z")]);
        let (design, build) = (id(&p["milestones"][0]), id(&p["milestones"][1]));
        assert_eq!(p["tasks"][0], json!({"status": "todo", "count": 4}));
        let made = cell.events("tasks.project.created").await?;
        assert_eq!(made.last().map(|e| &e["tasks"]), Some(&json!(4)));
        let (_, page) = cell.get(&format!("/api/v1/tasks?filter[project_id]={pid}"), Some(&vic)).await?;
        assert_eq!(titles(&page), ["Book a room", "Brief", "Build it", "Call the client"]);
        let (_, page) = cell.get(&format!("/api/v1/tasks?filter[milestone_id]={design}"), Some(&vic)).await?;
        let brief = &page["data"][0];
        assert_eq!((&brief["title"], &brief["priority"], &brief["due_date"]), (&json!("Brief"), &json!("high"), &json!("2027-01-07T09:00:00Z")));
        let brief_id = id(brief);
        let (_, detail) = cell.get(&format!("/api/v1/tasks/{brief_id}"), Some(&vic)).await?;
        assert_eq!(detail["checklists"][0]["items"].as_array().map(Vec::len), Some(2), "{detail}");
        let subs: Vec<&Value> = detail["subtasks"].as_array().into_iter().flatten().map(|t| &t["title"]).collect();
        assert_eq!(subs, [&json!("Call the client"), &json!("Book a room")]);

        // The status machine.
        let status_to = |s: &str| json!({"status": s});
        let project = format!("/api/v1/projects/{pid}");
        assert_eq!(cell.patch(&project, Some(&mia), status_to("completed")).await?.0, 409);
        assert_eq!(cell.patch(&project, Some(&mia), status_to("archived")).await?.0, 422);
        assert_eq!(cell.patch(&project, Some(&mia), status_to("in_progress")).await?.0, 200);
        assert_eq!(cell.patch(&project, Some(&mia), status_to("on_hold")).await?.0, 200);
        assert_eq!(cell.patch(&project, Some(&mia), status_to("in_progress")).await?.0, 200);
        let (status, e) = cell.patch(&project, Some(&mia), status_to("completed")).await?;
        assert_eq!((status, &e["error"]["details"]["open_tasks"]), (409, &json!(4)), "{e}");
        assert_eq!(cell.events("tasks.project.status_changed").await?.len(), 3);

        // A task joins a milestone of its own project only.
        let (_, other_p) = cell.post("/api/v1/projects", Some(&mia), json!({"name": "Other"})).await?;
        let (status, e) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "x", "project_id": id(&other_p), "milestone_id": design})).await?;
        assert_eq!((status, field(&e)), (422, vec!["milestone_id".to_owned()]), "{e}");

        // Completing the milestone's last open task reaches it, once, with its amount.
        let (status, done) = cell.patch(&format!("/api/v1/tasks/{brief_id}"), Some(&max), status_to("completed")).await?;
        assert_eq!(status, 200, "{done}");
        let reached = cell.events("tasks.milestone.reached").await?;
        assert_eq!(reached.len(), 1);
        assert_eq!(
            (&reached[0]["milestone_id"], &reached[0]["amount"], &reached[0]["currency"], &reached[0]["how"]),
            (&json!(design), &json!(500000), &json!("EUR"), &json!("tasks_completed"))
        );
        let milestone = |m: &str| format!("/api/v1/milestones/{m}");
        assert_eq!(cell.patch(&milestone(&design), Some(&mia), json!({"amount": 1, "currency": "EUR"})).await?.0, 409, "reached is final");
        assert_eq!(cell.delete(&milestone(&design), Some(&mia)).await?.0, 409);
        let (status, e) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "late", "project_id": pid, "milestone_id": design})).await?;
        assert_eq!(status, 422, "a reached milestone takes no task: {e}");
        // By hand.
        let (status, m) = cell.patch(&milestone(&build), Some(&mia), json!({"reached": true})).await?;
        assert!(status == 200 && m["reached_at"].is_string(), "{m}");
        assert_eq!(cell.events("tasks.milestone.reached").await?.len(), 2);
        let (_, p) = cell.get(&project, Some(&vic)).await?;
        assert_eq!(p["progress"], 25, "one of four tasks done: {p}");

        // Time by project.
        let (status, _) = cell.post("/api/v1/time-entries", Some(&mia), json!({"task_id": brief_id, "started_at": "2026-11-02T09:00:00Z", "ended_at": "2026-11-02T10:00:00Z"})).await?;
        assert_eq!(status, 201);
        let (_, r) = cell.get(&format!("/api/v1/time-entries?project={pid}"), Some(&vic)).await?;
        assert_eq!(r["by_project"], json!([{"id": pid, "seconds": 3600, "billable_seconds": 3600}]), "{r}");
        let (_, r) = cell.get(&format!("/api/v1/time-entries?project={}", id(&other_p)), Some(&vic)).await?;
        assert_eq!(r["total_seconds"], 0);

        // With its other tasks closed, it completes; then nothing moves it.
        let (_, page) = cell.get(&format!("/api/v1/tasks?filter[project_id]={pid}&filter[status]=todo"), Some(&vic)).await?;
        for t in page["data"].as_array().into_iter().flatten() {
            assert_eq!(cell.patch(&format!("/api/v1/tasks/{}", id(t)), Some(&mia), status_to("cancelled")).await?.0, 200);
        }
        assert_eq!(cell.patch(&project, Some(&mia), status_to("completed")).await?.0, 200);
        assert_eq!(cell.patch(&project, Some(&mia), status_to("in_progress")).await?.0, 409);
        let (status, e) = cell.post("/api/v1/tasks", Some(&mia), json!({"title": "more", "project_id": pid})).await?;
        assert_eq!((status, field(&e)), (422, vec!["project_id".to_owned()]), "{e}");

        // A project with tasks is not deleted; an empty one is, by its creator or an admin.
        assert_eq!(cell.delete(&project, Some(&mia)).await?.0, 409);
        let empty = format!("/api/v1/projects/{}", id(&other_p));
        assert_eq!(cell.delete(&empty, Some(&max)).await?.0, 403);
        assert_eq!(cell.delete(&empty, Some(&boss)).await?.0, 204);
        assert_eq!(cell.get(&empty, Some(&mia)).await?.0, 404);

        // Another org sees none of it.
        assert_eq!(cell.get(&project, Some(&gus)).await?.0, 404);
        assert_eq!(cell.patch(&project, Some(&gus), json!({"name": "mine"})).await?.0, 404);
        assert_eq!(cell.patch(&milestone(&build), Some(&gus), json!({"name": "mine"})).await?.0, 404);
        assert_eq!(cell.get(&format!("/api/v1/project-templates/{tid}"), Some(&gus)).await?.0, 404);
        assert_eq!(cell.delete(&format!("/api/v1/project-templates/{tid}"), Some(&gus)).await?.0, 404);
        let (_, page) = cell.get("/api/v1/projects", Some(&gus)).await?;
        assert_eq!(page["data"], json!([]));
        let (_, list) = cell.get("/api/v1/project-templates", Some(&gus)).await?;
        assert_eq!(list, json!([]));
        let (status, e) = cell.post("/api/v1/projects", Some(&gus), json!({"name": "x", "template_id": tid})).await?;
        assert_eq!((status, field(&e)), (422, vec!["template_id".to_owned()]), "{e}");
        let (_, p) = cell.get(&project, Some(&mia)).await?;
        assert_eq!(p["name"], "Acme site", "untouched");
        Ok(())
    }
);

db_test!(
    async fn a_member_who_leaves_hands_their_tasks_on(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let (mia_id, max_id) = (me(&cell, &mia).await?, me(&cell, &max).await?);

        let (_, p) = cell.post("/api/v1/projects", Some(&boss), json!({"name": "Site", "lead_id": max_id})).await?;
        let in_project = task(&cell, &boss, json!({"title": "in a project", "assignee_id": mia_id, "project_id": id(&p)})).await?;
        let loose = task(&cell, &boss, json!({"title": "loose", "assignee_id": mia_id})).await?;
        let done = task(&cell, &boss, json!({"title": "done", "assignee_id": mia_id})).await?;
        cell.patch(&format!("/api/v1/tasks/{done}"), Some(&mia), json!({"status": "completed"})).await?;
        assert_eq!(cell.post(&format!("/api/v1/tasks/{loose}/watchers"), Some(&mia), json!({})).await?.0, 201);
        assert_eq!(cell.post(&format!("/api/v1/tasks/{loose}/timer/start"), Some(&mia), json!({})).await?.0, 201);

        let (status, e) = cell.delete(&format!("/api/v1/organizations/{acme}/members/{mia_id}"), Some(&boss)).await?;
        assert_eq!(status, 204, "{e}");
        settle(&cell).await?;
        let assignee = |t: Value| t["assignee_id"].clone();
        let get = |t: &str| format!("/api/v1/tasks/{t}");
        assert_eq!(assignee(cell.get(&get(&in_project), Some(&boss)).await?.1), json!(max_id), "to the project's lead");
        let (_, l) = cell.get(&get(&loose), Some(&boss)).await?;
        assert_eq!((assignee(l.clone()), &l["watchers"]), (json!(null), &json!([])), "to the pool, unwatched");
        assert_eq!(assignee(cell.get(&get(&done), Some(&boss)).await?.1), json!(mia_id), "closed work keeps its history");
        let (_, r) = cell.get(&format!("/api/v1/time-entries?user={mia_id}"), Some(&boss)).await?;
        assert!(r["entries"][0]["ended_at"].is_string(), "the timer was stopped: {r}");
        let assigned = cell.events("tasks.task.assigned").await?;
        assert_eq!(assigned.iter().filter(|e| e["previous_assignee_id"] == json!(mia_id)).count(), 2);
        Ok(())
    }
);
