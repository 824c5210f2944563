//! A cell of iam, tenancy, auth, collab, files, notifications and documents; signed-in users in
//! orgs; the mails the cell sent; the job queue and event dispatch run by hand.

use kernel::sea_orm::ConnectionTrait;
use serde_json::{Value, json};
pub use testcell::{Cell, org, user};
use testkit::TestDb;

pub const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n\
    [modules.files]\n[modules.notifications]\n[modules.documents]\n";

pub fn modules() -> Vec<Box<dyn kernel::PlatformModule>> {
    vec![
        Box::new(collab::Collab::default()),
        Box::new(files::Files::default()),
        Box::new(notifications::Notifications),
        Box::new(documents::Documents::default()),
    ]
}

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(db, TOML, modules()).await
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

/// Deliveries that failed, with why (debugging).
pub async fn failed(cell: &Cell) -> anyhow::Result<Vec<String>> {
    let db = cell.ctx.db().system();
    let rows = db
        .conn()
        .query_all_raw(kernel::sea_orm::Statement::from_string(
            db.backend(),
            "SELECT subscriber, last_error FROM kernel_event_deliveries WHERE last_error IS NOT NULL",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(format!(
                "{}: {}",
                r.try_get::<String>("", "subscriber")?,
                r.try_get::<String>("", "last_error")?
            ))
        })
        .collect()
}

/// The field a 422 names.
pub fn field(error: &Value) -> Vec<String> {
    error["error"]["details"]["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default()
}

/// The text bodies of the mails of `template` sent to `to`, oldest first.
pub async fn mails(cell: &Cell, to: &str, template: &str) -> anyhow::Result<Vec<String>> {
    let db = cell.ctx.db().system();
    let rows = db
        .conn()
        .query_all_raw(kernel::sea_orm::Statement::from_sql_and_values(
            db.backend(),
            "SELECT text_body FROM kernel_emails WHERE to_addr = $1 AND template = $2 ORDER BY id",
            [to.into(), template.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String>("", "text_body")?))
        .collect()
}

/// The token at the end of the link in the newest mail of `template` to `to`.
pub async fn mailed_token(cell: &Cell, to: &str, template: &str) -> anyhow::Result<String> {
    let all = mails(cell, to, template).await?;
    let body = all
        .last()
        .ok_or_else(|| anyhow::anyhow!("no `{template}` mail to {to}"))?;
    body.split_whitespace()
        .find(|w| w.contains("/documents/review/") || w.contains("/sign/"))
        .and_then(|link| link.rsplit('/').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no link in {body}"))
}

/// A template with typed fields and a clause of the org's library marked default.
pub async fn template(cell: &Cell, token: &str) -> anyhow::Result<String> {
    let (status, t) = cell
        .post(
            "/api/v1/documents",
            Some(token),
            json!({
                "title": "Services agreement",
                "type": "template",
                "content": "<h1>Services</h1><p>Fee: <span data-field=\"fee\">[fee]</span>; \
                            term <span data-field=\"term\">[term]</span> months; \
                            law of <span data-field=\"law\">[law]</span>.</p>",
                "field_defs": [
                    {"name": "fee", "label": "Fee", "type": "money", "required": true},
                    {"name": "term", "label": "Term", "type": "number", "default": "12"},
                    {"name": "law", "type": "text", "default": "New York"}
                ]
            }),
        )
        .await?;
    anyhow::ensure!(status == 201, "template: {status} {t}");
    Ok(id(&t))
}

/// A draft made from `template` with `fee`.
pub async fn draft(cell: &Cell, token: &str, template: &str, fee: &str) -> anyhow::Result<Value> {
    let (status, d) = cell
        .post(
            &format!("/api/v1/documents/from-template/{template}"),
            Some(token),
            json!({"title": "Acme services", "fields": {"fee": fee}}),
        )
        .await?;
    anyhow::ensure!(status == 201, "from template: {status} {d}");
    Ok(d)
}

/// A revision changing `field` from `old` to `new`.
pub async fn revise(cell: &Cell, token: &str, doc: &str, changes: Value) -> anyhow::Result<Value> {
    let (status, r) = cell
        .post(
            &format!("/api/v1/documents/{doc}/revisions"),
            Some(token),
            json!({ "fieldChanges": changes }),
        )
        .await?;
    anyhow::ensure!(status == 201, "revision: {status} {r}");
    Ok(r)
}
