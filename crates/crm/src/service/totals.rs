//! The forecast's running totals: per pipeline, stage, currency, owner and month of expected
//! close, the live deals' count, value and weighted value (value × probability, in hundredths of
//! a minor unit), added to in the transaction of every change to a deal. The forecast reads a
//! few of these rows instead of every open deal.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use kernel::sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, SimpleExpr};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QuerySelect};
use kernel::{ApiError, TenantTx};
use uuid::Uuid;

use crate::entity::{deal, deal_total};

/// Where deals go: pipeline, stage, currency, owner (nil: none), month (1970-01-01: none).
pub(crate) type Key = (Uuid, Uuid, String, Uuid, NaiveDate);
/// Deals, value, weighted value.
pub(crate) type Sums = (i64, i64, i64);

/// The first day of the month of `date`; 1970-01-01 (chrono's default date) for none.
pub(crate) fn month_of(date: Option<NaiveDate>) -> NaiveDate {
    date.and_then(|d| d.with_day(1)).unwrap_or_default()
}

fn key(d: &deal::Model) -> Key {
    (
        d.pipeline_id,
        d.stage_id,
        d.currency.clone(),
        d.owner_id.unwrap_or_default(),
        month_of(d.expected_close_date),
    )
}

/// Keeps the totals in step with one deal's change: `before` and `after` as the deal was and is
/// (`None`, or a deal in the trash: not counted).
pub(crate) async fn follow(
    tx: &TenantTx,
    before: Option<&deal::Model>,
    after: Option<&deal::Model>,
) -> Result<(), ApiError> {
    let mut by: BTreeMap<Key, Sums> = BTreeMap::new();
    for (d, sign) in [(before, -1i64), (after, 1)] {
        let Some(d) = d.filter(|d| d.deleted_at.is_none()) else {
            continue;
        };
        let s = by.entry(key(d)).or_default();
        s.0 += sign;
        s.1 += sign * d.value;
        s.2 += sign * d.value * i64::from(d.probability);
    }
    by.retain(|_, s| *s != (0, 0, 0));
    add(tx, by).await
}

/// Adds to the totals, one row per key (written in key order, so concurrent writers lock rows
/// in the same order).
async fn add(tx: &TenantTx, by: BTreeMap<Key, Sums>) -> Result<(), ApiError> {
    use deal_total::Column as C;
    let rows = by.into_iter().map(
        |((pipeline, stage, currency, owner, month), (n, value, weighted))| {
            deal_total::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                pipeline_id: Set(pipeline),
                stage_id: Set(stage),
                currency: Set(currency),
                owner_id: Set(owner),
                close_month: Set(month),
                deals: Set(n),
                value: Set(value),
                weighted: Set(weighted),
            }
        },
    );
    tx.repo::<deal_total::Entity>()
        .upsert_adding(
            rows,
            &[
                C::OrgId,
                C::PipelineId,
                C::StageId,
                C::Currency,
                C::OwnerId,
                C::CloseMonth,
            ],
            &[C::Deals, C::Value, C::Weighted],
        )
        .await?;
    Ok(())
}

/// `SUM(e)` as a 64-bit integer on both backends.
pub(crate) fn sum(e: SimpleExpr) -> SimpleExpr {
    Func::cast_as(Func::sum(e), Alias::new("bigint")).into()
}

/// Counts a pipeline's totals again from its deals (after its stages' probabilities changed,
/// which moves many deals' weighted values at once): one grouped read, then the rows.
pub(crate) async fn rebuild(tx: &TenantTx, pipeline_id: Uuid) -> Result<(), ApiError> {
    tx.repo::<deal_total::Entity>()
        .delete_many(deal_total::Column::PipelineId.eq(pipeline_id))
        .await?;
    let repo = tx.repo::<deal::Entity>();
    let weighted = Expr::col(deal::Column::Value).mul(Expr::col(deal::Column::Probability));
    type Grouped = (Uuid, String, Option<Uuid>, Option<NaiveDate>, i64, i64, i64);
    let rows: Vec<Grouped> = repo
        .find()
        .filter(deal::Column::PipelineId.eq(pipeline_id))
        .select_only()
        .column(deal::Column::StageId)
        .column(deal::Column::Currency)
        .column(deal::Column::OwnerId)
        .column(deal::Column::ExpectedCloseDate)
        .column_as(Expr::col(deal::Column::Id).count(), "deals")
        .column_as(sum(Expr::col(deal::Column::Value)), "value")
        .column_as(sum(weighted), "weighted")
        .group_by(deal::Column::StageId)
        .group_by(deal::Column::Currency)
        .group_by(deal::Column::OwnerId)
        .group_by(deal::Column::ExpectedCloseDate)
        .into_tuple()
        .all(repo.conn())
        .await?;
    let mut by: BTreeMap<Key, Sums> = BTreeMap::new();
    for (stage, currency, owner, close, n, value, weighted) in rows {
        let key = (
            pipeline_id,
            stage,
            currency,
            owner.unwrap_or_default(),
            month_of(close),
        );
        let s = by.entry(key).or_default();
        s.0 += n;
        s.1 += value;
        s.2 += weighted;
    }
    add(tx, by).await
}

/// The totals of the open stages of a pipeline (`owner`: only that owner's deals).
pub(crate) async fn of(
    tx: &TenantTx,
    pipeline_id: Uuid,
    stages: Vec<Uuid>,
    owner: Option<Uuid>,
) -> Result<Vec<deal_total::Model>, ApiError> {
    let repo = tx.repo::<deal_total::Entity>();
    let mut select = repo
        .find()
        .filter(deal_total::Column::PipelineId.eq(pipeline_id))
        .filter(deal_total::Column::StageId.is_in(stages));
    if let Some(owner) = owner {
        select = select.filter(deal_total::Column::OwnerId.eq(owner));
    }
    Ok(select.all(repo.conn()).await?)
}

#[cfg(test)]
mod tests {
    use super::month_of;
    use chrono::NaiveDate;

    #[test]
    fn a_close_date_counts_in_its_month_and_none_in_a_month_of_its_own() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        assert_eq!(month_of(Some(d(2026, 12, 31))), d(2026, 12, 1));
        assert_eq!(month_of(Some(d(2026, 2, 1))), d(2026, 2, 1));
        assert_eq!(month_of(None), d(1970, 1, 1));
    }
}
