//! Cell configuration: `products/<cell>.toml` < environment (`CELL__SECTION__KEY`) < flags.
//!
//! Secrets (`database.url`, `cell.secret_key`, `telemetry.metrics_token` and each module's
//! declared secret settings) are accepted only from the environment and are `SecretString`s, so
//! `Debug` prints `[REDACTED]`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The secret the development mode falls back to. Production refuses to start with it.
pub const DEV_SECRET_KEY: &str = "development-only-secret-key-do-not-use-in-production";

/// The organization roles every cell understands; cells add aliases in `[cell.roles]`.
pub const PLATFORM_ROLES: [&str; 4] = ["owner", "admin", "member", "viewer"];

/// Keys that must come from the environment only.
pub const KERNEL_SECRETS: [&str; 11] = [
    "database.url",
    "database.read_url",
    "database.password",
    "database.app_password",
    "mail.secret_access_key",
    "mail.smtp_password",
    "storage.secret_access_key",
    "redis.url",
    "cell.secret_key",
    "cell.admin_token",
    "telemetry.metrics_token",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error(
        "configuration: `{key}` is a secret and must come from the environment ({env}), not from {source_name}"
    )]
    SecretOutsideEnv {
        key: String,
        env: String,
        source_name: String,
    },
    #[error("production mode refuses to start: {0}")]
    Production(String),
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        Self::Invalid(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellConfig {
    pub cell: CellSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
    #[serde(default)]
    pub redis: RedisSection,
    #[serde(default)]
    pub cache: CacheSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub mail: MailSection,
    #[serde(default)]
    pub telemetry: TelemetrySection,
    #[serde(default)]
    pub events: EventsSection,
    #[serde(default)]
    pub rate_limit: crate::ratelimit::RateLimitSection,
    #[serde(default)]
    pub jobs: JobsSection,
    #[serde(default)]
    pub serve: ServeSection,
}

/// What this instance of the cell does (`serve --role …`, `--no-migrate`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    pub role: ServeRole,
    /// Apply pending migrations before serving. With `false` (a deployment runs `migrate up`
    /// once, as its own task), an instance refuses a database whose schema is behind it.
    pub migrate: bool,
}

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            role: ServeRole::All,
            migrate: true,
        }
    }
}

/// The parts of the cell an instance runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServeRole {
    /// HTTP only: no jobs, schedules or outbox dispatcher.
    Api,
    /// Jobs, schedules and the outbox dispatcher; HTTP only for health and metrics.
    Worker,
    /// Both (one instance, or the embedded default).
    #[default]
    All,
}

impl ServeRole {
    /// Whether this instance runs jobs, schedules and the outbox dispatcher.
    pub fn works(self) -> bool {
        self != Self::Api
    }

    /// Whether this instance serves the API (a worker answers only health and metrics).
    pub fn serves_api(self) -> bool {
        self != Self::Worker
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSection {
    /// Run jobs and fire schedules in this instance.
    pub run: bool,
    /// Milliseconds between looks at the queue when nothing wakes the runner (a signal, an
    /// enqueue in this process, a job falling due): the fallback for lost signals and other
    /// processes on one SQLite file.
    pub idle_poll_ms: u64,
    /// Jobs claimed and run concurrently per round.
    pub batch_size: u32,
    /// Attempts before a job is parked (a job type may set its own).
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    /// Seconds a claimed job stays locked to its runner; above `timeout_secs`.
    pub lease_secs: u64,
    pub timeout_secs: u64,
}

impl Default for JobsSection {
    fn default() -> Self {
        Self {
            run: true,
            idle_poll_ms: 60_000,
            batch_size: 16,
            max_attempts: 5,
            backoff_base_ms: 2000,
            lease_secs: 600,
            timeout_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSection {
    pub name: String,
    #[serde(default)]
    pub mode: Mode,
    /// Where embedded backends keep their files (SQLite database, local storage, mail).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Signs and hashes what the kernel signs (local storage URLs, hashed IPs). Environment only.
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    /// Bearer token of the operator API under `/admin` (dead events, job runs). Environment only;
    /// unset disables that API.
    #[serde(default)]
    pub admin_token: Option<SecretString>,
    /// Extra role names this cell uses, mapped onto the platform roles (`sales_rep = "member"`).
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    pub bind: IpAddr,
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Worker threads; default: the number of cores.
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: u64,
    /// Behind a trusted proxy (a load balancer): the client IP is the last `X-Forwarded-For`
    /// entry. Never enable it when clients reach the cell directly: they could pick their IP.
    pub behind_proxy: bool,
    /// The cell's public base URL (`https://api.example.com`), for the absolute links it hands
    /// out (in mail, presigned downloads). Required in production; development derives it from
    /// the listener (see [`CellConfig::public_base`]).
    pub public_url: Option<String>,
    /// Answers every routed request with an `x-cell-access` header naming how its handler lets
    /// callers in (`public`, `signed`, `signed-in`, `operator`, `org#admin_access write`): for
    /// the route-walk test and for reviewing a cell, never needed in production.
    pub expose_access: bool,
    /// The cell's own words for its modules' routes: a path prefix served (`/api/v1/customers`)
    /// → the module's (`/api/v1/contacts`). See `kernel::http::paths`.
    pub paths: std::collections::BTreeMap<String, String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            body_limit: 1024 * 1024,
            workers: None,
            shutdown_timeout: 30,
            behind_proxy: false,
            public_url: None,
            expose_access: false,
            paths: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `postgres://…` or `sqlite://…`; unset means `sqlite://<data_dir>/<cell>.db`. Environment only.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub min_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout: u64,
    /// PostgreSQL: the role the cell serves as (`SET ROLE` at connect time). Migrations run as
    /// the URL's user (the table owner); this role owns nothing, is no superuser, has no
    /// BYPASSRLS, and gets only the grants the kernel gives it after every migration run.
    /// Required in production on PostgreSQL.
    pub app_role: Option<String>,
    /// PostgreSQL: a streaming replica (Aurora's reader endpoint) that `GET` requests read from
    /// while it is fresh ([`crate::replica`]). Environment only.
    pub read_url: Option<SecretString>,
    /// How far behind the writer the replica may be, in milliseconds, before reads go to the
    /// writer.
    pub replica_max_lag_ms: u64,
    /// The password of `url` and `read_url` when they carry none: the deployment names the
    /// servers, a secrets store the password. Environment only.
    pub password: Option<SecretString>,
    /// `migrate up` (and a start that migrates) makes `app_role` a login role with this password,
    /// creating it when missing, so the serving instances can log in as it and never as the
    /// owner. Environment only.
    pub app_password: Option<SecretString>,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: 5,
            app_role: None,
            read_url: None,
            replica_max_lag_ms: 1000,
            password: None,
            app_password: None,
        }
    }
}

/// Whether `name` is a role name the kernel accepts: a lowercase SQL identifier (letters,
/// digits, `_`, not starting with a digit, at most 63 bytes), so it never needs quoting.
pub fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
}

/// An absolute `http`/`https` URL with a host, and neither query nor fragment (a path is kept:
/// a cell may be served under one).
fn valid_public_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
    })
}

/// What the linked modules declare about their settings, for [`CellConfig::load`] (built by
/// [`crate::module::declared_keys`]).
#[derive(Debug, Clone, Default)]
pub struct ModuleKeys {
    /// Dotted keys (`modules.<name>.<key>`) that may only come from the environment.
    pub secret: Vec<String>,
    /// `(module, key, what fails without it)`: settings production refuses to start without
    /// while the module is enabled.
    pub production: Vec<(String, String, String)>,
}

/// Not `deny_unknown_fields`: the keys besides `enabled` and `route_prefix` are the module's,
/// and the module refuses the ones it does not know (see `PlatformModule::configure`).
#[derive(Debug, Clone, Deserialize)]
pub struct ModuleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the module's routes mount; default `/api/v1`.
    #[serde(default)]
    pub route_prefix: Option<String>,
    /// Everything else is the module's own settings, validated by the module.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// The Redis server shared by the Redis backends (cache, rate limits) of this cell.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://…`; environment only (it may hold a password).
    pub url: Option<SecretString>,
    pub pool_size: usize,
    /// Bound on every Redis call, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 16,
            timeout_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheBackend {
    /// In-process (moka): one instance.
    #[default]
    Memory,
    /// Shared by every instance of the cell.
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    pub backend: CacheBackend,
    /// Largest number of entries the in-process cache holds.
    pub max_entries: u64,
    /// Default time to live, in seconds.
    pub ttl: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            backend: CacheBackend::Memory,
            max_entries: 100_000,
            ttl: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    #[default]
    Local,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    pub backend: StorageBackend,
    /// Directory of the local backend; default `<data_dir>/files`.
    pub local_dir: Option<PathBuf>,
    /// Largest accepted upload, in bytes.
    pub max_upload: u64,
    /// Accepted content types (`image/*`, exact types, `*/*`). HTML and scripts are not in the
    /// default list: a stored file must not become stored XSS.
    pub allowed_types: Vec<String>,
    /// Default and largest lifetime of presigned URLs, in seconds.
    pub presign_ttl_secs: u64,
    pub presign_max_secs: u64,
    /// S3: bucket, region, optional endpoint (S3-compatible servers), path-style addressing.
    pub bucket: Option<String>,
    pub region: String,
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// S3 static credentials; unset uses the standard AWS chain (environment, ECS task role).
    pub access_key_id: Option<String>,
    /// Environment only.
    pub secret_access_key: Option<SecretString>,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            local_dir: None,
            max_upload: 25 * 1024 * 1024,
            allowed_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "text/csv",
                "application/json",
                "application/zip",
                "application/msword",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "audio/mpeg",
                "video/mp4",
                "application/octet-stream",
            ]
            .map(String::from)
            .to_vec(),
            presign_ttl_secs: 900,
            presign_max_secs: 7 * 24 * 3600,
            bucket: None,
            region: "us-east-1".into(),
            endpoint: None,
            force_path_style: false,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailBackend {
    /// `.eml` files under `mail.dir` (development).
    #[default]
    File,
    Ses,
    Smtp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection: only for a local relay.
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSection {
    pub backend: MailBackend,
    /// The sender (`Acme <no-reply@acme.test>`).
    pub from: String,
    /// Directory of the file backend; default `<data_dir>/mail`.
    pub dir: Option<PathBuf>,
    /// SES: region, optional endpoint (SES-compatible servers), static credentials (else the
    /// standard AWS chain); the secret key is environment only.
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// SMTP relay; the password is environment only.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<SecretString>,
}

impl Default for MailSection {
    fn default() -> Self {
        Self {
            backend: MailBackend::File,
            from: "no-reply@localhost".into(),
            dir: None,
            region: "us-east-1".into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Pretty in development, JSON in production.
    #[default]
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint (e.g. `http://collector:4318/v1/traces`); unset disables export.
    pub otlp_endpoint: Option<String>,
    /// Serve Prometheus metrics at `/metrics`.
    pub metrics: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`. Environment only.
    pub metrics_token: Option<SecretString>,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            otlp_endpoint: None,
            metrics: true,
            metrics_token: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Run the outbox dispatcher in this instance.
    pub dispatch: bool,
    /// Milliseconds between looks at the outbox when nothing wakes the dispatcher (a signal, a
    /// publish in this process, a delivery falling due).
    pub idle_poll_ms: u64,
    /// Deliveries claimed per round.
    pub batch_size: u32,
    /// Attempts before a delivery is parked as dead.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, capped at an hour.
    pub backoff_base_ms: u64,
    /// Seconds a claimed delivery stays locked to its dispatcher.
    pub lease_secs: u64,
    /// Seconds a subscriber may take; must be shorter than the lease.
    pub handler_timeout_secs: u64,
}

impl Default for EventsSection {
    fn default() -> Self {
        Self {
            dispatch: true,
            idle_poll_ms: 60_000,
            batch_size: 100,
            max_attempts: 8,
            backoff_base_ms: 1000,
            lease_secs: 60,
            handler_timeout_secs: 30,
        }
    }
}

/// Where configuration comes from, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The product TOML's text and a name for messages (its path).
    pub file: Option<(String, String)>,
    /// Environment variables to read; `None` reads the process environment.
    pub env: Option<BTreeMap<String, String>>,
    /// `key=value` overrides from the command line (`--set http.port=9000`).
    pub overrides: Vec<(String, String)>,
}

impl CellConfig {
    /// Loads and validates the configuration against what the linked modules declare of their
    /// settings ([`crate::module::declared_keys`]).
    pub fn load(sources: &Sources, modules: &ModuleKeys) -> Result<Self, ConfigError> {
        let mut secrets: Vec<String> = KERNEL_SECRETS.iter().map(|s| s.to_string()).collect();
        secrets.extend(modules.secret.iter().cloned());

        let mut builder = Config::builder();
        if let Some((text, name)) = &sources.file {
            let file_only = Config::builder()
                .add_source(File::from_str(text, FileFormat::Toml))
                .build()
                .map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
            for key in &secrets {
                if file_only.get::<config::Value>(key).is_ok() {
                    return Err(secret_outside_env(key, name));
                }
            }
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        let mut env = Environment::with_prefix("CELL")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true);
        if let Some(vars) = &sources.env {
            env = env.source(Some(vars.clone().into_iter().collect()));
        }
        builder = builder.add_source(env);
        for (key, value) in &sources.overrides {
            if secrets.iter().any(|s| s == key) {
                return Err(secret_outside_env(key, "a command-line flag"));
            }
            builder = builder.set_override(key.as_str(), parse_scalar(value))?;
        }
        let cfg: CellConfig = builder.build()?.try_deserialize()?;
        cfg.validate()?;
        if cfg.mode() == Mode::Production {
            cfg.check_production(&modules.production)?;
        }
        Ok(cfg)
    }

    /// The replica, the password and the app role's password apply to PostgreSQL only, and
    /// the replica's URL is PostgreSQL too.
    fn validate_database_extras(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        let postgres = |u: &SecretString| {
            let u = u.expose_secret();
            u.starts_with("postgres://") || u.starts_with("postgresql://")
        };
        let on_postgres = self.database.url.as_ref().is_some_and(postgres);
        if let Some(read_url) = &self.database.read_url
            && (!on_postgres || !postgres(read_url))
        {
            return invalid(
                "database.read_url is a PostgreSQL replica of database.url: both must be postgres:// URLs",
            );
        }
        if self.database.password.is_some() && !on_postgres {
            return invalid("database.password applies to a postgres:// database.url only");
        }
        if self.database.app_password.is_some() && self.database.app_role.is_none() {
            return invalid(
                "database.app_password is the password of database.app_role: set CELL__DATABASE__APP_ROLE too",
            );
        }
        if !(10..=3_600_000).contains(&self.database.replica_max_lag_ms) {
            return invalid("database.replica_max_lag_ms must be between 10 and 3600000");
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.cell.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(ConfigError::Invalid(format!(
                "cell.name `{name}` must be non-empty lowercase letters, digits, `-` or `_`"
            )));
        }
        for (alias, role) in &self.cell.roles {
            if !PLATFORM_ROLES.contains(&role.as_str()) || PLATFORM_ROLES.contains(&alias.as_str())
            {
                return Err(ConfigError::Invalid(format!(
                    "cell.roles.{alias} = `{role}`: an alias must be a new name mapped onto one of {}",
                    PLATFORM_ROLES.join(", ")
                )));
            }
        }
        if self.uses_redis() && self.redis.url.is_none() {
            return Err(ConfigError::Invalid(
                "a Redis backend is configured but redis.url is unset: set CELL__REDIS__URL".into(),
            ));
        }
        self.rate_limit.validate().map_err(ConfigError::Invalid)?;
        if self.mail.backend == MailBackend::Smtp && self.mail.smtp_host.is_none() {
            return Err(ConfigError::Invalid(
                "mail.backend = \"smtp\" needs mail.smtp_host".into(),
            ));
        }
        let jobs = &self.jobs;
        if jobs.max_attempts == 0
            || !(1..=1000).contains(&jobs.batch_size)
            || jobs.timeout_secs >= jobs.lease_secs
            || jobs.idle_poll_ms == 0
        {
            return Err(ConfigError::Invalid(
                "jobs: max_attempts ≥ 1, batch_size 1..=1000, idle_poll_ms ≥ 1, and timeout_secs below lease_secs".into(),
            ));
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.bucket.is_none() {
            return Err(ConfigError::Invalid(
                "storage.backend = \"s3\" needs storage.bucket".into(),
            ));
        }
        if self.storage.presign_ttl_secs == 0
            || self.storage.presign_ttl_secs > self.storage.presign_max_secs
        {
            return Err(ConfigError::Invalid(
                "storage.presign_ttl_secs must be between 1 and storage.presign_max_secs".into(),
            ));
        }
        let ev = &self.events;
        if ev.max_attempts == 0
            || !(1..=1000).contains(&ev.batch_size)
            || ev.handler_timeout_secs >= ev.lease_secs
            || ev.idle_poll_ms == 0
        {
            return Err(ConfigError::Invalid(
                "events: max_attempts ≥ 1, batch_size 1..=1000, idle_poll_ms ≥ 1, and handler_timeout_secs below lease_secs".into(),
            ));
        }
        crate::http::paths::PathMap::new(&self.http.paths)
            .map_err(|e| ConfigError::Invalid(format!("http.paths: {e}")))?;
        if self.http.body_limit == 0 {
            return Err(ConfigError::Invalid(
                "http.body_limit must be greater than 0".into(),
            ));
        }
        if self.database.max_connections == 0
            || self.database.min_connections > self.database.max_connections
        {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1 and not below database.min_connections"
                    .into(),
            ));
        }
        if let Some(role) = &self.database.app_role {
            if !valid_role_name(role) {
                return Err(ConfigError::Invalid(format!(
                    "database.app_role `{role}` must be a lowercase identifier (letters, digits, `_`; not starting with a digit or `pg_`)"
                )));
            }
            if self.database_url().expose_secret().starts_with("sqlite:") {
                return Err(ConfigError::Invalid(
                    "database.app_role applies to PostgreSQL only; unset it for SQLite".into(),
                ));
            }
        }
        self.validate_database_extras()?;
        for (module, m) in &self.modules {
            if let Some(prefix) = &m.route_prefix
                && (!prefix.starts_with('/') || (prefix.len() > 1 && prefix.ends_with('/')))
            {
                return Err(ConfigError::Invalid(format!(
                    "modules.{module}.route_prefix `{prefix}` must start with `/` and not end with `/`"
                )));
            }
        }
        if let Some(url) = &self.http.public_url
            && !valid_public_url(url)
        {
            return Err(ConfigError::Invalid(format!(
                "http.public_url `{url}` must be an absolute http(s) URL with a host and no query (`https://api.example.com`)"
            )));
        }
        Ok(())
    }

    /// Every setting production refuses, listed at once (one run names them all): the kernel's,
    /// and the settings an enabled module cannot serve without (`required`: module, key, what
    /// fails without it).
    fn check_production(&self, required: &[(String, String, String)]) -> Result<(), ConfigError> {
        let mut problems: Vec<String> = Vec::new();
        match &self.database.url {
            None => problems.push(
                "the database is the SQLite default; set CELL__DATABASE__URL to a PostgreSQL URL"
                    .into(),
            ),
            Some(url) if url.expose_secret().starts_with("sqlite:") => problems
                .push("database.url is SQLite; set CELL__DATABASE__URL to a PostgreSQL URL".into()),
            Some(_) => {}
        }
        match &self.cell.secret_key {
            None => problems.push(
                "cell.secret_key is unset (the development secret would be used); set CELL__CELL__SECRET_KEY to at least 32 random bytes".into(),
            ),
            Some(k) if k.expose_secret() == DEV_SECRET_KEY => problems.push(
                "cell.secret_key is the development secret; set CELL__CELL__SECRET_KEY to at least 32 random bytes".into(),
            ),
            Some(k) if k.expose_secret().len() < 32 => problems.push(
                "cell.secret_key is shorter than 32 characters; set CELL__CELL__SECRET_KEY to at least 32 random bytes".into(),
            ),
            Some(_) => {}
        }
        if self.database.app_role.is_none() {
            problems.push(
                "database.app_role is unset, so the cell would serve as the owner of its tables and row-level security would not bind it; create a role that owns nothing (see README, PostgreSQL roles) and set CELL__DATABASE__APP_ROLE".into(),
            );
        }
        if self.http.public_url.is_none() {
            problems.push(
                "http.public_url is unset, so links in mail (invitations, password resets, review and pay links) would name the listener's address, not the one clients reach; set CELL__HTTP__PUBLIC_URL to the URL clients reach the cell at".into(),
            );
        }
        for (module, key, why) in required {
            let Some(m) = self.modules.get(module).filter(|m| m.enabled) else {
                continue;
            };
            let set = match m.settings.get(key) {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
                Some(_) => true,
            };
            if !set {
                problems.push(format!(
                    "modules.{module}.{key} is unset ({why}); set CELL__MODULES__{}__{}",
                    module.to_uppercase(),
                    key.to_uppercase()
                ));
            }
        }
        match problems.as_slice() {
            [] => Ok(()),
            [one] => Err(ConfigError::Production(one.clone())),
            many => Err(ConfigError::Production(format!(
                "{} settings:\n  - {}",
                many.len(),
                many.join("\n  - ")
            ))),
        }
    }

    /// Whether any backend of this cell needs Redis.
    pub fn uses_redis(&self) -> bool {
        self.cache.backend == CacheBackend::Redis
            || self.rate_limit.backend == crate::ratelimit::RateLimitBackend::Redis
    }

    pub fn mode(&self) -> Mode {
        self.cell.mode
    }

    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// The base of the cell's absolute links, without a trailing `/`: `http.public_url`, else
    /// (development; production requires the setting) `http://<bind>:<port>`, a wildcard bind
    /// reached on the loopback. A server started on port 0 records the port it got first.
    pub fn public_base(&self) -> String {
        if let Some(url) = &self.http.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let bind = self.http.bind;
        let host = match bind {
            _ if bind.is_unspecified() || bind.is_loopback() => "127.0.0.1".to_owned(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        format!("http://{host}:{}", self.http.port)
    }

    /// The database URL: the configured one, or the SQLite file `<data_dir>/<cell>.db`.
    pub fn database_url(&self) -> SecretString {
        match &self.database.url {
            Some(url) => self.with_password(url),
            None => {
                let path = self.cell.data_dir.join(format!("{}.db", self.cell.name));
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()))
            }
        }
    }

    /// `database.read_url`, with `database.password` when it carries none.
    pub fn database_read_url(&self) -> Option<SecretString> {
        self.database
            .read_url
            .as_ref()
            .map(|u| self.with_password(u))
    }

    /// `url` with `database.password` set in it, unless it has a password of its own.
    fn with_password(&self, url: &SecretString) -> SecretString {
        let Some(password) = &self.database.password else {
            return url.clone();
        };
        match url::Url::parse(url.expose_secret()) {
            Ok(mut u) if u.password().is_none() => {
                match u.set_password(Some(password.expose_secret())) {
                    Ok(()) => SecretString::from(u.to_string()),
                    Err(()) => url.clone(),
                }
            }
            _ => url.clone(),
        }
    }

    /// The kernel secret; in development the fixed development secret when unset.
    pub fn secret_key(&self) -> SecretString {
        self.cell
            .secret_key
            .clone()
            .unwrap_or_else(|| SecretString::from(DEV_SECRET_KEY))
    }

    /// A key of this cell for one purpose (`<module>.<purpose>.v<n>`), derived from
    /// `cell.secret_key` ([`crate::seal::derive_key`]).
    pub fn derived_key(&self, label: &str) -> Result<[u8; 32], String> {
        crate::seal::derive_key(&self.secret_key(), label)
    }

    /// `[http.paths]`, checked when the configuration was read.
    pub fn path_map(&self) -> crate::http::paths::PathMap {
        crate::http::paths::PathMap::new(&self.http.paths).unwrap_or_default()
    }

    /// The route prefix of a module (its TOML `route_prefix`, else `/api/v1`).
    pub fn route_prefix(&self, module: &str) -> String {
        self.modules
            .get(module)
            .and_then(|m| m.route_prefix.clone())
            .unwrap_or_else(|| "/api/v1".into())
    }

    /// A link with `token` for someone outside the cell (a review, signing or pay link): under
    /// `configured` (a page of the product's own) when set, else the module's route `path` on
    /// this cell (`<http.public_url><prefix>/<path>/<token>`).
    pub fn token_link(
        &self,
        configured: Option<&str>,
        module: &str,
        path: &str,
        token: &str,
    ) -> String {
        match configured {
            Some(base) => format!("{}/{token}", base.trim_end_matches('/')),
            None => format!(
                "{}{}/{path}/{token}",
                self.public_base(),
                self.route_prefix(module)
            ),
        }
    }

    /// The enabled modules named in the TOML, in name order.
    pub fn enabled_modules(&self) -> impl Iterator<Item = &str> {
        self.modules
            .iter()
            .filter(|(_, m)| m.enabled)
            .map(|(n, _)| n.as_str())
    }

    /// A printable summary with every secret redacted (used by `check-config` and the start-up log).
    pub fn redacted_summary(&self) -> String {
        let mut db = redact_url(self.database_url().expose_secret());
        if self.database.url.is_none() {
            db.push_str(" (SQLite default)");
        }
        let mut out = format!(
            "cell.name = {}\ncell.mode = {:?}\ncell.data_dir = {}\ncell.secret_key = {}\nhttp = {}:{} (body_limit {} bytes)\ndatabase.url = {}\ndatabase.read_url = {}\ndatabase.app_role = {}\ndatabase.pool = {}..{}\nredis.url = {}\ncache = {:?}\nstorage = {:?}\nmail = {:?}\ntelemetry = level {}, format {:?}, otlp {}, metrics {}\n",
            self.cell.name,
            self.cell.mode,
            self.cell.data_dir.display(),
            if self.cell.secret_key.is_some() {
                "[REDACTED]"
            } else {
                "(development default)"
            },
            self.http.bind,
            self.http.port,
            self.http.body_limit,
            db,
            self.database_read_url().map_or_else(
                || "(unset)".to_owned(),
                |u| format!(
                    "{} (lag bound {} ms)",
                    redact_url(u.expose_secret()),
                    self.database.replica_max_lag_ms
                )
            ),
            self.database
                .app_role
                .as_deref()
                .unwrap_or("(unset: serving as the URL's user)"),
            self.database.min_connections,
            self.database.max_connections,
            self.redis
                .url
                .as_ref()
                .map_or_else(|| "(unset)".to_owned(), |u| redact_url(u.expose_secret())),
            self.cache.backend,
            self.storage.backend,
            self.mail.backend,
            self.telemetry.log_level,
            self.telemetry.log_format,
            self.telemetry.otlp_endpoint.as_deref().unwrap_or("off"),
            self.telemetry.metrics,
        );
        for (name, m) in &self.modules {
            out.push_str(&format!(
                "modules.{name}: enabled={} prefix={} settings={:?}\n",
                m.enabled,
                self.route_prefix(name),
                m.settings.keys().collect::<Vec<_>>()
            ));
        }
        out
    }
}

fn secret_outside_env(key: &str, source_name: &str) -> ConfigError {
    ConfigError::SecretOutsideEnv {
        key: key.to_owned(),
        env: format!("CELL__{}", key.replace('.', "__").to_uppercase()),
        source_name: source_name.to_owned(),
    }
}

/// Flags are strings; give numbers and booleans their type so they deserialize like TOML values.
fn parse_scalar(v: &str) -> config::Value {
    if let Ok(b) = v.parse::<bool>() {
        return b.into();
    }
    if let Ok(i) = v.parse::<i64>() {
        return i.into();
    }
    if let Ok(f) = v.parse::<f64>() {
        return f.into();
    }
    v.into()
}

/// A URL with its password replaced, safe to log.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() && u.set_password(Some("REDACTED")).is_err() {
                return "[REDACTED]".into();
            }
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "[unparseable url]".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(toml: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Sources {
        Sources {
            file: Some((toml.into(), "products/test.toml".into())),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            overrides: flags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    const BASE: &str = "[cell]\nname = \"test\"\n[http]\nport = 1000\nbody_limit = 10\n";

    fn load(
        toml: &str,
        env: &[(&str, &str)],
        flags: &[(&str, &str)],
    ) -> Result<CellConfig, ConfigError> {
        CellConfig::load(&sources(toml, env, flags), &ModuleKeys::default())
    }

    #[test]
    fn precedence_is_file_then_env_then_flags() -> Result<(), ConfigError> {
        let file = load(BASE, &[], &[])?;
        assert_eq!((file.http.port, file.http.body_limit), (1000, 10));
        let env = load(BASE, &[("CELL__HTTP__PORT", "2000")], &[])?;
        assert_eq!((env.http.port, env.http.body_limit), (2000, 10));
        let flag = load(
            BASE,
            &[("CELL__HTTP__PORT", "2000")],
            &[("http.port", "3000")],
        )?;
        assert_eq!((flag.http.port, flag.http.body_limit), (3000, 10));
        Ok(())
    }

    #[test]
    fn naming_one_rate_limit_group_keeps_the_others() -> Result<(), ConfigError> {
        let file = format!("{BASE}[rate_limit.groups.hooks]\nlimit = 5\nwindow_secs = 60\n");
        let env = [
            ("CELL__RATE_LIMIT__GROUPS__GENERAL__LIMIT", "1000"),
            ("CELL__RATE_LIMIT__GROUPS__GENERAL__WINDOW_SECS", "60"),
        ];
        let cfg = load(&file, &env, &[])?;
        let groups = &cfg.rate_limit.groups;
        assert_eq!(groups["general"].limit, 1000);
        assert_eq!(groups["hooks"].limit, 5);
        // The sign-in limits were not dropped by naming other groups.
        assert_eq!(
            (groups["login"].limit, groups["login"].window_secs),
            (10, 900)
        );
        assert!(groups.contains_key("login_ip") && groups.contains_key("ai"));
        Ok(())
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load("[cell]\nname = \"test\"\n[http]\nprot = 1\n", &[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn secrets_are_refused_outside_the_environment() {
        let in_file = load(
            "[cell]\nname = \"test\"\n[database]\nurl = \"postgres://u:p@h/db\"\n",
            &[],
            &[],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(in_file.contains("CELL__DATABASE__URL"), "{in_file}");
        let in_flag = load(BASE, &[], &[("cell.secret_key", "x")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(in_flag.contains("command-line"), "{in_flag}");
        let module_secret = CellConfig::load(
            &sources(
                "[cell]\nname = \"test\"\n[modules.auth]\njwt_key = \"k\"\n",
                &[],
                &[],
            ),
            &ModuleKeys {
                secret: vec!["modules.auth.jwt_key".into()],
                ..ModuleKeys::default()
            },
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            module_secret.contains("CELL__MODULES__AUTH__JWT_KEY"),
            "{module_secret}"
        );
    }

    #[test]
    fn secrets_are_redacted() -> Result<(), ConfigError> {
        let cfg = load(
            BASE,
            &[
                (
                    "CELL__DATABASE__URL",
                    "postgres://app:s3cr3t-pw@db:5432/cell",
                ),
                ("CELL__CELL__SECRET_KEY", "k3y-material-that-must-not-leak"),
            ],
            &[],
        )?;
        for text in [format!("{cfg:?}"), cfg.redacted_summary()] {
            assert!(!text.contains("s3cr3t-pw"), "{text}");
            assert!(!text.contains("k3y-material"), "{text}");
        }
        assert!(
            cfg.redacted_summary()
                .contains("postgres://app:REDACTED@db:5432/cell")
        );
        Ok(())
    }

    #[test]
    fn production_refuses_sqlite_and_development_secrets() {
        let prod = "[cell]\nname = \"test\"\nmode = \"production\"\n";
        let strong = "0123456789abcdef0123456789abcdef-strong";
        let pg = "postgres://app@db/cell";
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("CELL__CELL__SECRET_KEY", strong)], "CELL__DATABASE__URL"),
            (
                &[
                    ("CELL__CELL__SECRET_KEY", strong),
                    ("CELL__DATABASE__URL", "sqlite://x.db"),
                ],
                "CELL__DATABASE__URL",
            ),
            (&[("CELL__DATABASE__URL", pg)], "CELL__CELL__SECRET_KEY"),
            (
                &[
                    ("CELL__DATABASE__URL", pg),
                    ("CELL__CELL__SECRET_KEY", DEV_SECRET_KEY),
                ],
                "development secret",
            ),
        ];
        for (env, expected) in cases {
            let err = load(prod, env, &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("production") && err.contains(expected),
                "{err}"
            );
        }
        let no_role = load(
            prod,
            &[
                ("CELL__DATABASE__URL", pg),
                ("CELL__CELL__SECRET_KEY", strong),
            ],
            &[],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            no_role.contains("production") && no_role.contains("CELL__DATABASE__APP_ROLE"),
            "{no_role}"
        );
        let ready = [
            ("CELL__DATABASE__URL", pg),
            ("CELL__CELL__SECRET_KEY", strong),
            ("CELL__DATABASE__APP_ROLE", "cell_app"),
            ("CELL__HTTP__PUBLIC_URL", "https://api.example.com"),
        ];
        let no_url = load(prod, &ready[..3], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(no_url.contains("CELL__HTTP__PUBLIC_URL"), "{no_url}");
        assert!(load(prod, &ready, &[]).is_ok());

        // A setting an enabled module cannot serve without is listed with the kernel's.
        let keys = ModuleKeys {
            production: vec![(
                "abm".into(),
                "hook_secrets".into(),
                "POST /hooks/posthog refuses every event".into(),
            )],
            ..ModuleKeys::default()
        };
        let with_abm = format!("{prod}[modules.abm]\n");
        let no_key = [ready[0], ready[2], ready[3]];
        let err = CellConfig::load(&sources(&with_abm, &no_key, &[]), &keys)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("2 settings")
                && err.contains("CELL__CELL__SECRET_KEY")
                && err.contains("CELL__MODULES__ABM__HOOK_SECRETS")
                && err.contains("refuses every event"),
            "{err}"
        );
        let secret = ("CELL__MODULES__ABM__HOOK_SECRETS", "whsec_x");
        let all: Vec<(&str, &str)> = ready.iter().copied().chain([secret]).collect();
        assert!(CellConfig::load(&sources(&with_abm, &all, &[]), &keys).is_ok());
        // A module that is not enabled needs nothing.
        let off = format!("{prod}[modules.abm]\nenabled = false\n");
        assert!(CellConfig::load(&sources(&off, &ready, &[]), &keys).is_ok());
    }

    #[test]
    fn links_are_absolute() -> Result<(), ConfigError> {
        let dev = load(BASE, &[], &[])?;
        assert_eq!(dev.public_base(), "http://127.0.0.1:1000");
        let wildcard = load(BASE, &[("CELL__HTTP__BIND", "0.0.0.0")], &[])?;
        assert_eq!(wildcard.public_base(), "http://127.0.0.1:1000");
        let lan = load(BASE, &[("CELL__HTTP__BIND", "10.0.0.7")], &[])?;
        assert_eq!(lan.public_base(), "http://10.0.0.7:1000");
        let set = load(
            BASE,
            &[("CELL__HTTP__PUBLIC_URL", "https://api.example.com/")],
            &[],
        )?;
        assert_eq!(set.public_base(), "https://api.example.com");
        assert_eq!(
            set.token_link(None, "documents", "documents/review", "t0k"),
            "https://api.example.com/api/v1/documents/review/t0k"
        );
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://api.example.com/?x=1",
            "https://u:p@api.example.com",
            "https://",
        ] {
            let err = load(BASE, &[("CELL__HTTP__PUBLIC_URL", bad)], &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("http.public_url"), "{bad}: {err}");
        }
        Ok(())
    }

    #[test]
    fn the_app_role_is_a_plain_identifier_on_postgres_only() {
        let pg = ("CELL__DATABASE__URL", "postgres://owner@db/cell");
        for bad in [
            "",
            "App",
            "1app",
            "app-role",
            "app;drop",
            "pg_app",
            &"a".repeat(64),
        ] {
            let err = load(BASE, &[pg, ("CELL__DATABASE__APP_ROLE", bad)], &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("database.app_role"), "{bad}: {err}");
        }
        assert!(load(BASE, &[pg, ("CELL__DATABASE__APP_ROLE", "cell_app_1")], &[]).is_ok());
        let sqlite = load(BASE, &[("CELL__DATABASE__APP_ROLE", "cell_app")], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(sqlite.contains("PostgreSQL only"), "{sqlite}");
    }

    #[test]
    fn module_sections_keep_their_settings() -> Result<(), ConfigError> {
        let cfg = load(
            "[cell]\nname = \"t\"\n[modules.crm]\nroute_prefix = \"/api/crm\"\nfit_threshold = 70\n[modules.tasks]\nenabled = false\n",
            &[("CELL__MODULES__CRM__FIT_THRESHOLD", "80")],
            &[],
        )?;
        assert_eq!(cfg.route_prefix("crm"), "/api/crm");
        assert_eq!(cfg.route_prefix("tasks"), "/api/v1");
        assert_eq!(cfg.modules["crm"].settings["fit_threshold"], 80);
        assert_eq!(cfg.enabled_modules().collect::<Vec<_>>(), vec!["crm"]);
        Ok(())
    }

    #[test]
    fn role_aliases_map_onto_platform_roles() {
        assert!(
            load(
                "[cell]\nname = \"t\"\n[cell.roles]\nsales_rep = \"member\"\n",
                &[],
                &[]
            )
            .is_ok()
        );
        for bad in ["sales_rep = \"boss\"", "admin = \"member\""] {
            let err = load(
                &format!("[cell]\nname = \"t\"\n[cell.roles]\n{bad}\n"),
                &[],
                &[],
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(err.contains("cell.roles."), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_route_prefix_is_refused() {
        let err = load(
            "[cell]\nname = \"t\"\n[modules.crm]\nroute_prefix = \"api/\"\n",
            &[],
            &[],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("modules.crm.route_prefix"), "{err}");
    }
}
