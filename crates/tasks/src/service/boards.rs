//! Boards and their columns; each column maps to a status.

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::{STATUSES, one_of, publish};
use crate::entity::{board, column, task};
use crate::events::BoardCreated;

pub(crate) fn no_board() -> ApiError {
    ApiError::not_found("no such board in this organization")
}

pub(crate) async fn board(tx: &TenantTx, id: Uuid) -> Result<board::Model, ApiError> {
    tx.repo::<board::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_board)
}

/// A board's columns, left to right.
pub(crate) async fn columns(tx: &TenantTx, board_id: Uuid) -> Result<Vec<column::Model>, ApiError> {
    let repo = tx.repo::<column::Entity>();
    Ok(repo
        .find()
        .filter(column::Column::BoardId.eq(board_id))
        .order_by_asc(column::Column::Position)
        .order_by_asc(column::Column::Id)
        .all(repo.conn())
        .await?)
}

/// The tasks in a column, those in the trash too (they come back to it).
async fn column_count(tx: &TenantTx, id: Uuid) -> Result<u64, ApiError> {
    let repo = tx.repo::<task::Entity>();
    Ok(repo
        .find_any()
        .filter(task::Column::ColumnId.eq(id))
        .count(repo.conn())
        .await?)
}

pub(crate) async fn column(tx: &TenantTx, id: Uuid) -> Result<Option<column::Model>, ApiError> {
    Ok(tx.repo::<column::Entity>().get(id).await?)
}

/// A column as configured (`id` names an existing one to keep).
pub(crate) struct ColumnInput {
    pub id: Option<Uuid>,
    pub name: String,
    pub status: String,
    pub color: Option<String>,
    pub wip_limit: Option<i32>,
}

/// The columns a board gets when none are given: one per open status, then done.
pub(crate) fn default_columns() -> Vec<ColumnInput> {
    [
        ("To Do", "todo"),
        ("In Progress", "in_progress"),
        ("Review", "review"),
        ("Done", "completed"),
    ]
    .into_iter()
    .map(|(name, status)| ColumnInput {
        id: None,
        name: name.into(),
        status: status.into(),
        color: None,
        wip_limit: None,
    })
    .collect()
}

fn check_columns(columns: &[ColumnInput]) -> Result<(), ApiError> {
    if columns.is_empty() || columns.len() > 50 {
        return Err(ApiError::validation("columns", "1 to 50 columns"));
    }
    for (i, c) in columns.iter().enumerate() {
        let field = format!("columns[{i}]");
        one_of(&format!("{field}.status"), &c.status, &STATUSES)?;
        if let Some(color) = &c.color
            && !(color.len() == 7
                && color.starts_with('#')
                && color[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
        {
            return Err(ApiError::validation(&format!("{field}.color"), "#rrggbb"));
        }
        if c.wip_limit.is_some_and(|w| !(1..=10_000).contains(&w)) {
            return Err(ApiError::validation(
                &format!("{field}.wip_limit"),
                "1 to 10000",
            ));
        }
    }
    Ok(())
}

fn row(tx: &TenantTx, board_id: Uuid, i: usize, c: ColumnInput) -> column::ActiveModel {
    column::ActiveModel {
        id: Set(c.id.unwrap_or_else(Uuid::now_v7)),
        org_id: Set(tx.org_id()),
        board_id: Set(board_id),
        name: Set(c.name),
        status: Set(c.status),
        position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        color: Set(c.color),
        wip_limit: Set(c.wip_limit),
        created_at: Set(Utc::now()),
    }
}

pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    name: String,
    view_type: String,
    columns: Vec<ColumnInput>,
) -> Result<board::Model, ApiError> {
    check_columns(&columns)?;
    let now = Utc::now();
    let b = tx
        .repo::<board::Entity>()
        .insert(board::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            view_type: Set(view_type),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    let rows: Vec<column::ActiveModel> = columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| row(tx, b.id, i, ColumnInput { id: None, ..c }))
        .collect();
    tx.repo::<column::Entity>().insert_many(rows).await?;
    publish(
        ctx,
        tx,
        by,
        &BoardCreated {
            board_id: b.id,
            name: b.name.clone(),
        },
    )
    .await?;
    Ok(b)
}

/// Replaces a board's columns in the order given: those with an `id` are kept (renamed,
/// re-coloured; their tasks take a changed status), new ones added, the others removed unless
/// a task is in one (409).
pub(crate) async fn configure(
    tx: &TenantTx,
    board_id: Uuid,
    input: Vec<ColumnInput>,
) -> Result<Vec<column::Model>, ApiError> {
    board(tx, board_id).await?;
    check_columns(&input)?;
    let current = columns(tx, board_id).await?;
    for (i, id) in input
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c.id?)))
    {
        if !current.iter().any(|c| c.id == id) {
            return Err(ApiError::validation(
                &format!("columns[{i}].id"),
                "not a column of this board",
            ));
        }
    }
    let gone: Vec<Uuid> = current
        .iter()
        .map(|c| c.id)
        .filter(|id| !input.iter().any(|c| c.id == Some(*id)))
        .collect();
    if !gone.is_empty() {
        let mut used = 0;
        for id in &gone {
            used += column_count(tx, *id).await?;
        }
        if used > 0 {
            return Err(ApiError::conflict(format!(
                "{used} tasks are in the columns this would remove: move them first"
            )));
        }
        tx.repo::<column::Entity>()
            .delete_many(column::Column::Id.is_in(gone))
            .await?;
    }
    for (i, c) in input.into_iter().enumerate() {
        match c.id {
            Some(id) => {
                // A column's tasks have its status: it changes only while it holds none.
                let before = current
                    .iter()
                    .find(|k| k.id == id)
                    .map(|k| k.status.as_str());
                if before != Some(c.status.as_str()) && column_count(tx, id).await? > 0 {
                    return Err(ApiError::conflict(format!(
                        "columns[{i}]: its tasks have its status; move them before changing it"
                    )));
                }
                let mut m = row(tx, board_id, i, c);
                m.created_at = kernel::sea_orm::ActiveValue::NotSet;
                tx.repo::<column::Entity>().update(m).await?;
            }
            None => {
                tx.repo::<column::Entity>()
                    .insert(row(tx, board_id, i, c))
                    .await?;
            }
        }
    }
    columns(tx, board_id).await
}
