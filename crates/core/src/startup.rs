//! Start-up and shutdown of a cell: modules resolved, database connected, migrations applied,
//! modules readied in dependency order; shut down in reverse.

use std::sync::Arc;

use cell_migrations::{MigrationError, ModuleMigrations};

use crate::config::{CellConfig, ConfigError};
use crate::context::CellContext;
use crate::db::Db;
use crate::module::{self, EnabledModule, PlatformModule, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(transparent)]
    AppRole(#[from] crate::db::AppRoleError),
    #[error("kernel services: {0}")]
    Services(String),
    #[error("cannot listen on {0}")]
    Bind(String),
    #[error(
        "the database's schema is behind this cell: {pending} migration(s) pending, first `{first}`; run `migrate up` (serving with --no-migrate)"
    )]
    Behind { pending: usize, first: String },
    #[error("module `{module}` failed to get ready: {error:#}")]
    Module {
        module: &'static str,
        error: anyhow::Error,
    },
}

/// The kernel's migrations, then those of the enabled modules in dependency order.
pub fn migration_plan(modules: &[EnabledModule]) -> Vec<ModuleMigrations> {
    let kernel = ModuleMigrations {
        module: "kernel".to_owned(),
        migrations: crate::schema::migrations(),
    };
    std::iter::once(kernel)
        .chain(modules.iter().map(|m| ModuleMigrations {
            module: m.module.name().to_owned(),
            migrations: m.module.migrations(),
        }))
        .filter(|m| !m.migrations.is_empty())
        .collect()
}

/// Everything before the listener: resolve, connect, migrate, ready.
pub async fn prepare(
    config: CellConfig,
    linked: Vec<Box<dyn PlatformModule>>,
) -> Result<CellContext, StartupError> {
    let modules = module::resolve(linked, &config)?;
    log_modules(&config, &modules);
    // Migrations run as the URL's user (the owner); the cell then serves as the app role.
    let owner = Db::connect(&config).await?;
    let plan = migration_plan(&modules);
    match config.serve.migrate {
        true => {
            let applied = cell_migrations::up(owner.conn(), &plan).await?;
            tracing::info!(applied = applied.len(), "migrations up to date");
            grant_app_role(&owner, &config).await?;
        }
        false => {
            let pending: Vec<String> = cell_migrations::status(owner.conn(), &plan)
                .await?
                .into_iter()
                .filter(|m| m.applied_at.is_none())
                .map(|m| format!("{} {}", m.module, m.name))
                .collect();
            if let Some(first) = pending.first() {
                return Err(StartupError::Behind {
                    pending: pending.len(),
                    first: first.clone(),
                });
            }
        }
    }
    let db = match &config.database.app_role {
        Some(role) => {
            owner.close().await;
            let db = Db::connect_app(&config).await?;
            tracing::info!(role = %role, "serving as the application role");
            db
        }
        None => owner,
    };
    let ctx = CellContext::new(Arc::new(config), db, modules)
        .await
        .map_err(StartupError::Services)?;
    for m in ctx.modules() {
        m.module
            .on_ready(&ctx)
            .await
            .map_err(|error| StartupError::Module {
                module: m.module.name(),
                error,
            })?;
    }
    Ok(ctx)
}

/// After every migration run: on PostgreSQL with `database.app_role`, checks the role and
/// (re)grants it what the cell needs on every table (new ones included), through the owner's
/// connection `owner`. Without an app role on PostgreSQL, warns: the cell then serves as the
/// owner of its tables (production refuses that configuration).
pub async fn grant_app_role(owner: &Db, config: &CellConfig) -> Result<(), StartupError> {
    if owner.backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    match &config.database.app_role {
        Some(role) => {
            if let Some(password) = &config.database.app_password {
                crate::db::ensure_login_role(owner.conn(), role, password).await?;
            }
            crate::db::prepare_app_role(owner.conn(), role).await?;
            tracing::info!(role = %role, "application role checked and granted");
        }
        None => tracing::warn!(
            "database.app_role is unset: serving as the database URL's user; row-level security binds it only if it is no superuser (set CELL__DATABASE__APP_ROLE)"
        ),
    }
    Ok(())
}

fn log_modules(config: &CellConfig, modules: &[EnabledModule]) {
    let list: Vec<String> = modules
        .iter()
        .map(|m| format!("{}@{}", m.module.name(), m.module.version()))
        .collect();
    tracing::info!(
        cell = config.name(),
        mode = ?config.mode(),
        kernel = env!("CARGO_PKG_VERSION"),
        modules = %list.join(", "),
        "starting cell"
    );
}

/// Calls `on_shutdown` of every module in reverse dependency order; failures are logged.
pub async fn shutdown(ctx: &CellContext) {
    for m in ctx.modules().iter().rev() {
        if let Err(e) = m.module.on_shutdown(ctx).await {
            tracing::error!(module = m.module.name(), error = %format!("{e:#}"), "module shutdown failed");
        }
    }
    ctx.db().close().await;
    tracing::info!("stopped");
}
