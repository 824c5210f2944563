//! `/segments`: static and dynamic groups of persons, targets for campaigns (their members are
//! `GET /contacts?filter[segment_id]=…`, and an export with that query).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, ListQuery, ListSpec, Page, ValidJson, trimmed};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::segment;
use crate::ownership::Who;
use crate::permissions::{ReadContacts, WriteContacts};
use crate::service::segments as svc;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(add_members)
        .service(remove_member);
}

/// A segment, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Segment)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    /// `static` or `dynamic`.
    pub kind: String,
    /// A dynamic segment's rule: a person-list query.
    pub rule: Option<String>,
    pub member_count: i64,
    /// When a dynamic segment was last evaluated whole (`null` until its first evaluation).
    pub evaluated_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<segment::Model> for Segment {
    fn from(m: segment::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            kind: m.kind,
            rule: m.rule,
            member_count: m.member_count,
            evaluated_at: m.evaluated_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn segment_list() -> ListSpec<segment::Entity> {
    use segment::Column as C;
    ListSpec::new()
        .field("kind", C::Kind)
        .field("created_by", C::CreatedBy)
        .sortable("name", C::Name)
        .sortable("member_count", C::MemberCount)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name])
        .default_sort(C::Name, false)
        .tiebreak(C::Id)
}

kernel::list_params!(SegmentListParams, segment_list);

/// The org's segments, by name.
#[utoipa::path(tag = TAG, params(SegmentListParams), responses(
    (status = 200, body = Page<Segment>), (status = 401), (status = 403), (status = 422)))]
#[get("/segments")]
pub(crate) async fn list(tx: ReadContacts, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = segment_list().apply(&query, tx.repo::<segment::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Segment::from)))
}

/// `POST /segments`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewSegment)]
pub struct NewSegment {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// `static` (members added by hand) or `dynamic` (those `rule` matches).
    #[schema(pattern = "^(static|dynamic)$")]
    #[garde(skip)]
    pub kind: String,
    /// A dynamic segment's rule: a person-list query (`filter[type]=lead&tags=vip`).
    #[schema(min_length = 1, max_length = 2000)]
    #[garde(inner(length(chars, min = 1, max = 2000)))]
    pub rule: Option<String>,
}

/// Makes a segment. A dynamic one is evaluated in the background right after (`evaluated_at`
/// says when); from then on, each change to a person moves them in or out
/// (`crm.segment.joined` / `crm.segment.left` in their activity). A rule is a person-list
/// query: `filter[type]=lead&filter[status]=active&tags=vip&search=acme` (the filters of
/// `GET /contacts`, not `filter[segment_id]`).
#[utoipa::path(tag = TAG, request_body = NewSegment, responses(
    (status = 201, body = Segment), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/segments")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteContacts,
    body: ValidJson<NewSegment>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let name = trimmed("name", &b.name, 200)?;
    let by = tx.caller().user_id;
    let row = svc::create(&ctx, &tx, by, name, &b.kind, b.rule).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Segment::from(row)))
}

/// One segment.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Segment), (status = 401), (status = 403), (status = 404)))]
#[get("/segments/{id}")]
pub(crate) async fn read(tx: ReadContacts, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = svc::get(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Segment::from(row)))
}

/// `PATCH /segments/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::SegmentPatch)]
pub struct SegmentPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    /// A dynamic segment's new rule (it is evaluated again in the background).
    #[schema(min_length = 1, max_length = 2000)]
    #[garde(inner(length(chars, min = 1, max = 2000)))]
    pub rule: Option<String>,
}

/// Who may change or delete a segment: its creator, or an admin.
async fn may_change(
    ctx: &CellContext,
    tx: &WriteContacts,
    row: &segment::Model,
) -> Result<(), ApiError> {
    if row.created_by == tx.caller().user_id || tx.holds::<AdministerOrg>(ctx, None).await? {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "only the segment's creator or an admin changes it",
    ))
}

/// Renames a segment or changes a dynamic one's rule (its creator or an admin).
#[utoipa::path(tag = TAG, request_body = SegmentPatch, responses(
    (status = 200, body = Segment), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/segments/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<SegmentPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let row = svc::get(&tx, id.into_inner()).await?;
    may_change(&ctx, &tx, &row).await?;
    let name = b.name.map(|n| trimmed("name", &n, 200)).transpose()?;
    let row = svc::update(&ctx, &tx, row.id, name, b.rule).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Segment::from(row)))
}

/// Deletes a segment (its creator or an admin); the persons stay.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/segments/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = svc::get(&tx, id.into_inner()).await?;
    may_change(&ctx, &tx, &row).await?;
    svc::delete(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /segments/{id}/members`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::SegmentMembers)]
pub struct Members {
    /// Persons the caller reads; those already in the segment stay.
    #[schema(min_items = 1, max_items = 1000)]
    #[garde(length(min = 1, max = 1000))]
    pub contact_ids: Vec<Uuid>,
}

/// Adds persons to a static segment (`crm.segment.joined` for each new member); 409 for a
/// dynamic one.
#[utoipa::path(tag = TAG, request_body = Members, responses(
    (status = 200, body = Segment), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/segments/{id}/members")]
pub(crate) async fn add_members(
    ctx: CellContext,
    tx: WriteContacts,
    id: web::Path<Uuid>,
    body: ValidJson<Members>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = svc::add(&ctx, &tx, &who, id.into_inner(), body.0.contact_ids).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Segment::from(row)))
}

/// Takes a person out of a static segment (`crm.segment.left`).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/segments/{id}/members/{contact_id}")]
pub(crate) async fn remove_member(
    ctx: CellContext,
    tx: WriteContacts,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, contact_id) = path.into_inner();
    let by = tx.caller().user_id;
    svc::remove(&ctx, &tx, by, id, contact_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
