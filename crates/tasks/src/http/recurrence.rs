//! `/tasks/{id}/recurrence`: the rule a task recurs by.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use kernel::http::ValidJson;
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::recurrence;
use crate::permissions::{ReadTasks, WriteTasks};
use crate::service::recurrence as service;
use crate::service::tasks as tasks_service;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(read).service(set).service(remove);
}

/// An occurrence to come.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Occurrence)]
pub struct Occurrence {
    pub at: DateTime<Utc>,
    /// The same instant as the wall time of the rule's zone.
    pub local: String,
}

/// How a task recurs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Recurrence)]
pub struct Recurrence {
    pub id: Uuid,
    /// The task each occurrence clones.
    pub task_id: Uuid,
    /// RFC 5545 RRULE.
    pub rule: String,
    /// The IANA zone the rule counts in.
    pub timezone: String,
    /// The rule's start (DTSTART): its wall time in `timezone` is the occurrences'.
    pub starts_at: DateTime<Utc>,
    /// `same`, `rotate` or `round_robin`.
    pub assignee_strategy: String,
    /// The members who take turns.
    pub assignees: Vec<Uuid>,
    pub enabled: bool,
    /// How many occurrences were made.
    pub occurrences: i32,
    /// The next occurrence (none: the rule has ended).
    pub next_at: Option<DateTime<Utc>>,
    /// The next few occurrences.
    pub upcoming: Vec<Occurrence>,
}

fn dto(r: recurrence::Model) -> Result<Recurrence, kernel::ApiError> {
    let schedule = service::schedule_of(&r)?;
    let upcoming = match r.next_at {
        Some(n) => std::iter::once(n)
            .chain(schedule.after(n, service::SHOWN - 1))
            .map(|at| Occurrence {
                at,
                local: schedule.local(at),
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Recurrence {
        id: r.id,
        task_id: r.task_id,
        assignees: serde_json::from_value(r.assignees).unwrap_or_default(),
        rule: r.rule,
        timezone: r.timezone,
        starts_at: r.starts_at,
        assignee_strategy: r.assignee_strategy,
        enabled: r.enabled,
        occurrences: r.occurrences,
        next_at: r.next_at,
        upcoming,
    })
}

/// How a task recurs (404: it does not).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Recurrence), (status = 401), (status = 403), (status = 404)))]
#[get("/tasks/{id}/recurrence")]
pub(crate) async fn read(tx: ReadTasks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let t = tasks_service::get(&tx, id.into_inner()).await?;
    let r = service::of_task(&tx, t.id)
        .await?
        .ok_or_else(service::no_recurrence)?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(dto(r)?))
}

/// `PUT /tasks/{id}/recurrence`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::RecurrenceInput)]
pub struct RecurrenceInput {
    /// An RFC 5545 RRULE value: `FREQ=WEEKLY;BYDAY=MO`, `FREQ=MONTHLY;BYMONTHDAY=1;COUNT=12`;
    /// hourly at most.
    #[schema(min_length = 1, max_length = 500, example = "FREQ=WEEKLY;BYDAY=MO")]
    #[garde(length(chars, min = 1, max = 500))]
    pub rule: String,
    /// The IANA zone the rule counts in (default: the caller's, as set in their profile, else
    /// `UTC`).
    #[schema(max_length = 64, example = "Europe/Paris")]
    #[garde(inner(length(chars, max = 64)))]
    pub timezone: Option<String>,
    /// The first occurrence (DTSTART); its wall time in `timezone` is kept by the later ones.
    /// Default: the task's start date, else its due date, else now.
    #[garde(skip)]
    pub starts_at: Option<DateTime<Utc>>,
    /// `same` (default: the task's assignee), `rotate` (the `assignees` in turn) or
    /// `round_robin` (the one of the `assignees` with the fewest open tasks).
    #[schema(pattern = "^(same|rotate|round_robin)$")]
    #[garde(skip)]
    pub assignee_strategy: Option<String>,
    /// Members who work in the org, for `rotate` and `round_robin`.
    #[schema(max_items = 50)]
    #[garde(inner(length(max = 50)))]
    pub assignees: Option<Vec<Uuid>>,
    /// Default `true`.
    #[garde(skip)]
    pub enabled: Option<bool>,
}

/// Makes a task recur (or changes its rule): a job clones it at each occurrence, dated from
/// the occurrence, with its checklists, each clone assigned as the strategy says.
#[utoipa::path(tag = TAG, request_body = RecurrenceInput, responses(
    (status = 200, body = Recurrence), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[put("/tasks/{id}/recurrence")]
pub(crate) async fn set(
    ctx: CellContext,
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<RecurrenceInput>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let timezone = match b.timezone.map(|t| t.trim().to_owned()) {
        Some(t) if !t.is_empty() => t,
        // The caller's own zone (UTC when they set none).
        _ => kernel::identity::zone(&ctx, tx.caller().user_id)
            .await?
            .name()
            .to_owned(),
    };
    let input = service::RuleInput {
        rule: b.rule,
        timezone,
        starts_at: b.starts_at,
        strategy: b.assignee_strategy.unwrap_or_else(|| "same".into()),
        assignees: b.assignees.unwrap_or_default(),
        enabled: b.enabled.unwrap_or(true),
    };
    let by = tx.caller().user_id;
    let r = service::set(&ctx, &tx, by, id.into_inner(), input).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(dto(r)?))
}

/// Stops a task recurring (the occurrences made stay).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/tasks/{id}/recurrence")]
pub(crate) async fn remove(tx: WriteTasks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let t = tasks_service::get(&tx, id.into_inner()).await?;
    let r = service::of_task(&tx, t.id)
        .await?
        .ok_or_else(service::no_recurrence)?;
    tx.repo::<recurrence::Entity>().delete(r.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
