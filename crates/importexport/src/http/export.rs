//! `/export`: a file of an entity type's records (the list filters of that entity), made by a
//! job and downloaded through a presigned URL valid an hour.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ValidJson};
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Queued;
use crate::entity::job;
use crate::permissions::{ExportData, ReadJobs};
use crate::service;
use crate::table::Format;

const TAG: &str = "export";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(start).service(status);
}

/// `POST /export`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    /// What to export: an entity type whose module declares its records.
    #[schema(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    #[garde(length(max = 64), pattern(r"^[a-z][a-z0-9_]*$"))]
    pub entity_type: String,
    /// `csv` (default), `xlsx` or `json`.
    #[schema(pattern = "^(csv|xlsx|json)$")]
    #[garde(inner(pattern("^(csv|xlsx|json)$")))]
    pub format: Option<String>,
    /// The entity's list filters, as its list takes them: `filter[status]=open&search=ship`.
    #[schema(max_length = 2000)]
    #[garde(inner(length(max = 2000)))]
    pub query: Option<String>,
}

/// Starts an export of the records the caller sees (every member; a job).
#[utoipa::path(tag = TAG, request_body = NewExport, responses(
    (status = 202, body = Queued), (status = 400), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[post("/export")]
pub(crate) async fn start(
    ctx: CellContext,
    tx: ExportData,
    body: ValidJson<NewExport>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let format = Format::parse(body.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| ApiError::validation("format", "must be csv, xlsx or json"))?;
    let loader = service::loader_with_records(&ctx, "entity_type", &body.entity_type)?;
    let records = loader
        .records()
        .ok_or_else(|| ApiError::validation("entity_type", "cannot be exported"))?;
    let raw = body.query.unwrap_or_default();
    let query = ListQuery::parse_in(&ctx, tx.org_id(), raw.trim_start_matches('?'))?;
    // The filters are the list's: a dry run refuses a field the list does not filter by now,
    // not in the job.
    records
        .export(&ctx, &tx, tx.caller(), &query, None, 0)
        .await?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    tx.repo::<job::Entity>()
        .insert(job::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            kind: Set("export".into()),
            entity_type: Set(body.entity_type),
            format: Set(format.name().into()),
            status: Set("queued".into()),
            requested_by: Set(tx.caller().user_id),
            headers: Set(None),
            mapping: Set(None),
            query: Set(Some(raw.trim_start_matches('?').to_owned())),
            skip_errors: Set(false),
            total_rows: Set(0),
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
    ctx.jobs()
        .enqueue_in(
            &tx,
            &format!("{}.{}", service::MODULE, crate::jobs::EXPORT),
            serde_json::json!({ "job_id": id }),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(Queued { job_id: id }))
}

/// An export, as it goes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportJob {
    pub id: Uuid,
    pub entity_type: String,
    pub format: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Records written so far.
    pub rows: i64,
    /// The file, once completed; valid an hour from this answer.
    pub download_url: Option<String>,
    pub download_expires_at: Option<DateTime<Utc>>,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An export's status and, once done, its file (its requester or an admin).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ExportJob), (status = 401), (status = 403), (status = 404)))]
#[get("/export/jobs/{id}")]
pub(crate) async fn status(
    ctx: CellContext,
    tx: ReadJobs,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::job_for(&ctx, &tx, tx.caller(), id.into_inner(), "export").await?;
    tx.commit().await?;
    let (download_url, download_expires_at) = match (&row.result_key, row.status.as_str()) {
        (Some(_), "completed") => {
            let key = service::key(row.org_id, row.id, &format!("export.{}", row.format))?;
            let url = ctx
                .storage()
                .presign_get(&key, Some(std::time::Duration::from_secs(3600)))
                .await?;
            (Some(url.url), Some(url.expires_at))
        }
        _ => (None, None),
    };
    Ok(HttpResponse::Ok().json(ExportJob {
        id: row.id,
        entity_type: row.entity_type,
        format: row.format,
        status: row.status,
        rows: row.processed,
        download_url,
        download_expires_at,
        message: row.message,
        created_at: row.created_at,
        finished_at: row.finished_at,
    }))
}
