//! The double-entry ledger. Every money movement posts one journal entry whose lines balance
//! (debits = credits, in one currency), in the transaction of the movement itself; entries are
//! never changed (the tables refuse it): a correction is an entry that reverses another. The
//! reports read nothing else.
//!
//! The chart is fixed (a custom chart of accounts is out of scope, as the spec says):
//!
//! | Account | Kind | Moved by |
//! |---|---|---|
//! | `cash` | asset | payments in, refunds out |
//! | `accounts_receivable` | asset | invoices issued (per invoice), payments applied |
//! | `customer_credit` | liability | overpayments (per contact), refunds of them |
//! | `tax_payable` | liability | the tax of invoices issued, less the tax of refunds |
//! | `revenue` | income | invoices issued (net of discounts) |
//! | `sales_returns` | contra income | refunds of what was applied to an invoice, less its tax |
//! | `expenses` | expense | expenses and bills approved (per category) |
//! | `reimbursements_payable` | liability | expenses approved, until they are reimbursed |
//! | `accounts_payable` | liability | bills approved, until they are paid |

use chrono::{NaiveDate, Utc};
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, TenantTx};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{entry, invoice, ledger_line};

/// The accounts of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    Cash,
    AccountsReceivable,
    CustomerCredit,
    TaxPayable,
    Revenue,
    SalesReturns,
    Expenses,
    ReimbursementsPayable,
    AccountsPayable,
}

impl Account {
    pub(crate) const ALL: [Account; 9] = [
        Account::Cash,
        Account::AccountsReceivable,
        Account::CustomerCredit,
        Account::TaxPayable,
        Account::Revenue,
        Account::SalesReturns,
        Account::Expenses,
        Account::ReimbursementsPayable,
        Account::AccountsPayable,
    ];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Account::Cash => "cash",
            Account::AccountsReceivable => "accounts_receivable",
            Account::CustomerCredit => "customer_credit",
            Account::TaxPayable => "tax_payable",
            Account::Revenue => "revenue",
            Account::SalesReturns => "sales_returns",
            Account::Expenses => "expenses",
            Account::ReimbursementsPayable => "reimbursements_payable",
            Account::AccountsPayable => "accounts_payable",
        }
    }

    /// asset, liability, income, contra_income or expense.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Account::Cash | Account::AccountsReceivable => "asset",
            Account::CustomerCredit
            | Account::TaxPayable
            | Account::ReimbursementsPayable
            | Account::AccountsPayable => "liability",
            Account::Revenue => "income",
            Account::SalesReturns => "contra_income",
            Account::Expenses => "expense",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// One side of an entry: an account debited or credited (never both, never nothing).
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub account: Account,
    pub debit: i64,
    pub credit: i64,
    pub invoice_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// An expense's category.
    pub category: Option<String>,
}

impl Leg {
    pub(crate) fn debit(account: Account, amount: i64) -> Self {
        Self {
            account,
            debit: amount,
            credit: 0,
            invoice_id: None,
            contact_id: None,
            category: None,
        }
    }

    pub(crate) fn credit(account: Account, amount: i64) -> Self {
        Self {
            credit: amount,
            debit: 0,
            ..Self::debit(account, 0)
        }
    }

    pub(crate) fn invoice(mut self, id: Uuid) -> Self {
        self.invoice_id = Some(id);
        self
    }

    pub(crate) fn contact(mut self, id: Option<Uuid>) -> Self {
        self.contact_id = id;
        self
    }

    pub(crate) fn category(mut self, category: &str) -> Self {
        self.category = Some(category.to_owned());
        self
    }

    /// The same movement the other way.
    fn reversed(&self) -> Self {
        Self {
            debit: self.credit,
            credit: self.debit,
            ..self.clone()
        }
    }
}

/// An entry to post.
pub(crate) struct Posting<'a> {
    pub kind: &'static str,
    pub posted_on: NaiveDate,
    pub currency: &'a str,
    pub invoice_id: Option<Uuid>,
    /// The payment, refund, expense or bill it records.
    pub source_id: Option<Uuid>,
    pub memo: String,
    pub by: Option<Uuid>,
    pub legs: Vec<Leg>,
}

/// Posts an entry in `tx`: its zero legs left out; refused (an internal error: the caller's
/// arithmetic is wrong, and the whole movement rolls back) unless debits equal credits.
/// `None` when every leg was zero (nothing moved).
pub(crate) async fn post(tx: &TenantTx, p: Posting<'_>) -> Result<Option<Uuid>, ApiError> {
    post_reversing(tx, p, None).await
}

async fn post_reversing(
    tx: &TenantTx,
    p: Posting<'_>,
    reverses: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    let legs: Vec<Leg> = p
        .legs
        .into_iter()
        .filter(|l| l.debit != 0 || l.credit != 0)
        .collect();
    if legs.is_empty() {
        return Ok(None);
    }
    let (debits, credits) = legs
        .iter()
        .fold((0i64, 0i64), |(d, c), l| (d + l.debit, c + l.credit));
    if debits != credits || legs.iter().any(|l| l.debit < 0 || l.credit < 0) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "an unbalanced {} entry: debits {debits}, credits {credits}",
            p.kind
        )));
    }
    let id = Uuid::now_v7();
    tx.repo::<entry::Entity>()
        .insert(entry::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            posted_on: Set(p.posted_on),
            kind: Set(p.kind.into()),
            currency: Set(p.currency.into()),
            invoice_id: Set(p.invoice_id),
            source_id: Set(p.source_id),
            reverses_id: Set(reverses),
            memo: Set(p.memo),
            created_by: Set(p.by),
            created_at: Set(Utc::now()),
        })
        .await?;
    add_to_totals(tx, p.currency, p.posted_on, &legs).await?;
    add_to_receivables(tx, &legs).await?;
    let rows = legs.into_iter().map(|l| ledger_line::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        entry_id: Set(id),
        account: Set(l.account.key().into()),
        currency: Set(p.currency.into()),
        debit: Set(l.debit),
        credit: Set(l.credit),
        posted_on: Set(p.posted_on),
        invoice_id: Set(l.invoice_id),
        contact_id: Set(l.contact_id),
        category: Set(l.category),
    });
    tx.repo::<ledger_line::Entity>().insert_many(rows).await?;
    Ok(Some(id))
}

/// Adds an entry's legs to the daily totals of their accounts (one row per account, currency,
/// category and day), in the entry's transaction: the reports sum those rows, not the lines.
/// Rows are written in key order, so concurrent postings lock them in the same order.
async fn add_to_totals(
    tx: &TenantTx,
    currency: &str,
    day: NaiveDate,
    legs: &[Leg],
) -> Result<(), ApiError> {
    use crate::entity::daily_total::{ActiveModel, Column as C, Entity};
    let mut by: std::collections::BTreeMap<(&str, &str), (i64, i64)> = Default::default();
    for l in legs {
        let t = by
            .entry((l.account.key(), l.category.as_deref().unwrap_or("")))
            .or_default();
        t.0 += l.debit;
        t.1 += l.credit;
    }
    let rows = by
        .into_iter()
        .map(|((account, category), (debit, credit))| ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            account: Set(account.into()),
            currency: Set(currency.into()),
            category: Set(category.into()),
            day: Set(day),
            debit: Set(debit),
            credit: Set(credit),
        });
    tx.repo::<Entity>()
        .upsert_adding(
            rows,
            &[C::OrgId, C::Account, C::Currency, C::Category, C::Day],
            &[C::Debit, C::Credit],
        )
        .await?;
    Ok(())
}

/// Keeps each invoice's receivable balance, and what is owed by due date (with how many
/// invoices owe), from the legs on receivables: what the aging report reads.
async fn add_to_receivables(tx: &TenantTx, legs: &[Leg]) -> Result<(), ApiError> {
    use crate::entity::receivable::{ActiveModel, Column as C, Entity};
    use kernel::sea_orm::sea_query::Expr;
    use kernel::sea_orm::{ColumnTrait, ExprTrait};
    for l in legs {
        let (Account::AccountsReceivable, Some(invoice)) = (l.account, l.invoice_id) else {
            continue;
        };
        let delta = l.debit - l.credit;
        let invoices = tx.repo::<invoice::Entity>();
        let col = invoice::Column::Receivable;
        invoices
            .update_many(
                vec![(col, Expr::col(col).add(delta))],
                invoice::Column::Id.eq(invoice),
            )
            .await?;
        let Some(inv) = invoices.get(invoice).await? else {
            continue;
        };
        let (now, currency, due) = (inv.receivable, inv.currency, inv.due_date);
        let opened = i64::from(now > 0) - i64::from(now - delta > 0);
        tx.repo::<Entity>()
            .upsert_adding(
                [ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(tx.org_id()),
                    currency: Set(currency),
                    due_date: Set(due),
                    amount: Set(delta),
                    invoices: Set(opened),
                }],
                &[C::OrgId, C::Currency, C::DueDate],
                &[C::Amount, C::Invoices],
            )
            .await?;
    }
    Ok(())
}

/// Posts, today, the entry that undoes the `posted` entry of `source` (a sent invoice's issue,
/// an approved bill's posting): its legs swapped. `None` when there is no such entry.
pub(crate) async fn reverse(
    tx: &TenantTx,
    posted: &str,
    source: Uuid,
    kind: &'static str,
    memo: String,
    by: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    use kernel::sea_orm::{ColumnTrait, QueryFilter};
    let entries = tx.repo::<entry::Entity>();
    let Some(e) = entries
        .find()
        .filter(entry::Column::Kind.eq(posted))
        .filter(entry::Column::SourceId.eq(source))
        .one(entries.conn())
        .await?
    else {
        return Ok(None);
    };
    let original = e.id;
    let posted_on = Utc::now().date_naive();
    let repo = tx.repo::<ledger_line::Entity>();
    let lines = repo
        .find()
        .filter(ledger_line::Column::EntryId.eq(original))
        .all(repo.conn())
        .await?;
    let legs = lines
        .iter()
        .filter_map(|l| {
            Account::from_key(&l.account).map(|account| {
                Leg {
                    account,
                    debit: l.debit,
                    credit: l.credit,
                    invoice_id: l.invoice_id,
                    contact_id: l.contact_id,
                    category: l.category.clone(),
                }
                .reversed()
            })
        })
        .collect();
    post_reversing(
        tx,
        Posting {
            kind,
            posted_on,
            currency: &e.currency,
            invoice_id: e.invoice_id,
            source_id: e.source_id,
            memo,
            by,
            legs,
        },
        Some(original),
    )
    .await
}
