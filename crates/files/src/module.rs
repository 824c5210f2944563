//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::{EventSubscription, JobDefinition, JobHandler, ModuleSettings, ScheduledJob};
use serde::Deserialize;

/// Files of an organization: uploads straight to storage through presigned URLs, confirmed
/// against what was stored; folders; attachments to any entity.
#[derive(Debug, Default)]
pub struct Files {
    settings: Settings,
}

/// `[modules.files]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// Uploads of this many bytes or more are refused (the spec's 100 MB). The storage's own
    /// `storage.max_upload` caps it too.
    pub max_file_bytes: u64,
    /// Bytes an organization may store (pending, active and trashed files count): an upload past
    /// it is refused with 413.
    pub quota_bytes: u64,
    /// Hours after which an upload never confirmed is deleted, with its object.
    pub abandoned_after_hours: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 * 1024 * 1024,
            quota_bytes: 10 * 1024 * 1024 * 1024,
            abandoned_after_hours: 24,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        if self.settings.max_file_bytes == 0 {
            return Err("max_file_bytes: must be at least 1".into());
        }
        if self.settings.abandoned_after_hours == 0 {
            return Err("abandoned_after_hours: must be at least 1".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// When any entity is deleted for good (collab's `entity.purged`), so are its files.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![EventSubscription {
            name: "attachments",
            pattern: "entity.purged",
            handler: Arc::new(crate::jobs::OwnerPurged),
        }]
    }

    fn jobs(&self) -> Vec<JobDefinition> {
        vec![JobDefinition {
            name: crate::jobs::DELETE_OBJECTS,
            handler: Arc::new(crate::jobs::DeleteObjects),
            max_attempts: None,
            retry_schedule: None,
        }]
    }

    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        let handler: Arc<dyn JobHandler> = Arc::new(crate::jobs::SweepAbandoned {
            after_hours: self.settings.abandoned_after_hours,
        });
        vec![ScheduledJob {
            name: "sweep_abandoned",
            cron: "17 * * * *",
            handler,
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Files as other modules see them (tags, notes, links, search, trash).
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![Arc::new(crate::loader::FileLoader)]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        let storage_max = ctx.storage().max_upload();
        if storage_max < self.settings.max_file_bytes.saturating_sub(1) {
            tracing::warn!(
                storage_max,
                files_max = self.settings.max_file_bytes,
                "storage.max_upload is below modules.files.max_file_bytes: uploads stop at the smaller"
            );
        }
        ctx.provide(self.settings.clone());
        Ok(())
    }
}
