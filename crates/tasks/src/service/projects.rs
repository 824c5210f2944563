//! Projects (the agency model's containers of tasks and milestones), their status machine,
//! milestones (invoicing checkpoints: `tasks.milestone.reached`) and project templates.

use chrono::{DateTime, Duration, Utc};
use kernel::http::Caller;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{By, publish, tasks as task_service};
use crate::entity::{milestone, project, project_template, task};
use crate::events::{MilestoneReached, ProjectCreated, ProjectStatusChanged};
use crate::module::Settings;

pub(crate) const PROJECT_STATUSES: [&str; 5] = [
    "not_started",
    "in_progress",
    "on_hold",
    "completed",
    "cancelled",
];

pub(crate) fn no_project() -> ApiError {
    ApiError::not_found("no such project in this organization")
}

pub(crate) fn no_milestone() -> ApiError {
    ApiError::not_found("no such milestone in this organization")
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<project::Model, ApiError> {
    tx.repo::<project::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_project)
}

pub(crate) async fn milestone(tx: &TenantTx, id: Uuid) -> Result<milestone::Model, ApiError> {
    tx.repo::<milestone::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_milestone)
}

/// A project's milestones, in order.
pub(crate) async fn milestones(
    tx: &TenantTx,
    project_id: Uuid,
) -> Result<Vec<milestone::Model>, ApiError> {
    let repo = tx.repo::<milestone::Entity>();
    Ok(repo
        .find()
        .filter(milestone::Column::ProjectId.eq(project_id))
        .order_by_asc(milestone::Column::Position)
        .order_by_asc(milestone::Column::Id)
        .all(repo.conn())
        .await?)
}

/// The project statuses a project may go to from `from` (the agency model's machine:
/// not_started → in_progress → completed, in_progress ↔ on_hold, any open one → cancelled).
fn next_statuses(from: &str) -> &'static [&'static str] {
    match from {
        "not_started" => &["in_progress", "on_hold", "cancelled"],
        "in_progress" => &["on_hold", "completed", "cancelled"],
        "on_hold" => &["in_progress", "cancelled"],
        _ => &[],
    }
}

pub(crate) fn transition(from: &str, to: &str) -> Result<(), ApiError> {
    let allowed = next_statuses(from);
    match allowed.contains(&to) {
        true => Ok(()),
        false if allowed.is_empty() => Err(ApiError::conflict(format!(
            "the project is {from}, which is final"
        ))),
        false => Err(ApiError::conflict(format!(
            "a project goes from {from} to {} only",
            allowed.join(", ")
        ))),
    }
}

/// A milestone of a template or a new project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NewMilestone {
    pub name: String,
    pub due_date: Option<DateTime<Utc>>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
}

pub(crate) fn check_money(amount: Option<i64>, currency: Option<&str>) -> Result<(), ApiError> {
    match (amount, currency) {
        (Some(a), Some(c)) => {
            if a < 0 {
                return Err(ApiError::validation("amount", "must not be negative"));
            }
            if kernel::money::currency("currency", c)? != c {
                return Err(ApiError::validation(
                    "currency",
                    "an ISO 4217 code in capital letters, such as USD",
                ));
            }
            Ok(())
        }
        (None, None) => Ok(()),
        _ => Err(ApiError::validation(
            "currency",
            "amount and currency go together",
        )),
    }
}

pub(crate) struct NewProject {
    pub name: String,
    pub description: Option<String>,
    pub lead_id: Option<Uuid>,
    pub board_id: Option<Uuid>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: Option<DateTime<Utc>>,
    pub anchor: Option<(String, Uuid)>,
    pub template_id: Option<Uuid>,
}

/// Creates a project; from a template, with its milestones, tasks, subtasks and checklists,
/// dated from the project's start (default now).
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    settings: &Settings,
    new: NewProject,
) -> Result<project::Model, ApiError> {
    if let Some(l) = new.lead_id {
        super::worker(ctx, tx, "lead_id", l).await?;
    }
    if let (Some(s), Some(d)) = (new.start_date, new.due_date)
        && d < s
    {
        return Err(ApiError::validation(
            "due_date",
            "must not be before start_date",
        ));
    }
    if let Some(b) = new.board_id {
        super::boards::board(tx, b)
            .await
            .map_err(|_| ApiError::validation("board_id", "no such board"))?;
    }
    if let Some((kind, id)) = &new.anchor {
        task_service::check_anchor(ctx, tx, caller, kind, *id).await?;
    }
    let template = match new.template_id {
        Some(t) => Some(
            template(tx, t)
                .await
                .map_err(|_| ApiError::validation("template_id", "no such project template"))?,
        ),
        None => None,
    };
    let now = Utc::now();
    let (anchor_type, anchor_id) = new.anchor.map_or((None, None), |(k, i)| (Some(k), Some(i)));
    let row = tx
        .repo::<project::Entity>()
        .insert(project::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(new.name),
            description: Set(new.description),
            status: Set("not_started".into()),
            lead_id: Set(new.lead_id),
            board_id: Set(new.board_id),
            anchor_type: Set(anchor_type),
            anchor_id: Set(anchor_id),
            start_date: Set(new.start_date),
            due_date: Set(new.due_date),
            template_id: Set(new.template_id),
            completed_at: Set(None),
            created_by: Set(caller.user_id),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    let mut tasks = 0;
    if let Some(t) = template {
        let body: TemplateBody = serde_json::from_value(t.structure)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("a stored template: {e}")))?;
        tasks = instantiate(
            ctx,
            tx,
            caller,
            settings,
            &row,
            &body,
            new.start_date.unwrap_or(now),
        )
        .await?;
    }
    publish(
        ctx,
        tx,
        caller.user_id,
        &ProjectCreated {
            project_id: row.id,
            name: row.name.clone(),
            lead_id: row.lead_id,
            template_id: row.template_id,
            tasks,
        },
    )
    .await?;
    Ok(row)
}

#[derive(Default)]
pub(crate) struct ProjectChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<String>,
    pub lead_id: Option<Option<Uuid>>,
    pub start_date: Option<Option<DateTime<Utc>>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
}

/// Open tasks of a project (trashed ones left out).
async fn open_tasks(tx: &TenantTx, project_id: Uuid) -> Result<u64, ApiError> {
    let repo = tx.repo::<task::Entity>();
    Ok(repo
        .find()
        .filter(task::Column::ProjectId.eq(project_id))
        .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
        .count(repo.conn())
        .await?)
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    change: ProjectChange,
) -> Result<project::Model, ApiError> {
    let row = get(tx, id).await?;
    if let Some(Some(l)) = change.lead_id
        && Some(l) != row.lead_id
    {
        super::worker(ctx, tx, "lead_id", l).await?;
    }
    let start = change.start_date.unwrap_or(row.start_date);
    let due = change.due_date.unwrap_or(row.due_date);
    if let (Some(s), Some(d)) = (start, due)
        && d < s
    {
        return Err(ApiError::validation(
            "due_date",
            "must not be before start_date",
        ));
    }
    let from = row.status.clone();
    let now = Utc::now();
    let mut m: project::ActiveModel = row.into();
    if let Some(n) = change.name {
        m.name = Set(n);
    }
    if let Some(d) = change.description {
        m.description = Set(d);
    }
    if let Some(l) = change.lead_id {
        m.lead_id = Set(l);
    }
    m.start_date = Set(start);
    m.due_date = Set(due);
    let to = change.status.filter(|s| *s != from);
    if let Some(to) = &to {
        transition(&from, to)?;
        if to == "completed" {
            let open = open_tasks(tx, id).await?;
            if open > 0 {
                return Err(ApiError::conflict(format!(
                    "the project has {open} open tasks: complete or cancel them first"
                ))
                .with_details(serde_json::json!({ "open_tasks": open })));
            }
            m.completed_at = Set(Some(now));
        }
        m.status = Set(to.clone());
    }
    m.updated_at = Set(now);
    let row = tx.repo::<project::Entity>().update(m).await?;
    if let Some(to) = to {
        publish(
            ctx,
            tx,
            by,
            &ProjectStatusChanged {
                project_id: id,
                from,
                to,
            },
        )
        .await?;
    }
    Ok(row)
}

/// Deletes a project that holds no task (trashed ones count): a project with work in it is
/// cancelled, not deleted. Its milestones go with it.
pub(crate) async fn delete(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    get(tx, id).await?;
    let repo = tx.repo::<task::Entity>();
    let held = repo
        .find_any()
        .filter(task::Column::ProjectId.eq(id))
        .count(repo.conn())
        .await?;
    if held > 0 {
        return Err(ApiError::conflict(format!(
            "the project holds {held} tasks (in the trash too): cancel it instead"
        )));
    }
    tx.repo::<project::Entity>().delete(id).await?;
    Ok(())
}

pub(crate) async fn add_milestone(
    tx: &TenantTx,
    project_id: Uuid,
    new: NewMilestone,
) -> Result<milestone::Model, ApiError> {
    check_money(new.amount, new.currency.as_deref())?;
    let repo = tx.repo::<milestone::Entity>();
    let count = repo
        .find()
        .filter(milestone::Column::ProjectId.eq(project_id))
        .count(repo.conn())
        .await?;
    if count >= 200 {
        return Err(ApiError::conflict("a project holds at most 200 milestones"));
    }
    Ok(repo
        .insert(milestone::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            project_id: Set(project_id),
            name: Set(new.name),
            due_date: Set(new.due_date),
            position: Set(i32::try_from(count).unwrap_or(i32::MAX)),
            amount: Set(new.amount),
            currency: Set(new.currency),
            reached_at: Set(None),
            created_at: Set(Utc::now()),
        })
        .await?)
}

pub(crate) struct MilestoneChange {
    pub name: Option<String>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub money: Option<(Option<i64>, Option<String>)>,
    pub reached: Option<bool>,
}

pub(crate) async fn update_milestone(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    id: Uuid,
    change: MilestoneChange,
) -> Result<milestone::Model, ApiError> {
    let row = milestone(tx, id).await?;
    let reached = row.reached_at.is_some();
    if reached && (change.money.is_some() || change.reached == Some(false)) {
        return Err(ApiError::conflict(
            "the milestone is reached, which is final (finance may have invoiced it)",
        ));
    }
    let mut m: milestone::ActiveModel = row.into();
    if let Some(n) = change.name {
        m.name = Set(n);
    }
    if let Some(d) = change.due_date {
        m.due_date = Set(d);
    }
    if let Some((a, c)) = change.money {
        check_money(a, c.as_deref())?;
        m.amount = Set(a);
        m.currency = Set(c);
    }
    let row = tx.repo::<milestone::Entity>().update(m).await?;
    match change.reached {
        Some(true) if !reached => reach(ctx, tx, by, row, "by_hand").await,
        _ => Ok(row),
    }
}

/// Deletes a milestone: its tasks stay in the project, with no milestone.
pub(crate) async fn delete_milestone(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    let row = milestone(tx, id).await?;
    if row.reached_at.is_some() {
        return Err(ApiError::conflict(
            "the milestone is reached (finance may have invoiced it): it stays",
        ));
    }
    tx.repo::<task::Entity>()
        .update_many_any(
            vec![(task::Column::MilestoneId, Expr::value(Option::<Uuid>::None))],
            task::Column::MilestoneId.eq(id),
        )
        .await?;
    tx.repo::<milestone::Entity>().delete(id).await?;
    Ok(())
}

async fn reach(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    row: milestone::Model,
    how: &str,
) -> Result<milestone::Model, ApiError> {
    let now = Utc::now();
    let project = get(tx, row.project_id).await?;
    let mut m: milestone::ActiveModel = row.into();
    m.reached_at = Set(Some(now));
    let row = tx.repo::<milestone::Entity>().update(m).await?;
    publish(
        ctx,
        tx,
        by,
        &MilestoneReached {
            milestone_id: row.id,
            project_id: row.project_id,
            name: row.name.clone(),
            project_name: project.name,
            anchor_type: project.anchor_type,
            anchor_id: project.anchor_id,
            amount: row.amount,
            currency: row.currency.clone(),
            reached_at: now,
            how: how.into(),
        },
    )
    .await?;
    Ok(row)
}

/// After a task of `milestone_id` closed: the milestone is reached when none of its tasks is
/// open and at least one was completed.
pub(crate) async fn after_task_closed(
    ctx: &CellContext,
    tx: &TenantTx,
    by: By,
    milestone_id: Uuid,
) -> Result<(), ApiError> {
    let Some(row) = tx.repo::<milestone::Entity>().get(milestone_id).await? else {
        return Ok(());
    };
    if row.reached_at.is_some() {
        return Ok(());
    }
    let repo = tx.repo::<task::Entity>();
    let of = repo
        .find()
        .filter(task::Column::MilestoneId.eq(milestone_id));
    let open = of
        .clone()
        .filter(task::Column::Status.is_not_in(["completed", "cancelled"]))
        .count(repo.conn())
        .await?;
    let done = of
        .filter(task::Column::Status.eq("completed"))
        .count(repo.conn())
        .await?;
    if open == 0 && done > 0 {
        reach(ctx, tx, by, row, "tasks_completed").await?;
    }
    Ok(())
}

// ---- templates ----

pub(crate) const TEMPLATE_MAX_TASKS: usize = 500;
pub(crate) const TEMPLATE_MAX_DEPTH: usize = 5;

/// A project template: milestones and a tree of tasks, dated in days from the project's start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TemplateBody)]
pub struct TemplateBody {
    /// At most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub milestones: Vec<TemplateMilestone>,
    /// At most 500 in all, subtasks counted, nested at most 5 deep.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub tasks: Vec<TemplateTask>,
}

/// A milestone of a template.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TemplateMilestone)]
pub struct TemplateMilestone {
    /// How the template's tasks name it (unique in the template).
    #[schema(min_length = 1, max_length = 64)]
    pub key: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Days after the project's start.
    #[schema(minimum = 0, maximum = 3660)]
    pub due_in_days: Option<i64>,
    /// Minor units to invoice when reached, with `currency`.
    #[schema(minimum = 0)]
    pub amount: Option<i64>,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
}

/// A task of a template, with its subtasks and checklists.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TemplateTask)]
pub struct TemplateTask {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub title: String,
    #[schema(max_length = 100000)]
    pub description: Option<String>,
    /// `low`, `medium` (default), `high` or `urgent`.
    #[schema(pattern = "^(low|medium|high|urgent)$")]
    pub priority: Option<String>,
    /// Days after the project's start.
    #[schema(minimum = 0, maximum = 3660)]
    pub start_in_days: Option<i64>,
    #[schema(minimum = 0, maximum = 3660)]
    pub due_in_days: Option<i64>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub estimate_minutes: Option<i32>,
    /// The `key` of one of the template's milestones.
    #[schema(max_length = 64)]
    pub milestone: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub checklists: Vec<TemplateChecklist>,
    #[serde(default)]
    #[schema(no_recursion, max_items = 100)]
    pub subtasks: Vec<TemplateTask>,
}

/// A checklist of a template task.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TemplateChecklist)]
pub struct TemplateChecklist {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    /// Item titles (at most 100).
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<crate::http::ItemTitle>)]
    pub items: Vec<String>,
}

fn text(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    kernel::http::trimmed(field, v, max)
}

fn days(field: &str, d: Option<i64>) -> Result<(), ApiError> {
    match d {
        Some(d) if !(0..=3660).contains(&d) => Err(ApiError::validation(
            field,
            "a number of days from 0 to 3660",
        )),
        _ => Ok(()),
    }
}

/// Checks a template and returns it with its texts trimmed.
pub(crate) fn check_template(mut body: TemplateBody) -> Result<TemplateBody, ApiError> {
    if body.milestones.len() > 100 {
        return Err(ApiError::validation("milestones", "at most 100"));
    }
    let mut keys = std::collections::HashSet::new();
    for (i, m) in body.milestones.iter_mut().enumerate() {
        m.key = text(&format!("milestones[{i}].key"), &m.key, 64)?;
        m.name = text(&format!("milestones[{i}].name"), &m.name, 200)?;
        days(&format!("milestones[{i}].due_in_days"), m.due_in_days)?;
        check_money(m.amount, m.currency.as_deref())
            .map_err(|e| ApiError::validation(&format!("milestones[{i}].amount"), e.message()))?;
        if !keys.insert(m.key.clone()) {
            return Err(ApiError::validation(
                &format!("milestones[{i}].key"),
                "two milestones have this key",
            ));
        }
    }
    let mut count = 0;
    check_tasks(&mut body.tasks, "tasks", 1, &keys, &mut count)?;
    Ok(body)
}

fn check_tasks(
    tasks: &mut [TemplateTask],
    at: &str,
    depth: usize,
    keys: &std::collections::HashSet<String>,
    count: &mut usize,
) -> Result<(), ApiError> {
    if depth > TEMPLATE_MAX_DEPTH {
        return Err(ApiError::validation(
            at,
            format!("subtasks nest at most {TEMPLATE_MAX_DEPTH} deep in a template"),
        ));
    }
    for (i, t) in tasks.iter_mut().enumerate() {
        let f = format!("{at}[{i}]");
        *count += 1;
        if *count > TEMPLATE_MAX_TASKS {
            return Err(ApiError::validation(
                &f,
                format!("a template holds at most {TEMPLATE_MAX_TASKS} tasks"),
            ));
        }
        t.title = text(&format!("{f}.title"), &t.title, 500)?;
        if let Some(p) = &t.priority {
            super::one_of(&format!("{f}.priority"), p, &super::PRIORITIES)?;
        }
        days(&format!("{f}.start_in_days"), t.start_in_days)?;
        days(&format!("{f}.due_in_days"), t.due_in_days)?;
        if let (Some(s), Some(d)) = (t.start_in_days, t.due_in_days)
            && d < s
        {
            return Err(ApiError::validation(
                &format!("{f}.due_in_days"),
                "must not be before start_in_days",
            ));
        }
        if t.estimate_minutes
            .is_some_and(|e| !(0..=1_000_000).contains(&e))
        {
            return Err(ApiError::validation(
                &format!("{f}.estimate_minutes"),
                "from 0 to 1000000",
            ));
        }
        if t.description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 100_000)
        {
            return Err(ApiError::validation(
                &format!("{f}.description"),
                "at most 100000 characters",
            ));
        }
        if let Some(m) = &t.milestone
            && !keys.contains(m)
        {
            return Err(ApiError::validation(
                &format!("{f}.milestone"),
                "not the key of one of the template's milestones",
            ));
        }
        if t.checklists.len() > 20 {
            return Err(ApiError::validation(
                &format!("{f}.checklists"),
                "at most 20",
            ));
        }
        for (j, c) in t.checklists.iter_mut().enumerate() {
            c.title = text(&format!("{f}.checklists[{j}].title"), &c.title, 200)?;
            if c.items.len() > 100 {
                return Err(ApiError::validation(
                    &format!("{f}.checklists[{j}].items"),
                    "at most 100",
                ));
            }
            for (k, it) in c.items.iter_mut().enumerate() {
                *it = text(&format!("{f}.checklists[{j}].items[{k}]"), it, 500)?;
            }
        }
        check_tasks(
            &mut t.subtasks,
            &format!("{f}.subtasks"),
            depth + 1,
            keys,
            count,
        )?;
    }
    Ok(())
}

pub(crate) async fn template(tx: &TenantTx, id: Uuid) -> Result<project_template::Model, ApiError> {
    tx.repo::<project_template::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such project template in this organization"))
}

/// Makes the template's milestones and tasks in `project`, dated from `start`; returns the
/// number of tasks made.
async fn instantiate(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    settings: &Settings,
    project: &project::Model,
    body: &TemplateBody,
    start: DateTime<Utc>,
) -> Result<u64, ApiError> {
    let at = |d: Option<i64>| d.map(|d| start + Duration::days(d));
    let mut by_key = std::collections::HashMap::new();
    for m in &body.milestones {
        let row = add_milestone(
            tx,
            project.id,
            NewMilestone {
                name: m.name.clone(),
                due_date: at(m.due_in_days),
                amount: m.amount,
                currency: m.currency.clone(),
            },
        )
        .await?;
        by_key.insert(m.key.clone(), row.id);
    }
    // Depth first, parents before their subtasks.
    let mut stack: Vec<(&TemplateTask, Option<Uuid>)> =
        body.tasks.iter().rev().map(|t| (t, None)).collect();
    let mut made = 0;
    while let Some((t, parent)) = stack.pop() {
        let row = task_service::create(
            ctx,
            tx,
            caller,
            settings,
            task_service::NewTask {
                title: t.title.clone(),
                description: t.description.clone(),
                status: None,
                priority: t.priority.clone().unwrap_or_else(|| "medium".into()),
                board_id: project.board_id,
                column_id: None,
                parent_id: parent,
                assignee_id: None,
                start_date: at(t.start_in_days),
                due_date: at(t.due_in_days),
                estimate_minutes: t.estimate_minutes,
                anchor: None,
                project_id: Some(project.id),
                milestone_id: t.milestone.as_ref().and_then(|k| by_key.get(k).copied()),
                occurrence: None,
            },
        )
        .await?;
        made += 1;
        for c in &t.checklists {
            super::parts::add_checklist(tx, row.id, c.title.clone(), c.items.clone()).await?;
        }
        stack.extend(t.subtasks.iter().rev().map(|s| (s, Some(row.id))));
    }
    Ok(made)
}

/// Creates (`id` none) or replaces a template.
pub(crate) async fn save_template(
    tx: &TenantTx,
    id: Option<Uuid>,
    by: Uuid,
    name: String,
    description: Option<String>,
    body: TemplateBody,
) -> Result<project_template::Model, ApiError> {
    let structure = serde_json::to_value(&body).map_err(ApiError::internal)?;
    let now = Utc::now();
    let repo = tx.repo::<project_template::Entity>();
    match id {
        Some(id) => {
            let mut m: project_template::ActiveModel = template(tx, id).await?.into();
            m.name = Set(name);
            m.description = Set(description);
            m.structure = Set(structure);
            m.updated_at = Set(now);
            Ok(repo.update(m).await?)
        }
        None => Ok(repo
            .insert(project_template::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                name: Set(name),
                description: Set(description),
                structure: Set(structure),
                created_by: Set(by),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?),
    }
}
