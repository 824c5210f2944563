//! `/contacts/{id}/interactions` (emails, calls, meetings, channel events logged against a
//! person) and `/contacts/{id}/timeline` (those merged with the person's activity feed).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::ValidJson;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::TAG;
use crate::entity::interaction;
use crate::ownership::Who;
use crate::permissions::{ReadContacts, WriteContacts};
use crate::service::{self, interactions as svc};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list).service(create).service(timeline);
}

const DEFAULT_LIMIT: u64 = 25;
const MAX_LIMIT: u64 = 100;

/// An interaction, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Interaction)]
pub struct Interaction {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub deal_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    /// `email`, `call`, `meeting`, `note`, `sms`, `linkedin`, `telegram` or `bot` (an autoreply
    /// bot's turn).
    #[serde(rename = "type")]
    pub kind: String,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// `sent`, `opened`, `clicked`, `replied` or `bounced` (a channel event); a bot's `replied` or
    /// `escalated`.
    pub event: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub duration_seconds: Option<i32>,
    pub occurred_at: DateTime<Utc>,
    pub logged_by: Uuid,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

impl From<interaction::Model> for Interaction {
    fn from(m: interaction::Model) -> Self {
        Self {
            id: m.id,
            contact_id: m.contact_id,
            deal_id: m.deal_id,
            channel_id: m.channel_id,
            kind: m.kind,
            direction: m.direction,
            event: m.event,
            subject: m.subject,
            body: m.body,
            duration_seconds: m.duration_seconds,
            occurred_at: m.occurred_at,
            logged_by: m.logged_by,
            metadata: m.metadata,
            created_at: m.created_at,
        }
    }
}

/// `POST /contacts/{id}/interactions`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewInteraction)]
pub struct NewInteraction {
    #[serde(rename = "type")]
    #[schema(pattern = "^(email|call|meeting|note|sms|linkedin|telegram|bot)$")]
    #[garde(skip)]
    pub kind: String,
    #[schema(pattern = "^(inbound|outbound)$")]
    #[garde(skip)]
    pub direction: Option<String>,
    /// For a message reported by an outreach tool: `sent`, `opened`, `clicked`, `replied`,
    /// `bounced`; for a `bot` (required): `replied` or `escalated` (handed to a human).
    #[schema(pattern = "^(sent|opened|clicked|replied|bounced|escalated)$")]
    #[garde(skip)]
    pub event: Option<String>,
    #[schema(max_length = 500)]
    #[garde(inner(length(chars, max = 500)))]
    pub subject: Option<String>,
    #[schema(max_length = 100000)]
    #[garde(inner(length(chars, max = 100000)))]
    pub body: Option<String>,
    /// Calls and meetings: up to a day.
    #[schema(minimum = 0, maximum = 86400)]
    #[garde(inner(range(min = 0, max = 86400)))]
    pub duration_seconds: Option<i32>,
    /// A deal of this person the interaction belongs to.
    #[garde(skip)]
    pub deal_id: Option<Uuid>,
    /// The person's channel it went through (of the interaction's kind).
    #[garde(skip)]
    pub channel_id: Option<Uuid>,
    /// When it happened (default: now; never in the future).
    #[garde(skip)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Anything else the caller keeps (an object of at most 50 keys).
    #[schema(value_type = Option<Object>)]
    #[garde(skip)]
    pub metadata: Option<serde_json::Map<String, Value>>,
}

/// Logs an email, call, meeting, note or channel event against a person
/// (`crm.interaction.logged`; it shows in their timeline and activity). The ownership policy
/// decides who may: 403 for another member's person.
#[utoipa::path(tag = TAG, request_body = NewInteraction, responses(
    (status = 201, body = Interaction), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[post("/contacts/{id}/interactions")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<NewInteraction>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let metadata = b.metadata.unwrap_or_default();
    if metadata.len() > 50 {
        return Err(ApiError::validation("metadata", "at most 50 keys"));
    }
    let new = svc::NewInteraction {
        kind: b.kind,
        direction: b.direction,
        event: b.event,
        subject: kernel::http::trimmed_optional("subject", b.subject, 500)?,
        body: b.body.filter(|s| !s.trim().is_empty()),
        duration_seconds: b.duration_seconds,
        deal_id: b.deal_id,
        channel_id: b.channel_id,
        occurred_at: b.occurred_at,
        metadata: Value::Object(metadata),
    };
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = svc::log(&ctx, &tx, &who, id.into_inner(), new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Interaction::from(row)))
}

/// A page of a person's interactions or timeline: `before` (the `next_before` of the previous
/// page) and `limit` (default 25, up to 100).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Entries older than this one (`<RFC 3339 time>_<id>`, as `next_before` gives it).
    #[param(pattern = r"^[0-9T:.+\-Z]{20,35}_[0-9a-fA-F-]{36}$")]
    pub before: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl Cursor {
    fn parse(&self) -> Result<(Option<svc::Mark>, u64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_query(format!(
                "`limit` is 1 to {MAX_LIMIT}"
            )));
        }
        let before = self
            .before
            .as_deref()
            .map(|b| {
                b.rsplit_once('_')
                    .and_then(|(at, id)| {
                        Some((
                            DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
                            Uuid::parse_str(id).ok()?,
                        ))
                    })
                    .ok_or_else(|| {
                        ApiError::invalid_query("`before` is a `next_before` the API gave")
                    })
            })
            .transpose()?;
        Ok((before, limit))
    }
}

/// Cuts `rows` (fetched one past `limit`) to the page; the next page's cursor when there is one.
fn cut_page<T>(rows: &mut Vec<T>, limit: u64, mark: impl Fn(&T) -> svc::Mark) -> Option<String> {
    if rows.len() as u64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|r| {
        let (at, id) = mark(r);
        format!(
            "{}_{id}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    })
}

/// A page of interactions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Interactions)]
pub struct Interactions {
    pub data: Vec<Interaction>,
    /// Pass as `before` for the next (older) page; `null` at the end.
    pub next_before: Option<String>,
}

/// A person's interactions, newest first by when they happened.
#[utoipa::path(tag = TAG, params(Cursor), responses(
    (status = 200, body = Interactions), (status = 400), (status = 401), (status = 403),
    (status = 404)))]
#[get("/contacts/{id}/interactions")]
pub(crate) async fn list(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
    q: web::Query<Cursor>,
) -> ApiResult<HttpResponse> {
    let (before, limit) = q.parse()?;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let person = service::get(&tx, &who, id.into_inner()).await?;
    let mut rows = svc::of_person(&tx, person.id, before, limit + 1).await?;
    tx.commit().await?;
    let next_before = cut_page(&mut rows, limit, |r| (r.occurred_at, r.id));
    Ok(HttpResponse::Ok().json(Interactions {
        data: rows.into_iter().map(Interaction::from).collect(),
        next_before,
    }))
}

/// One entry of a person's timeline: an interaction, or an entry of their activity feed (a
/// comment, a note, a tag, a deal, a claim…).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::TimelineEntry)]
pub struct TimelineEntry {
    /// `interaction` or `activity`.
    pub kind: String,
    /// The interaction's or the activity entry's id.
    pub id: Uuid,
    /// `interaction.<type>` (`interaction.call`), or the event (`comment.added`).
    pub name: String,
    pub actor_id: Option<Uuid>,
    /// The interaction, or the event's details (sensitive values redacted).
    pub details: Value,
    pub occurred_at: DateTime<Utc>,
}

/// A page of a timeline, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Timeline)]
pub struct Timeline {
    pub data: Vec<TimelineEntry>,
    /// Pass as `before` for the next (older) page; `null` at the end.
    pub next_before: Option<String>,
}

/// A person's timeline: their interactions and their activity (comments, notes, tags, deals,
/// claims, conversions…) in the order they happened, newest first.
#[utoipa::path(tag = TAG, params(Cursor), responses(
    (status = 200, body = Timeline), (status = 400), (status = 401), (status = 403),
    (status = 404)))]
#[get("/contacts/{id}/timeline")]
pub(crate) async fn timeline(
    ctx: CellContext,
    tx: ReadContacts,
    id: web::Path<Uuid>,
    q: web::Query<Cursor>,
) -> ApiResult<HttpResponse> {
    let (before, limit) = q.parse()?;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let person = service::get(&tx, &who, id.into_inner()).await?;
    let interactions = svc::of_person(&tx, person.id, before, limit + 1).await?;
    // Interactions are in the feed too (`crm.interaction.logged`, when they were logged): the
    // timeline shows each once, when it happened.
    let entity = kernel::module::EntityRef {
        kind: crate::loader::CONTACT.into(),
        id: person.id,
    };
    let activity =
        collab::activity_of(&tx, &entity, before, &["crm.interaction."], limit + 1).await?;
    tx.commit().await?;
    let mut merged: Vec<TimelineEntry> = interactions
        .into_iter()
        .map(|m| TimelineEntry {
            kind: "interaction".into(),
            id: m.id,
            name: format!("interaction.{}", m.kind),
            actor_id: Some(m.logged_by),
            occurred_at: m.occurred_at,
            details: serde_json::to_value(Interaction::from(m)).unwrap_or(Value::Null),
        })
        .chain(activity.into_iter().map(|a| TimelineEntry {
            kind: "activity".into(),
            id: a.id,
            name: a.name,
            actor_id: a.actor_id,
            details: a.details,
            occurred_at: a.occurred_at,
        }))
        .collect();
    merged.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
    let next_before = cut_page(&mut merged, limit, |e| (e.occurred_at, e.id));
    Ok(HttpResponse::Ok().json(Timeline {
        data: merged,
        next_before,
    }))
}
