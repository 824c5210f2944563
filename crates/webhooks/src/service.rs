//! The rules of webhooks, on a tenant transaction: what a subscription may point at and take,
//! how events become deliveries, and what an attempt's outcome changes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use kernel::module::{DomainEvent, EntityRef};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::deliver::{Attempt, DELIVER};
use crate::entity::{attempt, delivery, subscription};
use crate::module::Settings;

pub(crate) const PENDING: &str = "pending";
pub(crate) const DELIVERED: &str = "delivered";
pub(crate) const FAILED: &str = "failed";
/// The event name of `POST /webhooks/{id}/test` messages.
pub(crate) const TEST_EVENT: &str = "webhook.test";
/// The most events one replay sends again.
pub(crate) const REPLAY_LIMIT: u64 = 10_000;
const MAX_URL: usize = 1000;
const MAX_PATTERNS: usize = 50;
/// The most events a subscription filters by field, and the most fields named per event.
const MAX_FILTERED: usize = 20;
const MAX_FIELDS: usize = 50;

/// Per event name, the changed fields one of which the event must name to be delivered
/// (`{"tasks.task.updated": ["priority", "due_date"]}`).
pub(crate) type FieldFilters = BTreeMap<String, Vec<String>>;

/// A subscription's URL, checked: absolute `http(s)`, no credentials, at most 1000 characters,
/// and (unless the settings allow it) resolving only to public addresses.
pub(crate) async fn valid_url(settings: &Settings, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL {
        return Err(ApiError::validation(
            "url",
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| {
        ApiError::validation("url", format!("must be an absolute http(s) URL ({e})"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(ApiError::validation(
            "url",
            "must be an absolute http(s) URL",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::validation(
            "url",
            "must not carry credentials: receivers verify the signature instead",
        ));
    }
    // Names are resolved now; the delivery client's resolver checks them again each time.
    if !settings.allow_private_targets {
        kernel::net::check_public(&url)
            .await
            .map_err(|e| ApiError::validation("url", e))?;
    }
    Ok(url.to_string())
}

/// The event names and patterns a subscription takes: 1 to 50, each an event of this cell or a
/// pattern (`deal.*`, `*`) that matches at least one; duplicates dropped.
pub(crate) fn valid_events(ctx: &CellContext, events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() || events.len() > MAX_PATTERNS {
        return Err(ApiError::validation(
            "events",
            format!("must list between 1 and {MAX_PATTERNS} event names or patterns"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let e = e.trim();
        if !kernel::events::valid_pattern(e) {
            return Err(ApiError::validation(
                &format!("events[{i}]"),
                "must be an event name (`deal.updated`) or a pattern (`deal.*`, `*`)",
            ));
        }
        if !ctx.events().declares(e) {
            return Err(ApiError::validation(
                &format!("events[{i}]"),
                format!("no event of this cell matches `{e}` (see the event catalogue)"),
            ));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_owned());
        }
    }
    Ok(out)
}

pub(crate) fn patterns(sub: &subscription::Model) -> Vec<String> {
    serde_json::from_value(sub.events.clone()).unwrap_or_default()
}

pub(crate) fn filters(sub: &subscription::Model) -> FieldFilters {
    sub.fields
        .clone()
        .and_then(|f| serde_json::from_value(f).ok())
        .unwrap_or_default()
}

/// The events of this cell whose payloads list the fields that changed (`fields`, an array:
/// the `*.updated` events), read from the event catalogue.
fn with_changed_fields(ctx: &CellContext) -> BTreeSet<String> {
    let catalogue = kernel::events::catalogue(ctx.modules());
    catalogue["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["payload"]["properties"]["fields"]["type"] == "array")
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

/// A payload field's name: snake case, at most 64 characters.
fn field_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Field filters checked against the subscription's `events`: each names one event of this cell
/// whose payload lists its changed fields, that the subscription takes, and 1 to 50 field names.
pub(crate) fn valid_fields(
    ctx: &CellContext,
    events: &[String],
    fields: &FieldFilters,
) -> Result<FieldFilters, ApiError> {
    if fields.len() > MAX_FILTERED {
        return Err(ApiError::validation(
            "fields",
            format!("at most {MAX_FILTERED} events filtered by field"),
        ));
    }
    if fields.is_empty() {
        return Ok(FieldFilters::new());
    }
    let changeable = with_changed_fields(ctx);
    let mut out = FieldFilters::new();
    for (event, names) in fields {
        let at = format!("fields.{event}");
        if !changeable.contains(event) {
            return Err(ApiError::validation(
                &at,
                "not an event of this cell whose payload lists the fields that changed (the \
                 `*.updated` events do; see the event catalogue)",
            ));
        }
        if !events.iter().any(|p| kernel::events::matches(p, event)) {
            return Err(ApiError::validation(
                &at,
                "the subscription does not take this event: add it to `events`",
            ));
        }
        if names.is_empty() || names.len() > MAX_FIELDS {
            return Err(ApiError::validation(
                &at,
                format!("name 1 to {MAX_FIELDS} fields"),
            ));
        }
        let mut kept: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            if !field_name(name) {
                return Err(ApiError::validation(
                    &at,
                    "field names are snake case (`due_date`)",
                ));
            }
            if !kept.iter().any(|k| k == name) {
                kept.push(name.to_owned());
            }
        }
        out.insert(event.clone(), kept);
    }
    Ok(out)
}

/// Whether `sub` takes `event`: one of its patterns names it and, when the subscription filters
/// that event by field, the event's payload lists one of those fields as changed.
fn takes(sub: &subscription::Model, event: &DomainEvent) -> bool {
    if !patterns(sub)
        .iter()
        .any(|p| kernel::events::matches(p, &event.name))
    {
        return false;
    }
    match filters(sub).get(&event.name) {
        None => true,
        Some(wanted) => event.payload["fields"].as_array().is_some_and(|changed| {
            changed
                .iter()
                .filter_map(|c| c.as_str())
                .any(|c| wanted.iter().any(|w| w == c))
        }),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("no such webhook subscription")
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<subscription::Model, ApiError> {
    tx.repo::<subscription::Entity>()
        .get(id)
        .await?
        .ok_or_else(not_found)
}

/// A subscription to register, its parts checked.
pub(crate) struct New {
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub fields: FieldFilters,
}

pub(crate) async fn create(
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    new: New,
    sealed_secret: String,
) -> Result<subscription::Model, ApiError> {
    let New {
        url,
        description,
        events,
        fields,
    } = new;
    let repo = tx.repo::<subscription::Entity>();
    if repo.count().await? >= settings.max_subscriptions {
        return Err(ApiError::conflict(format!(
            "this organization has {} webhook subscriptions, the most it may have; delete one first",
            settings.max_subscriptions
        )));
    }
    let now = Utc::now();
    Ok(repo
        .insert(subscription::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            url: Set(url),
            description: Set(description),
            events: Set(serde_json::json!(events)),
            fields: Set((!fields.is_empty()).then(|| serde_json::json!(fields))),
            secret: Set(sealed_secret),
            previous_secret: Set(None),
            previous_until: Set(None),
            active: Set(true),
            consecutive_failures: Set(0),
            disabled_at: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?)
}

/// A change to a subscription; `None` leaves a field as it is.
#[derive(Default)]
pub(crate) struct Change {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    /// `Some` replaces the field filters (an empty map clears them).
    pub fields: Option<FieldFilters>,
    pub active: Option<bool>,
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
    change: Change,
) -> Result<subscription::Model, ApiError> {
    let row = get(tx, id).await?;
    let mut am: subscription::ActiveModel = row.clone().into();
    if change.events.is_some() || change.fields.is_some() {
        // The filters are checked against the events the subscription will take.
        let events = change.events.clone().unwrap_or_else(|| patterns(&row));
        let fields = change.fields.clone().unwrap_or_else(|| filters(&row));
        let fields = valid_fields(ctx, &events, &fields)?;
        am.fields = Set((!fields.is_empty()).then(|| serde_json::json!(fields)));
    }
    if let Some(url) = change.url {
        am.url = Set(url);
    }
    if let Some(description) = change.description {
        am.description = Set(description);
    }
    if let Some(events) = change.events {
        am.events = Set(serde_json::json!(events));
    }
    match change.active {
        // Turned back on: the failures that disabled it are forgiven.
        Some(true) if !row.active => {
            am.active = Set(true);
            am.consecutive_failures = Set(0);
            am.disabled_at = Set(None);
        }
        Some(false) if row.active => {
            am.active = Set(false);
            am.disabled_at = Set(Some(Utc::now()));
        }
        _ => {}
    }
    am.updated_at = Set(Utc::now());
    Ok(tx.repo::<subscription::Entity>().update(am).await?)
}

pub(crate) async fn delete(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    // Its deliveries and their attempts go with it (foreign keys).
    match tx.repo::<subscription::Entity>().delete(id).await? {
        true => Ok(()),
        false => Err(not_found()),
    }
}

/// A new secret signs from now on; the current one keeps signing beside it until `until`.
pub(crate) async fn rotate(
    tx: &TenantTx,
    id: Uuid,
    sealed_new: String,
    until: DateTime<Utc>,
) -> Result<subscription::Model, ApiError> {
    let row = get(tx, id).await?;
    let mut am: subscription::ActiveModel = row.clone().into();
    am.previous_secret = Set(Some(row.secret));
    am.previous_until = Set(Some(until));
    am.secret = Set(sealed_new);
    am.updated_at = Set(Utc::now());
    Ok(tx.repo::<subscription::Entity>().update(am).await?)
}

/// The JSON body every attempt of an event's delivery sends: Standard Webhooks' `type`,
/// `timestamp` and `data` (the event's payload, as the catalogue describes it), with the event's
/// id, org, entity, actor and payload version beside them.
pub(crate) fn body(event: &DomainEvent) -> String {
    let entity = |e: &EntityRef| serde_json::json!({ "type": e.kind, "id": e.id });
    serde_json::json!({
        "type": event.name,
        "timestamp": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "id": event.id,
        "org_id": event.org_id,
        "version": event.version,
        "entity": entity(&event.entity),
        "actor": event.actor.as_ref().map(entity),
        "data": event.payload,
    })
    .to_string()
}

/// Queues a delivery of `event` to each active subscription that takes it and has none yet.
/// Returns how many were queued.
pub(crate) async fn fan_out(
    ctx: &CellContext,
    tx: &TenantTx,
    event: &DomainEvent,
) -> Result<usize, ApiError> {
    let subs: Vec<subscription::Model> = tx
        .repo::<subscription::Entity>()
        .find()
        .filter(subscription::Column::Active.eq(true))
        .all(tx.repo::<subscription::Entity>().conn())
        .await?
        .into_iter()
        .filter(|s| takes(s, event))
        .collect();
    if subs.is_empty() {
        return Ok(0);
    }
    let had: Vec<Uuid> = tx
        .repo::<delivery::Entity>()
        .find()
        .filter(delivery::Column::EventId.eq(event.id))
        .all(tx.repo::<delivery::Entity>().conn())
        .await?
        .into_iter()
        .map(|d| d.subscription_id)
        .collect();
    let body = body(event);
    let mut queued = 0;
    for sub in subs.iter().filter(|s| !had.contains(&s.id)) {
        let d = new_delivery(tx, sub.id, Some(event.id), &event.name, body.clone()).await?;
        enqueue(ctx, tx, d.id).await?;
        queued += 1;
    }
    Ok(queued)
}

pub(crate) async fn new_delivery(
    tx: &TenantTx,
    subscription_id: Uuid,
    event_id: Option<Uuid>,
    event: &str,
    body: String,
) -> Result<delivery::Model, ApiError> {
    Ok(tx
        .repo::<delivery::Entity>()
        .insert(delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            subscription_id: Set(subscription_id),
            event_id: Set(event_id),
            event: Set(event.to_owned()),
            body: Set(body),
            status: Set(PENDING.into()),
            attempts: Set(0),
            last_status_code: Set(None),
            last_error: Set(None),
            next_attempt_at: Set(Some(Utc::now())),
            created_at: Set(Utc::now()),
            delivered_at: Set(None),
        })
        .await?)
}

async fn enqueue(ctx: &CellContext, tx: &TenantTx, delivery_id: Uuid) -> Result<(), ApiError> {
    ctx.jobs()
        .enqueue_in(
            tx,
            &format!("webhooks.{DELIVER}"),
            serde_json::json!({ "delivery_id": delivery_id }),
        )
        .await?;
    Ok(())
}

pub(crate) async fn delivery_with_subscription(
    tx: &TenantTx,
    id: Uuid,
) -> Result<Option<(delivery::Model, subscription::Model)>, ApiError> {
    let Some(d) = tx.repo::<delivery::Entity>().get(id).await? else {
        return Ok(None);
    };
    let sub = tx
        .repo::<subscription::Entity>()
        .get(d.subscription_id)
        .await?;
    Ok(sub.map(|s| (d, s)))
}

pub(crate) async fn delivery(tx: &TenantTx, id: Uuid) -> Result<delivery::Model, ApiError> {
    tx.repo::<delivery::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such webhook delivery"))
}

pub(crate) async fn attempts(
    tx: &TenantTx,
    delivery_id: Uuid,
) -> Result<Vec<attempt::Model>, ApiError> {
    Ok(tx
        .repo::<attempt::Entity>()
        .find()
        .filter(attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(attempt::Column::Attempt)
        .all(tx.repo::<attempt::Entity>().conn())
        .await?)
}

/// Gives a delivery up without sending it (its subscription is disabled).
pub(crate) async fn abandon(tx: &TenantTx, id: Uuid, why: &str) -> Result<(), ApiError> {
    tx.repo::<delivery::Entity>()
        .update_many(
            vec![
                (delivery::Column::Status, Expr::val(FAILED)),
                (delivery::Column::LastError, Expr::val(why)),
                (
                    delivery::Column::NextAttemptAt,
                    Expr::val(Option::<DateTime<Utc>>::None),
                ),
            ],
            delivery::Column::Id
                .eq(id)
                .and(delivery::Column::Status.ne(DELIVERED)),
        )
        .await?;
    Ok(())
}

/// Records an attempt in the log and its outcome on the delivery (delivered, pending with the
/// next attempt's time, or failed) and, when `counts`, on the subscription: a success clears its
/// failures, a failure adds one, and the `disable_after`-th in a row disables it and publishes
/// `webhook.disabled`.
#[expect(
    clippy::too_many_arguments,
    reason = "an attempt's outcome touches the delivery, the log and the subscription"
)]
pub(crate) async fn record(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    sub: &subscription::Model,
    d: &delivery::Model,
    a: &Attempt,
    retry_in_ms: Option<u64>,
    counts: bool,
) -> Result<delivery::Model, ApiError> {
    let now = Utc::now();
    let number = d.attempts + 1;
    tx.repo::<attempt::Entity>()
        .insert(attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            delivery_id: Set(d.id),
            attempt: Set(number),
            url: Set(a.url.clone()),
            request_headers: Set(serde_json::Value::Object(a.headers.clone())),
            status_code: Set(a.status),
            response_body: Set(a.body.clone()),
            error: Set(a.error.clone()),
            latency_ms: Set(a.latency_ms),
            at: Set(now),
        })
        .await?;
    let ok = a.succeeded();
    let mut am: delivery::ActiveModel = d.clone().into();
    am.attempts = Set(number);
    am.last_status_code = Set(a.status);
    am.last_error = Set((!ok).then(|| a.failure()));
    am.status = Set(match (ok, retry_in_ms) {
        (true, _) => DELIVERED,
        (false, Some(_)) => PENDING,
        (false, None) => FAILED,
    }
    .into());
    am.next_attempt_at = Set(retry_in_ms
        .filter(|_| !ok)
        .map(|ms| now + Duration::milliseconds(ms as i64)));
    am.delivered_at = Set(ok.then_some(now));
    let updated = tx.repo::<delivery::Entity>().update(am).await?;
    if !counts {
        return Ok(updated);
    }
    // A success resets the run of failures; when there is none (the usual case) the
    // subscription's row is left alone, so concurrent deliveries to it do not queue on its lock.
    if ok && sub.consecutive_failures == 0 {
        return Ok(updated);
    }
    let subs = tx.repo::<subscription::Entity>();
    let failures = match ok {
        true => Expr::val(0),
        false => Expr::col(subscription::Column::ConsecutiveFailures).add(1),
    };
    subs.update_many(
        vec![(subscription::Column::ConsecutiveFailures, failures)],
        subscription::Column::Id.eq(sub.id),
    )
    .await?;
    if ok {
        return Ok(updated);
    }
    let Some(now_sub) = subs.get(sub.id).await? else {
        return Ok(updated);
    };
    if now_sub.active && now_sub.consecutive_failures >= settings.disable_after as i32 {
        let mut am: subscription::ActiveModel = now_sub.clone().into();
        am.active = Set(false);
        am.disabled_at = Set(Some(now));
        am.updated_at = Set(now);
        subs.update(am).await?;
        ctx.events()
            .emit(
                tx,
                None,
                &crate::events::WebhookDisabled {
                    subscription_id: sub.id,
                    url: now_sub.url.clone(),
                    consecutive_failures: now_sub.consecutive_failures,
                    last_error: a.failure(),
                },
            )
            .await?;
        tracing::warn!(subscription = %sub.id, failures = now_sub.consecutive_failures, "webhook subscription disabled");
    }
    Ok(updated)
}

/// Queues a delivery again now, with a fresh set of attempts (409 while it is still queued).
pub(crate) async fn retry(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
) -> Result<delivery::Model, ApiError> {
    let d = delivery(tx, id).await?;
    if d.status == PENDING {
        return Err(ApiError::conflict(
            "this delivery is still queued; it is retried on its schedule",
        ));
    }
    let sub = get(tx, d.subscription_id).await?;
    if !sub.active {
        return Err(ApiError::conflict(
            "the subscription is disabled; turn it on first (PATCH /webhooks/{id} {\"active\": true})",
        ));
    }
    let mut am: delivery::ActiveModel = d.into();
    am.status = Set(PENDING.into());
    am.next_attempt_at = Set(Some(Utc::now()));
    let d = tx.repo::<delivery::Entity>().update(am).await?;
    enqueue(ctx, tx, d.id).await?;
    Ok(d)
}

/// Sends again every event of `[from, to)` the subscription takes: those delivered before
/// (receivers dedupe on `webhook-id`, which stays the event's id) and those it never got (it
/// was disabled or did not exist yet). Refused past [`REPLAY_LIMIT`] events: ask for a shorter
/// range.
pub(crate) async fn replay(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, ApiError> {
    let sub = get(tx, id).await?;
    if !sub.active {
        return Err(ApiError::conflict(
            "the subscription is disabled; turn it on first (PATCH /webhooks/{id} {\"active\": true})",
        ));
    }
    if to <= from {
        return Err(ApiError::validation("to", "must be after from"));
    }
    let events = ctx.events().history(tx, from, to, REPLAY_LIMIT + 1).await?;
    if events.len() as u64 > REPLAY_LIMIT {
        return Err(ApiError::validation(
            "to",
            format!("the range holds more than {REPLAY_LIMIT} events; replay a shorter one"),
        ));
    }
    let existing: Vec<delivery::Model> = tx
        .repo::<delivery::Entity>()
        .find()
        .filter(delivery::Column::SubscriptionId.eq(sub.id))
        .filter(delivery::Column::CreatedAt.gte(from))
        .all(tx.repo::<delivery::Entity>().conn())
        .await?;
    let mut queued = 0;
    for event in events.iter().filter(|e| takes(&sub, e)) {
        match existing.iter().find(|d| d.event_id == Some(event.id)) {
            Some(d) if d.status == PENDING => continue,
            Some(d) => {
                let mut am: delivery::ActiveModel = d.clone().into();
                am.status = Set(PENDING.into());
                am.next_attempt_at = Set(Some(Utc::now()));
                tx.repo::<delivery::Entity>().update(am).await?;
                enqueue(ctx, tx, d.id).await?;
            }
            None => {
                let d = new_delivery(tx, sub.id, Some(event.id), &event.name, body(event)).await?;
                enqueue(ctx, tx, d.id).await?;
            }
        }
        queued += 1;
    }
    Ok(queued)
}

/// The sample `POST /webhooks/{id}/test` sends.
pub(crate) fn test_body(sub: &subscription::Model, delivery_id: Uuid) -> String {
    serde_json::json!({
        "type": TEST_EVENT,
        "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "id": delivery_id,
        "org_id": sub.org_id,
        "version": 1,
        "entity": { "type": "webhook_subscription", "id": sub.id },
        "actor": null,
        "data": { "message": "A test message: your endpoint received and verified it." },
    })
    .to_string()
}
