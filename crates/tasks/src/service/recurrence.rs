//! Recurring tasks: an RFC 5545 rule (the `rrule` crate) on a task, counted in an IANA time
//! zone, so "every Monday at 09:00" stays 09:00 local across daylight-saving changes. A
//! schedule tick (every minute, once across instances) clones the task at each occurrence that
//! has come; each clone names its rule and occurrence, under a unique key, so no occurrence is
//! made twice whatever runs at once.

use chrono::{DateTime, Utc};
use kernel::http::Caller;
use kernel::identity::Tz;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, ExprTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use super::{in_org, parts, tasks as task_service};
use crate::entity::{recurrence, task};
use crate::module::Settings;

pub(crate) const STRATEGIES: [&str; 3] = ["same", "rotate", "round_robin"];
/// Occurrences one rule makes per tick at most (a cell that was down catches up over ticks).
const PER_TICK: usize = 10;
/// Rules per read of the due ones.
const BATCH: u64 = 200;
/// Upcoming occurrences shown with a rule.
pub(crate) const SHOWN: u16 = 5;

/// A rule checked against its start: the occurrences it makes.
pub(crate) struct Schedule {
    set: rrule::RRuleSet,
    tz: Tz,
}

pub(crate) fn zone(name: &str) -> Result<Tz, ApiError> {
    kernel::identity::parse_zone(name)
        .ok_or_else(|| ApiError::validation("timezone", "not an IANA time zone (Europe/Paris)"))
}

impl Schedule {
    /// `rule` is an RRULE value (`FREQ=WEEKLY;BYDAY=MO`, an `RRULE:` prefix allowed), counted
    /// from `starts_at` as the wall time of `timezone` then.
    pub(crate) fn new(
        rule: &str,
        timezone: &str,
        starts_at: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let tz = zone(timezone)?;
        let text = rule.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        if text.is_empty() || text.contains(['\n', '\r']) {
            return Err(ApiError::validation("rule", "one RRULE value (FREQ=…;…)"));
        }
        let parsed: rrule::RRule<rrule::Unvalidated> = text
            .parse()
            .map_err(|e: rrule::RRuleError| ApiError::validation("rule", e.to_string()))?;
        if matches!(
            parsed.get_freq(),
            rrule::Frequency::Secondly | rrule::Frequency::Minutely
        ) {
            return Err(ApiError::validation(
                "rule",
                "tasks recur hourly at most (FREQ=HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY)",
            ));
        }
        let start = starts_at.with_timezone(&rrule::Tz::Tz(tz));
        let set = parsed
            .build(start)
            .map_err(|e| ApiError::validation("rule", e.to_string()))?;
        Ok(Self { set, tz })
    }

    /// The first occurrences strictly after `after` (at most `n`).
    pub(crate) fn after(&self, after: DateTime<Utc>, n: u16) -> Vec<DateTime<Utc>> {
        let from = after.with_timezone(&rrule::Tz::Tz(self.tz));
        self.set
            .clone()
            .after(from)
            .all(n.saturating_add(1))
            .dates
            .into_iter()
            .map(|d| d.with_timezone(&Utc))
            .filter(|d| *d > after)
            .take(usize::from(n))
            .collect()
    }

    /// The first occurrence at or after `at`.
    pub(crate) fn first_from(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after(at - chrono::Duration::seconds(1), 1)
            .into_iter()
            .next()
    }

    /// An occurrence as the wall time of the rule's zone (`2027-03-29T09:00:00+02:00`).
    pub(crate) fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz).to_rfc3339()
    }
}

pub(crate) fn no_recurrence() -> ApiError {
    ApiError::not_found("the task does not recur")
}

pub(crate) async fn of_task(
    tx: &TenantTx,
    task_id: Uuid,
) -> Result<Option<recurrence::Model>, ApiError> {
    let repo = tx.repo::<recurrence::Entity>();
    Ok(repo
        .find()
        .filter(recurrence::Column::TaskId.eq(task_id))
        .one(repo.conn())
        .await?)
}

pub(crate) struct RuleInput {
    pub rule: String,
    pub timezone: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub strategy: String,
    pub assignees: Vec<Uuid>,
    pub enabled: bool,
}

/// Sets (or replaces) the rule of a task; the next occurrence is the first one from now on.
pub(crate) async fn set(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    task_id: Uuid,
    input: RuleInput,
) -> Result<recurrence::Model, ApiError> {
    let template = task_service::get(tx, task_id).await?;
    super::one_of("assignee_strategy", &input.strategy, &STRATEGIES)?;
    let now = Utc::now();
    let starts_at = input
        .starts_at
        .or(template.start_date)
        .or(template.due_date)
        .unwrap_or(now);
    let schedule = Schedule::new(&input.rule, &input.timezone, starts_at)?;
    match input.strategy.as_str() {
        "same" if !input.assignees.is_empty() => {
            return Err(ApiError::validation(
                "assignees",
                "`same` gives every occurrence the task's assignee: name no one",
            ));
        }
        "rotate" | "round_robin" if input.assignees.is_empty() => {
            return Err(ApiError::validation(
                "assignees",
                "the members who take turns (at least one)",
            ));
        }
        _ => {}
    }
    let mut seen = std::collections::HashSet::new();
    for (i, a) in input.assignees.iter().enumerate() {
        if !seen.insert(*a) {
            return Err(ApiError::validation(
                &format!("assignees[{i}]"),
                "named twice",
            ));
        }
        super::worker(ctx, tx, &format!("assignees[{i}]"), *a).await?;
    }
    // A changed rule goes on after the occurrences already made.
    let last = match of_task(tx, task_id).await? {
        Some(old) => last_made(tx, old.id).await?,
        None => None,
    };
    let from = [
        Some(starts_at),
        Some(now),
        last.map(|l| l + chrono::Duration::seconds(1)),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(now);
    let next = schedule.first_from(from);
    let assignees = serde_json::to_value(&input.assignees).map_err(ApiError::internal)?;
    let repo = tx.repo::<recurrence::Entity>();
    match of_task(tx, task_id).await? {
        Some(old) => {
            let mut m: recurrence::ActiveModel = old.into();
            m.rule = Set(input.rule.trim().to_owned());
            m.timezone = Set(input.timezone);
            m.starts_at = Set(starts_at);
            m.assignee_strategy = Set(input.strategy);
            m.assignees = Set(assignees);
            m.enabled = Set(input.enabled);
            m.next_at = Set(next);
            m.updated_at = Set(now);
            Ok(repo.update(m).await?)
        }
        None => Ok(repo
            .insert(recurrence::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                task_id: Set(task_id),
                rule: Set(input.rule.trim().to_owned()),
                timezone: Set(input.timezone),
                starts_at: Set(starts_at),
                assignee_strategy: Set(input.strategy),
                assignees: Set(assignees),
                occurrences: Set(0),
                next_at: Set(next),
                enabled: Set(input.enabled),
                created_by: Set(by),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?),
    }
}

/// The latest occurrence a rule made (its clones in the trash too).
async fn last_made(tx: &TenantTx, id: Uuid) -> Result<Option<DateTime<Utc>>, ApiError> {
    let repo = tx.repo::<task::Entity>();
    Ok(repo
        .find_any()
        .select_only()
        .column_as(task::Column::OccursAt.max(), "last")
        .filter(task::Column::RecurrenceId.eq(id))
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(repo.conn())
        .await?
        .flatten())
}

/// Whether occurrence `at` of rule `id` was made (its clone may be in the trash).
async fn made(tx: &TenantTx, id: Uuid, at: DateTime<Utc>) -> Result<bool, ApiError> {
    let repo = tx.repo::<task::Entity>();
    Ok(repo
        .find_any()
        .filter(task::Column::RecurrenceId.eq(id))
        .filter(task::Column::OccursAt.eq(at))
        .count(repo.conn())
        .await?
        > 0)
}

pub(crate) fn schedule_of(r: &recurrence::Model) -> Result<Schedule, ApiError> {
    Schedule::new(&r.rule, &r.timezone, r.starts_at)
}

fn assignees(r: &recurrence::Model) -> Vec<Uuid> {
    serde_json::from_value(r.assignees.clone()).unwrap_or_default()
}

/// Who takes occurrence number `n`: `same` → the task's assignee; `rotate` → the listed
/// members in turn; `round_robin` → the listed member with the fewest open tasks (the first
/// listed on a tie). Members who left are passed over; none left: the pool.
async fn assignee_for(
    ctx: &CellContext,
    tx: &TenantTx,
    r: &recurrence::Model,
    template: &task::Model,
    n: usize,
) -> Result<Option<Uuid>, ApiError> {
    let list = assignees(r);
    let mut candidates = Vec::new();
    match r.assignee_strategy.as_str() {
        "rotate" => {
            for i in 0..list.len() {
                candidates.push(list[(n + i) % list.len()]);
            }
        }
        "round_robin" => {
            let repo = tx.repo::<task::Entity>();
            let mut load = Vec::new();
            for (i, u) in list.iter().enumerate() {
                let open = repo
                    .find()
                    .filter(task::Column::AssigneeId.eq(*u))
                    .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
                    .count(repo.conn())
                    .await?;
                load.push((open, i, *u));
            }
            load.sort();
            candidates = load.into_iter().map(|(_, _, u)| u).collect();
        }
        _ => candidates.extend(template.assignee_id),
    }
    for c in candidates {
        if in_org(ctx, tx, c, false).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Clones the template as occurrence `at` (number `n`).
async fn occur(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    r: &recurrence::Model,
    template: &task::Model,
    at: DateTime<Utc>,
    n: usize,
) -> Result<task::Model, ApiError> {
    let caller = Caller {
        org_id: Some(tx.org_id()),
        ..Caller::user(r.created_by)
    };
    let due = match (template.start_date, template.due_date) {
        (Some(s), Some(d)) => Some(at + (d - s)),
        (None, Some(_)) => Some(at),
        _ => None,
    };
    let row = task_service::create(
        ctx,
        tx,
        &caller,
        settings,
        task_service::NewTask {
            title: template.title.clone(),
            description: template.description.clone(),
            status: None,
            priority: template.priority.clone(),
            board_id: template.board_id,
            column_id: None,
            parent_id: template.parent_id,
            assignee_id: assignee_for(ctx, tx, r, template, n).await?,
            start_date: Some(at),
            due_date: due,
            estimate_minutes: template.estimate_minutes,
            anchor: template.anchor_type.clone().zip(template.anchor_id),
            project_id: template.project_id,
            milestone_id: None,
            occurrence: Some((r.id, at)),
        },
    )
    .await?;
    for (list, items) in parts::checklists(tx, &[template.id]).await? {
        let titles = items.into_iter().map(|i| i.title).collect();
        parts::add_checklist(tx, row.id, list.title, titles).await?;
    }
    Ok(row)
}

/// Makes the occurrences of one rule that have come by `now`, in the org's transaction;
/// returns how many it made. Another run that made them first wins: this one changes nothing.
pub(crate) async fn run_one(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let Some(r) = tx.repo::<recurrence::Entity>().get(id).await? else {
        return Ok(0);
    };
    let (true, Some(first)) = (r.enabled, r.next_at) else {
        return Ok(0);
    };
    let Some(template) = tx.repo::<task::Entity>().get(r.task_id).await? else {
        // The task is in the trash: the rule waits for it to come back.
        return Ok(0);
    };
    let schedule = schedule_of(&r)?;
    let mut at = Some(first);
    let (mut count, mut steps) = (0, 0);
    let mut n = usize::try_from(r.occurrences).unwrap_or(0);
    while let Some(when) = at.filter(|w| *w <= now) {
        if steps == PER_TICK {
            break;
        }
        if !made(tx, id, when).await? {
            occur(ctx, tx, settings, &r, &template, when, n).await?;
            count += 1;
            n += 1;
        }
        steps += 1;
        at = schedule.after(when, 1).into_iter().next();
    }
    // Only the run that saw `first` moves the rule on.
    let moved = tx
        .repo::<recurrence::Entity>()
        .update_many(
            vec![
                (recurrence::Column::NextAt, Expr::value(at)),
                (
                    recurrence::Column::Occurrences,
                    Expr::value(i32::try_from(n).unwrap_or(i32::MAX)),
                ),
            ],
            recurrence::Column::Id
                .eq(id)
                .and(recurrence::Column::NextAt.eq(first)),
        )
        .await?;
    if moved == 0 {
        return Err(ApiError::conflict("another run made these occurrences"));
    }
    Ok(count)
}

/// The rules due by `now` across orgs, each in its org's transaction.
pub(crate) async fn run_due(ctx: &CellContext, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let Some(settings) = ctx.service::<Settings>() else {
        anyhow::bail!("the tasks module is not ready");
    };
    let mut made = 0;
    let mut after = Uuid::nil();
    loop {
        let due = kernel::db::across_orgs::<recurrence::Entity>(
            ctx.db(),
            recurrence::Column::Enabled
                .eq(true)
                .and(recurrence::Column::NextAt.lte(now))
                .and(recurrence::Column::Id.gt(after)),
            recurrence::Column::Id,
            BATCH,
        )
        .await?;
        let Some(last) = due.last().map(|(_, id)| *id) else {
            break;
        };
        for (org, id) in due {
            let ctx = ctx.clone();
            let settings = settings.clone();
            made += kernel::module::run_unsend(move || async move {
                let tx = ctx.db().tenant(org).await?;
                match run_one(&ctx, &tx, &settings, id, now).await {
                    Ok(n) => {
                        tx.commit().await?;
                        Ok(n)
                    }
                    // Made by another run, or a unique key taken by one: nothing of this run
                    // stays. Anything else is logged and the rule tried again next tick.
                    Err(e) => {
                        drop(tx);
                        tracing::warn!(org = %org, rule = %id, error = %e.message(), "a recurring task was not made");
                        Ok(0)
                    }
                }
            })
            .await?;
        }
        after = last;
    }
    Ok(made)
}
