//! `/pipelines`: the org's sales pipelines and their stages.

use actix_web::{HttpResponse, get, patch, post, web};
use kernel::http::{State, ValidJson, trimmed};
use kernel::{ApiResult, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{pipeline, stage};
use crate::module::Settings;
use crate::permissions::{ConfigurePipelines, ReadDeals};
use crate::service::deals::{self as service, StageInput};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list).service(create).service(configure_stages);
}

/// A stage of a pipeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Stage)]
pub struct Stage {
    pub id: Uuid,
    pub name: String,
    pub position: f64,
    pub color: Option<String>,
    /// 0–100: the weight of a deal here in the forecast.
    pub probability: i32,
    pub is_closed: bool,
    pub is_won: bool,
}

impl From<stage::Model> for Stage {
    fn from(m: stage::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            position: m.position,
            color: m.color,
            probability: m.probability,
            is_closed: m.is_closed,
            is_won: m.is_won,
        }
    }
}

/// A pipeline with its stages in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = crm::Pipeline)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    pub is_default: bool,
    pub stages: Vec<Stage>,
}

pub(super) async fn detail(tx: &TenantTx, p: pipeline::Model) -> kernel::ApiResult<Pipeline> {
    let stages = service::stages(tx, p.id).await?;
    Ok(Pipeline {
        id: p.id,
        name: p.name,
        is_default: p.is_default,
        stages: stages.into_iter().map(Stage::from).collect(),
    })
}

/// The org's pipelines with their stages, oldest first. An org gets the cell's seed pipeline
/// when it is created, or with its first deal or pipeline.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Pipeline>), (status = 401), (status = 403)))]
#[get("/pipelines")]
pub(crate) async fn list(tx: ReadDeals) -> ApiResult<HttpResponse> {
    let mut out = Vec::new();
    for p in service::existing_pipelines(&tx).await? {
        out.push(detail(&tx, p).await?);
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// A stage as configured.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::StageInput)]
pub struct StageBody {
    /// An existing stage of the pipeline to keep (omit for a new one).
    #[garde(skip)]
    pub id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    #[garde(skip)]
    pub color: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    #[garde(range(min = 0, max = 100))]
    pub probability: i32,
    #[serde(default)]
    #[garde(skip)]
    pub is_closed: bool,
    #[serde(default)]
    #[garde(skip)]
    pub is_won: bool,
}

fn inputs(stages: Vec<StageBody>) -> kernel::ApiResult<Vec<StageInput>> {
    stages
        .into_iter()
        .map(|s| {
            Ok(StageInput {
                id: s.id,
                name: trimmed("name", &s.name, 100)?,
                color: s.color,
                probability: s.probability,
                is_closed: s.is_closed,
                is_won: s.is_won,
            })
        })
        .collect()
}

/// `POST /pipelines`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::NewPipeline)]
pub struct NewPipeline {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// In order; at least one.
    #[schema(min_items = 1, max_items = 30)]
    #[garde(length(min = 1, max = 30), dive)]
    pub stages: Vec<StageBody>,
}

/// Creates a pipeline with its stages (admins and owners).
#[utoipa::path(tag = TAG, request_body = NewPipeline, responses(
    (status = 201, body = Pipeline), (status = 401), (status = 403), (status = 422)))]
#[post("/pipelines")]
pub(crate) async fn create(
    settings: State<Settings>,
    tx: ConfigurePipelines,
    body: ValidJson<NewPipeline>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    // The seed first, so the org's first pipeline is the cell's (and the default).
    service::pipelines(&tx, &settings.pipeline).await?;
    let name = trimmed("name", &b.name, 200)?;
    let p = service::create_pipeline(&tx, name, false, inputs(b.stages)?).await?;
    let out = detail(&tx, p).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// `PATCH /pipelines/{id}/stages`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = crm::StagesConfig)]
pub struct StagesConfig {
    /// The stages in their new order: those with an `id` are kept, the others new; stages left
    /// out are removed (409 while a deal is in one).
    #[schema(min_items = 1, max_items = 30)]
    #[garde(length(min = 1, max = 30), dive)]
    pub stages: Vec<StageBody>,
}

/// Configures a pipeline's stages (admins and owners); deals whose probability follows their
/// stage take the new figures.
#[utoipa::path(tag = TAG, request_body = StagesConfig, responses(
    (status = 200, body = Pipeline), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/pipelines/{id}/stages")]
pub(crate) async fn configure_stages(
    tx: ConfigurePipelines,
    id: web::Path<Uuid>,
    body: ValidJson<StagesConfig>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    service::configure_stages(&tx, id, inputs(body.0.stages)?).await?;
    let p = service::pipeline(&tx, id).await?;
    let out = detail(&tx, p).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}
