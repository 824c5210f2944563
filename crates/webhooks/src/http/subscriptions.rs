//! `/webhooks`: the endpoints an organization registers, their secrets and field filters, a test
//! message, replay.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::deliveries::{Delivery, DeliveryAttempt};
use crate::deliver::Runtime;
use crate::entity::subscription;
use crate::permissions::{ReadWebhooks, WriteWebhooks};
use crate::service;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(create)
        .service(list)
        .service(read)
        .service(update)
        .service(remove)
        .service(test)
        .service(rotate)
        .service(replay);
}

/// A webhook subscription (its secret is shown once, when created or rotated).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event names and patterns (`deal.*`, `*`) it takes.
    pub events: Vec<String>,
    /// Field filters: an event named here is delivered only when its payload lists one of these
    /// fields as changed (`{"tasks.task.updated": ["priority", "due_date"]}`).
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub fields: service::FieldFilters,
    /// `false` once disabled (by an admin, or after `disable_after` failures in a row).
    pub active: bool,
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until then the previous secret signs too (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<subscription::Model> for Subscription {
    fn from(m: subscription::Model) -> Self {
        let events = service::patterns(&m);
        let fields = service::filters(&m);
        Self {
            id: m.id,
            url: m.url,
            description: m.description,
            events,
            fields,
            active: m.active,
            consecutive_failures: m.consecutive_failures,
            disabled_at: m.disabled_at,
            previous_secret_expires_at: m.previous_until.filter(|u| *u > Utc::now()),
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A subscription with its signing secret: the only time the secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks library does).
    pub secret: String,
}

/// `POST /webhooks`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where deliveries are POSTed: an absolute http(s) URL reaching a public address.
    #[schema(
        min_length = 1,
        max_length = 1000,
        example = "https://example.com/hooks/cell"
    )]
    #[garde(length(chars, min = 1, max = 1000))]
    pub url: String,
    /// Event names or patterns (`deal.*`, `*`): 1 to 50.
    #[schema(min_items = 1, max_items = 50, example = json!(["template.item.created", "file.*"]))]
    #[garde(length(min = 1, max = 50), inner(length(chars, min = 1, max = 100)))]
    pub events: Vec<String>,
    /// Field filters, for events whose payload lists the fields that changed (the `*.updated`
    /// events): such an event is delivered only when one of the fields named for it changed.
    /// Up to 20 events, 1 to 50 snake-case field names each.
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>, example = json!({"tasks.task.updated": ["priority", "due_date"]}))]
    #[garde(skip)]
    pub fields: Option<service::FieldFilters>,
    #[schema(max_length = 500)]
    #[garde(inner(length(chars, max = 500)))]
    pub description: Option<String>,
}

fn description(raw: Option<&str>) -> Result<String, ApiError> {
    match raw {
        None => Ok(String::new()),
        Some(d) if d.trim().is_empty() => Ok(String::new()),
        Some(d) => trimmed("description", d, 500),
    }
}

/// Registers an endpoint; answers its secret, once (admins and owners).
#[utoipa::path(tag = TAG, request_body = NewSubscription, responses(
    (status = 201, body = SubscriptionWithSecret), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/webhooks")]
pub(crate) async fn create(
    tx: WriteWebhooks,
    ctx: CellContext,
    rt: State<Runtime>,
    body: ValidJson<NewSubscription>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let url = service::valid_url(&rt.settings, &body.url).await?;
    let events = service::valid_events(&ctx, &body.events)?;
    let fields = service::valid_fields(&ctx, &events, &body.fields.unwrap_or_default())?;
    let description = description(body.description.as_deref())?;
    let secret =
        crate::signing::new_secret().map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let row = service::create(
        &tx,
        &rt.settings,
        tx.caller().user_id,
        service::New {
            url,
            description,
            events,
            fields,
        },
        rt.seal(&secret)?,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(SubscriptionWithSecret {
        subscription: row.into(),
        secret,
    }))
}

fn subscription_list() -> ListSpec<subscription::Entity> {
    use subscription::Column as C;
    ListSpec::new()
        .field("active", C::Active)
        .field("url", C::Url)
        .sortable("created_at", C::CreatedAt)
        .search([C::Url, C::Description])
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}
kernel::list_params!(SubscriptionListParams, subscription_list);

/// The org's subscriptions, newest first (`filter[active]=false` for the disabled ones).
#[utoipa::path(tag = TAG, params(SubscriptionListParams), responses(
    (status = 200, body = Page<Subscription>), (status = 401), (status = 403), (status = 422)))]
#[get("/webhooks")]
pub(crate) async fn list(tx: ReadWebhooks, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = tx.repo::<subscription::Entity>().find();
    let page = tx
        .page(subscription_list().apply(&query, select)?, &query)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Subscription::from)))
}

/// One subscription.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Subscription), (status = 401), (status = 403), (status = 404)))]
#[get("/webhooks/{id}")]
pub(crate) async fn read(tx: ReadWebhooks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Subscription::from(row)))
}

/// `PATCH /webhooks/{id}`: absent fields stay.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    #[schema(min_length = 1, max_length = 1000)]
    #[garde(inner(length(chars, min = 1, max = 1000)))]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 50)]
    #[garde(inner(length(min = 1, max = 50), inner(length(chars, min = 1, max = 100))))]
    pub events: Option<Vec<String>>,
    /// Replaces the field filters; `null` or `{}` clears them.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<BTreeMap<String, Vec<String>>>)]
    #[garde(skip)]
    pub fields: Option<Option<service::FieldFilters>>,
    #[schema(max_length = 500)]
    #[garde(inner(length(chars, max = 500)))]
    pub description: Option<String>,
    /// `true` turns a disabled subscription back on (its failures forgiven); `false` pauses it.
    #[garde(skip)]
    pub active: Option<bool>,
}

/// Changes a subscription's URL, events, description, or turns it on or off.
#[utoipa::path(tag = TAG, request_body = SubscriptionPatch, responses(
    (status = 200, body = Subscription), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/webhooks/{id}")]
pub(crate) async fn update(
    tx: WriteWebhooks,
    ctx: CellContext,
    rt: State<Runtime>,
    id: web::Path<Uuid>,
    body: ValidJson<SubscriptionPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let change = service::Change {
        url: match &body.url {
            Some(u) => Some(service::valid_url(&rt.settings, u).await?),
            None => None,
        },
        events: body
            .events
            .as_deref()
            .map(|e| service::valid_events(&ctx, e))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(|d| description(Some(d)))
            .transpose()?,
        fields: body.fields.clone().map(Option::unwrap_or_default),
        active: body.active,
    };
    let row = service::update(&ctx, &tx, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Subscription::from(row)))
}

/// Deletes a subscription with its delivery log; nothing more is sent to it.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/webhooks/{id}")]
pub(crate) async fn remove(tx: WriteWebhooks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What a test message did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub delivery: Delivery,
    pub attempt: DeliveryAttempt,
}

/// Sends a signed `webhook.test` message now and answers what the endpoint did (logged like
/// every delivery; not retried, and never counted toward disabling).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = TestResult), (status = 401), (status = 403), (status = 404)))]
#[post("/webhooks/{id}/test")]
pub(crate) async fn test(
    tx: WriteWebhooks,
    ctx: CellContext,
    rt: State<Runtime>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let org = tx.org_id();
    let sub = service::get(&tx, id.into_inner()).await?;
    let delivery_id = Uuid::now_v7();
    let d = service::new_delivery(
        &tx,
        sub.id,
        None,
        service::TEST_EVENT,
        service::test_body(&sub, delivery_id),
    )
    .await?;
    tx.commit().await?;
    // Sent outside any transaction: the receiver may take up to the timeout.
    let attempt = rt.send(&sub, &d).await;
    let tx = ctx.db().tenant(org).await?;
    let d = service::record(&ctx, &tx, &rt.settings, &sub, &d, &attempt, None, false).await?;
    let logged = service::attempts(&tx, d.id).await?;
    tx.commit().await?;
    let attempt = logged
        .into_iter()
        .last()
        .map(DeliveryAttempt::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the test attempt was not logged")))?;
    Ok(HttpResponse::Ok().json(TestResult {
        delivery: d.into(),
        attempt,
    }))
}

/// A new secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`), shown this once.
    pub secret: String,
    /// Until then deliveries carry a signature by the previous secret too.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// Rotates the signing secret: the new one signs from now on, the old one beside it for
/// `rotation_overlap_hours`, so receivers can switch without missing a delivery.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = RotatedSecret), (status = 401), (status = 403), (status = 404)))]
#[post("/webhooks/{id}/rotate-secret")]
pub(crate) async fn rotate(
    tx: WriteWebhooks,
    rt: State<Runtime>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let secret =
        crate::signing::new_secret().map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let until = Utc::now() + Duration::hours(i64::from(rt.settings.rotation_overlap_hours));
    service::rotate(&tx, id.into_inner(), rt.seal(&secret)?, until).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret,
        previous_secret_expires_at: until,
    }))
}

/// `POST /webhooks/{id}/replay`: a range of the org's events.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// From this instant (included).
    #[garde(skip)]
    pub from: DateTime<Utc>,
    /// To this instant (excluded).
    #[garde(skip)]
    pub to: DateTime<Utc>,
}

/// How many deliveries a replay queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub queued: u64,
}

/// Sends again every event of the range the subscription takes, including those it missed
/// while disabled (at most 10 000 events per replay).
#[utoipa::path(tag = TAG, request_body = Replay, responses(
    (status = 202, body = Replayed), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/webhooks/{id}/replay")]
pub(crate) async fn replay(
    tx: WriteWebhooks,
    ctx: CellContext,
    id: web::Path<Uuid>,
    body: ValidJson<Replay>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let queued = service::replay(&ctx, &tx, id.into_inner(), body.from, body.to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(Replayed { queued }))
}
