//! Interactions: every email, call, meeting and channel event logged against a person, and the
//! person's timeline (their interactions merged with collab's activity feed, in time order).

use chrono::{DateTime, Utc};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::{one_of, publish};
use crate::entity::{channel, deal, interaction};
use crate::events::InteractionLogged;
use crate::ownership::Who;

/// A place in a person's history: `(occurred_at, id)`, what a page's cursor names.
pub(crate) type Mark = (DateTime<Utc>, Uuid);

pub(crate) const KINDS: [&str; 8] = [
    "email", "call", "meeting", "note", "sms", "linkedin", "telegram", "bot",
];
pub(crate) const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
/// What an outreach tool reports of a message on a channel.
const MESSAGE_EVENTS: [&str; 5] = ["sent", "opened", "clicked", "replied", "bounced"];
/// What an autoreply bot reports: it answered the person, or handed them to a human.
const BOT_EVENTS: [&str; 2] = ["replied", "escalated"];
pub(crate) const EVENTS: [&str; 6] = [
    "sent",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "escalated",
];
/// The channel kind each interaction kind goes through, where it has one.
fn channel_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "email" => Some("email"),
        "call" | "sms" => Some("phone"),
        "linkedin" => Some("linkedin"),
        "telegram" => Some("telegram"),
        _ => None,
    }
}

pub(crate) struct NewInteraction {
    pub kind: String,
    pub direction: Option<String>,
    pub event: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub duration_seconds: Option<i32>,
    pub deal_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
}

/// Logs an interaction with a person the caller writes; `crm.interaction.logged`.
pub(crate) async fn log(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    contact_id: Uuid,
    new: NewInteraction,
) -> Result<interaction::Model, ApiError> {
    one_of("type", &new.kind, &KINDS)?;
    if let Some(d) = &new.direction {
        one_of("direction", d, &DIRECTIONS)?;
    }
    match (new.kind.as_str(), new.event.as_deref()) {
        ("bot", Some(e)) if BOT_EVENTS.contains(&e) => {}
        ("bot", _) => {
            return Err(ApiError::validation(
                "event",
                "a bot's interaction is `replied` or `escalated`",
            ));
        }
        (kind, Some(e)) => {
            one_of("event", e, &EVENTS)?;
            if channel_kind(kind).is_none() || kind == "call" || !MESSAGE_EVENTS.contains(&e) {
                return Err(ApiError::validation(
                    "event",
                    "only a message (email, sms, linkedin, telegram) has a channel event: sent, \
                     opened, clicked, replied or bounced",
                ));
            }
        }
        (_, None) => {}
    }
    let now = Utc::now();
    // Microseconds, as PostgreSQL keeps them: a page's cursor names a row exactly.
    let occurred_at = chrono::SubsecRound::trunc_subsecs(new.occurred_at.unwrap_or(now), 6);
    if occurred_at > now + chrono::Duration::minutes(5) {
        return Err(ApiError::validation(
            "occurred_at",
            "an interaction cannot happen in the future",
        ));
    }
    let person = super::writable(tx, who, contact_id).await?;
    if let Some(deal_id) = new.deal_id {
        let deals = tx.repo::<deal::Entity>();
        let of_person = deals
            .find()
            .filter(deal::Column::Id.eq(deal_id))
            .filter(deal::Column::ContactId.eq(person.id))
            .one(deals.conn())
            .await?;
        if of_person.is_none() {
            return Err(ApiError::validation(
                "deal_id",
                "no such deal of this person",
            ));
        }
    }
    if let Some(channel_id) = new.channel_id {
        let ch = tx
            .repo::<channel::Entity>()
            .get(channel_id)
            .await?
            .filter(|c| c.contact_id == person.id)
            .ok_or_else(|| ApiError::validation("channel_id", "no such channel of this person"))?;
        // A bot answers on whichever channel the person wrote on.
        if new.kind != "bot" && channel_kind(&new.kind) != Some(ch.kind.as_str()) {
            return Err(ApiError::validation(
                "channel_id",
                format!("a {} goes through no {} channel", new.kind, ch.kind),
            ));
        }
    }
    let row = tx
        .repo::<interaction::Entity>()
        .insert(interaction::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            contact_id: Set(person.id),
            deal_id: Set(new.deal_id),
            channel_id: Set(new.channel_id),
            kind: Set(new.kind),
            direction: Set(new.direction),
            event: Set(new.event),
            subject: Set(new.subject),
            body: Set(new.body),
            duration_seconds: Set(new.duration_seconds),
            occurred_at: Set(occurred_at),
            logged_by: Set(who.user),
            metadata: Set(new.metadata),
            created_at: Set(now),
        })
        .await?;
    super::refresh_activity_and_fit(tx, person.id).await?;
    publish(
        ctx,
        tx,
        who.user,
        &InteractionLogged {
            interaction_id: row.id,
            contact_id: row.contact_id,
            deal_id: row.deal_id,
            kind: row.kind.clone(),
            direction: row.direction.clone(),
            event: row.event.clone(),
            subject: row.subject.clone(),
            occurred_at: row.occurred_at,
        },
    )
    .await?;
    Ok(row)
}

/// A person's interactions, newest first, older than `before` (`(occurred_at, id)`).
pub(crate) async fn of_person(
    tx: &TenantTx,
    contact_id: Uuid,
    before: Option<Mark>,
    limit: u64,
) -> Result<Vec<interaction::Model>, ApiError> {
    use kernel::sea_orm::Condition;
    let repo = tx.repo::<interaction::Entity>();
    let mut select = repo
        .find()
        .filter(interaction::Column::ContactId.eq(contact_id));
    if let Some((at, id)) = before {
        select = select.filter(
            Condition::any()
                .add(interaction::Column::OccurredAt.lt(at))
                .add(
                    Condition::all()
                        .add(interaction::Column::OccurredAt.eq(at))
                        .add(interaction::Column::Id.lt(id)),
                ),
        );
    }
    Ok(select
        .order_by_desc(interaction::Column::OccurredAt)
        .order_by_desc(interaction::Column::Id)
        .limit(limit)
        .all(repo.conn())
        .await?)
}
