//! `/companies`: companies and their domains, merge.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::company;
use crate::module::Settings;
use crate::ownership::Who;
use crate::permissions::{AdministerCompanies, ReadCompanies, WriteCompanies};
use crate::service::{self, MAX_NAME};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(merge);
}

/// A company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Company)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    pub industry: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<company::Model> for Company {
    fn from(m: company::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            industry: m.industry,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A company with its domains and how many persons (that the caller reads) work there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::CompanyDetail)]
pub struct CompanyDetail {
    #[serde(flatten)]
    pub company: Company,
    pub domains: Vec<String>,
    pub contacts: u64,
}

fn company_list() -> ListSpec<company::Entity> {
    use company::Column as C;
    ListSpec::new()
        .field("name", C::Name)
        .field("industry", C::Industry)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name])
        .tagged(crate::loader::COMPANY, C::Id)
        .default_sort(C::Name, false)
        .tiebreak(C::Id)
}

kernel::list_params!(CompanyListParams, company_list);

/// The org's companies, by name (`search`, `filter[industry]`, `?tags=`, paged).
#[utoipa::path(tag = TAG, params(CompanyListParams), responses(
    (status = 200, body = Page<Company>), (status = 401), (status = 403), (status = 422)))]
#[get("/companies")]
pub(crate) async fn list(tx: ReadCompanies, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = company_list().apply(&query, tx.repo::<company::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Company::from)))
}

/// `POST /companies`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewCompany)]
pub struct NewCompany {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(max_length = 100)]
    #[garde(inner(length(chars, max = 100)))]
    pub industry: Option<String>,
    /// Email and web domains (`acme.com`), unique in the org; free-mail domains are refused.
    /// Persons without a company whose email is at one of them are matched to it.
    #[serde(default)]
    #[schema(max_items = 20)]
    #[garde(length(max = 20), inner(length(chars, max = 253)))]
    pub domains: Vec<String>,
}

/// Adds a company; 409 when one of its domains belongs to another company (named in
/// `details.existing_company_id`).
#[utoipa::path(tag = TAG, request_body = NewCompany, responses(
    (status = 201, body = CompanyDetail), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/companies")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteCompanies,
    body: ValidJson<NewCompany>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let name = trimmed("name", &b.name, MAX_NAME)?;
    let industry = kernel::http::trimmed_optional("industry", b.industry, 100)?;
    let domains = service::clean_domains(&b.domains, settings.max_domains)?;
    let by = tx.caller().user_id;
    let row = service::create_company(&ctx, &tx, by, name, industry, domains).await?;
    let detail = detail(&ctx, &tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(detail))
}

async fn detail<P: kernel::http::Permission, M: kernel::http::Mode>(
    ctx: &CellContext,
    tx: &kernel::http::Scoped<P, M>,
    row: company::Model,
) -> Result<CompanyDetail, kernel::ApiError> {
    let who = Who::of(ctx, tx, tx.caller()).await?;
    Ok(CompanyDetail {
        domains: service::domains(tx, row.id).await?,
        contacts: service::company_contacts(tx, &who, row.id).await?,
        company: row.into(),
    })
}

/// A company with its domains.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = CompanyDetail), (status = 401), (status = 403), (status = 404)))]
#[get("/companies/{id}")]
pub(crate) async fn read(
    ctx: CellContext,
    tx: ReadCompanies,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::company(&tx, id.into_inner()).await?;
    let detail = detail(&ctx, &tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// `PATCH /companies/{id}`: `domains` replaces the list.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::CompanyPatch)]
pub struct CompanyPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    #[garde(inner(inner(length(chars, max = 100))))]
    pub industry: Option<Option<String>>,
    #[schema(max_items = 20)]
    #[garde(inner(length(max = 20), inner(length(chars, max = 253))))]
    pub domains: Option<Vec<String>>,
}

/// Renames a company, sets its industry or its domains (new domains match persons without a
/// company).
#[utoipa::path(tag = TAG, request_body = CompanyPatch, responses(
    (status = 200, body = CompanyDetail), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/companies/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteCompanies,
    id: web::Path<Uuid>,
    body: ValidJson<CompanyPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let name = b.name.map(|n| trimmed("name", &n, MAX_NAME)).transpose()?;
    let industry = b
        .industry
        .map(|i| kernel::http::trimmed_optional("industry", i, 100))
        .transpose()?;
    let domains = b
        .domains
        .map(|d| service::clean_domains(&d, settings.max_domains))
        .transpose()?;
    let row = service::update_company(&tx, id.into_inner(), name, industry, domains).await?;
    let detail = detail(&ctx, &tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Moves a company to the trash (admins and owners); its persons keep pointing at it until it
/// is purged.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/companies/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: AdministerCompanies,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    service::delete_company(&ctx, &tx, by, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /companies/{id}/merge`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::Merge)]
pub struct Merge {
    /// The company merged into this one (it goes to the trash).
    #[garde(skip)]
    pub from_id: Uuid,
}

/// Merges another company into this one: its persons and domains move here; it goes to the
/// trash (admins and owners).
#[utoipa::path(tag = TAG, request_body = Merge, responses(
    (status = 200, body = CompanyDetail), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[post("/companies/{id}/merge")]
pub(crate) async fn merge(
    ctx: CellContext,
    tx: AdministerCompanies,
    id: web::Path<Uuid>,
    body: ValidJson<Merge>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let row = service::merge_companies(&ctx, &tx, by, id.into_inner(), body.0.from_id).await?;
    let detail = detail(&ctx, &tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(detail))
}
