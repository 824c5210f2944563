//! What the modules' benchmarks share: their settings from the environment, percentiles, a
//! deterministic generator, bulk loads and the planner's statistics after them.

use std::time::Duration;

use kernel::CellContext;
use sea_orm::{ConnectionTrait, Statement, Value};
use uuid::Uuid;

/// A whole number from the environment (`BENCH_…`), or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The backends to run on: `BENCH_BACKENDS` (`sqlite,postgres`, the default, or either one).
pub fn backends() -> anyhow::Result<Vec<crate::Backend>> {
    std::env::var("BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| match b.trim() {
            "sqlite" => Ok(crate::Backend::Sqlite),
            "postgres" => Ok(crate::Backend::Postgres),
            other => anyhow::bail!("BENCH_BACKENDS: unknown backend `{other}`"),
        })
        .collect()
}

/// The median, the 95th percentile and the slowest of some durations, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

pub fn percentiles(mut d: Vec<Duration>) -> Percentiles {
    d.sort();
    let at = |p: f64| {
        let i = ((d.len() as f64 * p).ceil() as usize).saturating_sub(1);
        d.get(i).map_or(0.0, |x| x.as_secs_f64() * 1000.0)
    };
    Percentiles {
        p50: at(0.5),
        p95: at(0.95),
        max: at(1.0),
    }
}

/// A small deterministic generator (xorshift), so runs compare.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Inserts `rows` into `table` (each a list of values in the order of `columns`, comma
/// separated) in `org`'s transactions, `batch` rows a statement.
pub async fn insert_rows(
    ctx: &CellContext,
    org: Uuid,
    table: &str,
    columns: &str,
    rows: &[Vec<Value>],
    batch: usize,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(batch.max(1)) {
        let tx = ctx.db().tenant(org).await?;
        let conn = tx.unscoped();
        let mut values = Vec::new();
        let mut tuples = Vec::new();
        for row in chunk {
            let start = values.len();
            let marks: Vec<String> = (1..=row.len()).map(|i| format!("${}", start + i)).collect();
            tuples.push(format!("({})", marks.join(", ")));
            values.extend(row.iter().cloned());
        }
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            format!(
                "INSERT INTO {table} ({columns}) VALUES {}",
                tuples.join(", ")
            ),
            values,
        ))
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The planner's statistics and visibility map after a bulk load, as autovacuum (or SQLite's
/// `ANALYZE`) would have them on a database that grew by use: without them PostgreSQL sorts
/// whole columns and reads every row an index scan passes. Run as the database's owner: a cell
/// serving as an application role may not vacuum the tables (PostgreSQL skips them with a
/// warning, and the plans stay those of an empty table).
pub async fn analyze(db: &crate::TestDb) -> anyhow::Result<()> {
    let conn = sea_orm::Database::connect(db.url()).await?;
    let sql = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    conn.execute_unprepared(sql).await?;
    conn.close().await?;
    Ok(())
}
