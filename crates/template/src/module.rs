//! The module as the kernel sees it.

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

/// The template module: items of an organization.
#[derive(Debug, Default)]
pub struct Template {
    settings: Settings,
}

/// `[modules.template]` in the product's TOML. Unknown keys are refused, naming the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// The most items an organization may hold.
    pub max_items: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { max_items: 10_000 }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Template {
    fn name(&self) -> &'static str {
        "template"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        if self.settings.max_items == 0 {
            return Err("max_items: must be at least 1".into());
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

    /// Items as other modules see them (tags, notes, links, search).
    fn entity_loaders(&self) -> Vec<std::sync::Arc<dyn kernel::module::EntityLoader>> {
        vec![std::sync::Arc::new(crate::loader::Items)]
    }

    /// An item's events concern its creator (the notifications module tells them).
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![kernel::module::NotifyOn {
            pattern: "template.item.*",
            recipients: std::sync::Arc::new(crate::loader::Items),
        }]
    }

    /// Module state is reached one way: provided to the context here, taken by handlers with
    /// `kernel::http::State<T>` (or `ctx.service::<T>()` outside a request).
    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}
