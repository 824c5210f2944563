//! Field filters: a subscription that names fields for an update event gets that event only
//! when one of them changed; other events it takes come as before. Filters name events of the
//! cell whose payloads list their changed fields, that the subscription takes.

use serde_json::{Value, json};
use testkit::{TestDb, db_test};

use crate::support::{Cell, org, user};

/// A cell with tasks (whose `tasks.task.updated` lists the fields that changed).
async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.tasks]\n[modules.webhooks]\nallow_private_targets = true\n",
        vec![
            Box::new(collab::Collab::default()),
            Box::new(tasks::Tasks::default()),
            Box::new(webhooks::Webhooks::default()),
        ],
    )
    .await
}

/// The events a subscription's deliveries were made for, sorted by name (published events fanned
/// out; nothing is sent).
async fn delivered(cell: &Cell, token: &str, sub: &str) -> anyhow::Result<Vec<String>> {
    while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
    let (status, page) = cell
        .get(
            &format!("/api/v1/webhooks/{sub}/deliveries?limit=100"),
            Some(token),
        )
        .await?;
    anyhow::ensure!(status == 200, "{page}");
    let mut events: Vec<String> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["event"].as_str().map(str::to_owned))
        .collect();
    events.sort();
    Ok(events)
}

db_test!(
    async fn an_update_is_delivered_only_when_a_field_named_for_it_changed(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let (status, sub) = cell
            .post("/api/v1/webhooks", Some(&admin), json!({
                "url": "http://127.0.0.1:9/hook",
                "events": ["tasks.task.*"],
                "fields": {"tasks.task.updated": ["priority", "due_date", "priority"]},
            }))
            .await?;
        assert_eq!(status, 201, "{sub}");
        assert_eq!(sub["fields"], json!({"tasks.task.updated": ["priority", "due_date"]}), "{sub}");
        let sub_id = sub["id"].as_str().unwrap_or_default().to_owned();

        let (status, task) = cell.post("/api/v1/tasks", Some(&admin), json!({"title": "Ship it"})).await?;
        assert_eq!(status, 201, "{task}");
        let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap_or_default());
        // A new title: not delivered. A new priority: delivered. Both at once: delivered.
        for change in [json!({"title": "Ship it now"}), json!({"priority": "urgent"}), json!({"title": "Ship", "due_date": "2027-01-04T09:00:00Z"})] {
            let (status, out) = cell.patch(&path, Some(&admin), change.clone()).await?;
            assert_eq!(status, 200, "{change} -> {out}");
        }
        assert_eq!(delivered(&cell, &admin, &sub_id).await?, ["tasks.task.created", "tasks.task.updated", "tasks.task.updated"]);
        let updates = cell.events("tasks.task.updated").await?;
        assert_eq!(updates.len(), 3, "three updates happened: {updates:?}");

        // Cleared: every update comes.
        let (status, out) = cell.patch(&format!("/api/v1/webhooks/{sub_id}"), Some(&admin), json!({"fields": null})).await?;
        assert_eq!((status, &out["fields"]), (200, &json!({})), "{out}");
        cell.patch(&path, Some(&admin), json!({"title": "Shipped"})).await?;
        assert_eq!(delivered(&cell, &admin, &sub_id).await?.len(), 4);

        // Bad filters, named; nothing stored.
        let bad: [(Value, Value, &str); 5] = [
            (json!(["tasks.task.*"]), json!({"tasks.task.created": ["title"]}), "fields.tasks.task.created"),
            (json!(["tasks.task.*"]), json!({"crm.deal.updated": ["stage"]}), "fields.crm.deal.updated"),
            (json!(["tasks.task.created"]), json!({"tasks.task.updated": ["priority"]}), "fields.tasks.task.updated"),
            (json!(["tasks.task.*"]), json!({"tasks.task.updated": ["Priority!"]}), "fields.tasks.task.updated"),
            (json!(["tasks.task.*"]), json!({"tasks.task.updated": []}), "fields.tasks.task.updated"),
        ];
        for (events, fields, field) in bad {
            let body = json!({"url": "http://127.0.0.1:9/hook", "events": events, "fields": fields});
            let (status, e) = cell.post("/api/v1/webhooks", Some(&admin), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
            assert!(e["error"]["details"]["fields"].get(field).is_some(), "{body} -> {e}");
        }
        // A change of events that would leave a filter on an event no longer taken is refused.
        let (status, _) = cell.patch(&format!("/api/v1/webhooks/{sub_id}"), Some(&admin), json!({"fields": {"tasks.task.updated": ["priority"]}})).await?;
        assert_eq!(status, 200);
        let (status, e) = cell.patch(&format!("/api/v1/webhooks/{sub_id}"), Some(&admin), json!({"events": ["tasks.task.created"]})).await?;
        assert_eq!(status, 422, "{e}");
        let (_, list) = cell.get("/api/v1/webhooks", Some(&admin)).await?;
        assert_eq!(list["meta"]["total"], 1, "{list}");
        assert_eq!(list["data"][0]["events"], json!(["tasks.task.*"]));
        Ok(())
    }
);
