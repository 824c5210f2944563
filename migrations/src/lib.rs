#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Alias, ColumnDef, Expr, OnConflict, Query, Table};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};

/// The table that records which migration of which module has been applied.
pub const TRACKING_TABLE: &str = "cell_migrations";

/// Key of the PostgreSQL advisory lock that serialises creation of the tracking table.
const PG_LOCK_KEY: i64 = 0x0063_656c_6c6d_6967; // "cellmig"

/// The migrations one module contributes, in the order they must run.
pub struct ModuleMigrations {
    pub module: String,
    pub migrations: Vec<Box<dyn MigrationTrait>>,
}

impl std::fmt::Debug for ModuleMigrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleMigrations")
            .field("module", &self.module)
            .field(
                "migrations",
                &self.migrations.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migration `{name}` of module `{module}` must be named with the module prefix `{module}_` (rename its file)"
    )]
    Unprefixed { module: String, name: String },
    #[error("module `{module}` lists migration `{name}` twice")]
    Duplicate { module: String, name: String },
    #[error(
        "migration `{name}` of module `{module}` opts out of transactions; the cell runner applies every migration in its own transaction"
    )]
    NoTransaction { module: String, name: String },
    #[error(
        "the database has migration `{name}` of module `{module}` applied, but this build does not know it: is this binary older than the database?"
    )]
    UnknownApplied { module: String, name: String },
    #[error("migration `{name}` of module `{module}` failed: {source}")]
    Failed {
        module: String,
        name: String,
        #[source]
        source: DbErr,
    },
    #[error("migration bookkeeping failed: {0}")]
    Db(#[from] DbErr),
}

/// One migration's state, as `migrate status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub module: String,
    pub name: String,
    /// When it was applied; `None` while pending.
    pub applied_at: Option<String>,
    /// False for migrations recorded by a module this cell does not enable (kept, never undone).
    pub enabled: bool,
}

/// Checks names before anything touches the database.
fn validate(modules: &[ModuleMigrations]) -> Result<(), MigrationError> {
    for m in modules {
        let mut seen = BTreeSet::new();
        for mig in &m.migrations {
            let name = mig.name();
            if !name.starts_with(&format!("{}_", m.module)) {
                return Err(MigrationError::Unprefixed {
                    module: m.module.clone(),
                    name: name.to_owned(),
                });
            }
            if !seen.insert(name.to_owned()) {
                return Err(MigrationError::Duplicate {
                    module: m.module.clone(),
                    name: name.to_owned(),
                });
            }
            if mig.use_transaction() == Some(false) {
                return Err(MigrationError::NoTransaction {
                    module: m.module.clone(),
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(())
}

async fn ensure_tracking_table(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Two instances starting together would otherwise race on CREATE TABLE IF NOT EXISTS.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [PG_LOCK_KEY.into()],
        ))
        .await?;
    }
    let table = Table::create()
        .table(Alias::new(TRACKING_TABLE))
        .if_not_exists()
        .col(ColumnDef::new(Alias::new("module")).string().not_null())
        .col(ColumnDef::new(Alias::new("name")).string().not_null())
        .col(
            ColumnDef::new(Alias::new("applied_at"))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(
            sea_orm::sea_query::Index::create()
                .col(Alias::new("module"))
                .col(Alias::new("name")),
        )
        .to_owned();
    txn.execute(&table).await?;
    txn.commit().await
}

async fn applied(db: &DatabaseConnection) -> Result<BTreeMap<(String, String), String>, DbErr> {
    let select = Query::select()
        .columns([
            Alias::new("module"),
            Alias::new("name"),
            Alias::new("applied_at"),
        ])
        .from(Alias::new(TRACKING_TABLE))
        .to_owned();
    let mut out = BTreeMap::new();
    for row in db.query_all(&select).await? {
        let module: String = row.try_get("", "module")?;
        let name: String = row.try_get("", "name")?;
        let at: chrono::DateTime<chrono::Utc> = row.try_get("", "applied_at")?;
        out.insert((module, name), at.to_rfc3339());
    }
    Ok(out)
}

/// Applies every pending migration of `modules`, in the order given (the caller passes modules in
/// dependency order). Returns the `(module, name)` pairs applied by this call.
///
/// Each migration runs in its own transaction whose first statement claims the migration's row
/// in the tracking table (`ON CONFLICT DO NOTHING`): a second instance running at the same time
/// waits on that row and then skips the migration, so each is applied exactly once. Rows of
/// modules not passed here (disabled in this cell) are left alone, so disabling a module never
/// breaks start-up and re-enabling it applies only what it has not applied yet.
pub async fn up(
    db: &DatabaseConnection,
    modules: &[ModuleMigrations],
) -> Result<Vec<(String, String)>, MigrationError> {
    validate(modules)?;
    ensure_tracking_table(db).await?;
    let already = applied(db).await?;
    check_unknown(modules, &already)?;

    let mut done = Vec::new();
    for m in modules {
        for mig in &m.migrations {
            let key = (m.module.clone(), mig.name().to_owned());
            if already.contains_key(&key) {
                continue;
            }
            let failed = |source| MigrationError::Failed {
                module: m.module.clone(),
                name: mig.name().to_owned(),
                source,
            };
            let txn = db.begin().await.map_err(failed)?;
            let claim = Query::insert()
                .into_table(Alias::new(TRACKING_TABLE))
                .columns([
                    Alias::new("module"),
                    Alias::new("name"),
                    Alias::new("applied_at"),
                ])
                .values([
                    Expr::value(Value::from(m.module.clone())),
                    Expr::value(Value::from(mig.name().to_owned())),
                    Expr::value(Value::from(chrono::Utc::now())),
                ])
                .map_err(|e| failed(DbErr::Custom(e.to_string())))?
                .on_conflict(
                    OnConflict::columns([Alias::new("module"), Alias::new("name")])
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned();
            let claimed = txn.execute(&claim).await.map_err(failed)?.rows_affected();
            if claimed == 0 {
                // Another instance applied it while we were waiting for the row.
                txn.rollback().await.map_err(failed)?;
                continue;
            }
            mig.up(&SchemaManager::new(&txn)).await.map_err(failed)?;
            txn.commit().await.map_err(failed)?;
            tracing::info!(module = %m.module, migration = mig.name(), "migration applied");
            done.push(key);
        }
    }
    Ok(done)
}

/// A migration recorded as applied for an enabled module must still be known to this build.
fn check_unknown(
    modules: &[ModuleMigrations],
    already: &BTreeMap<(String, String), String>,
) -> Result<(), MigrationError> {
    for m in modules {
        let known: BTreeSet<&str> = m.migrations.iter().map(|x| x.name()).collect();
        for (module, name) in already.keys() {
            if *module == m.module && !known.contains(name.as_str()) {
                return Err(MigrationError::UnknownApplied {
                    module: module.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Every migration of the enabled modules (applied or pending), then any applied migration of a
/// module this cell does not enable.
pub async fn status(
    db: &DatabaseConnection,
    modules: &[ModuleMigrations],
) -> Result<Vec<MigrationStatus>, MigrationError> {
    validate(modules)?;
    // Only reads: a role that may not create tables (an instance serving with --no-migrate,
    // logged in as the application role) can ask too. No tracking table: nothing applied.
    let mut already = match SchemaManager::new(db).has_table(TRACKING_TABLE).await? {
        true => applied(db).await?,
        false => BTreeMap::new(),
    };
    let mut out = Vec::new();
    for m in modules {
        for mig in &m.migrations {
            let key = (m.module.clone(), mig.name().to_owned());
            out.push(MigrationStatus {
                applied_at: already.remove(&key),
                module: key.0,
                name: key.1,
                enabled: true,
            });
        }
    }
    let enabled: BTreeSet<&str> = modules.iter().map(|m| m.module.as_str()).collect();
    for ((module, name), at) in already {
        out.push(MigrationStatus {
            enabled: enabled.contains(module.as_str()),
            module,
            name,
            applied_at: Some(at),
        });
    }
    Ok(out)
}
