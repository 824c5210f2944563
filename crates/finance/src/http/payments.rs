//! `/payments`: the payments ledger, manual payments, refunds.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, OptionalJson, Page, State, ValidJson, trimmed_optional};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::invoices::Invoice;
use crate::entity::payment;
use crate::module::Settings;
use crate::money::amount;
use crate::permissions::{AdministerFinance, ReadFinance, WriteFinance};
use crate::service::{self, METHODS};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(refund)
        .service(apply_credit);
}

/// A payment received, or a refund paid back. Amounts are integer minor units.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub invoice_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// `payment`, `refund`, or `credit` (an invoice paid from its customer's credit).
    #[serde(rename = "type")]
    pub kind: String,
    /// credit_card, bank_transfer, ach, check, cash, other.
    pub method: String,
    /// pending, completed, failed.
    pub status: String,
    pub amount: i64,
    /// Of a payment: what went to its invoice. Of a refund: what was refunded of that.
    pub applied: i64,
    /// Of a payment: what became the customer's credit. Of a refund: what was paid back of it.
    pub credited: i64,
    /// Of a payment: how much of it has been refunded.
    pub refunded: i64,
    pub currency: String,
    /// `manual`, `stripe` or `credit`.
    pub provider: String,
    pub provider_payment_id: Option<String>,
    pub reference: Option<String>,
    /// Of a refund: the payment it refunds.
    pub refund_of: Option<Uuid>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<payment::Model> for Payment {
    fn from(m: payment::Model) -> Self {
        Self {
            id: m.id,
            invoice_id: m.invoice_id,
            contact_id: m.contact_id,
            kind: m.kind,
            method: m.method,
            status: m.status,
            amount: m.amount,
            applied: m.applied,
            credited: m.credited,
            refunded: m.refunded,
            currency: m.currency,
            provider: m.provider,
            provider_payment_id: m.provider_payment_id,
            reference: m.reference,
            refund_of: m.refund_of,
            paid_at: m.paid_at,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}

pub(crate) fn payment_list() -> ListSpec<payment::Entity> {
    use payment::Column as C;
    ListSpec::new()
        .field("invoice_id", C::InvoiceId)
        .field("contact_id", C::ContactId)
        .field("type", C::Kind)
        .field("method", C::Method)
        .field("status", C::Status)
        .field("currency", C::Currency)
        .field("amount", C::Amount)
        .field("created_at", C::CreatedAt)
        .search([C::Reference])
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(PaymentListParams, payment_list);

/// The payments ledger: payments and refunds, newest first (`filter[invoice_id]=…`,
/// `filter[type]=refund`, `search` in references).
#[utoipa::path(tag = TAG, params(PaymentListParams), responses(
    (status = 200, body = Page<Payment>), (status = 401), (status = 403), (status = 422)))]
#[get("/payments")]
pub(crate) async fn list(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = payment_list().apply(&query, tx.repo::<payment::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Payment::from)))
}

/// `POST /payments`: a payment received outside the payment provider.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    #[garde(skip)]
    pub invoice_id: Uuid,
    /// Minor units of the invoice's currency; more than is owed becomes the customer's credit.
    #[schema(minimum = 1, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub amount: i64,
    /// credit_card, bank_transfer, ach, check, cash or other.
    #[schema(pattern = "^(credit_card|bank_transfer|ach|check|cash|other)$")]
    #[garde(skip)]
    pub method: String,
    /// A check number, a wire reference.
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub reference: Option<String>,
}

/// A payment and the invoice it went to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    pub payment: Payment,
    pub invoice: Invoice,
}

/// Records a manual payment: applied to the invoice up to what it owes, the rest the
/// customer's credit; the invoice `paid` or `partially_paid`; `finance.payment.received`.
#[utoipa::path(tag = TAG, request_body = NewPayment, responses(
    (status = 201, body = Received), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/payments")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteFinance,
    body: ValidJson<NewPayment>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    if !METHODS.contains(&b.method.as_str()) {
        return Err(ApiError::validation(
            "method",
            format!("one of {}", METHODS.join(", ")),
        ));
    }
    let new = service::NewPayment {
        invoice_id: b.invoice_id,
        amount: amount("amount", b.amount, 1)?,
        method: b.method,
        reference: trimmed_optional("reference", b.reference, 200)?,
        provider: "manual",
        provider_payment_id: None,
    };
    let by = tx.caller().user_id;
    let (p, inv) = service::receive(&ctx, &tx, Some(by), new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Received {
        payment: Payment::from(p),
        invoice: Invoice::from(inv),
    }))
}

/// One payment or refund.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Payment), (status = 401), (status = 403), (status = 404)))]
#[get("/payments/{id}")]
pub(crate) async fn read(tx: ReadFinance, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let p = tx
        .repo::<payment::Entity>()
        .get(id.into_inner())
        .await?
        .ok_or_else(|| ApiError::not_found("no such payment in this organization"))?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Payment::from(p)))
}

/// `POST /payments/{id}/refund` and `POST /invoices/{id}/apply-credit`: how much.
#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartOf {
    /// Minor units (default: all that the operation can take: what is left of the payment, or
    /// as much of the customer's credit as the invoice owes).
    #[schema(minimum = 1, maximum = 10000000000000_i64)]
    #[garde(skip)]
    pub amount: Option<i64>,
}

impl PartOf {
    fn read(body: OptionalJson<Self>) -> Result<Option<i64>, ApiError> {
        body.0
            .unwrap_or_default()
            .amount
            .map(|a| amount("amount", a, 1))
            .transpose()
    }
}

/// A refund and the payment it refunds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Refunded {
    pub payment: Payment,
    pub refund: Payment,
}

/// Refunds a payment, in part or in whole (admins and owners): its credit first, then what went
/// to the invoice (a credit note: not owed again); `finance.payment.refunded`. A payment made
/// through Stripe is refunded at Stripe first (no transaction is held while it answers); its
/// `charge.refunded` webhook then finds the refund recorded.
#[utoipa::path(tag = TAG, request_body = Option<PartOf>, responses(
    (status = 201, body = Refunded), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422), (status = 502)))]
#[post("/payments/{id}/refund")]
pub(crate) async fn refund(
    ctx: CellContext,
    settings: State<Settings>,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
    body: OptionalJson<PartOf>,
) -> ApiResult<HttpResponse> {
    let amount = PartOf::read(body)?;
    let by = tx.caller().user_id;
    let id = id.into_inner();
    let p = service::payment(&tx, id).await?;
    service::refundable_now(&tx, &p, amount.unwrap_or(p.amount - p.refunded)).await?;
    let (p, r) = match (p.provider.as_str(), &p.provider_payment_id) {
        (crate::stripe::PROVIDER, Some(intent)) => {
            let amount = amount.unwrap_or(p.amount - p.refunded);
            let org = tx.org_id();
            // No transaction is held while Stripe answers.
            tx.commit().await?;
            crate::stripe::refund_payment(&ctx, &settings, org, by, &p, intent, amount).await?
        }
        _ => {
            let out = service::refund(&ctx, &tx, Some(by), id, amount).await?;
            tx.commit().await?;
            out
        }
    };
    Ok(HttpResponse::Created().json(Refunded {
        payment: Payment::from(p),
        refund: Payment::from(r),
    }))
}

/// Pays an invoice, in part or in whole, from its customer's credit in its currency (earlier
/// overpayments): a payment of type `credit`, the invoice `paid` or `partially_paid`,
/// `finance.credit.applied`. 409 when the invoice is not owed, names no contact, or the
/// customer holds no credit.
#[utoipa::path(tag = TAG, request_body = Option<PartOf>, responses(
    (status = 201, body = Received), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/invoices/{id}/apply-credit")]
pub(crate) async fn apply_credit(
    ctx: CellContext,
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: OptionalJson<PartOf>,
) -> ApiResult<HttpResponse> {
    let amount = PartOf::read(body)?;
    let by = tx.caller().user_id;
    let (p, inv) = service::apply_credit(&ctx, &tx, by, id.into_inner(), amount).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Received {
        payment: Payment::from(p),
        invoice: Invoice::from(inv),
    }))
}
