//! `/boards/{id}/automations`, `/automations/{id}` and their runs.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use kernel::http::{ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{automation, automation_run};
use crate::permissions::{ReadBoards, WriteBoards};
use crate::service::automations::{self as service, Action, Condition};
use crate::service::boards;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(replace)
        .service(remove)
        .service(runs);
}

/// A board's rule: when `trigger` fires for one of its tasks and every condition holds, the
/// actions run in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Automation)]
pub struct Automation {
    pub id: Uuid,
    pub board_id: Uuid,
    pub name: String,
    /// `task.created`, `task.updated`, `task.assigned`, `task.status_changed`,
    /// `task.completed` or `task.overdue` (an hourly sweep of the board's overdue tasks: once
    /// per task and due date).
    pub trigger: String,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub enabled: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<automation::Model> for Automation {
    fn from(m: automation::Model) -> Self {
        let (conditions, actions) = service::parts(&m);
        Self {
            id: m.id,
            board_id: m.board_id,
            name: m.name,
            trigger: m.trigger,
            conditions,
            actions,
            enabled: m.enabled,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `POST /boards/{id}/automations`, `PUT /automations/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::AutomationInput)]
pub struct AutomationInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(pattern = "^task\\.(created|updated|assigned|status_changed|completed|overdue)$")]
    #[garde(skip)]
    pub trigger: String,
    /// All must hold (none: always).
    #[schema(max_items = 10)]
    #[garde(inner(length(max = 10)))]
    pub conditions: Option<Vec<Condition>>,
    #[schema(min_items = 1, max_items = 10)]
    #[garde(length(min = 1, max = 10))]
    pub actions: Vec<Action>,
    /// Default `true`.
    #[garde(skip)]
    pub enabled: Option<bool>,
}

fn rule(b: AutomationInput) -> Result<service::Rule, kernel::ApiError> {
    Ok(service::Rule {
        name: trimmed("name", &b.name, 200)?,
        trigger: b.trigger,
        conditions: b.conditions.unwrap_or_default(),
        actions: b.actions,
        enabled: b.enabled.unwrap_or(true),
    })
}

/// A board's automations, oldest first (the order they run in).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Automation>), (status = 401), (status = 403), (status = 404)))]
#[get("/boards/{id}/automations")]
pub(crate) async fn list(tx: ReadBoards, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let b = boards::board(&tx, id.into_inner()).await?;
    let repo = tx.repo::<automation::Entity>();
    let rows = repo
        .find()
        .filter(automation::Column::BoardId.eq(b.id))
        .order_by_asc(automation::Column::CreatedAt)
        .order_by_asc(automation::Column::Id)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Automation::from).collect::<Vec<_>>()))
}

/// Adds an automation to a board (checked whole: trigger, conditions, actions against the
/// board).
#[utoipa::path(tag = TAG, request_body = AutomationInput, responses(
    (status = 201, body = Automation), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/boards/{id}/automations")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteBoards,
    id: web::Path<Uuid>,
    body: ValidJson<AutomationInput>,
) -> ApiResult<HttpResponse> {
    let rule = rule(body.0)?;
    let by = tx.caller().user_id;
    let row = service::create(&ctx, &tx, by, id.into_inner(), rule).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Automation::from(row)))
}

/// Replaces an automation (its runs stay).
#[utoipa::path(tag = TAG, request_body = AutomationInput, responses(
    (status = 200, body = Automation), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[put("/automations/{id}")]
pub(crate) async fn replace(
    ctx: CellContext,
    tx: WriteBoards,
    id: web::Path<Uuid>,
    body: ValidJson<AutomationInput>,
) -> ApiResult<HttpResponse> {
    let rule = rule(body.0)?;
    let row = service::replace(&ctx, &tx, id.into_inner(), rule).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Automation::from(row)))
}

/// Deletes an automation and its run log.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/automations/{id}")]
pub(crate) async fn remove(tx: WriteBoards, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    tx.repo::<automation::Entity>().delete(row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One run of an automation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::AutomationRun)]
pub struct AutomationRun {
    pub id: Uuid,
    pub task_id: Uuid,
    /// The event that triggered it.
    pub event_id: Uuid,
    /// The first event of its chain of automations.
    pub chain_id: Uuid,
    /// Automations before it in the chain.
    pub depth: i32,
    /// `applied`, `failed` or `loop_prevented`.
    pub outcome: String,
    /// What each action did, the error that stopped it, or why it did not run.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunParams {
    /// Runs listed, newest first (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// An automation's run log, newest first: what ran, what it did, what was refused.
#[utoipa::path(tag = TAG, params(RunParams), responses(
    (status = 200, body = Vec<AutomationRun>), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/automations/{id}/runs")]
pub(crate) async fn runs(
    tx: ReadBoards,
    id: web::Path<Uuid>,
    q: web::Query<RunParams>,
) -> ApiResult<HttpResponse> {
    let a = service::get(&tx, id.into_inner()).await?;
    let repo = tx.repo::<automation_run::Entity>();
    let rows = repo
        .find()
        .filter(automation_run::Column::AutomationId.eq(a.id))
        .order_by_desc(automation_run::Column::CreatedAt)
        .order_by_desc(automation_run::Column::Id)
        .limit(super::count_param("limit", q.limit, 100, 500)?)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(|r| AutomationRun {
                id: r.id,
                task_id: r.task_id,
                event_id: r.event_id,
                chain_id: r.chain_id,
                depth: r.depth,
                outcome: r.outcome,
                detail: r.detail,
                created_at: r.created_at,
            })
            .collect::<Vec<_>>(),
    ))
}
