//! Ingestion throughput of the PostHog hook on SQLite and PostgreSQL: events per second accepted
//! (signed batches POSTed to `/api/hooks/posthog`, every answer a 200), and accepted and scored
//! (then the `abm.score` jobs the deliveries enqueued, run to completion), beside the raw insert
//! rate of `abm_intent_signals` in the same database: the ratio shows how close ingestion comes to
//! the database's own limit.
//!
//! `cargo bench -p abm` (release). A load test, not a micro-benchmark: each phase runs once, timed
//! by the wall clock, then checked (the stored signals and the scores must be exactly what the
//! generated events call for, so a run cannot measure failures). See BENCHMARKS.md.
//!
//! Environment (all optional):
//! - `TEST_DATABASE_URL`: the PostgreSQL server, as for the tests (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`); the bench creates its own database there and
//!   drops it afterwards; PostgreSQL is skipped, with a note, when it cannot be reached;
//! - `BENCH_BACKENDS`: `sqlite,postgres` (default) or either one;
//! - `BENCH_PROSPECTS` (1 000, each with a primary domain), `BENCH_CONTACTS` (5 000, each with a
//!   PostHog distinct id);
//! - `BENCH_EVENTS` (50 000), `BENCH_BATCH` (events per delivery, 100), `BENCH_CONCURRENCY`
//!   (deliveries in flight, 8), `BENCH_SEED` (42).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use abm::store::entity::{
    company_domain, contact, contact_identity, intent_signal, prospect_company,
};
use abm::webhook::{WebhookSecret, sign};
use anyhow::{Context as _, ensure};
use chrono::Utc;
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::sea_query::OnConflict;
use kernel::sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Statement};
use kernel::{PlatformModule, TenantTx};
use serde_json::{Value, json};
use testkit::{Backend, TestApp, TestDb};
use tokio::task::JoinSet;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The integration tests' rules: pricing pages weigh 20, downloads 15, other events are dropped.
const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.abm]
route_prefix = "/api"
operator_org = "fullorbit"
engaged_threshold = 30
[[modules.abm.rules]]
event = "$pageview"
path = "/pricing*"
signal_type = "pricing_view"
service_lane = "Launch"
weight = 20
[[modules.abm.rules]]
event = "content_download"
signal_type = "content_download"
topic_property = "asset"
weight = 15
"#;

fn main() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "abm ingest: {} events in deliveries of {}, {} in flight; {} prospects, {} contacts",
        cfg.events, cfg.batch, cfg.concurrency, cfg.prospects, cfg.contacts
    );
    let mut rows = Vec::new();
    for &backend in &cfg.backends {
        match rt.block_on(TestDb::new(backend)) {
            Ok(db) => rows.push(rt.block_on(run(&cfg, backend, &db))?),
            Err(e) => println!("{backend:?}: skipped: {e:#}"),
        }
    }
    println!(
        "\n| backend | events | accepted ev/s | accepted + scored ev/s | raw insert rows/s | ratio accepted / raw | ratio accepted + scored / raw |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (backend, accept, score, raw) in rows {
        let rate = |d: Duration| cfg.events as f64 / d.as_secs_f64();
        let (a, s, r) = (rate(accept), rate(accept + score), rate(raw));
        println!(
            "| {} | {} | {a:.0} | {s:.0} | {r:.0} | {:.2} | {:.2} |",
            format!("{backend:?}").to_lowercase(),
            cfg.events,
            a / r,
            s / r
        );
    }
    Ok(())
}

struct Config {
    backends: Vec<Backend>,
    prospects: usize,
    contacts: usize,
    events: usize,
    batch: usize,
    concurrency: usize,
    seed: u64,
}

impl Config {
    fn from_env() -> anyhow::Result<Self> {
        fn num(name: &str, default: usize) -> anyhow::Result<usize> {
            let Ok(v) = std::env::var(name) else {
                return Ok(default);
            };
            let n: usize = v.trim().parse().with_context(|| format!("{name}={v}"))?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        }
        let backends = std::env::var("BENCH_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".into())
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" => Ok(Backend::Postgres),
                other => anyhow::bail!("BENCH_BACKENDS: unknown backend `{other}`"),
            })
            .collect::<anyhow::Result<_>>()?;
        let batch = num("BENCH_BATCH", 100)?;
        ensure!(
            batch <= 1000,
            "BENCH_BATCH is above the hook's max_batch (1000)"
        );
        Ok(Self {
            backends,
            prospects: num("BENCH_PROSPECTS", 1000)?,
            contacts: num("BENCH_CONTACTS", 5000)?,
            events: num("BENCH_EVENTS", 50_000)?,
            batch,
            concurrency: num("BENCH_CONCURRENCY", 8)?,
            seed: num("BENCH_SEED", 42)? as u64,
        })
    }
}

/// A delivery's report (the counts), or the sum of several: a replay or a refused event would
/// make the sums differ from what the events call for.
#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
struct Report {
    received: u64,
    signals: u64,
    dropped: u64,
    unattributed: u64,
    duplicates: u64,
}

impl std::iter::Sum for Report {
    fn sum<I: Iterator<Item = Report>>(reports: I) -> Report {
        reports.fold(Report::default(), |a, r| Report {
            received: a.received + r.received,
            signals: a.signals + r.signals,
            dropped: a.dropped + r.dropped,
            unattributed: a.unattributed + r.unattributed,
            duplicates: a.duplicates + r.duplicates,
        })
    }
}

/// Seeds, ingests, scores, checks, inserts raw; returns the three wall times.
async fn run(
    cfg: &Config,
    backend: Backend,
    db: &TestDb,
) -> anyhow::Result<(Backend, Duration, Duration, Duration)> {
    let label = format!("{backend:?}").to_lowercase();
    let app = cell(db).await?;
    let operator = abm::operator_org(&app.ctx).context("no operator org")?;
    let companies = seed(&app, operator, cfg).await?;
    let (deliveries, expected, weight) = generate(cfg);
    let count = deliveries.len();
    let (accept, got) = deliver(&app, deliveries, cfg.concurrency).await?;
    ensure!(
        got == expected,
        "{label}: the hook reported {got:?}, not {expected:?}"
    );
    let (score, runs) = run_jobs(&app).await?;
    let failed = count_rows(&app, "kernel_job_runs WHERE status <> 'succeeded'").await?;
    println!(
        "{label}: {count} deliveries accepted in {:.2} s ({} signals, {} dropped, {} unattributed); \
         {runs} score job runs in {:.2} s ({failed} failed)",
        accept.as_secs_f64(),
        got.signals,
        got.dropped,
        got.unattributed,
        score.as_secs_f64()
    );
    // Exactly what the events call for is stored and scored.
    let tx = app.ctx.db().tenant(operator).await?;
    let stored = tx.repo::<intent_signal::Entity>().count().await?;
    let repo = tx.repo::<prospect_company::Entity>();
    let total: i64 = repo
        .find()
        .all(repo.conn())
        .await?
        .iter()
        .map(|c| c.intent_score)
        .sum();
    tx.commit().await?;
    ensure!(
        stored == got.signals,
        "{label}: {stored} signals stored, {} expected",
        got.signals
    );
    ensure!(
        total == weight,
        "{label}: the scores add up to {total}, the signals to {weight}"
    );

    let raw = raw_insert(&app, operator, companies, cfg).await?;
    println!(
        "{label}: {} rows inserted directly in {:.2} s",
        cfg.events,
        raw.as_secs_f64()
    );
    Ok((backend, accept, score, raw))
}

/// A cell like the tests' (jobs and event dispatch left to the bench), with the production
/// default of HTTP workers (one per core) and the hook in a rate-limit group of its own: under the
/// default `general` group (100 requests a minute per caller) most deliveries would be refused.
async fn cell(db: &TestDb) -> anyhow::Result<TestApp> {
    let env = [
        ("CELL__MODULES__ABM__HOOK_SECRETS", SECRET),
        ("CELL__JOBS__RUN", "false"),
        ("CELL__EVENTS__DISPATCH", "false"),
    ];
    let secrets = ["modules.abm.hook_secrets".to_owned()];
    let mut config = testkit::cell_config_with_secrets(db, TOML, &env, &secrets)?;
    config.http.workers = None;
    let hooks = kernel::ratelimit::GroupLimit {
        limit: 1_000_000,
        window_secs: 60,
        org_limit: None,
    };
    config.rate_limit.groups.insert("hooks".into(), hooks);
    config
        .rate_limit
        .routes
        .insert("/api/hooks".into(), "hooks".into());
    let modules: Vec<Box<dyn PlatformModule>> = vec![
        Box::new(iam::Iam::default()),
        Box::new(tenancy::Tenancy::default()),
        Box::new(abm::Abm::default()),
    ];
    TestApp::start(config, modules).await
}

/// Prospect `i` owns `prospect<i>.example`; contact `c` (distinct id `ph-<c>`) works at prospect
/// `c % prospects`. Returns the prospects' ids.
async fn seed(app: &TestApp, operator: Uuid, cfg: &Config) -> anyhow::Result<Vec<Uuid>> {
    let now = Utc::now();
    let companies: Vec<Uuid> = (0..cfg.prospects).map(|_| Uuid::now_v7()).collect();
    let (mut prospects, mut domains, mut contacts, mut identities) =
        (vec![], vec![], vec![], vec![]);
    for (i, &id) in companies.iter().enumerate() {
        prospects.push(prospect_company::ActiveModel {
            id: Set(id),
            org_id: Set(operator),
            name: Set(format!("Prospect {i}")),
            domain: Set(format!("prospect{i}.example")),
            intent_score: Set(0),
            stage: Set("new".into()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        domains.push(company_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(operator),
            prospect_company_id: Set(id),
            domain: Set(format!("prospect{i}.example")),
            is_primary: Set(true),
            created_at: Set(now),
        });
    }
    for c in 0..cfg.contacts {
        let id = Uuid::now_v7();
        contacts.push(contact::ActiveModel {
            id: Set(id),
            org_id: Set(operator),
            prospect_company_id: Set(pick(&companies, c)),
            email: Set(format!("person{c}@prospect{}.example", c % cfg.prospects)),
            status: Set("new".into()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        identities.push(contact_identity::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(operator),
            contact_id: Set(id),
            identity_type: Set("posthog_distinct_id".into()),
            identity_value: Set(format!("ph-{c}")),
            created_at: Set(now),
        });
    }
    let tx = app.ctx.db().tenant(operator).await?;
    insert_chunked(&tx, prospects).await?;
    insert_chunked(&tx, domains).await?;
    insert_chunked(&tx, contacts).await?;
    insert_chunked(&tx, identities).await?;
    tx.commit().await?;
    Ok(companies)
}

fn pick(ids: &[Uuid], i: usize) -> Uuid {
    ids.get(i % ids.len().max(1)).copied().unwrap_or_default()
}

/// Inserts `rows` 500 to a statement in `tx` (the rows carry the transaction's org).
async fn insert_chunked<A: ActiveModelTrait + Clone>(
    tx: &TenantTx,
    rows: Vec<A>,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(500) {
        A::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(tx.unscoped())
            .await?;
    }
    Ok(())
}

/// The deliveries as (`webhook-id`, body), built before the clock starts; what the hook must
/// report for them; and the signals' total weight. Of the events: 55 % pricing page views and
/// 15 % downloads of known contacts (signals), 15 % blog views of known contacts (dropped: no
/// rule), 15 % pricing views of unknown visitors without an IP (unattributed).
fn generate(cfg: &Config) -> (Vec<(String, String)>, Report, i64) {
    let mut rng = Rng(cfg.seed);
    let mut expected = Report {
        received: cfg.events as u64,
        ..Report::default()
    };
    let mut weight = 0;
    let now = Utc::now().to_rfc3339();
    let mut events = Vec::with_capacity(cfg.events);
    for i in 0..cfg.events {
        let known = format!("ph-{}", rng.below(cfg.contacts));
        let (name, distinct, path) = match rng.below(100) {
            0..55 => {
                (expected.signals, weight) = (expected.signals + 1, weight + 20);
                let path = ["/pricing", "/pricing/launch", "/pricing/mobility"][rng.below(3)];
                ("$pageview", known, path.to_owned())
            }
            55..70 => {
                (expected.signals, weight) = (expected.signals + 1, weight + 15);
                ("content_download", known, "/resources".to_owned())
            }
            70..85 => {
                expected.dropped += 1;
                ("$pageview", known, format!("/blog/post-{}", rng.below(200)))
            }
            _ => {
                expected.unattributed += 1;
                ("$pageview", format!("anon-{i}"), "/pricing".to_owned())
            }
        };
        let properties = json!({
            "$current_url": format!("https://fullorbit.example{path}"), "$pathname": path,
            "$host": "fullorbit.example", "$browser": "Chrome", "$os": "Mac OS X",
            "$device_type": "Desktop", "$referrer": "https://www.google.com/", "$lib": "web",
            "$session_id": format!("sess-{}", rng.below(10_000)),
            "asset": format!("Launch Guide vol. {}", rng.below(5)),
        });
        events.push(json!({
            "event": {"uuid": Uuid::now_v7(), "event": name, "distinct_id": distinct,
                      "properties": properties, "timestamp": now, "elements_chain": ""},
            "person": {"properties": {}},
        }));
    }
    let deliveries = events.chunks(cfg.batch).enumerate();
    let deliveries = deliveries.map(|(i, b)| (format!("msg_{i}"), Value::from(b).to_string()));
    (deliveries.collect(), expected, weight)
}

/// Runs `job(0)` … `job(jobs - 1)`, `concurrency` at a time; returns the wall time and the
/// results (in no particular order).
async fn parallel<T, F, Fut>(
    jobs: usize,
    concurrency: usize,
    job: F,
) -> anyhow::Result<(Duration, Vec<T>)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
    T: Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for _ in 0..concurrency {
        let (next, job) = (next.clone(), job.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return anyhow::Ok(out);
                }
                out.push(job(i).await?);
            }
        });
    }
    let mut all = Vec::with_capacity(jobs);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok((start.elapsed(), all))
}

/// POSTs every delivery, `concurrency` at a time, each signed when sent; every answer must be a
/// 200. Returns the wall time and the reports added up.
async fn deliver(
    app: &TestApp,
    deliveries: Vec<(String, String)>,
    concurrency: usize,
) -> anyhow::Result<(Duration, Report)> {
    let count = deliveries.len();
    let deliveries = Arc::new(deliveries);
    let secret = WebhookSecret::parse(SECRET)?;
    let (client, url) = (app.client.clone(), app.url("/api/hooks/posthog"));
    let post = move |i: usize| {
        let (deliveries, secret) = (deliveries.clone(), secret.clone());
        let req = client.post(&url);
        async move {
            let (id, body) = deliveries.get(i).context("no such delivery")?;
            let ts = Utc::now().timestamp();
            let res = req
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sign(&secret, id, ts, body.as_bytes()))
                .body(body.clone())
                .send()
                .await?;
            let (status, text) = (res.status(), res.text().await?);
            ensure!(status.as_u16() == 200, "{id}: {status} {text}");
            Ok(serde_json::from_str::<Report>(&text)?)
        }
    };
    let (took, reports) = parallel(count, concurrency, post).await?;
    Ok((took, reports.into_iter().sum()))
}

/// Runs the queued jobs (the deliveries' `abm.score`) until none is pending, retries included.
/// Returns the wall time and the runs.
async fn run_jobs(app: &TestApp) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let mut runs = 0;
    loop {
        let n = app.ctx.jobs().run_once(&app.ctx).await?;
        runs += n;
        if n == 0 {
            if count_rows(app, "kernel_jobs WHERE status = 'pending'").await? == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let dead = count_rows(app, "kernel_jobs WHERE status = 'dead'").await?;
    ensure!(dead == 0, "{dead} score jobs died");
    Ok((start.elapsed(), runs))
}

/// `SELECT count(*) FROM <from>` on the kernel's tables (system context).
async fn count_rows(app: &TestApp, from: &str) -> anyhow::Result<i64> {
    let db = app.ctx.db().system();
    let sql = format!("SELECT count(*) AS n FROM {from}");
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(db.backend(), sql))
        .await?;
    Ok(row.context("count(*) returned no row")?.try_get("", "n")?)
}

/// The database's own rate: as many signal rows as events were sent, inserted like the hook
/// inserts them (`INSERT … ON CONFLICT DO NOTHING` in a tenant transaction of the operator org),
/// a delivery's worth per transaction, `concurrency` transactions at a time.
async fn raw_insert(
    app: &TestApp,
    operator: Uuid,
    companies: Vec<Uuid>,
    cfg: &Config,
) -> anyhow::Result<Duration> {
    let (db, companies, events, batch) = (
        app.ctx.db().clone(),
        Arc::new(companies),
        cfg.events,
        cfg.batch,
    );
    let insert = move |b: usize| {
        let (db, companies) = (db.clone(), companies.clone());
        async move {
            let now = Utc::now();
            let rows =
                (b * batch..events.min(b * batch + batch)).map(|i| intent_signal::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(operator),
                    prospect_company_id: Set(pick(&companies, i)),
                    contact_id: Set(Some(Uuid::now_v7())),
                    visitor_id: Set(None),
                    signal_type: Set("pricing_view".into()),
                    service_lane: Set(Some("Launch".into())),
                    topic: Set(Some("/pricing".into())),
                    weight: Set(20),
                    occurred_at: Set(now),
                    event_uuid: Set(Some(Uuid::now_v7())),
                    created_at: Set(now),
                });
            let tx = db.tenant(operator).await?;
            let cols = [
                intent_signal::Column::OrgId,
                intent_signal::Column::EventUuid,
            ];
            let stored = intent_signal::Entity::insert_many(rows)
                .on_conflict(OnConflict::columns(cols).do_nothing().to_owned())
                .exec_without_returning(tx.unscoped())
                .await?;
            tx.commit().await?;
            anyhow::Ok(stored)
        }
    };
    let (took, stored) = parallel(events.div_ceil(batch), cfg.concurrency, insert).await?;
    let stored: u64 = stored.into_iter().sum();
    ensure!(
        stored == events as u64,
        "{stored} of {events} raw rows inserted"
    );
    Ok(took)
}

/// SplitMix64: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}
