//! `/invoices/recurring` and `/invoices/{id}/make-recurring`: invoice schedules. Registered
//! before `/invoices/{id}`, whose id would otherwise take `recurring`.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use kernel::ApiResult;
use kernel::http::{ListQuery, ListSpec, Page, ValidJson};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::schedule;
use crate::permissions::{ReadFinance, WriteFinance};
use crate::recurring::{self, Change, NewSchedule};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list).service(make).service(update);
}

/// A schedule: its template invoice copied on each issue date.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: Uuid,
    pub template_invoice_id: Uuid,
    /// weekly, monthly, quarterly or annually.
    pub frequency: String,
    pub next_issue_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub auto_send: bool,
    pub send_to: Option<String>,
    pub enabled: bool,
    /// The last invoice it made.
    pub last_invoice_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<schedule::Model> for Schedule {
    fn from(m: schedule::Model) -> Self {
        Self {
            id: m.id,
            template_invoice_id: m.template_invoice_id,
            frequency: m.frequency,
            next_issue_date: m.next_issue_date,
            end_date: m.end_date,
            auto_send: m.auto_send,
            send_to: m.send_to,
            enabled: m.enabled,
            last_invoice_id: m.last_invoice_id,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(crate) fn schedule_list() -> ListSpec<schedule::Entity> {
    use schedule::Column as C;
    ListSpec::new()
        .field("frequency", C::Frequency)
        .field("enabled", C::Enabled)
        .field("template_invoice_id", C::TemplateInvoiceId)
        .field("next_issue_date", C::NextIssueDate)
        .default_sort(C::NextIssueDate, false)
        .tiebreak(C::Id)
}

kernel::list_params!(ScheduleListParams, schedule_list);

/// The org's invoice schedules, the next issue first.
#[utoipa::path(tag = TAG, params(ScheduleListParams), responses(
    (status = 200, body = Page<Schedule>), (status = 401), (status = 403), (status = 422)))]
#[get("/invoices/recurring")]
pub(crate) async fn list(tx: ReadFinance, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = schedule_list().apply(&query, tx.repo::<schedule::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Schedule::from)))
}

/// `POST /invoices/{id}/make-recurring`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeRecurring {
    /// weekly, monthly, quarterly or annually.
    #[schema(pattern = "^(weekly|monthly|quarterly|annually)$")]
    #[garde(skip)]
    pub frequency: String,
    /// Send each copy when it is made (default false: copies are drafts).
    #[serde(default)]
    #[garde(skip)]
    pub auto_send: bool,
    /// Where sent copies are emailed.
    #[schema(format = "email", max_length = 254)]
    #[garde(inner(email, length(max = 254)))]
    pub send_to: Option<String>,
    /// The first issue (default: one period after the template's issue date, not before today).
    #[garde(skip)]
    pub start_date: Option<NaiveDate>,
    /// The last day an issue may fall on.
    #[garde(skip)]
    pub end_date: Option<NaiveDate>,
}

/// Makes an invoice the template of a schedule: a daily job copies it on each issue date with
/// the next number (and sends the copy when `auto_send`). One schedule an invoice (409).
#[utoipa::path(tag = TAG, request_body = MakeRecurring, responses(
    (status = 201, body = Schedule), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/invoices/{id}/make-recurring")]
pub(crate) async fn make(
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: ValidJson<MakeRecurring>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = NewSchedule {
        frequency: b.frequency,
        auto_send: b.auto_send,
        send_to: b.send_to,
        start_date: b.start_date,
        end_date: b.end_date,
    };
    let s = recurring::make(&tx, tx.caller().user_id, id.into_inner(), new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Schedule::from(s)))
}

/// `PATCH /invoices/recurring/{id}`: absent fields stay; `null` clears.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// Pause (false) or resume (true).
    #[garde(skip)]
    pub enabled: Option<bool>,
    #[garde(skip)]
    pub auto_send: Option<bool>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, format = "email", max_length = 254)]
    #[garde(inner(inner(email, length(max = 254))))]
    pub send_to: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    #[garde(skip)]
    pub end_date: Option<Option<NaiveDate>>,
}

/// Pauses or resumes a schedule, or changes how it sends and when it ends.
#[utoipa::path(tag = TAG, request_body = SchedulePatch, responses(
    (status = 200, body = Schedule), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/invoices/recurring/{id}")]
pub(crate) async fn update(
    tx: WriteFinance,
    id: web::Path<Uuid>,
    body: ValidJson<SchedulePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let change = Change {
        enabled: b.enabled,
        auto_send: b.auto_send,
        send_to: b.send_to,
        end_date: b.end_date,
    };
    let s = recurring::update(&tx, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Schedule::from(s)))
}
