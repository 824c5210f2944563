//! A cell of iam, tenancy, auth, the template module and notifications; the dispatcher and the
//! job queue driven by the test.

use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.template]\n[modules.notifications]\n";

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        TOML,
        vec![
            Box::new(template::Template::default()),
            Box::new(notifications::Notifications),
        ],
    )
    .await
}

/// Delivers published events to subscribers, then runs due jobs, until nothing is left.
pub async fn settle(cell: &Cell) -> anyhow::Result<()> {
    loop {
        let events = cell.ctx.events().dispatch_once(&cell.ctx).await?;
        let jobs = cell.ctx.jobs().run_once(&cell.ctx).await?;
        if events == 0 && jobs == 0 {
            return Ok(());
        }
    }
}

/// An item of `token`'s user: its id.
pub async fn item(cell: &Cell, token: &str, name: &str) -> anyhow::Result<String> {
    let (status, body) = cell
        .post("/api/v1/items", Some(token), json!({ "name": name }))
        .await?;
    anyhow::ensure!(status == 201, "item: {status} {body}");
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

/// The caller's notifications, newest first.
pub async fn inbox(cell: &Cell, token: &str) -> anyhow::Result<Vec<Value>> {
    let (status, page) = cell.get("/api/v1/notifications", Some(token)).await?;
    anyhow::ensure!(status == 200, "inbox: {status} {page}");
    Ok(page["data"].as_array().cloned().unwrap_or_default())
}

/// Addresses the notification emails went to, oldest first.
pub async fn mailed(cell: &Cell) -> anyhow::Result<Vec<String>> {
    mailed_with(cell, "notifications.event").await
}

/// Addresses the emails of `template` went to, oldest first.
pub async fn mailed_with(cell: &Cell, template: &str) -> anyhow::Result<Vec<String>> {
    let (records, _) = cell.ctx.mail().recorded(cell.ctx.db(), 0, 1000).await?;
    Ok(records
        .into_iter()
        .rev()
        .filter(|r| r.template == template)
        .map(|r| r.to)
        .collect())
}
