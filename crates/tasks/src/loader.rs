//! How other modules see tasks: the kernel's entity contract (collab's comments, tags, links,
//! activity, search and trash: `/tasks/{id}/comments`, `/tasks/{id}/tags`, `/trash?type=task`,
//! `?tags=` on the list; files' attachments), and whom a task's events concern.

use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, Caller};
use kernel::module::{
    Documents, DomainEvent, EntityLoader, EntityRef, EntitySummary, EntityTrash, Recipient,
    Recipients, SearchDocument, Trashed,
};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{project, task};

/// The entity type other modules name tasks by.
pub(crate) const TASK: &str = "task";

pub(crate) struct TaskLoader;

fn summary(m: task::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: TASK.into(),
            id: m.id,
        },
        title: m.title,
        subtitle: Some(m.status),
        url: None,
    }
}

/// Every member of the org sees every task.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for TaskLoader {
    fn entity_type(&self) -> &'static str {
        TASK
    }

    fn collection(&self) -> &'static str {
        "tasks"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<task::Entity>();
        let rows = repo
            .find()
            .filter(task::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<task::Entity>().count().await?)
    }

    /// Tasks are found by their title, then their description.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<task::Entity>();
        let rows = repo.find_documents(which)?.all(repo.conn()).await?;
        Ok(rows
            .into_iter()
            .map(|m| SearchDocument {
                id: m.id,
                title: m.title,
                body: m.description.unwrap_or_default(),
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for TaskLoader {
    async fn trashed(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let repo = tx.repo::<task::Entity>();
        Ok(repo
            .trashed_page(before, limit)
            .await?
            .into_iter()
            .map(|(m, deleted_at)| Trashed {
                summary: summary(m),
                deleted_at,
            })
            .collect())
    }

    /// Whoever may delete the task (its creator, admins) may restore it, with its subtasks.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let repo = tx.repo::<task::Entity>();
        let Some(row) = repo
            .find_trashed(None)?
            .filter(task::Column::Id.eq(id))
            .one(repo.conn())
            .await?
        else {
            return Ok(None);
        };
        if row.created_by != caller.user_id {
            kernel::http::require::<AdministerOrg>(ctx, tx, caller, None).await?;
        }
        if !crate::service::tasks::restore(ctx, tx, caller.user_id, id).await? {
            return Ok(None);
        }
        Ok(repo.get(id).await?.map(summary))
    }

    /// A task's checklists, dependencies, watchers and time entries go with it (foreign keys),
    /// and so do its subtasks.
    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let repo = tx.repo::<task::Entity>();
        Ok(repo.purge(ids).await?)
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<task::Entity>(ctx.db(), cutoff, limit).await?)
    }
}

/// Who hears of a task's events: its assignee when it is given to them or unblocked, its
/// creator and watchers when it changes status or completes, the assignee and watchers when
/// its checklists are done.
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for TaskLoader {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let (assignee, creator, watchers) = match event.name.as_str() {
            "tasks.task.assigned" | "tasks.task.unblocked" => (true, false, false),
            "tasks.task.status_changed" | "tasks.task.completed" => (true, true, true),
            "tasks.task.checklist_completed" => (true, false, true),
            _ => return Ok(Vec::new()),
        };
        let Some(task) = tx.repo::<task::Entity>().get(event.entity.id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if assignee && let Some(a) = task.assignee_id {
            out.push(Recipient {
                user_id: a,
                reason: "assignee",
            });
        }
        if creator {
            out.push(Recipient {
                user_id: task.created_by,
                reason: "creator",
            });
        }
        if watchers {
            for w in crate::service::parts::watchers(tx, &[task.id]).await? {
                out.push(Recipient {
                    user_id: w.user_id,
                    reason: "watcher",
                });
            }
        }
        // One row per user: the first reason wins.
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| seen.insert(r.user_id));
        Ok(out)
    }
}

/// The entity type other modules name projects by.
pub(crate) const PROJECT: &str = "project";

/// Projects as other modules see them (comments, tags, links, activity, files): every member
/// sees every project.
pub(crate) struct ProjectLoader;

#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for ProjectLoader {
    fn entity_type(&self) -> &'static str {
        PROJECT
    }

    fn collection(&self) -> &'static str {
        "projects"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<project::Entity>();
        let rows = repo
            .find()
            .filter(project::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| EntitySummary {
                entity: EntityRef {
                    kind: PROJECT.into(),
                    id: m.id,
                },
                title: m.name,
                subtitle: Some(m.status),
                url: None,
            })
            .collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<project::Entity>().count().await?)
    }
}

/// A project's status changes and reached milestones concern its lead and its creator.
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for ProjectLoader {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        if !matches!(
            event.name.as_str(),
            "tasks.project.status_changed" | "tasks.milestone.reached"
        ) {
            return Ok(Vec::new());
        }
        let Some(p) = tx.repo::<project::Entity>().get(event.entity.id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if let Some(l) = p.lead_id {
            out.push(Recipient {
                user_id: l,
                reason: "lead",
            });
        }
        if p.lead_id != Some(p.created_by) {
            out.push(Recipient {
                user_id: p.created_by,
                reason: "creator",
            });
        }
        Ok(out)
    }
}

/// An automation's `notify` names whom it tells.
pub(crate) struct Notified;

#[kernel::async_trait::async_trait(?Send)]
impl Recipients for Notified {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        _tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        Ok(event
            .payload_as::<crate::events::AutomationNotified>()
            .map(|e| e.user_ids)
            .unwrap_or_default()
            .into_iter()
            .map(|user_id| Recipient {
                user_id,
                reason: "automation",
            })
            .collect())
    }
}
