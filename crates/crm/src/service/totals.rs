//! The forecast's running totals: per pipeline, stage, currency, owner and month of expected
//! close, the live deals' count, value and weighted value (value × probability, in hundredths of
//! a minor unit), added to in the transaction of every change to a deal. The forecast reads a
//! few of these rows instead of every open deal.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use kernel::sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, SimpleExpr};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QuerySelect, Select};
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

/// A row of the totals.
pub(crate) fn row(org: Uuid, key: Key, sums: Sums) -> deal_total::ActiveModel {
    let ((pipeline, stage, currency, owner, month), (n, value, weighted)) = (key, sums);
    deal_total::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org),
        pipeline_id: Set(pipeline),
        stage_id: Set(stage),
        currency: Set(currency),
        owner_id: Set(owner),
        close_month: Set(month),
        deals: Set(n),
        value: Set(value),
        weighted: Set(weighted),
    }
}

/// Adds to the totals, one row per key (written in key order, so concurrent writers lock rows
/// in the same order).
async fn add(tx: &TenantTx, by: BTreeMap<Key, Sums>) -> Result<(), ApiError> {
    use deal_total::Column as C;
    let rows = by.into_iter().map(|(k, s)| row(tx.org_id(), k, s));
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

/// The totals of the deals `select` reads (live ones), per org: one grouped read (by close
/// date, bucketed into months here, the same on both backends).
pub(crate) async fn count<C: kernel::sea_orm::ConnectionTrait>(
    conn: &C,
    select: Select<deal::Entity>,
) -> Result<BTreeMap<(Uuid, Key), Sums>, kernel::sea_orm::DbErr> {
    use deal::Column as D;
    type Grouped = (
        Uuid,
        Uuid,
        Uuid,
        String,
        Option<Uuid>,
        Option<NaiveDate>,
        i64,
        i64,
        i64,
    );
    let weighted = Expr::col(D::Value).mul(Expr::col(D::Probability));
    let groups = [D::OrgId, D::PipelineId, D::StageId, D::Currency, D::OwnerId];
    let mut select = select
        .select_only()
        .columns(groups)
        .column(D::ExpectedCloseDate);
    for g in groups {
        select = select.group_by(g);
    }
    let rows: Vec<Grouped> = select
        .group_by(D::ExpectedCloseDate)
        .column_as(Expr::col(D::Id).count(), "deals")
        .column_as(sum(Expr::col(D::Value)), "value")
        .column_as(sum(weighted), "weighted")
        .into_tuple()
        .all(conn)
        .await?;
    let mut by: BTreeMap<(Uuid, Key), Sums> = BTreeMap::new();
    for (org, pipeline, stage, currency, owner, close, n, value, weighted) in rows {
        let key = (
            pipeline,
            stage,
            currency,
            owner.unwrap_or_default(),
            month_of(close),
        );
        let s = by.entry((org, key)).or_default();
        s.0 += n;
        s.1 += value;
        s.2 += weighted;
    }
    Ok(by)
}

/// Counts a pipeline's totals again from its deals (after its stages' probabilities changed,
/// which moves many deals' weighted values at once).
pub(crate) async fn rebuild(tx: &TenantTx, pipeline_id: Uuid) -> Result<(), ApiError> {
    tx.repo::<deal_total::Entity>()
        .delete_many(deal_total::Column::PipelineId.eq(pipeline_id))
        .await?;
    let repo = tx.repo::<deal::Entity>();
    let deals = repo.find().filter(deal::Column::PipelineId.eq(pipeline_id));
    let by = count(repo.conn(), deals).await?;
    add(tx, by.into_iter().map(|((_, k), s)| (k, s)).collect()).await
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
