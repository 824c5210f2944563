//! What the kernel hands every module and handler: configuration, database, enabled modules,
//! readiness checks.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest};

use crate::config::CellConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::events::Events;
use crate::module::EnabledModule;

/// A readiness probe of one backend, run by `/health/ready`.
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// Shown in the readiness answer (`database`, `cache`, …).
    fn name(&self) -> &'static str;
    /// `Err` carries a short public reason; log the details inside the check.
    async fn check(&self) -> Result<(), String>;
}

struct DatabaseCheck(Db);

#[async_trait::async_trait]
impl HealthCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "database readiness check failed");
            "unreachable".to_owned()
        })
    }
}

struct Inner {
    config: Arc<CellConfig>,
    db: Db,
    modules: Vec<EnabledModule>,
    checks: Vec<Arc<dyn HealthCheck>>,
    events: Events,
}

/// Shared, cheap to clone. Extract it in a handler with `ctx: CellContext`.
#[derive(Clone)]
pub struct CellContext(Arc<Inner>);

impl std::fmt::Debug for CellContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellContext")
            .field("cell", &self.0.config.name())
            .field("modules", &self.0.modules)
            .finish()
    }
}

impl CellContext {
    pub fn new(
        config: Arc<CellConfig>,
        db: Db,
        modules: Vec<EnabledModule>,
        mut checks: Vec<Arc<dyn HealthCheck>>,
    ) -> Self {
        checks.insert(0, Arc::new(DatabaseCheck(db.clone())));
        let events = Events::new(&modules, config.events.clone());
        Self(Arc::new(Inner {
            config,
            db,
            modules,
            checks,
            events,
        }))
    }

    pub fn config(&self) -> &CellConfig {
        &self.0.config
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The enabled modules in dependency order.
    pub fn modules(&self) -> &[EnabledModule] {
        &self.0.modules
    }

    /// The event bus: publish in a transaction, dispatch, list and replay parked deliveries.
    pub fn events(&self) -> &Events {
        &self.0.events
    }

    pub fn health_checks(&self) -> &[Arc<dyn HealthCheck>] {
        &self.0.checks
    }
}

impl FromRequest for CellContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.app_data::<CellContext>().cloned().ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("CellContext is not registered"))
            }),
        )
    }
}
