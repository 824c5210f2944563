//! The cell's database: connection (SQLite by default, PostgreSQL in production), tenant-scoped
//! transactions, and the repository handle that carries the org, so no query of a tenant table
//! can forget its `org_id` predicate.

use std::path::Path;
use std::sync::Arc;
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
use crate::replica::Replica;
use crate::signals::Signals;

/// Connections of the kernel's system pool on PostgreSQL (background and operator work).
const SYSTEM_POOL_MAX: u32 = 4;

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// How long a read waits for a replica connection before it reads from the writer.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(1);

/// A pooled connection to the cell's own database. Cheap to clone.
///
/// On PostgreSQL it holds two pools: the serving pool ([`Db::conn`], [`Db::tenant`]), and the
/// kernel's system pool ([`Db::system`]) whose connections start with `app.system = on`, which
/// the policies of the kernel's own tables (outbox, jobs, mail, audit log) admit across orgs.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite (a file): the pool reads run on, outside transactions, its connections
    /// `query_only` (a write there fails). `None` elsewhere: reads run in transactions.
    reader: Option<DatabaseConnection>,
    /// The system context; `None` when `conn` is it (SQLite, or a bare connection).
    system: Option<Arc<Db>>,
    /// This instance's signal hub: tenant transactions raise signals on it when they commit.
    signals: Signals,
    /// PostgreSQL with `database.read_url`: where reads that may lag go while it is fresh
    /// ([`crate::replica`]).
    replica: Option<Arc<Replica>>,
}

impl Db {
    /// Connects as the database URL's user: the owner of the tables, which runs migrations
    /// and operator commands. The SQLite default file (and its directory) is created on first
    /// run. A cell serves through [`Db::connect_app`].
    pub async fn connect(config: &CellConfig) -> Result<Self, DbErr> {
        Self::open(config, None).await
    }

    /// Connects the pools a cell serves with: on PostgreSQL, acting as `database.app_role`
    /// when it is set (`SET ROLE` at connect time), else as the URL's user like [`Db::connect`].
    pub async fn connect_app(config: &CellConfig) -> Result<Self, DbErr> {
        Self::open(config, config.database.app_role.as_deref()).await
    }

    async fn open(config: &CellConfig, role: Option<&str>) -> Result<Self, DbErr> {
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
        if let Some(role) = role
            && !crate::config::valid_role_name(role)
        {
            return Err(DbErr::Custom(format!("invalid role name `{role}`")));
        }
        let db = &config.database;
        let pool_at = |url: &str, max: u32, min: u32, system: bool, query_only: bool| {
            let mut opts = ConnectOptions::new(url.to_owned());
            let role = role.map(str::to_owned);
            opts.max_connections(max)
                .min_connections(min)
                .acquire_timeout(Duration::from_secs(db.acquire_timeout))
                .connect_timeout(Duration::from_secs(db.acquire_timeout))
                // A connection in use is not pinged on every checkout (a round trip each, on
                // PostgreSQL as on SQLite's worker thread); one idle long enough for a server,
                // proxy or firewall to have dropped it is.
                .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(move |o| {
                    let o = o
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true)
                        .create_if_missing(!query_only);
                    match query_only {
                        true => o.pragma("query_only", "ON"),
                        false => o,
                    }
                })
                .map_sqlx_postgres_opts(move |o| {
                    // Startup parameters: applied by the server before the first statement, and
                    // the values `RESET` returns to.
                    let mut params: Vec<(&str, &str)> = Vec::new();
                    if let Some(role) = &role {
                        params.push(("role", role.as_str()));
                    }
                    if system {
                        params.push(("app.system", "on"));
                    }
                    if params.is_empty() {
                        o
                    } else {
                        o.options(params)
                    }
                });
            opts
        };
        let pool = |max, min, system, query_only| pool_at(url, max, min, system, query_only);
        let conn =
            connect_retrying(pool(db.max_connections, db.min_connections, false, false)).await?;
        let signals = Signals::default();
        let lazy = |mut opts: ConnectOptions| {
            opts.connect_lazy(true);
            sea_orm::Database::connect(opts)
        };
        let (system, reader) = match conn.get_database_backend() {
            DbBackend::Postgres => {
                let opts = pool(db.max_connections.min(SYSTEM_POOL_MAX), 0, true, false);
                let system = Arc::new(Self {
                    conn: lazy(opts).await?,
                    reader: None,
                    system: None,
                    signals: signals.clone(),
                    replica: None,
                });
                (Some(system), None)
            }
            // Each connection of `:memory:` is a database of its own: no second pool there.
            DbBackend::Sqlite if sqlite_path(url).is_some() => {
                let opts = pool(db.max_connections, 0, false, true);
                (None, Some(lazy(opts).await?))
            }
            _ => (None, None),
        };
        let replica = match config.database_read_url() {
            Some(read_url) if conn.get_database_backend() == DbBackend::Postgres => {
                let mut opts = pool_at(
                    read_url.expose_secret(),
                    db.max_connections,
                    0,
                    false,
                    false,
                );
                // A replica that does not answer at once is skipped, not waited for.
                opts.acquire_timeout(REPLICA_TIMEOUT)
                    .connect_timeout(REPLICA_TIMEOUT);
                let max_lag = Duration::from_millis(db.replica_max_lag_ms);
                let replica = Replica::new(lazy(opts).await?, max_lag);
                tokio::spawn(replica.clone().probe(conn.clone()));
                Some(replica)
            }
            _ => None,
        };
        Ok(Self {
            conn,
            reader,
            system,
            signals,
            replica,
        })
    }

    /// Closes the pools (at shutdown).
    pub async fn close(&self) {
        self.conn.close_by_ref().await.ok();
        if let Some(reader) = &self.reader {
            reader.close_by_ref().await.ok();
        }
        if let Some(system) = &self.system {
            system.conn.close_by_ref().await.ok();
        }
        if let Some(replica) = &self.replica {
            replica.conn.close_by_ref().await.ok();
        }
    }

    /// The kernel's system context: a pool whose connections carry `app.system = on` on
    /// PostgreSQL (the same pool on SQLite). Only kernel background and operator code uses it
    /// (event dispatch, the job runner, mail delivery, the admin API): the row-level security
    /// policies of the kernel's tables admit it across orgs. Module code uses [`Db::tenant`].
    pub fn system(&self) -> &Db {
        self.system.as_deref().unwrap_or(self)
    }

    /// Wraps one connection; it serves as its own system context.
    pub fn from_connection(conn: DatabaseConnection) -> Self {
        Self {
            conn,
            reader: None,
            system: None,
            signals: Signals::default(),
            replica: None,
        }
    }

    /// With `database.read_url`: how far behind the writer the replica may be now (`None`:
    /// unknown, e.g. down since start). `None` without a replica too.
    pub fn replica_staleness(&self) -> Option<Duration> {
        self.replica.as_ref().and_then(|r| r.staleness())
    }

    /// This instance's signal hub (see [`crate::signals`]).
    pub fn signals(&self) -> &Signals {
        &self.signals
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

    /// Begins a transaction on the raw connection (tables that are not tenant-owned). On SQLite
    /// it is `BEGIN IMMEDIATE`: it takes the write lock at once (waiting up to the busy
    /// timeout), so a transaction that reads and then writes cannot fail with
    /// `SQLITE_BUSY_SNAPSHOT` when another writer committed in between. Reads outside
    /// transactions stay concurrent.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        crate::replica::note_write();
        match self.backend() {
            DbBackend::Sqlite => {
                self.conn
                    .begin_with_options(sea_orm::TransactionOptions {
                        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await
            }
            DbBackend::Postgres => {
                let conn = self.conn.clone();
                uncancelled(async move { conn.begin().await }).await?
            }
            _ => self.conn.begin().await,
        }
    }

    /// Begins a transaction that only reads. On PostgreSQL it is `BEGIN READ ONLY` (a write in
    /// it fails; its end costs no wait, see [`TenantTx::commit`]). On SQLite it is
    /// no transaction: its statements run on the read-only pool, each on its own snapshot (as
    /// each statement of a PostgreSQL `READ COMMITTED` transaction), beside the one writer
    /// (WAL), and a write in it fails; neither a `BEGIN` nor its end costs a trip to the
    /// connection's worker thread. (A `:memory:` database, which has no second pool, reads in a
    /// deferred `BEGIN`.)
    pub async fn begin_read(&self) -> Result<TxConn, DbErr> {
        Ok(TxConn(match (&self.reader, self.backend()) {
            (_, DbBackend::Postgres) => self.begin_postgres(None, true).await?,
            (Some(reader), _) => Statements::Reads(reader.clone()),
            (None, _) => Statements::Txn(self.conn.begin().await?),
        }))
    }

    /// On PostgreSQL: `BEGIN`, and the org's `set_config` when there is one, in one simple
    /// query, so opening a tenant transaction costs one round trip (sea-orm's `begin` sends
    /// the `BEGIN` alone).
    async fn begin_postgres(
        &self,
        org_id: Option<Uuid>,
        read_only: bool,
    ) -> Result<Statements, DbErr> {
        Self::begin_postgres_on(&self.conn, org_id, read_only, false).await
    }

    /// A read-only transaction on PostgreSQL: on the replica when the read may lag and the
    /// replica is fresh ([`crate::replica`]), else on the writer (also when the replica fails to
    /// begin one).
    async fn begin_postgres_read(&self, org_id: Option<Uuid>) -> Result<Statements, DbErr> {
        if let Some(replica) = &self.replica
            && crate::replica::may_lag()
            && replica.fresh()
        {
            match Self::begin_postgres_on(&replica.conn, org_id, true, true).await {
                Ok(txn) => {
                    ::metrics::counter!("db_reads_total", "on" => "replica").increment(1);
                    return Ok(txn);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "read replica failed; reading from the writer");
                    replica.mark_down();
                }
            }
        }
        if self.replica.is_some() {
            ::metrics::counter!("db_reads_total", "on" => "writer").increment(1);
        }
        self.begin_postgres(org_id, true).await
    }

    async fn begin_postgres_on(
        conn: &DatabaseConnection,
        org_id: Option<Uuid>,
        read_only: bool,
        replica: bool,
    ) -> Result<Statements, DbErr> {
        let begin = if read_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        };
        let sql = match org_id {
            // A UUID's text is hex digits and dashes: nothing to escape.
            Some(org) => {
                format!("{begin}; SELECT set_config('app.current_org_id', '{org}', true)")
            }
            None => begin.to_owned(),
        };
        let pool = conn.get_postgres_connection_pool().clone();
        let txn =
            uncancelled(async move { pool.begin_with(sea_orm::sqlx::AssertSqlSafe(sql)).await })
                .await?
                .map_err(query_err)?;
        Ok(Statements::Postgres {
            txn: tokio::sync::Mutex::new(txn),
            read_only,
            replica,
        })
    }

    /// [`Db::tenant`] for a transaction that only reads: see [`Db::begin_read`] and
    /// [`Db::scope_read`].
    pub async fn tenant_read(&self, org_id: Uuid) -> Result<TenantTx, DbErr> {
        self.open_tenant(org_id, true).await
    }

    /// Begins a transaction scoped to one organization. On PostgreSQL it sets
    /// `app.current_org_id` for the transaction, which the row-level security policies read,
    /// in the round trip of its `BEGIN` ([`Db::tenant_read`] likewise).
    pub async fn tenant(&self, org_id: Uuid) -> Result<TenantTx, DbErr> {
        self.open_tenant(org_id, false).await
    }

    async fn open_tenant(&self, org_id: Uuid, read_only: bool) -> Result<TenantTx, DbErr> {
        let txn = match (self.backend(), read_only) {
            (DbBackend::Postgres, true) => TxConn(self.begin_postgres_read(Some(org_id)).await?),
            (DbBackend::Postgres, false) => {
                crate::replica::note_write();
                TxConn(self.begin_postgres(Some(org_id), false).await?)
            }
            (_, true) => self.begin_read().await?,
            (_, false) => TxConn(Statements::Txn(self.begin().await?)),
        };
        Ok(self.scoped(txn, org_id))
    }

    /// Scopes a read from [`Db::begin_read`] to one organization, as [`Db::tenant_read`] does:
    /// for code that learns the org inside the read (an API key's org, read by the key's id).
    /// On PostgreSQL setting the org is a round trip of its own ([`Db::tenant_read`] saves it
    /// when the org is known first).
    pub async fn scope_read(&self, txn: TxConn, org_id: Uuid) -> Result<TenantTx, DbErr> {
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "select set_config('app.current_org_id', $1, true)",
                [org_id.to_string().into()],
            ))
            .await?;
        }
        Ok(self.scoped(txn, org_id))
    }

    fn scoped(&self, txn: TxConn, org_id: Uuid) -> TenantTx {
        TenantTx {
            txn,
            org_id,
            signals: self.signals.clone(),
            on_commit: std::sync::Mutex::default(),
        }
    }

    /// Begins a transaction on behalf of one user across their organizations ("my orgs", "my
    /// invitations"): on PostgreSQL it sets `app.current_user_id`, which the policies made by
    /// [`enable_member_rls`] read, so the user's own rows of such a table are visible in every org.
    pub async fn for_user(&self, user_id: Uuid) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "select set_config('app.current_user_id', $1, true)",
                [user_id.to_string().into()],
            ))
            .await?;
        }
        Ok(txn)
    }

    /// Pool gauges for `/metrics`: (connections open, of which idle).
    /// On SQLite, the read pool's connections count too.
    pub fn pool_stats(&self) -> (u32, usize) {
        let stats = |conn: &DatabaseConnection| match conn.get_database_backend() {
            DbBackend::Postgres => {
                let p = conn.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            DbBackend::Sqlite => {
                let p = conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => (0, 0),
        };
        let (open, idle) = stats(&self.conn);
        let (reading, reading_idle) = self.reader.as_ref().map_or((0, 0), stats);
        (open + reading, idle + reading_idle)
    }
}

/// Runs a PostgreSQL `BEGIN` to its end even when the caller gives up on it (a request whose
/// other extractor failed drops the one opening its transaction): sqlx counts a transaction only
/// once the server has answered its `BEGIN`, so one abandoned between the two would go back to
/// the pool still open, and the next transaction on that connection would run inside it. Run
/// to its end, the transaction is dropped here and its `ROLLBACK` queued.
async fn uncancelled<T: Send + 'static>(
    begin: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, DbErr> {
    tokio::spawn(begin)
        .await
        .map_err(|e| DbErr::Custom(format!("beginning a transaction: {e}")))
}

async fn connect_retrying(opts: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let mut attempt = 0;
    loop {
        match sea_orm::Database::connect(opts.clone()).await {
            // Two processes opening a new SQLite file at once race on switching it to WAL;
            // SQLite answers SQLITE_BUSY there without calling its busy handler.
            Err(e) if is_sqlite_busy(&e) && attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
            }
            other => return other,
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

/// A table owned by a tenant: it has an `org_id` column. Implement it with
/// [`tenant_entity!`](crate::tenant_entity).
pub trait TenantEntity: EntityTrait {
    fn org_id_column() -> Self::Column;

    /// The `deleted_at` column of a table whose rows go to the trash before they are deleted
    /// for good ([`tenant_entity!`](crate::tenant_entity)`(soft_delete: item)`): its
    /// [`Repo`] leaves trashed rows out of every read and write, and [`Repo::trash`],
    /// [`Repo::restore`] and [`Repo::find_trashed`] work on them. `None`: rows are deleted at once.
    fn deleted_at_column() -> Option<Self::Column> {
        None
    }
}

/// A tenant table as a sea-orm entity module: `id` (the key) and `org_id` first, then the
/// fields given (with their doc comments), no relations (foreign keys live in the migrations).
/// Follow it with [`tenant_entity!`] for the repository.
///
/// ```ignore
/// kernel::tenant_table!(item, "template_items", { name: String, created_at: DateTimeUtc });
/// ```
#[macro_export]
macro_rules! tenant_table {
    ($module:ident, $table:literal, { $($(#[$meta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        pub(crate) mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: Uuid,
                pub org_id: Uuid,
                $($(#[$meta])* pub $field: $ty,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

/// `kernel::tenant_entity!(item, item_tag)`: each sea-orm entity module named holds a tenant
/// table whose org column is `org_id`. `kernel::tenant_entity!(soft_delete: item)`: its rows
/// also have a nullable `deleted_at` and go to the trash first (see
/// [`TenantEntity::deleted_at_column`]).
#[macro_export]
macro_rules! tenant_entity {
    (soft_delete: $($module:ident),+ $(,)?) => {$(
        impl $crate::TenantEntity for $module::Entity {
            fn org_id_column() -> Self::Column {
                $module::Column::OrgId
            }
            fn deleted_at_column() -> Option<Self::Column> {
                Some($module::Column::DeletedAt)
            }
        }
    )+};
    ($($module:ident),+ $(,)?) => {$(
        impl $crate::TenantEntity for $module::Entity {
            fn org_id_column() -> Self::Column {
                $module::Column::OrgId
            }
        }
    )+};
}

/// What a [`TenantTx`]'s statements run on: a database transaction, or, for reads on SQLite,
/// the read-only pool (see [`Db::begin_read`]). Runs any sea-orm statement.
#[derive(Debug)]
pub struct TxConn(Statements);

#[derive(Debug)]
enum Statements {
    /// A sea-orm transaction (SQLite writes; reads of a `:memory:` database).
    Txn(DatabaseTransaction),
    /// SQLite reads: the read-only pool, a snapshot per statement; ending it is dropping it.
    Reads(DatabaseConnection),
    /// A PostgreSQL transaction opened with its org in one round trip
    /// ([`Db::begin_postgres`]); statements are bound as sea-orm binds them. A `read_only` one
    /// ends by dropping it (its `ROLLBACK` queued for the connection's next message).
    Postgres {
        txn: tokio::sync::Mutex<PgTxn>,
        read_only: bool,
        /// On the read replica ([`crate::replica`]), which may lag the writer.
        replica: bool,
    },
}

type PgTxn = sea_orm::sqlx::Transaction<'static, sea_orm::sqlx::Postgres>;

/// sea-orm's binding of a statement for PostgreSQL (the same binder, the same types).
fn pg_query(
    stmt: &Statement,
) -> sea_orm::sqlx::query::Query<'_, sea_orm::sqlx::Postgres, sea_query_sqlx::SqlxValues> {
    let values = stmt
        .values
        .clone()
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sea_orm::sqlx::query_with(
        sea_orm::sqlx::AssertSqlSafe(stmt.sql.as_str()),
        sea_query_sqlx::SqlxValues(values),
    )
}

/// Errors in the shape sea-orm gives them (`DbErr::sql_err` reads it).
fn exec_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e.into()))
}

fn query_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into()))
}

#[async_trait::async_trait]
impl ConnectionTrait for TxConn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Statements::Txn(t) => t.get_database_backend(),
            Statements::Reads(c) => c.get_database_backend(),
            Statements::Postgres { .. } => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Statements::Txn(t) => t.execute_raw(stmt).await,
            Statements::Reads(c) => c.execute_raw(stmt).await,
            Statements::Postgres { txn: t, .. } => {
                let mut t = t.lock().await;
                let done = pg_query(&stmt).execute(&mut **t).await;
                done.map(Into::into).map_err(exec_err)
            }
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Statements::Txn(t) => t.execute_unprepared(sql).await,
            Statements::Reads(c) => c.execute_unprepared(sql).await,
            Statements::Postgres { txn: t, .. } => {
                let mut t = t.lock().await;
                let sql = sea_orm::sqlx::AssertSqlSafe(sql.to_owned());
                let done = sea_orm::sqlx::Executor::execute(&mut **t, sql).await;
                done.map(Into::into).map_err(exec_err)
            }
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Statements::Txn(t) => t.query_one_raw(stmt).await,
            Statements::Reads(c) => c.query_one_raw(stmt).await,
            Statements::Postgres { txn: t, .. } => {
                let mut t = t.lock().await;
                let row = pg_query(&stmt).fetch_optional(&mut **t).await;
                row.map(|r| r.map(Into::into)).map_err(query_err)
            }
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Statements::Txn(t) => t.query_all_raw(stmt).await,
            Statements::Reads(c) => c.query_all_raw(stmt).await,
            Statements::Postgres { txn: t, .. } => {
                let mut t = t.lock().await;
                let rows = pg_query(&stmt).fetch_all(&mut **t).await;
                rows.map(|rows| rows.into_iter().map(Into::into).collect())
                    .map_err(query_err)
            }
        }
    }
}

/// A transaction bound to one organization. Tenant tables are reached through
/// [`TenantTx::repo`], which adds the org predicate to every read and write.
#[derive(Debug)]
pub struct TenantTx {
    txn: TxConn,
    org_id: Uuid,
    signals: Signals,
    /// Signals to raise in this instance once the transaction has committed.
    on_commit: std::sync::Mutex<Vec<(&'static str, String)>>,
}

impl TenantTx {
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// Whether this transaction reads the read replica, which may lag the writer by up to
    /// `database.replica_max_lag_ms` ([`crate::replica`]). State kept in memory from fresher
    /// sources (signals, this instance's own writes) must not be labelled with what it reads.
    pub fn on_replica(&self) -> bool {
        matches!(self.txn.0, Statements::Postgres { replica: true, .. })
    }

    pub fn repo<E: TenantEntity>(&self) -> Repo<'_, E> {
        Repo {
            txn: &self.txn,
            org_id: self.org_id,
            entity: std::marker::PhantomData,
        }
    }

    /// One page of a list (`ListQuery`'s page, limit and capped total) of a tenant table,
    /// `select` built from [`Repo::find`] (which carries the org predicate).
    pub async fn page<E>(
        &self,
        select: Select<E>,
        query: &crate::http::ListQuery,
    ) -> Result<crate::http::Page<E::Model>, DbErr>
    where
        E: TenantEntity,
        E::Model: Sync,
    {
        crate::http::fetch_page(select, query, &self.txn).await
    }

    /// Serializes this transaction with every other of its org that takes the same `key` until
    /// it ends (a PostgreSQL transaction-scoped advisory lock on the org and the key; SQLite has
    /// one writer at a time already): for a check that reads before it writes, such as a
    /// balance that must not be spent twice.
    pub async fn serialize(&self, key: &str) -> Result<(), DbErr> {
        if self.txn.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        self.txn
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [format!("{}:{key}", self.org_id).into()],
            ))
            .await?;
        Ok(())
    }

    /// The transaction itself, for statements the repository cannot say (tables that are not
    /// tenant-owned, bulk statements with their own org predicate). Every use carries an
    /// `// unscoped: <reason>` comment; `scripts/boundaries.py` lists them and fails on one
    /// without.
    pub fn unscoped(&self) -> &TxConn {
        &self.txn
    }

    /// For bulk work (an import's batch): plans each statement of the rest of this transaction
    /// with its parameters' values. PostgreSQL otherwise settles, after five runs, on a generic
    /// plan that ignores them, and for `name IN ($2 … $101)` on a table without fresh statistics
    /// that plan reads the whole org (measured: 35 ms a batch at 20 000 rows, growing). No-op on
    /// SQLite.
    pub async fn plan_with_values(&self) -> Result<(), DbErr> {
        self.set_local("plan_cache_mode = force_custom_plan").await
    }

    /// For pages walked in key order (an export's: `id > $after ORDER BY id LIMIT n`): the rest
    /// of this transaction avoids sorting, so each page reads along the index whatever the
    /// statistics say. Without fresh ones (right after a bulk load) the planner guesses that
    /// one row matches and sorts every row after the cursor for each page instead (measured:
    /// 72 ms a page at 200 000 rows, against 2.6 ms along the index): the export was
    /// quadratic. A statement with no ordered path still sorts. No-op on SQLite.
    pub async fn walk_in_order(&self) -> Result<(), DbErr> {
        self.set_local("enable_sort = off").await
    }

    async fn set_local(&self, setting: &str) -> Result<(), DbErr> {
        if self.txn.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        self.txn
            .execute_unprepared(&format!("SET LOCAL {setting}"))
            .await?;
        Ok(())
    }

    /// Commits. A read ([`Db::tenant_read`], [`Db::begin_read`]) ends without waiting
    /// for the server: its `ROLLBACK` is queued and sent with the connection's next message.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.txn.0 {
            Statements::Txn(txn) => txn.commit().await?,
            Statements::Postgres {
                txn,
                read_only: false,
                ..
            } => txn.into_inner().commit().await.map_err(exec_err)?,
            // Dropping a PostgreSQL transaction queues its `ROLLBACK`.
            Statements::Postgres { .. } | Statements::Reads(_) => {}
        }
        let raised = self.on_commit.into_inner().unwrap_or_default();
        for (channel, payload) in raised {
            self.signals.raise(channel, &payload);
        }
        Ok(())
    }

    /// Raises `channel` with `payload` in this instance once the transaction commits (not at
    /// all if it rolls back), before [`TenantTx::commit`] returns: so what the request changed
    /// is known to this instance before its answer leaves. Other instances hear of the change
    /// from the database's own notification (a trigger, see [`crate::signals::signal_on`]).
    pub fn raise_on_commit(&self, channel: &'static str, payload: String) {
        if let Ok(mut pending) = self.on_commit.lock() {
            pending.push((channel, payload));
        }
    }

    /// Rolls back (a read-only transaction without waiting: dropping it queues the `ROLLBACK`).
    pub async fn rollback(self) -> Result<(), DbErr> {
        match self.txn.0 {
            Statements::Txn(txn) => txn.rollback().await,
            Statements::Postgres {
                txn,
                read_only: false,
                ..
            } => txn.into_inner().rollback().await.map_err(exec_err),
            Statements::Postgres { .. } | Statements::Reads(_) => Ok(()),
        }
    }
}

/// The repository of one tenant entity inside a [`TenantTx`]. Every method adds
/// `org_id = <the transaction's org>`; inserts set it and refuse a model of another org.
#[derive(Debug)]
pub struct Repo<'a, E: TenantEntity> {
    txn: &'a TxConn,
    org_id: Uuid,
    entity: std::marker::PhantomData<E>,
}

type PkValue<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

impl<'a, E: TenantEntity> Repo<'a, E> {
    /// This org's rows, whatever their state: only deletes (for good) use it.
    fn org_predicate(&self) -> SimpleExpr {
        E::org_id_column().eq(self.org_id)
    }

    /// This org's rows that are not in the trash: every read and write but deletes.
    fn live_predicate(&self) -> SimpleExpr {
        match E::deleted_at_column() {
            Some(deleted) => sea_orm::ExprTrait::and(self.org_predicate(), deleted.is_null()),
            None => self.org_predicate(),
        }
    }

    /// `SELECT … WHERE org_id = ?` (and, for a soft-deleted table, `deleted_at IS NULL`); add
    /// filters, ordering and paging to it.
    pub fn find(&self) -> Select<E> {
        E::find().filter(self.live_predicate())
    }

    /// `SELECT … WHERE org_id = ?`, rows in the trash included: for what the trash does not
    /// end (a count that keeps a parent, a key that must stay unique).
    pub fn find_any(&self) -> Select<E> {
        E::find().filter(self.org_predicate())
    }

    pub async fn get(&self, id: impl Into<PkValue<E>>) -> Result<Option<E::Model>, DbErr> {
        E::find_by_id(id)
            .filter(self.live_predicate())
            .one(self.txn)
            .await
    }

    /// One row by id with its rows of the has-many related tenant entity `C`, in one statement
    /// (a `LEFT JOIN`). The children come in no particular order; those of another org (there
    /// should be none) are left out.
    pub async fn get_with<C>(
        &self,
        id: impl Into<PkValue<E>>,
    ) -> Result<Option<(E::Model, Vec<C::Model>)>, DbErr>
    where
        C: TenantEntity,
        E: sea_orm::Related<C>,
    {
        let mine = sea_orm::Value::from(self.org_id);
        let found = E::find_by_id(id)
            .filter(self.live_predicate())
            .find_with_related(C::default())
            .all(self.txn)
            .await?
            .pop();
        Ok(found.map(|(row, children)| {
            let children = children
                .into_iter()
                .filter(|c| sea_orm::ModelTrait::get(c, C::org_id_column()) == mine)
                .collect();
            (row, children)
        }))
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

    /// Inserts rows in one statement, each with `org_id` set to this scope's org (a model that
    /// names another org is refused); how many.
    pub async fn insert_many<A>(&self, models: impl IntoIterator<Item = A>) -> Result<u64, DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        let all = self.claim_all(models)?;
        if all.is_empty() {
            return Ok(0);
        }
        E::insert_many(all).exec_without_returning(self.txn).await
    }

    /// Running totals kept by many writers: inserts `models` (each with `org_id` set to this
    /// scope's org), and where one meets a row with the same `key` (a unique index that leads with
    /// `org_id`), adds its `add` columns to that row's instead (`ON CONFLICT … DO UPDATE SET c =
    /// c + excluded.c`), atomically under concurrent writers. Two models with the same key in
    /// one call are refused by the database: sum them first.
    pub async fn upsert_adding<A>(
        &self,
        models: impl IntoIterator<Item = A>,
        key: &[E::Column],
        add: &[E::Column],
    ) -> Result<(), DbErr>
    where
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
        let all = self.claim_all(models)?;
        if all.is_empty() {
            return Ok(());
        }
        let mut on = OnConflict::columns(key.iter().copied());
        for &c in add {
            on.value(
                c,
                Expr::col((E::default(), c)).add(Expr::col((Alias::new("excluded"), c))),
            );
        }
        E::insert_many(all)
            .on_conflict(on)
            .exec_without_returning(self.txn)
            .await?;
        Ok(())
    }

    /// Rows whose `column` is `from` get `into` instead, those in the trash too: what a merge does
    /// to the rows of the one merged away (`crm`: a person's channels, deals, interactions).
    /// How many.
    pub async fn repoint(&self, column: E::Column, from: Uuid, into: Uuid) -> Result<u64, DbErr> {
        use sea_orm::sea_query::Expr;
        self.update_many_any(vec![(column, Expr::value(into))], column.eq(from))
            .await
    }

    /// [`Repo::repoint`] for a reference to an entity of any module, held as a type and an id
    /// (`entity_type`/`entity_id`, a task's anchor): rows naming `kind` `from` name `into`.
    pub async fn repoint_ref(
        &self,
        kind_column: E::Column,
        id_column: E::Column,
        kind: &str,
        from: Uuid,
        into: Uuid,
    ) -> Result<u64, DbErr> {
        use sea_orm::sea_query::Expr;
        let filter = sea_orm::ExprTrait::and(kind_column.eq(kind), id_column.eq(from));
        self.update_many_any(vec![(id_column, Expr::value(into))], filter)
            .await
    }

    /// Updates one row of this org; `RecordNotUpdated` if the id belongs to another org (or is
    /// in the trash).
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
            .filter(self.live_predicate())
            .exec(self.txn)
            .await
    }

    /// Deletes one row of this org for good, in the trash or not; returns whether a row was
    /// deleted. A soft-deleted table's rows go to the trash with [`Repo::trash`] instead.
    pub async fn delete(&self, id: impl Into<PkValue<E>>) -> Result<bool, DbErr> {
        let res = E::delete_by_id(id)
            .filter(self.org_predicate())
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// `UPDATE … SET <col = expr> WHERE org_id = ? AND <filter>` (rows in the trash left
    /// alone); returns the rows changed.
    pub async fn update_many(
        &self,
        set: Vec<(E::Column, SimpleExpr)>,
        filter: SimpleExpr,
    ) -> Result<u64, DbErr> {
        self.update_where(set, self.live_predicate(), filter).await
    }

    /// [`Repo::update_many`] on rows in the trash too (a reference let go of by every row that
    /// holds it).
    pub async fn update_many_any(
        &self,
        set: Vec<(E::Column, SimpleExpr)>,
        filter: SimpleExpr,
    ) -> Result<u64, DbErr> {
        self.update_where(set, self.org_predicate(), filter).await
    }

    async fn update_where(
        &self,
        set: Vec<(E::Column, SimpleExpr)>,
        scope: SimpleExpr,
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
        let res = q.filter(scope).filter(filter).exec(self.txn).await?;
        Ok(res.rows_affected)
    }

    /// `DELETE … WHERE org_id = ? AND <filter>`, in the trash or not; returns the rows deleted.
    pub async fn delete_many(&self, filter: SimpleExpr) -> Result<u64, DbErr> {
        let res = E::delete_many()
            .filter(self.org_predicate())
            .filter(filter)
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected)
    }

    /// The transaction, for running the statements built by [`Repo::find`].
    pub fn conn(&self) -> &'a TxConn {
        self.txn
    }

    /// The rows an entity loader's `documents` names: those of `Ids`, or a page in id order
    /// after `After`'s id (what a search index rebuild pages through). Trashed rows left out.
    pub fn find_documents(&self, which: crate::module::Documents<'_>) -> Result<Select<E>, DbErr> {
        use sea_orm::{QueryOrder, QuerySelect};
        let id = id_column::<E>()?;
        Ok(match which {
            crate::module::Documents::Ids(ids) => self.find().filter(id.is_in(ids.to_vec())),
            crate::module::Documents::After { after, limit } => {
                let mut select = self.find();
                if let Some(after) = after {
                    select = select.filter(id.gt(after));
                }
                select.order_by_asc(id).limit(limit)
            }
        })
    }

    /// Moves one row of this org to the trash (`deleted_at = now`); whether it was there to
    /// move. Only for a soft-deleted table.
    pub async fn trash(&self, id: Uuid) -> Result<bool, DbErr> {
        let deleted = Self::soft()?;
        self.set_deleted(id, deleted.is_null(), Some(chrono::Utc::now()))
            .await
    }

    /// Takes one row of this org out of the trash; whether it was in it.
    pub async fn restore(&self, id: Uuid) -> Result<bool, DbErr> {
        let deleted = Self::soft()?;
        self.set_deleted(id, deleted.is_not_null(), None).await
    }

    /// The org's rows in the trash (`deleted_at IS NOT NULL`), most recently deleted first; with
    /// `before` (a cursor: deleted_at, id), only those after it in that order.
    pub fn find_trashed(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    ) -> Result<Select<E>, DbErr> {
        use sea_orm::{Condition, QueryOrder};
        let deleted = Self::soft()?;
        let id = id_column::<E>()?;
        let mut select = E::find()
            .filter(self.org_predicate())
            .filter(deleted.is_not_null());
        if let Some((at, last)) = before {
            select = select.filter(
                Condition::any()
                    .add(deleted.lt(at))
                    .add(sea_orm::ExprTrait::and(deleted.eq(at), id.lt(last))),
            );
        }
        Ok(select.order_by_desc(deleted).order_by_desc(id))
    }

    /// A page of [`Repo::find_trashed`], each row with when it went to the trash: what an
    /// [`EntityTrash::trashed`](crate::module::EntityTrash::trashed) lists.
    pub async fn trashed_page(
        &self,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<(E::Model, chrono::DateTime<chrono::Utc>)>, DbErr> {
        use sea_orm::{ModelTrait, QuerySelect};
        let deleted = Self::soft()?;
        let rows = self
            .find_trashed(before)?
            .limit(limit)
            .all(self.txn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m.get(deleted) {
                sea_orm::Value::ChronoDateTimeUtc(Some(at)) => Some((m, at)),
                _ => None,
            })
            .collect())
    }

    /// Those of `ids` that are in this org's trash.
    pub async fn trashed_ids(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
        use sea_orm::QuerySelect;
        let id = id_column::<E>()?;
        self.find_trashed(None)?
            .filter(id.is_in(ids.to_vec()))
            .select_only()
            .column(id)
            .into_tuple()
            .all(self.txn)
            .await
    }

    /// Deletes for good those of `ids` that are in this org's trash (children go by their
    /// foreign keys); the ids deleted. What an
    /// [`EntityTrash::purge`](crate::module::EntityTrash::purge) does for a table with nothing
    /// else to clean.
    pub async fn purge(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
        let gone = self.trashed_ids(ids).await?;
        if !gone.is_empty() {
            self.delete_many(id_column::<E>()?.is_in(gone.clone()))
                .await?;
        }
        Ok(gone)
    }

    fn soft() -> Result<E::Column, DbErr> {
        E::deleted_at_column().ok_or_else(|| {
            DbErr::Custom(format!(
                "`{}` has no trash (declare it with `tenant_entity!(soft_delete: …)`)",
                E::default().table_name()
            ))
        })
    }

    async fn set_deleted(
        &self,
        id: Uuid,
        state: SimpleExpr,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool, DbErr> {
        let deleted = Self::soft()?;
        let res = E::update_many()
            .col_expr(deleted, sea_orm::sea_query::Expr::value(to))
            .filter(self.org_predicate())
            .filter(id_column::<E>()?.eq(id))
            .filter(state)
            .exec(self.txn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// The edges reachable from `start` along `from → to`, as `(from, to)` pairs, in one
    /// recursive statement: those of every live row of this org whose `from` is `start` or the
    /// `to` of another such edge (rows whose `to` is NULL are no edge). A parent's subtree
    /// (`from` = parent_id, `to` = id), what a task waits for through others (task_id →
    /// depends_on_id), a folder's chain to the top (id → parent_id). Each edge is taken once, so
    /// a cycle in the data ends the walk; every step reads the `(org_id, from)` index. No
    /// particular order.
    pub async fn reachable(
        &self,
        start: Uuid,
        from: E::Column,
        to: E::Column,
    ) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
        self.walk(start, from, to, self.live_predicate()).await
    }

    /// [`Repo::reachable`] through the rows in the trash (what went there with `start`).
    pub async fn reachable_in_trash(
        &self,
        start: Uuid,
        from: E::Column,
        to: E::Column,
    ) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
        let trashed = sea_orm::ExprTrait::and(self.org_predicate(), Self::soft()?.is_not_null());
        self.walk(start, from, to, trashed).await
    }

    /// `WITH RECURSIVE walk(a, b) AS (SELECT from, to FROM t WHERE rows AND from = start
    /// UNION SELECT t.from, t.to FROM t JOIN walk ON t.from = walk.b WHERE rows) SELECT a, b
    /// FROM walk` (`to IS NOT NULL` in both).
    async fn walk(
        &self,
        start: Uuid,
        from: E::Column,
        to: E::Column,
        rows: SimpleExpr,
    ) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
        use sea_orm::sea_query::{
            Alias, CommonTableExpression, Expr, ExprTrait, Query, SelectStatement, UnionType,
            WithClause,
        };
        let (walk, a, b) = (Alias::new("walk"), Alias::new("a"), Alias::new("b"));
        let edges = |query: &mut SelectStatement| {
            query
                .column((E::default(), from))
                .column((E::default(), to))
                .from(E::default())
                .and_where(rows.clone())
                .and_where(to.is_not_null())
                .to_owned()
        };
        let step = edges(&mut Query::select())
            .inner_join(
                walk.clone(),
                Expr::col((E::default(), from)).equals((walk.clone(), b.clone())),
            )
            .to_owned();
        let seed = edges(&mut Query::select())
            .and_where(from.eq(start))
            .union(UnionType::Distinct, step)
            .to_owned();
        let cte = CommonTableExpression::new()
            .query(seed)
            .table_name(walk.clone())
            .columns([a.clone(), b.clone()])
            .to_owned();
        let query = Query::select()
            .columns([a, b])
            .from(walk)
            .to_owned()
            .with(WithClause::new().recursive(true).cte(cte).to_owned());
        let rows = self
            .txn
            .query_all_raw(self.txn.get_database_backend().build(&query))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<Uuid>("", "a")?, r.try_get::<Uuid>("", "b")?)))
            .collect()
    }

    fn claim_all<A>(&self, models: impl IntoIterator<Item = A>) -> Result<Vec<A>, DbErr>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        models
            .into_iter()
            .map(|mut m| self.claim(&mut m).map(|()| m))
            .collect()
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

/// Rows of a soft-deleted table in the trash since before `cutoff`, of every org, as
/// (org, id), oldest first, up to `limit`: read in the system context, so the table's policy
/// must admit it ([`enable_system_rls`]). What an [`EntityTrash::expired`] answers.
///
/// [`EntityTrash::expired`]: crate::module::EntityTrash::expired
pub async fn trashed_before<E: TenantEntity>(
    db: &Db,
    cutoff: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    let deleted = Repo::<E>::soft()?;
    across_orgs::<E>(db, deleted.lt(cutoff), deleted, limit).await
}

/// Rows of every org matching `condition`, as (org, id), in `order` (ascending), up to `limit`:
/// what a module's background sweep works through (expired uploads, overdue invoices), one org
/// transaction per org after. Read in the system context, so the table's policy must admit it
/// ([`enable_system_rls`]); nothing but the two ids leaves the read.
pub async fn across_orgs<E: TenantEntity>(
    db: &Db,
    condition: impl sea_orm::sea_query::IntoCondition,
    order: E::Column,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let id = id_column::<E>()?;
    E::find()
        .select_only()
        .column(E::org_id_column())
        .column(id)
        .filter(condition)
        .order_by_asc(order)
        .limit(limit)
        .into_tuple()
        .all(db.system().conn())
        .await
}

/// The orgs that have rows matching `condition` (every page of [`across_orgs`], in id order):
/// whom a daily sweep visits, one org transaction each.
pub async fn orgs_with<E: TenantEntity>(
    db: &Db,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<std::collections::BTreeSet<Uuid>, DbErr> {
    let condition = condition.into_condition();
    let id = id_column::<E>()?;
    let mut orgs = std::collections::BTreeSet::new();
    let mut after = Uuid::nil();
    loop {
        let page = condition.clone().add(id.gt(after));
        let rows = across_orgs::<E>(db, page, id, 500).await?;
        let Some(last) = rows.last().map(|(_, id)| *id) else {
            return Ok(orgs);
        };
        orgs.extend(rows.into_iter().map(|(org, _)| org));
        after = last;
    }
}

/// The single primary-key column of `E`, for statements that name a row by id.
fn id_column<E: EntityTrait>() -> Result<E::Column, DbErr> {
    use sea_orm::{Iterable, PrimaryKeyToColumn};
    let mut keys = E::PrimaryKey::iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) => Ok(key.into_column()),
        _ => Err(DbErr::Custom(format!(
            "`{}` has no single-column primary key",
            E::default().table_name()
        ))),
    }
}

/// Migration helper: on PostgreSQL, turns on row-level security for a tenant table so that a
/// connection without `app.current_org_id` (or with another org) sees and writes no rows, even
/// when a query forgets its predicate. On SQLite, a no-op (the repository is the guard there).
pub async fn enable_tenant_rls<C: ConnectionTrait>(conn: &C, table: &str) -> Result<(), DbErr> {
    create_policy(conn, table, ORG_CHECK, ORG_CHECK).await
}

/// Like [`enable_tenant_rls`], for tables with a `user_id` whose rows their user must also see
/// outside the org's scope (memberships: "my organizations"): rows are visible in their org's
/// transactions and in [`Db::for_user`] transactions of their user; writes need the org.
pub async fn enable_member_rls<C: ConnectionTrait>(conn: &C, table: &str) -> Result<(), DbErr> {
    let read = format!(
        "{ORG_CHECK} OR user_id = nullif(current_setting('app.current_user_id', true), '')::uuid"
    );
    create_policy(conn, table, &read, ORG_CHECK).await
}

/// Like [`enable_tenant_rls`], for tables that kernel background or operator code reads across
/// orgs: the policy also admits the system context of [`Db::system`] (`app.system = on`). With
/// `null_org_writes`, rows without an org (`org_id IS NULL`: a password-reset mail, a failed
/// login) may be written from any context, and are read only by the system context.
pub async fn enable_system_rls<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    null_org_writes: bool,
) -> Result<(), DbErr> {
    let read = format!("{ORG_CHECK} OR {SYSTEM_CHECK}");
    let write = match null_org_writes {
        true => format!("{ORG_CHECK} OR org_id IS NULL OR {SYSTEM_CHECK}"),
        false => read.clone(),
    };
    create_policy(conn, table, &read, &write).await
}

const ORG_CHECK: &str = "org_id = nullif(current_setting('app.current_org_id', true), '')::uuid";
const SYSTEM_CHECK: &str = "coalesce(current_setting('app.system', true), '') = 'on'";

async fn create_policy<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    using: &str,
    check: &str,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbErr::Custom(format!("invalid table name `{table}`")));
    }
    conn.execute_unprepared(&format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
         DROP POLICY IF EXISTS {table}_tenant_isolation ON {table};
         CREATE POLICY {table}_tenant_isolation ON {table} USING ({using}) WITH CHECK ({check});"
    ))
    .await?;
    Ok(())
}

/// Tables the application role may read and append to, never change: the kernel revokes
/// `UPDATE` and `DELETE` on them after every migration run.
pub const APPEND_ONLY_TABLES: [&str; 1] = ["audit_log"];

/// Why the configured application role cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AppRoleError {
    #[error("database.app_role `{role}`: {problem}")]
    Refused { role: String, problem: String },
    #[error("database.app_role: {0}")]
    Db(#[from] DbErr),
}

/// Key of the advisory lock that serialises grants (concurrent `GRANT`s on one table fail with
/// "tuple concurrently updated").
const GRANT_LOCK_KEY: i64 = 0x0063_656c_6c67_726e; // "cellgrn"

/// PostgreSQL: makes `role` a login role with `password`, so serving instances log in as it
/// (`database.app_password`): creates it (`NOSUPERUSER NOBYPASSRLS`, granted to the connecting
/// user, which must be able to act as it) when missing, else sets its password. The password
/// reaches the server only as a SCRAM-SHA-256 verifier, never in a statement the server could
/// log. Printable ASCII passwords only (what a secrets store generates): others would need the
/// server's SASLprep.
pub async fn ensure_login_role(
    owner: &DatabaseConnection,
    role: &str,
    password: &secrecy::SecretString,
) -> Result<(), AppRoleError> {
    let refuse = |problem: &str| AppRoleError::Refused {
        role: role.to_owned(),
        problem: problem.to_owned(),
    };
    if owner.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    if !crate::config::valid_role_name(role) {
        return Err(refuse("not a lowercase identifier"));
    }
    let password = password.expose_secret();
    if password.len() < 16 || !password.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse(
            "database.app_password must be at least 16 printable ASCII characters",
        ));
    }
    let verifier = scram_verifier(password).map_err(|e| refuse(&e))?;
    let exists = owner
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_roles WHERE rolname = $1::name",
            [role.into()],
        ))
        .await?
        .is_some();
    // The server quotes the name and the verifier (`format`'s %I and %L).
    let template = match exists {
        true => "ALTER ROLE %I LOGIN PASSWORD %L",
        false => "CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %L",
    };
    let sql: String = owner
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT format($1::text, $2::text, $3::text) AS sql",
            [template.into(), role.into(), verifier.into()],
        ))
        .await?
        .ok_or_else(|| refuse("format() returned no row"))?
        .try_get("", "sql")?;
    owner.execute_unprepared(&sql).await?;
    if !exists {
        // `role` is a checked identifier: nothing to quote.
        owner
            .execute_unprepared(&format!("GRANT {role} TO CURRENT_USER"))
            .await?;
    }
    Ok(())
}

/// A SCRAM-SHA-256 verifier for `password` (RFC 5802, RFC 7677), in PostgreSQL's stored form:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
fn scram_verifier(password: &str) -> Result<String, String> {
    use aws_lc_rs::{digest, hmac, pbkdf2};
    use base64::Engine as _;
    const ITERATIONS: u32 = 4096;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no randomness for the salt".to_owned())?;
    let mut salted = [0u8; 32];
    let iterations = std::num::NonZeroU32::new(ITERATIONS).ok_or("zero iterations")?;
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key.as_ref()),
        b64.encode(server_key.as_ref())
    ))
}

/// PostgreSQL: checks that `role` can serve as the application role, then (re)grants it what
/// the cell needs, on the owner's connection. Run after every migration run, so new tables are
/// covered. Refused: a role that does not exist, is a superuser, has BYPASSRLS, owns (or can act
/// as the owner of) a table or the schema, or that the connecting user cannot act as.
///
/// Grants: `USAGE` on the schema; `SELECT, INSERT, UPDATE, DELETE` on every table, except the
/// [`APPEND_ONLY_TABLES`] (`SELECT, INSERT`) and the migration tracking table (`SELECT`);
/// `USAGE, SELECT` on sequences. Everything else it had on them is revoked first.
pub async fn prepare_app_role(owner: &DatabaseConnection, role: &str) -> Result<(), AppRoleError> {
    let refuse = |problem: String| AppRoleError::Refused {
        role: role.to_owned(),
        problem,
    };
    if !crate::config::valid_role_name(role) {
        return Err(refuse("not a lowercase identifier".into()));
    }
    if owner.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let pg = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    };
    let row = owner
        .query_one_raw(pg(
            "SELECT rolsuper, rolbypassrls, pg_has_role(current_user, oid, 'MEMBER') AS can_set, \
                    current_user::text AS owner \
             FROM pg_roles WHERE rolname = $1::name",
            vec![role.into()],
        ))
        .await?;
    let owner_name: String = match &row {
        Some(r) => r.try_get("", "owner")?,
        None => String::new(),
    };
    let Some(row) = row else {
        let me: Option<String> = owner
            .query_one_raw(pg("SELECT current_user::text AS me", vec![]))
            .await?
            .map(|r| r.try_get("", "me"))
            .transpose()?;
        return Err(refuse(format!(
            "the role does not exist; create it: CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS; GRANT {role} TO {};",
            me.unwrap_or_else(|| "<owner>".into())
        )));
    };
    if row.try_get::<bool>("", "rolsuper")? {
        return Err(refuse(
            "is a superuser, which bypasses row-level security; use a NOSUPERUSER role".into(),
        ));
    }
    if row.try_get::<bool>("", "rolbypassrls")? {
        return Err(refuse(
            "has BYPASSRLS; ALTER ROLE it NOBYPASSRLS or use another role".into(),
        ));
    }
    if !row.try_get::<bool>("", "can_set")? {
        return Err(refuse(format!(
            "the database user `{owner_name}` cannot act as it; GRANT {role} TO {owner_name};"
        )));
    }
    let owned = owner
        .query_all_raw(pg(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
               AND pg_has_role($1::name, c.relowner, 'MEMBER') \
             ORDER BY 1 LIMIT 5",
            vec![role.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect::<Result<Vec<_>, _>>()?;
    if !owned.is_empty() {
        return Err(refuse(format!(
            "owns (or can act as the owner of) tables, and owners are not bound by row-level security: {}; give them to the migrating user (ALTER TABLE … OWNER TO {owner_name})",
            owned.join(", ")
        )));
    }
    let schema_row = owner
        .query_one_raw(pg(
            "SELECT current_schema()::text AS schema, pg_has_role($1::name, nspowner, 'MEMBER') AS owns \
             FROM pg_namespace WHERE nspname = current_schema()",
            vec![role.into()],
        ))
        .await?
        .ok_or_else(|| refuse("the connection has no current schema".into()))?;
    let schema: String = schema_row.try_get("", "schema")?;
    if schema_row.try_get::<bool>("", "owns")? {
        return Err(refuse(format!(
            "owns the schema `{schema}`, which lets it drop the cell's tables"
        )));
    }
    let s = quote_ident(&schema);
    let txn = owner.begin().await?;
    txn.execute_raw(pg(
        "SELECT pg_advisory_xact_lock($1)",
        vec![GRANT_LOCK_KEY.into()],
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "GRANT USAGE ON SCHEMA {s} TO {role};
         REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {role};
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {role};
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {role};"
    ))
    .await?;
    let restricted: Vec<(&str, &str)> = APPEND_ONLY_TABLES
        .iter()
        .map(|t| (*t, "UPDATE, DELETE"))
        .chain([(cell_migrations::TRACKING_TABLE, "INSERT, UPDATE, DELETE")])
        .collect();
    for (table, privileges) in restricted {
        let exists = txn
            .query_one_raw(pg(
                "SELECT 1 AS one FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1",
                vec![table.into()],
            ))
            .await?
            .is_some();
        if exists {
            txn.execute_unprepared(&format!(
                "REVOKE {privileges} ON {s}.{} FROM {role}",
                quote_ident(table)
            ))
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// A PostgreSQL identifier in double quotes.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
