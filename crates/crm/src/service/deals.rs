//! Pipelines, their stages, and deals moving through them; the forecast.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Serialize;
use uuid::Uuid;

use super::publish;
use crate::entity::{deal, pipeline, stage, stage_change};
use crate::events::{DealCreated, DealStageChanged};
use crate::module::PipelineSeed;
use crate::ownership::Who;

fn no_pipeline() -> ApiError {
    ApiError::not_found("no such pipeline in this organization")
}

fn no_deal() -> ApiError {
    ApiError::not_found("no such deal in this organization")
}

/// The org's pipelines, oldest first.
pub(crate) async fn existing_pipelines(tx: &TenantTx) -> Result<Vec<pipeline::Model>, ApiError> {
    let repo = tx.repo::<pipeline::Entity>();
    Ok(repo
        .find()
        .order_by_asc(pipeline::Column::CreatedAt)
        .order_by_asc(pipeline::Column::Id)
        .all(repo.conn())
        .await?)
}

/// The org's pipelines, oldest first; the first time, the cell's seed pipeline is made (in a
/// write transaction).
pub(crate) async fn pipelines(
    tx: &TenantTx,
    seed: &PipelineSeed,
) -> Result<Vec<pipeline::Model>, ApiError> {
    let found = existing_pipelines(tx).await?;
    if !found.is_empty() {
        return Ok(found);
    }
    let stages = seed
        .stages
        .iter()
        .map(|s| StageInput {
            id: None,
            name: s.name.clone(),
            color: s.color.clone(),
            probability: s.probability,
            is_closed: s.is_closed,
            is_won: s.is_won,
        })
        .collect();
    Ok(vec![
        create_pipeline(tx, seed.name.clone(), true, stages).await?,
    ])
}

/// The pipeline a deal goes to when none is named.
async fn default_pipeline(tx: &TenantTx, seed: &PipelineSeed) -> Result<pipeline::Model, ApiError> {
    let all = pipelines(tx, seed).await?;
    let first = all.first().cloned();
    all.into_iter()
        .find(|p| p.is_default)
        .or(first)
        .ok_or_else(no_pipeline)
}

pub(crate) async fn pipeline(tx: &TenantTx, id: Uuid) -> Result<pipeline::Model, ApiError> {
    tx.repo::<pipeline::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_pipeline)
}

/// A pipeline's stages in order.
pub(crate) async fn stages(
    tx: &TenantTx,
    pipeline_id: Uuid,
) -> Result<Vec<stage::Model>, ApiError> {
    let repo = tx.repo::<stage::Entity>();
    Ok(repo
        .find()
        .filter(stage::Column::PipelineId.eq(pipeline_id))
        .order_by_asc(stage::Column::Position)
        .order_by_asc(stage::Column::Id)
        .all(repo.conn())
        .await?)
}

/// A stage as configured (`id` names an existing one to keep).
pub(crate) struct StageInput {
    pub id: Option<Uuid>,
    pub name: String,
    pub color: Option<String>,
    pub probability: i32,
    pub is_closed: bool,
    pub is_won: bool,
}

fn check_stages(stages: &[StageInput]) -> Result<(), ApiError> {
    if stages.is_empty() {
        return Err(ApiError::validation(
            "stages",
            "a pipeline has at least one stage",
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        let field = format!("stages[{i}]");
        if !(0..=100).contains(&s.probability) {
            return Err(ApiError::validation(&field, "probability: 0 to 100"));
        }
        if s.is_won && !s.is_closed {
            return Err(ApiError::validation(&field, "a won stage is closed"));
        }
        if let Some(c) = &s.color
            && !(c.len() == 7
                && c.starts_with('#')
                && c[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
        {
            return Err(ApiError::validation(&field, "color: #rrggbb"));
        }
    }
    Ok(())
}

pub(crate) async fn create_pipeline(
    tx: &TenantTx,
    name: String,
    is_default: bool,
    stages: Vec<StageInput>,
) -> Result<pipeline::Model, ApiError> {
    check_stages(&stages)?;
    let now = Utc::now();
    let row = tx
        .repo::<pipeline::Entity>()
        .insert(pipeline::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            is_default: Set(is_default),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    let rows: Vec<stage::ActiveModel> = stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| stage::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            pipeline_id: Set(row.id),
            name: Set(s.name),
            position: Set(i as f64),
            color: Set(s.color),
            probability: Set(s.probability),
            is_closed: Set(s.is_closed),
            is_won: Set(s.is_won),
            created_at: Set(now),
        })
        .collect();
    tx.repo::<stage::Entity>().insert_many(rows).await?;
    Ok(row)
}

/// Replaces a pipeline's stages, in the order given: those with an `id` are kept (and
/// changed), those without are new, the others are removed, unless a deal is in one (409).
pub(crate) async fn configure_stages(
    tx: &TenantTx,
    pipeline_id: Uuid,
    input: Vec<StageInput>,
) -> Result<Vec<stage::Model>, ApiError> {
    pipeline(tx, pipeline_id).await?;
    check_stages(&input)?;
    let current = stages(tx, pipeline_id).await?;
    for id in input.iter().filter_map(|s| s.id) {
        if !current.iter().any(|c| c.id == id) {
            return Err(ApiError::validation(
                "stages",
                format!("stage {id} is not a stage of this pipeline"),
            ));
        }
    }
    let gone: Vec<Uuid> = current
        .iter()
        .map(|c| c.id)
        .filter(|id| !input.iter().any(|s| s.id == Some(*id)))
        .collect();
    if !gone.is_empty() {
        let repo = tx.repo::<deal::Entity>();
        let used = kernel::sea_orm::PaginatorTrait::count(
            repo.find()
                .filter(deal::Column::StageId.is_in(gone.clone())),
            repo.conn(),
        )
        .await?;
        if used > 0 {
            return Err(ApiError::conflict(format!(
                "{used} deals are in the stages this would remove: move them first"
            )));
        }
        tx.repo::<stage::Entity>()
            .delete_many(stage::Column::Id.is_in(gone))
            .await?;
    }
    let now = Utc::now();
    for (i, s) in input.into_iter().enumerate() {
        let model = stage::ActiveModel {
            id: Set(s.id.unwrap_or_else(Uuid::now_v7)),
            org_id: Set(tx.org_id()),
            pipeline_id: Set(pipeline_id),
            name: Set(s.name),
            position: Set(i as f64),
            color: Set(s.color),
            probability: Set(s.probability),
            is_closed: Set(s.is_closed),
            is_won: Set(s.is_won),
            created_at: Set(now),
        };
        match s.id {
            Some(_) => {
                let mut m = model;
                m.created_at = kernel::sea_orm::ActiveValue::NotSet;
                tx.repo::<stage::Entity>().update(m).await?;
            }
            None => {
                tx.repo::<stage::Entity>().insert(model).await?;
            }
        }
    }
    // Deals whose probability follows their stage follow a changed figure (a stage whose figure
    // stayed, or a new one, has none to change); the forecast's totals are counted again, which
    // also mends them if anything wrote deals past this module.
    let after = stages(tx, pipeline_id).await?;
    for s in &after {
        let was = current.iter().find(|c| c.id == s.id).map(|c| c.probability);
        if was.is_none_or(|p| p == s.probability) {
            continue;
        }
        tx.repo::<deal::Entity>()
            .update_many(
                vec![(deal::Column::Probability, Expr::value(s.probability))],
                deal::Column::StageId
                    .eq(s.id)
                    .and(deal::Column::ProbabilitySet.eq(false)),
            )
            .await?;
    }
    super::totals::rebuild(tx, pipeline_id).await?;
    Ok(after)
}

/// A deal the caller reads (the ownership policy, as for persons).
pub(crate) async fn get(tx: &TenantTx, who: &Who, id: Uuid) -> Result<deal::Model, ApiError> {
    let repo = tx.repo::<deal::Entity>();
    let mut select = repo.find().filter(deal::Column::Id.eq(id));
    if let Some(only) = readable(who) {
        select = select.filter(only);
    }
    select.one(repo.conn()).await?.ok_or_else(no_deal)
}

/// A person's deals the caller reads, newest first, at most `limit`.
pub(crate) async fn of_person(
    tx: &TenantTx,
    who: &Who,
    contact_id: Uuid,
    limit: u64,
) -> Result<Vec<deal::Model>, ApiError> {
    use kernel::sea_orm::{QueryOrder, QuerySelect};
    let repo = tx.repo::<deal::Entity>();
    let mut select = repo.find().filter(deal::Column::ContactId.eq(contact_id));
    if let Some(only) = readable(who) {
        select = select.filter(only);
    }
    Ok(select
        .order_by_desc(deal::Column::CreatedAt)
        .limit(limit)
        .all(repo.conn())
        .await?)
}

/// The deals this caller reads, as a condition (`None`: all).
pub(crate) fn readable(who: &Who) -> Option<kernel::sea_orm::Condition> {
    who.readable()
        .map(|_| kernel::sea_orm::Condition::all().add(deal::Column::OwnerId.eq(who.user)))
}

pub(crate) struct NewDeal {
    pub title: String,
    pub contact_id: Uuid,
    pub company_id: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub value: i64,
    pub currency: String,
    pub probability: Option<i32>,
    pub expected_close_date: Option<NaiveDate>,
}

/// The stage `id` of `pipeline_id` (422 otherwise).
async fn stage_of(tx: &TenantTx, pipeline_id: Uuid, id: Uuid) -> Result<stage::Model, ApiError> {
    stages(tx, pipeline_id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::validation("stage_id", "no such stage in the deal's pipeline"))
}

/// Creates a deal in the named (or default) pipeline's named (or first) stage, owned by its
/// creator; the person must be one the caller reads.
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    seed: &PipelineSeed,
    new: NewDeal,
) -> Result<deal::Model, ApiError> {
    let person = super::get(tx, who, new.contact_id)
        .await
        .map_err(|_| ApiError::validation("contact_id", "no such person in this organization"))?;
    let pipe = match new.pipeline_id {
        Some(id) => pipeline(tx, id)
            .await
            .map_err(|_| ApiError::validation("pipeline_id", "no such pipeline"))?,
        None => default_pipeline(tx, seed).await?,
    };
    let stage = match new.stage_id {
        Some(id) => stage_of(tx, pipe.id, id).await?,
        None => stages(tx, pipe.id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::conflict("this pipeline has no stages"))?,
    };
    if let Some(c) = new.company_id
        && tx
            .repo::<crate::entity::company::Entity>()
            .get(c)
            .await?
            .is_none()
    {
        return Err(ApiError::validation(
            "company_id",
            "no such company in this organization",
        ));
    }
    let now = Utc::now();
    let row = tx
        .repo::<deal::Entity>()
        .insert(deal::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            title: Set(new.title),
            contact_id: Set(person.id),
            company_id: Set(new.company_id.or(person.company_id)),
            pipeline_id: Set(pipe.id),
            stage_id: Set(stage.id),
            value: Set(new.value),
            currency: Set(new.currency),
            probability: Set(new.probability.unwrap_or(stage.probability)),
            probability_set: Set(new.probability.is_some()),
            expected_close_date: Set(new.expected_close_date),
            actual_close_date: Set(stage.is_closed.then(|| now.date_naive())),
            lost_reason: Set(None),
            owner_id: Set(Some(who.user)),
            stage_entered_at: Set(now),
            created_by: Set(who.user),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await?;
    super::totals::follow(tx, None, Some(&row)).await?;
    record_move(tx, who.user, row.id, None, stage.id).await?;
    publish(
        ctx,
        tx,
        who.user,
        &DealCreated {
            deal_id: row.id,
            contact_id: row.contact_id,
            value: row.value,
            currency: row.currency.clone(),
        },
    )
    .await?;
    Ok(row)
}

async fn record_move(
    tx: &TenantTx,
    by: Uuid,
    deal_id: Uuid,
    from: Option<Uuid>,
    to: Uuid,
) -> Result<(), ApiError> {
    tx.repo::<stage_change::Entity>()
        .insert(stage_change::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            deal_id: Set(deal_id),
            from_stage_id: Set(from),
            to_stage_id: Set(to),
            by: Set(by),
            at: Set(Utc::now()),
        })
        .await?;
    Ok(())
}

/// Moves a deal to another stage of its pipeline: its probability becomes the stage's unless
/// `probability` is given, a closed stage sets the close date, the move is recorded
/// (`crm.deal.stage_changed`).
pub(crate) async fn move_to(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    stage_id: Uuid,
    probability: Option<i32>,
    lost_reason: Option<String>,
) -> Result<deal::Model, ApiError> {
    let row = get(tx, who, id).await?;
    who.require_write(row.owner_id)?;
    let to = stage_of(tx, row.pipeline_id, stage_id).await?;
    let from = row.stage_id;
    let now = Utc::now();
    let before = row.clone();
    let mut m: deal::ActiveModel = row.into();
    m.stage_id = Set(to.id);
    m.probability = Set(probability.unwrap_or(to.probability));
    m.probability_set = Set(probability.is_some());
    m.actual_close_date = Set(to.is_closed.then(|| now.date_naive()));
    m.lost_reason = Set(match (to.is_closed, to.is_won) {
        (true, false) => lost_reason,
        _ => None,
    });
    if from != to.id {
        m.stage_entered_at = Set(now);
    }
    m.updated_at = Set(now);
    let row = tx.repo::<deal::Entity>().update(m).await?;
    super::totals::follow(tx, Some(&before), Some(&row)).await?;
    if from != to.id {
        record_move(tx, who.user, id, Some(from), to.id).await?;
        publish(
            ctx,
            tx,
            who.user,
            &DealStageChanged {
                deal_id: id,
                from_stage_id: from,
                to_stage_id: to.id,
                won: to.is_closed && to.is_won,
                lost: to.is_closed && !to.is_won,
            },
        )
        .await?;
    }
    Ok(row)
}

/// What may change on a deal; `Some(None)` clears.
#[derive(Default)]
pub(crate) struct Change {
    pub title: Option<String>,
    pub value: Option<i64>,
    pub currency: Option<String>,
    pub probability: Option<Option<i32>>,
    pub expected_close_date: Option<Option<NaiveDate>>,
}

pub(crate) async fn update(
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    change: Change,
) -> Result<deal::Model, ApiError> {
    let row = get(tx, who, id).await?;
    who.require_write(row.owner_id)?;
    let stage_probability = stages(tx, row.pipeline_id)
        .await?
        .into_iter()
        .find(|s| s.id == row.stage_id)
        .map_or(row.probability, |s| s.probability);
    let before = row.clone();
    let mut m: deal::ActiveModel = row.into();
    if let Some(t) = change.title {
        m.title = Set(t);
    }
    if let Some(v) = change.value {
        m.value = Set(v);
    }
    if let Some(c) = change.currency {
        m.currency = Set(c);
    }
    if let Some(p) = change.probability {
        m.probability = Set(p.unwrap_or(stage_probability));
        m.probability_set = Set(p.is_some());
    }
    if let Some(d) = change.expected_close_date {
        m.expected_close_date = Set(d);
    }
    m.updated_at = Set(Utc::now());
    let row = tx.repo::<deal::Entity>().update(m).await?;
    super::totals::follow(tx, Some(&before), Some(&row)).await?;
    Ok(row)
}

pub(crate) async fn delete(tx: &TenantTx, who: &Who, id: Uuid) -> Result<(), ApiError> {
    let row = get(tx, who, id).await?;
    who.require_write(row.owner_id)?;
    tx.repo::<deal::Entity>().trash(id).await?;
    super::totals::follow(tx, Some(&row), None).await?;
    Ok(())
}

/// Whole days between two instants (the later first), never negative.
pub(crate) fn days(later: chrono::DateTime<Utc>, earlier: chrono::DateTime<Utc>) -> i64 {
    Ord::max((later - earlier).num_days(), 0)
}

/// One stage's share of the forecast.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::StageForecast)]
pub struct StageForecast {
    pub stage_id: Uuid,
    pub name: String,
    pub count: u64,
    /// Minor units.
    pub value: i64,
}

/// The weighted pipeline in one currency (minor units).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Forecast)]
pub struct Forecast {
    pub currency: String,
    /// The sum of the open deals' values.
    pub total_pipeline_value: i64,
    /// Σ value × probability / 100 over the open deals, rounded to the minor unit.
    pub weighted_value: i64,
    /// Open deals per open stage, in stage order.
    pub deals_by_stage: Vec<StageForecast>,
    /// The weighted value of the open deals expected to close this calendar month (UTC).
    pub expected_revenue_this_month: i64,
}

/// The forecast of one pipeline, per currency (open deals the caller reads), from the running
/// totals (`super::totals`): a few rows per stage, whatever the number of deals.
pub(crate) async fn forecast(
    tx: &TenantTx,
    who: &Who,
    pipeline_id: Uuid,
) -> Result<Vec<Forecast>, ApiError> {
    let all_stages = stages(tx, pipeline_id).await?;
    let open: Vec<&stage::Model> = all_stages.iter().filter(|s| !s.is_closed).collect();
    let owner = readable(who).map(|_| who.user);
    let rows =
        super::totals::of(tx, pipeline_id, open.iter().map(|s| s.id).collect(), owner).await?;
    let this_month = super::totals::month_of(Some(Utc::now().date_naive()));
    // Per currency, per stage: (deals, value, weighted, weighted closing this month); weighted
    // sums in hundredths of a minor unit, rounded once at the end.
    let mut by_currency: BTreeMap<String, BTreeMap<Uuid, [i128; 4]>> = BTreeMap::new();
    for r in rows {
        let s = by_currency
            .entry(r.currency)
            .or_default()
            .entry(r.stage_id)
            .or_default();
        s[0] += i128::from(r.deals);
        s[1] += i128::from(r.value);
        s[2] += i128::from(r.weighted);
        if r.close_month == this_month {
            s[3] += i128::from(r.weighted);
        }
    }
    let round = |x: i128| -> i64 { ((x + 50).div_euclid(100)) as i64 };
    Ok(by_currency
        .into_iter()
        // A currency whose deals all left keeps rows of zeros: not a forecast.
        .filter(|(_, stages)| stages.values().any(|s| s[0] != 0))
        .map(|(currency, per_stage)| {
            let total = |i: usize| per_stage.values().map(|s| s[i]).sum::<i128>();
            Forecast {
                total_pipeline_value: total(1) as i64,
                weighted_value: round(total(2)),
                deals_by_stage: open
                    .iter()
                    .map(|s| {
                        let here = per_stage.get(&s.id).copied().unwrap_or_default();
                        StageForecast {
                            stage_id: s.id,
                            name: s.name.clone(),
                            count: here[0] as u64,
                            value: here[1] as i64,
                        }
                    })
                    .collect(),
                expected_revenue_this_month: round(total(3)),
                currency,
            }
        })
        .collect())
}
