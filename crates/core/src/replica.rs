//! Read replicas (`database.read_url`, PostgreSQL): which reads may go to the replica, and how
//! fresh the replica is.
//!
//! A read-only tenant transaction ([`crate::Db::tenant_read`]) goes to the replica only when all
//! of these hold (reads outside an org, [`crate::Db::begin_read`], which authentication makes,
//! always read the writer: a revoked key stops working at once, a new one works at once):
//! - it is opened while serving a `GET` or `HEAD` request ([`lagging_reads`], set by the
//!   kernel's outermost middleware); a job, a schedule, the dispatcher and every request that
//!   may write read from the writer, so a read that decides a write never sees the past;
//! - nothing was written earlier in that request (a request that wrote reads its own writes);
//! - the replica is known to hold everything the writer had committed up to
//!   `database.replica_max_lag_ms` ago. A probe reads the writer's WAL position and then the
//!   replica's replay position every quarter of that bound; the newest writer position the
//!   replica has replayed dates its freshness. A replica that is down, stuck or lagging stops
//!   being fresh, and reads go to the writer until it catches up.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

tokio::task_local! {
    static REQUEST: Reads;
}

/// What the request being served on this task may read from.
#[derive(Debug, Default)]
struct Reads {
    wrote: Cell<bool>,
}

/// Runs `fut` (a `GET` or `HEAD` request) with its reads allowed on the replica until it writes.
pub async fn lagging_reads<F: std::future::Future>(fut: F) -> F::Output {
    REQUEST.scope(Reads::default(), fut).await
}

/// Notes that the current request wrote (or is about to): its later reads go to the writer.
pub(crate) fn note_write() {
    let _ = REQUEST.try_with(|r| r.wrote.set(true));
}

/// The rest of the current request reads from the writer: for a read that must see what the
/// caller may already know of (an event pushed live, by a notification that outruns the
/// replica's replay).
pub fn read_from_writer() {
    note_write();
}

/// Whether a read opened now may be served by a replica that lags (within the bound).
pub(crate) fn may_lag() -> bool {
    REQUEST.try_with(|r| !r.wrote.get()).unwrap_or(false)
}

/// The replica's pool and how fresh it is.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) conn: DatabaseConnection,
    max_lag: Duration,
    started: Instant,
    /// Milliseconds after `started` at which the writer's state the replica is known to have
    /// replayed was read; `u64::MAX` while nothing is known.
    fresh_at: AtomicU64,
}

const UNKNOWN: u64 = u64::MAX;

impl Replica {
    pub(crate) fn new(conn: DatabaseConnection, max_lag: Duration) -> Arc<Self> {
        Arc::new(Self {
            conn,
            max_lag,
            started: Instant::now(),
            fresh_at: AtomicU64::new(UNKNOWN),
        })
    }

    /// How far behind the writer the replica may be now; `None` when nothing is known (not yet
    /// probed, or down since start).
    pub(crate) fn staleness(&self) -> Option<Duration> {
        let at = self.fresh_at.load(Ordering::Relaxed);
        (at != UNKNOWN).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_millis(at))
        })
    }

    /// Whether reads may go to the replica now.
    pub(crate) fn fresh(&self) -> bool {
        self.staleness().is_some_and(|s| s <= self.max_lag)
    }

    /// Marks the replica unusable at once (a transaction could not begin there).
    pub(crate) fn mark_down(&self) {
        self.fresh_at.store(UNKNOWN, Ordering::Relaxed);
    }

    /// Probes until the writer's pool closes: every quarter of the bound (50 ms to 1 s).
    pub(crate) async fn probe(self: Arc<Self>, writer: DatabaseConnection) {
        let every = (self.max_lag / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Writer positions already read, oldest first, with when they were read.
        let mut seen: VecDeque<(Instant, u64)> = VecDeque::new();
        loop {
            ticker.tick().await;
            let closed = |c: &DatabaseConnection| c.get_postgres_connection_pool().is_closed();
            if closed(&writer) || closed(&self.conn) {
                return;
            }
            let read_at = Instant::now();
            let probe = async {
                let written = wal_position(&writer, "pg_current_wal_lsn()").await?;
                let replayed = wal_position(&self.conn, "pg_last_wal_replay_lsn()").await?;
                Ok::<_, DbErr>((written, replayed))
            };
            let (written, replayed) =
                match tokio::time::timeout(every.max(self.max_lag), probe).await {
                    Ok(Ok(positions)) => positions,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "read replica probe failed");
                        continue;
                    }
                    Err(_) => {
                        tracing::debug!("read replica probe timed out");
                        continue;
                    }
                };
            let Some(written) = written else {
                continue;
            };
            seen.push_back((read_at, written));
            // A server that is not replaying (the reader endpoint of a cluster without readers
            // names the writer) holds everything the writer has.
            let replayed = replayed.unwrap_or(u64::MAX);
            let caught_up = seen.iter().rposition(|&(_, lsn)| lsn <= replayed);
            if let Some(i) = caught_up {
                let at = seen[i].0.saturating_duration_since(self.started);
                let at = u64::try_from(at.as_millis()).unwrap_or(UNKNOWN - 1);
                self.fresh_at.store(at, Ordering::Relaxed);
                seen.drain(..i);
            }
            // Positions older than the bound cannot make the replica fresh again.
            while seen.len() > 1 && seen[0].0.elapsed() > self.max_lag * 2 {
                seen.pop_front();
            }
            if let Some(s) = self.staleness() {
                ::metrics::gauge!("db_replica_staleness_seconds").set(s.as_secs_f64());
            }
        }
    }
}

/// A WAL position (`X/Y` in hex) as one number; `None` when the server returns NULL.
async fn wal_position(conn: &DatabaseConnection, function: &str) -> Result<Option<u64>, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {function}::text AS lsn"),
        ))
        .await?;
    let text: Option<String> = match row {
        Some(r) => r.try_get("", "lsn")?,
        None => None,
    };
    Ok(text.as_deref().and_then(parse_lsn))
}

fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_order_as_numbers() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B_3748));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        assert_eq!(parse_lsn("garbage"), None);
    }

    #[tokio::test]
    async fn only_a_request_that_has_not_written_may_read_lagging_data() {
        assert!(!may_lag(), "outside a request: the writer");
        lagging_reads(async {
            assert!(may_lag());
            note_write();
            assert!(!may_lag(), "after a write: the writer");
        })
        .await;
    }
}
