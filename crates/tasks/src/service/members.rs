//! When a member leaves an organization (tenancy's `tenancy.member.removed`), their work does
//! not stay with them: each open task they held goes to its project's lead (when the project
//! has one who still works in the org), else back to the pool; they stop watching tasks, and a
//! timer they left running is stopped. Run again, it finds nothing left to do. And when two
//! entities are merged (collab's `entity.merged`), what was anchored on the one merged away
//! follows the one kept (in the trash too).

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::{in_org, publish};
use crate::entity::{project, task, time_entry, watcher};
use crate::events::TaskAssigned;

/// Returns how many tasks were handed on.
pub(crate) async fn member_removed(
    ctx: &CellContext,
    tx: &TenantTx,
    user: Uuid,
    by: Uuid,
) -> Result<usize, ApiError> {
    let repo = tx.repo::<task::Entity>();
    let held = repo
        .find()
        .filter(task::Column::AssigneeId.eq(user))
        .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
        .all(repo.conn())
        .await?;
    let mut leads = std::collections::HashMap::new();
    for t in &held {
        let Some(p) = t.project_id else { continue };
        if leads.contains_key(&p) {
            continue;
        }
        let lead = match tx.repo::<project::Entity>().get(p).await? {
            Some(project::Model {
                lead_id: Some(l), ..
            }) if l != user && in_org(ctx, tx, l, false).await? => Some(l),
            _ => None,
        };
        leads.insert(p, lead);
    }
    let now = Utc::now();
    for t in &held {
        let to = t.project_id.and_then(|p| leads.get(&p).copied().flatten());
        let mut m: task::ActiveModel = t.clone().into();
        m.assignee_id = Set(to);
        m.updated_at = Set(now);
        repo.update(m).await?;
        publish(
            ctx,
            tx,
            by,
            &TaskAssigned {
                task_id: t.id,
                assignee_id: to,
                previous_assignee_id: Some(user),
            },
        )
        .await?;
    }
    tx.repo::<watcher::Entity>()
        .delete_many(watcher::Column::UserId.eq(user))
        .await?;
    let times = tx.repo::<time_entry::Entity>();
    let running = times
        .find()
        .filter(time_entry::Column::UserId.eq(user))
        .filter(time_entry::Column::EndedAt.is_null())
        .all(times.conn())
        .await?;
    for e in running {
        super::time::finish(tx, e, now).await?;
    }
    Ok(held.len())
}

/// Tasks and projects anchored on `from` (of `kind`) anchor on `into` now: the two entities
/// were merged (collab's `entity.merged`). Run again, it finds nothing left to move.
pub(crate) async fn reanchor(
    tx: &TenantTx,
    kind: &str,
    from: Uuid,
    into: Uuid,
) -> Result<(), ApiError> {
    use project::Column as P;
    use task::Column as T;
    tx.repo::<task::Entity>()
        .repoint_ref(T::AnchorType, T::AnchorId, kind, from, into)
        .await?;
    tx.repo::<project::Entity>()
        .repoint_ref(P::AnchorType, P::AnchorId, kind, from, into)
        .await?;
    Ok(())
}
