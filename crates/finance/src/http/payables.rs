//! `/vendors` and `/bills`: payables. Members record vendors and bills; admins approve, reject,
//! pay and cancel bills.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed, trimmed_optional};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{bill, vendor};
use crate::module::Settings;
use crate::money::amount;
use crate::payables::{self as service, NewBill, VendorFields};
use crate::permissions::{AdministerFinance, ReadFinance, WriteFinance};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(vendors)
        .service(create_vendor)
        .service(read_vendor)
        .service(update_vendor)
        .service(bills)
        .service(create_bill)
        .service(read_bill)
        .service(approve)
        .service(reject)
        .service(pay)
        .service(cancel);
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Vendor {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<vendor::Model> for Vendor {
    fn from(m: vendor::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            email: m.email,
            phone: m.phone,
            notes: m.notes,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(crate) fn vendor_list() -> ListSpec<vendor::Entity> {
    use vendor::Column as C;
    ListSpec::new()
        .field("name", C::Name)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name, C::Email])
        .default_sort(C::Name, false)
        .tiebreak(C::Id)
}

kernel::list_params!(VendorListParams, vendor_list);

/// The org's vendors, by name.
#[utoipa::path(tag = TAG, params(VendorListParams), responses(
    (status = 200, body = Page<Vendor>), (status = 401), (status = 403), (status = 422)))]
#[get("/vendors")]
pub(crate) async fn vendors(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = vendor_list().apply(&query, tx.repo::<vendor::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Vendor::from)))
}

/// `POST /vendors`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVendor {
    /// Unique in the org; kept trimmed.
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(format = "email", max_length = 254)]
    #[garde(inner(email, length(max = 254)))]
    pub email: Option<String>,
    #[schema(max_length = 50)]
    #[garde(inner(length(chars, max = 50)))]
    pub phone: Option<String>,
    #[schema(max_length = 10000)]
    #[garde(inner(length(chars, max = 10000)))]
    pub notes: Option<String>,
}

/// `PATCH /vendors/{id}`: absent fields stay; `null` clears.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorBody {
    /// Unique in the org.
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, format = "email", max_length = 254)]
    #[garde(inner(inner(email, length(max = 254))))]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    #[garde(inner(inner(length(chars, max = 50))))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    #[garde(inner(inner(length(chars, max = 10000))))]
    pub notes: Option<Option<String>>,
}

impl VendorBody {
    fn fields(self) -> ApiResult<VendorFields> {
        Ok(VendorFields {
            name: self.name.map(|n| trimmed("name", &n, 200)).transpose()?,
            email: self.email,
            phone: self.phone,
            notes: self.notes,
        })
    }
}

/// Records a vendor (409 when the name is taken in the org).
#[utoipa::path(tag = TAG, request_body = NewVendor, responses(
    (status = 201, body = Vendor), (status = 401), (status = 403), (status = 409), (status = 422)))]
#[post("/vendors")]
pub(crate) async fn create_vendor(
    tx: WriteFinance,
    body: ValidJson<NewVendor>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let name = trimmed("name", &b.name, 200)?;
    let f = VendorFields {
        name: None,
        email: Some(b.email),
        phone: Some(b.phone),
        notes: Some(b.notes),
    };
    let v = service::create_vendor(&tx, tx.caller().user_id, name, f).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Vendor::from(v)))
}

/// One vendor.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vendor), (status = 401), (status = 403), (status = 404)))]
#[get("/vendors/{id}")]
pub(crate) async fn read_vendor(tx: ReadFinance, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let v = service::vendor(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Vendor::from(v)))
}

/// Changes a vendor.
#[utoipa::path(tag = TAG, request_body = VendorBody, responses(
    (status = 200, body = Vendor), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/vendors/{id}")]
pub(crate) async fn update_vendor(
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: ValidJson<VendorBody>,
) -> ApiResult<HttpResponse> {
    let v = service::update_vendor(&tx, id.into_inner(), body.0.fields()?).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Vendor::from(v)))
}

/// A bill to pay. `amount` is integer minor units of `currency`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Bill {
    pub id: Uuid,
    pub vendor_id: Option<Uuid>,
    /// The vendor's own number for it.
    pub reference: Option<String>,
    pub category: String,
    pub description: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub bill_date: NaiveDate,
    pub due_date: NaiveDate,
    /// pending, approved, rejected, paid or cancelled.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<bill::Model> for Bill {
    fn from(m: bill::Model) -> Self {
        Self {
            id: m.id,
            vendor_id: m.vendor_id,
            reference: m.reference,
            category: m.category,
            description: m.description,
            amount: m.amount,
            currency: m.currency,
            bill_date: m.bill_date,
            due_date: m.due_date,
            status: m.status,
            decided_by: m.decided_by,
            decided_at: m.decided_at,
            paid_at: m.paid_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(crate) fn bill_list() -> ListSpec<bill::Entity> {
    use bill::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("vendor_id", C::VendorId)
        .field("category", C::Category)
        .field("currency", C::Currency)
        .field("due_date", C::DueDate)
        .field("amount", C::Amount)
        .sortable("created_at", C::CreatedAt)
        .search([C::Reference, C::Description])
        .default_sort(C::DueDate, false)
        .tiebreak(C::Id)
}

kernel::list_params!(BillListParams, bill_list);

/// The org's bills, the soonest due first (`filter[status]=approved`, `filter[vendor_id]=…`).
#[utoipa::path(tag = TAG, params(BillListParams), responses(
    (status = 200, body = Page<Bill>), (status = 401), (status = 403), (status = 422)))]
#[get("/bills")]
pub(crate) async fn bills(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = bill_list().apply(&query, tx.repo::<bill::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Bill::from)))
}

/// `POST /bills`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBillBody {
    #[garde(skip)]
    pub vendor_id: Option<Uuid>,
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub reference: Option<String>,
    /// Default `other`; lower-cased.
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
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    /// Default today.
    #[garde(skip)]
    pub bill_date: Option<NaiveDate>,
    /// Default the bill date.
    #[garde(skip)]
    pub due_date: Option<NaiveDate>,
}

/// Records a bill (pending approval).
#[utoipa::path(tag = TAG, request_body = NewBillBody, responses(
    (status = 201, body = Bill), (status = 401), (status = 403), (status = 422)))]
#[post("/bills")]
pub(crate) async fn create_bill(
    settings: State<Settings>,
    tx: WriteFinance,
    body: ValidJson<NewBillBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = NewBill {
        vendor_id: b.vendor_id,
        reference: trimmed_optional("reference", b.reference, 200)?,
        category: crate::expenses::category(b.category.as_deref().unwrap_or("other"))?,
        description: trimmed_optional("description", b.description, 500)?,
        amount: amount("amount", b.amount, 1)?,
        currency: b.currency,
        bill_date: b.bill_date,
        due_date: b.due_date,
    };
    let bill = service::create_bill(&tx, &settings, tx.caller().user_id, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Bill::from(bill)))
}

/// One bill.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Bill), (status = 401), (status = 403), (status = 404)))]
#[get("/bills/{id}")]
pub(crate) async fn read_bill(tx: ReadFinance, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let b = service::bill(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Bill::from(b)))
}

async fn decide(
    ctx: CellContext,
    tx: AdministerFinance,
    id: Uuid,
    to: &str,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let b = service::decide(&ctx, &tx, by, id, to).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Bill::from(b)))
}

/// Approves a pending bill (admins): it is owed (posted to accounts payable).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Bill), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/bills/{id}/approve")]
pub(crate) async fn approve(
    ctx: CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, id.into_inner(), "approved").await
}

/// Rejects a pending bill (admins).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Bill), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/bills/{id}/reject")]
pub(crate) async fn reject(
    ctx: CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, id.into_inner(), "rejected").await
}

/// Marks an approved bill paid (admins): the payable is settled from cash.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Bill), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/bills/{id}/pay")]
pub(crate) async fn pay(
    ctx: CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, id.into_inner(), "paid").await
}

/// Cancels a pending or approved bill (admins); an approved one's posting is reversed.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Bill), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/bills/{id}/cancel")]
pub(crate) async fn cancel(
    ctx: CellContext,
    tx: AdministerFinance,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, id.into_inner(), "cancelled").await
}
