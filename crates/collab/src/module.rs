//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::{
    CommandHandler, EventSubscription, JobHandler, ModuleCommand, ModuleSettings, ScheduledJob,
};
use serde::Deserialize;

/// Tags, notes, links, comments, activity, trash and search on any entity.
#[derive(Debug, Default)]
pub struct Collab {
    settings: Settings,
}

/// `[modules.collab]` in the product's TOML. Unknown keys are refused, naming the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// Days an entity stays in the trash before the daily purge deletes it for good.
    pub trash_retention_days: u32,
    /// Seconds a caller's search answer is reused for the same query (0: never).
    pub search_cache_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            trash_retention_days: 30,
            search_cache_seconds: 60,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Collab {
    fn name(&self) -> &'static str {
        "collab"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        if !(1..=3650).contains(&self.settings.trash_retention_days) {
            return Err("trash_retention_days: must be from 1 to 3650".into());
        }
        if self.settings.search_cache_seconds > 3600 {
            return Err("search_cache_seconds: must be at most 3600".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// Every event of every module becomes an entry of its entity's activity, and brings the
    /// entity's search entry up to date.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![
            EventSubscription {
                name: "activity",
                pattern: "*",
                handler: Arc::new(crate::http::Record),
            },
            EventSubscription {
                name: "search",
                pattern: "*",
                handler: Arc::new(crate::search::Reindex),
            },
        ]
    }

    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        let handler: Arc<dyn JobHandler> = Arc::new(crate::http::PurgeExpired {
            retention_days: self.settings.trash_retention_days,
        });
        vec![ScheduledJob {
            name: "purge_trash",
            cron: "0 3 * * *",
            handler,
        }]
    }

    fn commands(&self) -> Vec<ModuleCommand> {
        let handler: Arc<dyn CommandHandler> = Arc::new(crate::search::RebuildCommand);
        vec![ModuleCommand {
            path: &["search", "rebuild"],
            about: "rebuild the search index of the given organizations",
            handler,
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Every tagged list of the cell takes `tags=` through collab's filter.
    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(kernel::http::list::TagFilters(Arc::new(
            crate::http::ByTags,
        )));
        ctx.provide(self.settings.clone());
        Ok(())
    }
}
