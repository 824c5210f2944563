//! What the kernel hands every module and handler: configuration, database, enabled modules,
//! readiness checks.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, RwLock};

use actix_web::{FromRequest, HttpRequest};

use crate::cache::Cache;
use crate::config::CellConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::events::Events;
use crate::module::EnabledModule;

/// A readiness probe of one backend, run by `/health/ready` on the request's worker (`?Send`).
#[async_trait::async_trait(?Send)]
pub trait HealthCheck: Send + Sync {
    /// Shown in the readiness answer (`database`, `cache`, …).
    fn name(&self) -> &'static str;
    /// `Err` carries a short public reason; log the details inside the check.
    async fn check(&self) -> Result<(), String>;
    /// Whether the cell cannot serve without it. A failing check that is not critical leaves
    /// the cell ready but `degraded` (its reason says what works differently meanwhile).
    fn critical(&self) -> bool {
        true
    }
}

struct DatabaseCheck(Db);

#[async_trait::async_trait(?Send)]
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
    jobs: crate::jobs::Jobs,
    mail: crate::mail::Mail,
    cache: Cache,
    storage: crate::storage::Storage,
    limiter: crate::ratelimit::RateLimiter,
    authenticator: Option<Arc<dyn crate::http::caller::Authenticator>>,
    authorizer: Option<Arc<dyn crate::http::caller::Authorizer>>,
    audit: crate::audit::Audit,
    services: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The enabled modules' entity loaders by entity type, and entity types by collection.
    loaders: HashMap<&'static str, Arc<dyn crate::module::EntityLoader>>,
    collections: HashMap<&'static str, &'static str>,
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
    /// Builds the context and the kernel services the configuration asks for. Fails only on a
    /// configuration the services cannot use (an unparseable Redis URL); backends are reached
    /// lazily and reported by `/health/ready`.
    pub async fn new(
        config: Arc<CellConfig>,
        db: Db,
        modules: Vec<EnabledModule>,
    ) -> Result<Self, String> {
        let mut checks: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(DatabaseCheck(db.clone()))];
        let redis = match config.uses_redis() {
            true => {
                let redis = crate::redis::Redis::new(&config.redis)?;
                checks.push(Arc::new(crate::redis::RedisCheck(redis.clone())));
                Some(redis)
            }
            false => None,
        };
        let ttl = std::time::Duration::from_secs(config.cache.ttl);
        let cache = match (&config.cache.backend, &redis) {
            (crate::config::CacheBackend::Redis, Some(redis)) => {
                Cache::redis(config.name(), redis.clone(), config.cache.max_entries, ttl)
            }
            _ => Cache::memory(config.name(), config.cache.max_entries, ttl),
        };
        let limiter = match (&config.rate_limit.backend, redis) {
            (crate::ratelimit::RateLimitBackend::Redis, Some(redis)) => {
                crate::ratelimit::RateLimiter::redis(
                    config.name(),
                    config.rate_limit.clone(),
                    redis,
                )
            }
            _ => crate::ratelimit::RateLimiter::memory(config.name(), config.rate_limit.clone()),
        };
        let mut authenticators = modules.iter().filter_map(|m| m.module.authenticator());
        let authenticator = authenticators.next();
        if authenticators.next().is_some() {
            return Err("more than one enabled module provides an authenticator".into());
        }
        let mut authorizers = modules.iter().filter_map(|m| m.module.authorizer());
        let authorizer = authorizers.next();
        if authorizers.next().is_some() {
            return Err("more than one enabled module provides an authorizer".into());
        }
        let storage = crate::storage::Storage::new(
            &config.storage,
            &config.cell.data_dir,
            config.secret_key(),
            config.public_base(),
        )
        .await?;
        checks.push(Arc::new(crate::storage::StorageCheck(storage.clone())));
        let events = Events::new(&modules, config.events.clone())?;
        let send: Arc<dyn crate::module::JobHandler> = Arc::new(crate::mail::SendJob);
        let export: Arc<dyn crate::module::JobHandler> = Arc::new(crate::audit::ExportJob);
        let purge: Arc<dyn crate::module::JobHandler> =
            Arc::new(crate::http::idempotency::PurgeJob);
        let jobs = crate::jobs::Jobs::new(
            &modules,
            vec![
                (crate::mail::SEND_JOB.to_owned(), send, None),
                (crate::audit::EXPORT_JOB.to_owned(), export, None),
                (
                    crate::http::idempotency::PURGE_JOB.to_owned(),
                    purge,
                    Some("0 3 * * *"),
                ),
            ],
            config.jobs.clone(),
        );
        let mail = crate::mail::Mail::new(
            &config.mail,
            &config.cell.data_dir,
            &modules,
            jobs.clone(),
            storage.clone(),
        )
        .await?;
        checks.push(Arc::new(crate::mail::MailCheck(mail.clone())));
        let runner = jobs.clone();
        db.signals().on(crate::jobs::SIGNAL, move |_| runner.wake());
        let dispatcher = events.clone();
        db.signals()
            .on(crate::events::SIGNAL, move |_| dispatcher.wake());
        let mut loaders = HashMap::new();
        let mut collections = HashMap::new();
        for loader in modules.iter().flat_map(|m| m.module.entity_loaders()) {
            collections.insert(loader.collection(), loader.entity_type());
            loaders.insert(loader.entity_type(), loader);
        }
        Ok(Self(Arc::new(Inner {
            config,
            db,
            modules,
            checks,
            events,
            jobs,
            mail,
            cache,
            storage,
            limiter,
            authenticator,
            authorizer,
            audit: crate::audit::Audit,
            services: RwLock::default(),
            loaders,
            collections,
        })))
    }

    /// Background jobs and schedules.
    pub fn jobs(&self) -> &crate::jobs::Jobs {
        &self.0.jobs
    }

    /// Mail: render, queue (in the caller's transaction), send in the background.
    pub fn mail(&self) -> &crate::mail::Mail {
        &self.0.mail
    }

    /// The audit log: append entries in the change's transaction.
    pub fn audit(&self) -> &crate::audit::Audit {
        &self.0.audit
    }

    /// File storage (local directory or S3).
    pub fn storage(&self) -> &crate::storage::Storage {
        &self.0.storage
    }

    /// The rate limiter, for limits on keys other than the caller (login per email).
    pub fn rate_limiter(&self) -> &crate::ratelimit::RateLimiter {
        &self.0.limiter
    }

    /// Signals between the cell's instances (PostgreSQL `LISTEN`/`NOTIFY`): register handlers
    /// in `on_ready`.
    pub fn signals(&self) -> &crate::signals::Signals {
        self.0.db.signals()
    }

    /// The module-provided authorizer, if the cell has one.
    pub fn authorizer(&self) -> Option<&Arc<dyn crate::http::caller::Authorizer>> {
        self.0.authorizer.as_ref()
    }

    /// The module-provided authenticator, if the cell has one.
    pub fn authenticator(&self) -> Option<&Arc<dyn crate::http::caller::Authenticator>> {
        self.0.authenticator.as_ref()
    }

    /// The cache; scope it with `.org(id)` or `.global()`.
    pub fn cache(&self) -> &Cache {
        &self.0.cache
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

    /// The loader of an entity type (`team`), if an enabled module declares it.
    pub fn entity_loader(
        &self,
        entity_type: &str,
    ) -> Option<&Arc<dyn crate::module::EntityLoader>> {
        self.0.loaders.get(entity_type)
    }

    /// Every loader of the cell's enabled modules, in no particular order.
    pub fn entity_loaders(&self) -> impl Iterator<Item = &Arc<dyn crate::module::EntityLoader>> {
        self.0.loaders.values()
    }

    /// The loader of the entity type a route collection names (`teams`).
    pub fn entity_collection(
        &self,
        collection: &str,
    ) -> Option<&Arc<dyn crate::module::EntityLoader>> {
        self.entity_loader(self.0.collections.get(collection)?)
    }

    /// Shares a service of one module with the modules that depend on it (iam's permission
    /// engine), usually from `on_ready`: dependents start later and find it with
    /// [`service`](Self::service). One value per type; a second `provide` keeps the first and
    /// returns `false`.
    pub fn provide<T: Send + Sync + 'static>(&self, service: T) -> bool {
        self.provide_shared(Arc::new(service))
    }

    /// [`provide`](Self::provide) for a value the module keeps a handle to as well (what its
    /// authenticator or jobs read).
    pub fn provide_shared<T: Send + Sync + 'static>(&self, service: Arc<T>) -> bool {
        let Ok(mut services) = self.0.services.write() else {
            return false;
        };
        match services.entry(TypeId::of::<T>()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(service);
                true
            }
        }
    }

    /// A service another module [provided](Self::provide), if the cell has it.
    pub fn service<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let services = self.0.services.read().ok()?;
        services
            .get(&TypeId::of::<T>())?
            .clone()
            .downcast::<T>()
            .ok()
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
