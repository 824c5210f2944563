//! The rules of notifications: whom an event reaches, on which channels, and a user's inbox and
//! preferences.

use std::collections::BTreeMap;

use chrono::Utc;
use kernel::module::{DomainEvent, NotifyOn, Recipient};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{digest, notification, preference};

pub(crate) const IN_APP: &str = "in_app";
pub(crate) const EMAIL: &str = "email";
pub(crate) const CHANNELS: [&str; 2] = [IN_APP, EMAIL];
pub(crate) const UNREAD: &str = "unread";
pub(crate) const READ: &str = "read";
/// An email row: queued through the mail at once.
pub(crate) const QUEUED: &str = "queued";
/// An email row: held for the user's digest.
pub(crate) const HELD: &str = "digest";
/// An email row: sent in a digest.
pub(crate) const SENT: &str = "sent";
pub(crate) const FREQUENCIES: [&str; 4] = ["instant", "hourly", "daily", "weekly"];
/// Preferences one user may keep.
pub(crate) const MAX_PREFERENCES: usize = 100;

/// What a user gets for the events a pattern names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    /// `in_app`, `email`.
    pub channels: Vec<String>,
    pub muted: bool,
}

impl Default for Choice {
    fn default() -> Self {
        Self {
            channels: CHANNELS.iter().map(|c| (*c).to_owned()).collect(),
            muted: false,
        }
    }
}

/// How closely `pattern` names `event`: an exact name beats `a.b.*`, which beats `a.*`, which
/// beats `*`; `None` when it does not name it.
fn specificity(pattern: &str, event: &str) -> Option<usize> {
    if pattern == event {
        return Some(usize::MAX);
    }
    kernel::events::matches(pattern, event).then_some(pattern.len())
}

/// The choice for `event` among `rows` (one user's, or the org's defaults): the most specific
/// pattern that names it.
fn most_specific<'a>(
    rows: impl Iterator<Item = &'a preference::Model>,
    event: &str,
) -> Option<Choice> {
    rows.filter_map(|p| Some((specificity(&p.event_type, event)?, p)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, p)| Choice {
            channels: serde_json::from_value(p.channels.clone()).unwrap_or_default(),
            muted: p.muted,
        })
}

/// A user's choice for `event`: their own most specific preference, else the org's, else every
/// channel.
pub(crate) fn choice(prefs: &[preference::Model], user: Uuid, event: &str) -> Choice {
    most_specific(prefs.iter().filter(|p| p.user_id == Some(user)), event)
        .or_else(|| most_specific(prefs.iter().filter(|p| p.user_id.is_none()), event))
        .unwrap_or_default()
}

/// Everyone the modules' rules say `event` concerns, once each (the first reason kept), the
/// user who acted left out.
pub(crate) async fn recipients(
    ctx: &CellContext,
    tx: &TenantTx,
    rules: &[NotifyOn],
    event: &DomainEvent,
) -> Result<Vec<Recipient>, ApiError> {
    let actor = event
        .actor
        .as_ref()
        .filter(|a| a.kind == "user")
        .map(|a| a.id);
    let mut out: Vec<Recipient> = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| kernel::events::matches(r.pattern, &event.name))
    {
        for r in rule.recipients.recipients(ctx, tx, event).await? {
            if Some(r.user_id) != actor && !out.iter().any(|o| o.user_id == r.user_id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The rows to write for `event`: one per recipient and chosen channel, muted users and rows
/// already written (a redelivery) left out.
pub(crate) async fn fan_out(
    ctx: &CellContext,
    tx: &TenantTx,
    event: &DomainEvent,
    recipients: Vec<Recipient>,
) -> Result<Vec<notification::Model>, ApiError> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let users: Vec<Uuid> = recipients.iter().map(|r| r.user_id).collect();
    let prefs = tx
        .repo::<preference::Entity>()
        .find()
        .filter(
            preference::Column::UserId
                .is_in(users.clone())
                .or(preference::Column::UserId.is_null()),
        )
        .all(tx.repo::<preference::Entity>().conn())
        .await?;
    let digests: BTreeMap<Uuid, String> = tx
        .repo::<digest::Entity>()
        .find()
        .filter(digest::Column::UserId.is_in(users))
        .all(tx.repo::<digest::Entity>().conn())
        .await?
        .into_iter()
        .map(|d| (d.user_id, d.frequency))
        .collect();
    let written: Vec<(Uuid, String)> = tx
        .repo::<notification::Entity>()
        .find()
        .filter(notification::Column::EventId.eq(event.id))
        .all(tx.repo::<notification::Entity>().conn())
        .await?
        .into_iter()
        .map(|n| (n.user_id, n.channel))
        .collect();
    let title = ctx
        .events()
        .summary(&event.name)
        .unwrap_or(event.name.as_str())
        .to_owned();
    let mut rows = Vec::new();
    for r in recipients {
        let choice = choice(&prefs, r.user_id, &event.name);
        if choice.muted {
            continue;
        }
        for channel in CHANNELS
            .iter()
            .filter(|c| choice.channels.iter().any(|x| x == *c))
        {
            if written.iter().any(|(u, c)| *u == r.user_id && c == channel) {
                continue;
            }
            let status = match *channel {
                IN_APP => UNREAD,
                _ => match digests.get(&r.user_id).map(String::as_str) {
                    None | Some("instant") => QUEUED,
                    Some(_) => HELD,
                },
            };
            let row = tx
                .repo::<notification::Entity>()
                .insert(notification::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(tx.org_id()),
                    user_id: Set(r.user_id),
                    channel: Set((*channel).to_owned()),
                    event_id: Set(event.id),
                    event: Set(event.name.clone()),
                    entity_type: Set(event.entity.kind.clone()),
                    entity_id: Set(event.entity.id),
                    actor_id: Set(event.actor.as_ref().map(|a| a.id)),
                    title: Set(title.clone()),
                    reason: Set(r.reason.to_owned()),
                    status: Set(status.to_owned()),
                    read_at: Set(None),
                    created_at: Set(Utc::now()),
                })
                .await?;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Marks an email row as having no address to go to.
pub(crate) async fn no_address(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    tx.repo::<notification::Entity>()
        .update_many(
            vec![(notification::Column::Status, Expr::val("no_address"))],
            notification::Column::Id.eq(id),
        )
        .await?;
    Ok(())
}

fn inbox(user: Uuid) -> kernel::sea_orm::sea_query::SimpleExpr {
    notification::Column::UserId
        .eq(user)
        .and(notification::Column::Channel.eq(IN_APP))
}

pub(crate) async fn unread_count(tx: &TenantTx, user: Uuid) -> Result<u64, ApiError> {
    use kernel::sea_orm::PaginatorTrait;
    let repo = tx.repo::<notification::Entity>();
    Ok(repo
        .find()
        .filter(inbox(user))
        .filter(notification::Column::Status.eq(UNREAD))
        .count(repo.conn())
        .await?)
}

/// Marks one of the user's notifications read (404 for anyone else's).
pub(crate) async fn read(
    tx: &TenantTx,
    user: Uuid,
    id: Uuid,
) -> Result<notification::Model, ApiError> {
    let repo = tx.repo::<notification::Entity>();
    let row = repo
        .find()
        .filter(inbox(user))
        .filter(notification::Column::Id.eq(id))
        .one(repo.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("no such notification"))?;
    if row.status == READ {
        return Ok(row);
    }
    let mut am: notification::ActiveModel = row.into();
    am.status = Set(READ.into());
    am.read_at = Set(Some(Utc::now()));
    Ok(repo.update(am).await?)
}

/// Marks every unread notification of the user read; how many were.
pub(crate) async fn read_all(tx: &TenantTx, user: Uuid) -> Result<u64, ApiError> {
    Ok(tx
        .repo::<notification::Entity>()
        .update_many(
            vec![
                (notification::Column::Status, Expr::val(READ)),
                (notification::Column::ReadAt, Expr::val(Utc::now())),
            ],
            inbox(user).and(notification::Column::Status.eq(UNREAD)),
        )
        .await?)
}

/// A user's preferences and digest frequency, and the org's defaults.
pub(crate) async fn preferences(
    tx: &TenantTx,
    user: Uuid,
) -> Result<(String, Vec<preference::Model>, Vec<preference::Model>), ApiError> {
    let repo = tx.repo::<preference::Entity>();
    let rows = repo
        .find()
        .filter(
            preference::Column::UserId
                .eq(user)
                .or(preference::Column::UserId.is_null()),
        )
        .all(repo.conn())
        .await?;
    let (mut own, mut org): (Vec<_>, Vec<_>) = rows.into_iter().partition(|p| p.user_id.is_some());
    own.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    org.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    let digests = tx.repo::<digest::Entity>();
    let frequency = digests
        .find()
        .filter(digest::Column::UserId.eq(user))
        .one(digests.conn())
        .await?
        .map_or_else(|| "instant".to_owned(), |d| d.frequency);
    Ok((frequency, own, org))
}

/// Sets the preference of `user` (`None`: the org's default) for `event_type`.
pub(crate) async fn set_preference(
    tx: &TenantTx,
    user: Option<Uuid>,
    event_type: &str,
    choice: &Choice,
) -> Result<(), ApiError> {
    use kernel::sea_orm::PaginatorTrait;
    let repo = tx.repo::<preference::Entity>();
    let owned = repo.find().filter(match user {
        Some(u) => preference::Column::UserId.eq(u),
        None => preference::Column::UserId.is_null(),
    });
    let existing = owned
        .clone()
        .filter(preference::Column::EventType.eq(event_type))
        .one(repo.conn())
        .await?;
    match existing {
        Some(row) => {
            let mut am: preference::ActiveModel = row.into();
            am.channels = Set(serde_json::json!(choice.channels));
            am.muted = Set(choice.muted);
            am.updated_at = Set(Utc::now());
            repo.update(am).await?;
        }
        None => {
            if owned.count(repo.conn()).await? >= MAX_PREFERENCES as u64 {
                return Err(ApiError::validation(
                    "preferences",
                    format!("at most {MAX_PREFERENCES} preferences per user; remove one first"),
                ));
            }
            repo.insert(preference::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                user_id: Set(user),
                event_type: Set(event_type.to_owned()),
                channels: Set(serde_json::json!(choice.channels)),
                muted: Set(choice.muted),
                updated_at: Set(Utc::now()),
            })
            .await?;
        }
    }
    Ok(())
}

/// Removes the preference of `user` for `event_type` (back to the org's default).
pub(crate) async fn clear_preference(
    tx: &TenantTx,
    user: Uuid,
    event_type: &str,
) -> Result<(), ApiError> {
    tx.repo::<preference::Entity>()
        .delete_many(
            preference::Column::UserId
                .eq(user)
                .and(preference::Column::EventType.eq(event_type)),
        )
        .await?;
    Ok(())
}

/// Sets a user's digest frequency; `zone` is the user's time zone now, which their 08:00 is
/// counted in.
pub(crate) async fn set_digest(
    tx: &TenantTx,
    user: Uuid,
    frequency: &str,
    zone: &str,
) -> Result<(), ApiError> {
    let repo = tx.repo::<digest::Entity>();
    let existing = repo
        .find()
        .filter(digest::Column::UserId.eq(user))
        .one(repo.conn())
        .await?;
    match existing {
        Some(row) => {
            let mut am: digest::ActiveModel = row.into();
            am.frequency = Set(frequency.to_owned());
            am.timezone = Set(zone.to_owned());
            am.updated_at = Set(Utc::now());
            repo.update(am).await?;
        }
        None => {
            repo.insert(digest::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                user_id: Set(user),
                frequency: Set(frequency.to_owned()),
                timezone: Set(zone.to_owned()),
                last_sent_at: Set(None),
                updated_at: Set(Utc::now()),
            })
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pref(
        user: Option<Uuid>,
        event_type: &str,
        channels: &[&str],
        muted: bool,
    ) -> preference::Model {
        preference::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            user_id: user,
            event_type: event_type.into(),
            channels: serde_json::json!(channels),
            muted,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_most_specific_preference_wins_then_the_orgs_then_every_channel() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let prefs = vec![
            pref(Some(ann), "*", &["in_app"], false),
            pref(Some(ann), "document.*", &["email"], false),
            pref(Some(ann), "document.signed", &["in_app", "email"], false),
            pref(Some(ann), "task.*", &[], true),
            pref(None, "document.*", &["in_app"], false),
        ];
        let c = |user, event| choice(&prefs, user, event);
        assert_eq!(c(ann, "document.signed").channels, ["in_app", "email"]);
        assert_eq!(c(ann, "document.sent").channels, ["email"]);
        assert_eq!(c(ann, "deal.won").channels, ["in_app"]);
        assert!(c(ann, "task.assigned").muted);
        assert_eq!(
            c(bob, "document.sent").channels,
            ["in_app"],
            "the org's default"
        );
        assert_eq!(c(bob, "deal.won"), Choice::default(), "every channel");
    }
}
