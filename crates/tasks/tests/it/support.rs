//! A cell of iam, tenancy, auth, collab and tasks; signed-in users in orgs.

use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;

pub const TOML: &str =
    "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.tasks]\n";

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(tasks::Tasks::default()),
        ],
    )
    .await
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// The signed-in user's id.
pub async fn me(cell: &Cell, token: &str) -> anyhow::Result<String> {
    let (status, out) = cell.get("/api/v1/users/me", Some(token)).await?;
    anyhow::ensure!(status == 200, "me: {status} {out}");
    Ok(id(&out))
}

pub async fn board(cell: &Cell, token: &str, name: &str) -> anyhow::Result<Value> {
    let (status, out) = cell
        .post("/api/v1/boards", Some(token), json!({"name": name}))
        .await?;
    anyhow::ensure!(status == 201, "board: {status} {out}");
    Ok(out)
}

pub async fn task(cell: &Cell, token: &str, body: Value) -> anyhow::Result<String> {
    let (status, out) = cell.post("/api/v1/tasks", Some(token), body).await?;
    anyhow::ensure!(status == 201, "task: {status} {out}");
    Ok(id(&out))
}

/// The titles of a kanban view's columns, in order: (column name, [task titles]).
pub fn columns(kanban: &Value) -> Vec<(String, Vec<String>)> {
    kanban["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["column"]["name"].as_str().unwrap_or_default().to_owned();
            let titles = c["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["title"].as_str().map(str::to_owned))
                .collect();
            (name, titles)
        })
        .collect()
}

pub async fn put(
    cell: &Cell,
    path: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    cell.call(reqwest::Method::PUT, path, Some(token), Some(body))
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

/// The field a 422 names.
pub fn field(error: &Value) -> Vec<String> {
    error["error"]["details"]["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default()
}
