//! Live pushes to connected clients: what a module wants a user's open sockets to see now (a new
//! notification, an entity's event). A push travels to every instance of the cell on the signal
//! bus ([`crate::signals`]: PostgreSQL `NOTIFY`, delivered to every instance, the sender's own
//! included; on SQLite, this process only), where the realtime module, if the cell has one, hands
//! it to the sockets it concerns. A cell without it sends nothing.
//!
//! A push is a hint, as a signal is: the database holds the truth, and a client that was away
//! asks what it missed (the events since an event id; the notifications module's
//! [`Backlog`]).

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::CellContext;
use crate::module::DomainEvent;
use crate::signals::Signal;

/// The signal channel pushes travel on.
pub const CHANNEL: &str = "cell_realtime";

/// `pg_notify` refuses payloads of 8 000 bytes or more: a push whose `data` would not fit is sent
/// without it (`truncated`), and the client reads the record.
const MAX_PAYLOAD: usize = 7_500;

/// Whom a push is for, within its org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Audience {
    /// One user's sockets (their room, `user:{id}`): their notifications.
    User { user_id: Uuid },
    /// The sockets subscribed to the entity (or to its type) whose callers may view it.
    Entity {
        entity_type: String,
        entity_id: Uuid,
    },
}

/// One message for the sockets of an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub org_id: Uuid,
    #[serde(flatten)]
    pub audience: Audience,
    /// What the client sees as the message `type`: `notification`, `event`.
    pub kind: String,
    /// The domain event behind it: what a reconnecting client resumes from.
    pub event_id: Uuid,
    /// The event's name (`task.assigned`).
    pub name: String,
    /// The body (a notification as `GET /notifications` lists it, an event's payload); `null`
    /// when it was too large to travel (`truncated`).
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Push {
    /// An entity's event, for the sockets subscribed to that entity.
    pub fn event(event: &DomainEvent) -> Self {
        Self {
            org_id: event.org_id,
            audience: Audience::Entity {
                entity_type: event.entity.kind.clone(),
                entity_id: event.entity.id,
            },
            kind: "event".into(),
            event_id: event.id,
            name: event.name.clone(),
            data: event.payload.clone(),
            truncated: false,
        }
    }

    /// A notification for one user.
    pub fn notification(
        org_id: Uuid,
        user_id: Uuid,
        event_id: Uuid,
        name: &str,
        data: serde_json::Value,
    ) -> Self {
        Self {
            org_id,
            audience: Audience::User { user_id },
            kind: "notification".into(),
            event_id,
            name: name.to_owned(),
            data,
            truncated: false,
        }
    }

    /// The JSON that travels: without `data` when it would not fit.
    fn encode(&self) -> Result<String, serde_json::Error> {
        let json = serde_json::to_string(self)?;
        if json.len() < MAX_PAYLOAD {
            return Ok(json);
        }
        let mut short = self.clone();
        short.data = serde_json::Value::Null;
        short.truncated = true;
        serde_json::to_string(&short)
    }
}

/// Whether this cell has a receiver of pushes (its realtime module): without one, publishing is
/// free.
pub fn enabled(ctx: &CellContext) -> bool {
    ctx.signals().handles(CHANNEL)
}

/// Sends `pushes` to every instance's sockets now (not in a transaction: call it after the
/// commit that made them true). Failures are logged, never raised: a client that missed a push
/// catches up when it resumes.
pub async fn publish(ctx: &CellContext, pushes: &[Push]) {
    if pushes.is_empty() || !enabled(ctx) {
        return;
    }
    for push in pushes {
        let json = match push.encode() {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(error = %e, "realtime push not encodable; dropped");
                continue;
            }
        };
        let db = ctx.db().system();
        match db.backend() {
            DbBackend::Postgres => {
                let sent = db
                    .conn()
                    .execute_raw(sea_orm::Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT pg_notify($1, $2)",
                        [CHANNEL.into(), json.into()],
                    ))
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "realtime push not sent");
                }
            }
            _ => ctx.signals().raise(CHANNEL, &json),
        }
    }
    metrics::counter!("realtime_pushes_published_total").increment(pushes.len() as u64);
}

/// What the receiver is told.
#[derive(Debug, Clone)]
pub enum Received {
    Push(Arc<Push>),
    /// Pushes may have been lost (the listener reconnected or went down): clients should
    /// resume.
    Gap,
}

/// Calls `receiver` with each push that reaches this instance (register in `on_ready`; one
/// receiver per cell, the realtime module). It runs on the signal listener's task: hand the
/// push on, never wait.
pub fn receive(ctx: &CellContext, receiver: impl Fn(Received) + Send + Sync + 'static) {
    ctx.signals().on(CHANNEL, move |signal| match signal {
        Signal::Notified(json) => match serde_json::from_str::<Push>(json) {
            Ok(push) => receiver(Received::Push(Arc::new(push))),
            Err(e) => tracing::warn!(error = %e, "realtime push not readable; dropped"),
        },
        Signal::Reset { .. } => receiver(Received::Gap),
    });
}

/// What a user missed while away, for a module that pushes to users (notifications): provided
/// with [`CellContext::provide`] as a [`Backlogs`] entry, read by the realtime module when a
/// client resumes.
#[async_trait::async_trait(?Send)]
pub trait Backlog: Send + Sync {
    /// The pushes for `user_id` in `tx`'s org whose event came after `after` (event ids are
    /// time-ordered), oldest first, at most `limit`.
    async fn since(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        user_id: Uuid,
        after: Uuid,
        limit: u64,
    ) -> Result<Vec<Push>, crate::ApiError>;
}

/// The backlogs of the modules that push to users.
#[derive(Default)]
pub struct Backlogs(std::sync::RwLock<Vec<Arc<dyn Backlog>>>);

impl Backlogs {
    /// Adds a module's backlog to the cell's (creating the registry on first use).
    pub fn register(ctx: &CellContext, backlog: Arc<dyn Backlog>) {
        ctx.provide(Self::default());
        if let Some(all) = ctx.service::<Self>()
            && let Ok(mut list) = all.0.write()
        {
            list.push(backlog);
        }
    }

    /// Every registered backlog.
    pub fn of(ctx: &CellContext) -> Vec<Arc<dyn Backlog>> {
        ctx.service::<Self>()
            .and_then(|all| all.0.read().ok().map(|l| l.clone()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_too_large_to_travel_goes_without_its_data() {
        let mut push = Push::notification(
            Uuid::nil(),
            Uuid::nil(),
            Uuid::nil(),
            "task.assigned",
            serde_json::json!({ "title": "x".repeat(10_000) }),
        );
        let json = push.encode().unwrap();
        assert!(json.len() < MAX_PAYLOAD, "{}", json.len());
        let back: Push = serde_json::from_str(&json).unwrap();
        assert!(back.truncated);
        assert_eq!(back.data, serde_json::Value::Null);
        push.data = serde_json::json!({ "title": "short" });
        let back: Push = serde_json::from_str(&push.encode().unwrap()).unwrap();
        assert_eq!(back, push);
        assert_eq!(
            back.audience,
            Audience::User {
                user_id: Uuid::nil()
            }
        );
    }
}
