//! `/deals`: deals in pipelines; the board (by stage), moves, the forecast.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::pipelines::Stage;
use crate::entity::deal;
use crate::module::Settings;
use crate::ownership::Who;
use crate::permissions::{ReadDeals, WriteDeals};
use crate::service::deals::{self as service, Forecast, days};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    // Literal paths before `/deals/{id}`.
    cfg.service(board)
        .service(forecast)
        .service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(move_deal);
}

/// A deal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Deal)]
pub struct Deal {
    pub id: Uuid,
    pub title: String,
    pub contact_id: Uuid,
    pub company_id: Option<Uuid>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// Integer minor units of `currency` (cents).
    pub value: i64,
    /// ISO 4217.
    pub currency: String,
    /// 0–100: the stage's unless set by hand.
    pub probability: i32,
    pub expected_close_date: Option<NaiveDate>,
    pub actual_close_date: Option<NaiveDate>,
    pub lost_reason: Option<String>,
    pub owner_id: Option<Uuid>,
    /// Whole days in the current stage (from the recorded moves).
    pub stage_duration_days: i64,
    /// Whole days from creation to closing (or to now while open).
    pub total_deal_duration_days: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<deal::Model> for Deal {
    fn from(m: deal::Model) -> Self {
        let now = Utc::now();
        let closed = m
            .actual_close_date
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        Self {
            stage_duration_days: days(now, m.stage_entered_at),
            total_deal_duration_days: days(closed.unwrap_or(now).max(m.created_at), m.created_at),
            id: m.id,
            title: m.title,
            contact_id: m.contact_id,
            company_id: m.company_id,
            pipeline_id: m.pipeline_id,
            stage_id: m.stage_id,
            value: m.value,
            currency: m.currency,
            probability: m.probability,
            expected_close_date: m.expected_close_date,
            actual_close_date: m.actual_close_date,
            lost_reason: m.lost_reason,
            owner_id: m.owner_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn deal_list() -> ListSpec<deal::Entity> {
    use deal::Column as C;
    ListSpec::new()
        .field("pipeline_id", C::PipelineId)
        .field("stage_id", C::StageId)
        .field("contact_id", C::ContactId)
        .field("company_id", C::CompanyId)
        .field("owner_id", C::OwnerId)
        .field("currency", C::Currency)
        .sortable("value", C::Value)
        .sortable("created_at", C::CreatedAt)
        .sortable("expected_close_date", C::ExpectedCloseDate)
        .search([C::Title])
        .tagged(crate::loader::DEAL, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(DealListParams, deal_list);

/// The deals the caller reads, newest first (`filter[pipeline_id]`, `filter[stage_id]`,
/// `filter[contact_id]`, `search`, `sort=value:desc`, paged): the list view.
#[utoipa::path(tag = TAG, params(DealListParams), responses(
    (status = 200, body = Page<Deal>), (status = 401), (status = 403), (status = 422)))]
#[get("/deals")]
pub(crate) async fn list(
    ctx: CellContext,
    tx: ReadDeals,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let mut select = tx.repo::<deal::Entity>().find();
    if let Some(only) = service::readable(&who) {
        select = select.filter(only);
    }
    let page = tx.page(deal_list().apply(&query, select)?, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Deal::from)))
}

/// `POST /deals`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewDeal)]
pub struct NewDeal {
    #[schema(min_length = 1, max_length = 500)]
    #[garde(length(chars, min = 1, max = 500))]
    pub title: String,
    /// The person (required; one the caller reads).
    #[garde(skip)]
    pub contact_id: Uuid,
    /// Defaults to the person's company.
    #[garde(skip)]
    pub company_id: Option<Uuid>,
    /// Defaults to the org's default pipeline.
    #[garde(skip)]
    pub pipeline_id: Option<Uuid>,
    /// Defaults to the pipeline's first stage.
    #[garde(skip)]
    pub stage_id: Option<Uuid>,
    /// Integer minor units (cents), 0 or more.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    #[garde(range(min = 0, max = 1_000_000_000_000_000))]
    #[serde(default)]
    pub value: i64,
    /// ISO 4217 (default `USD`).
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    /// 0–100; the stage's when absent.
    #[schema(minimum = 0, maximum = 100)]
    #[garde(inner(range(min = 0, max = 100)))]
    pub probability: Option<i32>,
    #[garde(skip)]
    pub expected_close_date: Option<NaiveDate>,
}

/// Creates a deal for a person, owned by its creator (`crm.deal.created`).
#[utoipa::path(tag = TAG, request_body = NewDeal, responses(
    (status = 201, body = Deal), (status = 401), (status = 403), (status = 422)))]
#[post("/deals")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteDeals,
    body: ValidJson<NewDeal>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let new = service::NewDeal {
        title: trimmed("title", &b.title, 500)?,
        contact_id: b.contact_id,
        company_id: b.company_id,
        pipeline_id: b.pipeline_id,
        stage_id: b.stage_id,
        value: b.value,
        currency: kernel::money::currency("currency", b.currency.as_deref().unwrap_or("USD"))?,
        probability: b.probability,
        expected_close_date: b.expected_close_date,
    };
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::create(&ctx, &tx, &who, &settings.pipeline, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Deal::from(row)))
}

/// One deal.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Deal), (status = 401), (status = 403), (status = 404)))]
#[get("/deals/{id}")]
pub(crate) async fn read(
    ctx: CellContext,
    tx: ReadDeals,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::get(&tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Deal::from(row)))
}

/// `PATCH /deals/{id}`: `probability: null` goes back to the stage's.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::DealPatch)]
pub struct DealPatch {
    #[schema(min_length = 1, max_length = 500)]
    #[garde(inner(length(chars, min = 1, max = 500)))]
    pub title: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    #[garde(inner(range(min = 0, max = 1_000_000_000_000_000)))]
    pub value: Option<i64>,
    #[schema(pattern = "^[A-Za-z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100)]
    #[garde(inner(inner(range(min = 0, max = 100))))]
    pub probability: Option<Option<i32>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    #[garde(skip)]
    pub expected_close_date: Option<Option<NaiveDate>>,
}

/// Changes a deal (the stage changes through `move`).
#[utoipa::path(tag = TAG, request_body = DealPatch, responses(
    (status = 200, body = Deal), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/deals/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteDeals,
    id: web::Path<Uuid>,
    body: ValidJson<DealPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let change = service::Change {
        title: b.title.map(|t| trimmed("title", &t, 500)).transpose()?,
        value: b.value,
        currency: b
            .currency
            .map(|c| kernel::money::currency("currency", &c))
            .transpose()?,
        probability: b.probability,
        expected_close_date: b.expected_close_date,
    };
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::update(&tx, &who, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Deal::from(row)))
}

/// Moves a deal to the trash.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/deals/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteDeals,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    service::delete(&tx, &who, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /deals/{id}/move`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::DealMove)]
pub struct DealMove {
    /// A stage of the deal's pipeline.
    #[garde(skip)]
    pub stage_id: Uuid,
    /// Overrides the stage's probability.
    #[schema(minimum = 0, maximum = 100)]
    #[garde(inner(range(min = 0, max = 100)))]
    pub probability: Option<i32>,
    /// Kept when the stage closes the deal as lost.
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub lost_reason: Option<String>,
}

/// Moves a deal between its pipeline's stages: the probability follows the stage (unless
/// given), the move is recorded for the durations, a closing stage sets the close date
/// (`crm.deal.stage_changed`).
#[utoipa::path(tag = TAG, request_body = DealMove, responses(
    (status = 200, body = Deal), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/deals/{id}/move")]
pub(crate) async fn move_deal(
    ctx: CellContext,
    tx: WriteDeals,
    id: web::Path<Uuid>,
    body: ValidJson<DealMove>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let row = service::move_to(
        &ctx,
        &tx,
        &who,
        id.into_inner(),
        b.stage_id,
        b.probability,
        b.lost_reason,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Deal::from(row)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OfPipeline {
    /// The pipeline (default: the org's default one).
    pub pipeline_id: Option<Uuid>,
}

/// A column of the board.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::BoardColumn)]
pub struct BoardColumn {
    pub stage: Stage,
    /// The stage's deals the caller reads, the most valuable first (at most 500).
    pub deals: Vec<Deal>,
}

/// The kanban board of a pipeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Board)]
pub struct Board {
    pub pipeline_id: Uuid,
    pub columns: Vec<BoardColumn>,
}

/// The org's default (or first) pipeline, or the one named; 404 when there is none.
async fn pipeline_of(
    tx: &kernel::TenantTx,
    id: Option<Uuid>,
) -> Result<crate::entity::pipeline::Model, ApiError> {
    match id {
        Some(id) => service::pipeline(tx, id).await,
        None => {
            let all = service::existing_pipelines(tx).await?;
            let first = all.first().cloned();
            all.into_iter()
                .find(|p| p.is_default)
                .or(first)
                .ok_or_else(|| ApiError::not_found("this organization has no pipeline yet"))
        }
    }
}

/// The deal board: a pipeline's deals grouped by stage, in stage order.
#[utoipa::path(tag = TAG, params(OfPipeline), responses(
    (status = 200, body = Board), (status = 401), (status = 403), (status = 404)))]
#[get("/deals/board")]
pub(crate) async fn board(
    ctx: CellContext,
    tx: ReadDeals,
    q: web::Query<OfPipeline>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let pipe = pipeline_of(&tx, q.pipeline_id).await?;
    let mut columns = Vec::new();
    for stage in service::stages(&tx, pipe.id).await? {
        let repo = tx.repo::<deal::Entity>();
        let mut select = repo
            .find()
            .filter(deal::Column::StageId.eq(stage.id))
            .order_by_desc(deal::Column::Value)
            .order_by_asc(deal::Column::Id);
        if let Some(only) = service::readable(&who) {
            select = select.filter(only);
        }
        let deals = kernel::sea_orm::QuerySelect::limit(select, 500)
            .all(repo.conn())
            .await?;
        columns.push(BoardColumn {
            stage: stage.into(),
            deals: deals.into_iter().map(Deal::from).collect(),
        });
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Board {
        pipeline_id: pipe.id,
        columns,
    }))
}

/// The weighted pipeline, one entry per currency: `total_pipeline_value`, `weighted_value`
/// (Σ value × probability / 100), `deals_by_stage`, `expected_revenue_this_month`, in minor units,
/// over the open deals the caller reads.
#[utoipa::path(tag = TAG, params(OfPipeline), responses(
    (status = 200, body = Vec<Forecast>), (status = 401), (status = 403), (status = 404)))]
#[get("/deals/forecast")]
pub(crate) async fn forecast(
    ctx: CellContext,
    tx: ReadDeals,
    q: web::Query<OfPipeline>,
) -> ApiResult<HttpResponse> {
    let who = Who::of(&ctx, &tx, tx.caller()).await?;
    let pipe = pipeline_of(&tx, q.pipeline_id).await?;
    let out = service::forecast(&tx, &who, pipe.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}
