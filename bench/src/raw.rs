//! The database's own limit, measured in the same run as the cell: `pgbench` (select-only on its
//! own tables, and a batched insert of signal rows into the cell's table) on PostgreSQL, and on
//! both backends the cell's own queries sent straight through sea-orm/sqlx with no HTTP, no
//! authentication and no tenant setting: in one plain (on SQLite deferred) transaction per
//! request, as the cell sends them.

use std::io::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use abm::store::entity::{contact, contact_identity, intent_signal, prospect_company};
use anyhow::Context as _;
use chrono::Utc;
use kernel::http::{ListQuery, fetch_page};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait as _,
};
use uuid::Uuid;

use crate::dataset::{self, Dataset, Kind};

/// Rows the references insert into the cell's signal table carry this topic, and are deleted
/// after each reference ([`delete_reference_rows`]).
const REFERENCE_TOPIC: &str = "cellbench reference";

/// Runs `pgbench <args> <url>`; returns its standard output.
fn pgbench(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("pgbench")
        .args(args)
        .arg(url)
        .output()
        .context("cannot run pgbench (Debian: postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "pgbench {}: {}{}",
        args.join(" "),
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}

/// A timed pgbench run with prepared statements, `clients` connections on two threads, for
/// `secs`, plus `extra` arguments; returns its tps (excluding connection time).
fn pgbench_tps(url: &str, clients: u32, secs: u64, extra: &[&str]) -> anyhow::Result<f64> {
    let (clients, secs) = (clients.to_string(), secs.to_string());
    let mut args = vec![
        "-n", "-M", "prepared", "-c", &clients, "-j", "2", "-T", &secs,
    ];
    args.extend_from_slice(extra);
    let text = pgbench(url, &args)?;
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

/// `pgbench -i` at `scale` (100 000 rows a unit) into the database at `url`.
pub fn pgbench_init(url: &str, scale: u32) -> anyhow::Result<()> {
    pgbench(url, &["-i", "-q", "-s", &scale.to_string()]).map(drop)
}

/// `pgbench -S` (a primary-key SELECT per transaction).
pub fn pgbench_select_only(url: &str, clients: u32, secs: u64) -> anyhow::Result<f64> {
    pgbench_tps(url, clients, secs, &["-S"])
}

/// Rows a second of `INSERT … SELECT … generate_series(1, batch)` into the cell's signal table
/// (all its indexes), `clients` connections for `secs`. The rows carry [`REFERENCE_TOPIC`].
pub fn pgbench_insert(
    url: &str,
    data: &Dataset,
    batch: usize,
    clients: u32,
    secs: u64,
) -> anyhow::Result<f64> {
    let mut script = tempfile::Builder::new().suffix(".sql").tempfile()?;
    let company = dataset::id_sql(data.seed, Kind::Prospect, "p");
    write!(
        script,
        "\\set p random(0, {last})\n\
         INSERT INTO abm_intent_signals (id, org_id, prospect_company_id, contact_id, visitor_id, \
         signal_type, service_lane, topic, weight, occurred_at, event_uuid, created_at) \
         SELECT gen_random_uuid(), '{org}', {company}, NULL, NULL, 'pricing_view', NULL, \
         '{REFERENCE_TOPIC}', 25, now(), gen_random_uuid(), now() FROM generate_series(1, {batch});\n",
        last = data.sizes.prospects - 1,
        org = data.org,
    )?;
    script.flush()?;
    let path = script.path().to_string_lossy().into_owned();
    Ok(pgbench_tps(url, clients, secs, &["-f", &path])? * batch as f64)
}

/// Deletes the rows the insert references wrote.
pub async fn delete_reference_rows(conn: &DatabaseConnection) -> anyhow::Result<()> {
    intent_signal::Entity::delete_many()
        .filter(intent_signal::Column::Topic.eq(REFERENCE_TOPIC))
        .exec(conn)
        .await?;
    Ok(())
}

/// The cell's query for a scenario, sent directly.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// A contact by id and its identities (what `GET /abm/contacts/{id}` reads).
    ReadById,
    /// The count and a page of 25 engaged prospects by score (what the list reads).
    List,
    /// `batch` signal rows in one transaction (what a delivery writes, without the lookups).
    Insert { batch: usize },
}

/// Operations (or, for inserts, rows) a second of `query` on `conn`, `clients` at a time for
/// `run_time`. Every read must find its rows, so a wrong encoding cannot pass for speed.
pub async fn direct(
    conn: &DatabaseConnection,
    data: Dataset,
    query: Query,
    clients: u32,
    run_time: Duration,
) -> anyhow::Result<f64> {
    let Dataset {
        org,
        seed,
        sizes,
        engaged,
    } = data;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (conn, done) = (conn.clone(), done.clone());
        tasks.spawn(async move {
            let mut n = u64::from(client);
            while start.elapsed() < run_time {
                n += u64::from(clients);
                let pick = |m: u64| dataset::mix(seed ^ n) % m.max(1);
                let units = match query {
                    Query::ReadById => {
                        let id = dataset::id(seed, Kind::Contact, pick(sizes.contacts));
                        let tx = conn.begin().await?;
                        let found = contact::Entity::find_by_id(id)
                            .filter(contact::Column::OrgId.eq(org))
                            .one(&tx)
                            .await?;
                        anyhow::ensure!(found.is_some(), "contact {id} not found");
                        contact_identity::Entity::find()
                            .filter(contact_identity::Column::OrgId.eq(org))
                            .filter(contact_identity::Column::ContactId.eq(id))
                            .order_by_asc(contact_identity::Column::IdentityType)
                            .order_by_asc(contact_identity::Column::IdentityValue)
                            .all(&tx)
                            .await?;
                        tx.commit().await?;
                        1
                    }
                    Query::List => {
                        // The kernel's paging, as the cell runs it: a capped count and the page.
                        let pages = engaged.div_ceil(25).clamp(1, 20);
                        let query = ListQuery::parse(&format!("limit=25&page={}", 1 + pick(pages)))
                            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                        let select = prospect_company::Entity::find()
                            .filter(prospect_company::Column::OrgId.eq(org))
                            .filter(prospect_company::Column::Stage.is_in(["engaged"]))
                            .order_by_desc(prospect_company::Column::IntentScore)
                            .order_by_asc(prospect_company::Column::Id);
                        let tx = conn.begin().await?;
                        let page = fetch_page(select, &query, &tx).await?;
                        tx.commit().await?;
                        anyhow::ensure!(engaged == 0 || !page.data.is_empty(), "empty page");
                        1
                    }
                    Query::Insert { batch } => {
                        let now = Utc::now();
                        let company = dataset::id(seed, Kind::Prospect, pick(sizes.prospects));
                        let rows = (0..batch).map(|_| intent_signal::ActiveModel {
                            id: Set(Uuid::now_v7()),
                            org_id: Set(org),
                            prospect_company_id: Set(company),
                            contact_id: Set(None),
                            visitor_id: Set(None),
                            signal_type: Set("pricing_view".into()),
                            service_lane: Set(None),
                            topic: Set(Some(REFERENCE_TOPIC.into())),
                            weight: Set(25),
                            occurred_at: Set(now),
                            event_uuid: Set(Some(Uuid::now_v7())),
                            created_at: Set(now),
                        });
                        let tx = conn.begin().await?;
                        intent_signal::Entity::insert_many(rows)
                            .exec_without_returning(&tx)
                            .await?;
                        tx.commit().await?;
                        batch as u64
                    }
                };
                done.fetch_add(units, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    if matches!(query, Query::Insert { .. }) {
        delete_reference_rows(conn).await?;
    }
    Ok(rate)
}
