//! The events the module publishes: one payload type per event. `task` events name the task
//! (entity type `task`), so collab's activity feed and search follow them.

use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A task was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskCreated {
    pub task_id: Uuid,
    pub title: String,
    pub board_id: Option<Uuid>,
    /// A subtask's parent.
    pub parent_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
}
kernel::event!(
    TaskCreated,
    "tasks.task.created",
    "A task was created.",
    "task",
    task_id
);

/// A task's details changed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskUpdated {
    pub task_id: Uuid,
    /// The fields that changed.
    pub fields: Vec<String>,
}
kernel::event!(
    TaskUpdated,
    "tasks.task.updated",
    "A task's details changed.",
    "task",
    task_id
);

/// A task was given to someone (or back to the pool).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskAssigned {
    pub task_id: Uuid,
    /// `None`: back in the pool.
    pub assignee_id: Option<Uuid>,
    pub previous_assignee_id: Option<Uuid>,
}
kernel::event!(
    TaskAssigned,
    "tasks.task.assigned",
    "A task was given to someone (or back to the pool).",
    "task",
    task_id
);

/// A task changed status (moved to a column of another status).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskStatusChanged {
    pub task_id: Uuid,
    pub from: String,
    pub to: String,
    pub column_id: Option<Uuid>,
}
kernel::event!(
    TaskStatusChanged,
    "tasks.task.status_changed",
    "A task changed status (moved to a column of another status).",
    "task",
    task_id
);

/// A task was completed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskCompleted {
    pub task_id: Uuid,
}
kernel::event!(
    TaskCompleted,
    "tasks.task.completed",
    "A task was completed.",
    "task",
    task_id
);

/// Every task a task waited for is completed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskUnblocked {
    pub task_id: Uuid,
    /// The task whose completion unblocked it.
    pub by_task_id: Uuid,
}
kernel::event!(
    TaskUnblocked,
    "tasks.task.unblocked",
    "Every task a task waited for is completed.",
    "task",
    task_id
);

/// Every item of every checklist of a task is done.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChecklistCompleted {
    pub task_id: Uuid,
    /// The checklist whose last item was done.
    pub checklist_id: Uuid,
}
kernel::event!(
    ChecklistCompleted,
    "tasks.task.checklist_completed",
    "Every item of every checklist of a task is done.",
    "task",
    task_id
);

/// A task went to the trash (its subtasks with it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskDeleted {
    pub task_id: Uuid,
}
kernel::event!(
    TaskDeleted,
    "tasks.task.deleted",
    "A task went to the trash (its subtasks with it).",
    "task",
    task_id
);

/// A task came back from the trash (its subtasks with it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskRestored {
    pub task_id: Uuid,
}
kernel::event!(
    TaskRestored,
    "tasks.task.restored",
    "A task came back from the trash (its subtasks with it).",
    "task",
    task_id
);

/// A board was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BoardCreated {
    pub board_id: Uuid,
    pub name: String,
}
kernel::event!(
    BoardCreated,
    "tasks.board.created",
    "A board was created.",
    "task_board",
    board_id
);

/// A project was created (from a template: with its milestones and tasks).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectCreated {
    pub project_id: Uuid,
    pub name: String,
    pub lead_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
    /// Tasks made from the template.
    pub tasks: u64,
}
kernel::event!(
    ProjectCreated,
    "tasks.project.created",
    "A project was created (from a template: with its milestones and tasks).",
    "project",
    project_id
);

/// A project changed status (`not_started`, `in_progress`, `on_hold`, `completed`,
/// `cancelled`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectStatusChanged {
    pub project_id: Uuid,
    pub from: String,
    pub to: String,
}
kernel::event!(
    ProjectStatusChanged,
    "tasks.project.status_changed",
    "A project changed status.",
    "project",
    project_id
);

/// A milestone was reached: by hand, or when its last open task closed with one completed.
/// Finance invoices it (`amount`, `currency`) when it is an invoicing checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MilestoneReached {
    pub milestone_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// The project's name.
    #[serde(default)]
    pub project_name: String,
    /// What the project is for (its anchor: a contact, a deal…), which finance bills.
    #[serde(default)]
    pub anchor_type: Option<String>,
    #[serde(default)]
    pub anchor_id: Option<Uuid>,
    /// Minor units to invoice, in `currency`.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub reached_at: chrono::DateTime<chrono::Utc>,
    /// `by_hand` or `tasks_completed`.
    pub how: String,
}
kernel::event!(
    MilestoneReached,
    "tasks.milestone.reached",
    "A milestone of a project was reached (an invoicing checkpoint).",
    "project",
    project_id
);

/// An automation tells users about a task (its `notify` action).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutomationNotified {
    pub task_id: Uuid,
    pub automation_id: Uuid,
    /// The users told.
    pub user_ids: Vec<Uuid>,
    pub message: String,
}
kernel::event!(
    AutomationNotified,
    "tasks.automation.notified",
    "An automation tells users about a task (its notify action).",
    "task",
    task_id
);

pub fn catalogue() -> Vec<EventDef> {
    vec![
        EventDef::of::<TaskCreated>(),
        EventDef::of::<TaskUpdated>(),
        EventDef::of::<TaskAssigned>(),
        EventDef::of::<TaskStatusChanged>(),
        EventDef::of::<TaskCompleted>(),
        EventDef::of::<TaskUnblocked>(),
        EventDef::of::<ChecklistCompleted>(),
        EventDef::of::<TaskDeleted>(),
        EventDef::of::<TaskRestored>(),
        EventDef::of::<BoardCreated>(),
        EventDef::of::<ProjectCreated>(),
        EventDef::of::<ProjectStatusChanged>(),
        EventDef::of::<MilestoneReached>(),
        EventDef::of::<AutomationNotified>(),
    ]
}
