//! The delivery log: what was sent to a subscription, each attempt's answer, manual retry.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiResult, CellContext};
use serde::Serialize;
use uuid::Uuid;

use super::TAG;
use crate::entity::{attempt, delivery};
use crate::permissions::{ReadWebhooks, WriteWebhooks};
use crate::service;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(read).service(retry).service(list);
}

/// One event (or test message) for one subscription.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    /// The event (its id is the `webhook-id` header); `null` for a test message.
    pub event_id: Option<Uuid>,
    pub event: String,
    /// `pending` (queued or waiting for its next attempt), `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<delivery::Model> for Delivery {
    fn from(m: delivery::Model) -> Self {
        Self {
            id: m.id,
            subscription_id: m.subscription_id,
            event_id: m.event_id,
            event: m.event,
            status: m.status,
            attempts: m.attempts,
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            next_attempt_at: m.next_attempt_at,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
        }
    }
}

/// One request of a delivery and its answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub url: String,
    /// The request's headers, signatures included.
    #[schema(value_type = Object)]
    pub request_headers: serde_json::Value,
    pub status_code: Option<i32>,
    /// The start of the response body.
    pub response_body: Option<String>,
    /// The transport's error (refused address, timeout…), when there was no usable answer.
    pub error: Option<String>,
    pub latency_ms: i64,
    pub at: DateTime<Utc>,
}

impl From<attempt::Model> for DeliveryAttempt {
    fn from(m: attempt::Model) -> Self {
        Self {
            attempt: m.attempt,
            url: m.url,
            request_headers: m.request_headers,
            status_code: m.status_code,
            response_body: m.response_body,
            error: m.error,
            latency_ms: m.latency_ms,
            at: m.at,
        }
    }
}

/// A delivery with its body and every attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The JSON body every attempt sent.
    pub body: String,
    pub attempts_log: Vec<DeliveryAttempt>,
}

fn delivery_list() -> ListSpec<delivery::Entity> {
    use delivery::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("event", C::Event)
        .sortable("created_at", C::CreatedAt)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}
kernel::list_params!(DeliveryListParams, delivery_list);

/// A subscription's deliveries, newest first (`filter[status]=failed`, `filter[event]=`).
#[utoipa::path(tag = TAG, params(DeliveryListParams), responses(
    (status = 200, body = Page<Delivery>), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/webhooks/{id}/deliveries")]
pub(crate) async fn list(
    tx: ReadWebhooks,
    id: web::Path<Uuid>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let sub = service::get(&tx, id.into_inner()).await?;
    let select = tx
        .repo::<delivery::Entity>()
        .find()
        .filter(delivery::Column::SubscriptionId.eq(sub.id));
    let page = tx
        .page(delivery_list().apply(&query, select)?, &query)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Delivery::from)))
}

/// One delivery with its body and attempts.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = DeliveryDetail), (status = 401), (status = 403), (status = 404)))]
#[get("/webhooks/deliveries/{id}")]
pub(crate) async fn read(tx: ReadWebhooks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let d = service::delivery(&tx, id.into_inner()).await?;
    let attempts = service::attempts(&tx, d.id).await?;
    tx.commit().await?;
    let body = d.body.clone();
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        delivery: d.into(),
        body,
        attempts_log: attempts.into_iter().map(DeliveryAttempt::from).collect(),
    }))
}

/// Queues a delivered or failed delivery again now, with a fresh set of attempts.
#[utoipa::path(tag = TAG, responses(
    (status = 202, body = Delivery), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/webhooks/deliveries/{id}/retry")]
pub(crate) async fn retry(
    tx: WriteWebhooks,
    ctx: CellContext,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let d = service::retry(&ctx, &tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(Delivery::from(d)))
}
