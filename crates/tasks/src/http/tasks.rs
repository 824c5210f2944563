//! `/tasks`: the task, its views (list, kanban, calendar, gantt), moves, subtasks, the trash.

use std::collections::HashMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use kernel::http::{AdministerOrg, ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::boards::{Board, Column};
use crate::entity::task;
use crate::module::Settings;
use crate::permissions::{ReadTasks, WriteTasks};
use crate::service::{PRIORITIES, STATUSES, boards, one_of, parts, tasks as service};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(move_task)
        .service(subtask);
}

pub(super) const MAX_TITLE: usize = 500;
const MAX_DESCRIPTION: usize = 100_000;

/// A task.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Task)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    /// Markdown.
    pub description: Option<String>,
    /// `todo`, `in_progress`, `review`, `completed` (final) or `cancelled`.
    pub status: String,
    /// `low`, `medium`, `high` or `urgent`.
    pub priority: String,
    pub board_id: Option<Uuid>,
    pub column_id: Option<Uuid>,
    /// Orders the task in its column: compare as bytes.
    pub position: Option<String>,
    pub parent_id: Option<Uuid>,
    /// `None`: in the pool.
    pub assignee_id: Option<Uuid>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: Option<DateTime<Utc>>,
    pub estimate_minutes: Option<i32>,
    /// The entity the task is about (`contact`, `deal`, `company`…).
    pub anchor_type: Option<String>,
    pub anchor_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    pub project_id: Option<Uuid>,
    pub milestone_id: Option<Uuid>,
    /// A recurring task's clone: the rule that made it and the occurrence it is.
    pub recurrence_id: Option<Uuid>,
    pub occurs_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<task::Model> for Task {
    fn from(m: task::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            description: m.description,
            status: m.status,
            priority: m.priority,
            board_id: m.board_id,
            column_id: m.column_id,
            position: m.position,
            parent_id: m.parent_id,
            assignee_id: m.assignee_id,
            start_date: m.start_date,
            due_date: m.due_date,
            estimate_minutes: m.estimate_minutes,
            anchor_type: m.anchor_type,
            anchor_id: m.anchor_id,
            completed_at: m.completed_at,
            project_id: m.project_id,
            milestone_id: m.milestone_id,
            recurrence_id: m.recurrence_id,
            occurs_at: m.occurs_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub(crate) fn task_list() -> ListSpec<task::Entity> {
    use task::Column as C;
    ListSpec::new()
        .field("board_id", C::BoardId)
        .field("column_id", C::ColumnId)
        .field("status", C::Status)
        .field("priority", C::Priority)
        .field("assignee_id", C::AssigneeId)
        .field("parent_id", C::ParentId)
        .field("anchor_type", C::AnchorType)
        .field("anchor_id", C::AnchorId)
        .field("project_id", C::ProjectId)
        .field("milestone_id", C::MilestoneId)
        .field("recurrence_id", C::RecurrenceId)
        .field("created_by", C::CreatedBy)
        .sortable("due_date", C::DueDate)
        .sortable("start_date", C::StartDate)
        .sortable("created_at", C::CreatedAt)
        .sortable("updated_at", C::UpdatedAt)
        .sortable("position", C::Position)
        .search([C::Title])
        .tagged(crate::loader::TASK, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(TaskListParams, task_list);

/// How `GET /tasks` answers.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// A page of tasks (the list conventions, `?tags=`).
    #[default]
    List,
    /// A board's tasks grouped by column (`board_id` required).
    Kanban,
    /// Tasks whose start or due date falls in `[from, to)` (both required, at most 366 days).
    Calendar,
    /// Tasks with dates and the dependencies between them (`board_id`, or the whole org).
    Gantt,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ViewParams {
    /// `list` (default), `kanban`, `calendar` or `gantt`.
    #[param(inline)]
    pub view: Option<View>,
    /// The board (required for `kanban`).
    pub board_id: Option<Uuid>,
    /// `calendar`: from (inclusive), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// `calendar`: to (exclusive), RFC 3339.
    pub to: Option<DateTime<Utc>>,
    /// `kanban`: tasks shown per column, in order (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub per_column: Option<u64>,
}

/// A column of the kanban view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::KanbanColumn)]
pub struct KanbanColumn {
    pub column: Column,
    /// The first `per_column` tasks of the column, in order.
    pub tasks: Vec<Task>,
    /// Every task in the column.
    pub total: u64,
}

/// A board's tasks by column.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Kanban)]
pub struct Kanban {
    pub board: Board,
    pub columns: Vec<KanbanColumn>,
}

/// Tasks in a date range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Calendar)]
pub struct Calendar {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// At most 2 000, by start (or due) date.
    pub tasks: Vec<Task>,
}

/// "`task_id` waits for `depends_on_id`".
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Edge)]
pub struct Edge {
    pub task_id: Uuid,
    pub depends_on_id: Uuid,
    /// `finish_to_start`, `start_to_start` or `finish_to_finish`.
    pub kind: String,
}

/// A task as a gantt chart draws it (`GET /tasks/{id}` has the rest).
#[derive(Debug, Serialize, sea_orm::FromQueryResult, utoipa::ToSchema)]
#[schema(as = tasks::GanttTask)]
pub struct GanttTask {
    pub id: Uuid,
    pub title: String,
    /// `todo`, `in_progress`, `review`, `completed` or `cancelled`.
    pub status: String,
    pub priority: String,
    pub parent_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub column_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub milestone_id: Option<Uuid>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Tasks with dates and the dependencies between them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Gantt)]
pub struct Gantt {
    pub board_id: Option<Uuid>,
    /// Tasks with a start or due date (at most 10 000), by start date.
    pub tasks: Vec<GanttTask>,
    /// The dependencies among those tasks.
    pub dependencies: Vec<Edge>,
}

/// One of the views, as `view` asks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = tasks::TaskView)]
pub enum TaskView {
    List(Page<Task>),
    Kanban(Kanban),
    Calendar(Calendar),
    Gantt(Gantt),
}

/// The tasks, in one of four views: `list` (default; `filter[status]`, `filter[assignee_id]`,
/// `sort=due_date:asc`, `search`, `tags=a,b`, paged; `board_id` narrows it), `kanban` (a board
/// by column), `calendar` (`from`, `to`), `gantt` (with dependencies).
#[utoipa::path(tag = TAG, params(ViewParams, TaskListParams), responses(
    (status = 200, body = TaskView), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/tasks")]
pub(crate) async fn list(
    tx: ReadTasks,
    query: ListQuery,
    v: web::Query<ViewParams>,
) -> ApiResult<HttpResponse> {
    let v = v.into_inner();
    let out = match v.view.unwrap_or_default() {
        View::List => {
            let mut select = tx.repo::<task::Entity>().find();
            if let Some(b) = v.board_id {
                select = select.filter(task::Column::BoardId.eq(b));
            }
            TaskView::List(
                tx.page(task_list().apply(&query, select)?, &query)
                    .await?
                    .map(Task::from),
            )
        }
        View::Kanban => TaskView::Kanban(kanban(&tx, &v).await?),
        View::Calendar => TaskView::Calendar(calendar(&tx, &v).await?),
        View::Gantt => TaskView::Gantt(gantt(&tx, v.board_id).await?),
    };
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

async fn kanban(tx: &kernel::TenantTx, v: &ViewParams) -> Result<Kanban, ApiError> {
    let board_id = v
        .board_id
        .ok_or_else(|| ApiError::validation("board_id", "the kanban view shows one board"))?;
    let per = super::count_param("per_column", v.per_column, 100, 500)?;
    let board = boards::board(tx, board_id).await?;
    let cols = boards::columns(tx, board_id).await?;
    let mut columns = Vec::with_capacity(cols.len());
    let repo = tx.repo::<task::Entity>();
    // Every column's count in one statement.
    let totals: HashMap<Uuid, i64> = repo
        .find()
        .filter(task::Column::BoardId.eq(board_id))
        .select_only()
        .column(task::Column::ColumnId)
        .column_as(task::Column::Id.count(), "n")
        .group_by(task::Column::ColumnId)
        .into_tuple::<(Option<Uuid>, i64)>()
        .all(repo.conn())
        .await?
        .into_iter()
        .filter_map(|(c, n)| Some((c?, n)))
        .collect();
    for c in &cols {
        let total = totals
            .get(&c.id)
            .map_or(0, |n| u64::try_from(*n).unwrap_or(0));
        let tasks = repo
            .find()
            .filter(task::Column::ColumnId.eq(c.id))
            .order_by_asc(task::Column::Position)
            .order_by_asc(task::Column::Id)
            .limit(per)
            .all(repo.conn())
            .await?;
        columns.push(KanbanColumn {
            column: c.clone().into(),
            tasks: tasks.into_iter().map(Task::from).collect(),
            total,
        });
    }
    Ok(Kanban {
        board: Board::of(board, cols),
        columns,
    })
}

async fn calendar(tx: &kernel::TenantTx, v: &ViewParams) -> Result<Calendar, ApiError> {
    let (Some(from), Some(to)) = (v.from, v.to) else {
        return Err(ApiError::validation(
            "from",
            "the calendar view needs `from` and `to`",
        ));
    };
    if to <= from || to - from > Duration::days(366) {
        return Err(ApiError::validation(
            "to",
            "after `from`, by at most 366 days",
        ));
    }
    use task::Column as C;
    // A task spans [start, due]; one with a single date is that day.
    let spans = Condition::any()
        .add(
            Condition::all()
                .add(C::StartDate.is_not_null())
                .add(C::DueDate.is_not_null())
                .add(C::StartDate.lt(to))
                .add(C::DueDate.gte(from)),
        )
        .add(
            Condition::all()
                .add(C::StartDate.is_null())
                .add(C::DueDate.gte(from))
                .add(C::DueDate.lt(to)),
        )
        .add(
            Condition::all()
                .add(C::DueDate.is_null())
                .add(C::StartDate.gte(from))
                .add(C::StartDate.lt(to)),
        );
    let repo = tx.repo::<task::Entity>();
    let mut select = repo.find().filter(spans);
    if let Some(b) = v.board_id {
        select = select.filter(C::BoardId.eq(b));
    }
    let tasks = select
        .order_by_asc(C::StartDate)
        .order_by_asc(C::DueDate)
        .order_by_asc(C::Id)
        .limit(2_000)
        .all(repo.conn())
        .await?;
    Ok(Calendar {
        from,
        to,
        tasks: tasks.into_iter().map(Task::from).collect(),
    })
}

async fn gantt(tx: &kernel::TenantTx, board_id: Option<Uuid>) -> Result<Gantt, ApiError> {
    use task::Column as C;
    if let Some(b) = board_id {
        boards::board(tx, b).await?;
    }
    let repo = tx.repo::<task::Entity>();
    let mut select = repo.find().filter(
        Condition::any()
            .add(C::StartDate.is_not_null())
            .add(C::DueDate.is_not_null()),
    );
    if let Some(b) = board_id {
        select = select.filter(C::BoardId.eq(b));
    }
    // Only the columns a chart draws: a tenth of the decoding and half the bytes of full rows.
    let tasks: Vec<GanttTask> = select
        .order_by_asc(C::StartDate)
        .order_by_asc(C::Id)
        .limit(10_000)
        .select_only()
        .columns([
            C::Id,
            C::Title,
            C::Status,
            C::Priority,
            C::ParentId,
            C::AssigneeId,
            C::ColumnId,
            C::ProjectId,
            C::MilestoneId,
            C::StartDate,
            C::DueDate,
            C::CompletedAt,
        ])
        .into_model::<GanttTask>()
        .all(repo.conn())
        .await?;
    let shown: std::collections::HashSet<Uuid> = tasks.iter().map(|t| t.id).collect();
    let dependencies = parts::edges(tx, board_id)
        .await?
        .into_iter()
        .filter(|(t, on, _)| shown.contains(t) && shown.contains(on))
        .map(|(task_id, depends_on_id, kind)| Edge {
            task_id,
            depends_on_id,
            kind,
        })
        .collect();
    Ok(Gantt {
        board_id,
        tasks,
        dependencies,
    })
}

/// `POST /tasks` (and `POST /tasks/{id}/subtasks`).
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewTask)]
pub struct NewTask {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = MAX_TITLE))]
    pub title: String,
    /// Markdown.
    #[schema(max_length = 100000)]
    #[garde(inner(length(chars, max = MAX_DESCRIPTION)))]
    pub description: Option<String>,
    /// Defaults to the column's status, else `todo`; on a board without `column_id`, the task
    /// goes to the board's first column of this status.
    #[schema(pattern = "^(todo|in_progress|review|completed|cancelled)$")]
    #[garde(skip)]
    pub status: Option<String>,
    /// `low`, `medium` (default), `high` or `urgent`.
    #[schema(pattern = "^(low|medium|high|urgent)$")]
    #[garde(skip)]
    pub priority: Option<String>,
    /// The board (its first column unless `column_id` or `status` says otherwise).
    #[garde(skip)]
    pub board_id: Option<Uuid>,
    /// The column; the task goes last in it.
    #[garde(skip)]
    pub column_id: Option<Uuid>,
    /// Makes it a subtask.
    #[garde(skip)]
    pub parent_id: Option<Uuid>,
    /// A member who works in the org; none: the pool.
    #[garde(skip)]
    pub assignee_id: Option<Uuid>,
    #[garde(skip)]
    pub start_date: Option<DateTime<Utc>>,
    #[garde(skip)]
    pub due_date: Option<DateTime<Utc>>,
    #[schema(minimum = 0, maximum = 1000000)]
    #[garde(inner(range(min = 0, max = 1_000_000)))]
    pub estimate_minutes: Option<i32>,
    /// With `anchor_id`: the entity the task is about (`contact`, `deal`, `company`…), one the
    /// caller sees.
    #[schema(max_length = 64)]
    #[garde(inner(length(chars, max = 64)))]
    pub anchor_type: Option<String>,
    #[garde(skip)]
    pub anchor_id: Option<Uuid>,
    /// A project of the org that is not completed or cancelled.
    #[garde(skip)]
    pub project_id: Option<Uuid>,
    /// A milestone of `project_id`, not reached yet.
    #[garde(skip)]
    pub milestone_id: Option<Uuid>,
}

/// An anchor: both halves or neither.
pub(super) fn anchor(
    kind: Option<String>,
    id: Option<Uuid>,
) -> Result<Option<(String, Uuid)>, ApiError> {
    match (kind, id) {
        (Some(t), Some(i)) => Ok(Some((t, i))),
        (None, None) => Ok(None),
        _ => Err(ApiError::validation(
            "anchor_id",
            "anchor_type and anchor_id go together",
        )),
    }
}

fn new_task(b: NewTask, parent: Option<Uuid>) -> Result<service::NewTask, ApiError> {
    if let Some(s) = &b.status {
        one_of("status", s, &STATUSES)?;
    }
    let priority = b.priority.unwrap_or_else(|| "medium".into());
    one_of("priority", &priority, &PRIORITIES)?;
    let anchor = anchor(b.anchor_type, b.anchor_id)?;
    if parent.is_some() && b.parent_id.is_some_and(|p| Some(p) != parent) {
        return Err(ApiError::validation(
            "parent_id",
            "a subtask's parent is the task in the path",
        ));
    }
    Ok(service::NewTask {
        title: trimmed("title", &b.title, MAX_TITLE)?,
        description: kernel::http::trimmed_optional("description", b.description, MAX_DESCRIPTION)?,
        status: b.status,
        priority,
        board_id: b.board_id,
        column_id: b.column_id,
        parent_id: parent.or(b.parent_id),
        assignee_id: b.assignee_id,
        start_date: b.start_date,
        due_date: b.due_date,
        estimate_minutes: b.estimate_minutes,
        anchor,
        project_id: b.project_id,
        milestone_id: b.milestone_id,
        occurrence: None,
    })
}

/// Creates a task, last in its column (`tasks.task.created`; `tasks.task.assigned` when it has
/// an assignee).
#[utoipa::path(tag = TAG, request_body = NewTask, responses(
    (status = 201, body = Task), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/tasks")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteTasks,
    body: ValidJson<NewTask>,
) -> ApiResult<HttpResponse> {
    let new = new_task(body.0, None)?;
    let row = service::create(&ctx, &tx, tx.caller(), &settings, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Task::from(row)))
}

/// Creates a subtask of a task (any depth).
#[utoipa::path(tag = TAG, request_body = NewTask, responses(
    (status = 201, body = Task), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/tasks/{id}/subtasks")]
pub(crate) async fn subtask(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<NewTask>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    service::get(&tx, id).await?;
    let new = new_task(body.0, Some(id))?;
    let row = service::create(&ctx, &tx, tx.caller(), &settings, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Task::from(row)))
}

/// A checklist item.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::ChecklistItem)]
pub struct ChecklistItem {
    pub id: Uuid,
    pub title: String,
    pub done: bool,
    pub done_by: Option<Uuid>,
    pub done_at: Option<DateTime<Utc>>,
}

impl From<crate::entity::item::Model> for ChecklistItem {
    fn from(m: crate::entity::item::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            done: m.done,
            done_by: m.done_by,
            done_at: m.done_at,
        }
    }
}

/// A checklist with its items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Checklist)]
pub struct Checklist {
    pub id: Uuid,
    pub task_id: Uuid,
    pub title: String,
    pub items: Vec<ChecklistItem>,
}

impl Checklist {
    pub(super) fn of(
        checklist: crate::entity::checklist::Model,
        items: Vec<crate::entity::item::Model>,
    ) -> Self {
        Self {
            id: checklist.id,
            task_id: checklist.task_id,
            title: checklist.title,
            items: items.into_iter().map(ChecklistItem::from).collect(),
        }
    }
}

/// A task this one waits for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Dependency)]
pub struct Dependency {
    pub depends_on_id: Uuid,
    pub kind: String,
    pub title: String,
    pub status: String,
}

/// A task with everything on it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::TaskDetail)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    /// Its subtasks at every depth, depth first (each names its `parent_id`).
    pub subtasks: Vec<Task>,
    pub checklists: Vec<Checklist>,
    /// The users who follow it.
    pub watchers: Vec<Uuid>,
    /// The tasks it waits for.
    pub dependencies: Vec<Dependency>,
    /// Whether a task it waits for is still open.
    pub blocked: bool,
}

/// Depth first, children in creation order.
fn depth_first(root: Uuid, mut all: Vec<task::Model>) -> Vec<Task> {
    all.sort_by_key(|t| (t.created_at, t.id));
    let mut children: HashMap<Uuid, Vec<task::Model>> = HashMap::new();
    for t in all {
        if let Some(p) = t.parent_id {
            children.entry(p).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    let mut stack: Vec<task::Model> = children.remove(&root).unwrap_or_default();
    stack.reverse();
    while let Some(t) = stack.pop() {
        let mut kids = children.remove(&t.id).unwrap_or_default();
        kids.reverse();
        stack.extend(kids);
        out.push(Task::from(t));
    }
    out
}

/// One task with its subtasks (every depth), checklists, watchers and dependencies.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = TaskDetail), (status = 401), (status = 403), (status = 404)))]
#[get("/tasks/{id}")]
pub(crate) async fn read(tx: ReadTasks, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    let subtasks = depth_first(row.id, service::subtree(&tx, row.id, false).await?);
    let checklists = parts::checklists(&tx, &[row.id])
        .await?
        .into_iter()
        .map(|(l, i)| Checklist::of(l, i))
        .collect();
    let watchers = parts::watchers(&tx, &[row.id])
        .await?
        .into_iter()
        .map(|w| w.user_id)
        .collect();
    let deps = parts::dependencies(&tx, &[row.id]).await?;
    let on: Vec<Uuid> = deps.iter().map(|d| d.depends_on_id).collect();
    let repo = tx.repo::<task::Entity>();
    let targets: HashMap<Uuid, task::Model> = repo
        .find()
        .filter(task::Column::Id.is_in(on))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let dependencies: Vec<Dependency> = deps
        .into_iter()
        .filter_map(|d| {
            let t = targets.get(&d.depends_on_id)?;
            Some(Dependency {
                depends_on_id: d.depends_on_id,
                kind: d.kind,
                title: t.title.clone(),
                status: t.status.clone(),
            })
        })
        .collect();
    let blocked = dependencies
        .iter()
        .any(|d| d.status != "completed" && d.status != "cancelled");
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(TaskDetail {
        task: row.into(),
        subtasks,
        checklists,
        watchers,
        dependencies,
        blocked,
    }))
}

/// `PATCH /tasks/{id}`: `null` clears a nullable field.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TaskPatch)]
pub struct TaskPatch {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = MAX_TITLE)))]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100000)]
    #[garde(skip)]
    pub description: Option<Option<String>>,
    /// A transition: `completed` is final, a cancelled task reopens to `todo`; on a board the
    /// task moves to the end of the board's first column of that status.
    #[schema(pattern = "^(todo|in_progress|review|completed|cancelled)$")]
    #[garde(skip)]
    pub status: Option<String>,
    #[schema(pattern = "^(low|medium|high|urgent)$")]
    #[garde(skip)]
    pub priority: Option<String>,
    /// `null`: back to the pool (`tasks.task.assigned`).
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub assignee_id: Option<Option<Uuid>>,
    /// Another task (not one of its own subtasks); `null`: a top-level task.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub start_date: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub due_date: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000)]
    #[garde(inner(inner(range(min = 0, max = 1_000_000))))]
    pub estimate_minutes: Option<Option<i32>>,
    /// An open project of the org; `null`: none (the task leaves its milestone too).
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub project_id: Option<Option<Uuid>>,
    /// A milestone of the task's project, not reached; `null`: none.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub milestone_id: Option<Option<Uuid>>,
}

/// Changes a task (`tasks.task.updated`; `assigned`, `status_changed`, `completed`,
/// `unblocked` as they follow).
#[utoipa::path(tag = TAG, request_body = TaskPatch, responses(
    (status = 200, body = Task), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/tasks/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<TaskPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    if let Some(s) = &b.status {
        one_of("status", s, &STATUSES)?;
    }
    if let Some(p) = &b.priority {
        one_of("priority", p, &PRIORITIES)?;
    }
    let change = service::Change {
        title: b
            .title
            .map(|t| trimmed("title", &t, MAX_TITLE))
            .transpose()?,
        description: b
            .description
            .map(|d| kernel::http::trimmed_optional("description", d, MAX_DESCRIPTION))
            .transpose()?,
        status: b.status,
        priority: b.priority,
        assignee_id: b.assignee_id,
        parent_id: b.parent_id,
        start_date: b.start_date,
        due_date: b.due_date,
        estimate_minutes: b.estimate_minutes,
        project_id: b.project_id,
        milestone_id: b.milestone_id,
    };
    let by = tx.caller().user_id;
    let row = service::update(&ctx, &tx, by.into(), &settings, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Task::from(row)))
}

/// Moves a task and its subtasks to the trash (`tasks.task.deleted`): its creator or an admin.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/tasks/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteTasks,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    if row.created_by != tx.caller().user_id {
        tx.require::<AdministerOrg>(&ctx, None).await?;
    }
    service::delete(&ctx, &tx, tx.caller().user_id, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /tasks/{id}/move`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::TaskMove)]
pub struct TaskMove {
    /// A column of the task's board (or of any board, for a task on none).
    #[garde(skip)]
    pub column_id: Uuid,
    /// Where in the column, counting the other tasks from 0: `0` first, `2` before the third,
    /// `2.5` between the third and the fourth; past the end or absent: last.
    #[schema(minimum = 0, maximum = 1000000)]
    #[garde(inner(range(min = 0.0, max = 1_000_000.0)))]
    pub position: Option<f64>,
}

/// Moves a task within its board (drag and drop): to a place in a column, taking the column's
/// status (`tasks.task.status_changed`; a blocked task cannot start; completed is final; a
/// column's WIP limit holds).
#[utoipa::path(tag = TAG, request_body = TaskMove, responses(
    (status = 200, body = Task), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/tasks/{id}/move")]
pub(crate) async fn move_task(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteTasks,
    id: web::Path<Uuid>,
    body: ValidJson<TaskMove>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    // Between the items at floor(p) and ceil(p): it takes index ceil(p).
    let at = b.position.map(|p| p.ceil() as u64);
    let by = tx.caller().user_id;
    let row = service::move_to(
        &ctx,
        &tx,
        by.into(),
        &settings,
        id.into_inner(),
        b.column_id,
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Task::from(row)))
}
