//! The import and export jobs. An import commits each batch of 100 rows together with the job's
//! progress, so a job interrupted anywhere (a crash, a kill) resumes after the last committed
//! batch when it runs again: no row is written twice, none is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use futures_util::StreamExt;
use kernel::http::ListQuery;
use kernel::jobs::Job;
use kernel::module::{EntityRef, JobHandler};
use kernel::records::{FieldSpec, Records};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::entity::{job, row_error};
use crate::events::{ExportCompleted, ImportCompleted, thousands};
use crate::http::row_errors;
use crate::table::{self, Format, Writer};
use crate::{mapping, service};

pub(crate) const IMPORT: &str = "import";
pub(crate) const EXPORT: &str = "export";
/// Rows per import transaction (the spec's 100).
const BATCH: usize = 100;
/// Records per export read.
const PAGE: u64 = 1000;
/// Refused rows kept per import (the error file lists them; the counts count them all).
const MAX_ERRORS: i64 = 100_000;

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

/// The org and job id of a job's payload.
fn target(job: &Job) -> anyhow::Result<(Uuid, Uuid)> {
    let org = job
        .org_id
        .ok_or_else(|| anyhow::anyhow!("{} needs an org", job.name))?;
    let id: Uuid = serde_json::from_value(job.payload["job_id"].clone())?;
    Ok((org, id))
}

pub(crate) struct Import;

#[kernel::async_trait::async_trait]
impl JobHandler for Import {
    async fn run(&self, ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        let (org, id) = target(job)?;
        let ctx = ctx.clone();
        // Loaders and storage are not `Send`.
        kernel::module::run_unsend(move || async move { import(&ctx, org, id).await }).await
    }
}

pub(crate) struct Export;

#[kernel::async_trait::async_trait]
impl JobHandler for Export {
    async fn run(&self, ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        let (org, id) = target(job)?;
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move { export(&ctx, org, id).await }).await
    }
}

async fn load(tx: &TenantTx, id: Uuid) -> anyhow::Result<job::Model> {
    tx.repo::<job::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no job {id}"))
}

/// Marks the job running (once) and answers it, or `None` when it is over already.
async fn begin(ctx: &CellContext, org: Uuid, id: Uuid) -> anyhow::Result<Option<job::Model>> {
    let tx = ctx.db().tenant(org).await?;
    let row = load(&tx, id).await?;
    if !matches!(row.status.as_str(), "queued" | "running") {
        tx.commit().await?;
        return Ok(None);
    }
    let now = Utc::now();
    let mut m: job::ActiveModel = row.clone().into();
    m.status = Set("running".into());
    m.started_at = Set(Some(row.started_at.unwrap_or(now)));
    m.updated_at = Set(now);
    let row = tx.repo::<job::Entity>().update(m).await?;
    tx.commit().await?;
    Ok(Some(row))
}

fn records_of(
    loader: &std::sync::Arc<dyn kernel::module::EntityLoader>,
) -> anyhow::Result<&dyn Records> {
    loader
        .records()
        .ok_or_else(|| anyhow::anyhow!("`{}` has no records", loader.entity_type()))
}

/// Copies an import's stored source to a local file.
async fn fetch(
    ctx: &CellContext,
    org: Uuid,
    id: Uuid,
    format: Format,
    path: &Path,
) -> anyhow::Result<()> {
    let key = service::key(org, id, &service::source_name(format)).map_err(api)?;
    let (_, mut body) = ctx.storage().get(&key).await?;
    let mut out = tokio::fs::File::create(path).await?;
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?).await?;
    }
    out.flush().await?;
    Ok(())
}

async fn import(ctx: &CellContext, org: Uuid, id: Uuid) -> anyhow::Result<()> {
    let Some(row) = begin(ctx, org, id).await? else {
        return Ok(());
    };
    let loader = service::loader_with_records(ctx, "entity_type", &row.entity_type).map_err(api)?;
    let records = records_of(&loader)?;
    let fields = records.fields();
    let headers: Vec<String> = serde_json::from_str(row.headers.as_deref().unwrap_or("[]"))?;
    let sent: BTreeMap<String, Option<String>> =
        serde_json::from_str(row.mapping.as_deref().unwrap_or("{}"))?;
    let columns = mapping::check(&headers, &fields, &sent).map_err(api)?;
    let format =
        Format::parse(&row.format).ok_or_else(|| anyhow::anyhow!("format {}", row.format))?;
    let path = service::spool(ctx, "import").await?;
    let result = async {
        fetch(ctx, org, id, format, &path).await?;
        run_import(ctx, &row, records, &fields, &columns, &path, format).await
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// What is wrong with every row, when any is (nothing is written then).
fn all_errors(
    path: &Path,
    format: Format,
    fields: &[FieldSpec],
    columns: &[(usize, &'static str)],
) -> anyhow::Result<(i64, Vec<(u64, kernel::records::RecordError)>)> {
    let (_, rows) = table::open(path, format).map_err(anyhow::Error::msg)?;
    let (mut bad, mut errors) = (0i64, Vec::new());
    for (line, cells) in rows {
        if let Err(e) = row_errors(fields, columns, &cells) {
            bad += 1;
            if (errors.len() as i64) < MAX_ERRORS {
                errors.extend(e.into_iter().map(|e| (line, e)));
            }
        }
    }
    Ok((bad, errors))
}

async fn save_errors(
    tx: &TenantTx,
    job: Uuid,
    errors: Vec<(u64, kernel::records::RecordError)>,
) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    let rows = errors.into_iter().map(|(line, e)| row_error::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        job_id: Set(job),
        line: Set(line as i64),
        field: Set(e.field),
        message: Set(e.message),
    });
    tx.repo::<row_error::Entity>().insert_many(rows).await?;
    Ok(())
}

async fn run_import(
    ctx: &CellContext,
    row: &job::Model,
    records: &dyn Records,
    fields: &[FieldSpec],
    columns: &[(usize, &'static str)],
    path: &Path,
    format: Format,
) -> anyhow::Result<()> {
    let (org, id) = (row.org_id, row.id);
    let caller = service::acting(org, row.requested_by);
    if !row.skip_errors && row.processed == 0 {
        let (bad, errors) = {
            let (path, fields, columns) = (path.to_owned(), fields.to_vec(), columns.to_vec());
            tokio::task::spawn_blocking(move || all_errors(&path, format, &fields, &columns))
                .await??
        };
        if bad > 0 {
            let tx = ctx.db().tenant(org).await?;
            save_errors(&tx, id, errors).await.map_err(api)?;
            let message = format!(
                "{} of {} rows have errors: nothing was imported (fix them, or import with skip_errors)",
                thousands(bad),
                thousands(row.total_rows)
            );
            finish(ctx, tx, row, "failed", 0, bad, message).await?;
            return Ok(());
        }
    }
    let (_, rows) = table::open(path, format).map_err(anyhow::Error::msg)?;
    let mut rows = rows.skip(Ord::max(row.processed, 0) as usize);
    let (mut processed, mut succeeded, mut failed) = (row.processed, row.succeeded, row.failed);
    loop {
        let batch: Vec<(u64, Result<Vec<String>, String>)> = rows.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let tx = ctx.db().tenant(org).await?;
        tx.plan_with_values().await?;
        // Another run of this job got here first (a lease that expired while this one worked):
        // leave the rest to it.
        if load(&tx, id).await?.processed != processed {
            tx.commit().await?;
            return Ok(());
        }
        let mut good = Vec::new();
        let mut errors = Vec::new();
        for (line, cells) in &batch {
            match row_errors(fields, columns, cells) {
                Ok(record) => good.push((*line, record)),
                Err(e) => errors.push((*line, e)),
            }
        }
        let lines: Vec<u64> = good.iter().map(|(l, _)| *l).collect();
        let outcomes = records
            .upsert(
                ctx,
                &tx,
                &caller,
                good.into_iter().map(|(_, r)| r).collect(),
            )
            .await
            .map_err(api)?;
        let mut refused = errors.len() as i64;
        let mut flat: Vec<(u64, kernel::records::RecordError)> = errors
            .into_iter()
            .flat_map(|(line, e)| e.into_iter().map(move |e| (line, e)))
            .collect();
        for (line, outcome) in lines.into_iter().zip(outcomes) {
            if let Err(e) = outcome {
                refused += 1;
                flat.push((line, e));
            }
        }
        if failed < MAX_ERRORS {
            save_errors(&tx, id, flat).await.map_err(api)?;
        }
        processed += batch.len() as i64;
        failed += refused;
        succeeded += batch.len() as i64 - refused;
        tx.repo::<job::Entity>()
            .update_many(
                vec![
                    (job::Column::Processed, processed.into()),
                    (job::Column::Succeeded, succeeded.into()),
                    (job::Column::Failed, failed.into()),
                    (job::Column::UpdatedAt, Utc::now().into()),
                ],
                job::Column::Id.eq(id),
            )
            .await?;
        tx.commit().await?;
    }
    let tx = ctx.db().tenant(org).await?;
    let skipped = match failed {
        0 => String::new(),
        n => format!(" ({} skipped)", thousands(n)),
    };
    let message = format!(
        "{} of {} imported{skipped}",
        thousands(succeeded),
        thousands(processed)
    );
    finish(ctx, tx, row, "completed", succeeded, failed, message).await
}

/// Ends an import: the error file when rows were refused, the final counts, `import.completed`.
async fn finish(
    ctx: &CellContext,
    tx: TenantTx,
    row: &job::Model,
    status: &str,
    succeeded: i64,
    failed: i64,
    message: String,
) -> anyhow::Result<()> {
    let result_key = match failed {
        0 => None,
        _ => Some(error_file(ctx, &tx, row).await?),
    };
    let now = Utc::now();
    let current = load(&tx, row.id).await?;
    let total = Ord::max(current.processed, row.total_rows);
    let mut m: job::ActiveModel = current.into();
    m.status = Set(status.into());
    m.succeeded = Set(succeeded);
    m.failed = Set(failed);
    m.result_key = Set(result_key);
    m.message = Set(Some(message.clone()));
    m.finished_at = Set(Some(now));
    m.updated_at = Set(now);
    tx.repo::<job::Entity>().update(m).await?;
    let done = ImportCompleted {
        job_id: row.id,
        entity_type: row.entity_type.clone(),
        total_rows: total,
        succeeded,
        failed,
        summary: message,
    };
    ctx.events()
        .emit(&tx, Some(EntityRef::user(row.requested_by)), &done)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `row,field,message` for every refused row, stored beside the source; its key.
async fn error_file(ctx: &CellContext, tx: &TenantTx, row: &job::Model) -> anyhow::Result<String> {
    let path: PathBuf = service::spool(ctx, "errors.csv").await?;
    let mut out = csv::Writer::from_path(&path)?;
    out.write_record(["row", "field", "message"])?;
    let repo = tx.repo::<row_error::Entity>();
    let mut after: Option<(i64, Uuid)> = None;
    loop {
        let mut select = repo
            .find()
            .filter(row_error::Column::JobId.eq(row.id))
            .order_by_asc(row_error::Column::Line)
            .order_by_asc(row_error::Column::Id)
            .limit(PAGE);
        if let Some((line, id)) = after {
            select = select.filter(
                row_error::Column::Line.gt(line).or(row_error::Column::Line
                    .eq(line)
                    .and(row_error::Column::Id.gt(id))),
            );
        }
        let page = select.all(repo.conn()).await?;
        for e in &page {
            out.write_record([
                e.line.to_string(),
                e.field.clone().unwrap_or_default(),
                kernel::records::safe_cell(&e.message),
            ])?;
        }
        match page.last() {
            Some(last) if page.len() as u64 == PAGE => after = Some((last.line, last.id)),
            _ => break,
        }
    }
    out.flush()?;
    drop(out);
    let key = service::key(row.org_id, row.id, "errors.csv").map_err(api)?;
    let stored = ctx
        .storage()
        .put_generated(key.clone(), "text/csv", path.clone())
        .await;
    let _ = tokio::fs::remove_file(&path).await;
    stored?;
    Ok(key.as_str().to_owned())
}

async fn export(ctx: &CellContext, org: Uuid, id: Uuid) -> anyhow::Result<()> {
    let Some(row) = begin(ctx, org, id).await? else {
        return Ok(());
    };
    let loader = service::loader_with_records(ctx, "entity_type", &row.entity_type).map_err(api)?;
    let records = records_of(&loader)?;
    let format =
        Format::parse(&row.format).ok_or_else(|| anyhow::anyhow!("format {}", row.format))?;
    let query =
        ListQuery::parse_in(ctx, org, row.query.as_deref().unwrap_or_default()).map_err(api)?;
    let columns: Vec<String> = std::iter::once("id".to_owned())
        .chain(records.fields().iter().map(|f| f.name.to_owned()))
        .collect();
    let caller = service::acting(org, row.requested_by);
    let path = service::spool(ctx, &format!("export.{}", format.name())).await?;
    let result = async {
        let mut writer = Writer::create(&path, format, &columns)?;
        let mut after = None;
        let mut written = 0i64;
        loop {
            let tx = ctx.db().tenant(org).await?;
            tx.plan_with_values().await?;
            tx.walk_in_order().await?;
            let page = records
                .export(ctx, &tx, &caller, &query, after, PAGE)
                .await
                .map_err(api)?;
            tx.commit().await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            let full = page.len() as u64 == PAGE;
            for (rid, mut record) in page {
                record.insert("id".into(), rid.to_string().into());
                writer.write(&columns, &record)?;
                written += 1;
            }
            progress(ctx, org, id, written).await?;
            if !full {
                break;
            }
        }
        let finish_path = path.clone();
        tokio::task::spawn_blocking(move || writer.finish(&finish_path)).await??;
        let key = service::key(org, id, &format!("export.{}", format.name())).map_err(api)?;
        ctx.storage()
            .put_generated(key.clone(), format.content_type(), path.clone())
            .await?;
        let tx = ctx.db().tenant(org).await?;
        let now = Utc::now();
        let mut m: job::ActiveModel = load(&tx, id).await?.into();
        m.status = Set("completed".into());
        m.processed = Set(written);
        m.total_rows = Set(written);
        m.result_key = Set(Some(key.as_str().to_owned()));
        m.message = Set(Some(format!("{} records", thousands(written))));
        m.finished_at = Set(Some(now));
        m.updated_at = Set(now);
        tx.repo::<job::Entity>().update(m).await?;
        let done = ExportCompleted {
            job_id: id,
            entity_type: row.entity_type.clone(),
            format: format.name().into(),
            rows: written,
        };
        ctx.events()
            .emit(&tx, Some(EntityRef::user(row.requested_by)), &done)
            .await?;
        tx.commit().await?;
        anyhow::Ok(())
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

/// Records written so far, for `GET /export/jobs/{id}`.
async fn progress(ctx: &CellContext, org: Uuid, id: Uuid, written: i64) -> anyhow::Result<()> {
    let tx = ctx.db().tenant(org).await?;
    tx.repo::<job::Entity>()
        .update_many(
            vec![
                (job::Column::Processed, written.into()),
                (job::Column::UpdatedAt, Utc::now().into()),
            ],
            job::Column::Id.eq(id),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}
