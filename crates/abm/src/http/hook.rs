//! `POST /hooks/posthog`: the PostHog webhook (public, authenticated by its signature).

use actix_web::{HttpRequest, HttpResponse, post, web};
use kernel::{ApiError, ApiResult, CellContext};

use crate::ingest::{ItemReport, Report};
use crate::module::Inner;
use crate::posthog::{ParseOptions, parse};

/// Receives PostHog events (the webhook destination's body, a flat event, or a batch of
/// either), signed with Standard Webhooks headers or a shared-secret header as the cell is
/// configured. Anything unsigned is 401 with nothing stored; a replayed delivery or event is
/// ignored. Good events of a batch are kept when others are bad (reported by position).
#[utoipa::path(tag = "hooks", security(()), request_body = serde_json::Value, responses(
    (status = 200, body = Report), (status = 400), (status = 401), (status = 413)))]
#[post("/hooks/posthog")]
pub(crate) async fn posthog_hook(
    _: kernel::http::Signed,
    ctx: CellContext,
    abm: kernel::http::State<Inner>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let now = chrono::Utc::now();
    let verifier = abm
        .verifier
        .as_ref()
        .ok_or_else(|| ApiError::unauthorized("this cell has no PostHog hook secret configured"))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let verified = verifier
        .verify(header, &body, now)
        .map_err(|e| ApiError::unauthorized(format!("the hook is not authentic: {e}")))?;
    let options = ParseOptions {
        max_batch: abm.settings.max_batch,
        ..ParseOptions::default()
    };
    let items = parse(&body, now, &options)
        .map_err(|e| ApiError::bad_request(format!("the body holds no events: {e}")))?;
    let mut report = Report {
        received: items.len(),
        ..Report::default()
    };
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(e) => events.push(e),
            Err(e) => report.errors.push(ItemReport {
                index: e.index,
                error: e.kind.to_string(),
            }),
        }
    }
    if events.is_empty() {
        let details = serde_json::to_value(&report.errors).unwrap_or_default();
        return Err(ApiError::bad_request("no event in the body is valid")
            .with_details(serde_json::json!({ "errors": details })));
    }
    let report = abm
        .ingest(&ctx, events, verified.message_id, report)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
