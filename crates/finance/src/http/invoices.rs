//! `/invoices`: drafts with line items, send (with a pay link), void, duplicate; the pay link's
//! public view.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use kernel::http::{ListQuery, ListSpec, OptionalJson, Page, Public, State, ValidJson, trimmed};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::payments::Payment;
use crate::entity::{invoice, line};
use crate::module::Settings;
use crate::money::{MAX_QUANTITY, amount, hundredths};
use crate::pdf::Pdf;
use crate::permissions::{AdministerFinance, ReadFinance, WriteFinance};
use crate::service::{self, NewLine};
use crate::stripe::Intent;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(view)
        .service(view_pdf)
        .service(list)
        .service(create)
        .service(read)
        .service(pdf)
        .service(update)
        .service(send)
        .service(void)
        .service(duplicate)
        .service(pay)
        .service(pay_by_link)
        .service(add_line)
        .service(update_line)
        .service(remove_line);
}

/// A line item. Amounts are integer minor units of the invoice's currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineItem {
    pub id: Uuid,
    pub description: String,
    /// Up to two decimals.
    pub quantity: f64,
    pub unit_price: i64,
    pub discount: i64,
    /// A percentage, up to two decimals (8.25).
    pub tax_rate: f64,
    /// quantity × unit_price, rounded half away from zero.
    pub amount: i64,
    pub tax: i64,
    /// amount − discount + tax.
    pub total: i64,
    pub position: i32,
}

impl From<line::Model> for LineItem {
    fn from(m: line::Model) -> Self {
        Self {
            id: m.id,
            description: m.description,
            quantity: m.quantity as f64 / 100.0,
            unit_price: m.unit_price,
            discount: m.discount,
            tax_rate: m.tax_rate as f64 / 100.0,
            amount: m.amount,
            tax: m.tax,
            total: m.total,
            position: m.position,
        }
    }
}

/// An invoice. Amounts are integer minor units of `currency` (cents for USD).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    /// `INV-YYYY-NNNN`, gapless per organization and year.
    pub number: String,
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    /// draft, sent, viewed, partially_paid, paid, overdue, void, refunded.
    pub status: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    /// The lines' quantity × unit price.
    pub subtotal: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub total: i64,
    /// Received and applied, less what was refunded of it.
    pub amount_paid: i64,
    /// Refunded of what was applied (no longer owed).
    pub amount_refunded: i64,
    /// total − amount_paid − amount_refunded; never negative (an overpayment is a credit).
    pub amount_due: i64,
    pub notes: Option<String>,
    pub terms: Option<String>,
    /// The invoice this one was duplicated from.
    pub source_id: Option<Uuid>,
    /// The project milestone (tasks) it bills, when a reached milestone made it.
    pub milestone_id: Option<Uuid>,
    /// Who it is for, as it was sent (the contact's or deal's name then); `null` for a draft.
    pub bill_to: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub viewed_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// With one invoice (not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_items: Option<Vec<LineItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<Payment>>,
}

impl From<invoice::Model> for Invoice {
    fn from(m: invoice::Model) -> Self {
        Self {
            amount_due: service::balance(&m),
            id: m.id,
            number: m.number,
            contact_id: m.contact_id,
            deal_id: m.deal_id,
            status: m.status,
            issue_date: m.issue_date,
            due_date: m.due_date,
            currency: m.currency,
            subtotal: m.subtotal,
            discount_amount: m.discount_amount,
            tax_amount: m.tax_amount,
            total: m.total,
            amount_paid: m.amount_paid,
            amount_refunded: m.amount_refunded,
            notes: m.notes,
            terms: m.terms,
            source_id: m.source_id,
            milestone_id: m.milestone_id,
            bill_to: m.bill_to,
            sent_at: m.sent_at,
            viewed_at: m.viewed_at,
            paid_at: m.paid_at,
            voided_at: m.voided_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            line_items: None,
            payments: None,
        }
    }
}

fn with_lines(inv: invoice::Model, lines: Vec<line::Model>) -> Invoice {
    Invoice {
        line_items: Some(lines.into_iter().map(LineItem::from).collect()),
        ..Invoice::from(inv)
    }
}

pub(crate) fn invoice_list() -> ListSpec<invoice::Entity> {
    use invoice::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("number", C::Number)
        .field("contact_id", C::ContactId)
        .field("deal_id", C::DealId)
        .field("currency", C::Currency)
        .field("issue_date", C::IssueDate)
        .field("due_date", C::DueDate)
        .field("total", C::Total)
        .sortable("created_at", C::CreatedAt)
        .search([C::Number, C::Notes])
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(InvoiceListParams, invoice_list);

/// The org's invoices, newest first (`filter[status]=overdue`, `filter[contact_id]=…`,
/// `filter[due_date.lt]=2026-12-01`, `search` in numbers and notes).
#[utoipa::path(tag = TAG, params(InvoiceListParams), responses(
    (status = 200, body = Page<Invoice>), (status = 401), (status = 403), (status = 422)))]
#[get("/invoices")]
pub(crate) async fn list(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = invoice_list().apply(&query, tx.repo::<invoice::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Invoice::from)))
}

/// A line item as written. Amounts are integer minor units.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLineItem {
    #[schema(min_length = 1, max_length = 500)]
    #[garde(length(chars, min = 1, max = 500))]
    pub description: String,
    /// Default 1; up to two decimals.
    #[schema(minimum = 0.01, maximum = 1000000)]
    #[garde(skip)]
    pub quantity: Option<f64>,
    #[schema(minimum = 0, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub unit_price: i64,
    /// Taken off this line before tax (minor units).
    #[schema(minimum = 0, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub discount: Option<i64>,
    /// A percentage, up to two decimals (default 0).
    #[schema(minimum = 0, maximum = 100)]
    #[garde(skip)]
    pub tax_rate: Option<f64>,
}

fn new_line(at: &str, b: NewLineItem) -> Result<NewLine, ApiError> {
    let f = |name: &str| format!("{at}{name}");
    Ok(NewLine {
        description: trimmed(&f("description"), &b.description, 500)?,
        quantity: hundredths(
            &f("quantity"),
            b.quantity.unwrap_or(1.0),
            MAX_QUANTITY,
            true,
        )?,
        unit_price: amount(&f("unit_price"), b.unit_price, 0)?,
        discount: amount(&f("discount"), b.discount.unwrap_or(0), 0)?,
        tax_rate: hundredths(&f("tax_rate"), b.tax_rate.unwrap_or(0.0), 10_000, false)?,
    })
}

/// `POST /invoices`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    /// A contact of the org (the crm's), when the cell has contacts.
    #[garde(skip)]
    pub contact_id: Option<Uuid>,
    #[garde(skip)]
    pub deal_id: Option<Uuid>,
    /// ISO 4217 (default: the module's `default_currency`).
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    /// Default today.
    #[garde(skip)]
    pub issue_date: Option<NaiveDate>,
    /// Default: the issue date plus the module's `payment_terms_days`.
    #[garde(skip)]
    pub due_date: Option<NaiveDate>,
    #[schema(max_length = 10000)]
    #[garde(inner(length(chars, max = 10000)))]
    pub notes: Option<String>,
    #[schema(max_length = 10000)]
    #[garde(inner(length(chars, max = 10000)))]
    pub terms: Option<String>,
    #[serde(default)]
    #[schema(max_items = 5000)]
    #[garde(length(max = 5000), dive)]
    pub line_items: Vec<NewLineItem>,
}

/// Creates a draft with the org's next number (`INV-YYYY-NNNN`) and its totals.
#[utoipa::path(tag = TAG, request_body = NewInvoice, responses(
    (status = 201, body = Invoice), (status = 401), (status = 403), (status = 409), (status = 422)))]
#[post("/invoices")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteFinance,
    body: ValidJson<NewInvoice>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let lines = b
        .line_items
        .into_iter()
        .enumerate()
        .map(|(i, l)| new_line(&format!("line_items[{i}]."), l))
        .collect::<Result<Vec<_>, _>>()?;
    let new = service::NewInvoice {
        contact_id: b.contact_id,
        deal_id: b.deal_id,
        currency: b.currency,
        issue_date: b.issue_date,
        due_date: b.due_date,
        notes: b.notes,
        terms: b.terms,
        lines,
        milestone_id: None,
    };
    let (inv, lines) = service::create(
        &ctx,
        &tx,
        tx.caller().user_id,
        Some(tx.caller()),
        &settings,
        new,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(with_lines(inv, lines)))
}

/// One invoice with its line items and payments.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Invoice), (status = 401), (status = 403), (status = 404)))]
#[get("/invoices/{id}")]
pub(crate) async fn read(tx: ReadFinance, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let inv = service::get(&tx, id.into_inner()).await?;
    let lines = service::lines_of(&tx, inv.id).await?;
    let payments = service::payments_of(&tx, inv.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invoice {
        payments: Some(payments.into_iter().map(Payment::from).collect()),
        ..with_lines(inv, lines)
    }))
}

/// The invoice as a PDF: a presigned URL, valid one hour. A draft shows its contact as the
/// caller sees them, a sent invoice as it was sent.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Pdf), (status = 401), (status = 403), (status = 404)))]
#[get("/invoices/{id}/pdf")]
pub(crate) async fn pdf(
    ctx: CellContext,
    tx: ReadFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let inv = service::get(&tx, id.into_inner()).await?;
    let lines = service::lines_of(&tx, inv.id).await?;
    let bill_to = service::bill_to(&ctx, &tx, tx.caller(), &inv).await?;
    let org = tx.org_id();
    tx.commit().await?;
    pdf_of(&ctx, org, &inv, &lines, bill_to).await
}

/// The answer of both PDF routes (after their transaction ended).
async fn pdf_of(
    ctx: &CellContext,
    org: Uuid,
    inv: &invoice::Model,
    lines: &[line::Model],
    bill_to: Option<String>,
) -> ApiResult<HttpResponse> {
    let statement = crate::pdf::statement(inv, lines, bill_to);
    let out = crate::pdf::url(ctx, org, inv.id, statement).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}

/// `PATCH /invoices/{id}` (a draft only): absent fields stay; `null` clears.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePatch {
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub contact_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub deal_id: Option<Option<Uuid>>,
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    #[garde(skip)]
    pub issue_date: Option<NaiveDate>,
    #[garde(skip)]
    pub due_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    #[garde(inner(inner(length(chars, max = 10000))))]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    #[garde(inner(inner(length(chars, max = 10000))))]
    pub terms: Option<Option<String>>,
}

/// Changes a draft's customer, currency, dates, notes or terms (409 once it is sent).
#[utoipa::path(tag = TAG, request_body = InvoicePatch, responses(
    (status = 200, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/invoices/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: ValidJson<InvoicePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let change = service::Change {
        contact_id: b.contact_id,
        deal_id: b.deal_id,
        currency: b.currency,
        issue_date: b.issue_date,
        due_date: b.due_date,
        notes: b.notes,
        terms: b.terms,
    };
    let inv = service::update(&ctx, &tx, tx.caller(), id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invoice::from(inv)))
}

/// `POST /invoices/{id}/send`.
#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// Where to email the invoice and its pay link (without it, the invoice is marked sent and
    /// the link is only in the answer).
    #[schema(format = "email", max_length = 254)]
    #[garde(inner(email, length(max = 254)))]
    pub to: Option<String>,
}

/// An invoice just sent, with its pay link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SentInvoice {
    #[serde(flatten)]
    pub invoice: Invoice,
    /// The customer's link to see and pay it (only its hash is kept).
    pub pay_link: String,
}

/// Sends a draft: it is owed from now on (posted to the ledger), with a pay link emailed to
/// `to` when given; `finance.invoice.sent`.
#[utoipa::path(tag = TAG, request_body = Option<Send>, responses(
    (status = 200, body = SentInvoice), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/invoices/{id}/send")]
pub(crate) async fn send(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: OptionalJson<Send>,
) -> ApiResult<HttpResponse> {
    let to = body.0.unwrap_or_default().to;
    let (inv, pay_link) =
        service::send(&ctx, &tx, &settings, tx.caller(), id.into_inner(), to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(SentInvoice {
        invoice: Invoice::from(inv),
        pay_link,
    }))
}

/// Voids an invoice (admins and owners): what it posted is reversed; one with payments is
/// refunded first (409).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/invoices/{id}/void")]
pub(crate) async fn void(
    ctx: CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let inv = service::void(&ctx, &tx, by, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invoice::from(inv)))
}

/// A new draft like this invoice: same customer, currency, lines and terms, the next number,
/// issued today.
#[utoipa::path(tag = TAG, responses(
    (status = 201, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/invoices/{id}/duplicate")]
pub(crate) async fn duplicate(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (inv, lines) =
        service::duplicate(&ctx, &tx, tx.caller(), &settings, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(with_lines(inv, lines)))
}

/// Adds a line item to a draft; the totals follow.
#[utoipa::path(tag = TAG, request_body = NewLineItem, responses(
    (status = 201, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/invoices/{id}/line-items")]
pub(crate) async fn add_line(
    settings: State<Settings>,
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: ValidJson<NewLineItem>,
) -> ApiResult<HttpResponse> {
    let new = new_line("", body.0)?;
    let (inv, lines) = service::add_line(&tx, &settings, id.into_inner(), new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(with_lines(inv, lines)))
}

/// `PATCH /invoices/{id}/line-items/{item_id}`: absent fields stay.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemPatch {
    #[schema(min_length = 1, max_length = 500)]
    #[garde(inner(length(chars, min = 1, max = 500)))]
    pub description: Option<String>,
    #[schema(minimum = 0.01, maximum = 1000000)]
    #[garde(skip)]
    pub quantity: Option<f64>,
    #[schema(minimum = 0, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub unit_price: Option<i64>,
    #[schema(minimum = 0, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub discount: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    #[garde(skip)]
    pub tax_rate: Option<f64>,
}

/// Changes a draft's line item; the totals follow.
#[utoipa::path(tag = TAG, request_body = LineItemPatch, responses(
    (status = 200, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/invoices/{id}/line-items/{item_id}")]
pub(crate) async fn update_line(
    tx: WriteFinance,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<LineItemPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let (id, item) = path.into_inner();
    let change = service::LineChange {
        description: b
            .description
            .map(|d| trimmed("description", &d, 500))
            .transpose()?,
        quantity: b
            .quantity
            .map(|q| hundredths("quantity", q, MAX_QUANTITY, true))
            .transpose()?,
        unit_price: b
            .unit_price
            .map(|p| amount("unit_price", p, 0))
            .transpose()?,
        discount: b.discount.map(|d| amount("discount", d, 0)).transpose()?,
        tax_rate: b
            .tax_rate
            .map(|t| hundredths("tax_rate", t, 10_000, false))
            .transpose()?,
    };
    let (inv, lines) = service::update_line(&tx, id, item, change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(with_lines(inv, lines)))
}

/// Removes a draft's line item; the totals follow.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Invoice), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/invoices/{id}/line-items/{item_id}")]
pub(crate) async fn remove_line(
    tx: WriteFinance,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, item) = path.into_inner();
    let (inv, lines) = service::remove_line(&tx, id, item).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(with_lines(inv, lines)))
}

/// A PaymentIntent for what an invoice owes now (Stripe): its client secret, for the payment
/// page's Stripe.js. The payment is recorded when Stripe's webhook reports it.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Intent), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 502)))]
#[post("/invoices/{id}/pay")]
pub(crate) async fn pay(
    settings: State<Settings>,
    tx: WriteFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let inv = service::get(&tx, id.into_inner()).await?;
    let org = tx.org_id();
    // Nothing is written here: the transaction ends before Stripe is called.
    tx.commit().await?;
    let intent = crate::stripe::intent(&settings, org, &inv).await?;
    Ok(HttpResponse::Ok().json(intent))
}

fn link_org(token: &str) -> Result<Uuid, ApiError> {
    kernel::opaque::parse_org_token(token)
        .map(|(org, _)| org)
        .ok_or_else(|| ApiError::not_found("no such invoice link"))
}

/// The same, for the customer paying from the pay link (no account).
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = Intent), (status = 404), (status = 409), (status = 410), (status = 502)))]
#[post("/invoices/view/{token}/pay")]
pub(crate) async fn pay_by_link(
    _: Public,
    ctx: CellContext,
    settings: State<Settings>,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let org = link_org(&token)?;
    let tx = ctx.db().tenant_read(org).await?;
    let inv = service::by_link(&ctx, &tx, &token).await?;
    tx.commit().await?;
    let intent = crate::stripe::intent(&settings, org, &inv).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(intent))
}

/// The invoice behind a pay link as a PDF, for its customer (no account): a presigned URL, valid
/// one hour. 404 for an unknown link, 410 for an expired one or a void invoice.
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = Pdf), (status = 404), (status = 410)))]
#[get("/invoices/view/{token}/pdf")]
pub(crate) async fn view_pdf(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let org = link_org(&token)?;
    let tx = ctx.db().tenant_read(org).await?;
    let inv = service::by_link(&ctx, &tx, &token).await?;
    let lines = service::lines_of(&tx, inv.id).await?;
    tx.commit().await?;
    pdf_of(&ctx, org, &inv, &lines, inv.bill_to.clone()).await
}

/// An invoice as its customer sees it through the pay link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerInvoice {
    pub number: String,
    pub status: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    /// Who it is for (the name it was sent to).
    pub bill_to: Option<String>,
    pub subtotal: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub total: i64,
    pub amount_paid: i64,
    pub amount_due: i64,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub line_items: Vec<LineItem>,
}

/// The invoice behind a pay link, for its customer (no account). The first view of a sent
/// invoice makes it `viewed`. 404 for an unknown link, 410 for an expired one or a void invoice.
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = CustomerInvoice), (status = 404), (status = 410)))]
#[get("/invoices/view/{token}")]
pub(crate) async fn view(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let tx = ctx.db().tenant(link_org(&token)?).await?;
    let inv = service::view(&ctx, &tx, &token).await?;
    let lines = service::lines_of(&tx, inv.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(CustomerInvoice {
            amount_due: service::balance(&inv),
            number: inv.number,
            status: inv.status,
            issue_date: inv.issue_date,
            due_date: inv.due_date,
            currency: inv.currency,
            bill_to: inv.bill_to,
            subtotal: inv.subtotal,
            discount_amount: inv.discount_amount,
            tax_amount: inv.tax_amount,
            total: inv.total,
            amount_paid: inv.amount_paid,
            notes: inv.notes,
            terms: inv.terms,
            line_items: lines.into_iter().map(LineItem::from).collect(),
        }))
}
