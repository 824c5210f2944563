//! Automations: a board's rules, trigger (a task event, or `task.overdue` from an hourly
//! sweep) → conditions (over the task's fields) → actions (notify, set a field, reassign, move),
//! each run logged. The changes an automation makes are published with the run as their actor,
//! so the runs they trigger in turn belong to the same chain: an automation runs at most once per
//! task in a chain, and a chain stops three automations deep; both refusals are logged
//! (`loop_prevented`). Runs are keyed by (automation, event, task): an event delivered twice runs
//! nothing twice.

use chrono::{DateTime, Utc};
use kernel::module::DomainEvent;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{By, PRIORITIES, RUN, STATUSES, boards, publish, tasks as task_service};
use crate::entity::{automation, automation_run, project, task};
use crate::events::AutomationNotified;
use crate::module::Settings;

pub(crate) const TRIGGERS: [&str; 6] = [
    "task.created",
    "task.updated",
    "task.assigned",
    "task.status_changed",
    "task.completed",
    "task.overdue",
];
const FIELDS: [&str; 6] = [
    "status",
    "priority",
    "assignee_id",
    "column_id",
    "project_id",
    "overdue_days",
];
const NOTIFY_TARGETS: [&str; 4] = ["assignee", "creator", "watchers", "project_lead"];
/// Automations in a chain (one's change triggering the next) at most.
pub(crate) const MAX_DEPTH: i32 = 3;
pub(crate) const MAX_RULES: usize = 10;

/// A condition on the task: `{field, <op>: value}` with one operator of `eq`, `ne`, `in`,
/// `gte`, `lte` (numbers), or for `task.status_changed` on `status`, `from`/`to` (the statuses
/// it left and went to), as the suite spec writes them (`{"field": "overdue_days", "gte": 3}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::AutomationCondition)]
pub struct Condition {
    /// `status`, `priority`, `assignee_id`, `column_id`, `project_id` or `overdue_days` (whole
    /// days past the due date; none without one).
    #[schema(pattern = "^(status|priority|assignee_id|column_id|project_id|overdue_days)$")]
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub eq: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ne: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What an automation does, in order; the first refused stops the run (`failed`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = tasks::AutomationAction)]
pub enum Action {
    /// Tells users (in-app and by their preferences): `assignee`, `creator`, `watchers` or
    /// `project_lead`.
    Notify {
        #[schema(pattern = "^(assignee|creator|watchers|project_lead)$")]
        target: String,
        #[schema(min_length = 1, max_length = 500)]
        message: String,
    },
    /// `priority` (`low`…`urgent`), `status` (as a PATCH moves it) or `due_date` (RFC 3339, or
    /// `null`).
    SetField {
        #[schema(pattern = "^(priority|status|due_date)$")]
        field: String,
        #[schema(value_type = Option<String>)]
        value: Value,
    },
    /// To `project_lead`, `creator`, `unassigned` (the pool) or a member's id.
    Reassign {
        #[schema(max_length = 36)]
        target: String,
    },
    /// To the end of a column of the board.
    Move { column_id: Uuid },
    /// Puts a tag of the org (collab's; not a `bot:` tag) on the task, in the name of the
    /// automation's author.
    AddTag { tag_id: Uuid },
}

pub(crate) struct Rule {
    pub name: String,
    pub trigger: String,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub enabled: bool,
}

fn bad(field: String, message: impl Into<String>) -> ApiError {
    ApiError::validation(&field, message.into())
}

fn check_condition(i: usize, c: &mut Condition, trigger: &str) -> Result<(), ApiError> {
    let f = |k: &str| format!("conditions[{i}].{k}");
    super::one_of(&f("field"), &c.field, &FIELDS)?;
    let ops = [
        c.eq.is_some(),
        c.ne.is_some(),
        c.one_of.is_some(),
        c.gte.is_some(),
        c.lte.is_some(),
        c.from.is_some(),
        c.to.is_some(),
    ];
    if ops.iter().filter(|o| **o).count() != 1 {
        return Err(bad(
            f("field"),
            "one operator: eq, ne, in, gte, lte, from or to",
        ));
    }
    let numeric = c.field == "overdue_days";
    if numeric != (c.gte.is_some() || c.lte.is_some()) {
        return Err(bad(
            f("field"),
            "gte and lte compare `overdue_days`, which only they compare",
        ));
    }
    if (c.from.is_some() || c.to.is_some())
        && (c.field != "status" || trigger != "task.status_changed")
    {
        return Err(bad(
            f("field"),
            "from and to are the statuses of a `task.status_changed` trigger",
        ));
    }
    let values: Vec<&Value> =
        c.eq.iter()
            .chain(c.ne.iter())
            .chain(c.one_of.iter().flatten())
            .collect();
    if c.one_of
        .as_ref()
        .is_some_and(|v| v.is_empty() || v.len() > 20)
    {
        return Err(bad(f("in"), "1 to 20 values"));
    }
    for v in values {
        let ok = match (c.field.as_str(), v) {
            (_, Value::Null) => c.field != "status" && c.field != "priority",
            ("status", Value::String(s)) => STATUSES.contains(&s.as_str()),
            ("priority", Value::String(s)) => PRIORITIES.contains(&s.as_str()),
            (_, Value::String(s)) => Uuid::parse_str(s).is_ok(),
            _ => false,
        };
        if !ok {
            return Err(bad(f("eq"), format!("not a value `{}` takes", c.field)));
        }
    }
    for s in c.from.iter().chain(c.to.iter()) {
        super::one_of(&f("to"), s, &STATUSES)?;
    }
    // Ids compare as the task's fields are written: lower case, hyphenated.
    for v in
        c.eq.iter_mut()
            .chain(c.ne.iter_mut())
            .chain(c.one_of.iter_mut().flatten())
    {
        if let Some(id) = v.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            *v = json!(id);
        }
    }
    Ok(())
}

async fn check_action(
    ctx: &CellContext,
    tx: &TenantTx,
    board_id: Uuid,
    i: usize,
    a: &mut Action,
) -> Result<(), ApiError> {
    let f = |k: &str| format!("actions[{i}].{k}");
    match a {
        Action::Notify { target, message } => {
            super::one_of(&f("target"), target, &NOTIFY_TARGETS)?;
            *message = kernel::http::trimmed(&f("message"), message, 500)?;
        }
        Action::SetField { field, value } => {
            let ok = match (field.as_str(), &*value) {
                ("priority", Value::String(s)) => PRIORITIES.contains(&s.as_str()),
                ("status", Value::String(s)) => STATUSES.contains(&s.as_str()),
                ("due_date", Value::Null) => true,
                ("due_date", Value::String(s)) => DateTime::parse_from_rfc3339(s).is_ok(),
                _ => false,
            };
            if !ok {
                return Err(bad(
                    f("value"),
                    "priority (low, medium, high, urgent), status, or due_date (RFC 3339 or null)",
                ));
            }
        }
        Action::Reassign { target } => {
            if !matches!(target.as_str(), "project_lead" | "creator" | "unassigned") {
                let user = Uuid::parse_str(target).map_err(|_| {
                    bad(
                        f("target"),
                        "project_lead, creator, unassigned or a member's id",
                    )
                })?;
                super::worker(ctx, tx, &f("target"), user).await?;
            }
        }
        Action::Move { column_id } => {
            let col = boards::column(tx, *column_id).await?;
            if col.is_none_or(|c| c.board_id != board_id) {
                return Err(bad(f("column_id"), "not a column of this board"));
            }
        }
        Action::AddTag { tag_id } => collab::check_tag(tx, *tag_id)
            .await
            .map_err(|e| bad(f("tag_id"), e.message().to_owned()))?,
    }
    Ok(())
}

/// Checks a rule against its board.
pub(crate) async fn check(
    ctx: &CellContext,
    tx: &TenantTx,
    board_id: Uuid,
    rule: &mut Rule,
) -> Result<(), ApiError> {
    super::one_of("trigger", &rule.trigger, &TRIGGERS)?;
    if rule.conditions.len() > MAX_RULES {
        return Err(ApiError::validation("conditions", "at most 10"));
    }
    if rule.actions.is_empty() || rule.actions.len() > MAX_RULES {
        return Err(ApiError::validation("actions", "1 to 10"));
    }
    for (i, c) in rule.conditions.iter_mut().enumerate() {
        check_condition(i, c, &rule.trigger)?;
    }
    for (i, a) in rule.actions.iter_mut().enumerate() {
        check_action(ctx, tx, board_id, i, a).await?;
    }
    Ok(())
}

pub(crate) fn no_automation() -> ApiError {
    ApiError::not_found("no such automation in this organization")
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<automation::Model, ApiError> {
    tx.repo::<automation::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_automation)
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    board_id: Uuid,
    mut rule: Rule,
) -> Result<automation::Model, ApiError> {
    boards::board(tx, board_id).await?;
    check(ctx, tx, board_id, &mut rule).await?;
    let repo = tx.repo::<automation::Entity>();
    let held = repo
        .find()
        .filter(automation::Column::BoardId.eq(board_id))
        .count(repo.conn())
        .await?;
    if held >= 100 {
        return Err(ApiError::conflict("a board has at most 100 automations"));
    }
    let now = Utc::now();
    Ok(repo
        .insert(automation::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            board_id: Set(board_id),
            name: Set(rule.name),
            trigger: Set(rule.trigger),
            conditions: Set(to_json(&rule.conditions)?),
            actions: Set(to_json(&rule.actions)?),
            enabled: Set(rule.enabled),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?)
}

pub(crate) async fn replace(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
    mut rule: Rule,
) -> Result<automation::Model, ApiError> {
    let row = get(tx, id).await?;
    check(ctx, tx, row.board_id, &mut rule).await?;
    let mut m: automation::ActiveModel = row.into();
    m.name = Set(rule.name);
    m.trigger = Set(rule.trigger);
    m.conditions = Set(to_json(&rule.conditions)?);
    m.actions = Set(to_json(&rule.actions)?);
    m.enabled = Set(rule.enabled);
    m.updated_at = Set(Utc::now());
    Ok(tx.repo::<automation::Entity>().update(m).await?)
}

pub(crate) fn parts(row: &automation::Model) -> (Vec<Condition>, Vec<Action>) {
    (
        serde_json::from_value(row.conditions.clone()).unwrap_or_default(),
        serde_json::from_value(row.actions.clone()).unwrap_or_default(),
    )
}

/// The task's value of a condition's field, as JSON.
fn value_of(t: &task::Model, field: &str, now: DateTime<Utc>) -> Value {
    let id = |v: Option<Uuid>| v.map_or(Value::Null, |u| json!(u));
    match field {
        "status" => json!(t.status),
        "priority" => json!(t.priority),
        "assignee_id" => id(t.assignee_id),
        "column_id" => id(t.column_id),
        "project_id" => id(t.project_id),
        "overdue_days" => match t.due_date {
            Some(d) if d < now && !matches!(t.status.as_str(), "completed" | "cancelled") => {
                json!((now - d).num_days())
            }
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

fn holds(c: &Condition, t: &task::Model, event: Option<&DomainEvent>, now: DateTime<Utc>) -> bool {
    let v = value_of(t, &c.field, now);
    let change = |k: &str| event.map(|e| e.payload[k].clone()).unwrap_or(Value::Null);
    if let Some(x) = &c.eq {
        return v == *x;
    }
    if let Some(x) = &c.ne {
        return v != *x;
    }
    if let Some(xs) = &c.one_of {
        return xs.contains(&v);
    }
    if let Some(x) = c.gte {
        return v.as_f64().is_some_and(|n| n >= x);
    }
    if let Some(x) = c.lte {
        return v.as_f64().is_some_and(|n| n <= x);
    }
    if let Some(x) = &c.from {
        return change("from") == json!(x);
    }
    if let Some(x) = &c.to {
        return change("to") == json!(x);
    }
    false
}

/// Who a notify action names.
async fn targets(tx: &TenantTx, t: &task::Model, target: &str) -> Result<Vec<Uuid>, ApiError> {
    Ok(match target {
        "assignee" => t.assignee_id.into_iter().collect(),
        "creator" => vec![t.created_by],
        "watchers" => super::parts::watchers(tx, &[t.id])
            .await?
            .into_iter()
            .map(|w| w.user_id)
            .collect(),
        "project_lead" => lead(tx, t).await?.into_iter().collect(),
        _ => Vec::new(),
    })
}

async fn lead(tx: &TenantTx, t: &task::Model) -> Result<Option<Uuid>, ApiError> {
    let Some(p) = t.project_id else {
        return Ok(None);
    };
    Ok(tx
        .repo::<project::Entity>()
        .get(p)
        .await?
        .and_then(|p| p.lead_id))
}

/// Applies the actions in order, as run `run`; returns what each did.
async fn apply(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    a: &automation::Model,
    run: Uuid,
    task_id: Uuid,
    actions: &[Action],
) -> Result<Vec<Value>, ApiError> {
    let by = By::Run(run);
    let mut done = Vec::new();
    for action in actions {
        let t = task_service::get(tx, task_id).await?;
        match action {
            Action::Notify { target, message } => {
                let users = targets(tx, &t, target).await?;
                if !users.is_empty() {
                    publish(
                        ctx,
                        tx,
                        by,
                        &AutomationNotified {
                            task_id,
                            automation_id: a.id,
                            user_ids: users.clone(),
                            message: message.clone(),
                        },
                    )
                    .await?;
                }
                done.push(json!({"type": "notify", "users": users}));
            }
            Action::SetField { field, value } => {
                let mut change = task_service::Change::default();
                match field.as_str() {
                    "priority" => change.priority = value.as_str().map(str::to_owned),
                    "status" => change.status = value.as_str().map(str::to_owned),
                    _ => {
                        change.due_date = Some(
                            value
                                .as_str()
                                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                                .map(|d| d.with_timezone(&Utc)),
                        )
                    }
                }
                task_service::update(ctx, tx, by, settings, task_id, change).await?;
                done.push(json!({"type": "set_field", "field": field, "value": value}));
            }
            Action::Reassign { target } => {
                let to = match target.as_str() {
                    "unassigned" => None,
                    "creator" => Some(t.created_by),
                    "project_lead" => lead(tx, &t).await?,
                    id => Uuid::parse_str(id).ok(),
                };
                let change = task_service::Change {
                    assignee_id: Some(to),
                    ..Default::default()
                };
                task_service::update(ctx, tx, by, settings, task_id, change).await?;
                done.push(json!({"type": "reassign", "assignee_id": to}));
            }
            Action::Move { column_id } => {
                task_service::move_to(ctx, tx, by, settings, task_id, *column_id, None).await?;
                done.push(json!({"type": "move", "column_id": column_id}));
            }
            Action::AddTag { tag_id } => {
                let added = collab::tag_all(
                    ctx,
                    tx,
                    a.created_by,
                    *tag_id,
                    crate::loader::TASK,
                    &[task_id],
                )
                .await?;
                done.push(json!({"type": "add_tag", "tag_id": tag_id, "added": added == 1}));
            }
        }
    }
    Ok(done)
}

/// Runs the automations of a task's board that `trigger` fires, for `event_id` (the event, or
/// the overdue sweep's key); returns how many ran (applied or failed).
#[expect(clippy::too_many_arguments)]
pub(crate) async fn fire(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    trigger: &str,
    event_id: Uuid,
    event: Option<&DomainEvent>,
    t: &task::Model,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let Some(board) = t.board_id else {
        return Ok(0);
    };
    let repo = tx.repo::<automation::Entity>();
    let rules = repo
        .find()
        .filter(automation::Column::BoardId.eq(board))
        .filter(automation::Column::Trigger.eq(trigger))
        .filter(automation::Column::Enabled.eq(true))
        .order_by_asc(automation::Column::CreatedAt)
        .order_by_asc(automation::Column::Id)
        .all(repo.conn())
        .await?;
    if rules.is_empty() {
        return Ok(0);
    }
    // The chain this event belongs to: its own, or that of the run that caused it.
    let runs = tx.repo::<automation_run::Entity>();
    let (chain, depth) = match event.and_then(|e| e.actor.as_ref()) {
        Some(actor) if actor.kind == RUN => match runs.get(actor.id).await? {
            Some(r) => (r.chain_id, r.depth + 1),
            None => (event_id, 0),
        },
        _ => (event_id, 0),
    };
    let mut ran = 0;
    for a in rules {
        let seen = |q: automation_run::Column, v: Uuid| {
            runs.find()
                .filter(automation_run::Column::AutomationId.eq(a.id))
                .filter(automation_run::Column::TaskId.eq(t.id))
                .filter(q.eq(v))
        };
        if seen(automation_run::Column::EventId, event_id)
            .one(runs.conn())
            .await?
            .is_some()
        {
            continue;
        }
        let (conditions, actions) = parts(&a);
        let looped = seen(automation_run::Column::ChainId, chain)
            .one(runs.conn())
            .await?
            .is_some();
        let (outcome, detail) = if depth >= MAX_DEPTH {
            (
                "loop_prevented",
                json!({"reason": format!("{MAX_DEPTH} automations deep in one chain")}),
            )
        } else if looped {
            (
                "loop_prevented",
                json!({"reason": "it already ran on this task in this chain"}),
            )
        } else if !conditions.iter().all(|c| holds(c, t, event, now)) {
            continue;
        } else {
            ("applied", Value::Null)
        };
        let id = Uuid::now_v7();
        let mut row = automation_run::ActiveModel {
            id: Set(id),
            org_id: Set(tx.org_id()),
            automation_id: Set(a.id),
            task_id: Set(t.id),
            event_id: Set(event_id),
            chain_id: Set(chain),
            depth: Set(depth),
            outcome: Set(outcome.into()),
            detail: Set(detail),
            created_at: Set(now),
        };
        runs.insert(row.clone()).await?;
        ran += 1;
        if outcome != "applied" {
            continue;
        }
        let (outcome, detail) = match apply(ctx, tx, settings, &a, id, t.id, &actions).await {
            Ok(done) => ("applied", json!({"actions": done})),
            Err(e) => ("failed", json!({"error": e.message()})),
        };
        row.outcome = Set(outcome.into());
        row.detail = Set(detail);
        runs.update(row).await?;
    }
    Ok(ran)
}

/// A task event: the automations it triggers.
pub(crate) async fn on_event(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    event: &DomainEvent,
) -> Result<usize, ApiError> {
    let Some(trigger) = event.name.strip_prefix("tasks.") else {
        return Ok(0);
    };
    if !TRIGGERS.contains(&trigger) || event.entity.kind != crate::loader::TASK {
        return Ok(0);
    }
    let Some(t) = tx.repo::<task::Entity>().get(event.entity.id).await? else {
        return Ok(0);
    };
    fire(
        ctx,
        tx,
        settings,
        trigger,
        event.id,
        Some(event),
        &t,
        Utc::now(),
    )
    .await
}

/// The sweep's key for a task overdue since `due`: one run per automation and due date.
pub(crate) fn overdue_key(task: Uuid, due: DateTime<Utc>) -> Uuid {
    Uuid::from_u128(task.as_u128() ^ u128::from(due.timestamp_millis().unsigned_abs()))
}

/// The overdue tasks of one org's boards that have `task.overdue` automations, as of `now`.
pub(crate) async fn sweep_org(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let repo = tx.repo::<automation::Entity>();
    let boards: Vec<Uuid> = repo
        .find()
        .filter(automation::Column::Trigger.eq("task.overdue"))
        .filter(automation::Column::Enabled.eq(true))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|a| a.board_id)
        .collect();
    if boards.is_empty() {
        return Ok(0);
    }
    let trepo = tx.repo::<task::Entity>();
    let overdue = trepo
        .find()
        .filter(task::Column::BoardId.is_in(boards))
        .filter(task::Column::DueDate.lt(now))
        .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
        .order_by_asc(task::Column::DueDate)
        .all(trepo.conn())
        .await?;
    let mut ran = 0;
    for t in overdue {
        let Some(due) = t.due_date else { continue };
        ran += fire(
            ctx,
            tx,
            settings,
            "task.overdue",
            overdue_key(t.id, due),
            None,
            &t,
            now,
        )
        .await?;
    }
    Ok(ran)
}

/// The overdue sweep across orgs: each org with an enabled `task.overdue` automation, in its
/// own transaction.
pub(crate) async fn sweep(ctx: &CellContext, now: DateTime<Utc>) -> anyhow::Result<usize> {
    use kernel::sea_orm::ExprTrait;
    let Some(settings) = ctx.service::<Settings>() else {
        anyhow::bail!("the tasks module is not ready");
    };
    let orgs = kernel::db::orgs_with::<automation::Entity>(
        ctx.db(),
        automation::Column::Trigger
            .eq("task.overdue")
            .and(automation::Column::Enabled.eq(true)),
    )
    .await?;
    let mut ran = 0;
    for org in orgs {
        let (ctx, settings) = (ctx.clone(), settings.clone());
        ran += kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(org).await?;
            let n = sweep_org(&ctx, &tx, &settings, now)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            tx.commit().await?;
            Ok(n)
        })
        .await?;
    }
    Ok(ran)
}
