//! The module as the kernel sees it.

use kernel::PlatformModule;

/// Tags and notes on any entity.
#[derive(Debug, Default)]
pub struct Collab;

#[kernel::async_trait::async_trait]
impl PlatformModule for Collab {
    fn name(&self) -> &'static str {
        "collab"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// Every event of every module becomes an entry of its entity's activity.
    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        vec![kernel::module::EventSubscription {
            name: "activity",
            pattern: "*",
            handler: std::sync::Arc::new(crate::http::Record),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Every tagged list of the cell takes `tags=` through collab's filter.
    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(kernel::http::list::TagFilters(std::sync::Arc::new(
            crate::http::ByTags,
        )));
        Ok(())
    }
}
