//! Check latency on a generated graph of about a million tuples, on SQLite and PostgreSQL: a
//! direct grant, a direct grant under a caveat (evaluated with the request's context), a team
//! grant, a 5-deep folder arrow and a denied check, each cold (an engine
//! without a cache: every sub-problem from the database) and cached (a warm cache, at the latest
//! revision, and with a revision token); and lookup_resources over 10 000 documents.
//!
//! `cargo bench -p iam` (release). Criterion measures each case; the bench then times a fixed
//! number of iterations of each itself and prints p50 / p95 / p99 / mean as a table.
//!
//! Environment (all optional):
//! - `BENCH_DATABASE_URL`: the PostgreSQL server (default `postgres://postgres@127.0.0.1:5432/postgres`);
//!   the bench creates its own database there and drops it afterwards;
//! - `BENCH_BACKENDS`: `sqlite,postgres` (default) or either one;
//! - `BENCH_TUPLES`: tuples to generate, over 10 orgs (default 1 000 000);
//! - `BENCH_ITERATIONS`: timed iterations of each check for the percentiles (default 1000);
//! - `BENCH_LOOKUP_ITERATIONS`: of each lookup (default 10; a cold lookup takes seconds, so it is
//!   timed by these iterations only, not by criterion as well);
//! - `BENCH_SEED`: the generator's seed (default 42); the same seed gives the same graph.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use criterion::{Criterion, SamplingMode};
use iam::{
    CacheConfig, CaveatContext, Engine, ObjectRef, ReadOptions, Schema, SubjectRef, Tuple,
    WriteBatch,
};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::runtime::Runtime;
use uuid::Uuid;

const SCHEMA: &str = "
definition user {}
caveat in_network(ip ipaddress, cidr string) {
    ip.in_cidr(cidr)
}
definition org {
    relation admin: user
    relation member: user
}
definition team {
    relation member: user | team#member
}
definition folder {
    relation org: org
    relation parent: folder
    relation viewer: user | team#member
    permission view = viewer + parent->view + org->admin
}
definition doc {
    relation parent: folder
    relation viewer: user | team#member | user with in_network
    permission view = viewer + parent->view
}
";

/// Tenant orgs sharing the table; the probes run in the first.
const ORGS: usize = 10;
/// Tuples per loading transaction (one INSERT statement each).
const LOAD_BATCH: usize = 50_000;
/// Documents lookup_resources finds.
const LOOKUP_DOCS: usize = 10_000;

fn main() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut rows = Vec::new();
    let mut loads = Vec::new();
    for backend in &cfg.backends {
        let bench_db = rt.block_on(BenchDb::open(*backend))?;
        let result = run_backend(&mut c, &rt, &cfg, *backend, bench_db.conn.clone());
        rt.block_on(bench_db.close())?;
        let (load, mut r) = result?;
        loads.push(load);
        rows.append(&mut r);
    }
    c.final_summary();
    println!();
    for l in &loads {
        println!(
            "{}: {} tuples in {} orgs loaded in {:.1} s ({:.0} tuples/s)",
            l.backend,
            l.tuples,
            ORGS,
            l.took.as_secs_f64(),
            l.tuples as f64 / l.took.as_secs_f64()
        );
    }
    println!();
    println!("| backend | query | mode | iterations | p50 | p95 | p99 | mean |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.backend,
            r.query,
            r.mode,
            r.iterations,
            fmt(r.p50),
            fmt(r.p95),
            fmt(r.p99),
            fmt(r.mean)
        );
    }
    Ok(())
}

struct Config {
    backends: Vec<Backend>,
    tuples: usize,
    iterations: usize,
    lookup_iterations: usize,
    seed: u64,
}

impl Config {
    fn from_env() -> anyhow::Result<Self> {
        fn num<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
        where
            T::Err: std::error::Error + Send + Sync + 'static,
        {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().with_context(|| format!("{name}={v}")),
                Err(_) => Ok(default),
            }
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
        Ok(Self {
            backends,
            tuples: num("BENCH_TUPLES", 1_000_000)?,
            iterations: num("BENCH_ITERATIONS", 1000)?,
            lookup_iterations: num("BENCH_LOOKUP_ITERATIONS", 10)?,
            seed: num("BENCH_SEED", 42)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The bench's own database: a SQLite file in a temporary folder, or a new PostgreSQL
/// database on the server, dropped by [`BenchDb::close`].
struct BenchDb {
    conn: DatabaseConnection,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl BenchDb {
    async fn open(backend: Backend) -> anyhow::Result<Self> {
        let (url, dir, pg) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                );
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let server = std::env::var("BENCH_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let admin = sea_orm::Database::connect(server.as_str())
                    .await
                    .with_context(|| {
                        format!(
                            "cannot reach PostgreSQL at {} (set BENCH_DATABASE_URL, or BENCH_BACKENDS=sqlite)",
                            kernel::config::redact_url(&server)
                        )
                    })?;
                let name = format!("iam_bench_{}", Uuid::now_v7().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                admin.close().await?;
                let mut url = url::Url::parse(&server)?;
                url.set_path(&format!("/{name}"));
                (url.to_string(), None, Some((server, name)))
            }
        };
        // As the cell connects (kernel::Db::connect): WAL on SQLite, a small pool.
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(4)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
            });
        let conn = sea_orm::Database::connect(opts).await?;
        let db = Self {
            conn,
            _dir: dir,
            pg,
        };
        if let Err(e) = iam::conformance::migrate(&db.conn).await {
            db.close().await?;
            return Err(e);
        }
        Ok(db)
    }

    async fn close(self) -> anyhow::Result<()> {
        self.conn.close().await?;
        if let Some((server, name)) = self.pg {
            let admin = sea_orm::Database::connect(server.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

struct Load {
    backend: Backend,
    tuples: u64,
    took: Duration,
}

struct Row {
    backend: Backend,
    query: &'static str,
    mode: &'static str,
    iterations: usize,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    mean: Duration,
}

/// A check to time, and the answer it must give.
struct Probe {
    name: &'static str,
    object: ObjectRef,
    subject: SubjectRef,
    /// The request's caveat context (JSON), if any.
    context: Option<&'static str>,
    allowed: bool,
}

fn probes() -> Vec<Probe> {
    let user = |id: &str| SubjectRef::object("user", id);
    vec![
        Probe {
            name: "direct grant",
            object: ObjectRef::new("doc", "direct"),
            subject: user("alice"),
            context: None,
            allowed: true,
        },
        Probe {
            name: "direct caveated grant",
            object: ObjectRef::new("doc", "caveated"),
            subject: user("dave"),
            context: Some(r#"{"ip": "10.1.2.3"}"#),
            allowed: true,
        },
        Probe {
            name: "team grant",
            object: ObjectRef::new("doc", "team"),
            subject: user("bob"),
            context: None,
            allowed: true,
        },
        Probe {
            name: "5-deep folder arrow",
            object: ObjectRef::new("doc", "deep"),
            subject: user("carol"),
            context: None,
            allowed: true,
        },
        Probe {
            name: "denied",
            object: ObjectRef::new("doc", "deep"),
            subject: user("mallory"),
            context: None,
            allowed: false,
        },
    ]
}

fn run_backend(
    c: &mut Criterion,
    rt: &Runtime,
    cfg: &Config,
    backend: Backend,
    conn: DatabaseConnection,
) -> anyhow::Result<(Load, Vec<Row>)> {
    let db = kernel::Db::from_connection(conn);
    let schema = Schema::parse(SCHEMA)?;
    let cold = Engine::with_cache(db.clone(), schema.clone(), CacheConfig::disabled());
    let cached = Engine::new(db.clone(), schema);
    let orgs: Vec<Uuid> = (0..ORGS)
        .map(|i| Uuid::from_u128(0x1a3_0000_0000_0000_0000 + i as u128))
        .collect();
    let load = rt.block_on(load(&cold, backend, &orgs, cfg))?;
    let org = orgs[0];
    let token = rt.block_on(cold.current_revision(org))?;
    let latest = ReadOptions::default();
    let with_token = ReadOptions {
        at_least: Some(token),
        ..Default::default()
    };
    let modes: [(&'static str, &Engine, &ReadOptions); 3] = [
        ("cold", &cold, &latest),
        ("cached", &cached, &latest),
        ("cached + token", &cached, &with_token),
    ];

    let mut rows = Vec::new();
    let mut group = c.benchmark_group(format!("{backend}/check"));
    for p in probes() {
        for (mode, engine, opts) in modes {
            let opts = &ReadOptions {
                context: match p.context {
                    Some(c) => CaveatContext::parse(c).map_err(anyhow::Error::msg)?,
                    None => CaveatContext::default(),
                },
                ..opts.clone()
            };
            // Right answer first (and, for the cached modes, a warm cache).
            let got = rt.block_on(engine.check(org, &p.object, "view", &p.subject, opts))?;
            anyhow::ensure!(
                got.value == p.allowed,
                "{backend} {}: expected {}, got {}",
                p.name,
                p.allowed,
                got.value
            );
            let check = || engine.check(org, &p.object, "view", &p.subject, opts);
            group.bench_function(format!("{}/{mode}", p.name), |b| {
                b.to_async(rt)
                    .iter(|| async { std::hint::black_box(check().await) })
            });
            let samples = rt.block_on(time(cfg.iterations, check))?;
            rows.push(row(backend, p.name, mode, samples));
        }
    }
    group.finish();

    let reader = SubjectRef::object("user", "reader");
    let mut group = c.benchmark_group(format!("{backend}/lookup_resources"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3));
    for (mode, engine, opts) in &modes[..2] {
        let found = rt.block_on(engine.lookup_resources(org, "doc", "view", &reader, opts))?;
        anyhow::ensure!(
            found.value.len() == LOOKUP_DOCS,
            "{backend} lookup_resources: expected {LOOKUP_DOCS} documents, got {}",
            found.value.len()
        );
        let lookup = || engine.lookup_resources(org, "doc", "view", &reader, opts);
        if *mode != "cold" {
            group.bench_function(format!("10k documents/{mode}"), |b| {
                b.to_async(rt)
                    .iter(|| async { std::hint::black_box(lookup().await) })
            });
        }
        let samples = rt.block_on(time(cfg.lookup_iterations, lookup))?;
        rows.push(row(backend, "lookup_resources (10k docs)", mode, samples));
    }
    group.finish();
    let stats = rt.block_on(cached.cache_stats());
    println!("{backend}: cache after the runs: {stats:?}");
    Ok((load, rows))
}

/// Times `n` sequential runs of `f`, which must succeed.
async fn time<F, Fut, T, E>(n: usize, f: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let out = f().await?;
        samples.push(start.elapsed());
        std::hint::black_box(out);
    }
    Ok(samples)
}

fn row(backend: Backend, query: &'static str, mode: &'static str, mut s: Vec<Duration>) -> Row {
    s.sort_unstable();
    let pick = |q: f64| {
        let i = ((s.len() as f64 * q).ceil() as usize).clamp(1, s.len().max(1)) - 1;
        s.get(i).copied().unwrap_or_default()
    };
    let total: Duration = s.iter().sum();
    Row {
        backend,
        query,
        mode,
        iterations: s.len(),
        p50: pick(0.50),
        p95: pick(0.95),
        p99: pick(0.99),
        mean: total / u32::try_from(s.len().max(1)).unwrap_or(u32::MAX),
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// SplitMix64: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Loads every org's graph and refreshes the planner's statistics.
///
/// The tuples are validated against the schema like a write, then inserted [`LOAD_BATCH`] at a
/// time, each batch one `INSERT … SELECT` over a JSON array in a tenant transaction of its org:
/// the engine's own write path (500-row statements) would spend minutes on a million tuples,
/// which is not what this bench measures. One engine write per org then writes the caveated
/// tuples (the bulk statement has no caveat columns) and creates its revision.
async fn load(
    engine: &Engine,
    backend: Backend,
    orgs: &[Uuid],
    cfg: &Config,
) -> anyhow::Result<Load> {
    let start = Instant::now();
    let per_org = cfg.tuples / orgs.len();
    let db = engine.db();
    let (db_backend, sql) = match backend {
        Backend::Postgres => (
            DbBackend::Postgres,
            "INSERT INTO permission_tuples (org_id, object_type, object_id, relation, \
             subject_type, subject_id, subject_relation, created_at) \
             SELECT $1, t->>0, t->>1, t->>2, t->>3, t->>4, t->>5, $2 \
             FROM jsonb_array_elements($3::jsonb) AS t ON CONFLICT DO NOTHING",
        ),
        Backend::Sqlite => (
            DbBackend::Sqlite,
            "INSERT INTO permission_tuples (org_id, object_type, object_id, relation, \
             subject_type, subject_id, subject_relation, created_at) \
             SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
             json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
             json_extract(value, '$[4]'), json_extract(value, '$[5]'), ? \
             FROM json_each(?) WHERE true ON CONFLICT DO NOTHING",
        ),
    };
    let mut written = 0u64;
    for (i, org) in orgs.iter().enumerate() {
        let tuples = graph(i, per_org, cfg.seed.wrapping_add(i as u64))?;
        for t in &tuples {
            iam::store::validate_tuple(engine.schema(), t)?;
        }
        let (caveated, plain): (Vec<Tuple>, Vec<Tuple>) =
            tuples.iter().cloned().partition(|t| t.caveat.is_some());
        for chunk in plain.chunks(LOAD_BATCH) {
            let rows: Vec<[&str; 6]> = chunk
                .iter()
                .map(|t| {
                    [
                        t.object.object_type.as_str(),
                        t.object.object_id.as_str(),
                        t.relation.as_str(),
                        t.subject.subject_type.as_str(),
                        t.subject.subject_id.as_str(),
                        t.subject.relation_str(),
                    ]
                })
                .collect();
            let values: [sea_orm::Value; 3] = [
                (*org).into(),
                chrono::Utc::now().into(),
                serde_json::to_string(&rows)?.into(),
            ];
            let tx = db.tenant(*org).await?;
            tx.unscoped()
                .execute_raw(Statement::from_sql_and_values(db_backend, sql, values))
                .await?;
            tx.commit().await?;
        }
        // The org's first revision (the first tuple is already there).
        let last = caveated.into_iter().chain(plain.first().cloned());
        engine.write(*org, &WriteBatch::touch(last)).await?;
        let tx = db.tenant(*org).await?;
        let stored = tx
            .repo::<iam::store::permission_tuple::Entity>()
            .count()
            .await?;
        tx.commit().await?;
        anyhow::ensure!(
            stored == tuples.len() as u64,
            "org {i}: {stored} tuples stored, {} generated",
            tuples.len()
        );
        written += stored;
    }
    let conn = db.conn();
    match backend {
        Backend::Postgres => conn.execute_unprepared("VACUUM ANALYZE permission_tuples"),
        Backend::Sqlite => conn.execute_unprepared("ANALYZE"),
    }
    .await?;
    let took = start.elapsed();
    println!(
        "{backend}: {written} tuples in {} orgs written in {:.1} s",
        orgs.len(),
        took.as_secs_f64()
    );
    Ok(Load {
        backend,
        tuples: written,
        took,
    })
}

/// One org's graph of `size` tuples: an `org` object with admins and members, users, teams
/// (a few nested), a forest of folders under root folders of the org, and documents in them
/// shared with users and teams. The first org also holds the probes' objects.
fn graph(index: usize, size: usize, seed: u64) -> anyhow::Result<Vec<Tuple>> {
    const USERS: usize = 2_000;
    const TEAMS: usize = 100;
    const ROOTS: usize = 20;
    let mut rng = Rng(seed);
    let mut seen: HashSet<Tuple> = HashSet::with_capacity(size);
    let mut out: Vec<Tuple> = Vec::with_capacity(size);
    let mut add = |out: &mut Vec<Tuple>, s: String| -> anyhow::Result<()> {
        let t = Tuple::parse(&s)?;
        if seen.insert(t.clone()) {
            out.push(t);
        }
        Ok(())
    };

    if index == 0 {
        // The probes (see `probes`).
        add(&mut out, "doc:direct#viewer@user:alice".into())?;
        add(&mut out, "doc:direct#parent@folder:r0".into())?;
        add(
            &mut out,
            r#"doc:caveated#viewer@user:dave[in_network:{"cidr":"10.0.0.0/8"}]"#.into(),
        )?;
        add(&mut out, "doc:team#viewer@team:probe#member".into())?;
        add(&mut out, "doc:team#parent@folder:r1".into())?;
        add(&mut out, "team:probe#member@user:bob".into())?;
        for _ in 0..19 {
            add(
                &mut out,
                format!("team:probe#member@user:u{}", rng.below(USERS)),
            )?;
        }
        // doc:deep → deep5 → deep4 → deep3 → deep2 → deep1, which carol may view.
        add(&mut out, "doc:deep#parent@folder:deep5".into())?;
        for d in 2..=5 {
            add(
                &mut out,
                format!("folder:deep{d}#parent@folder:deep{}", d - 1),
            )?;
        }
        add(&mut out, "folder:deep1#org@org:main".into())?;
        add(&mut out, "folder:deep1#viewer@user:carol".into())?;
        // 10 000 documents in 100 folders under one folder team `readers` may view.
        add(&mut out, "team:readers#member@user:reader".into())?;
        add(&mut out, "folder:shared#org@org:main".into())?;
        add(&mut out, "folder:shared#viewer@team:readers#member".into())?;
        for f in 0..100 {
            add(&mut out, format!("folder:shared{f}#parent@folder:shared"))?;
        }
        for d in 0..LOOKUP_DOCS {
            add(
                &mut out,
                format!("doc:s{d}#parent@folder:shared{}", d % 100),
            )?;
        }
    }

    // The probes come on top of the org's share.
    let size = size.max(out.len());
    for a in 0..3 {
        add(&mut out, format!("org:main#admin@user:u{a}"))?;
    }
    for u in 0..USERS {
        add(&mut out, format!("org:main#member@user:u{u}"))?;
    }
    for t in 0..TEAMS {
        for _ in 0..20 {
            add(
                &mut out,
                format!("team:t{t}#member@user:u{}", rng.below(USERS)),
            )?;
        }
        // A fifth of the teams contain another team.
        if t % 5 == 0 {
            let inner = rng.below(TEAMS);
            if inner != t {
                add(&mut out, format!("team:t{t}#member@team:t{inner}#member"))?;
            }
        }
    }
    let mut folders: Vec<usize> = Vec::new(); // depth of each folder
    for r in 0..ROOTS {
        add(&mut out, format!("folder:r{r}#org@org:main"))?;
    }
    let mut docs = 0usize;
    while out.len() < size {
        // One folder for every 20 documents, nested under a root or a folder up to 8 deep.
        if docs.is_multiple_of(20) {
            let id = folders.len();
            let parent = rng.below(folders.len() + ROOTS);
            let (parent_name, depth) = if parent < ROOTS {
                (format!("r{parent}"), 1)
            } else {
                let p = parent - ROOTS;
                let depth = folders.get(p).copied().unwrap_or(1) + 1;
                if depth > 8 {
                    (format!("r{}", rng.below(ROOTS)), 1)
                } else {
                    (format!("f{p}"), depth)
                }
            };
            folders.push(depth);
            add(
                &mut out,
                format!("folder:f{id}#parent@folder:{parent_name}"),
            )?;
            if rng.chance(50) {
                let viewer = if rng.chance(50) {
                    format!("team:t{}#member", rng.below(TEAMS))
                } else {
                    format!("user:u{}", rng.below(USERS))
                };
                add(&mut out, format!("folder:f{id}#viewer@{viewer}"))?;
            }
        }
        let folder = rng.below(folders.len().max(1));
        add(&mut out, format!("doc:d{docs}#parent@folder:f{folder}"))?;
        if rng.chance(70) {
            add(
                &mut out,
                format!("doc:d{docs}#viewer@user:u{}", rng.below(USERS)),
            )?;
        }
        if rng.chance(30) {
            add(
                &mut out,
                format!("doc:d{docs}#viewer@team:t{}#member", rng.below(TEAMS)),
            )?;
        }
        docs += 1;
    }
    out.truncate(size);
    Ok(out)
}
