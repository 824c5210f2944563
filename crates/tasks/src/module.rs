//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

/// Tasks: boards, tasks, time.
#[derive(Debug, Default)]
pub struct Tasks {
    settings: Settings,
}

/// `[modules.tasks]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// The most tasks an organization may hold.
    pub max_tasks: u64,
    /// A task waiting for open tasks cannot start (move past `todo`): 409 naming them.
    pub block_start: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_tasks: 1_000_000,
            block_start: true,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Tasks {
    fn name(&self) -> &'static str {
        "tasks"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// collab puts an automation's tags on tasks.
    fn dependencies(&self) -> &'static [&'static str] {
        &["collab"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        if self.settings.max_tasks == 0 {
            return Err("max_tasks: must be at least 1".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// A member who leaves the org hands their open tasks on (`crate::service::members`); a
    /// task's events run its board's automations (`crate::service::automations`); tasks and
    /// projects anchored on an entity merged into another follow it (collab's `entity.merged`).
    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        vec![
            kernel::module::EventSubscription {
                name: "member_removed",
                pattern: "tenancy.member.removed",
                handler: Arc::new(MemberRemoved),
            },
            kernel::module::EventSubscription {
                name: "automations",
                pattern: "tasks.task.*",
                handler: Arc::new(Automations),
            },
            kernel::module::EventSubscription {
                name: "entity_merged",
                pattern: "entity.merged",
                handler: Arc::new(EntityMerged),
            },
        ]
    }

    /// Recurring tasks every minute; overdue tasks' automations every hour (each tick once
    /// across instances).
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![
            kernel::module::ScheduledJob {
                name: "recur",
                cron: "* * * * *",
                handler: Arc::new(Recur),
            },
            kernel::module::ScheduledJob {
                name: "overdue",
                cron: "0 * * * *",
                handler: Arc::new(Overdue),
            },
        ]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Tasks as other modules see them (comments, tags, links, activity, search, trash, files).
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![
            Arc::new(crate::loader::TaskLoader),
            Arc::new(crate::loader::ProjectLoader),
        ]
    }

    /// A task's events concern its assignee, its creator and its watchers; a project's, its
    /// lead and its creator.
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![
            kernel::module::NotifyOn {
                pattern: "tasks.task.*",
                recipients: Arc::new(crate::loader::TaskLoader),
            },
            kernel::module::NotifyOn {
                pattern: "tasks.project.*",
                recipients: Arc::new(crate::loader::ProjectLoader),
            },
            kernel::module::NotifyOn {
                pattern: "tasks.milestone.*",
                recipients: Arc::new(crate::loader::ProjectLoader),
            },
            kernel::module::NotifyOn {
                pattern: "tasks.automation.*",
                recipients: Arc::new(crate::loader::Notified),
            },
        ]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}

struct MemberRemoved;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for MemberRemoved {
    /// tenancy's payload names `user_id` and `removed_by` (docs/events): read as JSON, so
    /// tasks does not depend on the tenancy crate.
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let id = |k: &str| {
            event.payload[k]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
        };
        let Some(user) = id("user_id") else {
            anyhow::bail!("tenancy.member.removed without a user_id");
        };
        let by = id("removed_by").unwrap_or(user);
        let org = event.org_id;
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(org).await?;
            crate::service::members::member_removed(&ctx, &tx, user, by)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

struct EntityMerged;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for EntityMerged {
    /// collab's payload names `entity_type`, `entity_id` (kept) and `merged_id`: read as JSON,
    /// so tasks does not depend on the collab crate.
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let Some(from) = event.payload["merged_id"]
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
        else {
            anyhow::bail!("entity.merged without a merged_id");
        };
        let tx = ctx.db().tenant(event.org_id).await?;
        crate::service::members::reanchor(&tx, &event.entity.kind, from, event.entity.id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        tx.commit().await?;
        Ok(())
    }
}

struct Recur;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Recur {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let tick = job.tick();
        let made = crate::service::recurrence::run_due(ctx, tick).await?;
        if made > 0 {
            tracing::info!(made, %tick, "recurring tasks made");
        }
        Ok(())
    }
}

struct Automations;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for Automations {
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let Some(settings) = ctx.service::<Settings>() else {
            anyhow::bail!("the tasks module is not ready");
        };
        let (ctx, event) = (ctx.clone(), event.clone());
        kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(event.org_id).await?;
            crate::service::automations::on_event(&ctx, &tx, &settings, &event)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

struct Overdue;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Overdue {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let ran = crate::service::automations::sweep(ctx, job.tick()).await?;
        if ran > 0 {
            tracing::info!(ran, "overdue tasks' automations ran");
        }
        Ok(())
    }
}
