//! A cell of iam, tenancy, auth, collab, the template module (whose items are imported) and
//! importexport; files sent as real multipart forms; jobs run by the test.

use serde_json::Value;
pub use testcell::{Cell, org, user};
use testkit::TestDb;

const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.collab]
[modules.template]
max_items = 100000
[modules.importexport]
"#;

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(template::Template::default()),
            Box::new(importexport::ImportExport::default()),
        ],
    )
    .await
}

/// `POST /import/preview` with `bytes` as the file `name`.
pub async fn preview(
    cell: &Cell,
    token: &str,
    entity_type: &str,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    preview_keyed(cell, token, entity_type, name, bytes, None).await
}

/// [`preview`], with an `Idempotency-Key` when `key` is given.
pub async fn preview_keyed(
    cell: &Cell,
    token: &str,
    entity_type: &str,
    name: &str,
    bytes: Vec<u8>,
    key: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let form = reqwest::multipart::Form::new()
        .text("entity_type", entity_type.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    let res = cell
        .client
        .post(cell.url("/api/v1/import/preview"))
        .bearer_auth(token)
        .headers(
            key.into_iter()
                .filter_map(|k| Some(("idempotency-key".parse().ok()?, k.parse().ok()?)))
                .collect(),
        )
        .multipart(form)
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// Runs queued jobs until none is left.
pub async fn run_jobs(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
    Ok(())
}

/// GETs a presigned URL (the cell's own, on local storage): the body.
pub async fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let res = reqwest::get(url).await?;
    anyhow::ensure!(res.status().is_success(), "download: {}", res.status());
    Ok(res.bytes().await?.to_vec())
}

/// A CSV of `n` items (`Item 1`…), with a bad status on the rows `bad` names (1-based).
pub fn items_csv(n: usize, bad: &[usize]) -> Vec<u8> {
    let mut out = String::from("Name,Status,Notes\n");
    for i in 1..=n {
        let status = if bad.contains(&i) {
            "someday"
        } else if i % 2 == 0 {
            "done"
        } else {
            "open"
        };
        out.push_str(&format!("Item {i},{status},\"note {i}, with a comma\"\n"));
    }
    out.into_bytes()
}

/// How many live items `org` holds (lists cap their totals at 1 000).
pub async fn count_items(cell: &Cell, org: uuid::Uuid) -> anyhow::Result<i64> {
    use kernel::sea_orm::{ConnectionTrait, Statement};
    let tx = cell.ctx.db().tenant(org).await?;
    let conn = tx.unscoped();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM template_items WHERE org_id = $1 AND deleted_at IS NULL",
            [org.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
    let n: i64 = row.try_get("", "n")?;
    tx.commit().await?;
    Ok(n)
}
