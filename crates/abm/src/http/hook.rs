//! `POST /hooks/posthog`: the PostHog webhook (public, authenticated by its signature).

use actix_web::{HttpRequest, HttpResponse, post, web};
use kernel::{ApiError, ApiResult, CellContext};

use crate::ingest::{ItemReport, Report};
use crate::module::Inner;
use crate::posthog::{ParseOptions, parse};

// For the API document only: `crate::posthog::parse` reads the bytes.
/// What PostHog POSTs: the HTTP webhook destination's body, a flat event, or a batch of either.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = abm::PosthogBody)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) enum PosthogBody {
    Delivery(PosthogDelivery),
    Flat(PosthogFlatEvent),
    /// 1 to `max_batch` (1 000 by default) items.
    Batch(Vec<PosthogItem>),
}

/// An item of a batch.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = abm::PosthogItem)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) enum PosthogItem {
    Delivery(PosthogDelivery),
    Flat(PosthogFlatEvent),
}

/// The webhook destination's default body: the event and the person it concerns.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = abm::PosthogDelivery)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) struct PosthogDelivery {
    event: PosthogEvent,
    person: Option<PosthogPerson>,
}

/// A PostHog event (`elements_chain`, `url` and other fields are ignored).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = abm::PosthogEvent)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) struct PosthogEvent {
    /// PostHog's event id: a replayed event is ignored.
    uuid: Option<uuid::Uuid>,
    /// The event's name (`$pageview`, `content_download`).
    #[schema(min_length = 1, max_length = 200)]
    event: String,
    /// Who did it, as PostHog knows them.
    #[schema(min_length = 1, max_length = 200)]
    distinct_id: String,
    /// `$pathname`, `$current_url`, `$ip` (never stored: hashed with a salt),
    /// `$anon_distinct_id`, and what the cell's rules read (`topic_property`).
    #[schema(value_type = Option<Object>)]
    properties: Option<serde_json::Value>,
    /// When it happened (RFC 3339; the time of receipt when absent).
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
}

/// The person an event concerns: `properties.email` identifies a contact.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = abm::PosthogPerson)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) struct PosthogPerson {
    #[schema(value_type = Option<Object>)]
    properties: Option<serde_json::Value>,
}

/// A flat event: the event's fields at the top, with its person beside them.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = abm::PosthogFlatEvent)]
#[expect(dead_code, reason = "read by the API document only")]
pub(crate) struct PosthogFlatEvent {
    #[serde(flatten)]
    event: PosthogEvent,
    person: Option<PosthogPerson>,
}

/// Receives PostHog events (the webhook destination's body, a flat event, or a batch of
/// either), signed with Standard Webhooks headers or a shared-secret header as the cell is
/// configured. Anything unsigned is 401 with nothing stored; a replayed delivery or event is
/// ignored. Good events of a batch are kept when others are bad (reported by position).
#[utoipa::path(tag = "hooks", security(()), request_body = PosthogBody, responses(
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
