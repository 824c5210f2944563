//! The markdown report: the machine, the command, every scenario with the database's figure
//! beside it, and how far each goal of the platform is.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::dataset::Seeded;
use crate::load::{Outcome, Scenario};

#[derive(Debug)]
pub struct Row {
    pub scenario: Scenario,
    pub outcome: Outcome,
    pub peak_rss: u64,
    pub cpu_cores: f64,
    /// Requests a second the run was held to, if any (else it ran saturated).
    pub throttle: Option<usize>,
}

#[derive(Debug)]
pub struct Footprint {
    /// Exec to ready on an empty database (migrations run).
    pub first_start: Duration,
    /// Exec to ready with the dataset loaded.
    pub loaded_start: Duration,
    pub idle_empty: u64,
    pub idle_loaded: u64,
}

/// The database's own figures (per second).
#[derive(Debug)]
pub struct Reference {
    /// The read-by-id queries sent directly.
    pub read: f64,
    /// The list queries sent directly.
    pub list: f64,
    /// Signal rows inserted directly, a batch per transaction.
    pub insert_rows: f64,
    pub pgbench_select_only: Option<f64>,
    pub pgbench_insert_rows: Option<f64>,
}

#[derive(Debug)]
pub struct BackendReport {
    pub backend: String,
    pub seeded: Seeded,
    pub footprint: Footprint,
    pub rows: Vec<Row>,
    pub reference: Reference,
    pub accepted_events: u64,
    pub lost_events: u64,
    pub clients: u32,
    /// Events per batched delivery.
    pub batch: usize,
}

const MIB: f64 = 1024.0 * 1024.0;

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "?".into(),
            |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0),
        );
    format!(
        "{cores} cores ({cpu}), {mem} RAM; the cell, the load generator and the database share them"
    )
}

/// A goal's status, as the report words it.
fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

pub fn render(dataset: &str, binaries: &[(PathBuf, u64)], backends: &[BackendReport]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# cellbench report\n");
    let _ = writeln!(md, "- Machine: {}", machine());
    let _ = writeln!(
        md,
        "- Date: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(md, "- Dataset and load: {dataset}");
    let _ = writeln!(
        md,
        "- Latencies are measured by the load generator (goose) from request to full response, in ms; \
         throughput is requests a second over the scenario's run (events a second for ingestion rows)."
    );
    let _ = writeln!(md, "\n## Binaries\n\n| binary | size |\n|---|---:|");
    for (path, size) in binaries {
        let _ = writeln!(
            md,
            "| `{}` | {:.1} MiB |",
            path.display(),
            *size as f64 / MIB
        );
    }
    for b in backends {
        render_backend(&mut md, b);
    }
    md
}

fn render_backend(md: &mut String, b: &BackendReport) {
    let r = &b.reference;
    let f = &b.footprint;
    let _ = writeln!(md, "\n## {}\n", b.backend);
    let _ = writeln!(
        md,
        "Dataset: {} rows generated in {:.1} s ({:.0} rows/s); {} prospects engaged.\n",
        b.seeded.rows,
        b.seeded.took.as_secs_f64(),
        b.seeded.rows as f64 / b.seeded.took.as_secs_f64().max(1e-9),
        b.seeded.engaged
    );
    let _ = writeln!(
        md,
        "| scenario | request | requests | req/s | p50 | p95 | p99 | max | errors | cell peak RSS | cell CPU (cores) | note |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for row in &b.rows {
        for k in &row.outcome.kinds {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.1} MiB | {:.2} | {} |",
                row.scenario.label(),
                k.name,
                k.requests,
                k.per_sec,
                ms(k.p50_us),
                ms(k.p95_us),
                ms(k.p99_us),
                ms(k.max_us),
                k.failures,
                row.peak_rss as f64 / MIB,
                row.cpu_cores,
                row.throttle
                    .map(|t| format!("throttled to {t}/s (half of saturation)"))
                    .unwrap_or_default()
            );
        }
    }
    let saturated = |s: Scenario| {
        b.rows
            .iter()
            .find(|r| r.scenario == s && r.throttle.is_none())
            .and_then(|r| r.outcome.kinds.first())
    };
    if let (Some(ours), Some(peer)) = (
        saturated(Scenario::ReadById),
        saturated(Scenario::PeerReadById),
    ) {
        let _ = writeln!(
            md,
            "\nRead by id against the peer (Loco.rs, `GET /api/notes/{{id}}` with a JWT; no tenant \
             scope, no permission check): **{:.2}×** its throughput ({:.0} against {:.0} req/s), \
             p99 {} against {}.",
            ours.per_sec / peer.per_sec.max(1e-9),
            ours.per_sec,
            peer.per_sec,
            ms(ours.p99_us),
            ms(peer.p99_us)
        );
    }
    let _ = writeln!(
        md,
        "\nIngestion: {} events accepted, {} not stored.\n",
        b.accepted_events, b.lost_events
    );
    let _ = writeln!(
        md,
        "The database's own figures ({} connections, the cell's pool size):\n",
        b.clients
    );
    let _ = writeln!(md, "| reference | per second |\n|---|---:|");
    if let Some(s) = r.pgbench_select_only {
        let _ = writeln!(
            md,
            "| `pgbench -S -M prepared` (primary-key SELECT) | {s:.0} |"
        );
    }
    if let Some(i) = r.pgbench_insert_rows {
        let _ = writeln!(
            md,
            "| pgbench: `INSERT … SELECT generate_series` into `abm_intent_signals`, rows | {i:.0} |"
        );
    }
    let _ = writeln!(
        md,
        "| the cell's read-by-id queries, direct (sea-orm/sqlx, no HTTP) | {:.0} |",
        r.read
    );
    let _ = writeln!(
        md,
        "| the cell's list queries (count + page), direct | {:.0} |",
        r.list
    );
    let _ = writeln!(
        md,
        "| signal rows inserted directly, a batch per transaction | {:.0} |",
        r.insert_rows
    );

    // Goals.
    let per_sec = |s: Scenario| {
        b.rows
            .iter()
            .find(|row| row.scenario == s && row.throttle.is_none())
            .map_or(0.0, |row| row.outcome.per_sec)
    };
    let read = per_sec(Scenario::ReadById);
    let list = per_sec(Scenario::List);
    let ingest = per_sec(Scenario::IngestBatch) * b.batch as f64;
    let (read_ref, read_ref_name) = match r.pgbench_select_only {
        Some(s) => (s, "pgbench select-only"),
        None => (r.read, "the same queries direct"),
    };
    let insert_ref = r.pgbench_insert_rows.unwrap_or(r.insert_rows);
    let _ = writeln!(md, "\n| goal | measured | status |\n|---|---|---|");
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    // Reads against the select-only reference, and (in brackets) against the same queries
    // sent directly.
    for (goal, got, goal_ratio, direct) in [
        ("read by id ≥ 50 %", read, 0.5, r.read),
        ("list of 25, filter + sort, ≥ 30 %", list, 0.3, r.list),
    ] {
        let _ = writeln!(
            md,
            "| {goal} of {read_ref_name} | {got:.0} / {read_ref:.0} = {:.0} % (of the same queries direct: {:.0} %) | {} |",
            100.0 * ratio(got, read_ref),
            100.0 * ratio(got, direct),
            verdict(ratio(got, read_ref) >= goal_ratio)
        );
    }
    let _ = writeln!(
        md,
        "| ingestion ≥ 30 % of the raw batched insert, nothing lost | {ingest:.0} / {insert_ref:.0} rows/s = {:.0} %; {} lost | {} |",
        100.0 * ratio(ingest, insert_ref),
        b.lost_events,
        verdict(ratio(ingest, insert_ref) >= 0.3 && b.lost_events == 0)
    );
    if let Some(half) = b.rows.iter().find(|row| row.throttle.is_some()) {
        let k = half.outcome.kinds.first();
        let (p50, p99) = k.map_or((0, 0), |k| (k.p50_us, k.p99_us));
        let _ = writeln!(
            md,
            "| p99 ≤ 5 × p50 at half saturation (read by id) | p50 {} ms, p99 {} ms: {:.1} × | {} |",
            ms(p50),
            ms(p99),
            ratio(p99 as f64, p50 as f64),
            verdict(p99 <= 5 * p50)
        );
    }
    let _ = writeln!(
        md,
        "| cold start to ready < 300 ms{} | empty database (migrations): {:.0} ms; dataset loaded: {:.0} ms | {} |",
        if b.backend == "sqlite" {
            ""
        } else {
            " (the goal is SQLite's)"
        },
        f.first_start.as_secs_f64() * 1000.0,
        f.loaded_start.as_secs_f64() * 1000.0,
        verdict(
            f.loaded_start < Duration::from_millis(300)
                && f.first_start < Duration::from_millis(300)
        )
    );
    let _ = writeln!(
        md,
        "| idle RSS < 50 MiB | empty: {:.1} MiB; dataset loaded: {:.1} MiB | {} |",
        f.idle_empty as f64 / MIB,
        f.idle_loaded as f64 / MIB,
        verdict(f.idle_empty.max(f.idle_loaded) < 50 * 1024 * 1024)
    );
}
