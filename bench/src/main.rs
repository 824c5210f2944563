//! `cellbench`: the performance harness of the cell platform (see README.md).
//!
//! `cellbench run` builds nothing: it takes a built cell binary (`target/release/fullorbit` by
//! default), and for each backend: starts it on an empty database (cold start with migrations,
//! idle RSS), creates orgs, users and API keys through the cell's own CLI and API, generates the
//! dataset in bulk, starts it again, runs every load scenario with the database's own figure
//! beside it, and writes one markdown report.

mod cell;
mod dataset;
mod load;
mod peer;
mod raw;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kernel::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

use crate::cell::Launch;
use crate::dataset::{Dataset, Sizes};
use crate::load::{Scenario, Shared};
use crate::report::{BackendReport, Footprint, Row};

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PASSWORD: &str = "Bench-password-for-load-42";
const ADMIN: &str = "admin@bench.test";

#[derive(Debug, Parser)]
#[command(about = "Load tests of a whole cell, beside the database's own limit")]
enum Cli {
    /// Everything, on each backend; writes the markdown report.
    Run(RunArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// `sqlite`, `postgres`, or both (comma-separated).
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// The cell binary (built with its product TOML beside the repository's `products/`).
    #[arg(long, default_value = "target/release/fullorbit")]
    cell: PathBuf,
    /// Other cell binaries whose size the report lists.
    #[arg(long, value_delimiter = ',', default_value = "target/release/suite")]
    sizes_of: Vec<PathBuf>,
    /// PostgreSQL server (a superuser); the run creates and drops its own databases there.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg: String,
    /// Working directory (data, logs); emptied first.
    #[arg(long, default_value = "target/cellbench")]
    work: PathBuf,
    /// Where the markdown report goes.
    #[arg(long, default_value = "target/cellbench/report.md")]
    out: PathBuf,
    /// Seconds per scenario (after all users have started).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Concurrent users (HTTP connections) per scenario.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Events per batched delivery.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Tenant organizations besides the operator's (each with an owner and an API key).
    #[arg(long, default_value_t = 10)]
    orgs: u32,
    /// Internal users besides the admin (the login scenario signs them in).
    #[arg(long, default_value_t = 10)]
    logins: u32,
    #[arg(long, default_value_t = 100_000)]
    prospects: u64,
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    #[arg(long, default_value_t = 10_000_000)]
    signals: u64,
    #[arg(long, default_value_t = 90)]
    days: u64,
    /// pgbench's scale for its select-only reference (100 000 rows a unit).
    #[arg(long, default_value_t = 10)]
    pgbench_scale: u32,
    /// A run of seconds for CI: a small dataset, 2 s per scenario, 2 users; overrides the sizes.
    #[arg(long)]
    tiny: bool,
    /// The peer's binary (the Loco.rs starter `scripts/bench.sh --peer` builds): its read by
    /// id is measured after the cell's, same load, same database server.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// The peer's directory (its `config/`); needed with `--peer`.
    #[arg(long)]
    peer_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let Cli::Run(mut args) = Cli::parse();
    if args.tiny {
        (args.prospects, args.contacts, args.signals) = (200, 1_000, 5_000);
        (args.duration, args.users, args.orgs, args.logins) = (2, 2, 1, 1);
        args.batch = args.batch.min(10);
        args.pgbench_scale = 1;
    }
    anyhow::ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be 1..=1000 (the hook's max_batch)"
    );
    anyhow::ensure!(
        args.users > 0 && args.duration > 0,
        "--users and --duration must be positive"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for backend in &args.backends {
        let r = match backend.as_str() {
            "sqlite" | "postgres" => bench_backend(&args, backend).await,
            other => anyhow::bail!("unknown backend `{other}`: sqlite or postgres"),
        };
        reports.push(r.with_context(|| format!("{backend} run"))?);
    }
    let mut binaries = vec![(args.cell.clone(), cell::file_size(&args.cell)?)];
    for bin in &args.sizes_of {
        if let Ok(size) = cell::file_size(bin) {
            binaries.push((bin.clone(), size));
        }
    }
    let markdown = report::render(&args_summary(&args), &binaries, &reports);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &markdown)?;
    println!("{markdown}");
    println!("report written to {}", args.out.display());
    let failures: u64 = reports
        .iter()
        .flat_map(|r| &r.rows)
        .map(|r| r.outcome.failures)
        .sum();
    let lost: u64 = reports.iter().map(|r| r.lost_events).sum();
    anyhow::ensure!(
        failures == 0 && lost == 0,
        "{failures} failed requests, {lost} accepted events not stored"
    );
    Ok(())
}

fn args_summary(args: &RunArgs) -> String {
    format!(
        "{} prospects (each with a primary domain), {} contacts with one PostHog identity each, {} intent \
         signals over {} days (seed {}); {} tenant orgs with an owner and an API key, {} internal users \
         besides the admin; {} s per scenario, {} concurrent users, {} events per batched delivery",
        args.prospects,
        args.contacts,
        args.signals,
        args.days,
        args.seed,
        args.orgs,
        args.logins,
        args.duration,
        args.users,
        args.batch
    )
}

/// The cell's database and how the cell reaches it.
struct Target {
    /// The URL the cell and the generator use (the table owner).
    url: String,
    /// The pgbench database (PostgreSQL only).
    pgbench_url: Option<String>,
    env: Vec<(String, String)>,
}

async fn target(args: &RunArgs, backend: &str, dir: &std::path::Path) -> anyhow::Result<Target> {
    let mut env = vec![
        (
            "CELL__MODULES__ABM__HOOK_SECRETS".to_owned(),
            HOOK_SECRET.to_owned(),
        ),
        (
            "CELL__CELL__SECRET_KEY".to_owned(),
            "bench-secret-key-0123456789abcdef-0123456789".to_owned(),
        ),
        (
            "CELL__MODULES__AUTH__JWT_SECRET".to_owned(),
            "bench-jwt-secret-0123456789abcdef-0123456789".to_owned(),
        ),
        (
            "CELL__MODULES__ABM__IP_SALT".to_owned(),
            "bench-ip-salt".to_owned(),
        ),
        ("CELL__TELEMETRY__LOG_FORMAT".to_owned(), "json".to_owned()),
    ];
    if backend == "sqlite" {
        let url = format!(
            "sqlite://{}/fullorbit.db?mode=rwc",
            dir.join("data").display()
        );
        env.push(("CELL__DATABASE__URL".into(), url.clone()));
        return Ok(Target {
            url,
            pgbench_url: None,
            env,
        });
    }
    let admin = Database::connect(&args.pg).await.context("PostgreSQL")?;
    for sql in [
        "DROP DATABASE IF EXISTS cellbench WITH (FORCE)",
        "DROP DATABASE IF EXISTS cellbench_pgbench WITH (FORCE)",
        "CREATE DATABASE cellbench",
        "CREATE DATABASE cellbench_pgbench",
        "DO $$ BEGIN CREATE ROLE cellbench_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    ] {
        admin
            .execute_unprepared(sql)
            .await
            .with_context(|| sql.to_owned())?;
    }
    admin.close().await?;
    let base = args
        .pg
        .rsplit_once('/')
        .map_or(args.pg.as_str(), |(b, _)| b);
    let url = format!("{base}/cellbench");
    env.push(("CELL__DATABASE__URL".into(), url.clone()));
    env.push(("CELL__DATABASE__APP_ROLE".into(), "cellbench_app".into()));
    Ok(Target {
        url,
        pgbench_url: Some(format!("{base}/cellbench_pgbench")),
        env,
    })
}

async fn bench_backend(args: &RunArgs, backend: &str) -> anyhow::Result<BackendReport> {
    // Only this backend's files are replaced: a report of an earlier run stays.
    let dir = std::path::absolute(args.work.join(backend))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data"))?;
    let log = dir.join("cell.log");
    let t = target(args, backend, &dir).await?;
    let mode = if backend == "postgres" {
        "production"
    } else {
        "development"
    };
    let launch = Launch {
        bin: std::path::absolute(&args.cell)?,
        data_dir: dir.join("data"),
        env: t.env.clone(),
        set: [
            format!("cell.mode={mode}"),
            // Production requires the address links are built on; the bench follows none.
            "http.public_url=http://127.0.0.1".into(),
            // The product's per-caller limits would refuse a load test's traffic in the first
            // second; the bench measures the cell, not its limiter's refusals.
            "rate_limit.groups.general.limit=1000000000".into(),
            "rate_limit.groups.login.limit=1000000000".into(),
            "rate_limit.groups.login_ip.limit=1000000000".into(),
            "rate_limit.groups.hooks.limit=1000000000".into(),
        ]
        .into(),
    };
    println!("[{backend}] cold start on an empty database");
    let first = launch.start(&log).await?;
    let first_start = first.ready_in;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_empty = cell::usage(first.pid())?.rss;
    first.stop()?;

    println!("[{backend}] orgs and users through the cell's CLI");
    let users_create = |email: &str, org: &str, role: &str| {
        let args = [
            "users", "create", "--email", email, "--org", org, "--role", role,
        ];
        launch.command(&args, &format!("{PASSWORD}\n"))
    };
    users_create(ADMIN, "fullorbit", "internal_admin")?;
    let mut logins = vec![ADMIN.to_owned()];
    for i in 0..args.logins {
        let email = format!("sales{i}@bench.test");
        users_create(&email, "fullorbit", "internal_sales")?;
        logins.push(email);
    }
    let mut owners = Vec::new();
    for o in 0..args.orgs {
        let email = format!("owner{o}@org{o}.bench.test");
        users_create(&email, &format!("Bench Org {o}"), "owner")?;
        owners.push(email);
    }

    println!("[{backend}] generating the dataset");
    let conn = generator_connection(&t.url).await?;
    let org = operator_org(&conn).await?;
    let sizes = Sizes {
        prospects: args.prospects,
        contacts: args.contacts,
        signals: args.signals,
        days: args.days,
    };
    let seeded = dataset::seed(&conn, org, &sizes, args.seed).await?;
    let data = Dataset {
        org,
        seed: args.seed,
        sizes,
        engaged: seeded.engaged,
    };
    // What autovacuum does after a bulk load on a live database: statistics, and on PostgreSQL
    // the visibility map that lets index-only scans (the list's count) skip the heap.
    conn.execute_unprepared(match backend {
        "postgres" => "VACUUM ANALYZE",
        _ => "ANALYZE",
    })
    .await?;
    // The references run with the cell's pool size, not the generator's one connection.
    conn.close().await?;
    let clients = 10; // the product's database.max_connections
    let conn = reference_connection(&t.url, clients).await?;
    println!(
        "[{backend}] {} rows in {:.1} s ({:.0} rows/s)",
        seeded.rows,
        seeded.took.as_secs_f64(),
        seeded.rows as f64 / seeded.took.as_secs_f64()
    );

    let cell = launch.start(&log).await?;
    let loaded_start = cell.ready_in;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_loaded = cell::usage(cell.pid())?.rss;

    let http = reqwest::Client::new();
    let token = login(&http, &cell.base, ADMIN).await?;
    let api_key = create_api_key(&http, &cell.base, &token).await?;
    for owner in &owners {
        let t = login(&http, &cell.base, owner).await?;
        create_api_key(&http, &cell.base, &t).await?;
    }
    let shared = Arc::new(Shared::new(
        data,
        token,
        api_key,
        logins,
        PASSWORD.to_owned(),
        abm::webhook::WebhookSecret::parse(HOOK_SECRET)?,
        args.batch,
    ));

    let run_time = Duration::from_secs(args.duration);
    let mut rows = Vec::new();
    let signals_before = count_signals(&conn, org).await?;
    for scenario in [
        Scenario::ReadById,
        Scenario::ReadByIdApiKey,
        Scenario::List,
        Scenario::IngestSingle,
        Scenario::IngestBatch,
        Scenario::Mixed,
        Scenario::Login,
    ] {
        settle(&conn, backend).await?;
        println!("[{backend}] {}", scenario.label());
        let row = measure(
            (&cell.base, cell.pid()),
            &shared,
            scenario,
            args.users,
            run_time,
            None,
        )
        .await?;
        let saturated = (scenario == Scenario::ReadById).then_some(row.outcome.per_sec);
        rows.push(row);
        // p99 against p50 at half the saturated throughput of reads by id, on the same data.
        if let Some(per_sec) = saturated {
            let half = (per_sec / 2.0).max(1.0) as usize;
            settle(&conn, backend).await?;
            println!("[{backend}] read by id at {half} requests/s");
            let row = measure(
                (&cell.base, cell.pid()),
                &shared,
                scenario,
                args.users,
                run_time,
                Some(half),
            )
            .await?;
            rows.push(row);
        }
    }
    // Every event the hook accepted is stored (the score job runs beside; it deletes nothing).
    let stored = count_signals(&conn, org)
        .await?
        .saturating_sub(signals_before);
    let accepted = shared.accepted.load(Ordering::Relaxed);
    let lost = accepted.saturating_sub(stored);
    cell.stop()?;
    if let Some(bin) = &args.peer {
        let peer_dir = args
            .peer_dir
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--peer needs --peer-dir (its config/)"))?;
        let launch = peer::PeerLaunch {
            bin: std::path::absolute(bin)?,
            dir: std::path::absolute(peer_dir)?,
        };
        rows.push(peer_row(args, backend, &dir, &launch, &shared, run_time).await?);
    }

    println!("[{backend}] the database's own figures");
    let reference = references(args, &t, &conn, data, clients, run_time).await?;
    conn.close().await?;
    Ok(BackendReport {
        backend: backend.to_owned(),
        seeded,
        footprint: Footprint {
            first_start,
            loaded_start,
            idle_empty,
            idle_loaded,
        },
        rows,
        reference,
        accepted_events: accepted,
        lost_events: lost,
        clients,
        batch: args.batch,
    })
}

/// The peer's read by id on this backend (its own database on the same server), with the same
/// users and duration as the cell's.
async fn peer_row(
    args: &RunArgs,
    backend: &str,
    dir: &std::path::Path,
    launch: &peer::PeerLaunch,
    shared: &Arc<Shared>,
    run_time: Duration,
) -> anyhow::Result<Row> {
    println!("[{backend}] the peer (Loco.rs): read by id");
    let url = match backend {
        "postgres" => {
            let admin = generator_connection(&args.pg).await?;
            admin
                .execute_unprepared("DROP DATABASE IF EXISTS cellbench_peer")
                .await?;
            admin
                .execute_unprepared("CREATE DATABASE cellbench_peer")
                .await?;
            admin.close().await?;
            format!(
                "{}/cellbench_peer",
                args.pg.rsplit_once('/').map_or(&*args.pg, |(h, _)| h)
            )
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("peer.sqlite").display()),
    };
    let peer = launch.start(&url, &dir.join("peer.log")).await?;
    let prepared = peer.prepare().await?;
    let _ = shared.peer.set(prepared);
    let row = measure(
        (&peer.base, peer.pid()),
        shared,
        Scenario::PeerReadById,
        args.users,
        run_time,
        None,
    )
    .await?;
    peer.stop()?;
    Ok(row)
}

/// Lets the database go quiet before a scenario, so none runs in the wake of the previous one's
/// writes: waits until the cell's job queue has nothing due, forces a checkpoint (PostgreSQL's
/// `CHECKPOINT`, SQLite's WAL checkpoint), and on PostgreSQL waits until no autovacuum worker
/// runs. At most two minutes; what runs after that is part of the figure.
async fn settle(conn: &DatabaseConnection, backend: &str) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let (checkpoint, busy) = match backend {
        "postgres" => (
            "CHECKPOINT",
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') \
             + (SELECT count(*) FROM kernel_jobs WHERE status = 'pending' AND next_attempt_ms <= $1) AS n",
        ),
        _ => (
            "PRAGMA wal_checkpoint(PASSIVE)",
            "SELECT count(*) AS n FROM kernel_jobs WHERE status = 'pending' AND next_attempt_ms <= $1",
        ),
    };
    let mut checkpointed = false;
    while start.elapsed() < Duration::from_secs(120) {
        let now = chrono::Utc::now().timestamp_millis();
        let n: i64 = conn
            .query_one_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                busy,
                [now.into()],
            ))
            .await?
            .map(|r| r.try_get("", "n"))
            .transpose()?
            .unwrap_or(0);
        if n == 0 && checkpointed {
            break;
        }
        if n == 0 {
            conn.execute_unprepared(checkpoint).await?;
            checkpointed = true;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("  settled in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Runs one scenario and reads the cell's peak RSS and CPU over it.
async fn measure(
    (base, pid): (&str, u32),
    shared: &Arc<Shared>,
    scenario: Scenario,
    users: usize,
    run_time: Duration,
    throttle: Option<usize>,
) -> anyhow::Result<Row> {
    cell::reset_peak(pid)?;
    let before = cell::usage(pid)?;
    let outcome = load::run(base, shared.clone(), scenario, users, run_time, throttle).await?;
    let after = cell::usage(pid)?;
    // The goose run includes the users' start (well under a second); CPU is over the whole run.
    let cpu = (after.cpu.saturating_sub(before.cpu)).as_secs_f64() / outcome.seconds;
    Ok(Row {
        scenario,
        outcome,
        peak_rss: after.peak_rss,
        cpu_cores: cpu,
        throttle,
    })
}

/// The database's figures for the same work, same connections.
async fn references(
    args: &RunArgs,
    t: &Target,
    conn: &DatabaseConnection,
    data: Dataset,
    clients: u32,
    run_time: Duration,
) -> anyhow::Result<report::Reference> {
    let direct = |q| raw::direct(conn, data, q, clients, run_time);
    let read = direct(raw::Query::ReadById).await?;
    let list = direct(raw::Query::List).await?;
    let insert = direct(raw::Query::Insert { batch: args.batch }).await?;
    let (select_only, pg_insert) = match &t.pgbench_url {
        Some(pgbench_url) => {
            let secs = run_time.as_secs();
            raw::pgbench_init(pgbench_url, args.pgbench_scale)?;
            let s = raw::pgbench_select_only(pgbench_url, clients, secs)?;
            let i = raw::pgbench_insert(&t.url, &data, args.batch, clients, secs);
            raw::delete_reference_rows(conn).await?;
            (Some(s), Some(i?))
        }
        None => (None, None),
    };
    Ok(report::Reference {
        read,
        list,
        insert_rows: insert,
        pgbench_select_only: select_only,
        pgbench_insert_rows: pg_insert,
    })
}

/// The generator's connection: on SQLite one connection with a 1 GiB page cache, so the
/// signal table's secondary indexes (random inserts) are not written back page by page.
async fn generator_connection(url: &str) -> anyhow::Result<DatabaseConnection> {
    if !url.starts_with("sqlite:") {
        return Ok(Database::connect(url).await?);
    }
    let mut opts = kernel::sea_orm::ConnectOptions::new(url);
    opts.max_connections(1).min_connections(1);
    let conn = Database::connect(opts).await?;
    conn.execute_unprepared("PRAGMA cache_size = -1048576")
        .await?;
    Ok(conn)
}

/// `clients` connections, on SQLite with the cell's settings (sea-orm opens one connection to a
/// SQLite file unless told otherwise: the references would run on one connection, not ten).
async fn reference_connection(url: &str, clients: u32) -> anyhow::Result<DatabaseConnection> {
    let mut opts = kernel::sea_orm::ConnectOptions::new(url);
    opts.max_connections(clients)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.synchronous(kernel::sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
        });
    Ok(Database::connect(opts).await?)
}

async fn operator_org(conn: &DatabaseConnection) -> anyhow::Result<uuid::Uuid> {
    use kernel::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tenancy::entity::organization;
    let org = organization::Entity::find()
        .filter(organization::Column::Slug.eq("fullorbit"))
        .one(conn)
        .await?
        .context("no operator org `fullorbit`: did the cell start?")?;
    Ok(org.id)
}

async fn count_signals(conn: &DatabaseConnection, org: uuid::Uuid) -> anyhow::Result<u64> {
    use abm::store::entity::intent_signal;
    use kernel::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    Ok(intent_signal::Entity::find()
        .filter(intent_signal::Column::OrgId.eq(org))
        .count(conn)
        .await?)
}

/// POSTs `body` (as `token`'s bearer, if any) and returns the answer's string `field`.
async fn post_for(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
    field: &str,
) -> anyhow::Result<String> {
    let mut req = http.post(&url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let answer: serde_json::Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {answer}");
    answer[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no `{field}` in {answer}"))
}

async fn login(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let body = json!({"email": email, "password": PASSWORD});
    let url = format!("{base}/api/v1/auth/login");
    post_for(http, url, None, body, "access_token").await
}

async fn create_api_key(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let body = json!({"name": "bench", "scopes": ["abm:read"]});
    let url = format!("{base}/api/v1/api-keys");
    post_for(http, url, Some(token), body, "key").await
}
