//! Reports, read from the ledger only (never from invoice columns), per currency: the trial
//! balance, revenue, profit and loss, expenses by category, receivables aging. They sum the
//! ledger's daily totals (each account's debits and credits of a day, added to by every posting
//! in its transaction), so a year is a few hundred rows whatever the number of lines; aging
//! reads what is owed by due date, kept the same way (as of an earlier day, the lines).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use kernel::sea_orm::{
    ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect, Statement, sea_query::Expr,
};
use kernel::{ApiError, TenantTx};
use serde::Serialize;

use crate::entity::daily_total::{self, Column as C};
use crate::ledger::Account;

/// Debits and credits of each account and currency between `from` and `to`.
async fn sums(
    tx: &TenantTx,
    accounts: &[Account],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<(String, String, i64, i64)>, ApiError> {
    let repo = tx.repo::<daily_total::Entity>();
    let mut q = repo
        .find()
        .select_only()
        .column(C::Account)
        .column(C::Currency);
    if !accounts.is_empty() {
        q = q.filter(C::Account.is_in(accounts.iter().map(|a| a.key())));
    }
    if let Some(f) = from {
        q = q.filter(C::Day.gte(f));
    }
    if let Some(t) = to {
        q = q.filter(C::Day.lte(t));
    }
    Ok(
        q.expr(Expr::cust("CAST(COALESCE(SUM(debit), 0) AS BIGINT)"))
            .expr(Expr::cust("CAST(COALESCE(SUM(credit), 0) AS BIGINT)"))
            .group_by(C::Account)
            .group_by(C::Currency)
            .into_tuple()
            .all(repo.conn())
            .await?,
    )
}

/// One account's balance in one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountBalance {
    pub account: Account,
    /// asset, liability, income or contra_income.
    pub kind: &'static str,
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
    /// Debit less credit (an asset's or contra account's balance is positive; a liability's
    /// or income's negative).
    pub balance: i64,
}

/// The debits and credits of a currency over every account: always equal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    pub debit: i64,
    pub credit: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    pub accounts: Vec<AccountBalance>,
    pub totals: Vec<CurrencyTotals>,
    /// Debits equal credits in every currency.
    pub balanced: bool,
}

pub(crate) async fn trial_balance(tx: &TenantTx) -> Result<TrialBalance, ApiError> {
    let mut accounts = Vec::new();
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (account, currency, debit, credit) in sums(tx, &[], None, None).await? {
        let t = totals.entry(currency.clone()).or_default();
        t.0 += debit;
        t.1 += credit;
        if let Some(account) = Account::from_key(&account) {
            accounts.push(AccountBalance {
                account,
                kind: account.kind(),
                currency,
                debit,
                credit,
                balance: debit - credit,
            });
        }
    }
    accounts.sort_by_key(|a| (a.currency.clone(), a.account.key()));
    let totals: Vec<CurrencyTotals> = totals
        .into_iter()
        .map(|(currency, (debit, credit))| CurrencyTotals {
            currency,
            debit,
            credit,
        })
        .collect();
    Ok(TrialBalance {
        balanced: totals.iter().all(|t| t.debit == t.credit),
        accounts,
        totals,
    })
}

/// Income of one currency over a period.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Income {
    pub currency: String,
    /// Invoiced (net of discounts, without tax) in the period.
    pub revenue: i64,
    /// Refunded of what had been applied to invoices (credit notes).
    pub returns: i64,
    /// Revenue less returns.
    pub net_revenue: i64,
}

/// Income per currency between `from` and `to` (inclusive).
pub(crate) async fn income(
    tx: &TenantTx,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Income>, ApiError> {
    let mut by: BTreeMap<String, Income> = BTreeMap::new();
    for (account, currency, debit, credit) in sums(
        tx,
        &[Account::Revenue, Account::SalesReturns],
        Some(from),
        Some(to),
    )
    .await?
    {
        let i = by.entry(currency.clone()).or_insert_with(|| Income {
            currency,
            ..Income::default()
        });
        match Account::from_key(&account) {
            Some(Account::Revenue) => i.revenue += credit - debit,
            Some(Account::SalesReturns) => i.returns += debit - credit,
            _ => {}
        }
    }
    Ok(by
        .into_values()
        .map(|mut i| {
            i.net_revenue = i.revenue - i.returns;
            i
        })
        .collect())
}

/// Expenses per currency between `from` and `to` (inclusive), as approved.
pub(crate) async fn expense_totals(
    tx: &TenantTx,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut by = BTreeMap::new();
    for (_, currency, debit, credit) in sums(tx, &[Account::Expenses], Some(from), Some(to)).await?
    {
        *by.entry(currency).or_insert(0) += debit - credit;
    }
    Ok(by)
}

/// Expenses of one category in one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryTotal {
    pub currency: String,
    pub category: String,
    pub amount: i64,
}

/// Expenses between `from` and `to` by currency and category, the largest first.
pub(crate) async fn expenses_by_category(
    tx: &TenantTx,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CategoryTotal>, ApiError> {
    let repo = tx.repo::<daily_total::Entity>();
    let rows: Vec<(String, String, i64, i64)> = repo
        .find()
        .select_only()
        .column(C::Currency)
        .column(C::Category)
        .expr(Expr::cust("CAST(COALESCE(SUM(debit), 0) AS BIGINT)"))
        .expr(Expr::cust("CAST(COALESCE(SUM(credit), 0) AS BIGINT)"))
        .filter(C::Account.eq(Account::Expenses.key()))
        .filter(C::Day.gte(from))
        .filter(C::Day.lte(to))
        .group_by(C::Currency)
        .group_by(C::Category)
        .into_tuple()
        .all(repo.conn())
        .await?;
    let mut out: Vec<CategoryTotal> = rows
        .into_iter()
        .map(|(currency, category, debit, credit)| CategoryTotal {
            currency,
            category,
            amount: debit - credit,
        })
        .collect();
    out.sort_by(|a, b| {
        (a.currency.as_str(), -a.amount, a.category.as_str()).cmp(&(
            b.currency.as_str(),
            -b.amount,
            b.category.as_str(),
        ))
    });
    Ok(out)
}

/// Receivables of one currency by how long they are past due.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Aging {
    pub currency: String,
    /// Not yet due.
    pub current: i64,
    pub days_1_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub days_90_plus: i64,
    pub total: i64,
    /// Invoices with something owed.
    pub invoices: i64,
}

/// What is owed on invoices as of `as_of`, bucketed by due date: from what is owed by due date
/// for today or later (every posting is dated today or earlier), else from the receivable lines
/// up to that day.
pub(crate) async fn ar_aging(tx: &TenantTx, as_of: NaiveDate) -> Result<Vec<Aging>, ApiError> {
    let day = |d: i64| as_of - Duration::days(d);
    let bucket = "CASE WHEN due_date >= $2 THEN 0 WHEN due_date >= $3 THEN 1 \
                  WHEN due_date >= $4 THEN 2 WHEN due_date >= $5 THEN 3 ELSE 4 END";
    let today = as_of >= chrono::Utc::now().date_naive();
    let sql = match today {
        true => format!(
            "SELECT currency, {bucket} AS bucket, CAST(SUM(amount) AS BIGINT) AS amount, \
             CAST(SUM(invoices) AS BIGINT) AS invoices FROM finance_receivables \
             WHERE org_id = $1 AND amount > 0 GROUP BY currency, bucket"
        ),
        false => format!(
            "SELECT i.currency AS currency, {} AS bucket, \
               CAST(SUM(b.balance) AS BIGINT) AS amount, COUNT(*) AS invoices \
             FROM (SELECT invoice_id, SUM(debit) - SUM(credit) AS balance FROM finance_journal_lines \
                   WHERE org_id = $1 AND account = 'accounts_receivable' AND posted_on <= $6 \
                   GROUP BY invoice_id) b \
             JOIN finance_invoices i ON i.org_id = $1 AND i.id = b.invoice_id \
             WHERE b.balance > 0 \
             GROUP BY i.currency, bucket",
            bucket.replace("due_date", "i.due_date")
        ),
    };
    // unscoped: grouped reads with CASE buckets the repository cannot say; every table read
    // carries tx's org predicate ($1).
    let conn = tx.unscoped();
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                tx.org_id().into(),
                as_of.into(),
                day(30).into(),
                day(60).into(),
                day(90).into(),
            ]
            .into_iter()
            .chain((!today).then(|| as_of.into())),
        ))
        .await?;
    let mut by: BTreeMap<String, Aging> = BTreeMap::new();
    for row in rows {
        let currency: String = row.try_get("", "currency")?;
        let bucket: i32 = row.try_get("", "bucket")?;
        let amount: i64 = row.try_get("", "amount")?;
        let invoices: i64 = row.try_get("", "invoices")?;
        let a = by.entry(currency.clone()).or_insert_with(|| Aging {
            currency,
            ..Aging::default()
        });
        match bucket {
            0 => a.current += amount,
            1 => a.days_1_30 += amount,
            2 => a.days_31_60 += amount,
            3 => a.days_61_90 += amount,
            _ => a.days_90_plus += amount,
        }
        a.total += amount;
        a.invoices += invoices;
    }
    Ok(by.into_values().collect())
}
