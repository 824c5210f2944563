//! The operator API under `/admin`: parked events (list, replay). Guarded by the cell's
//! `admin_token` (environment only) until the identity module brings platform-admin roles; with
//! no token configured the API answers 403.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

use crate::context::CellContext;
use crate::error::{ApiError, ApiResult};
use crate::events::DeadDelivery;
use crate::http::list::{ListQuery, Page};

/// Proof that the caller presented the cell's admin token.
#[derive(Debug)]
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        crate::http::access::mark(req, crate::http::Access::Operator);
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Operator, ApiError> {
    let ctx = req
        .app_data::<CellContext>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("CellContext is not registered")))?;
    let Some(token) = &ctx.config().cell.admin_token else {
        return Err(ApiError::forbidden(
            "the admin API is disabled: set CELL__CELL__ADMIN_TOKEN",
        ));
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if crate::http::constant_time_eq(given, token.expose_secret()) {
        Ok(Operator)
    } else {
        Err(ApiError::unauthorized("a valid admin token is required"))
    }
}

/// Event deliveries parked after their last attempt, oldest first.
#[utoipa::path(tag = "admin", params(("page" = Option<u64>, Query, minimum = 1, maximum = 100000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = Page<DeadDelivery>), (status = 401, body = crate::error::ErrorEnvelope)))]
#[get("/admin/events/dead")]
pub async fn dead_events(ctx: CellContext, _op: Operator, q: ListQuery) -> ApiResult<HttpResponse> {
    let (rows, total) = ctx.events().dead(ctx.db(), q.offset(), q.limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, &q, total)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveryPath {
    pub id: Uuid,
}

/// Requeues one parked delivery with a fresh attempt budget.
#[utoipa::path(tag = "admin", params(DeliveryPath),
    responses((status = 200, description = "requeued"), (status = 404, body = crate::error::ErrorEnvelope)))]
#[post("/admin/events/dead/{id}/replay")]
pub async fn replay_one(
    ctx: CellContext,
    _op: Operator,
    path: web::Path<DeliveryPath>,
) -> ApiResult<HttpResponse> {
    match ctx.events().replay(ctx.db(), Some(path.id)).await? {
        0 => Err(ApiError::not_found("no parked delivery with this id")),
        n => Ok(HttpResponse::Ok().json(serde_json::json!({ "requeued": n }))),
    }
}

/// Requeues every parked delivery.
#[utoipa::path(tag = "admin", responses((status = 200, description = "requeued")))]
#[post("/admin/events/dead/replay")]
pub async fn replay_all(ctx: CellContext, _op: Operator) -> ApiResult<HttpResponse> {
    let n = ctx.events().replay(ctx.db(), None).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "requeued": n })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunsQuery {
    /// Only runs of this job (`module.job`).
    pub name: Option<String>,
}

/// Recorded job attempts, newest first: start, end, duration, status, error.
#[utoipa::path(tag = "admin", params(RunsQuery, ("page" = Option<u64>, Query, minimum = 1, maximum = 100000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = Page<crate::jobs::JobRunRecord>), (status = 401, body = crate::error::ErrorEnvelope)))]
#[get("/admin/jobs/runs")]
pub async fn job_runs(
    ctx: CellContext,
    _op: Operator,
    q: ListQuery,
    by: web::Query<RunsQuery>,
) -> ApiResult<HttpResponse> {
    let (rows, total) = ctx
        .jobs()
        .runs(ctx.db(), by.name.as_deref(), q.offset(), q.limit)
        .await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, &q, total)))
}

/// Jobs parked after their last attempt.
#[utoipa::path(tag = "admin", params(("page" = Option<u64>, Query, minimum = 1, maximum = 100000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = Page<crate::jobs::DeadJob>), (status = 401, body = crate::error::ErrorEnvelope)))]
#[get("/admin/jobs/dead")]
pub async fn dead_jobs(ctx: CellContext, _op: Operator, q: ListQuery) -> ApiResult<HttpResponse> {
    let (rows, total) = ctx.jobs().dead(ctx.db(), q.offset(), q.limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, &q, total)))
}

/// Requeues one parked job with a fresh attempt budget.
#[utoipa::path(tag = "admin", params(DeliveryPath),
    responses((status = 200, description = "requeued"), (status = 404, body = crate::error::ErrorEnvelope)))]
#[post("/admin/jobs/dead/{id}/replay")]
pub async fn replay_job(
    ctx: CellContext,
    _op: Operator,
    path: web::Path<DeliveryPath>,
) -> ApiResult<HttpResponse> {
    match ctx.jobs().replay(ctx.db(), Some(path.id)).await? {
        0 => Err(ApiError::not_found("no parked job with this id")),
        n => Ok(HttpResponse::Ok().json(serde_json::json!({ "requeued": n }))),
    }
}

/// Recorded email messages, newest first: recipient, template, status, provider id, error.
#[utoipa::path(tag = "admin", params(("page" = Option<u64>, Query, minimum = 1, maximum = 100000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100)),
    responses((status = 200, body = Page<crate::mail::EmailRecord>), (status = 401, body = crate::error::ErrorEnvelope)))]
#[get("/admin/mail")]
pub async fn emails(ctx: CellContext, _op: Operator, q: ListQuery) -> ApiResult<HttpResponse> {
    let (rows, total) = ctx.mail().recorded(ctx.db(), q.offset(), q.limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(rows, &q, total)))
}
