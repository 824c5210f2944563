//! Recurring invoices (the spec's `invoice_recurrence_rules`, the agency's `InvoiceSchedule`): a
//! schedule copies its template invoice on each issue date, with the next number, and sends the
//! copy when it says so. A daily job makes what is due; each issue is claimed by moving the
//! schedule's next date with a compare-and-set, so a repeated or concurrent run makes it once.

use chrono::{Months, NaiveDate, Utc};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, sea_query::Expr};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::schedule;
use crate::module::Settings;
use crate::service;

pub(crate) const FREQUENCIES: [&str; 4] = ["weekly", "monthly", "quarterly", "annually"];
/// Issues one run makes for a schedule at most (a cell down for months catches up this far).
const CATCH_UP: usize = 12;

/// The issue date after `d`: a week, or one, three or twelve months later (the 31st becomes the
/// month's last day).
pub(crate) fn after(d: NaiveDate, frequency: &str) -> Option<NaiveDate> {
    match frequency {
        "weekly" => d.checked_add_days(chrono::Days::new(7)),
        "monthly" => d.checked_add_months(Months::new(1)),
        "quarterly" => d.checked_add_months(Months::new(3)),
        "annually" => d.checked_add_months(Months::new(12)),
        _ => None,
    }
}

pub(crate) struct NewSchedule {
    pub frequency: String,
    pub auto_send: bool,
    pub send_to: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
}

/// Makes invoice `id` the template of a schedule (one per invoice: 409 for a second). The first
/// issue is `start_date`, by default one period after the template's issue date, and not in the
/// past.
pub(crate) async fn make(
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    new: NewSchedule,
) -> Result<schedule::Model, ApiError> {
    let inv = service::get(tx, id).await?;
    if inv.status == "void" {
        return Err(ApiError::conflict(format!(
            "invoice {} is void: it cannot be a template",
            inv.number
        )));
    }
    if !FREQUENCIES.contains(&new.frequency.as_str()) {
        return Err(ApiError::validation(
            "frequency",
            format!("one of {}", FREQUENCIES.join(", ")),
        ));
    }
    let today = Utc::now().date_naive();
    let first = match new.start_date {
        Some(d) => d,
        None => after(inv.issue_date, &new.frequency)
            .unwrap_or(today)
            .max(today),
    };
    if first < today {
        return Err(ApiError::validation("start_date", "today or later"));
    }
    if new.end_date.is_some_and(|e| e < first) {
        return Err(ApiError::validation(
            "end_date",
            "on or after the first issue",
        ));
    }
    let now = Utc::now();
    tx.repo::<schedule::Entity>()
        .insert(schedule::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            template_invoice_id: Set(inv.id),
            frequency: Set(new.frequency),
            next_issue_date: Set(first),
            end_date: Set(new.end_date),
            auto_send: Set(new.auto_send),
            send_to: Set(new.send_to),
            enabled: Set(true),
            last_invoice_id: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await
        .map_err(|e| match e.sql_err() {
            Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::conflict(format!("invoice {} has a schedule already", inv.number))
            }
            _ => e.into(),
        })
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<schedule::Model, ApiError> {
    tx.repo::<schedule::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such schedule in this organization"))
}

/// What a PATCH changes; `Some(None)` clears.
pub(crate) struct Change {
    pub enabled: Option<bool>,
    pub auto_send: Option<bool>,
    pub send_to: Option<Option<String>>,
    pub end_date: Option<Option<NaiveDate>>,
}

pub(crate) async fn update(
    tx: &TenantTx,
    id: Uuid,
    change: Change,
) -> Result<schedule::Model, ApiError> {
    let s = get(tx, id).await?;
    if let Some(Some(e)) = change.end_date
        && e < s.next_issue_date
    {
        return Err(ApiError::validation(
            "end_date",
            "on or after the next issue",
        ));
    }
    let mut row: schedule::ActiveModel = s.into();
    if let Some(v) = change.enabled {
        row.enabled = Set(v);
    }
    if let Some(v) = change.auto_send {
        row.auto_send = Set(v);
    }
    if let Some(v) = change.send_to {
        row.send_to = Set(v);
    }
    if let Some(v) = change.end_date {
        row.end_date = Set(v);
    }
    row.updated_at = Set(Utc::now());
    Ok(tx.repo::<schedule::Entity>().update(row).await?)
}

/// Makes the issues due by `today` in every org; the number made.
pub(crate) async fn run_due(ctx: &CellContext, today: NaiveDate) -> anyhow::Result<usize> {
    use kernel::sea_orm::ExprTrait;
    let due = move || {
        schedule::Column::Enabled
            .eq(true)
            .and(schedule::Column::NextIssueDate.lte(today))
    };
    let orgs = kernel::db::orgs_with::<schedule::Entity>(ctx.db(), due()).await?;
    let Some(settings) = ctx.service::<Settings>() else {
        anyhow::bail!("the finance module is not ready");
    };
    let mut made = 0;
    for org in orgs {
        let (ctx, settings) = (ctx.clone(), settings.clone());
        made += kernel::module::run_unsend(move || async move {
            let ids: Vec<Uuid> = {
                use kernel::sea_orm::{QueryFilter, QuerySelect};
                let tx = ctx.db().tenant_read(org).await?;
                let repo = tx.repo::<schedule::Entity>();
                let ids = repo
                    .find()
                    .select_only()
                    .column(schedule::Column::Id)
                    .filter(due())
                    .into_tuple()
                    .all(repo.conn())
                    .await?;
                tx.commit().await?;
                ids
            };
            let mut n = 0;
            for id in ids {
                // One transaction an issue: a failure leaves the issues before it made.
                for _ in 0..CATCH_UP {
                    let tx = ctx.db().tenant(org).await?;
                    let made = issue(&ctx, &tx, &settings, id, today)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
                    tx.commit().await?;
                    if !made {
                        break;
                    }
                    n += 1;
                }
            }
            Ok(n)
        })
        .await?;
    }
    Ok(made)
}

/// Makes the schedule's next issue if it is due by `today`: claims it (the next date moves on
/// only if no one moved it first), copies the template, sends the copy when asked. `false` when
/// nothing was due or another run claimed it.
async fn issue(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    id: Uuid,
    today: NaiveDate,
) -> Result<bool, ApiError> {
    let Some(s) = tx.repo::<schedule::Entity>().get(id).await? else {
        return Ok(false);
    };
    let on = s.next_issue_date;
    if !s.enabled || on > today || s.end_date.is_some_and(|e| on > e) {
        return Ok(false);
    }
    let next = after(on, &s.frequency).unwrap_or(on);
    let ended = s.end_date.is_some_and(|e| next > e);
    use kernel::sea_orm::ExprTrait;
    let repo = tx.repo::<schedule::Entity>();
    let claimed = repo
        .update_many(
            vec![
                (schedule::Column::NextIssueDate, Expr::value(next)),
                (schedule::Column::Enabled, Expr::value(!ended)),
                (schedule::Column::UpdatedAt, Expr::value(Utc::now())),
            ],
            schedule::Column::Id
                .eq(id)
                .and(schedule::Column::NextIssueDate.eq(on)),
        )
        .await?;
    if claimed != 1 {
        return Ok(false);
    }
    let template = service::get(tx, s.template_invoice_id).await?;
    let new = service::copy_of(tx, &template, on).await?;
    let (inv, _) = service::create(
        ctx,
        tx,
        s.created_by,
        None,
        settings,
        new,
        Some(template.id),
    )
    .await?;
    let inv_id = inv.id;
    if s.auto_send && inv.total > 0 {
        // Sent as the schedule's author: the customer's name on it is the one they see.
        let author = kernel::http::Caller {
            org_id: Some(tx.org_id()),
            ..kernel::http::Caller::user(s.created_by)
        };
        service::send(ctx, tx, settings, &author, inv.id, s.send_to.clone()).await?;
    }
    repo.update_many(
        vec![(schedule::Column::LastInvoiceId, Expr::value(inv_id))],
        schedule::Column::Id.eq(id),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_land_on_real_days() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        let jan31 = d(2026, 1, 31).unwrap_or_default();
        assert_eq!(after(jan31, "monthly"), d(2026, 2, 28));
        assert_eq!(after(jan31, "quarterly"), d(2026, 4, 30));
        assert_eq!(after(jan31, "annually"), d(2027, 1, 31));
        assert_eq!(after(jan31, "weekly"), d(2026, 2, 7));
        assert_eq!(after(jan31, "daily"), None);
    }
}
