//! Domain events through a transactional outbox.
//!
//! A module publishes inside the transaction of the change it describes: the event row and one
//! delivery row per matching subscriber are written by that transaction, so a rolled-back change
//! publishes nothing. The dispatcher claims due deliveries with a lease (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so several instances share the work), calls the subscriber, and records the
//! outcome: delivered, retried later with exponential backoff, or parked as dead after
//! `events.max_attempts`. Parked deliveries are listed and replayed through the admin API and the
//! `events` CLI. Delivery is at least once: subscribers use [`first_delivery`] (or their own
//! unique keys) to be idempotent on the event id.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::EventsSection;
use crate::context::CellContext;
use crate::db::{Db, TenantTx};
use crate::module::{DomainEvent, EnabledModule, EntityRef, EventHandler};
use crate::queue::{self, now_ms, stmt};

/// The signal a commit that queued deliveries raises (a trigger on `kernel_event_deliveries`).
pub(crate) const SIGNAL: &str = "cell_events";

/// A domain event, as its module declares and publishes it: the payload type is the event.
/// Declare it in [`crate::PlatformModule::events`] with [`EventDef::of`], publish values with
/// [`Events::emit`]; subscribers read the payload back with [`DomainEvent::payload_as`].
/// Consumers (subscribers, webhooks) rely on the payload's JSON schema, which the cell's event
/// catalogue prints (`<cell> events catalogue`).
pub trait Event: Serialize + DeserializeOwned + utoipa::ToSchema + Send + Sync + 'static {
    /// `module.entity.verb` (or `entity.verb`).
    const NAME: &'static str;
    /// Raised when the payload changes in a way consumers must notice.
    const VERSION: u32 = 1;
    /// One line for the catalogue: what happened.
    const SUMMARY: &'static str;
    /// The entity the event is about.
    fn entity(&self) -> EntityRef;
}

/// Implements [`Event`] for a payload struct whose field `$id` is the id of the entity (of type
/// `$kind`) the event is about:
///
/// ```ignore
/// kernel::event!(TeamCreated, "tenancy.team.created", "A team was created.", "team", team_id);
/// ```
///
/// An event about an entity of any type (collab's `tag.added` is about the tagged entity) names
/// the payload's type and id fields instead:
///
/// ```ignore
/// kernel::event!(TagAdded, "tag.added", "A tag was applied.", entity(entity_type, entity_id));
/// ```
#[macro_export]
macro_rules! event {
    ($ty:ty, $name:literal, $summary:literal, entity($kind:ident, $id:ident)) => {
        impl $crate::events::Event for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            fn entity(&self) -> $crate::module::EntityRef {
                $crate::module::EntityRef {
                    kind: self.$kind.clone(),
                    id: self.$id,
                }
            }
        }
    };
    ($ty:ty, $name:literal, $summary:literal, $kind:literal, $id:ident) => {
        impl $crate::events::Event for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            fn entity(&self) -> $crate::module::EntityRef {
                $crate::module::EntityRef {
                    kind: $kind.into(),
                    id: self.$id,
                }
            }
        }
    };
}

/// One entry of a module's event catalogue.
#[derive(Debug, Clone, Copy)]
pub struct EventDef {
    pub name: &'static str,
    pub version: u32,
    pub summary: &'static str,
    schema: fn() -> serde_json::Value,
}

impl EventDef {
    pub fn of<E: Event>() -> Self {
        Self {
            name: E::NAME,
            version: E::VERSION,
            summary: E::SUMMARY,
            schema: schema_of::<E>,
        }
    }

    /// The payload's JSON schema (OpenAPI 3.1 dialect); schemas it refers to are under
    /// `components.schemas`.
    pub fn schema(&self) -> serde_json::Value {
        (self.schema)()
    }
}

fn schema_of<E: utoipa::ToSchema>() -> serde_json::Value {
    let mut referred = Vec::new();
    E::schemas(&mut referred);
    let mut schema = serde_json::to_value(E::schema()).unwrap_or_default();
    if !referred.is_empty()
        && let Some(object) = schema.as_object_mut()
    {
        let components: serde_json::Map<String, serde_json::Value> = referred
            .into_iter()
            .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        object.insert(
            "components".into(),
            serde_json::json!({ "schemas": components }),
        );
    }
    schema
}

/// The enabled modules' events, by name: what `<cell> events catalogue` prints.
pub fn catalogue(modules: &[EnabledModule]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = modules
        .iter()
        .flat_map(|m| {
            m.module.events().into_iter().map(move |e| {
                serde_json::json!({
                    "name": e.name,
                    "version": e.version,
                    "module": m.module.name(),
                    "summary": e.summary,
                    "payload": e.schema(),
                })
            })
        })
        .collect();
    serde_json::json!({ "events": events })
}

/// An event to publish: `module.entity.verb`, the entity it is about, who did it, what changed.
/// Modules publish typed [`Event`]s with [`Events::emit`]; this is what it sends.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: String,
    pub version: u32,
    pub actor: Option<EntityRef>,
    pub entity: EntityRef,
    pub payload: serde_json::Value,
}

/// The one id [`Events::publish_all_on`] answered for one event.
fn first(ids: Vec<Uuid>) -> Result<Uuid, EventError> {
    ids.into_iter()
        .next()
        .ok_or_else(|| EventError::Db(DbErr::Custom("no event was written".into())))
}

impl NewEvent {
    /// A typed event, acted by `actor`.
    pub fn of<E: Event>(actor: Option<EntityRef>, event: &E) -> Result<Self, EventError> {
        Ok(Self {
            name: E::NAME.to_owned(),
            version: E::VERSION,
            actor,
            entity: event.entity(),
            payload: serde_json::to_value(event)?,
        })
    }

    pub fn new(name: impl Into<String>, entity: EntityRef) -> Self {
        Self {
            name: name.into(),
            version: 1,
            actor: None,
            entity,
            payload: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn actor(mut self, actor: EntityRef) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }
}

/// `module.entity.verb` (or `entity.verb`, as in `task.assigned`): lowercase snake_case segments.
pub fn valid_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// A subscription pattern: an exact name, `module.*`, `module.entity.*` or `*`.
pub fn valid_pattern(pattern: &str) -> bool {
    pattern == "*"
        || valid_name(pattern)
        || pattern.strip_suffix(".*").is_some_and(|prefix| {
            !prefix.is_empty()
                && prefix.split('.').count() <= 2
                && prefix.split('.').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
        })
}

pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "event name `{0}` must be `module.entity.verb` (or `entity.verb`) in lowercase snake_case"
    )]
    InvalidName(String),
    #[error("event `{0}` is not declared by any enabled module (`PlatformModule::events`)")]
    Undeclared(String),
    #[error("event payload: {0}")]
    Payload(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<EventError> for crate::error::ApiError {
    #[track_caller]
    fn from(e: EventError) -> Self {
        crate::error::ApiError::internal(e)
    }
}

struct Subscriber {
    id: String,
    pattern: &'static str,
    handler: Arc<dyn EventHandler>,
}

/// The cell's event bus. Cheap to clone; reach it with `ctx.events()`.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    subscribers: Vec<Subscriber>,
    /// Declared event names (the catalogue), with their summaries.
    declared: std::collections::HashMap<&'static str, &'static str>,
    wake: Notify,
    cfg: EventsSection,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field(
                "subscribers",
                &self
                    .inner
                    .subscribers
                    .iter()
                    .map(|s| (&s.id, s.pattern))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A delivery parked after its last attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeadDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event: String,
    pub org_id: Uuid,
    pub subscriber: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

impl Events {
    /// The bus of the enabled modules. Refused: an invalid or twice-declared event name.
    pub(crate) fn new(modules: &[EnabledModule], cfg: EventsSection) -> Result<Self, String> {
        let mut declared = std::collections::HashMap::new();
        let mut summaries = std::collections::HashMap::new();
        for m in modules {
            for e in m.module.events() {
                if !valid_name(e.name) {
                    return Err(format!(
                        "module `{}` declares event `{}`: {}",
                        m.module.name(),
                        e.name,
                        EventError::InvalidName(e.name.to_owned())
                    ));
                }
                summaries.insert(e.name, e.summary);
                if let Some(other) = declared.insert(e.name, m.module.name()) {
                    return Err(format!(
                        "event `{}` is declared by both `{other}` and `{}`",
                        e.name,
                        m.module.name()
                    ));
                }
            }
        }
        let subscribers = modules
            .iter()
            .flat_map(|m| {
                m.module
                    .event_subscriptions()
                    .into_iter()
                    .map(move |s| Subscriber {
                        id: format!("{}.{}", m.module.name(), s.name),
                        pattern: s.pattern,
                        handler: s.handler,
                    })
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                subscribers,
                declared: summaries,
                wake: Notify::new(),
                cfg,
            }),
        })
    }

    /// Publishes a typed event inside a tenant transaction, acted by `actor` (if anyone): it
    /// belongs to the transaction's org and is delivered only if the transaction commits.
    pub async fn emit<E: Event>(
        &self,
        tx: &TenantTx,
        actor: Option<EntityRef>,
        event: &E,
    ) -> Result<Uuid, EventError> {
        self.publish(tx, NewEvent::of(actor, event)?).await
    }

    /// Publishes typed events together (an import's batch): one statement for the events and
    /// one for their deliveries, as [`Events::emit`] would one by one.
    pub async fn emit_all<E: Event>(
        &self,
        tx: &TenantTx,
        actor: Option<EntityRef>,
        events: &[E],
    ) -> Result<Vec<Uuid>, EventError> {
        let news = events
            .iter()
            .map(|event| NewEvent::of(actor.clone(), event))
            .collect::<Result<Vec<_>, EventError>>()?;
        self.publish_all(tx, news).await
    }

    /// Publishes inside a tenant transaction: the event belongs to the transaction's org and is
    /// delivered only if the transaction commits.
    pub async fn publish(&self, tx: &TenantTx, event: NewEvent) -> Result<Uuid, EventError> {
        first(self.publish_all(tx, vec![event]).await?)
    }

    /// [`Events::publish`] for many events.
    pub async fn publish_all(
        &self,
        tx: &TenantTx,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Uuid>, EventError> {
        // unscoped: the kernel's outbox, written in the change's transaction with tx's org
        self.publish_all_on(tx.unscoped(), tx.org_id(), events)
            .await
    }

    /// Publishes through any connection or transaction, for an explicit org. On PostgreSQL the
    /// connection must be in that org's context (a [`crate::Db::tenant`] transaction) or the
    /// kernel's system context, or row-level security refuses the event.
    pub async fn publish_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Uuid,
        event: NewEvent,
    ) -> Result<Uuid, EventError> {
        first(self.publish_all_on(conn, org_id, vec![event]).await?)
    }

    /// [`Events::publish_on`] for many events: multi-row inserts (500 events per statement).
    pub async fn publish_all_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        org_id: Uuid,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Uuid>, EventError> {
        for event in &events {
            if !valid_name(&event.name) {
                return Err(EventError::InvalidName(event.name.clone()));
            }
            if !self.inner.declared.contains_key(event.name.as_str()) {
                return Err(EventError::Undeclared(event.name.clone()));
            }
        }
        let backend = conn.get_database_backend();
        let now = now_ms();
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(500) {
            let mut rows = Vec::with_capacity(chunk.len());
            let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 10);
            let mut deliveries: Vec<(Uuid, &str)> = Vec::new();
            for event in chunk {
                let id = Uuid::now_v7();
                let n = values.len();
                rows.push(format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8,
                    n + 9,
                    n + 10
                ));
                values.extend([
                    id.into(),
                    event.name.clone().into(),
                    (event.version as i32).into(),
                    org_id.into(),
                    event.actor.as_ref().map(|a| a.kind.clone()).into(),
                    event.actor.as_ref().map(|a| a.id).into(),
                    event.entity.kind.clone().into(),
                    event.entity.id.into(),
                    event.payload.to_string().into(),
                    now.into(),
                ]);
                for sub in self
                    .inner
                    .subscribers
                    .iter()
                    .filter(|s| matches(s.pattern, &event.name))
                {
                    deliveries.push((id, sub.id.as_str()));
                }
                ids.push(id);
            }
            let events_sql = format!(
                "INSERT INTO kernel_events (id, name, version, org_id, actor_type, actor_id, entity_type, entity_id, payload, occurred_at_ms) VALUES {}",
                rows.join(", ")
            );
            let delivery_insert = |part: &[(Uuid, &str)], from: usize| {
                let mut rows = Vec::with_capacity(part.len());
                let mut values: Vec<Value> = Vec::with_capacity(part.len() * 4);
                for (event_id, subscriber) in part {
                    let n = from + values.len();
                    rows.push(format!(
                        "(${}, ${}, ${}, 'pending', 0, ${}, 0)",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4
                    ));
                    values.extend([
                        Uuid::now_v7().into(),
                        (*event_id).into(),
                        (*subscriber).to_owned().into(),
                        now.into(),
                    ]);
                }
                let sql = format!(
                    "INSERT INTO kernel_event_deliveries (id, event_id, subscriber, status, attempts, next_attempt_ms, locked_until_ms) VALUES {}",
                    rows.join(", ")
                );
                (sql, values)
            };
            // PostgreSQL: the events and their first deliveries in one statement, one round
            // trip (the deliveries' foreign key is checked at the statement's end).
            let mut parts = deliveries.chunks(1000);
            let first = match backend {
                DbBackend::Postgres => parts.next(),
                _ => None,
            };
            match first {
                Some(part) => {
                    let (sql, more) = delivery_insert(part, values.len());
                    values.extend(more);
                    let sql = format!("WITH e AS ({events_sql}) {sql}");
                    conn.execute_raw(stmt(backend, &sql, values)).await?;
                }
                None => {
                    conn.execute_raw(stmt(backend, &events_sql, values)).await?;
                }
            }
            for part in parts {
                let (sql, values) = delivery_insert(part, 0);
                conn.execute_raw(stmt(backend, &sql, values)).await?;
            }
        }
        // Wakes the dispatcher in this process, which looks again shortly if the commit has not
        // happened yet; other instances hear the commit's `cell_events` signal.
        if !ids.is_empty() {
            self.inner.wake.notify_one();
        }
        Ok(ids)
    }

    /// Claims due deliveries, runs their subscribers and records the outcomes. Returns how many
    /// deliveries it handled (0 when nothing was due).
    pub async fn dispatch_once(&self, ctx: &CellContext) -> Result<usize, DbErr> {
        let db = ctx.db().system();
        let claimed = queue::claim(
            db,
            "kernel_event_deliveries",
            "id, event_id, subscriber, attempts",
            self.policy(),
            self.inner.cfg.batch_size,
        )
        .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let id: Uuid = row.try_get("", "id")?;
            let event_id: Uuid = row.try_get("", "event_id")?;
            let subscriber: String = row.try_get("", "subscriber")?;
            let attempts: i32 = row.try_get("", "attempts")?;
            jobs.push((id, event_id, subscriber, attempts));
        }
        let events = load_events(db, jobs.iter().map(|j| j.1).collect()).await?;
        let runs = jobs
            .into_iter()
            .map(|(id, event_id, subscriber, attempts)| {
                let event = events.iter().find(|e| e.id == event_id).cloned();
                async move {
                    let outcome = match (
                        event,
                        self.inner.subscribers.iter().find(|s| s.id == subscriber),
                    ) {
                        (None, _) => Err("the event row is missing".to_owned()),
                        (Some(_), None) => Err(format!(
                            "subscriber `{subscriber}` is not enabled in this cell"
                        )),
                        (Some(event), Some(sub)) => {
                            let timeout = Duration::from_secs(self.inner.cfg.handler_timeout_secs);
                            match tokio::time::timeout(timeout, sub.handler.handle(ctx, &event))
                                .await
                            {
                                Ok(Ok(())) => Ok(()),
                                Ok(Err(e)) => Err(format!("{e:#}")),
                                Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
                            }
                        }
                    };
                    (id, subscriber, attempts, outcome)
                }
            });
        let results = futures_util::future::join_all(runs).await;
        // The batch's outcomes in one transaction.
        let finished: Vec<queue::Finished<'_>> = results
            .iter()
            .map(|(id, _, attempts, outcome)| queue::Finished {
                id: *id,
                attempts: *attempts,
                policy: self.policy(),
                outcome,
            })
            .collect();
        let parked =
            queue::finish_all(db, "kernel_event_deliveries", &finished, Vec::new()).await?;
        for ((id, subscriber, attempts, outcome), parked) in results.iter().zip(parked) {
            if let Err(error) = outcome {
                if parked {
                    tracing::error!(%subscriber, delivery = %id, attempts, %error, "event delivery parked as dead");
                    metrics::counter!("events_parked_total").increment(1);
                } else {
                    tracing::warn!(%subscriber, delivery = %id, attempts, %error, "event delivery failed; will retry");
                }
            }
        }
        Ok(results.len())
    }

    fn policy(&self) -> queue::Policy {
        queue::Policy {
            max_attempts: self.inner.cfg.max_attempts,
            backoff_base_ms: self.inner.cfg.backoff_base_ms,
            retry_schedule: None,
            lease_secs: self.inner.cfg.lease_secs,
        }
    }

    /// Runs the dispatcher until `stop` resolves: dispatches while work is due; otherwise waits
    /// until the earliest pending delivery falls due, a wake (a publish in this process, a
    /// `cell_events` signal from a commit anywhere), or `events.idle_poll_ms`.
    pub async fn run(&self, ctx: CellContext, stop: tokio_util::sync::CancellationToken) {
        let idle = Duration::from_millis(self.inner.cfg.idle_poll_ms);
        let mut rechecks = queue::NO_RECHECKS;
        tracing::info!(
            subscribers = self.inner.subscribers.len(),
            "event dispatcher started"
        );
        loop {
            let handled = match self.dispatch_once(&ctx).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "event dispatch failed; retrying");
                    0
                }
            };
            if handled > 0 {
                metrics::counter!("events_dispatched_total").increment(handled as u64);
                if stop.is_cancelled() {
                    break;
                }
                continue;
            }
            let next = queue::next_look(
                ctx.db().system(),
                "kernel_event_deliveries",
                idle,
                &mut rechecks,
            )
            .await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.inner.wake.notified() => {
                    rechecks = queue::rechecks_after_wake(ctx.signals());
                }
                () = tokio::time::sleep_until(next) => {}
            }
        }
        tracing::info!("event dispatcher stopped");
    }

    /// Wakes this instance's dispatcher.
    pub(crate) fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Parked deliveries, oldest first.
    pub async fn dead(
        &self,
        db: &Db,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<DeadDelivery>, u64), DbErr> {
        let db = db.system();
        let backend = db.backend();
        let rows = db
            .conn()
            .query_all_raw(stmt(
                backend,
                "SELECT d.id, d.event_id, e.name, e.org_id, d.subscriber, d.attempts, d.last_error \
                 FROM kernel_event_deliveries d JOIN kernel_events e ON e.id = d.event_id \
                 WHERE d.status = 'dead' ORDER BY d.id LIMIT $1 OFFSET $2",
                vec![(limit as i64).into(), (offset as i64).into()],
            ))
            .await?;
        let total = queue::count(
            db,
            "kernel_event_deliveries",
            "WHERE status = $1",
            vec!["dead".into()],
        )
        .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(DeadDelivery {
                    id: r.try_get("", "id")?,
                    event_id: r.try_get("", "event_id")?,
                    event: r.try_get("", "name")?,
                    org_id: r.try_get("", "org_id")?,
                    subscriber: r.try_get("", "subscriber")?,
                    attempts: r.try_get("", "attempts")?,
                    last_error: r.try_get("", "last_error")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        Ok((list, total))
    }

    /// Whether any event this cell declares is named by `pattern` (a name or `module.*`, `*`).
    pub fn declares(&self, pattern: &str) -> bool {
        self.inner
            .declared
            .keys()
            .any(|name| matches(pattern, name))
    }

    /// The catalogue's one line on what the event `name` means ("A file was uploaded.").
    pub fn summary(&self, name: &str) -> Option<&'static str> {
        self.inner.declared.get(name).copied()
    }

    /// The events of `org_id` that occurred in `[from, to)`, oldest first, at most `limit`:
    /// what a consumer that was away (a disabled webhook, a reconnecting socket) missed. Read
    /// in `tx`, for its org.
    pub async fn history(
        &self,
        tx: &TenantTx,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<DomainEvent>, DbErr> {
        let org_id = tx.org_id();
        // unscoped: the kernel's event log, read with tx's org as its first predicate
        let conn = tx.unscoped();
        let rows = conn
            .query_all_raw(stmt(
                conn.get_database_backend(),
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM kernel_events \
                     WHERE org_id = $1 AND occurred_at_ms >= $2 AND occurred_at_ms < $3 \
                     ORDER BY occurred_at_ms, id LIMIT $4"
                ),
                vec![
                    org_id.into(),
                    from.timestamp_millis().into(),
                    to.timestamp_millis().into(),
                    (limit.min(i64::MAX as u64) as i64).into(),
                ],
            ))
            .await?;
        rows.iter().map(event_of_row).collect()
    }

    /// The events of `tx`'s org after the event `after` (in the order they occurred), at most
    /// `limit`: what a reconnecting client missed since the last event it saw. `None` when
    /// `after` is not an event of the org (mistyped, or older than the log keeps).
    pub async fn history_after(
        &self,
        tx: &TenantTx,
        after: Uuid,
        limit: u64,
    ) -> Result<Option<Vec<DomainEvent>>, DbErr> {
        let org_id = tx.org_id();
        // unscoped: the kernel's event log, read with tx's org as its first predicate
        let conn = tx.unscoped();
        let backend = conn.get_database_backend();
        let mark = conn
            .query_one_raw(stmt(
                backend,
                "SELECT occurred_at_ms FROM kernel_events WHERE org_id = $1 AND id = $2",
                vec![org_id.into(), after.into()],
            ))
            .await?;
        let Some(mark) = mark else {
            return Ok(None);
        };
        let at: i64 = mark.try_get("", "occurred_at_ms")?;
        let rows = conn
            .query_all_raw(stmt(
                backend,
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM kernel_events \
                     WHERE org_id = $1 AND (occurred_at_ms > $2 OR (occurred_at_ms = $2 AND id > $3)) \
                     ORDER BY occurred_at_ms, id LIMIT $4"
                ),
                vec![
                    org_id.into(),
                    at.into(),
                    after.into(),
                    (limit.min(i64::MAX as u64) as i64).into(),
                ],
            ))
            .await?;
        rows.iter()
            .map(event_of_row)
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// Puts parked deliveries back in the queue with a fresh attempt budget: one (`Some(id)`) or
    /// all. Returns how many were requeued.
    pub async fn replay(&self, db: &Db, id: Option<Uuid>) -> Result<u64, DbErr> {
        let n = queue::requeue(db.system(), "kernel_event_deliveries", id).await?;
        self.inner.wake.notify_one();
        Ok(n)
    }
}

const EVENT_COLUMNS: &str = "id, name, version, org_id, actor_type, actor_id, entity_type, entity_id, payload, occurred_at_ms";

async fn load_events(db: &Db, ids: Vec<Uuid>) -> Result<Vec<DomainEvent>, DbErr> {
    let backend = db.backend();
    let placeholders = queue::marks(1, ids.len());
    let rows = db
        .conn()
        .query_all_raw(stmt(
            backend,
            &format!("SELECT {EVENT_COLUMNS} FROM kernel_events WHERE id IN ({placeholders})"),
            ids.into_iter().map(Value::from).collect(),
        ))
        .await?;
    rows.iter().map(event_of_row).collect()
}

fn event_of_row(r: &sea_orm::QueryResult) -> Result<DomainEvent, DbErr> {
    let actor_type: Option<String> = r.try_get("", "actor_type")?;
    let actor_id: Option<Uuid> = r.try_get("", "actor_id")?;
    let payload: String = r.try_get("", "payload")?;
    let at: i64 = r.try_get("", "occurred_at_ms")?;
    Ok(DomainEvent {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        version: r.try_get::<i32>("", "version")?.max(0) as u32,
        org_id: r.try_get("", "org_id")?,
        actor: actor_type
            .zip(actor_id)
            .map(|(kind, id)| EntityRef { kind, id }),
        entity: EntityRef {
            kind: r.try_get("", "entity_type")?,
            id: r.try_get("", "entity_id")?,
        },
        occurred_at: chrono::DateTime::from_timestamp_millis(at).unwrap_or_default(),
        payload: serde_json::from_str(&payload)
            .map_err(|e| DbErr::Custom(format!("event payload: {e}")))?,
    })
}

/// Records that `subscriber` has handled `event_id`; `false` when it already had. Call it in the
/// subscriber's own transaction, together with the work, to make the subscriber idempotent.
pub async fn first_delivery<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    subscriber: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let res = conn
        .execute_raw(stmt(
            conn.get_database_backend(),
            "INSERT INTO kernel_event_receipts (subscriber, event_id, received_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            vec![subscriber.to_owned().into(), event_id.into(), now_ms().into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert!(valid_name("task.assigned"));
        assert!(valid_name("tasks.task.assigned"));
        assert!(!valid_name("assigned"));
        assert!(!valid_name("a.b.c.d"));
        assert!(!valid_name("Tasks.task.assigned"));
        assert!(!valid_name("tasks..assigned"));
        for p in ["*", "tasks.*", "tasks.task.*", "tasks.task.assigned"] {
            assert!(valid_pattern(p), "{p}");
        }
        for p in ["", "tasks", "a.b.c.d", "tasks.task.assigned.*", ".*", "ta*"] {
            assert!(!valid_pattern(p), "{p}");
        }
        assert!(matches("tasks.*", "tasks.task.assigned"));
        assert!(matches("*", "crm.deal.won"));
        assert!(!matches("tasks.*", "tasksx.task.assigned"));
        assert!(!matches("crm.deal.won", "crm.deal.lost"));
    }
}
