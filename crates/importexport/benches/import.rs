//! Import and export on PostgreSQL: rows per second of an import (the preview and the job, 100
//! rows per transaction, of the template's items: a simple entity) beside a raw batched insert
//! of the same rows into the same table (100 rows per statement and transaction); then an export
//! of a large table to CSV with the process's peak memory.
//!
//! `cargo bench -p importexport` (release). Each phase runs once, timed by the wall clock, and is
//! checked (the stored rows and the exported lines must be exactly what was asked for).
//!
//! Environment (all optional): `TEST_DATABASE_URL` (as for the tests), `BENCH_ROWS` (rows
//! imported, 100 000), `BENCH_EXPORT_ROWS` (rows exported, 1 000 000), `BENCH_PHASE` (`import`,
//! `export` or both, the default; run `export` alone for a peak-memory figure of that phase),
//! `BENCH_ANALYZE=0` (export from a table without statistics, as right after a bulk load).

use std::time::Instant;

use anyhow::ensure;
use kernel::sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::TestDb;
use uuid::Uuid;

const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.collab]
[modules.template]
max_items = 10000000
[modules.importexport]
max_file_bytes = 1000000000
max_rows = 10000000
"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmHWM` (peak resident memory) and `VmRSS` of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn count(cell: &testcell::Cell, org: Uuid) -> anyhow::Result<i64> {
    let tx = cell.ctx.db().tenant(org).await?;
    let conn = tx.unscoped();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM template_items WHERE org_id = $1",
            [org.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
    let n: i64 = row.try_get("", "n")?;
    tx.commit().await?;
    Ok(n)
}

fn csv(rows: usize) -> Vec<u8> {
    let mut out = String::from("Name,Status,Notes\n");
    for i in 1..=rows {
        let status = if i % 3 == 0 { "done" } else { "open" };
        out.push_str(&format!("Item {i},{status},note {i}\n"));
    }
    out.into_bytes()
}

async fn import(cell: &testcell::Cell, rows: usize) -> anyhow::Result<()> {
    let acme = testcell::org(cell, "Acme").await?;
    let token = testcell::user(cell, "member@acme.test", acme, "member").await?;
    let file = csv(rows);
    let started = Instant::now();
    let form = reqwest::multipart::Form::new()
        .text("entity_type", "template_item")
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name("items.csv"),
        );
    let res = cell
        .client
        .post(cell.url("/api/v1/import/preview"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await?;
    ensure!(res.status() == 201, "preview: {}", res.status());
    let preview: serde_json::Value = res.json().await?;
    let previewed = started.elapsed();
    let (status, queued) = cell
        .post(
            "/api/v1/import/confirm",
            Some(&token),
            json!({"preview_id": preview["preview_id"], "mapping": preview["suggested_mapping"]}),
        )
        .await?;
    ensure!(status == 202, "confirm: {status} {queued}");
    let job_started = Instant::now();
    while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
    let job = job_started.elapsed();
    ensure!(count(cell, acme).await? == rows as i64, "every row stored");

    // The reference: the same rows, 100 per INSERT and transaction, straight into the table.
    let raw_org = testcell::org(cell, "Raw").await?;
    let raw_started = Instant::now();
    let now = chrono::Utc::now();
    let by = Uuid::now_v7();
    for chunk in (1..=rows).collect::<Vec<_>>().chunks(100) {
        let tx = cell.ctx.db().tenant(raw_org).await?;
        let conn = tx.unscoped();
        let mut values = Vec::new();
        let mut tuples = Vec::new();
        for i in chunk {
            let n = values.len();
            tuples.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8
            ));
            let status = if i % 3 == 0 { "done" } else { "open" };
            values.extend([
                Uuid::now_v7().into(),
                raw_org.into(),
                format!("Item {i}").into(),
                status.into(),
                format!("note {i}").into(),
                by.into(),
                now.into(),
                now.into(),
            ]);
        }
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            format!(
                "INSERT INTO template_items (id, org_id, name, status, notes, created_by, created_at, updated_at) VALUES {}",
                tuples.join(", ")
            ),
            values,
        ))
        .await?;
        tx.commit().await?;
    }
    let raw = raw_started.elapsed();
    ensure!(
        count(cell, raw_org).await? == rows as i64,
        "every raw row stored"
    );
    let per_s = |d: std::time::Duration| rows as f64 / d.as_secs_f64();
    println!(
        "import of {rows} rows: preview {:.2} s, job {:.2} s = {:.0} rows/s; raw batched insert {:.2} s = {:.0} rows/s; import/raw = {:.0} %",
        previewed.as_secs_f64(),
        job.as_secs_f64(),
        per_s(job),
        raw.as_secs_f64(),
        per_s(raw),
        100.0 * raw.as_secs_f64() / job.as_secs_f64()
    );
    Ok(())
}

async fn export(cell: &testcell::Cell, db: &TestDb, rows: usize) -> anyhow::Result<()> {
    let big = testcell::org(cell, "Big").await?;
    let token = testcell::user(cell, "member@big.test", big, "member").await?;
    let tx = cell.ctx.db().tenant(big).await?;
    let conn = tx.unscoped();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "INSERT INTO template_items (id, org_id, name, status, notes, created_by, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, 'Item ' || i, 'open', 'note ' || i, $1, now(), now() \
         FROM generate_series(1, $2) AS i",
        [big.into(), (rows as i64).into()],
    ))
    .await?;
    tx.commit().await?;
    // Statistics, as autovacuum gathers them after such a load in production (it is off on this
    // machine kind). Without them the planner guesses 2 matching rows, and each export page
    // became a bitmap scan of every row after it plus a sort: quadratic in the table's size.
    // As the database's owner: the cell's own connections act as a role that owns nothing.
    // `BENCH_ANALYZE=0` leaves the table without statistics (the export must not depend on them).
    if std::env::var("BENCH_ANALYZE").as_deref() != Ok("0") {
        let owner = kernel::sea_orm::Database::connect(db.url()).await?;
        owner.execute_unprepared("ANALYZE template_items").await?;
        owner.close().await?;
    }
    let (_, before) = memory();
    let started = Instant::now();
    let (status, queued) = cell
        .post(
            "/api/v1/export",
            Some(&token),
            json!({"entity_type": "template_item"}),
        )
        .await?;
    ensure!(status == 202, "export: {status} {queued}");
    while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
    let took = started.elapsed();
    let (peak, after) = memory();
    let id = queued["job_id"].as_str().unwrap_or_default();
    let (_, job) = cell
        .get(&format!("/api/v1/export/jobs/{id}"), Some(&token))
        .await?;
    if job["rows"] != json!(rows) {
        let system = cell.ctx.db().system();
        let failure = system
            .conn()
            .query_one_raw(Statement::from_string(
                system.backend(),
                "SELECT last_error FROM kernel_jobs WHERE name = 'importexport.export'",
            ))
            .await?
            .and_then(|r| r.try_get::<Option<String>>("", "last_error").ok().flatten());
        anyhow::bail!("not every row exported: {job}; the job: {failure:?}");
    }
    println!(
        "export of {rows} rows to CSV: {:.2} s = {:.0} rows/s; process RSS {before:.0} MiB before, {after:.0} MiB after, peak {peak:.0} MiB",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows = env("BENCH_ROWS", 100_000);
    let export_rows = env("BENCH_EXPORT_ROWS", 1_000_000);
    let phase = std::env::var("BENCH_PHASE").unwrap_or_default();
    let db = TestDb::postgres().await?;
    let cell = testcell::start(
        &db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(template::Template::default()),
            Box::new(importexport::ImportExport::default()),
        ],
    )
    .await?;
    if phase.is_empty() || phase == "import" {
        import(&cell, rows).await?;
    }
    if phase.is_empty() || phase == "export" {
        export(&cell, &db, export_rows).await?;
    }
    Ok(())
}
