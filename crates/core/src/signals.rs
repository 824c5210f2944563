//! Signals between a cell's instances: "this changed, look again". On PostgreSQL they travel by
//! `LISTEN`/`NOTIFY` on one connection per instance (a `pg_notify`, usually fired by a trigger,
//! is delivered when its transaction commits, to every instance, the sender's own included); on
//! SQLite, only [`Signals::raise`] in this process delivers them.
//!
//! A signal is a hint, the database is the truth: notifications sent while an instance's
//! listener is down are lost, which its handlers learn from [`Signal::Reset`]. Code that keeps
//! state in memory on the strength of signals (iam's permission revisions) trusts it only while
//! [`Signals::listening`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use tokio_util::sync::CancellationToken;

use crate::db::Db;

/// What a handler is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal<'a> {
    /// A notification on the handler's channel, with its payload.
    Notified(&'a str),
    /// Notifications may have been missed: the listener has just (re)connected (`listening`),
    /// or lost its connection. Forget what was learned from earlier ones.
    Reset { listening: bool },
}

type Handler = Arc<dyn Fn(Signal<'_>) + Send + Sync>;

/// The cell's signal hub (one per instance; cheap to clone). Reach it with
/// [`crate::CellContext::signals`].
#[derive(Clone, Default)]
pub struct Signals(Arc<Inner>);

#[derive(Default)]
struct Inner {
    handlers: RwLock<Vec<(&'static str, Handler)>>,
    listening: AtomicBool,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("channels", &self.channels())
            .field("listening", &self.listening())
            .finish()
    }
}

/// Delay before the listener tries to connect again.
const RECONNECT: Duration = Duration::from_secs(1);

impl Signals {
    /// Calls `handler` for each signal on `channel` (a lowercase SQL identifier). Register before
    /// the cell serves (in `on_ready` at the latest): the listener listens to the channels
    /// registered when it starts. Handlers run on the listener's task: keep them short and
    /// non-blocking (set a value, wake a task).
    pub fn on(&self, channel: &'static str, handler: impl Fn(Signal<'_>) + Send + Sync + 'static) {
        debug_assert!(valid_channel(channel), "invalid channel name `{channel}`");
        if let Ok(mut handlers) = self.0.handlers.write() {
            handlers.push((channel, Arc::new(handler)));
        }
    }

    /// Delivers `payload` on `channel` to this instance's handlers only.
    pub fn raise(&self, channel: &str, payload: &str) {
        self.deliver(Some(channel), Signal::Notified(payload));
    }

    /// Whether a handler is registered on `channel` (a publisher with no receiver in this cell
    /// can skip its work).
    pub fn handles(&self, channel: &str) -> bool {
        self.0
            .handlers
            .read()
            .is_ok_and(|h| h.iter().any(|(c, _)| *c == channel))
    }

    /// Whether other instances' notifications reach this one now: the database is PostgreSQL
    /// and the listener is connected and listening.
    pub fn listening(&self) -> bool {
        self.0.listening.load(Ordering::Acquire)
    }

    fn channels(&self) -> Vec<&'static str> {
        let mut channels: Vec<&'static str> = self
            .0
            .handlers
            .read()
            .map(|h| h.iter().map(|(c, _)| *c).collect())
            .unwrap_or_default();
        channels.sort_unstable();
        channels.dedup();
        channels
    }

    /// Calls the handlers of `channel` (all of them with `None`).
    fn deliver(&self, channel: Option<&str>, signal: Signal<'_>) {
        let handlers: Vec<Handler> = match self.0.handlers.read() {
            Ok(h) => h
                .iter()
                .filter(|(c, _)| channel.is_none_or(|want| *c == want))
                .map(|(_, h)| h.clone())
                .collect(),
            Err(_) => return,
        };
        for handler in handlers {
            handler(signal);
        }
    }

    fn set_listening(&self, on: bool) {
        self.0.listening.store(on, Ordering::Release);
        self.deliver(None, Signal::Reset { listening: on });
    }

    /// On PostgreSQL, listens on every registered channel until `stop`, reconnecting after a
    /// lost connection; elsewhere (or without channels) returns at once.
    pub async fn listen(&self, db: &Db, stop: CancellationToken) {
        let channels = self.channels();
        if channels.is_empty() || db.backend() != DbBackend::Postgres {
            return;
        }
        let pool = db.system().conn().get_postgres_connection_pool().clone();
        tracing::info!(channels = %channels.join(","), "listening for signals");
        while !stop.is_cancelled() {
            let connected = async {
                let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await?;
                listener.eager_reconnect(false);
                listener.listen_all(channels.iter().copied()).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                () = stop.cancelled() => break,
                res = connected => match res {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "signal listener cannot connect; retrying");
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(RECONNECT) => continue,
                        }
                    }
                },
            };
            self.set_listening(true);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    res = listener.try_recv() => match res {
                        Ok(Some(n)) => self.deliver(Some(n.channel()), Signal::Notified(n.payload())),
                        Ok(None) => {
                            tracing::warn!("signal listener lost its connection; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "signal listener failed; reconnecting");
                            break;
                        }
                    },
                }
            }
            self.set_listening(false);
        }
    }
}

fn valid_channel(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Which writes to a table raise a signal ([`signal_on`]).
#[derive(Debug, Clone, Copy)]
pub enum SignalOn {
    /// Each statement that inserts rows; empty payload.
    Insert,
    /// Each row inserted or updated; the payload is a SQL text expression over `NEW`
    /// (`NEW.org_id::text`).
    RowWrite(&'static str),
}

/// Migration helper: on PostgreSQL, a trigger on `table` raises `channel` when the writing
/// transaction commits (see [`SignalOn`]); on SQLite a no-op (no other process listens).
pub async fn signal_on<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    channel: &str,
    on: SignalOn,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    if !valid_channel(table) || !valid_channel(channel) {
        return Err(DbErr::Custom(format!(
            "invalid table or channel name `{table}`, `{channel}`"
        )));
    }
    let (payload, each, events) = match on {
        SignalOn::Insert => ("''", "STATEMENT", "INSERT"),
        SignalOn::RowWrite(payload) => (payload, "ROW", "INSERT OR UPDATE"),
    };
    conn.execute_unprepared(&format!(
        "CREATE OR REPLACE FUNCTION {table}_signal() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_notify('{channel}', {payload}); RETURN NULL; END $$;
         DROP TRIGGER IF EXISTS {table}_signal ON {table};
         CREATE TRIGGER {table}_signal AFTER {events} ON {table}
           FOR EACH {each} EXECUTE FUNCTION {table}_signal();"
    ))
    .await?;
    Ok(())
}
