//! Deliverables a document commits to, with their progress.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::ApiResult;
use kernel::http::{ValidJson, trimmed, trimmed_optional};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::deliverable;
use crate::permissions::{ReadDocuments, WriteDocuments};
use crate::service::deliverables::{self as service, NewDeliverable, Patch, expected, target};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(update)
        .service(remove);
}

/// A deliverable with its progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Deliverable)]
pub struct Deliverable {
    pub id: Uuid,
    pub document_id: Uuid,
    pub title: String,
    /// In all for `once`; in each period (day, week, calendar month) for the others.
    pub quantity: i32,
    /// `once`, `daily`, `weekly` or `monthly`.
    pub frequency: String,
    pub platform: Option<String>,
    pub start_date: DateTime<Utc>,
    pub due_date: DateTime<Utc>,
    /// Delivered in all.
    pub current_count: i32,
    /// `active`, `completed` or `cancelled`.
    pub status: String,
    /// To deliver in all: `quantity`, times the periods that begin before the due date.
    pub target_count: i32,
    /// Done share of `target_count`, 0 to 100.
    pub progress: u8,
    /// What should be done by now: at an even pace for `once`, each period's quantity by the
    /// period's end for the others.
    pub expected_count: i32,
    /// As of the daily check (or the last change).
    pub is_on_track: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<deliverable::Model> for Deliverable {
    fn from(m: deliverable::Model) -> Self {
        let target_count = target(&m);
        let progress = match target_count {
            t if t > 0 => (i64::from(m.current_count.clamp(0, t)) * 100 / i64::from(t)) as u8,
            _ => 100,
        };
        Self {
            expected_count: expected(&m, Utc::now()),
            target_count,
            id: m.id,
            document_id: m.document_id,
            title: m.title,
            quantity: m.quantity,
            frequency: m.frequency,
            platform: m.platform,
            start_date: m.start_date,
            due_date: m.due_date,
            current_count: m.current_count,
            status: m.status,
            progress,
            is_on_track: m.is_on_track,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A document's deliverables, by due date.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Deliverable>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/deliverables")]
pub(crate) async fn list(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = crate::service::document(&tx, id.into_inner()).await?;
    let out: Vec<Deliverable> = service::list(&tx, doc.id)
        .await?
        .into_iter()
        .map(Deliverable::from)
        .collect();
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /documents/{id}/deliverables`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewDeliverable)]
pub struct NewDeliverableBody {
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 300))]
    pub title: String,
    #[schema(minimum = 1, maximum = 1000000)]
    #[garde(range(min = 1, max = 1_000_000))]
    pub quantity: i32,
    /// `once` (default), `daily`, `weekly` or `monthly`.
    #[schema(pattern = "^(once|daily|weekly|monthly)$")]
    #[garde(skip)]
    pub frequency: Option<String>,
    /// Where it is delivered (`instagram`, `blog`…).
    #[schema(max_length = 100)]
    #[garde(inner(length(chars, max = 100)))]
    pub platform: Option<String>,
    /// From when the pace counts (default now).
    #[garde(skip)]
    pub start_date: Option<DateTime<Utc>>,
    #[garde(skip)]
    pub due_date: DateTime<Utc>,
}

/// Adds a deliverable to a document.
#[utoipa::path(tag = TAG, request_body = NewDeliverableBody, responses(
    (status = 201, body = Deliverable), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/documents/{id}/deliverables")]
pub(crate) async fn create(
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: ValidJson<NewDeliverableBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = NewDeliverable {
        title: trimmed("title", &b.title, 300)?,
        quantity: b.quantity,
        frequency: b.frequency.unwrap_or_else(|| "once".into()),
        platform: trimmed_optional("platform", b.platform, 100)?,
        start_date: b.start_date,
        due_date: b.due_date,
    };
    let d = service::create(&tx, tx.caller().user_id, id.into_inner(), new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Deliverable::from(d)))
}

/// `PATCH /deliverables/{id}`: `null` clears the platform.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::DeliverablePatch)]
pub struct DeliverablePatch {
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 300)))]
    pub title: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    #[garde(inner(range(min = 1, max = 1_000_000)))]
    pub quantity: Option<i32>,
    /// How many are done (reaching the quantity completes it).
    #[serde(alias = "currentCount")]
    #[schema(minimum = 0, maximum = 1000000)]
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub current_count: Option<i32>,
    /// `active`, `completed` or `cancelled`.
    #[schema(pattern = "^(active|completed|cancelled)$")]
    #[garde(skip)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    #[garde(skip)]
    pub platform: Option<Option<String>>,
    #[garde(skip)]
    pub due_date: Option<DateTime<Utc>>,
}

/// Records progress on a deliverable, or changes it.
#[utoipa::path(tag = TAG, request_body = DeliverablePatch, responses(
    (status = 200, body = Deliverable), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/deliverables/{id}")]
pub(crate) async fn update(
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: ValidJson<DeliverablePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let patch = Patch {
        title: b.title.map(|t| trimmed("title", &t, 300)).transpose()?,
        quantity: b.quantity,
        current_count: b.current_count,
        status: b.status,
        platform: match b.platform {
            Some(p) => Some(trimmed_optional("platform", p, 100)?),
            None => None,
        },
        due_date: b.due_date,
    };
    let d = service::update(&tx, id.into_inner(), patch).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Deliverable::from(d)))
}

/// Deletes a deliverable.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/deliverables/{id}")]
pub(crate) async fn remove(tx: WriteDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::delete(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
