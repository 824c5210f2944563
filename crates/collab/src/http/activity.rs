//! The activity feed: every domain event of every module, kept per entity as it happened
//! (append-only: no route changes or deletes an entry), with sensitive values redacted when it
//! is stored. Comments, tags, notes and links are events too, so they are in it in time order.
//! `GET /{collection}/{id}/activity` (one entity) and `GET /activity?actor=me` (the org's, only
//! entries about entities the caller may see), newest first, paged by cursor.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use kernel::module::{DomainEvent, EventHandler};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{self, EntityKey, EntityPath};
use crate::entity::activity;
use crate::permissions::ReadActivity;

const TAG: &str = "activity";
const DEFAULT_LIMIT: u64 = 25;
const MAX_LIMIT: u64 = 100;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(of_entity).service(of_org);
}

/// Stores each event about an entity some module declares (a loader) as an entry of its
/// activity (idempotent on the event id). Events about anything else (a user mentioned, a
/// deleted tag, an ingested signal) are no one's feed: they are not kept.
pub(crate) struct Record;

#[kernel::async_trait::async_trait]
impl EventHandler for Record {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        // A merge's entry is the merging module's own event (`crm.contact.merged`).
        if ctx.entity_loader(&event.entity.kind).is_none()
            || event.name == <crate::events::EntityMerged as kernel::events::Event>::NAME
        {
            return Ok(());
        }
        let tx = ctx.db().tenant(event.org_id).await?;
        let repo = tx.repo::<activity::Entity>();
        if repo.get(event.id).await?.is_none() {
            repo.insert(activity::ActiveModel {
                id: Set(event.id),
                org_id: Set(event.org_id),
                entity_type: Set(event.entity.kind.clone()),
                entity_id: Set(event.entity.id),
                name: Set(event.name.clone()),
                actor_type: Set(event.actor.as_ref().map(|a| a.kind.clone())),
                actor_id: Set(event.actor.as_ref().map(|a| a.id)),
                details: Set(redacted(&event.payload)),
                occurred_at: Set(event.occurred_at),
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The payload as the feed keeps it: secrets never (tokens, passwords, signatures, file
/// content), an email address as its domain, a phone number or tax id as its last 4.
pub(crate) fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_field(&k.to_lowercase(), v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

fn redact_field(key: &str, value: &Value) -> Value {
    const SECRET: [&str; 7] = [
        "token",
        "secret",
        "password",
        "signature",
        "content",
        "hash",
        "key",
    ];
    if SECRET.iter().any(|s| key.contains(s)) && !key.ends_with("_id") && key != "key_prefix" {
        return Value::String("[redacted]".into());
    }
    let Some(text) = value.as_str() else {
        return redacted(value);
    };
    if key.contains("email") {
        return Value::String(match text.rsplit_once('@') {
            Some((_, domain)) => format!("…@{domain}"),
            None => "[redacted]".into(),
        });
    }
    if key.contains("phone") || key.contains("tax") {
        let digits: Vec<char> = text.chars().filter(char::is_ascii_alphanumeric).collect();
        let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
        return Value::String(format!("…{tail}"));
    }
    value.clone()
}

/// One entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityEntry {
    /// The event's id; also the cursor (`before`).
    pub id: Uuid,
    /// The event (`comment.added`, `tag.added`, `tenancy.team.created`).
    pub name: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub actor_type: Option<String>,
    pub actor_id: Option<Uuid>,
    /// The event's payload, sensitive values redacted.
    pub details: Value,
    pub occurred_at: DateTime<Utc>,
}

impl From<activity::Model> for ActivityEntry {
    fn from(m: activity::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            details: m.details,
            occurred_at: m.occurred_at,
        }
    }
}

/// A page of entries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityFeed {
    pub data: Vec<ActivityEntry>,
    /// Pass as `before` for the next (older) page; `null` at the end.
    pub next_before: Option<Uuid>,
}

/// `before` (an entry id: entries older than it) and `limit` (default 25, up to 100).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub before: Option<Uuid>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// The rows of one page, and the cursor of the next.
async fn page(
    tx: &kernel::TenantTx,
    mut select: Select<activity::Entity>,
    cursor: &Cursor,
) -> Result<(Vec<activity::Model>, Option<Uuid>), ApiError> {
    let limit = super::limit(cursor.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    if let Some(before) = cursor.before {
        select = select.filter(activity::Column::Id.lt(before));
    }
    let repo = tx.repo::<activity::Entity>();
    let mut rows = select
        .order_by_desc(activity::Column::Id)
        .limit(limit + 1)
        .all(repo.conn())
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

/// One entity's feed, newest first by when each entry happened, the entries before `before`
/// (`(occurred_at, id)`), leaving out the events whose names start with one of `leave_out`: for
/// a module that merges the feed with records of its own (crm's timeline of a person). The
/// caller has already checked that whom it answers sees the entity.
pub async fn entries_of(
    tx: &kernel::TenantTx,
    entity: &kernel::module::EntityRef,
    before: Option<(DateTime<Utc>, Uuid)>,
    leave_out: &[&str],
    limit: u64,
) -> Result<Vec<ActivityEntry>, ApiError> {
    use kernel::sea_orm::Condition;
    let repo = tx.repo::<activity::Entity>();
    let mut select = repo
        .find()
        .filter(activity::Column::EntityType.eq(entity.kind.as_str()))
        .filter(activity::Column::EntityId.eq(entity.id));
    for prefix in leave_out {
        select = select.filter(activity::Column::Name.not_like(format!("{prefix}%")));
    }
    if let Some((at, id)) = before {
        select = select.filter(
            Condition::any()
                .add(activity::Column::OccurredAt.lt(at))
                .add(
                    Condition::all()
                        .add(activity::Column::OccurredAt.eq(at))
                        .add(activity::Column::Id.lt(id)),
                ),
        );
    }
    let rows = select
        .order_by_desc(activity::Column::OccurredAt)
        .order_by_desc(activity::Column::Id)
        .limit(limit)
        .all(repo.conn())
        .await?;
    Ok(rows.into_iter().map(ActivityEntry::from).collect())
}

/// What happened to one entity, newest first.
#[utoipa::path(tag = TAG, params(EntityPath, Cursor), responses(
    (status = 200, body = ActivityFeed), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[get("/{collection}/{id}/activity")]
pub(crate) async fn of_entity(
    ctx: CellContext,
    tx: ReadActivity,
    path: web::Path<EntityPath>,
    cursor: web::Query<Cursor>,
) -> ApiResult<HttpResponse> {
    let entity = entities::in_collection(&ctx, &tx, &path.collection, path.id).await?;
    let select = tx
        .repo::<activity::Entity>()
        .find()
        .filter(activity::Column::EntityType.eq(entity.entity.kind))
        .filter(activity::Column::EntityId.eq(entity.entity.id));
    let (rows, next_before) = page(&tx, select, &cursor).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ActivityFeed {
        data: rows.into_iter().map(ActivityEntry::from).collect(),
        next_before,
    }))
}

/// `GET /activity`: the cursor, and `actor` (`me` or a user id) to see what one person did.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrgFeed {
    /// `me`, or a user id.
    #[param(
        pattern = r"^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub actor: Option<String>,
    pub before: Option<Uuid>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// What happened in the org, newest first: only entries about entities the caller may see
/// (`?actor=me`: what the caller did).
#[utoipa::path(tag = TAG, params(OrgFeed), responses(
    (status = 200, body = ActivityFeed), (status = 400), (status = 401), (status = 403)))]
#[get("/activity")]
pub(crate) async fn of_org(
    ctx: CellContext,
    tx: ReadActivity,
    q: web::Query<OrgFeed>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let mut select = tx.repo::<activity::Entity>().find();
    match q.actor.as_deref() {
        None => {}
        Some("me") => select = select.filter(activity::Column::ActorId.eq(tx.caller().user_id)),
        Some(id) => {
            let id = Uuid::parse_str(id)
                .map_err(|_| ApiError::invalid_query("`actor` is `me` or a user id"))?;
            select = select.filter(activity::Column::ActorId.eq(id));
        }
    }
    let cursor = Cursor {
        before: q.before,
        limit: q.limit,
    };
    let (rows, next_before) = page(&tx, select, &cursor).await?;
    let keys: Vec<EntityKey> = rows
        .iter()
        .map(|r| EntityKey {
            kind: r.entity_type.clone(),
            id: r.entity_id,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let seen = entities::visible(&ctx, &tx, tx.caller(), &keys).await?;
    tx.commit().await?;
    let data = rows
        .into_iter()
        .filter(|r| seen.contains_key(&(r.entity_type.clone(), r.entity_id)))
        .map(ActivityEntry::from)
        .collect();
    Ok(HttpResponse::Ok().json(ActivityFeed { data, next_before }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sensitive_values_never_reach_the_feed() {
        let payload = json!({
            "email": "ann@acme.test", "invited_email": "bob@globex.test", "phone": "+1 555 123 4567",
            "tax_id": "DE123456789", "token": "abc", "password_hash": "$argon2…",
            "nested": [{"signature": "v1,xyz", "user_id": "u1", "name": "Ann"}], "tag_id": "t1"
        });
        assert_eq!(
            redacted(&payload),
            json!({
                "email": "…@acme.test", "invited_email": "…@globex.test", "phone": "…4567",
                "tax_id": "…6789", "token": "[redacted]", "password_hash": "[redacted]",
                "nested": [{"signature": "[redacted]", "user_id": "u1", "name": "Ann"}],
                "tag_id": "t1"
            })
        );
    }
}
