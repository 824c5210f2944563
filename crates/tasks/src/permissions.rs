//! Who may call what. Every member of the org sees the org's boards, tasks and time; members
//! and up change them; a task goes to the trash by its creator or an admin (checked in the
//! handler, `crate::http::tasks::remove`).

use kernel::http::{InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Tasks, their checklists, dependencies and watchers, for API keys: `tasks:read`,
    /// `tasks:write` (the suite spec's example scope).
    pub(crate) TaskScope = "tasks"
);
kernel::api_scope!(
    /// Boards and their columns: `boards:read`, `boards:write`.
    pub(crate) BoardScope = "boards"
);
kernel::api_scope!(
    /// Timers and time entries: `time:read`, `time:write`.
    pub(crate) TimeScope = "time"
);

kernel::api_scope!(
    /// Projects, their milestones and project templates: `projects:read`, `projects:write`.
    pub(crate) ProjectScope = "projects"
);

/// Reads projects, milestones and templates: every member.
pub(crate) type ReadProjects = Scoped<InOrg, Read<ProjectScope>>;
/// Creates and changes projects, milestones and templates: members and up.
pub(crate) type WriteProjects = Scoped<WorkInOrg, Write<ProjectScope>>;
/// Reads tasks and their views: every member, viewers included.
pub(crate) type ReadTasks = Scoped<InOrg, Read<TaskScope>>;
/// Creates, changes and moves tasks: members and up.
pub(crate) type WriteTasks = Scoped<WorkInOrg, Write<TaskScope>>;
/// Reads boards: every member.
pub(crate) type ReadBoards = Scoped<InOrg, Read<BoardScope>>;
/// Creates boards and configures their columns: members and up.
pub(crate) type WriteBoards = Scoped<WorkInOrg, Write<BoardScope>>;
/// Reads the time report: every member.
pub(crate) type ReadTime = Scoped<InOrg, Read<TimeScope>>;
/// Runs timers and records time: members and up, for themselves.
pub(crate) type WriteTime = Scoped<WorkInOrg, Write<TimeScope>>;
