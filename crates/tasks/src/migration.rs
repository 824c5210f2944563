//! Forward-only migrations, `tasks_m<date>_<seq>_<what>`. Every table leads its keys with
//! `org_id` and gets row-level security; the children of a task (checklists, dependencies,
//! watchers, time entries) have foreign keys that delete them with it, and tasks go to the trash
//! first, so the daily purge finds expired ones across orgs in the system context.

use kernel::migration::{
    ForeignKey, OnDelete, boolean, index, int, int_null, org_id, text, text_null, ts, ts_null,
    uuid, uuid_null, uuid_pk,
};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateTasks)]
}

struct CreateTasks;

impl MigrationName for CreateTasks {
    fn name(&self) -> &str {
        "tasks_m20261205_000001_boards_tasks_time"
    }
}

/// `child.<column>` → `parent`, in the same org, deleted with it.
fn child_of(column: &'static str, parent: &'static str, child: &str) -> ForeignKeyCreateStatement {
    ForeignKey::tenant(column, parent, OnDelete::Cascade).create(child)
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateTasks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        m.create_table(
            Table::create()
                .table("tasks_boards")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text("view_type"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_boards"))
            .await?;

        m.create_table(
            Table::create()
                .table("tasks_columns")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("board_id"))
                .col(text("name"))
                .col(text("status"))
                .col(int("position"))
                .col(text_null("color"))
                .col(int_null("wip_limit"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of("board_id", "tasks_boards", "tasks_columns"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_columns_org_board",
            "tasks_columns",
            &["org_id", "board_id", "position"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_columns"))
            .await?;

        m.create_table(
            Table::create()
                .table("tasks_projects")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(ColumnDef::new("description").text().to_owned())
                .col(text("status"))
                .col(uuid_null("lead_id"))
                .col(uuid_null("board_id"))
                .col(text_null("anchor_type"))
                .col(uuid_null("anchor_id"))
                .col(ts_null("start_date"))
                .col(ts_null("due_date"))
                .col(uuid_null("template_id"))
                .col(ts_null("completed_at"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(
                    &mut ForeignKey::tenant("board_id", "tasks_boards", OnDelete::Restrict)
                        .create("tasks_projects"),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("tasks_projects_org_status", &["org_id", "status"][..]),
            ("tasks_projects_org_created", &["org_id", "created_at"][..]),
            (
                "tasks_projects_org_anchor",
                &["org_id", "anchor_type", "anchor_id"][..],
            ),
        ] {
            m.create_index(index(name, "tasks_projects", cols)).await?;
        }
        m.create_index(kernel::migration::tenant_parent_key("tasks_projects"))
            .await?;
        m.create_table(
            Table::create()
                .table("tasks_milestones")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("project_id"))
                .col(text("name"))
                .col(ts_null("due_date"))
                .col(int("position"))
                .col(ColumnDef::new("amount").big_integer().to_owned())
                .col(text_null("currency"))
                .col(ts_null("reached_at"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of(
                    "project_id",
                    "tasks_projects",
                    "tasks_milestones",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_milestones_org_project",
            "tasks_milestones",
            &["org_id", "project_id", "position"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_milestones"))
            .await?;
        m.create_table(
            Table::create()
                .table("tasks_project_templates")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(ColumnDef::new("description").text().to_owned())
                .col(ColumnDef::new("structure").json().not_null().to_owned())
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_project_templates_org_name",
            "tasks_project_templates",
            &["org_id", "name"],
        ))
        .await?;

        // Positions compare as bytes (`crate::position`): PostgreSQL's "C" collation.
        let mut position = ColumnDef::new("position").text().to_owned();
        if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
            position.extra("COLLATE \"C\"");
        }
        m.create_table(
            Table::create()
                .table("tasks_tasks")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("title"))
                .col(ColumnDef::new("description").text().to_owned())
                .col(text("status"))
                .col(text("priority"))
                .col(uuid_null("board_id"))
                .col(uuid_null("column_id"))
                .col(position)
                .col(uuid_null("parent_id"))
                .col(uuid_null("assignee_id"))
                .col(ts_null("start_date"))
                .col(ts_null("due_date"))
                .col(int_null("estimate_minutes"))
                .col(text_null("anchor_type"))
                .col(uuid_null("anchor_id"))
                .col(ts_null("completed_at"))
                .col(uuid_null("project_id"))
                .col(uuid_null("milestone_id"))
                .col(uuid_null("recurrence_id"))
                .col(ts_null("occurs_at"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("deleted_at"))
                // A board's tasks keep it; a column with tasks cannot go (the service says 409).
                .foreign_key(
                    &mut ForeignKey::tenant("board_id", "tasks_boards", OnDelete::Restrict)
                        .create("tasks_tasks"),
                )
                .foreign_key(
                    &mut ForeignKey::tenant("column_id", "tasks_columns", OnDelete::Restrict)
                        .create("tasks_tasks"),
                )
                // A project or milestone holding tasks stays (the service says 409 or lets go).
                .foreign_key(
                    &mut ForeignKey::tenant("project_id", "tasks_projects", OnDelete::Restrict)
                        .create("tasks_tasks"),
                )
                .foreign_key(
                    &mut ForeignKey::tenant("milestone_id", "tasks_milestones", OnDelete::Restrict)
                        .create("tasks_tasks"),
                )
                // Subtasks go with their parent when it is purged (they are trashed with it).
                .foreign_key(
                    &mut ForeignKey::by_id("parent_id", "tasks_tasks", OnDelete::Cascade)
                        .create("tasks_tasks"),
                )
                .to_owned(),
        )
        .await?;
        // A column's live tasks in order, id included: a move's place (an offset into the
        // column) and the kanban view read this index alone once the table is vacuumed.
        m.create_index(
            index(
                "tasks_tasks_org_column_position",
                "tasks_tasks",
                &["org_id", "column_id", "position", "id"],
            )
            .and_where(Expr::col("deleted_at").is_null())
            .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("tasks_tasks_org_board", &["org_id", "board_id"][..]),
            ("tasks_tasks_org_parent", &["org_id", "parent_id"][..]),
            ("tasks_tasks_org_assignee", &["org_id", "assignee_id"][..]),
            ("tasks_tasks_org_due", &["org_id", "due_date"][..]),
            (
                "tasks_tasks_org_anchor",
                &["org_id", "anchor_type", "anchor_id"][..],
            ),
            ("tasks_tasks_org_created", &["org_id", "created_at"][..]),
            ("tasks_tasks_org_project", &["org_id", "project_id"][..]),
            ("tasks_tasks_org_milestone", &["org_id", "milestone_id"][..]),
        ] {
            m.create_index(index(name, "tasks_tasks", cols)).await?;
        }
        // One task per occurrence of a rule, whatever runs at once.
        m.create_index(
            index(
                "tasks_tasks_org_occurrence",
                "tasks_tasks",
                &["org_id", "recurrence_id", "occurs_at"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_tasks"))
            .await?;

        m.create_table(
            Table::create()
                .table("tasks_checklists")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("task_id"))
                .col(text("title"))
                .col(int("position"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of("task_id", "tasks_tasks", "tasks_checklists"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_checklists_org_task",
            "tasks_checklists",
            &["org_id", "task_id"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_checklists"))
            .await?;
        m.create_table(
            Table::create()
                .table("tasks_checklist_items")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("checklist_id"))
                .col(text("title"))
                .col(boolean("done"))
                .col(uuid_null("done_by"))
                .col(ts_null("done_at"))
                .col(int("position"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of(
                    "checklist_id",
                    "tasks_checklists",
                    "tasks_checklist_items",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_checklist_items_org_checklist",
            "tasks_checklist_items",
            &["org_id", "checklist_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("tasks_dependencies")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("task_id"))
                .col(uuid("depends_on_id"))
                .col(text("kind"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of(
                    "task_id",
                    "tasks_tasks",
                    "tasks_dependencies",
                ))
                .foreign_key(&mut child_of(
                    "depends_on_id",
                    "tasks_tasks",
                    "tasks_dependencies",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "tasks_dependencies_org_task_on",
                "tasks_dependencies",
                &["org_id", "task_id", "depends_on_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_dependencies_org_on",
            "tasks_dependencies",
            &["org_id", "depends_on_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("tasks_watchers")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("task_id"))
                .col(uuid("user_id"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of("task_id", "tasks_tasks", "tasks_watchers"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "tasks_watchers_org_task_user",
                "tasks_watchers",
                &["org_id", "task_id", "user_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("tasks_time_entries")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("task_id"))
                .col(uuid("user_id"))
                .col(ts("started_at"))
                .col(ts_null("ended_at"))
                .col(ColumnDef::new("duration_seconds").big_integer().to_owned())
                .col(ColumnDef::new("description").text().to_owned())
                .col(boolean("billable"))
                .col(ts("created_at"))
                .foreign_key(&mut child_of(
                    "task_id",
                    "tasks_tasks",
                    "tasks_time_entries",
                ))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "tasks_time_entries_org_task",
                &["org_id", "task_id", "started_at"][..],
            ),
            (
                "tasks_time_entries_org_user",
                &["org_id", "user_id", "started_at"][..],
            ),
            (
                "tasks_time_entries_org_started",
                &["org_id", "started_at"][..],
            ),
        ] {
            m.create_index(index(name, "tasks_time_entries", cols))
                .await?;
        }
        // One running timer per user and org, whatever two requests do at once.
        m.create_index(
            index(
                "tasks_time_entries_one_running",
                "tasks_time_entries",
                &["org_id", "user_id"],
            )
            .unique()
            .and_where(Expr::col("ended_at").is_null())
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("tasks_recurrences")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("task_id"))
                .col(text("rule"))
                .col(text("timezone"))
                .col(ts("starts_at"))
                .col(text("assignee_strategy"))
                .col(ColumnDef::new("assignees").json().not_null().to_owned())
                .col(int("occurrences"))
                .col(ts_null("next_at"))
                .col(boolean("enabled"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut child_of("task_id", "tasks_tasks", "tasks_recurrences"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "tasks_recurrences_org_task",
                "tasks_recurrences",
                &["org_id", "task_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        // The schedule finds due rules across orgs.
        m.create_index(index(
            "tasks_recurrences_next",
            "tasks_recurrences",
            &["next_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("tasks_automations")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("board_id"))
                .col(text("name"))
                .col(text("trigger"))
                .col(ColumnDef::new("conditions").json().not_null().to_owned())
                .col(ColumnDef::new("actions").json().not_null().to_owned())
                .col(boolean("enabled"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut child_of(
                    "board_id",
                    "tasks_boards",
                    "tasks_automations",
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_automations_org_board",
            "tasks_automations",
            &["org_id", "board_id", "trigger"],
        ))
        .await?;
        // The overdue sweep finds the orgs with such automations.
        m.create_index(index(
            "tasks_automations_trigger",
            "tasks_automations",
            &["trigger"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("tasks_automations"))
            .await?;
        m.create_table(
            Table::create()
                .table("tasks_automation_runs")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("automation_id"))
                .col(uuid("task_id"))
                .col(uuid("event_id"))
                .col(uuid("chain_id"))
                .col(int("depth"))
                .col(text("outcome"))
                .col(ColumnDef::new("detail").json().not_null().to_owned())
                .col(ts("created_at"))
                .foreign_key(&mut child_of(
                    "automation_id",
                    "tasks_automations",
                    "tasks_automation_runs",
                ))
                .foreign_key(&mut child_of(
                    "task_id",
                    "tasks_tasks",
                    "tasks_automation_runs",
                ))
                .to_owned(),
        )
        .await?;
        // One run per automation, event and task: a redelivered event runs nothing twice.
        m.create_index(
            index(
                "tasks_automation_runs_once",
                "tasks_automation_runs",
                &["org_id", "automation_id", "event_id", "task_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "tasks_automation_runs_chain",
            "tasks_automation_runs",
            &["org_id", "automation_id", "chain_id", "task_id"],
        ))
        .await?;
        m.create_index(index(
            "tasks_automation_runs_org_created",
            "tasks_automation_runs",
            &["org_id", "automation_id", "created_at"],
        ))
        .await?;

        for table in [
            "tasks_automation_runs",
            "tasks_projects",
            "tasks_milestones",
            "tasks_project_templates",
            "tasks_boards",
            "tasks_columns",
            "tasks_tasks",
            "tasks_checklists",
            "tasks_checklist_items",
            "tasks_dependencies",
            "tasks_watchers",
            "tasks_time_entries",
        ] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        kernel::db::enable_system_rls(conn, "tasks_tasks", false).await?;
        kernel::db::enable_system_rls(conn, "tasks_recurrences", false).await?;
        kernel::db::enable_system_rls(conn, "tasks_automations", false).await
    }
}
