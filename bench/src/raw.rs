//! The database's own limit, measured in the same run as the cell: `pgbench` (select-only on its
//! own tables, and a batched insert of signal rows into the cell's table) on PostgreSQL, and on
//! both backends the cell's own queries sent straight through sea-orm/sqlx with no HTTP, no
//! authentication and no tenant transaction.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use abm::store::entity::{contact, contact_identity, intent_signal, prospect_company};
use anyhow::Context as _;
use chrono::Utc;
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait as _,
};
use uuid::Uuid;

use crate::dataset::{self, Kind, Sizes};

/// Runs `pgbench` with `args` against `url`; returns its tps (excluding connection time).
fn pgbench(url: &str, args: &[&str]) -> anyhow::Result<f64> {
    let out = Command::new("pgbench")
        .args(args)
        .arg(url)
        .output()
        .context("cannot run pgbench (Debian: postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench {}: {}{}",
        args.join(" "),
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

/// `pgbench -i` at `scale` (100 000 rows a unit) into the database at `url`.
pub fn pgbench_init(url: &str, scale: u32) -> anyhow::Result<()> {
    let out = Command::new("pgbench")
        .args(["-i", "-q", "-s", &scale.to_string(), url])
        .output()
        .context("cannot run pgbench (Debian: postgresql-client)")?;
    anyhow::ensure!(
        out.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `pgbench -S` (a primary-key SELECT per transaction), prepared statements, `clients`
/// connections on two threads, for `secs`.
pub fn pgbench_select_only(url: &str, clients: u32, secs: u64) -> anyhow::Result<f64> {
    pgbench(
        url,
        &[
            "-S",
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
        ],
    )
}

/// Rows a second of `INSERT … SELECT … generate_series(1, batch)` into the cell's signal table
/// (all its indexes), `clients` connections for `secs`; the rows are deleted afterwards.
pub fn pgbench_insert(
    url: &str,
    org: Uuid,
    seed: u64,
    sizes: &Sizes,
    batch: usize,
    clients: u32,
    secs: u64,
) -> anyhow::Result<f64> {
    let dir = tempfile_dir()?;
    let script = dir.join("insert.sql");
    let company = dataset::id_sql(seed, Kind::Prospect, "p");
    std::fs::write(
        &script,
        format!(
            "\\set p random(0, {last})\n\
             INSERT INTO abm_intent_signals (id, org_id, prospect_company_id, contact_id, visitor_id, \
             signal_type, service_lane, topic, weight, occurred_at, event_uuid, created_at) \
             SELECT gen_random_uuid(), '{org}', {company}, NULL, NULL, 'pricing_view', NULL, \
             'pgbench', 25, now(), gen_random_uuid(), now() FROM generate_series(1, {batch});\n",
            last = sizes.prospects - 1,
        ),
    )?;
    let tps = pgbench(
        url,
        &[
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
            &script.to_string_lossy(),
        ],
    );
    let cleanup = Command::new("psql")
        .args([
            "-q",
            "-c",
            "DELETE FROM abm_intent_signals WHERE topic = 'pgbench'",
            url,
        ])
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        cleanup.is_ok_and(|s| s.success()),
        "could not delete pgbench's rows"
    );
    Ok(tps? * batch as f64)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cellbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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

/// The generated dataset, as the direct queries name its rows.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// The operator org the rows belong to.
    pub org: Uuid,
    pub seed: u64,
    pub sizes: Sizes,
    /// Engaged prospects (the list's filter).
    pub engaged: u64,
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
                        let found = contact::Entity::find_by_id(id)
                            .filter(contact::Column::OrgId.eq(org))
                            .one(&conn)
                            .await?;
                        anyhow::ensure!(found.is_some(), "contact {id} not found");
                        contact_identity::Entity::find()
                            .filter(contact_identity::Column::OrgId.eq(org))
                            .filter(contact_identity::Column::ContactId.eq(id))
                            .order_by_asc(contact_identity::Column::IdentityType)
                            .order_by_asc(contact_identity::Column::IdentityValue)
                            .all(&conn)
                            .await?;
                        1
                    }
                    Query::List => {
                        let select = prospect_company::Entity::find()
                            .filter(prospect_company::Column::OrgId.eq(org))
                            .filter(prospect_company::Column::Stage.is_in(["engaged"]));
                        select.clone().count(&conn).await?;
                        let pages = engaged.div_ceil(25).clamp(1, 20);
                        let page = select
                            .order_by_desc(prospect_company::Column::IntentScore)
                            .order_by_asc(prospect_company::Column::Id)
                            .offset(pick(pages) * 25)
                            .limit(25)
                            .all(&conn)
                            .await?;
                        anyhow::ensure!(engaged == 0 || !page.is_empty(), "empty page");
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
                            topic: Set(Some("raw insert".into())),
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
        intent_signal::Entity::delete_many()
            .filter(intent_signal::Column::Topic.eq("raw insert"))
            .exec(conn)
            .await?;
    }
    Ok(rate)
}
