//! What hangs on a task: `/tasks/{id}/checklists`, `/checklists/{id}/items`,
//! `/tasks/{id}/dependencies`, `/tasks/{id}/watchers`.

use actix_web::{HttpResponse, delete, patch, post, web};
use kernel::http::{ValidJson, trimmed};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::tasks::{Checklist, ChecklistItem, MAX_TITLE};
use crate::permissions::WriteTasks;
use crate::service::{DEPENDENCY_KINDS, one_of, parts as service};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(add_checklist)
        .service(add_item)
        .service(set_item)
        .service(add_dependency)
        .service(remove_dependency)
        .service(watch)
        .service(unwatch);
}

/// `POST /tasks/{id}/checklists`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewChecklist)]
pub struct NewChecklist {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub title: String,
    /// Its first items, in order.
    #[schema(max_items = 200, value_type = Option<Vec<super::ItemTitle>>)]
    #[garde(inner(length(max = 200)))]
    pub items: Option<Vec<String>>,
}

/// Adds a checklist to a task.
#[utoipa::path(tag = TAG, request_body = NewChecklist, responses(
    (status = 201, body = Checklist), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/tasks/{id}/checklists")]
pub(crate) async fn add_checklist(
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<NewChecklist>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let items = b
        .items
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, t)| trimmed(&format!("items[{i}]"), t, MAX_TITLE))
        .collect::<Result<Vec<_>, _>>()?;
    let title = trimmed("title", &b.title, 200)?;
    let (list, items) = service::add_checklist(&tx, id.into_inner(), title, items).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Checklist::of(list, items)))
}

/// `POST /checklists/{id}/items`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewItem)]
pub struct NewItem {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = MAX_TITLE))]
    pub title: String,
}

/// Adds an item to a checklist, last.
#[utoipa::path(tag = TAG, request_body = NewItem, responses(
    (status = 201, body = ChecklistItem), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/checklists/{id}/items")]
pub(crate) async fn add_item(
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<NewItem>,
) -> ApiResult<HttpResponse> {
    let title = trimmed("title", &body.0.title, MAX_TITLE)?;
    let row = service::add_item(&tx, id.into_inner(), title).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(ChecklistItem::from(row)))
}

/// `PATCH /checklists/{id}/items/{item_id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::ItemPatch)]
pub struct ItemPatch {
    #[garde(skip)]
    pub done: Option<bool>,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = MAX_TITLE)))]
    pub title: Option<String>,
}

/// Checks, unchecks or renames an item; checking the last open item of a task's checklists
/// publishes `tasks.task.checklist_completed`.
#[utoipa::path(tag = TAG, request_body = ItemPatch, responses(
    (status = 200, body = ChecklistItem), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[patch("/checklists/{id}/items/{item_id}")]
pub(crate) async fn set_item(
    ctx: CellContext,
    tx: WriteTasks,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<ItemPatch>,
) -> ApiResult<HttpResponse> {
    let (id, item_id) = path.into_inner();
    let ValidJson(b) = body;
    let title = b
        .title
        .map(|t| trimmed("title", &t, MAX_TITLE))
        .transpose()?;
    let by = tx.caller().user_id;
    let row = service::set_item(&ctx, &tx, by, id, item_id, b.done, title).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ChecklistItem::from(row)))
}

/// `POST /tasks/{id}/dependencies`: the task waits for `depends_on_id`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewDependency)]
pub struct NewDependency {
    #[garde(skip)]
    pub depends_on_id: Uuid,
    /// `finish_to_start` (default), `start_to_start` or `finish_to_finish`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(finish_to_start|start_to_start|finish_to_finish)$")]
    #[garde(skip)]
    pub kind: Option<String>,
}

/// A dependency as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::DependencyLink)]
pub struct DependencyLink {
    pub id: Uuid,
    pub task_id: Uuid,
    pub depends_on_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Makes a task wait for another: refused (409, naming the cycle in `details.cycle`) when it
/// would wait for itself, directly or through others.
#[utoipa::path(tag = TAG, request_body = NewDependency, responses(
    (status = 201, body = DependencyLink), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/tasks/{id}/dependencies")]
pub(crate) async fn add_dependency(
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<NewDependency>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let kind = b.kind.unwrap_or_else(|| "finish_to_start".into());
    one_of("type", &kind, &DEPENDENCY_KINDS)?;
    let row = service::add_dependency(&tx, id.into_inner(), b.depends_on_id, kind).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(DependencyLink {
        id: row.id,
        task_id: row.task_id,
        depends_on_id: row.depends_on_id,
        kind: row.kind,
    }))
}

/// Stops a task waiting for another.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/tasks/{id}/dependencies/{depends_on_id}")]
pub(crate) async fn remove_dependency(
    tx: WriteTasks,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, on) = path.into_inner();
    service::remove_dependency(&tx, id, on).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /tasks/{id}/watchers`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewWatcher)]
pub struct NewWatcher {
    /// Anyone in the org (default: the caller).
    #[garde(skip)]
    pub user_id: Option<Uuid>,
}

/// A watcher of a task.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Watcher)]
pub struct Watcher {
    pub user_id: Uuid,
}

/// Adds a watcher (told when the task changes status or completes); adding one twice changes
/// nothing (200).
#[utoipa::path(tag = TAG, request_body = NewWatcher, responses(
    (status = 200, body = Watcher), (status = 201, body = Watcher), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[post("/tasks/{id}/watchers")]
pub(crate) async fn watch(
    ctx: CellContext,
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<NewWatcher>,
) -> ApiResult<HttpResponse> {
    let user = body.0.user_id.unwrap_or(tx.caller().user_id);
    let added = service::watch(&ctx, &tx, id.into_inner(), user).await?;
    tx.commit().await?;
    let body = Watcher { user_id: user };
    Ok(match added {
        true => HttpResponse::Created().json(body),
        false => HttpResponse::Ok().json(body),
    })
}

/// Removes a watcher.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/tasks/{id}/watchers/{user_id}")]
pub(crate) async fn unwatch(
    tx: WriteTasks,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, user) = path.into_inner();
    service::unwatch(&tx, id, user).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
