//! `/health/live` (the process answers), `/health/ready` (every configured backend answers),
//! `/metrics` (Prometheus) and `/.well-known/jwks.json` (the keys access tokens are signed with).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::context::CellContext;
use crate::error::{ApiError, ErrorCode};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `live`, `ready`, or `degraded` (ready, with a non-critical backend failing).
    pub status: &'static str,
    /// Each readiness check and its result (`ok`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<&'static str, String>,
}

/// The process is up and serving.
#[utoipa::path(tag = "health", security(()), responses((status = 200, body = Health)))]
#[get("/health/live")]
pub async fn live(_: super::Public) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "live",
        checks: Default::default(),
    })
}

/// The database and every configured backend answer; 503 names the failing checks. A backend
/// the cell can serve without (Redis) answers 200 `degraded`, its check saying what works
/// differently meanwhile.
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, body = Health),
    (status = 503, description = "a check failed; `error.details.checks` names it", body = crate::error::ErrorEnvelope),
))]
#[get("/health/ready")]
pub async fn ready(_: super::Public, ctx: CellContext) -> Result<HttpResponse, ApiError> {
    let runs = ctx.health_checks().iter().map(|check| async move {
        let result = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!("timed out after {}s", CHECK_TIMEOUT.as_secs())),
        };
        (check.name(), check.critical(), result)
    });
    let results = futures_util::future::join_all(runs).await;
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, critical, r)| *critical && r.is_err())
        .map(|(n, _, _)| *n)
        .collect();
    let degraded = results.iter().any(|(_, _, r)| r.is_err());
    let checks = results
        .into_iter()
        .map(|(name, _, r)| (name, r.map_or_else(|e| e, |()| "ok".to_owned())))
        .collect();
    if failed.is_empty() {
        return Ok(HttpResponse::Ok().json(Health {
            status: if degraded { "degraded" } else { "ready" },
            checks,
        }));
    }
    Err(ApiError::new(
        ErrorCode::NotReady,
        format!("not ready: {}", failed.join(", ")),
    )
    .with_details(serde_json::json!({ "checks": checks })))
}

/// Prometheus text exposition (request, database pool, job and event metrics). Open unless
/// `telemetry.metrics_token` is set, then it takes that token as a bearer token (401 without
/// it); 404 when `telemetry.metrics` is off.
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
    (status = 401, description = "a metrics token is configured and was not given", body = crate::error::ErrorEnvelope),
    (status = 404, description = "metrics are off", body = crate::error::ErrorEnvelope),
))]
#[get("/metrics")]
pub async fn metrics(
    _: super::Public,
    ctx: CellContext,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tel = &ctx.config().telemetry;
    if !tel.metrics {
        return Err(ApiError::of(ErrorCode::NotFound));
    }
    if let Some(token) = &tel.metrics_token {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| super::constant_time_eq(g, token.expose_secret())) {
            return Err(ApiError::unauthorized("a valid metrics token is required"));
        }
    }
    let (open, idle) = ctx.db().pool_stats();
    ::metrics::gauge!("db_pool_connections").set(f64::from(open));
    ::metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    ::metrics::gauge!("db_pool_max_connections")
        .set(f64::from(ctx.config().database.max_connections));
    // Queue depth: jobs and event deliveries due and not yet running (capped at 100 000),
    // reported by the instances that work the queues (an api instance would count the same
    // rows again on every scrape).
    let system = ctx.db().system();
    let queues = match ctx.config().serve.role.works() {
        true => &[
            ("jobs_ready", "kernel_jobs"),
            ("events_pending", "kernel_event_deliveries"),
        ][..],
        false => &[],
    };
    for &(gauge, table) in queues {
        match crate::queue::due_now(system, table, 100_000).await {
            Ok(n) => ::metrics::gauge!(gauge).set(n as f64),
            Err(e) => tracing::warn!(error = %e, table, "cannot count the queue for /metrics"),
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::metrics_handle().render()))
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The public keys access tokens are signed with; `kid` names the one a token used.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys that verify this cell's access tokens (JWKS), for services that check its
/// tokens themselves; cacheable for 5 minutes. 404 when the cell signs no tokens.
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, body = Jwks),
    (status = 404, description = "this cell publishes no signing keys", body = crate::error::ErrorEnvelope),
))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(_: super::Public, ctx: CellContext) -> Result<HttpResponse, ApiError> {
    let keys = ctx
        .authenticator()
        .and_then(|a| a.jwks())
        .ok_or_else(|| ApiError::not_found("this cell publishes no signing keys"))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(keys))
}
