//! One client's live feed, whatever carries it (a WebSocket or an event stream): its
//! subscriptions, the pushes routed to it (an entity's only while the caller may view the
//! entity, checked at each push), and what it missed since an event id.

use std::sync::Arc;

use kernel::http::Caller;
use kernel::realtime::{Audience, Backlogs, Push};
use kernel::{ApiError, CellContext, ErrorCode};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::hub::{Conn, Delivery, Hub, Topic};
use crate::module::Settings;

/// A message for the client (a WebSocket text frame; an event stream's `data:`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// A notification for the caller (as `GET /notifications` lists it).
    Notification {
        event_id: Uuid,
        name: String,
        #[schema(value_type = Object)]
        data: serde_json::Value,
        /// `data` was too large to push: read the record.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    /// An event of an entity the caller subscribed to and may view.
    Event {
        event_id: Uuid,
        name: String,
        entity_type: String,
        entity_id: Uuid,
        #[schema(value_type = Object)]
        data: serde_json::Value,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    Subscribed {
        entity_type: String,
        entity_id: Option<Uuid>,
    },
    Unsubscribed {
        entity_type: String,
        entity_id: Option<Uuid>,
    },
    /// The end of a resume: `count` messages were sent; when `more`, resume again from
    /// `until` for the rest.
    Resumed {
        count: usize,
        more: bool,
        until: Option<Uuid>,
    },
    /// Pushes may have been lost on the way: resume from the last event id you saw.
    Gap,
    Pong,
    /// A message the server could not take; the connection stays open.
    Error {
        code: String,
        message: String,
    },
}

impl ServerMessage {
    pub fn error(e: &ApiError) -> Self {
        Self::Error {
            code: e.code().as_str().to_owned(),
            message: e.message().to_owned(),
        }
    }

    /// The event id to resume from, for messages that carry one.
    pub fn event_id(&self) -> Option<Uuid> {
        match self {
            Self::Notification { event_id, .. } | Self::Event { event_id, .. } => Some(*event_id),
            _ => None,
        }
    }

    /// The `type` (an event stream's `event:`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Notification { .. } => "notification",
            Self::Event { .. } => "event",
            Self::Subscribed { .. } => "subscribed",
            Self::Unsubscribed { .. } => "unsubscribed",
            Self::Resumed { .. } => "resumed",
            Self::Gap => "gap",
            Self::Pong => "pong",
            Self::Error { .. } => "error",
        }
    }

    fn of(push: &Push) -> Self {
        match &push.audience {
            Audience::User { .. } => Self::Notification {
                event_id: push.event_id,
                name: push.name.clone(),
                data: push.data.clone(),
                truncated: push.truncated,
            },
            Audience::Entity {
                entity_type,
                entity_id,
            } => Self::Event {
                event_id: push.event_id,
                name: push.name.clone(),
                entity_type: entity_type.clone(),
                entity_id: *entity_id,
                data: push.data.clone(),
                truncated: push.truncated,
            },
        }
    }
}

/// A message from the client (a WebSocket text frame).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Events of one entity (`entity_id`), or of every entity of the type the caller may view.
    Subscribe {
        entity_type: String,
        entity_id: Option<Uuid>,
    },
    Unsubscribe {
        entity_type: String,
        entity_id: Option<Uuid>,
    },
    /// What this connection would have been sent since the event `since`, then `resumed`.
    Resume {
        since: Uuid,
    },
    Ping,
}

/// Why a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its queue filled up: the client reads too slowly.
    TooSlow,
    /// The cell is stopping.
    Stopping,
}

pub(crate) struct Feed {
    ctx: CellContext,
    caller: Caller,
    org_id: Uuid,
    settings: Arc<Settings>,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    rx: mpsc::Receiver<Delivery>,
    /// The push being checked: kept across a cancelled [`Feed::next`], so none is lost.
    pending: Option<Arc<Push>>,
}

impl Feed {
    /// Joins the hub for `caller` (who holds the realtime access in `org_id`); 429 past the
    /// per-user limit.
    pub fn open(
        ctx: CellContext,
        caller: Caller,
        org_id: Uuid,
        settings: Arc<Settings>,
        hub: Arc<Hub>,
    ) -> Result<Self, ApiError> {
        let (conn, rx) = hub
            .join(
                org_id,
                caller.user_id,
                settings.queue,
                settings.max_connections_per_user,
            )
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::RateLimited,
                    format!("at most {} open connections per user: close one", e.0),
                )
            })?;
        Ok(Self {
            ctx,
            caller,
            org_id,
            settings,
            hub,
            conn,
            rx,
            pending: None,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Adds a subscription: the type must be one the cell declares, and a single entity one
    /// the caller may view (404 otherwise, as for an id that does not exist).
    pub async fn subscribe(
        &self,
        entity_type: &str,
        entity_id: Option<Uuid>,
    ) -> Result<ServerMessage, ApiError> {
        if self.ctx.entity_loader(entity_type).is_none() {
            return Err(ApiError::validation(
                "entity_type",
                format!("`{entity_type}` is not an entity type of this cell"),
            ));
        }
        let topic: Topic = (entity_type.to_owned(), entity_id);
        if self.conn.topics() >= self.settings.max_subscriptions {
            return Err(ApiError::validation(
                "entity_type",
                format!(
                    "at most {} subscriptions per connection",
                    self.settings.max_subscriptions
                ),
            ));
        }
        if let Some(id) = entity_id
            && !self.may_view(entity_type, id).await?
        {
            return Err(ApiError::not_found(format!("no {entity_type} {id}")));
        }
        self.hub.subscribe(self.org_id, &self.conn, topic);
        Ok(ServerMessage::Subscribed {
            entity_type: entity_type.to_owned(),
            entity_id,
        })
    }

    pub fn unsubscribe(&self, entity_type: &str, entity_id: Option<Uuid>) -> ServerMessage {
        self.hub.unsubscribe(
            self.org_id,
            &self.conn,
            &(entity_type.to_owned(), entity_id),
        );
        ServerMessage::Unsubscribed {
            entity_type: entity_type.to_owned(),
            entity_id,
        }
    }

    /// The next message pushed to this feed, or why it ended. An entity's event is skipped
    /// unless the caller may view the entity now. Cancel-safe: a push whose check was
    /// interrupted is checked again on the next call.
    pub async fn next(&mut self) -> Result<ServerMessage, Ended> {
        loop {
            let push = match self.pending.clone() {
                Some(push) => push,
                None => {
                    let delivery = tokio::select! {
                        biased;
                        () = self.conn.closed.cancelled() => {
                            return Err(if self.hub.stopping.is_cancelled() { Ended::Stopping } else { Ended::TooSlow });
                        }
                        d = self.rx.recv() => d.ok_or(Ended::Stopping)?,
                    };
                    match delivery {
                        Delivery::Gap => return Ok(ServerMessage::Gap),
                        Delivery::Push(push) => {
                            self.pending = Some(push.clone());
                            push
                        }
                    }
                }
            };
            if let Audience::Entity {
                entity_type,
                entity_id,
            } = &push.audience
            {
                let seen = self.may_view(entity_type, *entity_id).await;
                self.pending = None;
                match seen {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e.message(), "realtime view check failed; push skipped");
                        continue;
                    }
                }
            }
            self.pending = None;
            metrics::counter!("realtime_messages_sent_total").increment(1);
            return Ok(ServerMessage::of(&push));
        }
    }

    /// What this feed would have been sent after the event `since`, oldest first, then
    /// `resumed`: the caller's notifications (every module's backlog) and the events of the
    /// entities subscribed to now that the caller may view now, up to `resume_limit`.
    pub async fn resume(&self, since: Uuid) -> Result<Vec<ServerMessage>, ApiError> {
        let limit = self.settings.resume_limit;
        // `since` may be an event just pushed live, which a lagging replica has not replayed.
        kernel::replica::read_from_writer();
        let tx = self.ctx.db().tenant_read(self.org_id).await?;
        let Some(mut events) = self
            .ctx
            .events()
            .history_after(&tx, since, limit + 1)
            .await?
        else {
            tx.rollback().await?;
            return Err(ApiError::not_found(format!(
                "event {since} is not in this organization's log (mistyped, or older than it keeps): reload instead"
            )));
        };
        // Only the first `limit` events are looked at; the rest is for the next resume.
        let more_events = events.len() as u64 > limit;
        events.truncate(limit as usize);
        let horizon = more_events.then(|| events.last().map(|e| e.id)).flatten();
        let wanted: Vec<&kernel::module::DomainEvent> = events
            .iter()
            .filter(|e| self.conn.subscribed(&e.entity.kind, e.entity.id))
            .collect();
        let seen = kernel::module::visible(
            &self.ctx,
            &tx,
            &self.caller,
            wanted.iter().map(|e| (e.entity.kind.as_str(), e.entity.id)),
        )
        .await?;
        let mut pushes: Vec<Push> = wanted
            .into_iter()
            .filter(|e| seen.contains_key(&(e.entity.kind.clone(), e.entity.id)))
            .map(Push::event)
            .collect();
        for backlog in Backlogs::of(&self.ctx) {
            let missed = backlog
                .since(&self.ctx, &tx, self.caller.user_id, since, limit + 1)
                .await?;
            pushes.extend(
                missed
                    .into_iter()
                    .filter(|p| horizon.is_none_or(|h| p.event_id <= h)),
            );
        }
        tx.commit().await?;
        // Event ids are time-ordered (UUIDv7).
        pushes.sort_by_key(|p| p.event_id);
        let cut = pushes.len() as u64 > limit;
        pushes.truncate(limit as usize);
        let until = match cut {
            true => pushes.last().map(|p| p.event_id),
            false => horizon,
        };
        let mut out: Vec<ServerMessage> = pushes.iter().map(ServerMessage::of).collect();
        out.push(ServerMessage::Resumed {
            count: out.len(),
            more: until.is_some(),
            until,
        });
        Ok(out)
    }

    async fn may_view(&self, entity_type: &str, id: Uuid) -> Result<bool, ApiError> {
        let tx = self.ctx.db().tenant_read(self.org_id).await?;
        let seen = kernel::module::sees(&self.ctx, &tx, &self.caller, entity_type, id).await;
        tx.commit().await?;
        seen
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.hub.leave(self.org_id, &self.conn);
    }
}

/// The replies to one client message.
pub(crate) async fn answer(feed: &Feed, text: &str) -> Vec<ServerMessage> {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return vec![ServerMessage::Error {
                code: ErrorCode::InvalidJson.as_str().to_owned(),
                message: format!("not a message this server takes: {e}"),
            }];
        }
    };
    match message {
        ClientMessage::Subscribe {
            entity_type,
            entity_id,
        } => vec![
            feed.subscribe(&entity_type, entity_id)
                .await
                .unwrap_or_else(|e| ServerMessage::error(&e)),
        ],
        ClientMessage::Unsubscribe {
            entity_type,
            entity_id,
        } => vec![feed.unsubscribe(&entity_type, entity_id)],
        ClientMessage::Resume { since } => feed
            .resume(since)
            .await
            .unwrap_or_else(|e| vec![ServerMessage::error(&e)]),
        ClientMessage::Ping => vec![ServerMessage::Pong],
    }
}
