//! Fit scoring and leads (outreach's Scoring and Leads tabs). An org sets criteria per product
//! (a name, a weight, optionally a rule); scoring a person for a product records one assessment
//! per criterion assessed (0 to 100; a criterion with a rule is assessed by it: 100 when the
//! person matches, 0 otherwise), every scoring kept as history. The person's fit is the
//! weighted mean over the product's criteria, each at its latest assessment (a criterion never
//! assessed counts 0), kept as their current score: a lead, ranked by fit, which a human
//! accepts or rejects.

use std::collections::HashMap;

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::publish;
use crate::entity::{contact, fit_assessment, fit_criterion, fit_score};
use crate::events::{ContactScored, LeadReviewed};
use crate::ownership::Who;

/// Criteria one product may have.
pub(crate) const MAX_CRITERIA: usize = 50;
/// Criteria one org may have, all products together.
const MAX_ORG_CRITERIA: u64 = 1_000;
pub(crate) const REVIEW_STATES: [&str; 3] = ["pending", "accepted", "rejected"];

fn no_criterion() -> ApiError {
    ApiError::not_found("no such fit criterion in this organization")
}

/// A product key: lowercase letters, digits, `-` and `_`, from a letter or digit, up to 64.
pub(crate) fn product(field: &str, key: &str) -> Result<(), ApiError> {
    let mut chars = key.chars();
    let ok = key.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    match ok {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            "a product key is lowercase letters, digits, `-` and `_`, up to 64",
        )),
    }
}

fn name_taken(e: kernel::sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("this product has a criterion of this name").with_details(
                serde_json::json!({ "fields": { "name": "this product has a criterion of this name" } }),
            )
        }
        _ => e.into(),
    }
}

pub(crate) async fn criterion(tx: &TenantTx, id: Uuid) -> Result<fit_criterion::Model, ApiError> {
    tx.repo::<fit_criterion::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_criterion)
}

/// The product's criteria, by name.
pub(crate) async fn criteria(
    tx: &TenantTx,
    product: &str,
) -> Result<Vec<fit_criterion::Model>, ApiError> {
    let repo = tx.repo::<fit_criterion::Entity>();
    Ok(repo
        .find()
        .filter(fit_criterion::Column::Product.eq(product))
        .order_by_asc(fit_criterion::Column::Name)
        .all(repo.conn())
        .await?)
}

pub(crate) struct NewCriterion {
    pub product: String,
    pub name: String,
    pub description: Option<String>,
    pub weight: i32,
    pub rule: Option<String>,
}

pub(crate) async fn create_criterion(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    new: NewCriterion,
) -> Result<fit_criterion::Model, ApiError> {
    product("product", &new.product)?;
    if let Some(rule) = &new.rule {
        super::segments::rule_query(ctx, tx.org_id(), rule)?;
    }
    let repo = tx.repo::<fit_criterion::Entity>();
    if criteria(tx, &new.product).await?.len() >= MAX_CRITERIA {
        return Err(ApiError::conflict(format!(
            "a product has at most {MAX_CRITERIA} criteria"
        )));
    }
    if repo.count().await? >= MAX_ORG_CRITERIA {
        return Err(ApiError::conflict(format!(
            "an organization has at most {MAX_ORG_CRITERIA} fit criteria"
        )));
    }
    let now = Utc::now();
    repo.insert(fit_criterion::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        product: Set(new.product),
        name: Set(new.name),
        description: Set(new.description),
        weight: Set(new.weight),
        rule: Set(new.rule),
        created_by: Set(by),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .await
    .map_err(name_taken)
}

pub(crate) struct CriterionPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub weight: Option<i32>,
    pub rule: Option<Option<String>>,
}

/// Changes a criterion; scores already given stay as they were (history), the next scoring
/// uses the new weight and rule.
pub(crate) async fn update_criterion(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
    patch: CriterionPatch,
) -> Result<fit_criterion::Model, ApiError> {
    let row = criterion(tx, id).await?;
    if let Some(Some(rule)) = &patch.rule {
        super::segments::rule_query(ctx, tx.org_id(), rule)?;
    }
    let mut m: fit_criterion::ActiveModel = row.into();
    if let Some(n) = patch.name {
        m.name = Set(n);
    }
    if let Some(d) = patch.description {
        m.description = Set(d);
    }
    if let Some(w) = patch.weight {
        m.weight = Set(w);
    }
    if let Some(r) = patch.rule {
        m.rule = Set(r);
    }
    m.updated_at = Set(Utc::now());
    tx.repo::<fit_criterion::Entity>()
        .update(m)
        .await
        .map_err(name_taken)
}

/// Deletes a criterion; its assessments stay in the persons' history.
pub(crate) async fn delete_criterion(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    let removed = tx
        .repo::<fit_criterion::Entity>()
        .delete_many(fit_criterion::Column::Id.eq(id))
        .await?;
    match removed {
        0 => Err(no_criterion()),
        _ => Ok(()),
    }
}

/// One criterion's score as given.
pub(crate) struct Given {
    pub criterion_id: Uuid,
    pub score: i32,
    pub note: Option<String>,
}

/// A person's fit for one product now: the score row and each criterion at its latest
/// assessment.
pub(crate) struct Fit {
    pub score: fit_score::Model,
    pub current: Vec<(fit_criterion::Model, Option<fit_assessment::Model>)>,
}

/// The latest assessment of each criterion of the person for the product.
async fn latest(
    tx: &TenantTx,
    contact_id: Uuid,
    product: &str,
) -> Result<HashMap<Uuid, fit_assessment::Model>, ApiError> {
    let repo = tx.repo::<fit_assessment::Entity>();
    let rows = repo
        .find()
        .filter(fit_assessment::Column::ContactId.eq(contact_id))
        .filter(fit_assessment::Column::Product.eq(product))
        .order_by_desc(fit_assessment::Column::AssessedAt)
        .order_by_desc(fit_assessment::Column::Id)
        .all(repo.conn())
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        out.entry(r.criterion_id).or_insert(r);
    }
    Ok(out)
}

/// Each criterion with its latest assessment, if any.
fn pair(
    criteria: Vec<fit_criterion::Model>,
    mut latest: HashMap<Uuid, fit_assessment::Model>,
) -> Vec<(fit_criterion::Model, Option<fit_assessment::Model>)> {
    criteria
        .into_iter()
        .map(|c| {
            let a = latest.remove(&c.id);
            (c, a)
        })
        .collect()
}

/// The weighted mean, 0 to 100, of each criterion at its latest assessment (none: 0).
fn weighted(current: &[(fit_criterion::Model, Option<fit_assessment::Model>)]) -> i32 {
    let total: i64 = current.iter().map(|(c, _)| i64::from(c.weight)).sum();
    if total == 0 {
        return 0;
    }
    let sum: i64 = current
        .iter()
        .map(|(c, a)| i64::from(c.weight) * i64::from(a.as_ref().map_or(0, |a| a.score)))
        .sum();
    // Rounded half up: integer arithmetic, the same on every backend.
    ((2 * sum + total) / (2 * total)) as i32
}

/// Scores a person for a product: the criteria given, and every criterion with a rule, get a
/// new assessment; the fit is recomputed and kept (a lead, `pending` until reviewed; a review
/// stays through later scorings). 422 naming a criterion that is not the product's.
pub(crate) async fn score(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    contact_id: Uuid,
    product_key: &str,
    given: Vec<Given>,
) -> Result<Fit, ApiError> {
    product("product", product_key)?;
    super::writable(tx, who, contact_id).await?;
    let all = criteria(tx, product_key).await?;
    if all.is_empty() {
        return Err(ApiError::validation(
            "product",
            "this product has no fit criteria: add some under /scoring/criteria",
        ));
    }
    let mut by_id: HashMap<Uuid, Given> = HashMap::new();
    for g in given {
        if !all.iter().any(|c| c.id == g.criterion_id) {
            return Err(ApiError::validation(
                "scores",
                format!("{} is no criterion of `{product_key}`", g.criterion_id),
            ));
        }
        if by_id.insert(g.criterion_id, g).is_some() {
            return Err(ApiError::validation(
                "scores",
                "a criterion is scored once per scoring",
            ));
        }
    }
    let mut current = latest(tx, contact_id, product_key).await?;
    let now = Utc::now();
    let scoring_id = Uuid::now_v7();
    let mut rows = Vec::new();
    for c in &all {
        let (score, note, source) = match (by_id.remove(&c.id), &c.rule) {
            (Some(g), _) => (g.score, g.note, "manual"),
            (None, Some(rule)) => {
                let hit = super::segments::matches(ctx, tx, rule, contact_id).await?;
                (if hit { 100 } else { 0 }, None, "rule")
            }
            (None, None) => continue,
        };
        let row = fit_assessment::Model {
            id: Uuid::now_v7(),
            org_id: tx.org_id(),
            contact_id,
            product: product_key.to_owned(),
            criterion_id: c.id,
            criterion_name: c.name.clone(),
            weight: c.weight,
            score,
            note,
            source: source.to_owned(),
            scoring_id,
            assessed_by: who.user,
            assessed_at: now,
        };
        current.insert(c.id, row.clone());
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ApiError::validation(
            "scores",
            "nothing to assess: give a score for at least one criterion (none has a rule)",
        ));
    }
    let assessed = rows.len() as u64;
    tx.repo::<fit_assessment::Entity>()
        .insert_many(rows.into_iter().map(Into::into))
        .await?;
    let current = pair(all, current);
    let fit = weighted(&current);
    let repo = tx.repo::<fit_score::Entity>();
    let existing = repo
        .find()
        .filter(fit_score::Column::ContactId.eq(contact_id))
        .filter(fit_score::Column::Product.eq(product_key))
        .one(repo.conn())
        .await?;
    let previous = existing.as_ref().map(|s| s.score);
    let row = match existing {
        Some(s) => {
            let mut m: fit_score::ActiveModel = s.into();
            m.score = Set(fit);
            m.scored_at = Set(now);
            m.scored_by = Set(who.user);
            repo.update(m).await?
        }
        None => {
            repo.insert(fit_score::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                contact_id: Set(contact_id),
                product: Set(product_key.to_owned()),
                score: Set(fit),
                scored_at: Set(now),
                scored_by: Set(who.user),
                review_state: Set("pending".into()),
                reviewed_by: Set(None),
                reviewed_at: Set(None),
                review_note: Set(None),
            })
            .await?
        }
    };
    super::refresh_activity_and_fit(tx, contact_id).await?;
    publish(
        ctx,
        tx,
        who.user,
        &ContactScored {
            contact_id,
            product: product_key.to_owned(),
            score: fit,
            previous_score: previous,
            criteria: assessed,
        },
    )
    .await?;
    Ok(Fit {
        score: row,
        current,
    })
}

/// The person's fit for every product they were scored for, by product.
pub(crate) async fn of_person(tx: &TenantTx, contact_id: Uuid) -> Result<Vec<Fit>, ApiError> {
    let repo = tx.repo::<fit_score::Entity>();
    let scores = repo
        .find()
        .filter(fit_score::Column::ContactId.eq(contact_id))
        .order_by_asc(fit_score::Column::Product)
        .all(repo.conn())
        .await?;
    let mut out = Vec::with_capacity(scores.len());
    for s in scores {
        let latest = latest(tx, contact_id, &s.product).await?;
        let current = pair(criteria(tx, &s.product).await?, latest);
        out.push(Fit { score: s, current });
    }
    Ok(out)
}

pub(crate) async fn lead(tx: &TenantTx, id: Uuid) -> Result<fit_score::Model, ApiError> {
    tx.repo::<fit_score::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such lead in this organization"))
}

/// A human's review of a lead: `accepted`, `rejected`, or back to `pending`. The person must be
/// the caller's to write; the lead comes back with them.
pub(crate) async fn review(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    id: Uuid,
    state: &str,
    note: Option<String>,
) -> Result<(fit_score::Model, contact::Model), ApiError> {
    super::one_of("review_state", state, &REVIEW_STATES)?;
    let row = lead(tx, id).await?;
    // A lead of a person the caller does not read does not exist for them.
    let person = super::writable(tx, who, row.contact_id)
        .await
        .map_err(|e| match e.code() {
            kernel::ErrorCode::NotFound => ApiError::not_found("no such lead in this organization"),
            _ => e,
        })?;
    let previous = row.review_state.clone();
    let contact_id = row.contact_id;
    let product = row.product.clone();
    let mut m: fit_score::ActiveModel = row.into();
    m.review_state = Set(state.to_owned());
    m.reviewed_by = Set(Some(who.user));
    m.reviewed_at = Set(Some(Utc::now()));
    m.review_note = Set(note);
    let row = tx.repo::<fit_score::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        who.user,
        &LeadReviewed {
            contact_id,
            lead_id: id,
            product,
            review_state: state.to_owned(),
            previous_state: previous,
        },
    )
    .await?;
    Ok((row, person))
}

/// A merge: `from`'s assessments become `into`'s history; its current fit for a product `into`
/// has no fit for moves over, the others are dropped (`into`'s stays).
pub(crate) async fn merge(tx: &TenantTx, into: Uuid, from: Uuid) -> Result<(), ApiError> {
    tx.repo::<fit_assessment::Entity>()
        .repoint(fit_assessment::Column::ContactId, from, into)
        .await?;
    let repo = tx.repo::<fit_score::Entity>();
    let ours: Vec<String> = repo
        .find()
        .filter(fit_score::Column::ContactId.eq(into))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|s| s.product)
        .collect();
    repo.delete_many(
        fit_score::Column::ContactId
            .eq(from)
            .and(fit_score::Column::Product.is_in(ours)),
    )
    .await?;
    repo.repoint(fit_score::Column::ContactId, from, into)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(weight: i32) -> fit_criterion::Model {
        let now = Utc::now();
        fit_criterion::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            product: "p".into(),
            name: format!("w{weight}"),
            description: None,
            weight,
            rule: None,
            created_by: Uuid::nil(),
            created_at: now,
            updated_at: now,
        }
    }

    fn a(score: i32) -> Option<fit_assessment::Model> {
        Some(fit_assessment::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            contact_id: Uuid::nil(),
            product: "p".into(),
            criterion_id: Uuid::nil(),
            criterion_name: "x".into(),
            weight: 1,
            score,
            note: None,
            source: "manual".into(),
            scoring_id: Uuid::nil(),
            assessed_by: Uuid::nil(),
            assessed_at: Utc::now(),
        })
    }

    #[test]
    fn the_fit_is_the_weighted_mean_with_unassessed_criteria_at_zero() {
        // (3·80 + 1·40) / 4 = 70.
        assert_eq!(weighted(&[(c(3), a(80)), (c(1), a(40))]), 70);
        // (2·100 + 1·0) / 3 = 66.67 → 67; a criterion never assessed counts 0.
        assert_eq!(weighted(&[(c(2), a(100)), (c(1), None)]), 67);
        // 1·50 / 2 = 25 exactly; 1·1 / 2 = 0.5 rounds up.
        assert_eq!(weighted(&[(c(1), a(50)), (c(1), None)]), 25);
        assert_eq!(weighted(&[(c(1), a(1)), (c(1), None)]), 1);
        assert_eq!(weighted(&[]), 0);
    }

    #[test]
    fn product_keys_are_checked() {
        for ok in ["enterprise", "plan-2", "a_b", "9lives"] {
            assert!(product("product", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Enterprise", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(product("product", bad).is_err(), "{bad}");
        }
    }
}
