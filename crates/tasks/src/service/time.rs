//! Time: one running timer per user (starting another stops the first), stops that compute the
//! duration, manual entries, the report.

use chrono::{DateTime, Duration, Utc};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, TenantTx};
use uuid::Uuid;

use super::tasks::get;
use crate::entity::time_entry;

/// The longest entry (a manual one, or a timer left running).
pub(crate) const MAX_ENTRY: Duration = Duration::days(7);

async fn running(tx: &TenantTx, user: Uuid) -> Result<Option<time_entry::Model>, ApiError> {
    let repo = tx.repo::<time_entry::Entity>();
    Ok(repo
        .find()
        .filter(time_entry::Column::UserId.eq(user))
        .filter(time_entry::Column::EndedAt.is_null())
        .one(repo.conn())
        .await?)
}

pub(crate) async fn finish(
    tx: &TenantTx,
    entry: time_entry::Model,
    at: DateTime<Utc>,
) -> Result<time_entry::Model, ApiError> {
    let end = at.min(entry.started_at + MAX_ENTRY).max(entry.started_at);
    let mut m: time_entry::ActiveModel = entry.clone().into();
    m.ended_at = Set(Some(end));
    m.duration_seconds = Set(Some((end - entry.started_at).num_seconds()));
    Ok(tx.repo::<time_entry::Entity>().update(m).await?)
}

/// Starts the caller's timer on a task; a timer running elsewhere is stopped first (returned
/// second). Starting it again on the same task changes nothing.
pub(crate) async fn start(
    tx: &TenantTx,
    user: Uuid,
    task_id: Uuid,
) -> Result<(time_entry::Model, Option<time_entry::Model>), ApiError> {
    get(tx, task_id).await?;
    let now = Utc::now();
    let stopped = match running(tx, user).await? {
        Some(r) if r.task_id == task_id => return Ok((r, None)),
        Some(r) => Some(finish(tx, r, now).await?),
        None => None,
    };
    let row = tx
        .repo::<time_entry::Entity>()
        .insert(time_entry::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            task_id: Set(task_id),
            user_id: Set(user),
            started_at: Set(now),
            ended_at: Set(None),
            duration_seconds: Set(None),
            description: Set(None),
            billable: Set(true),
            created_at: Set(now),
        })
        .await
        .map_err(|e| match e.sql_err() {
            // Another request started one at the same moment.
            Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::conflict("a timer was started at the same moment; try again")
            }
            _ => e.into(),
        })?;
    Ok((row, stopped))
}

/// Stops the caller's timer on a task: the duration is the time since it started.
pub(crate) async fn stop(
    tx: &TenantTx,
    user: Uuid,
    task_id: Uuid,
) -> Result<time_entry::Model, ApiError> {
    get(tx, task_id).await?;
    match running(tx, user).await? {
        Some(r) if r.task_id == task_id => finish(tx, r, Utc::now()).await,
        _ => Err(ApiError::conflict(
            "no timer of yours is running on this task",
        )),
    }
}

pub(crate) struct Manual {
    pub task_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub description: Option<String>,
    pub billable: bool,
}

pub(crate) async fn add(
    tx: &TenantTx,
    user: Uuid,
    m: Manual,
) -> Result<time_entry::Model, ApiError> {
    get(tx, m.task_id)
        .await
        .map_err(|_| ApiError::validation("task_id", "no such task"))?;
    if m.ended_at <= m.started_at || m.ended_at - m.started_at > MAX_ENTRY {
        return Err(ApiError::validation(
            "ended_at",
            "after started_at, by at most 7 days",
        ));
    }
    if m.ended_at > Utc::now() + Duration::minutes(5) {
        return Err(ApiError::validation("ended_at", "not in the future"));
    }
    Ok(tx
        .repo::<time_entry::Entity>()
        .insert(time_entry::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            task_id: Set(m.task_id),
            user_id: Set(user),
            started_at: Set(m.started_at),
            ended_at: Set(Some(m.ended_at)),
            duration_seconds: Set(Some((m.ended_at - m.started_at).num_seconds())),
            description: Set(m.description),
            billable: Set(m.billable),
            created_at: Set(Utc::now()),
        })
        .await?)
}

pub(crate) struct Filter {
    pub task: Option<Uuid>,
    pub user: Option<Uuid>,
    pub project: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn filtered(tx: &TenantTx, f: &Filter) -> kernel::sea_orm::Select<time_entry::Entity> {
    let mut select = tx.repo::<time_entry::Entity>().find();
    if let Some(t) = f.task {
        select = select.filter(time_entry::Column::TaskId.eq(t));
    }
    if let Some(u) = f.user {
        select = select.filter(time_entry::Column::UserId.eq(u));
    }
    if let Some(p) = f.project {
        use kernel::sea_orm::sea_query::Query;
        select = select.filter(
            time_entry::Column::TaskId.in_subquery(
                Query::select()
                    .column(crate::entity::task::Column::Id)
                    .from(crate::entity::task::Entity)
                    .and_where(crate::entity::task::Column::OrgId.eq(tx.org_id()))
                    .and_where(crate::entity::task::Column::ProjectId.eq(p))
                    .to_owned(),
            ),
        );
    }
    if let Some(from) = f.from {
        select = select.filter(time_entry::Column::StartedAt.gte(from));
    }
    if let Some(to) = f.to {
        select = select.filter(time_entry::Column::StartedAt.lt(to));
    }
    select
}

/// Seconds of the finished entries, by task, user and billable, summed by the database.
pub(crate) async fn totals(
    tx: &TenantTx,
    f: &Filter,
) -> Result<Vec<(Uuid, Uuid, bool, i64)>, ApiError> {
    use kernel::sea_orm::sea_query::Expr;
    Ok(filtered(tx, f)
        .filter(time_entry::Column::EndedAt.is_not_null())
        .select_only()
        .column(time_entry::Column::TaskId)
        .column(time_entry::Column::UserId)
        .column(time_entry::Column::Billable)
        .expr(Expr::cust(
            "CAST(COALESCE(SUM(duration_seconds), 0) AS BIGINT)",
        ))
        .group_by(time_entry::Column::TaskId)
        .group_by(time_entry::Column::UserId)
        .group_by(time_entry::Column::Billable)
        .into_tuple()
        .all(tx.repo::<time_entry::Entity>().conn())
        .await?)
}

/// The entries that started in `[from, to)` (of one task, one user), oldest first, at most
/// `limit + 1` (the caller tells whether there were more).
pub(crate) async fn entries(
    tx: &TenantTx,
    f: &Filter,
    limit: u64,
) -> Result<Vec<time_entry::Model>, ApiError> {
    Ok(filtered(tx, f)
        .order_by_asc(time_entry::Column::StartedAt)
        .order_by_asc(time_entry::Column::Id)
        .limit(limit + 1)
        .all(tx.repo::<time_entry::Entity>().conn())
        .await?)
}

/// The project of each of `tasks` that has one (trashed tasks too).
pub(crate) async fn projects_of(
    tx: &TenantTx,
    tasks: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
    use crate::entity::task;
    let mut out = Vec::new();
    for chunk in tasks.chunks(1_000) {
        let repo = tx.repo::<task::Entity>();
        let rows: Vec<(Uuid, Option<Uuid>)> = repo
            .find_any()
            .filter(task::Column::Id.is_in(chunk.to_vec()))
            .filter(task::Column::ProjectId.is_not_null())
            .select_only()
            .column(task::Column::Id)
            .column(task::Column::ProjectId)
            .into_tuple()
            .all(repo.conn())
            .await?;
        out.extend(rows.into_iter().filter_map(|(t, p)| Some((t, p?))));
    }
    Ok(out)
}
