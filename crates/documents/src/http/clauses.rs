//! `/clauses`: the clause library, with versions and the documents that use each clause.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, ValidJson, trimmed, trimmed_optional};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{clause, clause_version};
use crate::permissions::{ReadClauses, WriteClauses};
use crate::service::clauses::{self as service, ClausePatch};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(retire);
}

/// A clause of the library at its current version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Clause)]
pub struct Clause {
    pub id: Uuid,
    pub title: String,
    pub category: Option<String>,
    pub content: String,
    pub version: i32,
    /// Copied into documents made from a template.
    pub is_default: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<clause::Model> for Clause {
    fn from(m: clause::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            category: m.category,
            content: m.content,
            version: m.version,
            is_default: m.is_default,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// One version of a clause.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::ClauseVersion)]
pub struct ClauseVersion {
    pub version: i32,
    pub title: String,
    pub content: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<clause_version::Model> for ClauseVersion {
    fn from(m: clause_version::Model) -> Self {
        Self {
            version: m.version,
            title: m.title,
            content: m.content,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}

/// A clause with its history and how many documents copied it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::ClauseDetail)]
pub struct ClauseDetail {
    #[serde(flatten)]
    pub clause: Clause,
    /// Newest first.
    pub versions: Vec<ClauseVersion>,
    /// Documents holding a copy of it (any version).
    pub used_by: u64,
}

pub(crate) fn clause_list() -> ListSpec<clause::Entity> {
    use clause::Column as C;
    ListSpec::new()
        .field("category", C::Category)
        .field("is_default", C::IsDefault)
        .sortable("title", C::Title)
        .sortable("category", C::Category)
        .sortable("updated_at", C::UpdatedAt)
        .search([C::Title, C::Content])
        .default_sort(C::Title, false)
        .tiebreak(C::Id)
}

kernel::list_params!(ClauseListParams, clause_list);

/// The clause library (`filter[category]`, `filter[is_default]`, `search`, paged).
#[utoipa::path(tag = TAG, params(ClauseListParams), responses(
    (status = 200, body = Page<Clause>), (status = 401), (status = 403), (status = 422)))]
#[get("/clauses")]
pub(crate) async fn list(tx: ReadClauses, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = clause_list().apply(&query, tx.repo::<clause::Entity>().find())?;
    let page = tx.page(select, &query).await?.map(Clause::from);
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /clauses`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewClause)]
pub struct NewClause {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub title: String,
    /// `indemnity`, `payment`, `confidentiality`…
    #[schema(max_length = 50)]
    #[garde(inner(length(chars, max = 50)))]
    pub category: Option<String>,
    /// HTML (sanitized).
    #[schema(min_length = 1, max_length = 262144)]
    #[garde(length(min = 1, max = 262_144))]
    pub content: String,
    #[garde(skip)]
    pub is_default: Option<bool>,
}

/// Adds a clause to the library (version 1).
#[utoipa::path(tag = TAG, request_body = NewClause, responses(
    (status = 201, body = Clause), (status = 401), (status = 403), (status = 422)))]
#[post("/clauses")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteClauses,
    body: ValidJson<NewClause>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let title = trimmed("title", &b.title, 200)?;
    let category = trimmed_optional("category", b.category, 50)?;
    let c = service::create(
        &ctx,
        &tx,
        tx.caller().user_id,
        title,
        category,
        &b.content,
        b.is_default.unwrap_or(false),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Clause::from(c)))
}

/// A clause with its versions and its use.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ClauseDetail), (status = 401), (status = 403), (status = 404)))]
#[get("/clauses/{id}")]
pub(crate) async fn read(tx: ReadClauses, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let c = service::get(&tx, id.into_inner()).await?;
    let versions = service::versions(&tx, c.id).await?;
    let used_by = crate::service::documents::clause_uses(&tx, c.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ClauseDetail {
        clause: Clause::from(c),
        versions: versions.into_iter().map(ClauseVersion::from).collect(),
        used_by,
    }))
}

/// `PATCH /clauses/{id}`: `null` clears the category.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::ClausePatch)]
pub struct ClausePatchBody {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    #[garde(skip)]
    pub category: Option<Option<String>>,
    #[schema(min_length = 1, max_length = 262144)]
    #[garde(inner(length(min = 1, max = 262_144)))]
    pub content: Option<String>,
    #[garde(skip)]
    pub is_default: Option<bool>,
}

/// Changes a clause: a new title or content is a new version (documents keep the version they
/// copied).
#[utoipa::path(tag = TAG, request_body = ClausePatchBody, responses(
    (status = 200, body = Clause), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/clauses/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteClauses,
    id: web::Path<Uuid>,
    body: ValidJson<ClausePatchBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let patch = ClausePatch {
        title: b.title.map(|t| trimmed("title", &t, 200)).transpose()?,
        category: match b.category {
            Some(c) => Some(trimmed_optional("category", c, 50)?),
            None => None,
        },
        content: b.content,
        is_default: b.is_default,
    };
    let c = service::update(&ctx, &tx, tx.caller().user_id, id.into_inner(), patch).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Clause::from(c)))
}

/// Retires a clause: out of the library and of new documents; documents keep their copies.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/clauses/{id}")]
pub(crate) async fn retire(tx: WriteClauses, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    service::retire(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
