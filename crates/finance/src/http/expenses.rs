//! `/expenses`: submit, list, read; approve, reject, reimburse (admins). A receipt is a file
//! attached to the expense (`POST /files/upload-url` with `entity_type: finance_expense`).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use kernel::ApiResult;
use kernel::http::{ListQuery, ListSpec, OptionalJson, Page, State, ValidJson, trimmed_optional};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::expense;
use crate::expenses::{self as service, NewExpense};
use crate::module::Settings;
use crate::money::amount;
use crate::permissions::{AdministerFinance, ReadFinance, WriteFinance};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(submit)
        .service(read)
        .service(approve)
        .service(reject)
        .service(reimburse);
}

/// An expense. `amount` is integer minor units of `currency`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Expense {
    pub id: Uuid,
    pub category: String,
    pub description: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub vendor: Option<String>,
    pub expense_date: NaiveDate,
    /// pending, approved, rejected or reimbursed.
    pub status: String,
    pub submitted_by: Uuid,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub reimbursed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<expense::Model> for Expense {
    fn from(m: expense::Model) -> Self {
        Self {
            id: m.id,
            category: m.category,
            description: m.description,
            amount: m.amount,
            currency: m.currency,
            vendor: m.vendor,
            expense_date: m.expense_date,
            status: m.status,
            submitted_by: m.submitted_by,
            decided_by: m.decided_by,
            decided_at: m.decided_at,
            reason: m.reason,
            reimbursed_at: m.reimbursed_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(crate) fn expense_list() -> ListSpec<expense::Entity> {
    use expense::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("category", C::Category)
        .field("currency", C::Currency)
        .field("submitted_by", C::SubmittedBy)
        .field("expense_date", C::ExpenseDate)
        .field("amount", C::Amount)
        .sortable("created_at", C::CreatedAt)
        .search([C::Description, C::Vendor])
        .tagged(crate::loader::EXPENSE, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(ExpenseListParams, expense_list);

/// The org's expenses, newest first (`filter[status]=pending`, `filter[category]=travel`,
/// `search` in descriptions and vendors).
#[utoipa::path(tag = TAG, params(ExpenseListParams), responses(
    (status = 200, body = Page<Expense>), (status = 401), (status = 403), (status = 422)))]
#[get("/expenses")]
pub(crate) async fn list(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = expense_list().apply(&query, tx.repo::<expense::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Expense::from)))
}

/// `POST /expenses`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExpenseBody {
    /// Default `other`; lower-cased (software, travel, office, payroll, …).
    #[schema(min_length = 1, max_length = 50)]
    #[garde(inner(length(chars, min = 1, max = 50)))]
    pub category: Option<String>,
    #[schema(max_length = 500)]
    #[garde(inner(length(chars, max = 500)))]
    pub description: Option<String>,
    /// Minor units.
    #[schema(minimum = 1, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub amount: i64,
    /// ISO 4217 (default: the module's `default_currency`).
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub vendor: Option<String>,
    /// Default today; not in the future.
    #[garde(skip)]
    pub expense_date: Option<NaiveDate>,
}

/// Submits an expense for approval (`finance.expense.submitted` tells the org's admins). Attach
/// the receipt to it through the files module.
#[utoipa::path(tag = TAG, request_body = NewExpenseBody, responses(
    (status = 201, body = Expense), (status = 401), (status = 403), (status = 422)))]
#[post("/expenses")]
pub(crate) async fn submit(
    ctx: kernel::CellContext,
    settings: State<Settings>,
    tx: WriteFinance,
    body: ValidJson<NewExpenseBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = NewExpense {
        category: service::category(b.category.as_deref().unwrap_or("other"))?,
        description: trimmed_optional("description", b.description, 500)?,
        amount: amount("amount", b.amount, 1)?,
        currency: b.currency,
        vendor: trimmed_optional("vendor", b.vendor, 200)?,
        expense_date: b.expense_date.unwrap_or_else(|| Utc::now().date_naive()),
    };
    let e = service::submit(&ctx, &tx, &settings, tx.caller().user_id, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Expense::from(e)))
}

/// One expense.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Expense), (status = 401), (status = 403), (status = 404)))]
#[get("/expenses/{id}")]
pub(crate) async fn read(tx: ReadFinance, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let e = service::get(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Expense::from(e)))
}

/// Approves a pending expense (admins; not one's own unless `allow_self_approval`): it is
/// posted to the ledger; `finance.expense.approved` tells the submitter.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Expense), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/expenses/{id}/approve")]
pub(crate) async fn approve(
    ctx: kernel::CellContext,
    settings: State<Settings>,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let e = service::approve(&ctx, &tx, &settings, by, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Expense::from(e)))
}

/// `POST /expenses/{id}/reject`.
#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    #[schema(max_length = 1000)]
    #[garde(inner(length(chars, max = 1000)))]
    pub reason: Option<String>,
}

/// Rejects a pending expense (admins), with why; `finance.expense.rejected`.
#[utoipa::path(tag = TAG, request_body = Option<Reject>, responses(
    (status = 200, body = Expense), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/expenses/{id}/reject")]
pub(crate) async fn reject(
    ctx: kernel::CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
    body: OptionalJson<Reject>,
) -> ApiResult<HttpResponse> {
    let reason = trimmed_optional("reason", body.0.unwrap_or_default().reason, 1000)?;
    let by = tx.caller().user_id;
    let e = service::reject(&ctx, &tx, by, id.into_inner(), reason).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Expense::from(e)))
}

/// Marks an approved expense paid back to its submitter (admins); `finance.expense.reimbursed`.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Expense), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/expenses/{id}/reimburse")]
pub(crate) async fn reimburse(
    ctx: kernel::CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let e = service::reimburse(&ctx, &tx, by, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Expense::from(e)))
}
