//! The module contract (`PlatformModule`), its `inventory` registry, and the resolution of the
//! modules a cell enables into start-up order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sea_orm_migration::MigrationTrait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::config::CellConfig;
use crate::context::CellContext;

/// A module's own settings: the keys of its `[modules.<name>]` table other than `enabled` and
/// `route_prefix`.
pub type ModuleSettings = serde_json::Map<String, serde_json::Value>;

/// What a module plugs into a cell. Every method but `name` and `version` has a default, so a
/// module implements only what it has.
#[async_trait::async_trait]
pub trait PlatformModule: Send + Sync + 'static {
    /// Unique, lowercase snake case; also the prefix of its migrations and tables.
    fn name(&self) -> &'static str;
    /// Usually `env!("CARGO_PKG_VERSION")`.
    fn version(&self) -> &'static str;
    /// Modules that must be enabled and started before this one.
    fn dependencies(&self) -> &'static [&'static str] {
        &[]
    }
    /// Validates and keeps the module's settings. Unknown keys must be refused, naming the key;
    /// [`parse_settings`] does both for a `#[serde(deny_unknown_fields)]` struct.
    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        match settings.keys().next() {
            Some(key) => Err(format!(
                "unknown key `{key}` (this module takes no settings)"
            )),
            None => Ok(()),
        }
    }
    /// Setting names that may only come from the environment (`CELL__MODULES__<NAME>__<KEY>`).
    fn secret_settings(&self) -> &'static [&'static str] {
        &[]
    }
    /// Settings production refuses to start without while the module is enabled, each with
    /// what would fail at the first request without it (`("hook_secrets", "POST /hooks/posthog
    /// refuses every event")`); `check-config` lists them with the kernel's.
    fn production_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Forward-only migrations, named `<module>_m<date>_<seq>_<what>`.
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
    /// Zanzibar namespaces in SpiceDB schema syntax (`definition task { relation … permission … }`).
    fn permission_schema(&self) -> &'static str {
        ""
    }
    /// The domain events this module publishes (`EventDef::of::<E>()` per [`crate::events::Event`]):
    /// the cell's event catalogue. Publishing an event no enabled module declares fails.
    fn events(&self) -> Vec<crate::events::EventDef> {
        Vec::new()
    }
    /// Domain events this module reacts to.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        Vec::new()
    }
    /// Mounts the module's handlers under its route prefix. Register handlers with `.service(…)`
    /// and `#[utoipa::path]` so they appear in the cell's OpenAPI document.
    fn routes(&self, _cfg: &mut ServiceConfig<'_>) {}
    /// Background job types (`ctx.jobs().enqueue(&tx, "<module>.<name>", org, payload)`).
    fn jobs(&self) -> Vec<JobDefinition> {
        Vec::new()
    }
    /// Email templates (minijinja: subject, text, optional HTML), used as `<module>.<name>`;
    /// orgs may override them.
    fn email_templates(&self) -> Vec<crate::mail::EmailTemplate> {
        Vec::new()
    }
    /// Recurring work (cron expressions, UTC).
    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        Vec::new()
    }
    /// The steps of a new organization's first hour this module checks (`GET /onboarding/status`
    /// lists every enabled module's).
    fn onboarding_steps(&self) -> Vec<OnboardingStep> {
        Vec::new()
    }
    /// Loaders for each entity type the module owns, so links, search, activity and
    /// notifications can show any entity.
    fn entity_loaders(&self) -> Vec<Arc<dyn EntityLoader>> {
        Vec::new()
    }
    /// Who hears of this module's events: for each pattern of its events, the users they
    /// concern (the notifications module asks; without it nobody is notified).
    fn notify_on(&self) -> Vec<NotifyOn> {
        Vec::new()
    }
    /// Identifies callers for the whole cell (the identity module provides it; at most one).
    fn authenticator(&self) -> Option<Arc<dyn crate::http::caller::Authenticator>> {
        None
    }
    /// Decides permissions on an organization for kernel routes (the permission module provides
    /// it; at most one).
    fn authorizer(&self) -> Option<Arc<dyn crate::http::caller::Authorizer>> {
        None
    }
    /// Commands the module adds to the cell binary (`suite users create …`); they run after
    /// migrations, with the cell's context.
    fn commands(&self) -> Vec<ModuleCommand> {
        Vec::new()
    }
    /// Extra OpenAPI content (tags, security schemes, components) merged into the cell's document.
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApi::default()
    }
    /// Called once, in dependency order, after migrations and before the cell serves traffic.
    async fn on_ready(&self, _ctx: &CellContext) -> anyhow::Result<()> {
        Ok(())
    }
    /// Called once, in reverse dependency order, after the server stopped accepting requests.
    async fn on_shutdown(&self, _ctx: &CellContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Parses a module's settings into its typed settings struct; unknown keys are refused by
/// `#[serde(deny_unknown_fields)]` on `T`, and the message names the key.
pub fn parse_settings<T: DeserializeOwned>(settings: &ModuleSettings) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(settings.clone())).map_err(|e| e.to_string())
}

/// A reference to any entity of any module (`{"type":"task","id":"…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Uuid,
}

impl EntityRef {
    /// A user (an event's actor, most often).
    pub fn user(id: Uuid) -> Self {
        Self {
            kind: "user".into(),
            id,
        }
    }
}

/// A domain event as subscribers receive it. Names are `module.entity.verb` (`task.assigned`).
/// Read a typed payload with [`DomainEvent::payload_as`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainEvent {
    pub id: Uuid,
    pub name: String,
    pub version: u32,
    pub org_id: Uuid,
    pub actor: Option<EntityRef>,
    pub entity: EntityRef,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub payload: serde_json::Value,
}

impl DomainEvent {
    /// The payload as the event type that declares it; `None` for another event, or for an
    /// older version than `E::VERSION`.
    pub fn payload_as<E: crate::events::Event>(&self) -> Option<E> {
        if self.name != E::NAME || self.version != E::VERSION {
            return None;
        }
        serde_json::from_value(self.payload.clone()).ok()
    }
}

#[async_trait::async_trait]
pub trait EventHandler: Send + Sync {
    /// Must be idempotent on `event.id`: delivery is at least once.
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()>;
}

/// A subscription to events whose name matches `pattern` (`task.assigned`, or `task.*`).
#[derive(Clone)]
pub struct EventSubscription {
    pub name: &'static str,
    pub pattern: &'static str,
    pub handler: Arc<dyn EventHandler>,
}

#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    /// Runs one attempt. Delivery is at least once (a crash after the work but before the
    /// outcome is recorded runs it again), so make the work idempotent.
    async fn run(&self, ctx: &CellContext, job: &crate::jobs::Job) -> anyhow::Result<()>;
}

/// A job type a module runs in the background; enqueued as `<module>.<name>`.
#[derive(Clone)]
pub struct JobDefinition {
    pub name: &'static str,
    pub handler: Arc<dyn JobHandler>,
    /// Attempts before the job is parked; default `jobs.max_attempts`.
    pub max_attempts: Option<u32>,
    /// Milliseconds before each retry (`[60_000, 300_000]`: 1 min after the first failure,
    /// 5 min after the second and later ones), without jitter; `None`: exponential backoff from
    /// `jobs.backoff_base_ms`.
    pub retry_schedule: Option<&'static [u64]>,
}

/// A cron schedule (UTC; 5 fields, or 6 with seconds first). Each tick enqueues the job
/// `<module>.<name>` once across all instances, with payload `{"tick": "<RFC 3339>"}`.
#[derive(Clone)]
pub struct ScheduledJob {
    pub name: &'static str,
    pub cron: &'static str,
    pub handler: Arc<dyn JobHandler>,
}

/// A command of the cell binary provided by a module, selected by the words of `path`
/// (`["users", "create"]`).
#[derive(Clone)]
pub struct ModuleCommand {
    pub path: &'static [&'static str],
    /// One line for the command list.
    pub about: &'static str,
    pub handler: Arc<dyn CommandHandler>,
}

#[async_trait::async_trait]
pub trait CommandHandler: Send + Sync {
    /// `args` are the words after the command's path; stdin is the handler's to read (secrets
    /// such as passwords come from there, never from arguments). Output goes to stdout; an
    /// error exits with status 2 and its message.
    async fn run(&self, ctx: &CellContext, args: &[String]) -> anyhow::Result<()>;

    /// The command's `--help` (its options): printed for `<cell> <path> --help` without
    /// opening the database.
    fn usage(&self) -> String {
        String::new()
    }
}

/// A user an event concerns, and why: `assignee`, `watcher`, `creator`, `mentioned`,
/// `approver`… (shown with the notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: Uuid,
    pub reason: &'static str,
}

/// The users an event concerns, as the module that owns it knows them (an item's creator, a
/// task's assignee and watchers). Called in the event's org transaction, once per delivery of
/// the event; the notifications module then leaves out the user who acted, muted users and
/// channels their preferences turn off.
#[async_trait::async_trait(?Send)]
pub trait Recipients: Send + Sync {
    async fn recipients(
        &self,
        ctx: &CellContext,
        tx: &crate::db::TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, crate::error::ApiError>;
}

/// Events named by `pattern` (`template.item.*`) concern the users `recipients` finds.
#[derive(Clone)]
pub struct NotifyOn {
    pub pattern: &'static str,
    pub recipients: Arc<dyn Recipients>,
}

/// A step of a new organization's first hour that a module knows how to check ("invite a
/// teammate"): the onboarding status lists it with whether the org has done it.
#[derive(Clone)]
pub struct OnboardingStep {
    /// Unique in the cell: `<module>.<step>` (`tenancy.invite_teammate`).
    pub key: &'static str,
    pub title: &'static str,
    /// Onboarding is complete when every required step is done.
    pub required: bool,
    pub check: Arc<dyn StepCheck>,
}

/// Whether an organization has done an [`OnboardingStep`], read in its transaction.
#[async_trait::async_trait(?Send)]
pub trait StepCheck: Send + Sync {
    async fn done(&self, ctx: &CellContext, tx: &crate::TenantTx) -> Result<bool, crate::ApiError>;
}

/// What an entity looks like wherever another module shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntitySummary {
    #[serde(flatten)]
    pub entity: EntityRef,
    pub title: String,
    pub subtitle: Option<String>,
    pub url: Option<String>,
}

/// What a module says about one of its entity types to the services that work on any entity
/// (collab's tags, notes, links, search): the module declares its loaders
/// ([`PlatformModule::entity_loaders`]) and gets those services without writing them. Every call
/// runs in the caller's org transaction and answers only what `caller` may see: to anyone else an
/// entity does not exist.
#[async_trait::async_trait(?Send)]
pub trait EntityLoader: Send + Sync {
    /// The entity type (`team`, `task`): what links, tags and events name. Lowercase snake case.
    fn entity_type(&self) -> &'static str;

    /// The collection in routes (`teams`: collab serves `/teams/{id}/tags`). Lowercase, `-` and
    /// `_` allowed.
    fn collection(&self) -> &'static str;

    /// Summaries of those of `ids` that exist in `tx`'s org and that `caller` may view, in any
    /// order; the others are left out.
    async fn resolve(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        caller: &crate::http::Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, crate::ApiError>;

    /// How many entities of this type in `tx`'s org `caller` may see (those in the trash left
    /// out).
    async fn count(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        caller: &crate::http::Caller,
    ) -> Result<u64, crate::ApiError>;

    /// Whether `caller`, who sees entity `id`, may also link it to another entity (collab's
    /// `POST /links`, which already admits only members and up). The default: whoever sees it.
    /// A module whose records have their own sharing answers its `link` (or edit) rule here.
    async fn may_link(
        &self,
        _ctx: &CellContext,
        _tx: &crate::TenantTx,
        _caller: &crate::http::Caller,
        _id: Uuid,
    ) -> Result<bool, crate::ApiError> {
        Ok(true)
    }

    /// What search indexes of the entities `which` names in `tx`'s org (those in the trash left
    /// out): title and body text. The default, none, keeps the type out of search. Search
    /// results are shown through [`resolve`](Self::resolve), so only what a caller sees.
    async fn documents(
        &self,
        _ctx: &CellContext,
        _tx: &crate::TenantTx,
        _which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, crate::ApiError> {
        Ok(Vec::new())
    }

    /// The entity type's trash, when its rows are soft-deleted (`tenant_entity!(soft_delete: …)`):
    /// `Some(self)` from a loader that implements [`EntityTrash`].
    fn trash(&self) -> Option<&dyn EntityTrash> {
        None
    }

    /// The entity type's import and export (the fields of its records and how to write a
    /// batch): `Some(self)` from a loader that implements [`crate::records::Records`].
    fn records(&self) -> Option<&dyn crate::records::Records> {
        None
    }

    /// What dashboards can count of the entity type: `Some(self)` from a loader that implements
    /// [`crate::analytics::Analytics`].
    fn analytics(&self) -> Option<&dyn crate::analytics::Analytics> {
        None
    }
}

/// The summaries of those of `keys` (type, id) that `caller` sees in `tx`'s org, by (type, id):
/// one loader call per type; a type no enabled module declares is seen by no one.
pub async fn visible<'k>(
    ctx: &CellContext,
    tx: &crate::TenantTx,
    caller: &crate::http::Caller,
    keys: impl IntoIterator<Item = (&'k str, Uuid)>,
) -> Result<BTreeMap<(String, Uuid), EntitySummary>, crate::ApiError> {
    let mut by_type: BTreeMap<&str, BTreeSet<Uuid>> = BTreeMap::new();
    for (kind, id) in keys {
        by_type.entry(kind).or_default().insert(id);
    }
    let mut out = BTreeMap::new();
    for (kind, ids) in by_type {
        let Some(loader) = ctx.entity_loader(kind) else {
            continue;
        };
        let ids: Vec<Uuid> = ids.into_iter().collect();
        for summary in loader.resolve(ctx, tx, caller, &ids).await? {
            out.insert((summary.entity.kind.clone(), summary.entity.id), summary);
        }
    }
    Ok(out)
}

/// Whether `caller` sees the entity (`kind`, `id`) in `tx`'s org, as its module's loader answers:
/// an entity of a type no enabled module declares is seen by no one.
pub async fn sees(
    ctx: &CellContext,
    tx: &crate::TenantTx,
    caller: &crate::http::Caller,
    kind: &str,
    id: Uuid,
) -> Result<bool, crate::ApiError> {
    Ok(match ctx.entity_loader(kind) {
        Some(loader) => !loader.resolve(ctx, tx, caller, &[id]).await?.is_empty(),
        None => false,
    })
}

/// Runs `work` (a future that need not be `Send`: an [`EntityLoader`]'s, an
/// [`Authorizer`](crate::http::Authorizer)'s) from code whose future must be `Send` (an event
/// handler, a job, a command), on a thread of the runtime's blocking pool.
pub async fn run_unsend<W, F, T>(work: W) -> anyhow::Result<T>
where
    W: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work()))
        .await
        .map_err(|e| anyhow::anyhow!("the task stopped: {e}"))?
}

/// Which entities [`EntityLoader::documents`] returns.
#[derive(Debug, Clone, Copy)]
pub enum Documents<'a> {
    /// These (an event named them); the ones that no longer exist are left out.
    Ids(&'a [Uuid]),
    /// Up to `limit` in id order after `after` (a rebuild of the index pages through them).
    After { after: Option<Uuid>, limit: u64 },
}

/// The text search indexes for one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDocument {
    pub id: Uuid,
    /// Ranked above the body (a name, a subject).
    pub title: String,
    /// Everything else worth finding it by (a description, an email's domain); may be empty.
    pub body: String,
}

/// An entity in the trash, as the trash lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trashed {
    #[serde(flatten)]
    pub summary: EntitySummary,
    pub deleted_at: chrono::DateTime<chrono::Utc>,
}

/// The trash of an entity type whose rows are soft-deleted: the module's `DELETE` route moves a
/// row there ([`crate::Repo::trash`]); collab lists, restores and purges through this. Like the
/// loader, it answers only what `caller` may see; restoring also needs what the module asks to
/// delete one.
#[async_trait::async_trait(?Send)]
pub trait EntityTrash {
    /// Entities in the trash `caller` may see, most recently deleted first, those deleted before
    /// `before` (a cursor: deleted_at, id) when given, up to `limit`.
    async fn trashed(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        caller: &crate::http::Caller,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, crate::ApiError>;

    /// Takes `id` out of the trash for `caller`: `None` when it is not in the trash or not theirs
    /// to see; 403 when they may see it but not restore it.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        caller: &crate::http::Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, crate::ApiError>;

    /// Deletes for good those of `ids` that are in `tx`'s org's trash, with everything the module
    /// keeps for them (children, files); the ids it deleted.
    async fn purge(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, crate::ApiError>;

    /// Entities of any org in the trash since before `cutoff`, as (org, id), up to `limit`: what
    /// the daily purge deletes. Read across orgs with [`crate::db::trashed_before`].
    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, crate::ApiError>;
}

/// One entry of the link-time registry. Created by [`crate::register_module!`].
#[derive(Debug)]
pub struct ModuleRegistration {
    pub create: fn() -> Box<dyn PlatformModule>,
}

inventory::collect!(ModuleRegistration);

/// Registers a module with the cell it is linked into:
/// `kernel::register_module!(TasksModule::default());`. The app's `main.rs` must name the crate
/// (`use tasks as _;`) or the linker drops the registration.
#[macro_export]
macro_rules! register_module {
    ($module:expr) => {
        $crate::inventory::submit! {
            $crate::module::ModuleRegistration {
                create: || ::std::boxed::Box::new($module),
            }
        }
    };
}

/// The modules the kernel itself provides, linked into every cell (enabled like any other):
/// `audit`, the audit log's API.
pub fn kernel_modules() -> Vec<Box<dyn PlatformModule>> {
    vec![Box::new(crate::audit::AuditApi)]
}

/// Every module linked into this binary, the kernel's included, in no particular order.
pub fn linked_modules() -> Vec<Box<dyn PlatformModule>> {
    inventory::iter::<ModuleRegistration>
        .into_iter()
        .map(|r| (r.create)())
        .chain(kernel_modules())
        .collect()
}

/// Why the modules of a cell cannot start. Each message names the module and the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error(
        "two linked modules are named `{name}` (versions {first} and {second}); module names must be unique"
    )]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    #[error("module name `{0}` is reserved for the kernel")]
    Reserved(String),
    #[error(
        "module `{name}` is enabled in the configuration of cell `{cell}` but not linked into this binary: add the crate to apps/{cell}/Cargo.toml and `use {name} as _;` to its main.rs"
    )]
    NotLinked { name: String, cell: String },
    #[error(
        "module `{module}` depends on `{dependency}`, which is not enabled: add [modules.{dependency}] to the cell's TOML"
    )]
    MissingDependency { module: String, dependency: String },
    #[error("module dependency cycle: {0}")]
    Cycle(String),
    #[error("modules.{module}: {message}")]
    Settings { module: String, message: String },
    #[error(
        "module `{module}` subscribes `{name}` to `{pattern}`, which is not an event pattern (`module.entity.verb`, `module.*`, `*`)"
    )]
    Subscription {
        module: String,
        name: String,
        pattern: String,
    },
    #[error("module `{module}`: {message}")]
    Job { module: String, message: String },
    #[error(
        "module `{module}`: onboarding step `{key}` must be named `{module}.<step>` and be unique"
    )]
    Onboarding { module: String, key: String },
    #[error("entity type `{kind}` is claimed by both `{first}` and `{second}`")]
    DuplicateEntity {
        kind: String,
        first: String,
        second: String,
    },
}

/// A module enabled in this cell, configured, with what the kernel needs to mount it.
#[derive(Clone)]
pub struct EnabledModule {
    pub module: Arc<dyn PlatformModule>,
    pub route_prefix: String,
}

impl std::fmt::Debug for EnabledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnabledModule")
            .field("name", &self.module.name())
            .field("version", &self.module.version())
            .field("route_prefix", &self.route_prefix)
            .finish()
    }
}

/// What the linked modules declare of their settings (secret; required in production), for
/// [`CellConfig::load`].
pub fn declared_keys(linked: &[Box<dyn PlatformModule>]) -> crate::config::ModuleKeys {
    crate::config::ModuleKeys {
        secret: linked
            .iter()
            .flat_map(|m| {
                m.secret_settings()
                    .iter()
                    .map(move |k| format!("modules.{}.{k}", m.name()))
            })
            .collect(),
        production: linked
            .iter()
            .flat_map(|m| {
                m.production_settings()
                    .iter()
                    .map(move |(k, why)| (m.name().to_owned(), (*k).to_owned(), (*why).to_owned()))
            })
            .collect(),
    }
}

/// Picks the enabled modules out of the linked ones (the [`kernel_modules`] are always linked),
/// configures them and orders them by dependencies (ties broken by name, so the order never
/// depends on link order).
pub fn resolve(
    linked: Vec<Box<dyn PlatformModule>>,
    config: &CellConfig,
) -> Result<Vec<EnabledModule>, RegistryError> {
    let mut by_name: BTreeMap<&'static str, Box<dyn PlatformModule>> = BTreeMap::new();
    for m in linked {
        let name = m.name();
        if name == "kernel" {
            return Err(RegistryError::Reserved(name.into()));
        }
        if let Some(prev) = by_name.get(name) {
            return Err(RegistryError::Duplicate {
                name: name.into(),
                first: prev.version().into(),
                second: m.version().into(),
            });
        }
        by_name.insert(name, m);
    }
    for m in kernel_modules() {
        by_name.entry(m.name()).or_insert(m);
    }

    let enabled: BTreeSet<String> = config.enabled_modules().map(String::from).collect();
    for name in &enabled {
        if !by_name.contains_key(name.as_str()) {
            return Err(RegistryError::NotLinked {
                name: name.clone(),
                cell: config.name().into(),
            });
        }
    }
    for (name, m) in &by_name {
        if !enabled.contains(*name) {
            tracing::debug!(
                module = name,
                version = m.version(),
                "linked but not enabled"
            );
            continue;
        }
        for dep in m.dependencies() {
            if !enabled.contains(*dep) {
                return Err(RegistryError::MissingDependency {
                    module: (*name).into(),
                    dependency: (*dep).into(),
                });
            }
        }
    }

    let order = topological_order(&by_name, &enabled)?;
    let mut entity_owner: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    let mut collections: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut step_keys: BTreeSet<&'static str> = BTreeSet::new();
    let mut out = Vec::with_capacity(order.len());
    for name in order {
        let Some(mut module) = by_name.remove(name) else {
            continue;
        };
        let settings = config
            .modules
            .get(name)
            .map(|m| m.settings.clone())
            .unwrap_or_default();
        module
            .configure(&settings)
            .map_err(|message| RegistryError::Settings {
                module: name.into(),
                message,
            })?;
        for sub in module.event_subscriptions() {
            if !crate::events::valid_pattern(sub.pattern) {
                return Err(RegistryError::Subscription {
                    module: name.into(),
                    name: sub.name.into(),
                    pattern: sub.pattern.into(),
                });
            }
        }
        let mut job_names = BTreeSet::new();
        let valid = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        for job in module.jobs() {
            if !valid(job.name) || !job_names.insert(job.name) {
                return Err(RegistryError::Job {
                    module: name.into(),
                    message: format!("job name `{}` must be unique snake_case", job.name),
                });
            }
        }
        for s in module.scheduled_jobs() {
            if !valid(s.name) || !job_names.insert(s.name) {
                return Err(RegistryError::Job {
                    module: name.into(),
                    message: format!(
                        "schedule name `{}` must be unique snake_case (schedules share job names)",
                        s.name
                    ),
                });
            }
            if let Err(e) = crate::jobs::parse_cron(s.cron) {
                return Err(RegistryError::Job {
                    module: name.into(),
                    message: format!(
                        "schedule `{}` has an invalid cron `{}`: {e}",
                        s.name, s.cron
                    ),
                });
            }
        }
        for step in module.onboarding_steps() {
            let ours = step
                .key
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(valid);
            if !ours || !step_keys.insert(step.key) {
                return Err(RegistryError::Onboarding {
                    module: name.into(),
                    key: step.key.into(),
                });
            }
        }
        for loader in module.entity_loaders() {
            let collection = format!("collection `{}`", loader.collection());
            if let Some(first) = collections.insert(collection.clone(), name) {
                return Err(RegistryError::DuplicateEntity {
                    kind: collection,
                    first: first.into(),
                    second: name.into(),
                });
            }
            if let Some(first) = entity_owner.insert(loader.entity_type(), name) {
                return Err(RegistryError::DuplicateEntity {
                    kind: loader.entity_type().into(),
                    first: first.into(),
                    second: name.into(),
                });
            }
        }
        out.push(EnabledModule {
            route_prefix: config.route_prefix(name),
            module: Arc::from(module),
        });
    }
    Ok(out)
}

fn topological_order(
    modules: &BTreeMap<&'static str, Box<dyn PlatformModule>>,
    enabled: &BTreeSet<String>,
) -> Result<Vec<&'static str>, RegistryError> {
    let names: Vec<&'static str> = modules
        .keys()
        .copied()
        .filter(|n| enabled.contains(*n))
        .collect();
    let mut order = Vec::with_capacity(names.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while order.len() < names.len() {
        // The first (by name) module whose dependencies are all placed: deterministic Kahn.
        let next = names.iter().copied().find(|n| {
            !placed.contains(n) && modules[n].dependencies().iter().all(|d| placed.contains(d))
        });
        match next {
            Some(n) => {
                placed.insert(n);
                order.push(n);
            }
            None => {
                let rest: Vec<&'static str> = names
                    .iter()
                    .copied()
                    .filter(|n| !placed.contains(n))
                    .collect();
                return Err(RegistryError::Cycle(describe_cycle(modules, &rest)));
            }
        }
    }
    Ok(order)
}

/// Follows unplaced dependencies from the first unplaced module until a name repeats.
fn describe_cycle(
    modules: &BTreeMap<&'static str, Box<dyn PlatformModule>>,
    rest: &[&'static str],
) -> String {
    let mut path: Vec<&str> = Vec::new();
    let mut current = rest.first().copied();
    while let Some(n) = current {
        if let Some(pos) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<&str> = path[pos..].to_vec();
            cycle.push(n);
            return cycle.join(" → ");
        }
        path.push(n);
        current = modules
            .get(n)
            .and_then(|m| m.dependencies().iter().copied().find(|d| rest.contains(d)));
    }
    rest.join(", ")
}
