//! Payables (the agency model's `Vendor` and `Bill`): vendors, and bills that go pending →
//! approved → paid, pending → rejected, or from any open status → cancelled. Approval posts the
//! bill (expenses debited by category, accounts payable credited); payment pays it (the payable
//! debited, cash credited); cancelling an approved bill reverses its approval.

use chrono::{NaiveDate, Utc};
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{bill, vendor};
use crate::events::{BillApproved, BillPaid};
use crate::ledger::{self, Account, Leg, Posting};
use crate::module::Settings;

fn no_vendor() -> ApiError {
    ApiError::not_found("no such vendor in this organization")
}

fn no_bill() -> ApiError {
    ApiError::not_found("no such bill in this organization")
}

fn name_taken(e: kernel::sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("a vendor with this name exists in this organization")
                .with_details(serde_json::json!({ "field": "name" }))
        }
        _ => e.into(),
    }
}

pub(crate) async fn vendor(tx: &TenantTx, id: Uuid) -> Result<vendor::Model, ApiError> {
    tx.repo::<vendor::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_vendor)
}

/// A vendor's fields as written (`Some(None)` clears in a change).
pub(crate) struct VendorFields {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

pub(crate) async fn create_vendor(
    tx: &TenantTx,
    by: Uuid,
    name: String,
    f: VendorFields,
) -> Result<vendor::Model, ApiError> {
    let now = Utc::now();
    tx.repo::<vendor::Entity>()
        .insert(vendor::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            email: Set(f.email.flatten()),
            phone: Set(f.phone.flatten()),
            notes: Set(f.notes.flatten()),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await
        .map_err(name_taken)
}

pub(crate) async fn update_vendor(
    tx: &TenantTx,
    id: Uuid,
    f: VendorFields,
) -> Result<vendor::Model, ApiError> {
    let v = vendor(tx, id).await?;
    let mut row: vendor::ActiveModel = v.into();
    if let Some(n) = f.name {
        row.name = Set(n);
    }
    if let Some(e) = f.email {
        row.email = Set(e);
    }
    if let Some(p) = f.phone {
        row.phone = Set(p);
    }
    if let Some(n) = f.notes {
        row.notes = Set(n);
    }
    row.updated_at = Set(Utc::now());
    tx.repo::<vendor::Entity>()
        .update(row)
        .await
        .map_err(name_taken)
}

pub(crate) async fn bill(tx: &TenantTx, id: Uuid) -> Result<bill::Model, ApiError> {
    tx.repo::<bill::Entity>().get(id).await?.ok_or_else(no_bill)
}

pub(crate) struct NewBill {
    pub vendor_id: Option<Uuid>,
    pub reference: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub amount: i64,
    pub currency: Option<String>,
    pub bill_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
}

/// Records a bill (pending).
pub(crate) async fn create_bill(
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    new: NewBill,
) -> Result<bill::Model, ApiError> {
    if let Some(v) = new.vendor_id
        && tx.repo::<vendor::Entity>().get(v).await?.is_none()
    {
        return Err(ApiError::validation(
            "vendor_id",
            "no such vendor in this organization",
        ));
    }
    let currency = match &new.currency {
        Some(c) => kernel::money::currency("currency", c)?,
        None => settings.default_currency.clone(),
    };
    let bill_date = new.bill_date.unwrap_or_else(|| Utc::now().date_naive());
    let due_date = new.due_date.unwrap_or(bill_date);
    if due_date < bill_date {
        return Err(ApiError::validation(
            "due_date",
            "on or after the bill date",
        ));
    }
    let now = Utc::now();
    Ok(tx
        .repo::<bill::Entity>()
        .insert(bill::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            vendor_id: Set(new.vendor_id),
            reference: Set(new.reference),
            category: Set(new.category),
            description: Set(new.description),
            amount: Set(new.amount),
            currency: Set(currency),
            bill_date: Set(bill_date),
            due_date: Set(due_date),
            status: Set("pending".into()),
            decided_by: Set(None),
            decided_at: Set(None),
            paid_at: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?)
}

/// Whether a bill may go from `from` to `to`.
pub(crate) fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("pending", "approved" | "rejected" | "cancelled") | ("approved", "paid" | "cancelled")
    )
}

/// Moves a bill to `to` (409 when it may not), posting what the move means to the ledger.
pub(crate) async fn decide(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    to: &str,
) -> Result<bill::Model, ApiError> {
    let b = bill(tx, id).await?;
    if !may_move(&b.status, to) {
        return Err(ApiError::conflict(format!(
            "this bill is {}: it cannot become {to}",
            b.status
        )));
    }
    let today = Utc::now().date_naive();
    let posting = |kind: &'static str, legs: Vec<Leg>| Posting {
        kind,
        posted_on: today,
        currency: &b.currency,
        invoice_id: None,
        source_id: Some(b.id),
        memo: format!("Bill {}", b.reference.as_deref().unwrap_or(&b.category)),
        by: Some(by),
        legs,
    };
    match (b.status.as_str(), to) {
        (_, "approved") => {
            let mut p = posting(
                "bill",
                vec![
                    Leg::debit(Account::Expenses, b.amount).category(&b.category),
                    Leg::credit(Account::AccountsPayable, b.amount),
                ],
            );
            p.posted_on = b.bill_date.min(today);
            ledger::post(tx, p).await?;
        }
        (_, "paid") => {
            ledger::post(
                tx,
                posting(
                    "bill_payment",
                    vec![
                        Leg::debit(Account::AccountsPayable, b.amount),
                        Leg::credit(Account::Cash, b.amount),
                    ],
                ),
            )
            .await?;
        }
        ("approved", "cancelled") => {
            ledger::reverse(
                tx,
                "bill",
                b.id,
                "bill_cancelled",
                "Bill cancelled".into(),
                Some(by),
            )
            .await?;
        }
        _ => {}
    }
    let now = Utc::now();
    let mut row: bill::ActiveModel = b.into();
    row.status = Set(to.to_owned());
    match to {
        "paid" => row.paid_at = Set(Some(now)),
        "approved" | "rejected" => {
            row.decided_by = Set(Some(by));
            row.decided_at = Set(Some(now));
        }
        _ => {}
    }
    row.updated_at = Set(now);
    let b = tx.repo::<bill::Entity>().update(row).await?;
    let actor = Some(EntityRef::user(by));
    match to {
        "approved" => {
            publish(
                ctx,
                tx,
                actor,
                &BillApproved {
                    bill_id: b.id,
                    amount: b.amount,
                    currency: b.currency.clone(),
                },
            )
            .await?
        }
        "paid" => {
            publish(
                ctx,
                tx,
                actor,
                &BillPaid {
                    bill_id: b.id,
                    amount: b.amount,
                    currency: b.currency.clone(),
                },
            )
            .await?
        }
        _ => {}
    }
    Ok(b)
}

async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    actor: Option<EntityRef>,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events().emit(tx, actor, event).await?;
    Ok(())
}
