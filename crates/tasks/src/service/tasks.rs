//! Tasks: creation (last in their column), changes, status transitions and what follows them
//! (completion, unblocking), moves with fractional positions, subtasks, the trash.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use kernel::http::Caller;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::boards::{self, column as find_column};
use super::{By, publish};
use crate::entity::{column, dependency, task};
use crate::events::{
    TaskAssigned, TaskCompleted, TaskCreated, TaskDeleted, TaskStatusChanged, TaskUnblocked,
    TaskUpdated,
};
use crate::module::Settings;
use crate::position;

pub(crate) fn no_task() -> ApiError {
    ApiError::not_found("no such task in this organization")
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<task::Model, ApiError> {
    tx.repo::<task::Entity>().get(id).await?.ok_or_else(no_task)
}

fn is_open(status: &str) -> bool {
    !matches!(status, "completed" | "cancelled")
}

pub(crate) struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub status: Option<String>,
    pub priority: String,
    pub board_id: Option<Uuid>,
    pub column_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: Option<DateTime<Utc>>,
    pub estimate_minutes: Option<i32>,
    pub anchor: Option<(String, Uuid)>,
    pub project_id: Option<Uuid>,
    /// A milestone of `project_id`.
    pub milestone_id: Option<Uuid>,
    /// The rule and occurrence a recurring task's clone is (unique together).
    pub occurrence: Option<(Uuid, DateTime<Utc>)>,
}

fn dates(start: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    match (start, due) {
        (Some(s), Some(d)) if d < s => Err(ApiError::validation(
            "due_date",
            "must not be before start_date",
        )),
        _ => Ok(()),
    }
}

/// The anchor must be an entity the caller sees (`crm`'s contacts, deals, companies…).
pub(crate) async fn check_anchor(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    kind: &str,
    id: Uuid,
) -> Result<(), ApiError> {
    let Some(loader) = ctx.entity_loader(kind) else {
        return Err(ApiError::validation(
            "anchor_type",
            "not an entity type of this cell",
        ));
    };
    match loader.resolve(ctx, tx, caller, &[id]).await?.is_empty() {
        true => Err(ApiError::validation(
            "anchor_id",
            format!("no such {kind} in this organization"),
        )),
        false => Ok(()),
    }
}

/// The key after the last task of a column.
async fn last_in(tx: &TenantTx, column_id: Uuid) -> Result<String, ApiError> {
    let repo = tx.repo::<task::Entity>();
    let last: Option<Option<String>> = repo
        .find()
        .filter(task::Column::ColumnId.eq(column_id))
        .order_by_desc(task::Column::Position)
        .select_only()
        .column(task::Column::Position)
        .into_tuple()
        .one(repo.conn())
        .await?;
    position::between(last.flatten().as_deref(), None).map_err(ApiError::internal)
}

/// Where a new task goes: its column (the one named, else the board's first of its status,
/// else the board's first), the board, the status.
async fn placement(
    tx: &TenantTx,
    board_id: Option<Uuid>,
    column_id: Option<Uuid>,
    status: Option<&str>,
) -> Result<(Option<column::Model>, Option<Uuid>), ApiError> {
    if let Some(cid) = column_id {
        let col = find_column(tx, cid)
            .await?
            .ok_or_else(|| ApiError::validation("column_id", "no such column"))?;
        if board_id.is_some_and(|b| b != col.board_id) {
            return Err(ApiError::validation(
                "column_id",
                "a column of another board",
            ));
        }
        let board = col.board_id;
        return Ok((Some(col), Some(board)));
    }
    let Some(bid) = board_id else {
        return Ok((None, None));
    };
    boards::board(tx, bid)
        .await
        .map_err(|_| ApiError::validation("board_id", "no such board"))?;
    let cols = boards::columns(tx, bid).await?;
    let first = cols.first().cloned();
    let col = match status {
        Some(s) => cols.into_iter().find(|c| c.status == s).ok_or_else(|| {
            ApiError::validation("status", "the board has no column of this status")
        })?,
        None => first.ok_or_else(|| ApiError::conflict("the board has no columns"))?,
    };
    Ok((Some(col), Some(bid)))
}

pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    settings: &Settings,
    new: NewTask,
) -> Result<task::Model, ApiError> {
    if tx.repo::<task::Entity>().count().await? >= settings.max_tasks {
        return Err(ApiError::conflict(format!(
            "this organization has {} tasks, the most it may hold",
            settings.max_tasks
        )));
    }
    dates(new.start_date, new.due_date)?;
    if let Some(p) = new.parent_id {
        get(tx, p)
            .await
            .map_err(|_| ApiError::validation("parent_id", "no such task"))?;
    }
    if let Some(a) = new.assignee_id {
        super::worker(ctx, tx, "assignee_id", a).await?;
    }
    if let Some((kind, id)) = &new.anchor {
        check_anchor(ctx, tx, caller, kind, *id).await?;
    }
    check_project(tx, new.project_id, new.milestone_id).await?;
    let (col, board_id) = placement(tx, new.board_id, new.column_id, new.status.as_deref()).await?;
    let status = match &col {
        Some(c) => c.status.clone(),
        None => new.status.clone().unwrap_or_else(|| "todo".into()),
    };
    let position = match &col {
        Some(c) => Some(last_in(tx, c.id).await?),
        None => None,
    };
    let now = Utc::now();
    let (anchor_type, anchor_id) = new.anchor.map_or((None, None), |(k, i)| (Some(k), Some(i)));
    let row = tx
        .repo::<task::Entity>()
        .insert(task::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            title: Set(new.title),
            description: Set(new.description),
            completed_at: Set((status == "completed").then_some(now)),
            status: Set(status),
            priority: Set(new.priority),
            board_id: Set(board_id),
            column_id: Set(col.map(|c| c.id)),
            position: Set(position),
            parent_id: Set(new.parent_id),
            assignee_id: Set(new.assignee_id),
            start_date: Set(new.start_date),
            due_date: Set(new.due_date),
            estimate_minutes: Set(new.estimate_minutes),
            anchor_type: Set(anchor_type),
            anchor_id: Set(anchor_id),
            project_id: Set(new.project_id),
            milestone_id: Set(new.milestone_id),
            recurrence_id: Set(new.occurrence.map(|o| o.0)),
            occurs_at: Set(new.occurrence.map(|o| o.1)),
            created_by: Set(caller.user_id),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await?;
    publish(
        ctx,
        tx,
        caller.user_id,
        &TaskCreated {
            task_id: row.id,
            title: row.title.clone(),
            board_id: row.board_id,
            parent_id: row.parent_id,
            assignee_id: row.assignee_id,
        },
    )
    .await?;
    if row.assignee_id.is_some() {
        publish(
            ctx,
            tx,
            caller.user_id,
            &TaskAssigned {
                task_id: row.id,
                assignee_id: row.assignee_id,
                previous_assignee_id: None,
            },
        )
        .await?;
    }
    Ok(row)
}

#[derive(Default)]
pub(crate) struct Change {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub assignee_id: Option<Option<Uuid>>,
    pub parent_id: Option<Option<Uuid>>,
    pub start_date: Option<Option<DateTime<Utc>>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub estimate_minutes: Option<Option<i32>>,
    pub project_id: Option<Option<Uuid>>,
    pub milestone_id: Option<Option<Uuid>>,
}

/// A project of the org, open, and a milestone of that project.
async fn check_project(
    tx: &TenantTx,
    project: Option<Uuid>,
    milestone: Option<Uuid>,
) -> Result<(), ApiError> {
    if let Some(p) = project {
        let p = super::projects::get(tx, p)
            .await
            .map_err(|_| ApiError::validation("project_id", "no such project"))?;
        if matches!(p.status.as_str(), "completed" | "cancelled") {
            return Err(ApiError::validation(
                "project_id",
                format!("the project is {}: it takes no more tasks", p.status),
            ));
        }
    }
    if let Some(m) = milestone {
        let m = super::projects::milestone(tx, m)
            .await
            .map_err(|_| ApiError::validation("milestone_id", "no such milestone"))?;
        if Some(m.project_id) != project {
            return Err(ApiError::validation(
                "milestone_id",
                "a milestone of the task's project",
            ));
        }
        if m.reached_at.is_some() {
            return Err(ApiError::validation(
                "milestone_id",
                "the milestone is reached: it takes no more tasks",
            ));
        }
    }
    Ok(())
}

/// Refuses a parent that is the task or one of its subtasks.
async fn check_parent(tx: &TenantTx, id: Uuid, parent: Uuid) -> Result<(), ApiError> {
    let mut at = Some(parent);
    let mut seen = HashSet::new();
    while let Some(p) = at {
        if p == id {
            return Err(ApiError::conflict(
                "a task cannot be a subtask of itself or of its own subtasks",
            ));
        }
        if !seen.insert(p) {
            break;
        }
        at = get(tx, p)
            .await
            .map_err(|_| ApiError::validation("parent_id", "no such task"))?
            .parent_id;
    }
    Ok(())
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    settings: &Settings,
    id: Uuid,
    change: Change,
) -> Result<task::Model, ApiError> {
    let row = get(tx, id).await?;
    dates(
        change.start_date.unwrap_or(row.start_date),
        change.due_date.unwrap_or(row.due_date),
    )?;
    if let Some(Some(a)) = change.assignee_id
        && Some(a) != row.assignee_id
    {
        super::worker(ctx, tx, "assignee_id", a).await?;
    }
    if let Some(Some(p)) = change.parent_id {
        check_parent(tx, id, p).await?;
    }
    // A task leaving its project leaves the project's milestone too.
    let project = change.project_id.unwrap_or(row.project_id);
    let milestone = match change.milestone_id {
        Some(m) => m,
        None if project == row.project_id => row.milestone_id,
        None => None,
    };
    let placed = (project, milestone) != (row.project_id, row.milestone_id);
    if placed {
        check_project(tx, project, milestone).await?;
    }
    let mut fields = Vec::new();
    let mut m: task::ActiveModel = row.clone().into();
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = change.$field
                && v != row.$field
            {
                m.$field = Set(v);
                fields.push(stringify!($field).to_owned());
            }
        };
    }
    set!(title);
    set!(description);
    set!(priority);
    set!(assignee_id);
    set!(parent_id);
    set!(start_date);
    set!(due_date);
    set!(estimate_minutes);
    if placed {
        m.project_id = Set(project);
        m.milestone_id = Set(milestone);
        for (f, changed) in [
            ("project_id", project != row.project_id),
            ("milestone_id", milestone != row.milestone_id),
        ] {
            if changed {
                fields.push(f.to_owned());
            }
        }
    }
    let previous_assignee = row.assignee_id;
    let mut row = row;
    if !fields.is_empty() {
        m.updated_at = Set(Utc::now());
        row = tx.repo::<task::Entity>().update(m).await?;
        publish(
            ctx,
            tx,
            by,
            &TaskUpdated {
                task_id: id,
                fields: fields.clone(),
            },
        )
        .await?;
    }
    if fields.iter().any(|f| f == "assignee_id") {
        publish(
            ctx,
            tx,
            by,
            &TaskAssigned {
                task_id: id,
                assignee_id: row.assignee_id,
                previous_assignee_id: previous_assignee,
            },
        )
        .await?;
    }
    if let Some(status) = change.status
        && status != row.status
    {
        // On a board, the task goes to the end of the board's first column of that status.
        let col = match row.board_id {
            Some(b) => Some(
                boards::columns(tx, b)
                    .await?
                    .into_iter()
                    .find(|c| c.status == status)
                    .ok_or_else(|| {
                        ApiError::validation("status", "the board has no column of this status")
                    })?,
            ),
            None => None,
        };
        row = match col {
            Some(c) => move_to(ctx, tx, by, settings, id, c.id, None).await?,
            None => set_status(ctx, tx, by, settings, row, &status, None, None).await?,
        };
    }
    Ok(row)
}

/// The tasks `id` waits for that are still open.
pub(crate) async fn blockers(tx: &TenantTx, id: Uuid) -> Result<Vec<task::Model>, ApiError> {
    let repo = tx.repo::<dependency::Entity>();
    let on: Vec<Uuid> = repo
        .find()
        .filter(dependency::Column::TaskId.eq(id))
        .select_only()
        .column(dependency::Column::DependsOnId)
        .into_tuple()
        .all(repo.conn())
        .await?;
    if on.is_empty() {
        return Ok(Vec::new());
    }
    let trepo = tx.repo::<task::Entity>();
    Ok(trepo
        .find()
        .filter(task::Column::Id.is_in(on))
        .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
        .all(trepo.conn())
        .await?)
}

/// Whether `from` → `to` is a transition tasks make: `completed` is terminal; the open
/// statuses go back and forth (a board is dragged both ways); a cancelled task reopens.
fn transition(from: &str, to: &str) -> Result<(), ApiError> {
    match from {
        "completed" => Err(ApiError::conflict(
            "the task is completed, which is final; create a new task instead",
        )),
        "cancelled" if to != "todo" => Err(ApiError::conflict(
            "a cancelled task can only be reopened (to `todo`)",
        )),
        _ => Ok(()),
    }
}

/// Changes a task's status (and column, position): the transition is checked, a blocked task
/// cannot start (the `block_start` setting), completion is recorded and unblocks the tasks
/// that waited for this one.
#[expect(clippy::too_many_arguments)]
async fn set_status(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    settings: &Settings,
    row: task::Model,
    to: &str,
    column: Option<Uuid>,
    position: Option<String>,
) -> Result<task::Model, ApiError> {
    let from = row.status.clone();
    let id = row.id;
    let changes = from != to;
    if changes {
        transition(&from, to)?;
        if settings.block_start && to != "todo" && to != "cancelled" {
            let open = blockers(tx, id).await?;
            if !open.is_empty() {
                let names: Vec<String> = open
                    .iter()
                    .map(|t| format!("{} ({})", t.title, t.id))
                    .collect();
                return Err(ApiError::conflict(format!(
                    "blocked by open tasks: {}",
                    names.join(", ")
                ))
                .with_details(serde_json::json!({
                    "blocked_by": open.iter().map(|t| t.id).collect::<Vec<_>>()
                })));
            }
        }
    }
    let now = Utc::now();
    let mut m: task::ActiveModel = row.into();
    if let Some(c) = column {
        m.column_id = Set(Some(c));
    }
    if position.is_some() {
        m.position = Set(position);
    }
    m.status = Set(to.to_owned());
    if changes {
        m.completed_at = Set((to == "completed").then_some(now));
    }
    m.updated_at = Set(now);
    let row = tx.repo::<task::Entity>().update(m).await?;
    if changes {
        publish(
            ctx,
            tx,
            by,
            &TaskStatusChanged {
                task_id: id,
                from,
                to: to.to_owned(),
                column_id: row.column_id,
            },
        )
        .await?;
        if !is_open(to) {
            if to == "completed" {
                publish(ctx, tx, by, &TaskCompleted { task_id: id }).await?;
            }
            unblock(ctx, tx, by, id).await?;
            if let Some(m) = row.milestone_id {
                super::projects::after_task_closed(ctx, tx, by, m).await?;
            }
        }
    }
    Ok(row)
}

/// The tasks that waited for `done` and now wait for nothing (`tasks.task.unblocked`).
async fn unblock(ctx: &CellContext, tx: &TenantTx, by: By, done: Uuid) -> Result<(), ApiError> {
    let repo = tx.repo::<dependency::Entity>();
    let waiting: Vec<Uuid> = repo
        .find()
        .filter(dependency::Column::DependsOnId.eq(done))
        .select_only()
        .column(dependency::Column::TaskId)
        .into_tuple()
        .all(repo.conn())
        .await?;
    for task_id in waiting {
        if blockers(tx, task_id).await?.is_empty() {
            publish(
                ctx,
                tx,
                by,
                &TaskUnblocked {
                    task_id,
                    by_task_id: done,
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The positions of a column's tasks, in order, leaving `except` out; `offset`/`limit` as SQL's.
async fn keys(
    tx: &TenantTx,
    column_id: Uuid,
    except: Uuid,
    offset: u64,
    limit: Option<u64>,
) -> Result<Vec<(Uuid, String)>, ApiError> {
    let repo = tx.repo::<task::Entity>();
    let mut select = repo
        .find()
        .filter(task::Column::ColumnId.eq(column_id))
        .filter(task::Column::Id.ne(except))
        .order_by_asc(task::Column::Position)
        .order_by_asc(task::Column::Id)
        .select_only()
        .column(task::Column::Id)
        .column(task::Column::Position)
        .offset(offset);
    if let Some(l) = limit {
        select = select.limit(l);
    }
    let rows: Vec<(Uuid, Option<String>)> = select.into_tuple().all(repo.conn()).await?;
    Ok(rows
        .into_iter()
        .map(|(id, k)| (id, k.unwrap_or_default()))
        .collect())
}

/// A key for `id` at index `at` of the column (the others in order): usually one new key
/// between its neighbours; when that would be too long, a few neighbours are re-spaced (their
/// rows rewritten in this transaction).
async fn place(tx: &TenantTx, column_id: Uuid, id: Uuid, at: u64) -> Result<String, ApiError> {
    let near = keys(tx, column_id, id, at.saturating_sub(1), Some(2)).await?;
    let (lower, upper) = match at {
        0 => (None, near.first()),
        _ => (near.first(), near.get(1)),
    };
    let lower = lower.map(|(_, k)| k.as_str());
    let upper = upper.map(|(_, k)| k.as_str());
    if let Some(k) = position::place(lower, upper).map_err(ApiError::internal)? {
        return Ok(k);
    }
    let all = keys(tx, column_id, id, 0, None).await?;
    let refs: Vec<&str> = all.iter().map(|(_, k)| k.as_str()).collect();
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(all.len());
    let room = position::room(&refs, at).map_err(ApiError::internal)?;
    let mut mine = None;
    let mut others = all.iter().skip(room.start);
    for (i, key) in room.keys.into_iter().enumerate() {
        if room.start + i == at {
            mine = Some(key);
            continue;
        }
        if let Some((other, _)) = others.next() {
            tx.repo::<task::Entity>()
                .update_many(
                    vec![(task::Column::Position, Expr::value(key))],
                    task::Column::Id.eq(*other),
                )
                .await?;
        }
    }
    mine.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no key for the moved task")))
}

/// Moves a task to index `at` (`None`: the end) of a column of its board (a task on no board
/// joins the column's); the task takes the column's status (`tasks.task.status_changed`).
pub(crate) async fn move_to(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    settings: &Settings,
    id: Uuid,
    column_id: Uuid,
    at: Option<u64>,
) -> Result<task::Model, ApiError> {
    let row = get(tx, id).await?;
    let col = find_column(tx, column_id)
        .await?
        .ok_or_else(|| ApiError::validation("column_id", "no such column"))?;
    if row.board_id.is_some_and(|b| b != col.board_id) {
        return Err(ApiError::validation(
            "column_id",
            "a column of another board: a task moves within its board",
        ));
    }
    if row.column_id != Some(col.id)
        && let Some(limit) = col.wip_limit
    {
        let repo = tx.repo::<task::Entity>();
        let held = repo
            .find()
            .filter(task::Column::ColumnId.eq(col.id))
            .count(repo.conn())
            .await?;
        if held >= u64::try_from(limit).unwrap_or(0) {
            return Err(ApiError::conflict(format!(
                "the column `{}` holds {held} tasks, its limit",
                col.name
            )));
        }
    }
    let key = match at {
        Some(at) => place(tx, col.id, id, at).await?,
        None if row.column_id == Some(col.id) => row.position.clone().unwrap_or_default(),
        None => last_in(tx, col.id).await?,
    };
    let board_id = col.board_id;
    let mut row = row;
    if row.board_id.is_none() {
        let mut m: task::ActiveModel = row.into();
        m.board_id = Set(Some(board_id));
        row = tx.repo::<task::Entity>().update(m).await?;
    }
    let status = col.status.clone();
    set_status(ctx, tx, by, settings, row, &status, Some(col.id), Some(key)).await
}

/// The subtasks of a task at every depth (in the trash or not, as `trashed` says): their ids
/// in one recursive statement, then their rows.
pub(crate) async fn subtree(
    tx: &TenantTx,
    id: Uuid,
    trashed: bool,
) -> Result<Vec<task::Model>, ApiError> {
    let repo = tx.repo::<task::Entity>();
    let (parent, child) = (task::Column::ParentId, task::Column::Id);
    let edges = match trashed {
        true => repo.reachable_in_trash(id, parent, child).await?,
        false => repo.reachable(id, parent, child).await?,
    };
    if edges.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = edges.into_iter().map(|(_, child)| child).collect();
    let select = match trashed {
        true => repo.find_trashed(None)?,
        false => repo.find(),
    };
    Ok(select
        .filter(task::Column::Id.is_in(ids))
        .all(repo.conn())
        .await?)
}

/// Moves a task and its subtasks to the trash (`tasks.task.deleted`); its creator and admins may.
pub(crate) async fn delete(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = subtree(tx, id, false)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    tx.repo::<task::Entity>().trash(id).await?;
    if !ids.is_empty() {
        tx.repo::<task::Entity>()
            .update_many(
                vec![(task::Column::DeletedAt, Expr::value(Utc::now()))],
                task::Column::Id.is_in(ids),
            )
            .await?;
    }
    publish(ctx, tx, by, &TaskDeleted { task_id: id }).await
}

/// Takes a task and the subtasks trashed with it out of the trash.
pub(crate) async fn restore(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<bool, ApiError> {
    let repo = tx.repo::<task::Entity>();
    let children = subtree(tx, id, true).await?;
    if !repo.restore(id).await? {
        return Ok(false);
    }
    for c in children {
        repo.restore(c.id).await?;
    }
    publish(ctx, tx, by, &crate::events::TaskRestored { task_id: id }).await?;
    Ok(true)
}
