//! The domain rules, on the org's transaction: handlers, jobs and commands share them.

pub(crate) mod automations;
pub(crate) mod boards;
pub(crate) mod members;
pub(crate) mod parts;
pub(crate) mod projects;
pub(crate) mod recurrence;
pub(crate) mod tasks;
pub(crate) mod time;

use kernel::events::Event;
use kernel::http::{Caller, InOrg, WorkInOrg};
use kernel::module::EntityRef;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

/// Task statuses (DESIGN): `completed` is terminal.
pub(crate) const STATUSES: [&str; 5] = ["todo", "in_progress", "review", "completed", "cancelled"];
pub(crate) const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];
pub(crate) const VIEW_TYPES: [&str; 4] = ["kanban", "list", "calendar", "gantt"];
pub(crate) const DEPENDENCY_KINDS: [&str; 3] =
    ["finish_to_start", "start_to_start", "finish_to_finish"];

/// Who makes a change: a user, or a run of an automation (its events name the run, so a chain
/// of automations is followed, and cut, by `crate::service::automations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    User(Uuid),
    Run(Uuid),
}

/// The actor kind of an automation's run in the events it causes.
pub(crate) const RUN: &str = "automation_run";

impl From<Uuid> for By {
    fn from(user: Uuid) -> Self {
        By::User(user)
    }
}

impl By {
    fn actor(self) -> EntityRef {
        match self {
            By::User(u) => EntityRef::user(u),
            By::Run(r) => EntityRef {
                kind: RUN.into(),
                id: r,
            },
        }
    }
}

pub(crate) async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: impl Into<By>,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events()
        .emit(tx, Some(by.into().actor()), event)
        .await?;
    Ok(())
}

pub(crate) fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
    }
}

/// 422 on `field` unless `user` works in the org (those tasks are given to, projects led by).
pub(crate) async fn worker(
    ctx: &CellContext,
    tx: &TenantTx,
    field: &str,
    user: Uuid,
) -> Result<(), ApiError> {
    match in_org(ctx, tx, user, false).await? {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            "not a member of this organization who can work on tasks",
        )),
    }
}

/// Whether `user` works in the org (members, admins, owners: those a task may be given to);
/// with `viewers`, whether they belong to it at all (those who may watch).
pub(crate) async fn in_org(
    ctx: &CellContext,
    tx: &TenantTx,
    user: Uuid,
    viewers: bool,
) -> Result<bool, ApiError> {
    let caller = Caller {
        org_id: Some(tx.org_id()),
        ..Caller::user(user)
    };
    match viewers {
        true => kernel::http::holds::<InOrg>(ctx, tx, &caller, None).await,
        false => kernel::http::holds::<WorkInOrg>(ctx, tx, &caller, None).await,
    }
}
