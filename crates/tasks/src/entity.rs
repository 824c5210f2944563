//! The module's tables, as sea-orm entities. Private to the crate: other modules reach tasks
//! through the module's events, its entity loader and its public functions.

kernel::tenant_table!(board, "tasks_boards", {
    name: String,
    /// `kanban`, `list`, `calendar` or `gantt`: how clients show it first.
    view_type: String,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(column, "tasks_columns", {
    board_id: Uuid,
    name: String,
    /// The status a task in this column has.
    status: String,
    position: i32,
    color: Option<String>,
    /// Most open tasks the column takes (`None`: no limit).
    wip_limit: Option<i32>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(task, "tasks_tasks", {
    title: String,
    description: Option<String>,
    /// `todo`, `in_progress`, `review`, `completed` or `cancelled`.
    status: String,
    /// `low`, `medium`, `high` or `urgent`.
    priority: String,
    board_id: Option<Uuid>,
    column_id: Option<Uuid>,
    /// The fractional key ordering the task in its column (`crate::position`).
    position: Option<String>,
    parent_id: Option<Uuid>,
    /// `None`: in the pool.
    assignee_id: Option<Uuid>,
    start_date: Option<DateTimeUtc>,
    due_date: Option<DateTimeUtc>,
    estimate_minutes: Option<i32>,
    /// The entity the task is about (outreach: a customer, deal or company).
    anchor_type: Option<String>,
    anchor_id: Option<Uuid>,
    completed_at: Option<DateTimeUtc>,
    project_id: Option<Uuid>,
    /// A milestone of its project.
    milestone_id: Option<Uuid>,
    /// The rule that made it, and the occurrence it is (unique together).
    recurrence_id: Option<Uuid>,
    occurs_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    deleted_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(checklist, "tasks_checklists", {
    task_id: Uuid,
    title: String,
    position: i32,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(item, "tasks_checklist_items", {
    checklist_id: Uuid,
    title: String,
    done: bool,
    done_by: Option<Uuid>,
    done_at: Option<DateTimeUtc>,
    position: i32,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(dependency, "tasks_dependencies", {
    /// The task that waits.
    task_id: Uuid,
    /// The task it waits for.
    depends_on_id: Uuid,
    /// `finish_to_start`, `start_to_start` or `finish_to_finish`.
    kind: String,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(watcher, "tasks_watchers", {
    task_id: Uuid,
    user_id: Uuid,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(time_entry, "tasks_time_entries", {
    task_id: Uuid,
    user_id: Uuid,
    started_at: DateTimeUtc,
    /// `None` while the timer runs.
    ended_at: Option<DateTimeUtc>,
    duration_seconds: Option<i64>,
    description: Option<String>,
    billable: bool,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(project, "tasks_projects", {
    name: String,
    description: Option<String>,
    /// `not_started`, `in_progress`, `on_hold`, `completed` or `cancelled`.
    status: String,
    lead_id: Option<Uuid>,
    board_id: Option<Uuid>,
    anchor_type: Option<String>,
    anchor_id: Option<Uuid>,
    start_date: Option<DateTimeUtc>,
    due_date: Option<DateTimeUtc>,
    /// The template it was made from (which may be gone since).
    template_id: Option<Uuid>,
    completed_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(milestone, "tasks_milestones", {
    project_id: Uuid,
    name: String,
    due_date: Option<DateTimeUtc>,
    position: i32,
    /// Minor units to invoice when reached, in `currency` (finance's to use).
    amount: Option<i64>,
    currency: Option<String>,
    reached_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(project_template, "tasks_project_templates", {
    name: String,
    description: Option<String>,
    /// `crate::service::projects::TemplateBody`, checked when saved.
    structure: Json,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(recurrence, "tasks_recurrences", {
    /// The task each occurrence clones.
    task_id: Uuid,
    /// RFC 5545 RRULE value.
    rule: String,
    /// IANA zone.
    timezone: String,
    /// DTSTART.
    starts_at: DateTimeUtc,
    /// `same`, `rotate` or `round_robin`.
    assignee_strategy: String,
    /// The members who take turns (a JSON array of ids).
    assignees: Json,
    occurrences: i32,
    /// `None`: the rule has ended.
    next_at: Option<DateTimeUtc>,
    enabled: bool,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(automation, "tasks_automations", {
    board_id: Uuid,
    name: String,
    /// `task.created`, `task.status_changed`, `task.overdue`…
    trigger: String,
    /// `[crate::service::automations::Condition]`, checked when saved.
    conditions: Json,
    /// `[crate::service::automations::Action]`, checked when saved.
    actions: Json,
    enabled: bool,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(automation_run, "tasks_automation_runs", {
    automation_id: Uuid,
    task_id: Uuid,
    /// The event that triggered it (for `task.overdue`, the task and its due date).
    event_id: Uuid,
    /// The first event of the chain of automations it belongs to.
    chain_id: Uuid,
    /// Automations before it in the chain.
    depth: i32,
    /// `applied`, `failed` or `loop_prevented`.
    outcome: String,
    detail: Json,
    created_at: DateTimeUtc,
});

kernel::tenant_entity!(
    automation,
    automation_run,
    board,
    column,
    checklist,
    item,
    dependency,
    watcher,
    time_entry,
    project,
    milestone,
    project_template,
    recurrence
);
// Tasks go to the trash before they are deleted for good: the repository hides trashed rows.
kernel::tenant_entity!(soft_delete: task);
