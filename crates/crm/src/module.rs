//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

use crate::ownership::Policy;

/// The CRM: persons and their channels, companies.
#[derive(Debug, Default)]
pub struct Crm {
    settings: Settings,
}

/// `[modules.crm]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// What members (and viewers) may read and write of the persons others own; admins and
    /// owners always read and write everything.
    pub ownership: Policy,
    /// The most persons an organization may hold.
    pub max_contacts: u64,
    /// Channels one person may have.
    pub max_channels: usize,
    /// Domains one company may have.
    pub max_domains: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ownership: Policy::default(),
            max_contacts: 5_000_000,
            max_channels: 50,
            max_domains: 20,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Crm {
    fn name(&self) -> &'static str {
        "crm"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        let s = &self.settings;
        if s.max_contacts == 0 || s.max_channels == 0 || s.max_domains == 0 {
            return Err("max_contacts, max_channels and max_domains must be at least 1".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Persons and companies as other modules see them (tags, notes, links, search, trash).
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![
            Arc::new(crate::loader::Contacts),
            Arc::new(crate::loader::Companies),
        ]
    }

    /// A person's events concern their owner.
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![kernel::module::NotifyOn {
            pattern: "crm.contact.*",
            recipients: Arc::new(crate::loader::Contacts),
        }]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}
