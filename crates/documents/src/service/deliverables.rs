//! Deliverables a document commits to (`{title, quantity, frequency, platform, due_date}`),
//! with progress. `once`: `quantity` in all by the due date, at an even pace from the start.
//! `daily`, `weekly`, `monthly`: `quantity` in each period from the start (a day, a week, a
//! calendar month; the last one may be cut short by the due date), each period's share due by
//! its end. `current_count` is what was delivered in all. A daily job compares each active
//! deliverable with its pace: behind it, `is_on_track` turns false and the document's owner is
//! notified (once, when it falls behind).

use chrono::{DateTime, Duration, Months, Utc};
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

/// The most months a monthly deliverable counts (100 years).
const MAX_MONTHS: u32 = 1_200;

/// How many periods of a periodic deliverable have ended by `at` (all of them from the due date
/// on), and how many begin before its due date; `None` for `once`.
fn periods(d: &deliverable::Model, at: DateTime<Utc>) -> Option<(i64, i64)> {
    // Days and weeks have one length: counted by arithmetic.
    let fixed = |len: Duration| {
        let len = len.num_seconds();
        let span = (d.due_date - d.start_date).num_seconds().max(1);
        let all = (span + len - 1) / len;
        (((at - d.start_date).num_seconds() / len).clamp(0, all), all)
    };
    let (ended, all) = match d.frequency.as_str() {
        "daily" => fixed(Duration::days(1)),
        "weekly" => fixed(Duration::weeks(1)),
        "monthly" => {
            let (mut ended, mut all) = (0, 1);
            for k in 1..=MAX_MONTHS {
                match d.start_date.checked_add_months(Months::new(k)) {
                    Some(end) if end < d.due_date => {
                        all += 1;
                        if end <= at {
                            ended = i64::from(k);
                        }
                    }
                    _ => break,
                }
            }
            (ended, all)
        }
        _ => return None,
    };
    Some((if at >= d.due_date { all } else { ended }, all))
}

/// What is to be delivered in all: `quantity`, or `quantity` in each period.
pub(crate) fn target(d: &deliverable::Model) -> i32 {
    match periods(d, d.start_date) {
        Some((_, all)) => i32::try_from(i64::from(d.quantity) * all).unwrap_or(i32::MAX),
        None => d.quantity,
    }
}

/// What should be done by `now`: at an even pace for `once`, each period's share by its end
/// for the others (all of it from the due date on).
pub(crate) fn expected(d: &deliverable::Model, now: DateTime<Utc>) -> i32 {
    if let Some((ended, _)) = periods(d, now) {
        return i32::try_from(i64::from(d.quantity) * ended).unwrap_or(i32::MAX);
    }
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
    d.status != "active" || d.current_count >= target(d) || d.current_count >= expected(d, now)
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
    let reached = patch.current_count.is_some_and(|c| c >= target(&next));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn deliverable(quantity: i32, frequency: &str, start: &str, due: &str) -> deliverable::Model {
        deliverable::Model {
            id: Uuid::nil(),
            org_id: Uuid::nil(),
            document_id: Uuid::nil(),
            title: "Posts".into(),
            quantity,
            frequency: frequency.into(),
            platform: None,
            start_date: at(start),
            due_date: at(due),
            current_count: 0,
            status: "active".into(),
            is_on_track: true,
            created_by: Uuid::nil(),
            created_at: at(start),
            updated_at: at(start),
        }
    }

    #[test]
    fn once_is_an_even_pace_to_the_due_date() {
        let d = deliverable(10, "once", "2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z");
        assert_eq!(target(&d), 10);
        assert_eq!(expected(&d, at("2025-12-31T00:00:00Z")), 0);
        assert_eq!(expected(&d, at("2026-01-06T00:00:00Z")), 5);
        assert_eq!(expected(&d, at("2026-02-01T00:00:00Z")), 10);
    }

    #[test]
    fn each_period_owes_its_quantity_by_its_end() {
        // Three a week from a Monday for 17 days: weeks from the 5th, 12th, 19th (cut short).
        let d = deliverable(3, "weekly", "2026-01-05T09:00:00Z", "2026-01-22T09:00:00Z");
        assert_eq!(target(&d), 9);
        assert_eq!(
            expected(&d, at("2026-01-12T08:59:59Z")),
            0,
            "the first week is not over"
        );
        assert_eq!(expected(&d, at("2026-01-12T09:00:00Z")), 3);
        assert_eq!(expected(&d, at("2026-01-21T00:00:00Z")), 6);
        assert_eq!(
            expected(&d, at("2026-01-22T09:00:00Z")),
            9,
            "all of it by the due date"
        );
        let mut on = d.clone();
        on.current_count = 6;
        assert!(on_track(&on, at("2026-01-20T00:00:00Z")));
        on.current_count = 5;
        assert!(!on_track(&on, at("2026-01-20T00:00:00Z")));

        let daily = deliverable(1, "daily", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z");
        assert_eq!(
            (target(&daily), expected(&daily, at("2026-01-10T12:00:00Z"))),
            (30, 9)
        );
    }

    #[test]
    fn months_are_calendar_months_and_end_on_the_last_day_when_shorter() {
        // From 31 January: periods end on 28 February, 31 March (the day clamps, then returns).
        let d = deliverable(4, "monthly", "2026-01-31T00:00:00Z", "2026-06-15T00:00:00Z");
        assert_eq!(
            target(&d),
            20,
            "January to May's periods, the last cut short"
        );
        assert_eq!(expected(&d, at("2026-02-27T00:00:00Z")), 0);
        assert_eq!(expected(&d, at("2026-02-28T00:00:00Z")), 4);
        assert_eq!(expected(&d, at("2026-03-31T00:00:00Z")), 8);
        // A due date two hundred years out: a hundred years of months are counted, no more.
        let long = deliverable(1, "monthly", "2026-01-01T00:00:00Z", "2226-01-01T00:00:00Z");
        assert_eq!(target(&long), 1_201);
    }
}
