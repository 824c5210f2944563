//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::{EventSubscription, JobDefinition, ModuleSettings};
use serde::Deserialize;

use crate::deliver::Runtime;

/// Outbound webhooks: an organization's events, signed (Standard Webhooks), delivered to the
/// endpoints it registers, retried on a schedule, logged.
#[derive(Debug, Default)]
pub struct Webhooks {
    settings: Settings,
}

/// `[modules.webhooks]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// Lets URLs reach loopback, private, link-local and other non-public addresses: for local
    /// development and tests only (a cell in production mode refuses to start with it).
    pub allow_private_targets: bool,
    /// Seconds one delivery waits for the receiver's answer.
    pub timeout_secs: u64,
    /// Bytes of a response read before it is cut off (the rest is never read).
    pub max_response_bytes: usize,
    /// Bytes of each response kept in the delivery log.
    pub log_response_bytes: usize,
    /// Failed attempts in a row after which a subscription is disabled (`webhook.disabled`).
    pub disable_after: u32,
    /// Hours the previous secret keeps signing after a rotation.
    pub rotation_overlap_hours: u32,
    /// Subscriptions per organization.
    pub max_subscriptions: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout_secs: 10,
            max_response_bytes: 64 * 1024,
            log_response_bytes: 2048,
            disable_after: 10,
            rotation_overlap_hours: 24,
            max_subscriptions: 50,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Webhooks {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        let s = &self.settings;
        if !(1..=60).contains(&s.timeout_secs) {
            return Err("timeout_secs: must be between 1 and 60".into());
        }
        if s.disable_after == 0 {
            return Err("disable_after: must be at least 1".into());
        }
        if s.max_response_bytes < s.log_response_bytes {
            return Err("max_response_bytes: must be at least log_response_bytes".into());
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// Every event of the cell is looked at; those an org's subscriptions take become deliveries.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![EventSubscription {
            name: "fan_out",
            pattern: "*",
            handler: Arc::new(crate::deliver::FanOut),
        }]
    }

    fn jobs(&self) -> Vec<JobDefinition> {
        vec![JobDefinition {
            name: crate::deliver::DELIVER,
            handler: Arc::new(crate::deliver::Deliver),
            max_attempts: Some(crate::deliver::RETRIES_MS.len() as u32 + 1),
            retry_schedule: Some(&crate::deliver::RETRIES_MS),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        if self.settings.allow_private_targets
            && ctx.config().mode() == kernel::config::Mode::Production
        {
            anyhow::bail!(
                "modules.webhooks.allow_private_targets is on in production mode: webhook URLs could reach the cell's own network; turn it off"
            );
        }
        let seal_key = ctx
            .config()
            .derived_key("webhooks.seal.v1")
            .map_err(anyhow::Error::msg)?;
        ctx.provide(Runtime::new(self.settings.clone(), seal_key)?);
        Ok(())
    }
}
