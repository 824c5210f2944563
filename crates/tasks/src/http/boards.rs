//! `/boards`: boards and their columns (each mapped to a status).

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ValidJson, trimmed};
use kernel::sea_orm::QueryOrder;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{board, column};
use crate::permissions::{ReadBoards, WriteBoards};
use crate::service::{VIEW_TYPES, boards as service, one_of};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(set_columns);
}

/// A column: the status its tasks have.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Column)]
pub struct Column {
    pub id: Uuid,
    pub name: String,
    /// `todo`, `in_progress`, `review`, `completed` or `cancelled`.
    pub status: String,
    pub position: i32,
    pub color: Option<String>,
    /// Most tasks it takes by a move.
    pub wip_limit: Option<i32>,
}

impl From<column::Model> for Column {
    fn from(m: column::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            status: m.status,
            position: m.position,
            color: m.color,
            wip_limit: m.wip_limit,
        }
    }
}

/// A board with its columns, left to right.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Board)]
pub struct Board {
    pub id: Uuid,
    pub name: String,
    /// `kanban`, `list`, `calendar` or `gantt`: how clients show it first.
    pub view_type: String,
    pub columns: Vec<Column>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl Board {
    pub(super) fn of(b: board::Model, columns: Vec<column::Model>) -> Self {
        Self {
            id: b.id,
            name: b.name,
            view_type: b.view_type,
            columns: columns.into_iter().map(Column::from).collect(),
            created_by: b.created_by,
            created_at: b.created_at,
        }
    }
}

/// A column as configured.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::ColumnInput)]
pub struct ColumnInput {
    /// An existing column to keep (omit for a new one).
    #[garde(skip)]
    pub id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(pattern = "^(todo|in_progress|review|completed|cancelled)$")]
    #[garde(skip)]
    pub status: String,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    #[garde(skip)]
    pub color: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    #[garde(skip)]
    pub wip_limit: Option<i32>,
}

fn columns_in(input: Vec<ColumnInput>) -> Result<Vec<service::ColumnInput>, ApiError> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(service::ColumnInput {
                id: c.id,
                name: trimmed(&format!("columns[{i}].name"), &c.name, 200)?,
                status: c.status,
                color: c.color,
                wip_limit: c.wip_limit,
            })
        })
        .collect()
}

/// `POST /boards`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewBoard)]
pub struct NewBoard {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// `kanban` (default), `list`, `calendar` or `gantt`.
    #[schema(pattern = "^(kanban|list|calendar|gantt)$")]
    #[garde(skip)]
    pub view_type: Option<String>,
    /// Left to right; default To Do, In Progress, Review, Done.
    #[schema(min_items = 1, max_items = 50)]
    #[garde(length(min = 1, max = 50), dive)]
    pub columns: Option<Vec<ColumnInput>>,
}

/// Creates a board (`tasks.board.created`).
#[utoipa::path(tag = TAG, request_body = NewBoard, responses(
    (status = 201, body = Board), (status = 401), (status = 403), (status = 422)))]
#[post("/boards")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteBoards,
    body: ValidJson<NewBoard>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let view_type = b.view_type.unwrap_or_else(|| "kanban".into());
    one_of("view_type", &view_type, &VIEW_TYPES)?;
    let columns = match b.columns {
        Some(c) => columns_in(c)?,
        None => service::default_columns(),
    };
    let name = trimmed("name", &b.name, 200)?;
    let row = service::create(&ctx, &tx, tx.caller().user_id, name, view_type, columns).await?;
    let cols = service::columns(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Board::of(row, cols)))
}

/// The org's boards, oldest first (at most 500).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Board>), (status = 401), (status = 403)))]
#[get("/boards")]
pub(crate) async fn list(tx: ReadBoards) -> ApiResult<HttpResponse> {
    let repo = tx.repo::<board::Entity>();
    let rows = kernel::sea_orm::QuerySelect::limit(
        repo.find()
            .order_by_asc(board::Column::CreatedAt)
            .order_by_asc(board::Column::Id),
        500,
    )
    .all(repo.conn())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for b in rows {
        let cols = service::columns(&tx, b.id).await?;
        out.push(Board::of(b, cols));
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One board with its columns.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Board), (status = 401), (status = 403), (status = 404)))]
#[get("/boards/{id}")]
pub(crate) async fn read(tx: ReadBoards, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let b = service::board(&tx, id.into_inner()).await?;
    let cols = service::columns(&tx, b.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Board::of(b, cols)))
}

/// `PATCH /boards/{id}/columns`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::ColumnsChange)]
pub struct ColumnsChange {
    /// Every column, left to right: those with an `id` are kept, the others added; a column
    /// left out is removed (409 while tasks are in it).
    #[schema(min_items = 1, max_items = 50)]
    #[garde(length(min = 1, max = 50), dive)]
    pub columns: Vec<ColumnInput>,
}

/// Adds, renames, reorders and removes a board's columns.
#[utoipa::path(tag = TAG, request_body = ColumnsChange, responses(
    (status = 200, body = Board), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/boards/{id}/columns")]
pub(crate) async fn set_columns(
    tx: WriteBoards,
    id: web::Path<Uuid>,
    body: ValidJson<ColumnsChange>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let cols = service::configure(&tx, id, columns_in(body.0.columns)?).await?;
    let b = service::board(&tx, id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Board::of(b, cols)))
}
