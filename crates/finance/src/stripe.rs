//! Stripe, over its documented HTTP API: PaymentIntents (`POST /v1/payment_intents`,
//! form-encoded, the secret key as bearer, an `Idempotency-Key`) and refunds (`POST
//! /v1/refunds`); its webhooks verified with Stripe's own scheme (`Stripe-Signature:
//! t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, within a tolerance) and processed once
//! per event id. No Stripe SDK: the two calls and the scheme are small and stable, and the
//! workspace already has the HTTP client and the HMAC.

use chrono::Utc;
use hmac::{KeyInit, Mac};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter};
use kernel::{ApiError, CellContext, ErrorCode, TenantTx};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::entity::{invoice, payment, provider_event};
use crate::events::PaymentFailed;
use crate::module::Settings;

pub(crate) const PROVIDER: &str = "stripe";

/// Whether `header` (`Stripe-Signature`) signs `body` with `secret`, made within `tolerance`
/// seconds of `now` (either way).
pub(crate) fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(t) = t else {
        return false;
    };
    if (now - t).abs() > tolerance {
        return false;
    }
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    signatures
        .iter()
        .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
}

/// What `pay` answers: the PaymentIntent's client secret, for Stripe.js.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Intent {
    pub client_secret: String,
    pub payment_intent_id: String,
    /// Minor units: what is owed now.
    pub amount: i64,
    pub currency: String,
}

fn configured(settings: &Settings) -> Result<(&str, &str), ApiError> {
    match (&settings.stripe_secret_key, &settings.stripe_webhook_secret) {
        (Some(key), Some(_)) => Ok((settings.stripe_api_url.trim_end_matches('/'), key)),
        _ => Err(ApiError::conflict(
            "no payment provider is configured in this cell (modules.finance.stripe_secret_key)",
        )),
    }
}

/// Calls Stripe: a form-encoded POST; its JSON answer, or 502 naming Stripe's error.
async fn call(
    settings: &Settings,
    path: &str,
    form: &[(&str, String)],
    idempotency_key: &str,
) -> Result<Value, ApiError> {
    let (base, key) = configured(settings)?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let unreachable = |e: reqwest::Error| {
        ApiError::new(
            ErrorCode::BadGateway,
            "the payment provider could not be reached",
        )
        .with_cause(e)
    };
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .timeout(std::time::Duration::from_secs(30))
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency_key)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = res.status();
    let out: Value = res.json().await.map_err(unreachable)?;
    if !status.is_success() {
        let message = out["error"]["message"].as_str().unwrap_or("no message");
        return Err(ApiError::new(
            ErrorCode::BadGateway,
            format!("the payment provider refused: {message}"),
        ));
    }
    Ok(out)
}

/// A PaymentIntent for what `inv` owes now (one per invoice and amount: Stripe answers a repeated
/// request with the same intent).
pub(crate) async fn intent(
    settings: &Settings,
    org: Uuid,
    inv: &invoice::Model,
) -> Result<Intent, ApiError> {
    configured(settings)?;
    let owed = crate::service::owed(inv);
    if owed <= 0 {
        return Err(ApiError::conflict(format!(
            "invoice {} is {}: nothing is owed on it",
            inv.number, inv.status
        )));
    }
    let out = call(
        settings,
        "/v1/payment_intents",
        &[
            ("amount", owed.to_string()),
            ("currency", inv.currency.to_ascii_lowercase()),
            ("automatic_payment_methods[enabled]", "true".into()),
            ("description", format!("Invoice {}", inv.number)),
            ("metadata[org_id]", org.to_string()),
            ("metadata[invoice_id]", inv.id.to_string()),
            ("metadata[number]", inv.number.clone()),
        ],
        &format!("pay-{}-{}-{}", inv.id, owed, inv.amount_paid),
    )
    .await?;
    match (out["id"].as_str(), out["client_secret"].as_str()) {
        (Some(id), Some(secret)) => Ok(Intent {
            client_secret: secret.to_owned(),
            payment_intent_id: id.to_owned(),
            amount: owed,
            currency: inv.currency.clone(),
        }),
        _ => Err(ApiError::new(
            ErrorCode::BadGateway,
            "the payment provider answered without a PaymentIntent",
        )),
    }
}

/// Asks Stripe to refund `amount` of a PaymentIntent (`key`: one refund per request).
async fn refund(
    settings: &Settings,
    payment_intent: &str,
    amount: i64,
    key: &str,
) -> Result<(), ApiError> {
    call(
        settings,
        "/v1/refunds",
        &[
            ("payment_intent", payment_intent.to_owned()),
            ("amount", amount.to_string()),
        ],
        key,
    )
    .await
    .map(|_| ())
}

/// Refunds `amount` of Stripe payment `p` (checked refundable, its transaction ended): at
/// Stripe first, then recorded in a new transaction of `org`, unless Stripe's `charge.refunded`
/// webhook recorded it meanwhile. The payment and its latest refund.
pub(crate) async fn refund_payment(
    ctx: &CellContext,
    settings: &Settings,
    org: Uuid,
    by: Uuid,
    p: &payment::Model,
    intent: &str,
    amount: i64,
) -> Result<(payment::Model, payment::Model), ApiError> {
    let key = format!("refund-{}-{}", p.id, p.refunded);
    refund(settings, intent, amount, &key).await?;
    let tx = ctx.db().tenant(org).await?;
    let now = crate::service::payment(&tx, p.id).await?;
    let rest = p.refunded + amount - now.refunded;
    let out = match rest > 0 {
        true => crate::service::refund(ctx, &tx, Some(by), p.id, Some(rest)).await?,
        false => (now, crate::service::last_refund(&tx, p.id).await?),
    };
    tx.commit().await?;
    Ok(out)
}

/// A webhook's event, as far as the cell reads it.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventData {
    pub object: Value,
}

/// Reads a verified webhook body; 400 for one that is not a Stripe event.
pub(crate) fn read(body: &[u8]) -> Result<Event, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("not a Stripe event: {e}")))
}

/// The org and invoice a PaymentIntent's metadata names.
pub(crate) fn target(object: &Value) -> Option<(Uuid, Uuid)> {
    let m = &object["metadata"];
    Some((
        Uuid::parse_str(m["org_id"].as_str()?).ok()?,
        Uuid::parse_str(m["invoice_id"].as_str()?).ok()?,
    ))
}

/// Records the event id in `tx`'s org: `false` when it was seen already.
async fn first_time(tx: &TenantTx, event_id: &str) -> Result<bool, ApiError> {
    let repo = tx.repo::<provider_event::Entity>();
    let seen = repo
        .find()
        .filter(provider_event::Column::Provider.eq(PROVIDER))
        .filter(provider_event::Column::EventId.eq(event_id))
        .one(repo.conn())
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    repo.insert(provider_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        provider: Set(PROVIDER.into()),
        event_id: Set(event_id.to_owned()),
        received_at: Set(Utc::now()),
    })
    .await?;
    Ok(true)
}

/// Applies an event in its org's transaction: a succeeded PaymentIntent is a payment (once per
/// intent), a failed one `finance.payment.failed`, a refunded charge the refund of what Stripe
/// refunded beyond what the cell recorded. `false`: seen before, or nothing of the cell's.
pub(crate) async fn apply(ctx: &CellContext, tx: &TenantTx, e: &Event) -> Result<bool, ApiError> {
    if !first_time(tx, &e.id).await? {
        return Ok(false);
    }
    let o = &e.data.object;
    let intent_id = match e.kind.as_str() {
        "charge.refunded" => o["payment_intent"].as_str(),
        _ => o["id"].as_str(),
    }
    .unwrap_or_default()
    .to_owned();
    let existing = {
        let repo = tx.repo::<payment::Entity>();
        repo.find()
            .filter(payment::Column::Provider.eq(PROVIDER))
            .filter(payment::Column::ProviderPaymentId.eq(intent_id.clone()))
            .one(repo.conn())
            .await?
    };
    match e.kind.as_str() {
        "payment_intent.succeeded" => {
            let (Some((_, invoice_id)), None) = (target(o), existing) else {
                return Ok(false);
            };
            let amount = o["amount_received"].as_i64().unwrap_or(0);
            let currency = o["currency"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let Some(inv) = tx.repo::<invoice::Entity>().get(invoice_id).await? else {
                return Ok(false);
            };
            if amount <= 0 || currency != inv.currency {
                tracing::warn!(event = %e.id, "a Stripe payment that does not match its invoice's currency was left out");
                return Ok(false);
            }
            crate::service::receive(
                ctx,
                tx,
                None,
                crate::service::NewPayment {
                    invoice_id,
                    amount,
                    method: "credit_card".into(),
                    reference: None,
                    provider: PROVIDER,
                    provider_payment_id: Some(intent_id),
                },
            )
            .await?;
            Ok(true)
        }
        "payment_intent.payment_failed" => {
            let Some((_, invoice_id)) = target(o) else {
                return Ok(false);
            };
            ctx.events()
                .emit(
                    tx,
                    None,
                    &PaymentFailed {
                        invoice_id,
                        payment_intent: intent_id,
                        message: o["last_payment_error"]["message"]
                            .as_str()
                            .map(str::to_owned),
                    },
                )
                .await?;
            Ok(true)
        }
        "charge.refunded" => {
            let Some(p) = existing else {
                return Ok(false);
            };
            let delta = o["amount_refunded"].as_i64().unwrap_or(0) - p.refunded;
            if delta <= 0 {
                return Ok(false);
            }
            crate::service::refund(ctx, tx, None, p.id, Some(delta.min(p.amount - p.refunded)))
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The org a charge's PaymentIntent was paid in (a refund's event names no org).
pub(crate) async fn org_of_intent(
    ctx: &CellContext,
    intent: &str,
) -> Result<Option<Uuid>, ApiError> {
    use kernel::sea_orm::ExprTrait;
    let rows = kernel::db::across_orgs::<payment::Entity>(
        ctx.db(),
        payment::Column::Provider
            .eq(PROVIDER)
            .and(payment::Column::ProviderPaymentId.eq(intent)),
        payment::Column::Id,
        1,
    )
    .await?;
    Ok(rows.first().map(|(org, _)| *org))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!());
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1=deadbeef,v1={hex},v0=ignored")
    }

    #[test]
    fn signatures_are_checked_with_their_time() {
        let body = br#"{"id":"evt_1"}"#;
        let h = header("whsec_test", 1_000, body);
        assert!(
            verify("whsec_test", &h, body, 1_100, 300),
            "any v1 may match"
        );
        assert!(
            !verify("whsec_other", &h, body, 1_100, 300),
            "another secret"
        );
        assert!(
            !verify("whsec_test", &h, br#"{"id":"evt_2"}"#, 1_100, 300),
            "another body"
        );
        assert!(!verify("whsec_test", &h, body, 1_301, 300), "too old");
        assert!(!verify("whsec_test", &h, body, 699, 300), "from the future");
        assert!(!verify("whsec_test", "v1=abc", body, 1_000, 300), "no time");
        assert!(!verify("whsec_test", "", body, 1_000, 300));
    }
}
