//! Deliverables a document commits to (`{title, quantity, frequency, platform, due_date}`),
//! with progress. A daily job compares each active deliverable with an even pace from its
//! start to its due date: behind it, `is_on_track` turns false and the document's owner is
//! notified (once, when it falls behind).

use chrono::{DateTime, Utc};
use kernel::sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::{Actor, document, not_template, publish};
use crate::entity::deliverable;
use crate::events::DeliverableBehind;

pub(crate) const FREQUENCIES: [&str; 4] = ["once", "daily", "weekly", "monthly"];
pub(crate) const STATUSES: [&str; 3] = ["active", "completed", "cancelled"];
/// The most deliverables a document holds.
pub(crate) const MAX_PER_DOCUMENT: usize = 500;

pub(crate) fn no_deliverable() -> ApiError {
    ApiError::not_found("no such deliverable in this organization")
}

/// What should be done by `now` at an even pace (all of it from the due date on).
pub(crate) fn expected(d: &deliverable::Model, now: DateTime<Utc>) -> i32 {
    if now >= d.due_date {
        return d.quantity;
    }
    let span = (d.due_date - d.start_date).num_seconds();
    if span <= 0 || now <= d.start_date {
        return 0;
    }
    let done = (now - d.start_date).num_seconds();
    let share = i64::from(d.quantity) * done / span;
    i32::try_from(share).unwrap_or(d.quantity)
}

/// Whether a deliverable keeps its pace at `now` (a finished or cancelled one does).
pub(crate) fn on_track(d: &deliverable::Model, now: DateTime<Utc>) -> bool {
    d.status != "active" || d.current_count >= d.quantity || d.current_count >= expected(d, now)
}

pub(crate) struct NewDeliverable {
    pub title: String,
    pub quantity: i32,
    pub frequency: String,
    pub platform: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: DateTime<Utc>,
}

pub(crate) async fn create(
    tx: &TenantTx,
    by: Uuid,
    document_id: Uuid,
    new: NewDeliverable,
) -> Result<deliverable::Model, ApiError> {
    let doc = document(tx, document_id).await?;
    not_template(&doc, "delivered")?;
    super::one_of("frequency", &new.frequency, &FREQUENCIES)?;
    let now = Utc::now();
    let start = new.start_date.unwrap_or(now);
    if new.due_date <= start {
        return Err(ApiError::validation(
            "due_date",
            "after the start date (today when not given)",
        ));
    }
    if list(tx, document_id).await?.len() >= MAX_PER_DOCUMENT {
        return Err(ApiError::conflict(
            "a document holds at most 500 deliverables",
        ));
    }
    Ok(tx
        .repo::<deliverable::Entity>()
        .insert(deliverable::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(document_id),
            title: Set(new.title),
            quantity: Set(new.quantity),
            frequency: Set(new.frequency),
            platform: Set(new.platform),
            start_date: Set(start),
            due_date: Set(new.due_date),
            current_count: Set(0),
            status: Set("active".into()),
            is_on_track: Set(true),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?)
}

pub(crate) async fn list(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Vec<deliverable::Model>, ApiError> {
    let repo = tx.repo::<deliverable::Entity>();
    Ok(repo
        .find()
        .filter(deliverable::Column::DocumentId.eq(document_id))
        .order_by_asc(deliverable::Column::DueDate)
        .order_by_asc(deliverable::Column::Id)
        .all(repo.conn())
        .await?)
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<deliverable::Model, ApiError> {
    tx.repo::<deliverable::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_deliverable)
}

/// What `PATCH /deliverables/{id}` changes.
#[derive(Default)]
pub(crate) struct Patch {
    pub title: Option<String>,
    pub quantity: Option<i32>,
    pub current_count: Option<i32>,
    pub status: Option<String>,
    pub platform: Option<Option<String>>,
    pub due_date: Option<DateTime<Utc>>,
}

pub(crate) async fn update(
    tx: &TenantTx,
    id: Uuid,
    patch: Patch,
) -> Result<deliverable::Model, ApiError> {
    let d = get(tx, id).await?;
    if let Some(s) = &patch.status {
        super::one_of("status", s, &STATUSES)?;
    }
    let mut next = d.clone();
    if let Some(t) = patch.title {
        next.title = t;
    }
    if let Some(q) = patch.quantity {
        next.quantity = q;
    }
    if let Some(c) = patch.current_count {
        next.current_count = c;
    }
    if let Some(p) = patch.platform {
        next.platform = p;
    }
    if let Some(due) = patch.due_date {
        if due <= d.start_date {
            return Err(ApiError::validation("due_date", "after the start date"));
        }
        next.due_date = due;
    }
    let reached = patch.current_count.is_some_and(|c| c >= next.quantity);
    match patch.status {
        Some(s) => next.status = s,
        None if reached && d.status == "active" => next.status = "completed".into(),
        None => {}
    }
    let now = Utc::now();
    next.updated_at = now;
    next.is_on_track = on_track(&next, now);
    // One statement, every column as it now stands.
    let row = deliverable::ActiveModel::from(next).reset_all();
    Ok(tx.repo::<deliverable::Entity>().update(row).await?)
}

pub(crate) async fn delete(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    match tx.repo::<deliverable::Entity>().delete(id).await? {
        true => Ok(()),
        false => Err(no_deliverable()),
    }
}

/// An org's active deliverables checked against their pace; those that just fell behind are
/// announced. The number that did.
pub(crate) async fn check_org(
    ctx: &CellContext,
    tx: &TenantTx,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let repo = tx.repo::<deliverable::Entity>();
    let active = repo
        .find()
        .filter(deliverable::Column::Status.eq("active"))
        .all(repo.conn())
        .await?;
    let mut behind = 0;
    for d in active {
        let track = on_track(&d, now);
        if track == d.is_on_track {
            continue;
        }
        let mut row: deliverable::ActiveModel = d.clone().into();
        row.is_on_track = Set(track);
        row.updated_at = Set(now);
        repo.update(row).await?;
        if !track {
            behind += 1;
            publish(
                ctx,
                tx,
                Actor::System,
                &DeliverableBehind {
                    document_id: d.document_id,
                    deliverable_id: d.id,
                    title: d.title.clone(),
                    current_count: d.current_count,
                    expected: expected(&d, now),
                    quantity: d.quantity,
                },
            )
            .await?;
        }
    }
    Ok(behind)
}

/// Every org with active deliverables, each in its own transaction.
pub(crate) async fn sweep(ctx: &CellContext, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let orgs = kernel::db::orgs_with::<deliverable::Entity>(
        ctx.db(),
        deliverable::Column::Status.eq("active"),
    )
    .await?;
    let mut behind = 0;
    for org in orgs {
        let ctx = ctx.clone();
        behind += kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(org).await?;
            let n = check_org(&ctx, &tx, now)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            tx.commit().await?;
            Ok(n)
        })
        .await?;
    }
    Ok(behind)
}
