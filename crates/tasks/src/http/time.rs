//! Time: `/tasks/{id}/timer/start|stop`, `/time-entries` (the report, manual entries).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::ValidJson;
use kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::time_entry;
use crate::permissions::{ReadTime, WriteTime};
use crate::service::time as service;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(start)
        .service(stop)
        .service(report)
        .service(add);
}

/// A time entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::TimeEntry)]
pub struct TimeEntry {
    pub id: Uuid,
    pub task_id: Uuid,
    pub user_id: Uuid,
    pub started_at: DateTime<Utc>,
    /// `None` while the timer runs.
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub description: Option<String>,
    pub billable: bool,
}

impl From<time_entry::Model> for TimeEntry {
    fn from(m: time_entry::Model) -> Self {
        Self {
            id: m.id,
            task_id: m.task_id,
            user_id: m.user_id,
            started_at: m.started_at,
            ended_at: m.ended_at,
            duration_seconds: m.duration_seconds,
            description: m.description,
            billable: m.billable,
        }
    }
}

/// A started timer, and the one it stopped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::TimerStarted)]
pub struct TimerStarted {
    pub running: TimeEntry,
    /// The caller's timer on another task, stopped by this start.
    pub stopped: Option<TimeEntry>,
}

/// Starts the caller's timer on a task. One timer runs per user: one running on another task
/// is stopped (and returned in `stopped`); on this task, it keeps running.
#[utoipa::path(tag = TAG, responses(
    (status = 201, body = TimerStarted), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/tasks/{id}/timer/start")]
pub(crate) async fn start(tx: WriteTime, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let (running, stopped) = service::start(&tx, tx.caller().user_id, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(TimerStarted {
        running: running.into(),
        stopped: stopped.map(TimeEntry::from),
    }))
}

/// Stops the caller's timer on a task: the entry gets its end and duration (at most 7 days).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = TimeEntry), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/tasks/{id}/timer/stop")]
pub(crate) async fn stop(tx: WriteTime, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::stop(&tx, tx.caller().user_id, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(TimeEntry::from(row)))
}

/// `POST /time-entries`: time spent, recorded by hand.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewTimeEntry)]
pub struct NewTimeEntry {
    #[garde(skip)]
    pub task_id: Uuid,
    #[garde(skip)]
    pub started_at: DateTime<Utc>,
    /// After `started_at`, by at most 7 days; not in the future.
    #[garde(skip)]
    pub ended_at: DateTime<Utc>,
    #[schema(max_length = 2000)]
    #[garde(inner(length(chars, max = 2000)))]
    pub description: Option<String>,
    /// Default true.
    #[garde(skip)]
    pub billable: Option<bool>,
}

/// Records time spent on a task by the caller.
#[utoipa::path(tag = TAG, request_body = NewTimeEntry, responses(
    (status = 201, body = TimeEntry), (status = 401), (status = 403), (status = 422)))]
#[post("/time-entries")]
pub(crate) async fn add(tx: WriteTime, body: ValidJson<NewTimeEntry>) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let m = service::Manual {
        task_id: b.task_id,
        started_at: b.started_at,
        ended_at: b.ended_at,
        description: kernel::http::trimmed_optional("description", b.description, 2000)?,
        billable: b.billable.unwrap_or(true),
    };
    let row = service::add(&tx, tx.caller().user_id, m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(TimeEntry::from(row)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportParams {
    /// One task.
    pub task: Option<Uuid>,
    /// One user.
    pub user: Option<Uuid>,
    /// The tasks of one project.
    pub project: Option<Uuid>,
    /// Entries that started at or after this (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries that started before this.
    pub to: Option<DateTime<Utc>>,
    /// Entries listed (default 100, at most 1 000); the totals count every entry.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// Seconds of one task or user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::TimeTotal)]
pub struct TimeTotal {
    pub id: Uuid,
    pub seconds: i64,
    pub billable_seconds: i64,
}

/// The time report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::TimeReport)]
pub struct TimeReport {
    /// Finished entries only.
    pub total_seconds: i64,
    pub billable_seconds: i64,
    pub by_task: Vec<TimeTotal>,
    pub by_user: Vec<TimeTotal>,
    /// By the project of the task (tasks in no project left out).
    pub by_project: Vec<TimeTotal>,
    /// The entries, oldest first (running timers too).
    pub entries: Vec<TimeEntry>,
    /// More entries matched than were listed.
    pub more: bool,
}

fn totals(map: BTreeMap<Uuid, (i64, i64)>) -> Vec<TimeTotal> {
    map.into_iter()
        .map(|(id, (seconds, billable_seconds))| TimeTotal {
            id,
            seconds,
            billable_seconds,
        })
        .collect()
}

/// Time spent, by task, user and project (`task`, `user`, `project`, `from`, `to`), with the
/// entries.
#[utoipa::path(tag = TAG, params(ReportParams), responses(
    (status = 200, body = TimeReport), (status = 401), (status = 403), (status = 422)))]
#[get("/time-entries")]
pub(crate) async fn report(tx: ReadTime, q: web::Query<ReportParams>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    if let (Some(f), Some(t)) = (q.from, q.to)
        && t < f
    {
        return Err(ApiError::validation("to", "must not be before `from`"));
    }
    let limit = super::count_param("limit", q.limit, 100, 1_000)?;
    let filter = service::Filter {
        task: q.task,
        user: q.user,
        project: q.project,
        from: q.from,
        to: q.to,
    };
    let mut by_task: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let mut by_user: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let (mut total, mut billable) = (0, 0);
    for (task, user, is_billable, seconds) in service::totals(&tx, &filter).await? {
        let b = if is_billable { seconds } else { 0 };
        total += seconds;
        billable += b;
        for (map, key) in [(&mut by_task, task), (&mut by_user, user)] {
            let e = map.entry(key).or_default();
            e.0 += seconds;
            e.1 += b;
        }
    }
    let mut by_project: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let ids: Vec<Uuid> = by_task.keys().copied().collect();
    for (task, project) in service::projects_of(&tx, &ids).await? {
        if let Some(t) = by_task.get(&task) {
            let e = by_project.entry(project).or_default();
            e.0 += t.0;
            e.1 += t.1;
        }
    }
    let mut entries = service::entries(&tx, &filter, limit).await?;
    let more = entries.len() as u64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(TimeReport {
        total_seconds: total,
        billable_seconds: billable,
        by_task: totals(by_task),
        by_user: totals(by_user),
        by_project: totals(by_project),
        entries: entries.into_iter().map(TimeEntry::from).collect(),
        more,
    }))
}
