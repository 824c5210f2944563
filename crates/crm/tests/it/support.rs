//! A cell of iam, tenancy, auth, collab and crm; the ownership policy is outreach's by default.

use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;

pub const OUTREACH: &str =
    "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.crm]\n";
pub const OWN_ONLY: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.crm.ownership]\nread = \"own\"\nwrite = \"own\"\n";

pub async fn cell_with(db: &TestDb, toml: &str) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        toml,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(crm::Crm::default()),
        ],
    )
    .await
}

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    cell_with(db, OUTREACH).await
}

/// A person made by `token`'s user: the body.
pub async fn person(cell: &Cell, token: &str, body: Value) -> anyhow::Result<Value> {
    let (status, out) = cell.post("/api/v1/contacts", Some(token), body).await?;
    anyhow::ensure!(status == 201, "contact: {status} {out}");
    Ok(out)
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

pub async fn company(
    cell: &Cell,
    token: &str,
    name: &str,
    domains: &[&str],
) -> anyhow::Result<Value> {
    let (status, out) = cell
        .post(
            "/api/v1/companies",
            Some(token),
            json!({"name": name, "domains": domains}),
        )
        .await?;
    anyhow::ensure!(status == 201, "company: {status} {out}");
    Ok(out)
}

/// Delivers published events to subscribers (collab's search index), until none is left.
pub async fn settle(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
    Ok(())
}
