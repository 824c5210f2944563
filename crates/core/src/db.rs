//! The cell's database: connection (SQLite by default, PostgreSQL in production), tenant-scoped
//! transactions, and the repository handle that carries the org, so no query of a tenant table
//! can forget its `org_id` predicate.

use std::path::Path;
use std::time::Duration;

use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, IdenStatic,
    IntoActiveModel, PaginatorTrait, PrimaryKeyTrait, QueryFilter, Select, Statement,
    TransactionTrait,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::CellConfig;

/// A pooled connection to the cell's own database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects to the configured database; the SQLite default file (and its directory) is
    /// created on first run.
    pub async fn connect(config: &CellConfig) -> Result<Self, DbErr> {
        let url = config.database_url();
        let url = url.expose_secret();
        if let Some(path) = sqlite_path(url)
            && let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                DbErr::Custom(format!(
                    "cannot create database directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(config.database.max_connections)
            .min_connections(config.database.min_connections)
            .acquire_timeout(Duration::from_secs(config.database.acquire_timeout))
            .connect_timeout(Duration::from_secs(config.database.acquire_timeout))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        let mut attempt = 0;
        let conn = loop {
            match sea_orm::Database::connect(opts.clone()).await {
                // Two processes opening a new SQLite file at once race on switching it to WAL;
                // SQLite answers SQLITE_BUSY there without calling its busy handler.
                Err(e) if is_sqlite_busy(&e) && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                }
                other => break other?,
            }
        };
        Ok(Self { conn })
    }

    pub fn from_connection(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The raw connection, for migrations and tables that are not tenant-owned (users,
    /// organizations themselves). Tenant tables go through [`Db::tenant`].
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    /// Begins a transaction scoped to one organization. On PostgreSQL its first statement sets
    /// `app.current_org_id` for the transaction, which the row-level security policies read.
    pub async fn tenant(&self, org_id: Uuid) -> Result<TenantTx, DbErr> {
        let txn = self.conn.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "select set_config('app.current_org_id', $1, true)",
                [org_id.to_string().into()],
            ))
            .await?;
        }
        Ok(TenantTx { txn, org_id })
    }

    /// Pool gauges for `/metrics`: (connections open, of which idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        match self.backend() {
            DbBackend::Postgres => {
                let p = self.conn.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            DbBackend::Sqlite => {
                let p = self.conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => (0, 0),
        }
    }
}

fn is_sqlite_busy(e: &DbErr) -> bool {
    let (DbErr::Conn(sea_orm::RuntimeErr::SqlxError(inner))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(inner))) = e
    else {
        return false;
    };
    matches!(inner.as_ref(), sea_orm::sqlx::Error::Database(d) if d.code().as_deref() == Some("5"))
}

/// The file path of a `sqlite:` URL, if it names a file.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// A table owned by a tenant: it has an `org_id` column.
pub trait TenantEntity: EntityTrait {
    fn org_id_column() -> Self::Column;
}

/// A transaction bound to one organization. Tenant tables are reached through
/// [`TenantTx::repo`], which adds the org predicate to every read and write.
#[derive(Debug)]
pub struct TenantTx {
    txn: DatabaseTransaction,
    org_id: Uuid,
}

impl TenantTx {
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    pub fn repo<E: TenantEntity>(&self) -> Repo<'_, E> {
        Repo {
            txn: &self.txn,
            org_id: self.org_id,
            entity: std::marker::PhantomData,
        }
    }

    /// The transaction itself, for statements on tables that are not tenant-owned. Named so that
    /// a reviewer sees every place that steps outside the scope.
    pub fn unscoped(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// The repository of one tenant entity inside a [`TenantTx`]. Every method adds
/// `org_id = <the transaction's org>`; inserts set it and refuse a model of another org.
#[derive(Debug)]
pub struct Repo<'a, E: TenantEntity> {
    txn: &'a DatabaseTransaction,
    org_id: Uuid,
    entity: std::marker::PhantomData<E>,
}

type PkValue<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

impl<'a, E: TenantEntity> Repo<'a, E> {
    fn org_predicate(&self) -> SimpleExpr {
        E::org_id_column().eq(self.org_id)
    }

    /// `SELECT … WHERE org_id = ?`; add filters, ordering and paging to it.
    pub fn find(&self) -> Select<E> {
        E::find().filter(self.org_predicate())
    }

    pub async fn get(&self, id: impl Into<PkValue<E>>) -> Result<Option<E::Model>, DbErr> {
        E::find_by_id(id)
            .filter(self.org_predicate())
            .one(self.txn)
            .await
    }

    pub async fn count(&self) -> Result<u64, DbErr>
    where
        E::Model: Sync,
    {
        self.find().count(self.txn).await
    }

    /// Inserts with `org_id` set to this scope's org. A model that names another org is refused.
    pub async fn insert<A>(&self, mut model: A) -> Result<E::Model, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        self.claim(&mut model)?;
        model.insert(self.txn).await
    }

    /// Updates one row of this org; `RecordNotUpdated` if the id belongs to another org.
    pub async fn update<A>(&self, mut model: A) -> Result<E::Model, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        if model.get(E::org_id_column()).is_set() {
            self.claim(&mut model)?;
        }
        E::update(model)
            .validate()?
            .filter(self.org_predicate())
            .exec(self.txn)
            .await
    }

    /// Deletes one row of this org; returns whether a row was deleted.
    pub async fn delete(&self, id: impl Into<PkValue<E>>) -> Result<bool, DbErr> {
        let res = E::delete_by_id(id)
            .filter(self.org_predicate())
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// `UPDATE … SET <col = expr> WHERE org_id = ? AND <filter>`; returns the rows changed.
    pub async fn update_many(
        &self,
        set: Vec<(E::Column, SimpleExpr)>,
        filter: SimpleExpr,
    ) -> Result<u64, DbErr> {
        let mut q = E::update_many();
        for (col, value) in set {
            if col.as_str() == E::org_id_column().as_str() {
                return Err(DbErr::Custom(
                    "update_many cannot move rows to another org".into(),
                ));
            }
            q = q.col_expr(col, value);
        }
        let res = q
            .filter(self.org_predicate())
            .filter(filter)
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected)
    }

    /// `DELETE … WHERE org_id = ? AND <filter>`; returns the rows deleted.
    pub async fn delete_many(&self, filter: SimpleExpr) -> Result<u64, DbErr> {
        let res = E::delete_many()
            .filter(self.org_predicate())
            .filter(filter)
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected)
    }

    /// The transaction, for running the statements built by [`Repo::find`].
    pub fn conn(&self) -> &'a DatabaseTransaction {
        self.txn
    }

    fn claim<A>(&self, model: &mut A) -> Result<(), DbErr>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        let col = E::org_id_column();
        let mine = sea_orm::Value::from(self.org_id);
        if let Some(theirs) = model.get(col).into_value()
            && theirs != mine
        {
            return Err(DbErr::Custom(format!(
                "refusing to write a row of another org into the scope of org {}",
                self.org_id
            )));
        }
        model.set(col, mine);
        Ok(())
    }
}

/// Migration helper: on PostgreSQL, turns on row-level security for a tenant table so that a
/// connection without `app.current_org_id` (or with another org) sees and writes no rows, even
/// when a query forgets its predicate. On SQLite, a no-op (the repository is the guard there).
pub async fn enable_tenant_rls<C: ConnectionTrait>(conn: &C, table: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbErr::Custom(format!("invalid table name `{table}`")));
    }
    let check = "org_id = nullif(current_setting('app.current_org_id', true), '')::uuid";
    conn.execute_unprepared(&format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
         DROP POLICY IF EXISTS {table}_tenant_isolation ON {table};
         CREATE POLICY {table}_tenant_isolation ON {table} USING ({check}) WITH CHECK ({check});"
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/a.db?mode=rwc"),
            Some("data/a.db")
        );
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }
}
