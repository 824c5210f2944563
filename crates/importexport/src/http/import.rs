//! `/import`: preview a file (headers, suggested mapping, the first rows checked), confirm it
//! with a mapping (a job), follow the job.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use kernel::error::ErrorCode;
use kernel::http::{State, ValidJson};
use kernel::records::{FieldSpec, RecordError, parse_record};
use kernel::sea_orm::ActiveValue::Set;
use kernel::storage::Presigned;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::Queued;
use crate::entity::job;
use crate::events::ImportStarted;
use crate::module::Settings;
use crate::permissions::{ImportData, ReadJobs};
use crate::table::{self, Format};
use crate::{mapping, service};

const TAG: &str = "import";
/// Rows shown in a preview, and rows checked.
const PREVIEW_ROWS: usize = 10;
const CHECKED_ROWS: usize = 100;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(preview).service(confirm).service(status);
}

/// `POST /import/preview`, as `multipart/form-data`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "the form's schema; the handler reads the multipart stream"
)]
pub struct ImportForm {
    /// A `.csv` (UTF-8) or `.xlsx` file (its first sheet), with a header row.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What the rows are (`contact`, `template_item`): an entity type whose module declares
    /// its records.
    #[schema(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    entity_type: String,
}

/// A row the preview or the import refused.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// The row of the sheet (the header is row 1).
    pub row: u64,
    pub field: Option<String>,
    pub message: String,
}

/// What `POST /import/preview` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Confirm with this id.
    pub preview_id: Uuid,
    pub entity_type: String,
    /// `csv` or `xlsx`.
    pub format: String,
    pub headers: Vec<String>,
    /// Header → the field it seems to hold (`null`: none).
    pub suggested_mapping: BTreeMap<String, Option<String>>,
    /// The fields a record has.
    pub fields: Vec<FieldSpec>,
    /// The first 10 rows, header → text.
    pub preview: Vec<BTreeMap<String, String>>,
    /// What is wrong in the first 100 rows, read with the suggested mapping.
    pub validation_errors: Vec<ImportRowError>,
    pub total_rows: u64,
}

fn bad_form(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// A multipart field's text, up to `max` bytes.
async fn text_field(
    field: &mut actix_multipart::Field,
    name: &str,
    max: usize,
) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| bad_form(format!("the form cannot be read: {e}")))?;
        buf.extend_from_slice(&chunk);
        if buf.len() > max {
            return Err(ApiError::validation(
                name,
                format!("is longer than {max} bytes"),
            ));
        }
    }
    String::from_utf8(buf).map_err(|_| ApiError::validation(name, "is not UTF-8 text"))
}

/// The form's file, written to `path` (at most `max` bytes): its name and first bytes.
async fn file_field(
    field: &mut actix_multipart::Field,
    path: &std::path::Path,
    max: u64,
) -> Result<(String, Vec<u8>), ApiError> {
    let filename = field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .unwrap_or_default()
        .to_owned();
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let mut size = 0u64;
    let mut head = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| bad_form(format!("the form cannot be read: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the file is larger than {max} bytes"),
            ));
        }
        if head.len() < 8 {
            head.extend_from_slice(&chunk[..chunk.len().min(8 - head.len())]);
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok((filename, head))
}

/// What reading the whole file found: headers, the first rows, how many rows.
struct Scan {
    headers: Vec<String>,
    first: Vec<(u64, Result<Vec<String>, String>)>,
    total: u64,
}

fn scan(path: std::path::PathBuf, format: Format, max_rows: u64) -> Result<Scan, ApiError> {
    let (headers, rows) =
        table::open(&path, format).map_err(|m| ApiError::validation("file", m))?;
    let mut first = Vec::new();
    let mut total = 0u64;
    for row in rows {
        total += 1;
        if total > max_rows {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the file has more than {max_rows} rows"),
            ));
        }
        if first.len() < CHECKED_ROWS {
            first.push(row);
        }
    }
    Ok(Scan {
        headers,
        first,
        total,
    })
}

/// A row read with `columns` (column index → field): its record, or what is wrong with it.
pub(crate) fn row_errors(
    fields: &[FieldSpec],
    columns: &[(usize, &'static str)],
    row: &Result<Vec<String>, String>,
) -> Result<kernel::records::Record, Vec<RecordError>> {
    let cells = match row {
        Ok(cells) => cells,
        Err(message) => {
            return Err(vec![RecordError {
                field: None,
                message: message.clone(),
            }]);
        }
    };
    let by_field: BTreeMap<&str, &str> = columns
        .iter()
        .map(|(i, f)| (*f, cells.get(*i).map(String::as_str).unwrap_or_default()))
        .collect();
    let mapped: Vec<FieldSpec> = fields
        .iter()
        .filter(|f| f.required || by_field.contains_key(f.name))
        .cloned()
        .collect();
    parse_record(&mapped, &by_field)
}

/// Reads a file to import: its headers, a suggested mapping of headers to fields, the first 10
/// rows, the errors of the first 100 with that mapping, and the row count (members and up, with
/// the entity module's own permission to create records).
#[utoipa::path(tag = TAG,
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Preview), (status = 400), (status = 401), (status = 403),
        (status = 404), (status = 413), (status = 415), (status = 422)))]
#[post("/import/preview")]
pub(crate) async fn preview(
    ctx: CellContext,
    settings: State<Settings>,
    tx: ImportData,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the file as multipart/form-data (fields `file` and `entity_type`)",
        ));
    }
    let path = service::spool(&ctx, "import")
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let answer = read_preview(&ctx, &settings, &tx, &req, payload, &path).await;
    let _ = tokio::fs::remove_file(&path).await;
    let preview = answer?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(preview))
}

async fn read_preview(
    ctx: &CellContext,
    settings: &Settings,
    tx: &ImportData,
    req: &HttpRequest,
    payload: web::Payload,
    path: &std::path::Path,
) -> Result<Preview, ApiError> {
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut entity_type = None;
    let mut file = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| bad_form(format!("the form cannot be read: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "entity_type" | "entityType" => {
                entity_type = Some(text_field(&mut field, "entity_type", 64).await?);
            }
            "file" if file.is_none() => {
                file = Some(file_field(&mut field, path, settings.max_file_bytes).await?);
            }
            other => {
                return Err(ApiError::validation(
                    "form",
                    format!("unexpected field `{other}`: send `file` and `entity_type`"),
                ));
            }
        }
    }
    let entity_type =
        entity_type.ok_or_else(|| ApiError::validation("entity_type", "is required"))?;
    let (filename, head) = file.ok_or_else(|| ApiError::validation("file", "is required"))?;
    let loader = service::loader_with_records(ctx, "entity_type", &entity_type)?;
    let records = loader
        .records()
        .ok_or_else(|| ApiError::validation("entity_type", "cannot be imported"))?;
    records.may_import(ctx, tx, tx.caller()).await?;
    let format = Format::of_upload(&filename, &head).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the file must be a .csv (UTF-8) or an .xlsx workbook",
        )
    })?;
    let owned = path.to_owned();
    let max_rows = settings.max_rows;
    let scan = tokio::task::spawn_blocking(move || scan(owned, format, max_rows))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))??;
    let fields = records.fields();
    let suggested = mapping::suggest(&scan.headers, &fields);
    let columns: Vec<(usize, &'static str)> = scan
        .headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let field = suggested.get(h).cloned().flatten()?;
            fields.iter().find(|f| f.name == field).map(|f| (i, f.name))
        })
        .collect();
    let mut validation_errors = Vec::new();
    for (line, row) in &scan.first {
        if let Err(errors) = row_errors(&fields, &columns, row) {
            validation_errors.extend(errors.into_iter().map(|e| ImportRowError {
                row: *line,
                field: e.field,
                message: e.message,
            }));
        }
    }
    let shown = scan
        .first
        .iter()
        .take(PREVIEW_ROWS)
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|cells| {
            scan.headers
                .iter()
                .enumerate()
                .map(|(i, h)| (h.clone(), cells.get(i).cloned().unwrap_or_default()))
                .collect()
        })
        .collect();
    let id = Uuid::now_v7();
    let source = service::key(tx.org_id(), id, &service::source_name(format))?;
    ctx.storage()
        .put_generated(source, format.content_type(), path.to_owned())
        .await?;
    let now = Utc::now();
    tx.repo::<job::Entity>()
        .insert(job::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            kind: Set("import".into()),
            entity_type: Set(entity_type.clone()),
            format: Set(format.name().into()),
            status: Set("preview".into()),
            requested_by: Set(tx.caller().user_id),
            headers: Set(Some(
                serde_json::to_string(&scan.headers).unwrap_or_default(),
            )),
            mapping: Set(None),
            query: Set(None),
            skip_errors: Set(false),
            total_rows: Set(scan.total as i64),
            processed: Set(0),
            succeeded: Set(0),
            failed: Set(0),
            result_key: Set(None),
            message: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
        })
        .await?;
    Ok(Preview {
        preview_id: id,
        entity_type,
        format: format.name().into(),
        headers: scan.headers,
        suggested_mapping: suggested,
        fields,
        preview: shown,
        validation_errors,
        total_rows: scan.total,
    })
}

/// `POST /import/confirm`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportConfirm {
    #[garde(skip)]
    pub preview_id: Uuid,
    /// Header → field; a header left out or mapped to `null` is not imported. Every required
    /// field must be mapped.
    #[garde(skip)]
    pub mapping: BTreeMap<String, Option<String>>,
    /// `true`: store the good rows and report the others; `false` (default): if any row is
    /// wrong, store nothing and report them all.
    #[serde(default)]
    #[garde(skip)]
    pub skip_errors: bool,
}

/// Starts the import of a previewed file with a mapping: a job, 100 rows per transaction
/// (`GET /import/jobs/{id}` follows it).
#[utoipa::path(tag = TAG, request_body = ImportConfirm, responses(
    (status = 202, body = Queued), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/import/confirm")]
pub(crate) async fn confirm(
    ctx: CellContext,
    tx: ImportData,
    body: ValidJson<ImportConfirm>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let row = service::job_for(&ctx, &tx, tx.caller(), body.preview_id, "import").await?;
    if row.status != "preview" {
        return Err(ApiError::conflict("this preview was already confirmed"));
    }
    let loader = service::loader_with_records(&ctx, "preview_id", &row.entity_type)?;
    let records = loader
        .records()
        .ok_or_else(|| ApiError::validation("preview_id", "cannot be imported"))?;
    records.may_import(&ctx, &tx, tx.caller()).await?;
    let headers: Vec<String> = serde_json::from_str(row.headers.as_deref().unwrap_or("[]"))
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    mapping::check(&headers, &records.fields(), &body.mapping)?;
    let (id, total) = (row.id, row.total_rows);
    let mut m: job::ActiveModel = row.into();
    m.mapping = Set(Some(
        serde_json::to_string(&body.mapping).unwrap_or_default(),
    ));
    m.skip_errors = Set(body.skip_errors);
    m.status = Set("queued".into());
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<job::Entity>().update(m).await?;
    ctx.jobs()
        .enqueue_in(
            &tx,
            &format!("{}.{}", service::MODULE, crate::jobs::IMPORT),
            serde_json::json!({ "job_id": id }),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let started = ImportStarted {
        job_id: id,
        entity_type: row.entity_type,
        total_rows: total,
    };
    ctx.events()
        .emit(
            &tx,
            Some(kernel::module::EntityRef::user(tx.caller().user_id)),
            &started,
        )
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(Queued { job_id: id }))
}

/// An import, as it goes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: Uuid,
    pub entity_type: String,
    /// `preview`, `queued`, `running`, `completed` or `failed`.
    pub status: String,
    pub total_rows: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// 0 to 100.
    pub percent: u8,
    /// Seconds left at the pace so far, while it runs.
    pub eta_seconds: Option<u64>,
    /// What happened, for people ("2,430 of 2,450 imported (20 skipped)").
    pub message: Option<String>,
    /// The refused rows (`row,field,message`), once the import is over; valid an hour.
    pub error_file: Option<Presigned>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An import's progress: rows done, stored and refused, percent, time left, and the error file
/// when it is over (its requester or an admin).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ImportJob), (status = 401), (status = 403), (status = 404)))]
#[get("/import/jobs/{id}")]
pub(crate) async fn status(
    ctx: CellContext,
    tx: ReadJobs,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::job_for(&ctx, &tx, tx.caller(), id.into_inner(), "import").await?;
    tx.commit().await?;
    let percent = match row.total_rows {
        0 => u8::from(row.status == "completed") * 100,
        total => ((row.processed.clamp(0, total) * 100) / total) as u8,
    };
    let eta_seconds = match (row.status.as_str(), row.started_at) {
        ("running", Some(started)) if row.processed > 0 => {
            let spent = (Utc::now() - started).num_milliseconds().max(0) as f64 / 1000.0;
            let left = (row.total_rows - row.processed).max(0) as f64;
            Some((spent / row.processed as f64 * left).ceil() as u64)
        }
        _ => None,
    };
    let error_file = match (&row.result_key, row.finished_at) {
        (Some(_), Some(_)) => {
            let key = service::key(row.org_id, row.id, "errors.csv")?;
            Some(
                ctx.storage()
                    .presign_get(&key, Some(std::time::Duration::from_secs(3600)))
                    .await?,
            )
        }
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ImportJob {
        id: row.id,
        entity_type: row.entity_type,
        status: row.status,
        total_rows: row.total_rows,
        processed: row.processed,
        succeeded: row.succeeded,
        failed: row.failed,
        percent,
        eta_seconds,
        message: row.message,
        error_file,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
    }))
}
