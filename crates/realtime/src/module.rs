//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::{DomainEvent, EventHandler, EventSubscription, ModuleSettings};
use serde::Deserialize;

use crate::hub::Hub;

/// Live pushes over WebSocket (`GET /ws`) and server-sent events (`GET /ws/stream`).
#[derive(Debug, Default)]
pub struct Realtime {
    settings: Settings,
}

/// `[modules.realtime]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// Pushes waiting for one connection; one more closes it as too slow (the client resumes).
    pub queue: usize,
    /// Seconds between the server's pings (WebSocket) or comments (event stream).
    pub heartbeat_secs: u64,
    /// Seconds without a frame from a WebSocket client (a pong included) before it is closed.
    pub client_timeout_secs: u64,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Open connections per user on one instance.
    pub max_connections_per_user: usize,
    /// Messages one resume sends at most (then `more`, `until`).
    pub resume_limit: u64,
    /// Seconds a connection stays open at most; the client reconnects (with a fresh ticket or
    /// token, so a revoked session does not listen forever) and resumes.
    pub max_lifetime_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            queue: 256,
            heartbeat_secs: 20,
            client_timeout_secs: 60,
            max_subscriptions: 100,
            max_connections_per_user: 20,
            resume_limit: 500,
            max_lifetime_secs: 3600,
        }
    }
}

/// The hub and settings, once the cell is ready.
pub(crate) struct Runtime {
    pub hub: Arc<Hub>,
    pub settings: Arc<Settings>,
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Realtime {
    fn name(&self) -> &'static str {
        "realtime"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        let s = &self.settings;
        if !(1..=100_000).contains(&s.queue) {
            return Err("queue: must be between 1 and 100000".into());
        }
        if s.heartbeat_secs == 0 || s.client_timeout_secs <= s.heartbeat_secs {
            return Err("heartbeat_secs must be at least 1 and below client_timeout_secs".into());
        }
        if s.max_connections_per_user == 0 || s.resume_limit == 0 || s.max_lifetime_secs == 0 {
            return Err(
                "max_connections_per_user, resume_limit and max_lifetime_secs must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }

    /// Every event goes to the sockets of its org subscribed to its entity.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![EventSubscription {
            name: "push",
            pattern: "*",
            handler: Arc::new(PushEvents),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        let hub = Arc::new(Hub::default());
        let router = hub.clone();
        kernel::realtime::receive(ctx, move |received| router.route(received));
        ctx.provide(Runtime {
            hub,
            settings: Arc::new(self.settings.clone()),
        });
        Ok(())
    }

    async fn on_shutdown(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        if let Some(rt) = ctx.service::<Runtime>() {
            rt.hub.stopping.cancel();
        }
        Ok(())
    }
}

/// Publishes each event to every instance, for the sockets that watch its entity.
struct PushEvents;

#[kernel::async_trait::async_trait]
impl EventHandler for PushEvents {
    async fn handle(&self, ctx: &kernel::CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        kernel::realtime::publish(ctx, &[kernel::realtime::Push::event(event)]).await;
        Ok(())
    }
}
