//! Intent scoring: `intent_score` = the sum of signal weights of the last 30 days, as a raw
//! integer, kept up to date incrementally.
//!
//! - **Ingestion** queues, in the delivery's transaction, one row per company with the weight its
//!   newly stored signals add (signals already outside the window add nothing; duplicates are not
//!   stored, so they add nothing either).
//! - **`abm.score`** (enqueued by a delivery unless one already waits, and swept every minute by
//!   `abm.score_sweep`) drains the queue and adds each company's queued weight to its score: a
//!   few `UPDATE … SET intent_score = intent_score + d` statements, never a re-sum of the
//!   company's signals (hot accounts have tens of thousands).
//! - **`abm.score_daily`** re-sums every company's window, so signals that left it age out, and
//!   takes the queue in the same snapshot (its signals are in the sums). Between two daily passes
//!   a score may still count signals that left the window since the last one (at most a day).
//!
//! Both jobs take a per-org lock on PostgreSQL (`pg_advisory_xact_lock`), so a daily pass never
//! overwrites a score an increment changed after its sums were read; SQLite's write lock
//! (`BEGIN IMMEDIATE`) serializes them already. A `new` prospect whose score reaches
//! `engaged_threshold` moves to `engaged` and `abm.company.engaged` is published.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use kernel::module::JobHandler;
use kernel::sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait},
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::store::entity::{prospect_company, score_queue};

/// The window a signal counts in.
pub const WINDOW_DAYS: i64 = 30;

/// Companies an `UPDATE` names at most (their ids are bound into `IN (…)`, far below
/// PostgreSQL's 65 535 parameters a statement).
const BATCH: usize = 5_000;

/// The start of the window at `now`: a signal counts when it occurred after it.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(WINDOW_DAYS)
}

/// Serializes the score jobs of the org of `tx` (PostgreSQL; SQLite's write lock does already).
async fn lock(tx: &TenantTx) -> Result<(), kernel::sea_orm::DbErr> {
    tx.serialize("abm.score").await
}

/// Adds the queued weights of the org of `tx` to its companies' scores; returns how many scores
/// changed. The `DELETE … RETURNING` takes only committed rows, whose signals are stored; a
/// delivery still in flight keeps its row for the next job.
pub async fn apply_queue(
    ctx: &CellContext,
    tx: &TenantTx,
    threshold: i64,
) -> Result<usize, ApiError> {
    lock(tx).await?;
    let mut added: HashMap<Uuid, i64> = HashMap::new();
    for row in score_queue::Entity::delete_many()
        .filter(score_queue::Column::OrgId.eq(tx.org_id()))
        // unscoped: bulk DELETE … RETURNING, filtered by tx's org above
        .exec_with_returning(tx.unscoped())
        .await?
    {
        *added.entry(row.prospect_company_id).or_default() += row.weight;
    }
    let touched: Vec<Uuid> = added.keys().copied().collect();
    let changed = set_scores(tx, added.into_iter().filter(|(_, d)| *d != 0), true).await?;
    engage(ctx, tx, Some(&touched), threshold).await?;
    Ok(changed)
}

/// Re-sums the window of every company of the org of `tx` and empties its queue in the same
/// snapshot; returns how many scores changed.
pub async fn daily(ctx: &CellContext, tx: &TenantTx, threshold: i64) -> Result<usize, ApiError> {
    lock(tx).await?;
    // unscoped: the window re-sum is raw SQL; each statement filters by tx's org
    let conn = tx.unscoped();
    let backend = conn.get_database_backend();
    let sums = "SELECT prospect_company_id, CAST(SUM(weight) AS BIGINT) AS score \
                FROM abm_intent_signals WHERE org_id = $1 AND occurred_at > $2 \
                GROUP BY prospect_company_id";
    let sql = match backend {
        // One statement, one snapshot: the queue rows it deletes are exactly those whose
        // deliveries' signals it sums; later deliveries keep their rows for `abm.score`.
        DbBackend::Postgres => {
            format!("WITH drained AS (DELETE FROM abm_score_queue WHERE org_id = $1) {sums}")
        }
        // The transaction holds SQLite's write lock: nothing commits between the two.
        _ => {
            score_queue::Entity::delete_many()
                .filter(score_queue::Column::OrgId.eq(tx.org_id()))
                .exec(conn)
                .await?;
            sums.to_owned()
        }
    };
    let values = [tx.org_id().into(), window_start(Utc::now()).into()];
    let mut target: HashMap<Uuid, i64> = HashMap::new();
    for row in conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let company: Uuid = row.try_get("", "prospect_company_id")?;
        let score: Option<i64> = row.try_get("", "score")?;
        target.insert(company, score.unwrap_or(0));
    }
    // Every stored score that is not its sum: companies with a score (whose window may now be
    // empty) and companies with signals in the window.
    let repo = tx.repo::<prospect_company::Entity>();
    let stored: HashMap<Uuid, i64> = repo
        .find()
        .select_only()
        .columns([
            prospect_company::Column::Id,
            prospect_company::Column::IntentScore,
        ])
        .filter(prospect_company::Column::IntentScore.ne(0))
        .into_tuple::<(Uuid, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    for company in stored.keys() {
        target.entry(*company).or_insert(0);
    }
    let stale = target
        .into_iter()
        .filter(|(company, score)| stored.get(company).copied().unwrap_or(0) != *score);
    let changed = set_scores(tx, stale, false).await?;
    engage(ctx, tx, None, threshold).await?;
    Ok(changed)
}

/// Sets (or, with `add`, adds) each company's value to its score; returns how many companies it
/// named. One statement per distinct value and batch, not per company.
async fn set_scores(
    tx: &TenantTx,
    scores: impl IntoIterator<Item = (Uuid, i64)>,
    add: bool,
) -> Result<usize, ApiError> {
    let mut groups: BTreeMap<i64, Vec<Uuid>> = BTreeMap::new();
    for (company, value) in scores {
        groups.entry(value).or_default().push(company);
    }
    let now = Utc::now();
    let mut named = 0;
    for (value, companies) in groups {
        named += companies.len();
        let score = match add {
            true => Expr::col(prospect_company::Column::IntentScore).add(value),
            false => Expr::value(value),
        };
        for batch in companies.chunks(BATCH) {
            prospect_company::Entity::update_many()
                .col_expr(prospect_company::Column::IntentScore, score.clone())
                .col_expr(prospect_company::Column::ScoreUpdatedAt, Expr::value(now))
                .filter(prospect_company::Column::OrgId.eq(tx.org_id()))
                .filter(prospect_company::Column::Id.is_in(batch.iter().copied()))
                // unscoped: bulk UPDATE, filtered by tx's org above
                .exec(tx.unscoped())
                .await?;
        }
    }
    Ok(named)
}

/// Moves `new` prospects at or above `threshold` (of `companies`, or all) to `engaged` and
/// publishes `abm.company.engaged` for each, in `tx`.
async fn engage(
    ctx: &CellContext,
    tx: &TenantTx,
    companies: Option<&[Uuid]>,
    threshold: i64,
) -> Result<(), ApiError> {
    let batches: Vec<Option<&[Uuid]>> = match companies {
        Some(ids) => ids.chunks(BATCH).map(Some).collect(),
        None => vec![None],
    };
    let now = Utc::now();
    for batch in batches {
        let mut update = prospect_company::Entity::update_many()
            .col_expr(prospect_company::Column::Stage, Expr::value("engaged"))
            .col_expr(prospect_company::Column::UpdatedAt, Expr::value(now))
            .filter(prospect_company::Column::OrgId.eq(tx.org_id()))
            .filter(prospect_company::Column::Stage.eq("new"))
            .filter(prospect_company::Column::IntentScore.gte(threshold));
        if let Some(ids) = batch {
            update = update.filter(prospect_company::Column::Id.is_in(ids.iter().copied()));
        }
        // unscoped: bulk UPDATE … RETURNING, filtered by tx's org above
        for company in update.exec_with_returning(tx.unscoped()).await? {
            let engaged = crate::events::CompanyEngaged {
                prospect_company_id: company.id,
                intent_score: company.intent_score,
            };
            ctx.events().emit(tx, None, &engaged).await?;
        }
    }
    Ok(())
}

/// `abm.score` (after ingestion: the weights of the score queue) and `abm.score_daily` (every
/// company's window re-summed, so old signals age out).
pub(crate) struct ScoreJob {
    pub threshold: i64,
    pub daily: bool,
}

#[kernel::async_trait::async_trait]
impl JobHandler for ScoreJob {
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let org = job
            .org_id
            .or_else(|| crate::operator_org(ctx))
            .ok_or_else(|| anyhow::anyhow!("no operator organization"))?;
        let tx = ctx.db().tenant(org).await?;
        let changed = match self.daily {
            true => daily(ctx, &tx, self.threshold).await,
            false => apply_queue(ctx, &tx, self.threshold).await,
        }
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        tx.commit().await?;
        if changed > 0 || self.daily {
            tracing::info!(changed, daily = self.daily, "intent scores updated");
        }
        Ok(())
    }
}
