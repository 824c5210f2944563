//! Expenses: submitted by members (a receipt is a file attached to the expense through the files
//! module), approved or rejected by admins (never by the one who submitted it unless the cell
//! allows it), then reimbursed. Approval posts the expense (expenses debited by category,
//! reimbursements payable credited); reimbursement pays it (the payable debited, cash credited).

use chrono::{NaiveDate, Utc};
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::expense;
use crate::events::{ExpenseApproved, ExpenseReimbursed, ExpenseRejected, ExpenseSubmitted};
use crate::ledger::{self, Account, Leg, Posting};
use crate::module::Settings;

pub(crate) fn no_expense() -> ApiError {
    ApiError::not_found("no such expense in this organization")
}

/// A category as stored: lower case letters, digits, `-`, `_` and spaces, 1 to 50 characters.
pub(crate) fn category(raw: &str) -> Result<String, ApiError> {
    let c = raw.trim().to_lowercase();
    match !c.is_empty()
        && c.chars().count() <= 50
        && c.chars()
            .all(|ch| ch.is_alphanumeric() || matches!(ch, '-' | '_' | ' '))
    {
        true => Ok(c),
        false => Err(ApiError::validation(
            "category",
            "1 to 50 letters, digits, spaces, `-` or `_`",
        )),
    }
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<expense::Model, ApiError> {
    tx.repo::<expense::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_expense)
}

async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events()
        .emit(tx, Some(EntityRef::user(by)), event)
        .await?;
    Ok(())
}

pub(crate) struct NewExpense {
    pub category: String,
    pub description: Option<String>,
    pub amount: i64,
    pub currency: Option<String>,
    pub vendor: Option<String>,
    pub expense_date: NaiveDate,
}

/// Submits an expense (pending); `finance.expense.submitted` tells the org's admins.
pub(crate) async fn submit(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    new: NewExpense,
) -> Result<expense::Model, ApiError> {
    let currency = match &new.currency {
        Some(c) => kernel::money::currency("currency", c)?,
        None => settings.default_currency.clone(),
    };
    if new.expense_date > Utc::now().date_naive() {
        return Err(ApiError::validation("expense_date", "today or earlier"));
    }
    let now = Utc::now();
    let e = tx
        .repo::<expense::Entity>()
        .insert(expense::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            category: Set(new.category),
            description: Set(new.description),
            amount: Set(new.amount),
            currency: Set(currency),
            vendor: Set(new.vendor),
            expense_date: Set(new.expense_date),
            status: Set("pending".into()),
            submitted_by: Set(by),
            decided_by: Set(None),
            decided_at: Set(None),
            reason: Set(None),
            reimbursed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    publish(
        ctx,
        tx,
        by,
        &ExpenseSubmitted {
            expense_id: e.id,
            amount: e.amount,
            currency: e.currency.clone(),
            category: e.category.clone(),
        },
    )
    .await?;
    Ok(e)
}

/// 409 unless the expense is `from`.
fn is(e: &expense::Model, from: &str, doing: &str) -> Result<(), ApiError> {
    match e.status == from {
        true => Ok(()),
        false => Err(ApiError::conflict(format!(
            "this expense is {}: only a {from} one is {doing}",
            e.status
        ))),
    }
}

/// Approves a pending expense and posts it; `finance.expense.approved` tells its submitter.
pub(crate) async fn approve(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    id: Uuid,
) -> Result<expense::Model, ApiError> {
    let e = get(tx, id).await?;
    is(&e, "pending", "approved")?;
    if e.submitted_by == by && !settings.allow_self_approval {
        return Err(ApiError::forbidden(
            "an expense is approved by someone other than the one who submitted it",
        ));
    }
    let today = Utc::now().date_naive();
    ledger::post(
        tx,
        Posting {
            kind: "expense",
            posted_on: e.expense_date.min(today),
            currency: &e.currency,
            invoice_id: None,
            source_id: Some(e.id),
            memo: format!("Expense: {}", e.category),
            by: Some(by),
            legs: vec![
                Leg::debit(Account::Expenses, e.amount).category(&e.category),
                Leg::credit(Account::ReimbursementsPayable, e.amount),
            ],
        },
    )
    .await?;
    let now = Utc::now();
    let mut row: expense::ActiveModel = e.into();
    row.status = Set("approved".into());
    row.decided_by = Set(Some(by));
    row.decided_at = Set(Some(now));
    row.updated_at = Set(now);
    let e = tx.repo::<expense::Entity>().update(row).await?;
    publish(ctx, tx, by, &ExpenseApproved { expense_id: e.id }).await?;
    Ok(e)
}

/// Rejects a pending expense, with why; `finance.expense.rejected` tells its submitter.
pub(crate) async fn reject(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    reason: Option<String>,
) -> Result<expense::Model, ApiError> {
    let e = get(tx, id).await?;
    is(&e, "pending", "rejected")?;
    let now = Utc::now();
    let mut row: expense::ActiveModel = e.into();
    row.status = Set("rejected".into());
    row.decided_by = Set(Some(by));
    row.decided_at = Set(Some(now));
    row.reason = Set(reason.clone());
    row.updated_at = Set(now);
    let e = tx.repo::<expense::Entity>().update(row).await?;
    publish(
        ctx,
        tx,
        by,
        &ExpenseRejected {
            expense_id: e.id,
            reason,
        },
    )
    .await?;
    Ok(e)
}

/// Marks an approved expense reimbursed (paid out of cash); `finance.expense.reimbursed`.
pub(crate) async fn reimburse(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<expense::Model, ApiError> {
    let e = get(tx, id).await?;
    is(&e, "approved", "reimbursed")?;
    let now = Utc::now();
    ledger::post(
        tx,
        Posting {
            kind: "reimbursement",
            posted_on: now.date_naive(),
            currency: &e.currency,
            invoice_id: None,
            source_id: Some(e.id),
            memo: format!("Reimbursement: {}", e.category),
            by: Some(by),
            legs: vec![
                Leg::debit(Account::ReimbursementsPayable, e.amount),
                Leg::credit(Account::Cash, e.amount),
            ],
        },
    )
    .await?;
    let mut row: expense::ActiveModel = e.into();
    row.status = Set("reimbursed".into());
    row.reimbursed_at = Set(Some(now));
    row.updated_at = Set(now);
    let e = tx.repo::<expense::Entity>().update(row).await?;
    publish(ctx, tx, by, &ExpenseReimbursed { expense_id: e.id }).await?;
    Ok(e)
}
