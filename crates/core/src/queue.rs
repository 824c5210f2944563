//! The durable-queue core shared by event deliveries and jobs: rows with `status`
//! (`pending` → `done` | `dead`), `attempts`, `next_attempt_ms`, `locked_until_ms`, `last_error`,
//! `finished_at_ms`. Claims are leases taken with one `UPDATE … RETURNING` (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so instances share the work); failures back off exponentially and park
//! as `dead` after the last attempt; parked rows can be requeued.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, TransactionTrait, Value};
use uuid::Uuid;

use crate::db::Db;

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// `n` numbered placeholders from `$first`: `$2, $3, $4`.
pub(crate) fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a queue retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    /// Delays before each retry (the n-th failure waits `schedule[n-1]`, the last entry after
    /// that), instead of the exponential backoff.
    pub retry_schedule: Option<&'static [u64]>,
    pub lease_secs: u64,
}

/// How long after its `attempts`-th failure a row is tried again.
fn retry_delay_ms(policy: Policy, attempts: i32, now: i64) -> i64 {
    match policy.retry_schedule {
        Some(schedule) if !schedule.is_empty() => {
            let n = (attempts.max(1) as usize - 1).min(schedule.len() - 1);
            schedule[n] as i64
        }
        _ => backoff_ms(policy.backoff_base_ms, attempts, now),
    }
}

/// Exponential backoff from `backoff_base_ms`, doubled per attempt, capped at one hour, with up
/// to 20 % jitter so retries of many rows do not arrive together.
pub(crate) fn backoff_ms(base_ms: u64, attempts: i32, now: i64) -> i64 {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let base = (base_ms as i64).saturating_mul(1_i64 << exp).min(3_600_000);
    base + base * (now.rem_euclid(200)) / 1000
}

/// Claims up to `limit` due rows of `table`, returning `columns` of each (which must include
/// `attempts`, already incremented for this attempt).
pub(crate) async fn claim(
    db: &Db,
    table: &str,
    columns: &str,
    policy: Policy,
    limit: u32,
) -> Result<Vec<QueryResult>, DbErr> {
    let backend = db.backend();
    let now = now_ms();
    let lease_until = now + (policy.lease_secs as i64) * 1000;
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    db.conn()
        .query_all_raw(stmt(
            backend,
            &format!(
                "UPDATE {table} SET locked_until_ms = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM {table} \
                   WHERE status = 'pending' AND next_attempt_ms <= $2 AND locked_until_ms <= $2 \
                   ORDER BY next_attempt_ms LIMIT $3{lock}) \
                 RETURNING {columns}"
            ),
            vec![lease_until.into(), now.into(), i64::from(limit).into()],
        ))
        .await
}

/// The outcome of one claimed row's attempt.
pub(crate) struct Finished<'a> {
    pub id: Uuid,
    /// The attempt's number (the claim's incremented `attempts`).
    pub attempts: i32,
    pub policy: Policy,
    pub outcome: &'a Result<(), String>,
}

/// Records the outcomes of a claimed batch in one transaction (one commit, however large the
/// batch): the successes in one statement, each failure in its own (retried later, or parked as
/// dead), then `also` (statements that belong with them, such as the job runs' log). Returns,
/// for each row in order, whether it was parked.
pub(crate) async fn finish_all(
    db: &Db,
    table: &str,
    rows: &[Finished<'_>],
    also: Vec<Statement>,
) -> Result<Vec<bool>, DbErr> {
    let backend = db.backend();
    let now = now_ms();
    let mut statements = also;
    let done: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.outcome.is_ok())
        .map(|r| r.id)
        .collect();
    if !done.is_empty() {
        let ids = marks(2, done.len());
        let mut values: Vec<Value> = vec![now.into()];
        values.extend(done.into_iter().map(Value::from));
        statements.push(stmt(
            backend,
            &format!(
                "UPDATE {table} SET status = 'done', finished_at_ms = $1, locked_until_ms = 0, last_error = NULL WHERE id IN ({ids})"
            ),
            values,
        ));
    }
    let mut parked = Vec::with_capacity(rows.len());
    for r in rows {
        match failed(backend, table, r, now) {
            Some((statement, dead)) => {
                statements.push(statement);
                parked.push(dead);
            }
            None => parked.push(false),
        }
    }
    match statements.len() {
        0 => {}
        // One statement commits on its own.
        1 => {
            for s in statements {
                db.conn().execute_raw(s).await?;
            }
        }
        _ => {
            let txn = db.conn().begin().await?;
            for s in statements {
                txn.execute_raw(s).await?;
            }
            txn.commit().await?;
        }
    }
    Ok(parked)
}

/// The statement recording a failed attempt, and whether it parks the row; `None` for a success.
fn failed(
    backend: DbBackend,
    table: &str,
    r: &Finished<'_>,
    now: i64,
) -> Option<(Statement, bool)> {
    let (id, attempts, policy) = (r.id, r.attempts, r.policy);
    Some(match r.outcome {
        Ok(()) => return None,
        Err(error) if attempts >= policy.max_attempts as i32 => (
            stmt(
                backend,
                &format!(
                    "UPDATE {table} SET status = 'dead', finished_at_ms = $1, last_error = $2, locked_until_ms = 0 WHERE id = $3"
                ),
                vec![now.into(), error.clone().into(), id.into()],
            ),
            true,
        ),
        Err(error) => (
            stmt(
                backend,
                &format!(
                    "UPDATE {table} SET last_error = $1, next_attempt_ms = $2, locked_until_ms = 0 WHERE id = $3"
                ),
                vec![
                    error.clone().into(),
                    (now + retry_delay_ms(policy, attempts, now)).into(),
                    id.into(),
                ],
            ),
            false,
        ),
    })
}

/// After a wake that found nothing due, the runner looks again this soon (then the next, …): a
/// wake in this process arrives before the enqueuing transaction commits, and on SQLite (or
/// with the listener down) no notification follows the commit.
const RECHECKS_MS: [u64; 4] = [10, 50, 250, 1000];

/// Rows of `table` due now and not running (at most `cap`, so a scrape over a large backlog
/// stays cheap): the queue depth `/metrics` reports.
pub(crate) async fn due_now(db: &Db, table: &str, cap: i64) -> Result<i64, sea_orm::DbErr> {
    let row = db
        .conn()
        .query_one_raw(stmt(
            db.backend(),
            &format!(
                "SELECT count(*) AS due FROM (SELECT 1 FROM {table} WHERE status = 'pending' \
                 AND next_attempt_ms <= $1 AND locked_until_ms <= $1 LIMIT $2) AS d"
            ),
            vec![now_ms().into(), cap.into()],
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64>("", "due")?,
        None => 0,
    })
}

/// When a runner should next look at `table`, having just found nothing to claim: when its
/// earliest pending row falls due, a recheck after a wake (see [`RECHECKS_MS`]; `rechecks`
/// counts them and is set to 0 by a wake), or after `idle`, whichever is first. One statement.
pub(crate) async fn next_look(
    db: &Db,
    table: &str,
    idle: std::time::Duration,
    rechecks: &mut usize,
) -> tokio::time::Instant {
    let now = now_ms();
    let due = db
        .conn()
        .query_one_raw(stmt(
            db.backend(),
            &format!(
                "SELECT min(CASE WHEN locked_until_ms > next_attempt_ms THEN locked_until_ms \
                 ELSE next_attempt_ms END) AS due FROM {table} WHERE status = 'pending'"
            ),
            vec![],
        ))
        .await
        .and_then(|row| match row {
            Some(r) => r.try_get::<Option<i64>>("", "due"),
            None => Ok(None),
        });
    let mut wait = match due {
        Ok(Some(due)) => std::time::Duration::from_millis((due - now).max(1) as u64),
        Ok(None) => idle,
        Err(e) => {
            tracing::warn!(error = %e, table, "cannot read the queue's next due time");
            idle
        }
    }
    .min(idle);
    if let Some(ms) = RECHECKS_MS.get(*rechecks) {
        wait = wait.min(std::time::Duration::from_millis(*ms));
        *rechecks += 1;
    }
    tokio::time::Instant::now() + wait
}

/// A runner that has not been woken yet needs no rechecks.
pub(crate) const NO_RECHECKS: usize = RECHECKS_MS.len();

/// The rechecks a wake calls for: none while the signal listener listens (the enqueuing
/// commit's own notification wakes the runner again), else all of them.
pub(crate) fn rechecks_after_wake(signals: &crate::signals::Signals) -> usize {
    match signals.listening() {
        true => NO_RECHECKS,
        false => 0,
    }
}

/// Puts parked rows back in the queue with a fresh attempt budget: one or all.
pub(crate) async fn requeue(db: &Db, table: &str, id: Option<Uuid>) -> Result<u64, DbErr> {
    let backend = db.backend();
    let now = now_ms();
    let base = format!(
        "UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_ms = $1, locked_until_ms = 0, finished_at_ms = NULL WHERE status = 'dead'"
    );
    let statement = match id {
        Some(id) => stmt(
            backend,
            &format!("{base} AND id = $2"),
            vec![now.into(), id.into()],
        ),
        None => stmt(backend, &base, vec![now.into()]),
    };
    Ok(db.conn().execute_raw(statement).await?.rows_affected())
}

/// `SELECT count(*) FROM <table> <filter>` (`filter` is empty or a `WHERE` clause over `values`).
pub(crate) async fn count(
    db: &Db,
    table: &str,
    filter: &str,
    values: Vec<Value>,
) -> Result<u64, DbErr> {
    let n = db
        .conn()
        .query_one_raw(stmt(
            db.backend(),
            &format!("SELECT count(*) AS n FROM {table} {filter}"),
            values,
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let at = |n| backoff_ms(1000, n, 0);
        assert_eq!((at(1), at(2), at(3)), (1000, 2000, 4000));
        assert_eq!(at(40), 3_600_000);
        assert!(backoff_ms(1000, 1, 199) <= 1200);
    }
}
