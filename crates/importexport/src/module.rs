//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::{JobDefinition, ModuleSettings};
use serde::Deserialize;

/// Import and export of any module's records.
#[derive(Debug, Default)]
pub struct ImportExport {
    settings: Settings,
}

/// `[modules.importexport]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// The largest file `POST /import/preview` accepts, in bytes.
    pub max_file_bytes: u64,
    /// The most data rows one import may have.
    pub max_rows: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_file_bytes: 50 * 1024 * 1024,
            max_rows: 1_000_000,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for ImportExport {
    fn name(&self) -> &'static str {
        "importexport"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        if self.settings.max_rows == 0 || self.settings.max_file_bytes == 0 {
            return Err("max_rows and max_file_bytes must be at least 1".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    fn jobs(&self) -> Vec<JobDefinition> {
        vec![
            JobDefinition {
                name: crate::jobs::IMPORT,
                handler: Arc::new(crate::jobs::Import),
                max_attempts: None,
                retry_schedule: None,
            },
            JobDefinition {
                name: crate::jobs::EXPORT,
                handler: Arc::new(crate::jobs::Export),
                max_attempts: None,
                retry_schedule: None,
            },
        ]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}
