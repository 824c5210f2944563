//! `POST /finance/webhooks/stripe`: Stripe's events, verified with its signature scheme.

use actix_web::{HttpRequest, HttpResponse, post, web};
use kernel::http::{Signed, State};
use kernel::{ApiError, ApiResult, CellContext};
use serde::Serialize;

use super::TAG;
use crate::module::Settings;
use crate::stripe;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(webhook);
}

/// What the cell did with an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub received: bool,
    /// `false` for an event seen before, or one about nothing of this cell's.
    pub processed: bool,
}

/// Stripe's webhook: `payment_intent.succeeded` records the payment (once per intent),
/// `payment_intent.payment_failed` publishes `finance.payment.failed`, `charge.refunded` records
/// what Stripe refunded. The `Stripe-Signature` header must sign the raw body with the
/// endpoint's secret within the tolerance (401 otherwise: nothing is stored); each event id is
/// processed once.
#[utoipa::path(tag = TAG, security(()), request_body = serde_json::Value,
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256>")),
    responses((status = 200, body = Receipt), (status = 400), (status = 401), (status = 404)))]
#[post("/finance/webhooks/stripe")]
pub(crate) async fn webhook(
    _: Signed,
    ctx: CellContext,
    settings: State<Settings>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let Some(secret) = &settings.stripe_webhook_secret else {
        return Err(ApiError::not_found(
            "no payment provider is configured in this cell",
        ));
    };
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let tolerance = i64::try_from(settings.stripe_tolerance_secs).unwrap_or(300);
    if !stripe::verify(secret, header, &body, now, tolerance) {
        return Err(ApiError::unauthorized(
            "the event is not signed with this endpoint's secret, or not recently",
        ));
    }
    let event = stripe::read(&body)?;
    let o = &event.data.object;
    let org = match event.kind.as_str() {
        "charge.refunded" => match o["payment_intent"].as_str() {
            Some(intent) => stripe::org_of_intent(&ctx, intent).await?,
            None => None,
        },
        _ => stripe::target(o).map(|(org, _)| org),
    };
    let processed = match org {
        Some(org) => {
            let tx = ctx.db().tenant(org).await?;
            let done = stripe::apply(&ctx, &tx, &event).await?;
            tx.commit().await?;
            done
        }
        None => false,
    };
    Ok(HttpResponse::Ok().json(Receipt {
        received: true,
        processed,
    }))
}
