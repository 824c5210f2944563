//! What hangs on a task: checklists and their items, dependencies (no cycles), watchers.

use std::collections::HashMap;

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::tasks::get;
use super::{in_org, publish};
use crate::entity::{checklist, dependency, item, task, watcher};
use crate::events::ChecklistCompleted;

pub(crate) const MAX_ITEMS: usize = 200;

pub(crate) async fn checklists(
    tx: &TenantTx,
    task_ids: &[Uuid],
) -> Result<Vec<(checklist::Model, Vec<item::Model>)>, ApiError> {
    let repo = tx.repo::<checklist::Entity>();
    let lists = repo
        .find()
        .filter(checklist::Column::TaskId.is_in(task_ids.to_vec()))
        .order_by_asc(checklist::Column::Position)
        .order_by_asc(checklist::Column::Id)
        .all(repo.conn())
        .await?;
    let irepo = tx.repo::<item::Entity>();
    let items = irepo
        .find()
        .filter(item::Column::ChecklistId.is_in(lists.iter().map(|l| l.id).collect::<Vec<_>>()))
        .order_by_asc(item::Column::Position)
        .order_by_asc(item::Column::Id)
        .all(irepo.conn())
        .await?;
    let mut by_list: HashMap<Uuid, Vec<item::Model>> = HashMap::new();
    for i in items {
        by_list.entry(i.checklist_id).or_default().push(i);
    }
    Ok(lists
        .into_iter()
        .map(|l| {
            let items = by_list.remove(&l.id).unwrap_or_default();
            (l, items)
        })
        .collect())
}

/// Adds a checklist (with its first items) to a task.
pub(crate) async fn add_checklist(
    tx: &TenantTx,
    task_id: Uuid,
    title: String,
    items: Vec<String>,
) -> Result<(checklist::Model, Vec<item::Model>), ApiError> {
    get(tx, task_id).await?;
    let repo = tx.repo::<checklist::Entity>();
    let count = kernel::sea_orm::PaginatorTrait::count(
        repo.find().filter(checklist::Column::TaskId.eq(task_id)),
        repo.conn(),
    )
    .await?;
    if count >= 50 {
        return Err(ApiError::conflict("a task has at most 50 checklists"));
    }
    let now = Utc::now();
    let list = repo
        .insert(checklist::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            task_id: Set(task_id),
            title: Set(title),
            position: Set(i32::try_from(count).unwrap_or(i32::MAX)),
            created_at: Set(now),
        })
        .await?;
    let mut out = Vec::new();
    for (i, t) in items.into_iter().enumerate() {
        out.push(insert_item(tx, list.id, t, i).await?);
    }
    Ok((list, out))
}

async fn insert_item(
    tx: &TenantTx,
    checklist_id: Uuid,
    title: String,
    position: usize,
) -> Result<item::Model, ApiError> {
    Ok(tx
        .repo::<item::Entity>()
        .insert(item::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            checklist_id: Set(checklist_id),
            title: Set(title),
            done: Set(false),
            done_by: Set(None),
            done_at: Set(None),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
            created_at: Set(Utc::now()),
        })
        .await?)
}

/// A checklist of a live task.
async fn checklist_of(tx: &TenantTx, id: Uuid) -> Result<checklist::Model, ApiError> {
    let no = || ApiError::not_found("no such checklist in this organization");
    let list = tx
        .repo::<checklist::Entity>()
        .get(id)
        .await?
        .ok_or_else(no)?;
    get(tx, list.task_id).await.map_err(|_| no())?;
    Ok(list)
}

pub(crate) async fn add_item(
    tx: &TenantTx,
    checklist_id: Uuid,
    title: String,
) -> Result<item::Model, ApiError> {
    let list = checklist_of(tx, checklist_id).await?;
    let n = checklists(tx, &[list.task_id])
        .await?
        .into_iter()
        .find(|(l, _)| l.id == list.id)
        .map_or(0, |(_, items)| items.len());
    if n >= MAX_ITEMS {
        return Err(ApiError::conflict(format!(
            "a checklist has at most {MAX_ITEMS} items"
        )));
    }
    insert_item(tx, list.id, title, n).await
}

/// Checks or unchecks an item (or renames it); when the last open item of the task's
/// checklists is checked, `tasks.task.checklist_completed`.
pub(crate) async fn set_item(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    checklist_id: Uuid,
    item_id: Uuid,
    done: Option<bool>,
    title: Option<String>,
) -> Result<item::Model, ApiError> {
    let list = checklist_of(tx, checklist_id).await?;
    let repo = tx.repo::<item::Entity>();
    let row = repo
        .get(item_id)
        .await?
        .filter(|i| i.checklist_id == list.id)
        .ok_or_else(|| ApiError::not_found("no such item in this checklist"))?;
    let was = row.done;
    let mut m: item::ActiveModel = row.into();
    if let Some(t) = title {
        m.title = Set(t);
    }
    if let Some(d) = done
        && d != was
    {
        m.done = Set(d);
        m.done_by = Set(d.then_some(by));
        m.done_at = Set(d.then(Utc::now));
    }
    let row = repo.update(m).await?;
    if done == Some(true) && !was {
        let all_done = checklists(tx, &[list.task_id])
            .await?
            .iter()
            .all(|(_, items)| items.iter().all(|i| i.done));
        if all_done {
            publish(
                ctx,
                tx,
                by,
                &ChecklistCompleted {
                    task_id: list.task_id,
                    checklist_id: list.id,
                },
            )
            .await?;
        }
    }
    Ok(row)
}

pub(crate) async fn dependencies(
    tx: &TenantTx,
    task_ids: &[Uuid],
) -> Result<Vec<dependency::Model>, ApiError> {
    let repo = tx.repo::<dependency::Entity>();
    Ok(repo
        .find()
        .filter(dependency::Column::TaskId.is_in(task_ids.to_vec()))
        .order_by_asc(dependency::Column::CreatedAt)
        .all(repo.conn())
        .await?)
}

/// The dependencies of the tasks of a board (or of the org), as (task, depends on, kind), in
/// one statement.
pub(crate) async fn edges(
    tx: &TenantTx,
    board_id: Option<Uuid>,
) -> Result<Vec<(Uuid, Uuid, String)>, ApiError> {
    use kernel::sea_orm::sea_query::Query;
    let repo = tx.repo::<dependency::Entity>();
    let mut select = repo.find();
    if let Some(b) = board_id {
        select = select.filter(
            dependency::Column::TaskId.in_subquery(
                Query::select()
                    .column(task::Column::Id)
                    .from(task::Entity)
                    .and_where(task::Column::OrgId.eq(tx.org_id()))
                    .and_where(task::Column::BoardId.eq(b))
                    .to_owned(),
            ),
        );
    }
    Ok(select
        .order_by_asc(dependency::Column::TaskId)
        .order_by_asc(dependency::Column::DependsOnId)
        .select_only()
        .column(dependency::Column::TaskId)
        .column(dependency::Column::DependsOnId)
        .column(dependency::Column::Kind)
        .into_tuple()
        .all(repo.conn())
        .await?)
}

/// The path `from` → … → `to` along "depends on" edges, if there is one: the edges reachable
/// from `from` in one statement, then a breadth-first walk over them (a shortest path).
async fn path(tx: &TenantTx, from: Uuid, to: Uuid) -> Result<Option<Vec<Uuid>>, ApiError> {
    let edges = tx
        .repo::<dependency::Entity>()
        .reachable(
            from,
            dependency::Column::TaskId,
            dependency::Column::DependsOnId,
        )
        .await?;
    let mut next: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    let mut came_from: HashMap<Uuid, Uuid> = HashMap::new();
    let mut frontier = std::collections::VecDeque::from([from]);
    while let Some(a) = frontier.pop_front() {
        for &b in next.get(&a).into_iter().flatten() {
            if b == from || came_from.contains_key(&b) {
                continue;
            }
            came_from.insert(b, a);
            if b == to {
                let mut out = vec![to];
                let mut at = to;
                while let Some(prev) = came_from.get(&at) {
                    out.push(*prev);
                    at = *prev;
                }
                out.reverse();
                return Ok(Some(out));
            }
            frontier.push_back(b);
        }
    }
    Ok(None)
}

/// `task_id` waits for `depends_on_id`. Refused (409, naming the cycle) when it would wait
/// for itself, directly or through others.
pub(crate) async fn add_dependency(
    tx: &TenantTx,
    task_id: Uuid,
    depends_on_id: Uuid,
    kind: String,
) -> Result<dependency::Model, ApiError> {
    get(tx, task_id).await?;
    get(tx, depends_on_id)
        .await
        .map_err(|_| ApiError::validation("depends_on_id", "no such task"))?;
    if task_id == depends_on_id {
        return Err(ApiError::conflict("a task cannot depend on itself")
            .with_details(serde_json::json!({ "cycle": [task_id, task_id] })));
    }
    let existing = dependencies(tx, &[task_id]).await?;
    if existing.iter().any(|d| d.depends_on_id == depends_on_id) {
        return Err(ApiError::conflict("the task already depends on that task"));
    }
    if existing.len() >= 100 {
        return Err(ApiError::conflict("a task depends on at most 100 tasks"));
    }
    // depends_on_id already waits (through others) for task_id: the new edge closes a cycle.
    if let Some(mut cycle) = path(tx, depends_on_id, task_id).await? {
        cycle.insert(0, task_id);
        let names: Vec<String> = cycle.iter().map(Uuid::to_string).collect();
        return Err(ApiError::conflict(format!(
            "this dependency would close a cycle: {}",
            names.join(" → ")
        ))
        .with_details(serde_json::json!({ "cycle": cycle })));
    }
    Ok(tx
        .repo::<dependency::Entity>()
        .insert(dependency::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            task_id: Set(task_id),
            depends_on_id: Set(depends_on_id),
            kind: Set(kind),
            created_at: Set(Utc::now()),
        })
        .await?)
}

pub(crate) async fn remove_dependency(
    tx: &TenantTx,
    task_id: Uuid,
    depends_on_id: Uuid,
) -> Result<(), ApiError> {
    get(tx, task_id).await?;
    let gone = tx
        .repo::<dependency::Entity>()
        .delete_many(kernel::sea_orm::ExprTrait::and(
            dependency::Column::TaskId.eq(task_id),
            dependency::Column::DependsOnId.eq(depends_on_id),
        ))
        .await?;
    match gone {
        0 => Err(ApiError::not_found("the task does not depend on that task")),
        _ => Ok(()),
    }
}

pub(crate) async fn watchers(
    tx: &TenantTx,
    task_ids: &[Uuid],
) -> Result<Vec<watcher::Model>, ApiError> {
    let repo = tx.repo::<watcher::Entity>();
    Ok(repo
        .find()
        .filter(watcher::Column::TaskId.is_in(task_ids.to_vec()))
        .order_by_asc(watcher::Column::CreatedAt)
        .all(repo.conn())
        .await?)
}

/// Adds a watcher (anyone in the org); adding one twice changes nothing.
pub(crate) async fn watch(
    ctx: &CellContext,
    tx: &TenantTx,
    task_id: Uuid,
    user_id: Uuid,
) -> Result<bool, ApiError> {
    get(tx, task_id).await?;
    if !in_org(ctx, tx, user_id, true).await? {
        return Err(ApiError::validation(
            "user_id",
            "not a member of this organization",
        ));
    }
    if watchers(tx, &[task_id])
        .await?
        .iter()
        .any(|w| w.user_id == user_id)
    {
        return Ok(false);
    }
    tx.repo::<watcher::Entity>()
        .insert(watcher::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            task_id: Set(task_id),
            user_id: Set(user_id),
            created_at: Set(Utc::now()),
        })
        .await?;
    Ok(true)
}

pub(crate) async fn unwatch(tx: &TenantTx, task_id: Uuid, user_id: Uuid) -> Result<(), ApiError> {
    get(tx, task_id).await?;
    tx.repo::<watcher::Entity>()
        .delete_many(kernel::sea_orm::ExprTrait::and(
            watcher::Column::TaskId.eq(task_id),
            watcher::Column::UserId.eq(user_id),
        ))
        .await?;
    Ok(())
}
