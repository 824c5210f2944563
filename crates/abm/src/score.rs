//! Intent scoring: `intent_score` = the sum of signal weights of the last 30 days, as a raw
//! integer. Re-scored by a job after each ingestion (for the companies it touched) and daily for
//! every company with a score (so old signals age out). A `new` prospect whose score reaches
//! `engaged_threshold` moves to `engaged` and `abm.company.engaged` is published.

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use kernel::module::JobHandler;
use kernel::sea_orm::{
    ActiveValue::Set,
    ColumnTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::store::entity::{intent_signal, prospect_company, score_queue};

/// The window a signal counts in.
pub const WINDOW_DAYS: i64 = 30;

/// Companies re-scored a statement (their ids are bound into `IN (…)`).
const RESCORE_BATCH: usize = 5_000;

/// Re-scores `companies` (every company with a non-zero score when `None`) in `tx`; returns how
/// many scores changed.
pub async fn rescore(
    ctx: &CellContext,
    tx: &TenantTx,
    companies: Option<Vec<Uuid>>,
    threshold: i64,
) -> Result<usize, ApiError> {
    let since = Utc::now() - TimeDelta::days(WINDOW_DAYS);
    let repo = tx.repo::<prospect_company::Entity>();
    let signals = tx.repo::<intent_signal::Entity>();
    let mut sums = signals
        .find()
        .select_only()
        .column(intent_signal::Column::ProspectCompanyId)
        .column_as(
            Expr::col(intent_signal::Column::Weight)
                .sum()
                .cast_as("bigint"),
            "score",
        )
        .filter(intent_signal::Column::OccurredAt.gt(since))
        .group_by(intent_signal::Column::ProspectCompanyId);
    let mut q = repo.find();
    // The daily pass sums every company's window in one grouped scan (no id list to bind).
    if let Some(ids) = companies {
        q = q.filter(prospect_company::Column::Id.is_in(ids.clone()));
        sums = sums.filter(intent_signal::Column::ProspectCompanyId.is_in(ids));
    } else {
        q = q.filter(prospect_company::Column::IntentScore.ne(0));
    }
    let rows = q.all(repo.conn()).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let sums: HashMap<Uuid, Option<i64>> = sums
        .into_tuple::<(Uuid, Option<i64>)>()
        .all(signals.conn())
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    let mut changed = 0;
    for company in rows {
        let score = sums.get(&company.id).copied().flatten().unwrap_or(0);
        let engage = company.stage == "new" && score >= threshold;
        if score == company.intent_score && !engage && company.score_updated_at.is_some() {
            continue;
        }
        changed += usize::from(score != company.intent_score);
        let id = company.id;
        let mut m: prospect_company::ActiveModel = company.into();
        m.intent_score = Set(score);
        m.score_updated_at = Set(Some(now));
        if engage {
            m.stage = Set("engaged".into());
            m.updated_at = Set(now);
        }
        repo.update(m).await?;
        if engage {
            let event = kernel::events::NewEvent::new(
                "abm.company.engaged",
                kernel::module::EntityRef {
                    kind: "prospect_company".into(),
                    id,
                },
            )
            .payload(serde_json::json!({ "prospect_company_id": id, "intent_score": score }));
            ctx.events().publish(tx, event).await?;
        }
    }
    Ok(changed)
}

/// Takes every company waiting in the score queue of the org of `tx`, once each. The DELETE
/// sees only committed rows, whose deliveries' signals the sums read after it therefore see; a
/// delivery still in flight keeps its row for the next job.
async fn drain(tx: &TenantTx) -> Result<Vec<Uuid>, kernel::sea_orm::DbErr> {
    use kernel::sea_orm::EntityTrait;
    let mut companies: Vec<Uuid> = score_queue::Entity::delete_many()
        .filter(score_queue::Column::OrgId.eq(tx.org_id()))
        .exec_with_returning(tx.unscoped())
        .await?
        .into_iter()
        .map(|q| q.prospect_company_id)
        .collect();
    companies.sort_unstable();
    companies.dedup();
    Ok(companies)
}

/// `abm.score` (after ingestion: the companies of the score queue) and `abm.score_daily` (every
/// company with a score, so old signals age out).
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
        let batches = match self.daily {
            true => vec![None],
            // The queue, drained in this transaction: a failure puts the companies back. Bound
            // ids stay far below PostgreSQL's 65 535 parameters a statement.
            false => drain(&tx)
                .await?
                .chunks(RESCORE_BATCH)
                .map(|c| Some(c.to_vec()))
                .collect(),
        };
        if batches.is_empty() {
            // Another job took the queue first: nothing to score, nothing to log.
            tx.commit().await?;
            return Ok(());
        }
        let mut changed = 0;
        for companies in batches {
            changed += rescore(ctx, &tx, companies, self.threshold)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        }
        tx.commit().await?;
        tracing::info!(changed, "intent scores updated");
        Ok(())
    }
}
