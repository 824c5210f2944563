//! `/health/live` (the process answers) and `/health/ready` (every configured backend answers).

use std::time::Duration;

use actix_web::{HttpResponse, get};
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
