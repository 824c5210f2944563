//! Background jobs and schedules: transactional enqueue, retries, parking, replay, run records,
//! and a cron schedule that fires once per tick across two instances.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kernel::CellContext;
use kernel::jobs::Job;
use kernel::module::{JobDefinition, JobHandler, PlatformModule, ScheduledJob};
use sea_orm::{ConnectionTrait, Statement};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{TestApp, expect_error};

#[derive(Clone, Default)]
struct Log {
    jobs: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    fail: Arc<AtomicBool>,
}

impl Log {
    fn entries(&self) -> Vec<(String, serde_json::Value)> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl JobHandler for Log {
    async fn run(&self, _ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        if self.fail.load(Ordering::SeqCst) || job.payload["fail"] == true {
            anyhow::bail!("the mail server refused (attempt {})", job.attempt);
        }
        self.jobs
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push((job.name.clone(), job.payload.clone()));
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Worker {
    log: Log,
}

#[async_trait::async_trait]
impl PlatformModule for Worker {
    fn name(&self) -> &'static str {
        "worker"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn jobs(&self) -> Vec<JobDefinition> {
        vec![JobDefinition {
            name: "count",
            handler: Arc::new(self.log.clone()),
            max_attempts: Some(2),
            retry_schedule: None,
        }]
    }
    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        vec![ScheduledJob {
            name: "every_second",
            cron: "* * * * * *",
            handler: Arc::new(self.log.clone()),
        }]
    }
}

const CELL: &str = "[modules.worker]\n";
const QUIET: [(&str, &str); 3] = [
    ("CELL__JOBS__RUN", "false"),
    ("CELL__JOBS__BACKOFF_BASE_MS", "0"),
    ("CELL__CELL__ADMIN_TOKEN", "op"),
];

async fn count(app: &TestApp, sql: &str) -> anyhow::Result<i64> {
    let conn = app.ctx.db().conn();
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(-1))
}

db_test!(async fn jobs_run_only_when_their_transaction_commits_and_every_attempt_is_recorded(db) {
    let worker = Worker::default();
    let app = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    let jobs = app.ctx.jobs();
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    jobs.enqueue(tx.unscoped(), "worker.count", Some(tx.org_id()), serde_json::json!({"n": 1})).await?;
    tx.commit().await?;
    let tx = app.ctx.db().tenant(Uuid::now_v7()).await?;
    jobs.enqueue(tx.unscoped(), "worker.count", Some(tx.org_id()), serde_json::json!({"n": 2})).await?;
    tx.rollback().await?;
    let unknown = jobs.enqueue(app.ctx.db().conn(), "worker.nope", None, serde_json::Value::Null).await;
    assert!(unknown.err().is_some_and(|e| e.to_string().contains("worker.nope")));

    assert_eq!(jobs.run_once(&app.ctx).await?, 1);
    assert_eq!(jobs.run_once(&app.ctx).await?, 0);
    assert_eq!(worker.log.entries(), vec![("worker.count".to_owned(), serde_json::json!({"n": 1}))]);

    expect_error(app.get("/admin/jobs/runs").await?, 401, "unauthorized").await?;
    let runs: serde_json::Value = app.client.get(app.url("/admin/jobs/runs?name=worker.count")).bearer_auth("op").send().await?.json().await?;
    assert_eq!(runs["meta"]["total"], 1, "{runs}");
    let run = &runs["data"][0];
    assert_eq!((run["status"].as_str(), run["attempt"].as_i64()), (Some("succeeded"), Some(1)), "{runs}");
    assert!(run["duration_ms"].as_i64().is_some_and(|d| d >= 0) && run["error"].is_null(), "{runs}");
    Ok(())
});

db_test!(async fn enqueue_unless_pending_adds_nothing_while_a_job_of_the_same_org_waits(db) {
    let worker = Worker::default();
    let app = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    let jobs = app.ctx.jobs();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let ctx = &app.ctx;
    let once = |org: Uuid| async move {
        let tx = ctx.db().tenant(org).await?;
        let id = jobs.enqueue_unless_pending(tx.unscoped(), "worker.count", Some(org), serde_json::json!({})).await?;
        tx.commit().await?;
        anyhow::Ok(id)
    };
    let first = once(a).await?;
    assert!(first.is_some());
    assert_eq!(once(a).await?, None, "a job of org a waits");
    assert!(once(b).await?.is_some(), "org b has its own");
    let none_org = || jobs.enqueue_unless_pending(app.ctx.db().system().conn(), "worker.count", None, serde_json::json!({}));
    assert!(none_org().await?.is_some());
    assert_eq!(none_org().await?, None);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_jobs").await?, 3);

    // A claimed job (pending under its lease) no longer waits: work queued now needs a new one.
    let conn = app.ctx.db().system().conn();
    conn.execute_unprepared("UPDATE kernel_jobs SET locked_until_ms = 9000000000000").await?;
    let second = once(a).await?;
    assert!(second.is_some() && second != first);
    assert_eq!(once(a).await?, None);
    conn.execute_unprepared("UPDATE kernel_jobs SET locked_until_ms = 0").await?;
    assert_eq!(jobs.run_once(&app.ctx).await?, 4);
    assert!(once(a).await?.is_some(), "done jobs do not wait");
    Ok(())
});

db_test!(async fn a_failing_job_is_retried_then_parked_and_replay_runs_it(db) {
    let worker = Worker::default();
    worker.log.fail.store(true, Ordering::SeqCst);
    let app = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    let jobs = app.ctx.jobs();
    let id = jobs.enqueue(app.ctx.db().conn(), "worker.count", None, serde_json::json!({})).await?;
    assert_eq!(jobs.run_once(&app.ctx).await?, 1);
    assert_eq!(jobs.run_once(&app.ctx).await?, 1);
    assert_eq!(jobs.run_once(&app.ctx).await?, 0, "ran past its max_attempts of 2");

    let dead: serde_json::Value = app.client.get(app.url("/admin/jobs/dead")).bearer_auth("op").send().await?.json().await?;
    assert_eq!(dead["meta"]["total"], 1, "{dead}");
    assert_eq!(dead["data"][0]["id"], id.to_string().as_str());
    assert!(dead["data"][0]["last_error"].as_str().unwrap_or_default().contains("attempt 2"), "{dead}");
    let failed_runs: serde_json::Value = app.client.get(app.url("/admin/jobs/runs")).bearer_auth("op").send().await?.json().await?;
    assert_eq!(failed_runs["meta"]["total"], 2);
    assert!(failed_runs["data"].as_array().is_some_and(|r| r.iter().all(|x| x["status"] == "failed")));

    worker.log.fail.store(false, Ordering::SeqCst);
    let replay = app.client.post(app.url(&format!("/admin/jobs/dead/{id}/replay"))).bearer_auth("op").send().await?;
    assert_eq!(replay.status(), 200);
    assert_eq!(jobs.run_once(&app.ctx).await?, 1);
    assert_eq!(worker.log.entries().len(), 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'done'").await?, 1);
    Ok(())
});

db_test!(async fn a_batch_of_successes_and_a_failure_is_recorded_row_by_row(db) {
    let worker = Worker::default();
    let app = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    let jobs = app.ctx.jobs();
    let conn = app.ctx.db().conn();
    for payload in [serde_json::json!({"n": 1}), serde_json::json!({"fail": true}), serde_json::json!({"n": 2})] {
        jobs.enqueue(conn, "worker.count", None, payload).await?;
    }
    // One batch: its outcomes and its run log are written together.
    assert_eq!(jobs.run_once(&app.ctx).await?, 3);
    assert_eq!(worker.log.entries().len(), 2);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'done' AND last_error IS NULL").await?, 2);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'pending' AND attempts = 1 AND last_error LIKE '%attempt 1%'").await?,
        1,
        "the failure waits for its retry"
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_job_runs WHERE status = 'succeeded'").await?, 2);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_job_runs WHERE status = 'failed' AND error LIKE '%refused%'").await?, 1);
    // Its retry is its last attempt: parked, the others untouched.
    assert_eq!(jobs.run_once(&app.ctx).await?, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'dead'").await?, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'done'").await?, 2);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM kernel_job_runs").await?, 4);
    Ok(())
});

db_test!(async fn a_schedule_fires_once_per_tick_across_two_instances(db) {
    let worker = Worker::default();
    let a = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    let b = TestApp::spawn_with(&db, CELL, &QUIET, vec![Box::new(worker.clone())]).await?;
    // Both instances evaluate the same stretch of time at once.
    let now = chrono::Utc::now() + chrono::Duration::milliseconds(3200);
    let (ca, cb) = tokio::join!(a.ctx.jobs().tick_schedules(a.ctx.db(), now), b.ctx.jobs().tick_schedules(b.ctx.db(), now));
    let claimed = ca? + cb?;
    assert!((3..=4).contains(&claimed), "claimed {claimed} ticks in 3.2 s");
    assert_eq!(count(&a, "SELECT count(*) AS n FROM kernel_schedule_ticks").await?, claimed as i64);
    // Evaluating the same time again fires nothing.
    assert_eq!(a.ctx.jobs().tick_schedules(a.ctx.db(), now).await? + b.ctx.jobs().tick_schedules(b.ctx.db(), now).await?, 0);
    let (ra, rb) = tokio::join!(a.ctx.jobs().run_once(&a.ctx), b.ctx.jobs().run_once(&b.ctx));
    assert_eq!(ra? + rb?, claimed);
    let mut ticks = BTreeMap::new();
    for (name, payload) in worker.log.entries() {
        assert_eq!(name, "worker.every_second");
        *ticks.entry(payload["tick"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    assert_eq!(ticks.len(), claimed);
    assert!(ticks.values().all(|n| *n == 1), "a tick ran twice: {ticks:?}");
    Ok(())
});

db_test!(async fn the_runners_of_two_live_instances_share_schedule_ticks(db) {
    let worker = Worker::default();
    // The default idle poll (60 s): the claimed ticks wake the runners, not a poll.
    let _a = TestApp::spawn_with(&db, CELL, &[], vec![Box::new(worker.clone())]).await?;
    let _b = TestApp::spawn_with(&db, CELL, &[], vec![Box::new(worker.clone())]).await?;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let mut ticks = BTreeMap::new();
    for (_, payload) in worker.log.entries() {
        *ticks.entry(payload["tick"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    assert!(ticks.len() >= 2, "only {} ticks fired in 3.3 s", ticks.len());
    assert!(ticks.values().all(|n| *n == 1), "a tick ran twice: {ticks:?}");
    Ok(())
});
