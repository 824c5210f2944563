//! Background jobs and cron schedules.
//!
//! A job is enqueued inside the caller's transaction (so it exists exactly when the change that
//! asked for it commits) and runs on the shared durable queue: leased claims, retries with
//! exponential backoff, parking as dead after its last attempt, replay. Every attempt is recorded
//! in `kernel_job_runs` (start, end, duration, status, error), visible under `/admin/jobs/runs`.
//!
//! A cron schedule fires once per tick across every instance of the cell: the instance that
//! inserts the `(schedule, tick)` row first enqueues the tick's job, in the same transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait, Value};
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::JobsSection;
use crate::context::CellContext;
use crate::db::Db;
use crate::module::{EnabledModule, JobHandler};
use crate::queue::{self, now_ms, stmt};

/// The signal a commit that enqueued jobs raises (a trigger on `kernel_jobs`).
pub(crate) const SIGNAL: &str = "cell_jobs";

/// A job as its handler receives it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    /// `module.job`.
    pub name: String,
    pub org_id: Option<Uuid>,
    pub payload: serde_json::Value,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl Job {
    /// The moment a scheduled run stands for (its payload's `tick`), or now for a job
    /// enqueued by hand without one.
    pub fn tick(&self) -> DateTime<Utc> {
        self.payload["tick"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no job named `{0}` is registered in this cell")]
    Unknown(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<JobError> for crate::error::ApiError {
    #[track_caller]
    fn from(e: JobError) -> Self {
        crate::error::ApiError::internal(e)
    }
}

/// Parses a schedule's cron expression (5 fields, or 6 with seconds first), UTC.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

struct Definition {
    handler: Arc<dyn JobHandler>,
    max_attempts: u32,
    retry_schedule: Option<&'static [u64]>,
}

struct Schedule {
    /// The job it enqueues (`module.name`).
    name: String,
    cron: croner::Cron,
}

struct Inner {
    defs: HashMap<String, Definition>,
    schedules: Vec<Schedule>,
    /// The last time each schedule was evaluated up to; ticks before an instance starts are
    /// never fired by it.
    evaluated: Mutex<HashMap<String, DateTime<Utc>>>,
    wake: Notify,
    cfg: JobsSection,
}

/// One recorded attempt of a job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobRunRecord {
    pub id: Uuid,
    pub job_id: Uuid,
    pub name: String,
    pub attempt: i32,
    pub status: String,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
}

/// A job parked after its last attempt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeadJob {
    pub id: Uuid,
    pub name: String,
    pub org_id: Option<Uuid>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// The cell's job queue and scheduler. Cheap to clone; reach it with `ctx.jobs()`.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

/// One claimed job's run: the job, its most attempts, started and finished (ms), the outcome.
type Run = (Job, u32, i64, i64, Result<(), String>);

/// A batch's rows of the run log (`kernel_job_runs`), one statement, and its metrics.
fn run_log(backend: DbBackend, runs: &[Run]) -> Vec<Statement> {
    if runs.is_empty() {
        return Vec::new();
    }
    let mut rows = Vec::with_capacity(runs.len());
    let mut values = Vec::with_capacity(runs.len() * 9);
    for (job, _, started, finished, outcome) in runs {
        let (status, error) = match outcome {
            Ok(()) => ("succeeded", None),
            Err(e) => ("failed", Some(e.clone())),
        };
        metrics::counter!("jobs_runs_total", "job" => job.name.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("jobs_run_duration_seconds", "job" => job.name.clone())
            .record((finished - started) as f64 / 1000.0);
        rows.push(format!("({})", queue::marks(values.len() + 1, 9)));
        let row: [Value; 9] = [
            Uuid::now_v7().into(),
            job.id.into(),
            job.name.clone().into(),
            (job.attempt as i32).into(),
            status.into(),
            error.into(),
            (*started).into(),
            (*finished).into(),
            (finished - started).into(),
        ];
        values.extend(row);
    }
    vec![stmt(
        backend,
        &format!(
            "INSERT INTO kernel_job_runs (id, job_id, name, attempt, status, error, started_at_ms, finished_at_ms, duration_ms) VALUES {}",
            rows.join(", ")
        ),
        values,
    )]
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.inner.defs.keys().collect();
        names.sort();
        f.debug_struct("Jobs").field("jobs", &names).finish()
    }
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Jobs {
    /// Collects the jobs and schedules of the enabled modules plus the kernel's own `extra`
    /// jobs (with their cron when they run on one). Names were validated at resolution; a cron
    /// that does not parse is skipped (logged).
    pub(crate) fn new(
        modules: &[EnabledModule],
        extra: Vec<(String, Arc<dyn JobHandler>, Option<&'static str>)>,
        cfg: JobsSection,
    ) -> Self {
        let mut defs = HashMap::new();
        let mut schedules = Vec::new();
        for (name, handler, cron) in extra {
            if let Some(cron) = cron {
                match parse_cron(cron) {
                    Ok(cron) => schedules.push(Schedule {
                        name: name.clone(),
                        cron,
                    }),
                    Err(e) => tracing::error!(schedule = %name, error = %e, "invalid cron"),
                }
            }
            defs.insert(
                name,
                Definition {
                    handler,
                    max_attempts: cfg.max_attempts,
                    retry_schedule: None,
                },
            );
        }
        for m in modules {
            let module = m.module.name();
            for job in m.module.jobs() {
                defs.insert(
                    format!("{module}.{}", job.name),
                    Definition {
                        handler: job.handler,
                        max_attempts: job.max_attempts.unwrap_or(cfg.max_attempts),
                        retry_schedule: job.retry_schedule,
                    },
                );
            }
            for s in m.module.scheduled_jobs() {
                let name = format!("{module}.{}", s.name);
                match parse_cron(s.cron) {
                    Ok(cron) => {
                        defs.insert(
                            name.clone(),
                            Definition {
                                handler: s.handler,
                                max_attempts: cfg.max_attempts,
                                retry_schedule: None,
                            },
                        );
                        schedules.push(Schedule { name, cron });
                    }
                    Err(e) => {
                        tracing::error!(schedule = %name, error = %e, "invalid cron; schedule skipped")
                    }
                }
            }
        }
        let now = Utc::now();
        let evaluated = schedules.iter().map(|s| (s.name.clone(), now)).collect();
        Self {
            inner: Arc::new(Inner {
                defs,
                schedules,
                evaluated: Mutex::new(evaluated),
                wake: Notify::new(),
                cfg,
            }),
        }
    }

    fn policy(&self, max_attempts: u32) -> queue::Policy {
        queue::Policy {
            max_attempts,
            backoff_base_ms: self.inner.cfg.backoff_base_ms,
            retry_schedule: None,
            lease_secs: self.inner.cfg.lease_secs,
        }
    }

    /// The policy of the job named `name`: its own retry schedule, if it has one.
    fn policy_of(&self, name: &str, max_attempts: u32) -> queue::Policy {
        queue::Policy {
            retry_schedule: self.inner.defs.get(name).and_then(|d| d.retry_schedule),
            ..self.policy(max_attempts)
        }
    }

    /// Enqueues job `name` (`module.job`) through `conn`, usually the caller's transaction:
    /// it runs only if that transaction commits. On PostgreSQL a job of an org is enqueued in
    /// that org's context (a [`crate::Db::tenant`] transaction); jobs without an org from any.
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        conn: &C,
        name: &str,
        org_id: Option<Uuid>,
        payload: serde_json::Value,
    ) -> Result<Uuid, JobError> {
        let id = Uuid::now_v7();
        self.insert(conn, id, name, org_id, payload, false).await?;
        Ok(id)
    }

    /// [`Self::enqueue`] of a job of `tx`'s org, in `tx`: it runs only if the change commits.
    /// What modules call from a handler, a subscriber or a job.
    pub async fn enqueue_in(
        &self,
        tx: &crate::db::TenantTx,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<Uuid, JobError> {
        // unscoped: the kernel's job queue, written in the change's transaction for tx's org
        self.enqueue(tx.unscoped(), name, Some(tx.org_id()), payload)
            .await
    }

    /// [`Self::enqueue`], unless a job of the same name and org is already waiting to be
    /// claimed: for jobs that take up whatever work is queued when they run, so a burst of
    /// callers costs one run, not one each. Returns the new job's id, `None` if one waited.
    ///
    /// A caller that commits after the waiting job was claimed and took up the work may find
    /// none waiting when it looked: its work then waits for the next such job, so a job
    /// enqueued this way needs a schedule that sweeps up as well (every minute, say). On
    /// PostgreSQL the look goes through `conn`'s row security: enqueue an org's job in its
    /// tenant transaction, a job without an org from the system context.
    pub async fn enqueue_unless_pending<C: ConnectionTrait>(
        &self,
        conn: &C,
        name: &str,
        org_id: Option<Uuid>,
        payload: serde_json::Value,
    ) -> Result<Option<Uuid>, JobError> {
        let id = Uuid::now_v7();
        let inserted = self.insert(conn, id, name, org_id, payload, true).await?;
        Ok(inserted.then_some(id))
    }

    /// Inserts the job; `false` when `unless_pending` found one waiting.
    async fn insert<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: Uuid,
        name: &str,
        org_id: Option<Uuid>,
        payload: serde_json::Value,
        unless_pending: bool,
    ) -> Result<bool, JobError> {
        let def = self
            .inner
            .defs
            .get(name)
            .ok_or_else(|| JobError::Unknown(name.to_owned()))?;
        let now = now_ms();
        // Waiting: pending and not claimed (a claimed job stays pending under its lease).
        // Pending jobs are few, and the `kernel_jobs_due` index leads with the status.
        let guard = match unless_pending {
            true => {
                " WHERE NOT EXISTS (SELECT 1 FROM kernel_jobs WHERE status = 'pending' \
                 AND locked_until_ms <= $6 AND name = $2 AND org_id IS NOT DISTINCT FROM $3)"
            }
            false => "",
        };
        let inserted = conn
            .execute_raw(stmt(
                conn.get_database_backend(),
                &format!(
                    "INSERT INTO kernel_jobs (id, name, org_id, payload, status, attempts, max_attempts, next_attempt_ms, locked_until_ms, created_at_ms) \
                     SELECT $1, $2, $3, $4, 'pending', 0, $5, $6, 0, $6{guard}"
                ),
                vec![
                    id.into(),
                    name.to_owned().into(),
                    org_id.into(),
                    payload.to_string().into(),
                    (def.max_attempts as i32).into(),
                    now.into(),
                ],
            ))
            .await?
            .rows_affected();
        if inserted == 1 {
            self.inner.wake.notify_one();
        }
        Ok(inserted == 1)
    }

    /// Claims due jobs, runs them, records each attempt. Returns how many ran.
    pub async fn run_once(&self, ctx: &CellContext) -> Result<usize, DbErr> {
        let db = ctx.db().system();
        let claimed = queue::claim(
            db,
            "kernel_jobs",
            "id, name, org_id, payload, attempts, max_attempts",
            self.policy(self.inner.cfg.max_attempts),
            self.inner.cfg.batch_size,
        )
        .await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let payload: String = row.try_get("", "payload")?;
            let attempts: i32 = row.try_get("", "attempts")?;
            let max: i32 = row.try_get("", "max_attempts")?;
            jobs.push((
                Job {
                    id: row.try_get("", "id")?,
                    name: row.try_get("", "name")?,
                    org_id: row.try_get("", "org_id")?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    attempt: attempts.max(0) as u32,
                },
                max.max(1) as u32,
            ));
        }
        let handled = jobs.len();
        let runs = jobs.into_iter().map(|(job, max)| async move {
            let started = now_ms();
            let timeout = Duration::from_secs(self.inner.cfg.timeout_secs);
            let outcome = match self.inner.defs.get(&job.name) {
                None => Err(format!("job `{}` is not registered in this cell", job.name)),
                Some(def) => {
                    match tokio::time::timeout(timeout, def.handler.run(ctx, &job)).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(format!("{e:#}")),
                        Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
                    }
                }
            };
            (job, max, started, now_ms(), outcome)
        });
        let results = futures_util::future::join_all(runs).await;
        // The batch's outcomes and its run log in one transaction.
        let log = run_log(db.backend(), &results);
        let finished: Vec<queue::Finished<'_>> = results
            .iter()
            .map(|(job, max, _, _, outcome)| queue::Finished {
                id: job.id,
                attempts: job.attempt as i32,
                policy: self.policy_of(&job.name, *max),
                outcome,
            })
            .collect();
        let parked = queue::finish_all(db, "kernel_jobs", &finished, log).await?;
        for ((job, _, _, _, outcome), parked) in results.iter().zip(parked) {
            if let Err(error) = outcome {
                if parked {
                    tracing::error!(job = %job.name, id = %job.id, attempt = job.attempt, %error, "job parked as dead");
                } else {
                    tracing::warn!(job = %job.name, id = %job.id, attempt = job.attempt, %error, "job failed; will retry");
                }
            }
        }
        Ok(handled)
    }

    /// Fires every schedule tick in (last evaluation, `now`]: the instance that claims a tick
    /// enqueues its job in the same transaction. At most 10 ticks per schedule per call, so a
    /// paused instance does not flood the queue. Returns how many ticks this instance claimed.
    pub async fn tick_schedules(&self, db: &Db, now: DateTime<Utc>) -> Result<usize, DbErr> {
        let db = db.system();
        let mut claimed = 0;
        for schedule in &self.inner.schedules {
            let from = self
                .inner
                .evaluated
                .lock()
                .map(|m| m.get(&schedule.name).copied().unwrap_or(now))
                .unwrap_or(now);
            let ticks: Vec<DateTime<Utc>> = schedule
                .cron
                .iter_after(from)
                .take_while(|t| *t <= now)
                .take(10)
                .collect();
            for tick in ticks {
                let txn = db.conn().begin().await?;
                let won = txn
                    .execute_raw(stmt(
                        txn.get_database_backend(),
                        "INSERT INTO kernel_schedule_ticks (schedule, tick_ms, fired_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        vec![schedule.name.clone().into(), tick.timestamp_millis().into(), now_ms().into()],
                    ))
                    .await?
                    .rows_affected()
                    == 1;
                if won {
                    let payload = serde_json::json!({ "tick": tick.to_rfc3339() });
                    self.enqueue(&txn, &schedule.name, None, payload)
                        .await
                        .map_err(|e| DbErr::Custom(e.to_string()))?;
                    claimed += 1;
                }
                txn.commit().await?;
            }
            if let Ok(mut m) = self.inner.evaluated.lock() {
                m.insert(schedule.name.clone(), now);
            }
        }
        Ok(claimed)
    }

    /// Runs jobs and schedules until `stop`: jobs whenever they are due, schedules every second.
    /// With nothing due it waits until the earliest pending job falls due, a wake (an enqueue
    /// in this process, a `cell_jobs` signal from a commit anywhere), a claimed schedule tick,
    /// or `jobs.idle_poll_ms`: an idle instance sends two statements per idle poll.
    pub async fn run(&self, ctx: CellContext, stop: tokio_util::sync::CancellationToken) {
        let idle = Duration::from_millis(self.inner.cfg.idle_poll_ms);
        let mut next_tick = tokio::time::Instant::now();
        let mut look_at = tokio::time::Instant::now();
        let mut look = true;
        let mut rechecks = queue::NO_RECHECKS;
        tracing::info!(
            jobs = self.inner.defs.len(),
            schedules = self.inner.schedules.len(),
            "job runner started"
        );
        loop {
            let now = tokio::time::Instant::now();
            if !self.inner.schedules.is_empty() && now >= next_tick {
                match self.tick_schedules(ctx.db(), Utc::now()).await {
                    Ok(claimed) => look |= claimed > 0,
                    Err(e) => tracing::warn!(error = %e, "schedule tick failed; retrying"),
                }
                next_tick = now + Duration::from_secs(1);
            }
            if look || now >= look_at {
                let handled = match self.run_once(&ctx).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "job run failed; retrying");
                        0
                    }
                };
                if handled > 0 && !stop.is_cancelled() {
                    look = true;
                    continue;
                }
                look = false;
                look_at =
                    queue::next_look(ctx.db().system(), "kernel_jobs", idle, &mut rechecks).await;
            }
            let until = match self.inner.schedules.is_empty() {
                true => look_at,
                false => look_at.min(next_tick),
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.inner.wake.notified() => {
                    look = true;
                    rechecks = queue::rechecks_after_wake(ctx.signals());
                }
                () = tokio::time::sleep_until(until) => {}
            }
        }
        tracing::info!("job runner stopped");
    }

    /// Wakes this instance's runner.
    pub(crate) fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Recorded attempts, newest first, optionally of one job name.
    pub async fn runs(
        &self,
        db: &Db,
        name: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<JobRunRecord>, u64), DbErr> {
        let db = db.system();
        let (filter, mut values): (&str, Vec<sea_orm::Value>) = match name {
            Some(n) => ("WHERE name = $1", vec![n.to_owned().into()]),
            None => ("", vec![]),
        };
        let total = queue::count(db, "kernel_job_runs", filter, values.clone()).await?;
        let n = values.len();
        values.push((limit as i64).into());
        values.push((offset as i64).into());
        let rows = db
            .conn()
            .query_all_raw(stmt(
                db.backend(),
                &format!(
                    "SELECT id, job_id, name, attempt, status, error, started_at_ms, finished_at_ms, duration_ms FROM kernel_job_runs {filter} \
                     ORDER BY started_at_ms DESC, id DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                ),
                values,
            ))
            .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(JobRunRecord {
                    id: r.try_get("", "id")?,
                    job_id: r.try_get("", "job_id")?,
                    name: r.try_get("", "name")?,
                    attempt: r.try_get("", "attempt")?,
                    status: r.try_get("", "status")?,
                    error: r.try_get("", "error")?,
                    started_at: from_ms(r.try_get("", "started_at_ms")?),
                    finished_at: from_ms(r.try_get("", "finished_at_ms")?),
                    duration_ms: r.try_get("", "duration_ms")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        Ok((list, total))
    }

    /// Jobs parked after their last attempt, oldest first.
    pub async fn dead(
        &self,
        db: &Db,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<DeadJob>, u64), DbErr> {
        let db = db.system();
        let rows = db
            .conn()
            .query_all_raw(stmt(
                db.backend(),
                "SELECT id, name, org_id, attempts, last_error FROM kernel_jobs WHERE status = 'dead' ORDER BY id LIMIT $1 OFFSET $2",
                vec![(limit as i64).into(), (offset as i64).into()],
            ))
            .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(DeadJob {
                    id: r.try_get("", "id")?,
                    name: r.try_get("", "name")?,
                    org_id: r.try_get("", "org_id")?,
                    attempts: r.try_get("", "attempts")?,
                    last_error: r.try_get("", "last_error")?,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
        Ok((
            list,
            queue::count(db, "kernel_jobs", "WHERE status = $1", vec!["dead".into()]).await?,
        ))
    }

    /// Requeues one parked job, or all, with a fresh attempt budget.
    pub async fn replay(&self, db: &Db, id: Option<Uuid>) -> Result<u64, DbErr> {
        let n = queue::requeue(db.system(), "kernel_jobs", id).await?;
        self.inner.wake.notify_one();
        Ok(n)
    }
}
