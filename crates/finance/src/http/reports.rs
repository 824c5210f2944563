//! `/finance/*`: reports read from the ledger, per currency.

use actix_web::{HttpResponse, get, web};
use chrono::{NaiveDate, Utc};
use kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

use super::TAG;
use crate::permissions::ReadFinance;
use crate::reports::{self, Aging, CategoryTotal, Income, TrialBalance};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(revenue)
        .service(profit_loss)
        .service(expenses_by_category)
        .service(ar_aging)
        .service(trial_balance);
}

/// A period, both days included.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First day (YYYY-MM-DD).
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD), on or after `from`, at most ten years later.
    pub to: NaiveDate,
}

impl Period {
    fn checked(&self) -> Result<(NaiveDate, NaiveDate), ApiError> {
        if self.to < self.from || (self.to - self.from).num_days() > 3660 {
            return Err(ApiError::validation(
                "to",
                "on or after `from`, at most ten years later",
            ));
        }
        Ok((self.from, self.to))
    }
}

/// Revenue over a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currencies: Vec<Income>,
}

/// Revenue between `from` and `to` per currency: invoiced (net of discounts, without tax), less
/// refunds of it.
#[utoipa::path(tag = TAG, params(Period), responses(
    (status = 200, body = Revenue), (status = 400), (status = 401), (status = 403), (status = 422)))]
#[get("/finance/revenue")]
pub(crate) async fn revenue(tx: ReadFinance, q: web::Query<Period>) -> ApiResult<HttpResponse> {
    let (from, to) = q.checked()?;
    let currencies = reports::income(&tx, from, to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Revenue {
        from,
        to,
        currencies,
    }))
}

/// Profit and loss of one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfitLossLine {
    pub currency: String,
    pub revenue: i64,
    pub returns: i64,
    pub net_revenue: i64,
    /// Expenses approved in the period.
    pub expenses: i64,
    pub net_profit: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfitLoss {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currencies: Vec<ProfitLossLine>,
}

/// Profit and loss between `from` and `to` per currency.
#[utoipa::path(tag = TAG, params(Period), responses(
    (status = 200, body = ProfitLoss), (status = 400), (status = 401), (status = 403),
    (status = 422)))]
#[get("/finance/profit-loss")]
pub(crate) async fn profit_loss(tx: ReadFinance, q: web::Query<Period>) -> ApiResult<HttpResponse> {
    let (from, to) = q.checked()?;
    let income = reports::income(&tx, from, to).await?;
    let mut expenses = reports::expense_totals(&tx, from, to).await?;
    tx.commit().await?;
    let mut currencies: Vec<ProfitLossLine> = income
        .into_iter()
        .map(|i| {
            let spent = expenses.remove(&i.currency).unwrap_or(0);
            ProfitLossLine {
                net_profit: i.net_revenue - spent,
                currency: i.currency,
                revenue: i.revenue,
                returns: i.returns,
                net_revenue: i.net_revenue,
                expenses: spent,
            }
        })
        .collect();
    // Currencies with expenses and no income.
    currencies.extend(
        expenses
            .into_iter()
            .map(|(currency, spent)| ProfitLossLine {
                currency,
                revenue: 0,
                returns: 0,
                net_revenue: 0,
                expenses: spent,
                net_profit: -spent,
            }),
    );
    currencies.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(HttpResponse::Ok().json(ProfitLoss {
        from,
        to,
        currencies,
    }))
}

/// Expenses by category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExpensesByCategory {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub categories: Vec<CategoryTotal>,
}

/// Expenses approved between `from` and `to`, per currency and category, the largest first.
#[utoipa::path(tag = TAG, params(Period), responses(
    (status = 200, body = ExpensesByCategory), (status = 400), (status = 401), (status = 403),
    (status = 422)))]
#[get("/finance/expenses-by-category")]
pub(crate) async fn expenses_by_category(
    tx: ReadFinance,
    q: web::Query<Period>,
) -> ApiResult<HttpResponse> {
    let (from, to) = q.checked()?;
    let categories = reports::expenses_by_category(&tx, from, to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ExpensesByCategory {
        from,
        to,
        categories,
    }))
}

/// `GET /finance/ar-aging`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The day to age receivables at (default today).
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArAging {
    pub as_of: NaiveDate,
    pub currencies: Vec<Aging>,
}

/// What customers owe, per currency, by days past due: current, 1–30, 31–60, 61–90, 90+.
#[utoipa::path(tag = TAG, params(AsOf), responses(
    (status = 200, body = ArAging), (status = 400), (status = 401), (status = 403)))]
#[get("/finance/ar-aging")]
pub(crate) async fn ar_aging(tx: ReadFinance, q: web::Query<AsOf>) -> ApiResult<HttpResponse> {
    let as_of = q.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let currencies = reports::ar_aging(&tx, as_of).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ArAging { as_of, currencies }))
}

/// Every account's debits, credits and balance per currency; `balanced` says debits equal
/// credits (they always do: each entry balances).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = TrialBalance), (status = 401), (status = 403)))]
#[get("/finance/trial-balance")]
pub(crate) async fn trial_balance(tx: ReadFinance) -> ApiResult<HttpResponse> {
    let tb = reports::trial_balance(&tx).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(tb))
}
