//! Column and index builders every module's migrations share.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sea_orm_migration::SchemaManager;
use sea_orm_migration::sea_query::{
    ColumnDef, ForeignKeyAction, ForeignKeyCreateStatement, Index, IndexCreateStatement,
};

/// `name UUID NOT NULL PRIMARY KEY`.
pub fn uuid_pk(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

/// `org_id UUID NOT NULL`: the tenant column, first in every key and index of the table.
pub fn org_id() -> ColumnDef {
    ColumnDef::new("org_id").uuid().not_null().to_owned()
}

/// `name TEXT NOT NULL`.
pub fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}

/// `name TEXT` (nullable).
pub fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().to_owned()
}

/// `name UUID NOT NULL` (a reference).
pub fn uuid(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().to_owned()
}

/// `name UUID` (nullable).
pub fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().to_owned()
}

/// `name INTEGER NOT NULL`.
pub fn int(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().to_owned()
}

/// `name INTEGER` (nullable).
pub fn int_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).integer().to_owned()
}

/// `name BOOLEAN NOT NULL`.
pub fn boolean(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().to_owned()
}

/// `name JSONB NOT NULL` (JSON text on SQLite).
pub fn json(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).json_binary().not_null().to_owned()
}

/// `name BIGINT NOT NULL` (money in minor units, counts that outgrow 32 bits).
pub fn bigint(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

/// `name DATE NOT NULL` (a calendar day: `YYYY-MM-DD` text on SQLite, which orders as dates).
pub fn date(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).date().not_null().to_owned()
}

/// `name DATE` (nullable).
pub fn date_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).date().to_owned()
}

/// `name TIMESTAMPTZ NOT NULL`.
pub fn ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// `name TIMESTAMPTZ` (nullable).
pub fn ts_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().to_owned()
}

/// An index on `table(cols…)`; call `.unique()` on it for a unique one. Lead with `org_id` on
/// tenant tables.
pub fn index(name: &str, table: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table.to_owned());
    for c in cols {
        i.col(*c);
    }
    i
}

/// What a foreign key does when its parent row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The children go with it (a company's domains).
    Cascade,
    /// The reference is cleared (a signal's contact): for nullable columns only.
    SetNull,
    /// The delete is refused while children exist.
    Restrict,
}

impl OnDelete {
    fn sql(self) -> &'static str {
        match self {
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
            Self::Restrict => "RESTRICT",
        }
    }

    fn action(self) -> ForeignKeyAction {
        match self {
            Self::Cascade => ForeignKeyAction::Cascade,
            Self::SetNull => ForeignKeyAction::SetNull,
            Self::Restrict => ForeignKeyAction::Restrict,
        }
    }
}

/// A foreign key between two tables of one module (never into another module's tables: those
/// are reached through the module's API or its events).
#[derive(Debug, Clone)]
pub struct ForeignKey {
    columns: Vec<&'static str>,
    parent: &'static str,
    parent_columns: Vec<&'static str>,
    on_delete: OnDelete,
}

impl ForeignKey {
    /// `(org_id, column) → parent(org_id, id)`: the child and its parent are in the same org,
    /// whatever the application does. The parent needs [`tenant_parent_key`].
    pub fn tenant(column: &'static str, parent: &'static str, on_delete: OnDelete) -> Self {
        Self::to(&["org_id", column], parent, &["org_id", "id"], on_delete)
    }

    /// `column → parent(id)`: for tables without an org (users, sessions) and for nullable
    /// references cleared with [`OnDelete::SetNull`] (a composite key would clear `org_id` too).
    pub fn by_id(column: &'static str, parent: &'static str, on_delete: OnDelete) -> Self {
        Self::to(&[column], parent, &["id"], on_delete)
    }

    /// Any columns to a unique key of `parent`.
    pub fn to(
        columns: &[&'static str],
        parent: &'static str,
        parent_columns: &[&'static str],
        on_delete: OnDelete,
    ) -> Self {
        Self {
            columns: columns.to_vec(),
            parent,
            parent_columns: parent_columns.to_vec(),
            on_delete,
        }
    }

    /// `fk_<table>_<last column>`.
    fn name(&self, table: &str) -> String {
        format!(
            "fk_{table}_{}",
            self.columns.last().copied().unwrap_or("key")
        )
    }

    /// For a new table: `Table::create()….foreign_key(&mut fk.create("child"))`.
    pub fn create(&self, table: &str) -> ForeignKeyCreateStatement {
        let mut fk = sea_orm_migration::sea_query::ForeignKey::create();
        fk.name(self.name(table))
            .from_tbl(table.to_owned())
            .to_tbl(self.parent)
            .on_delete(self.on_delete.action());
        for c in &self.columns {
            fk.from_col(*c);
        }
        for c in &self.parent_columns {
            fk.to_col(*c);
        }
        fk
    }

    fn clause(&self, table: &str) -> String {
        format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
            quoted(&self.name(table)),
            list(&self.columns),
            quoted(self.parent),
            list(&self.parent_columns),
            self.on_delete.sql()
        )
    }

    /// Rows of `table` whose parent does not exist (references with a NULL column are not
    /// checked, as the database does not check them either).
    fn orphans(&self, table: &str) -> String {
        let present: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}.{} IS NOT NULL", quoted(table), quoted(c)))
            .collect();
        let joined: Vec<String> = self
            .columns
            .iter()
            .zip(&self.parent_columns)
            .map(|(c, p)| format!("p.{} = {}.{}", quoted(p), quoted(table), quoted(c)))
            .collect();
        format!(
            "{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            present.join(" AND "),
            quoted(self.parent),
            joined.join(" AND ")
        )
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn list(cols: &[&str]) -> String {
    cols.iter()
        .map(|c| quoted(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates a tenant table: `id`, `org_id`, then `cols`, with a [`ForeignKey::tenant`] for each
/// `(column, parent, on_delete)` of `keys`; `parent`: other tables point at it, so it gets its
/// [`tenant_parent_key`]. Row-level security is the caller's to enable (tenant or system).
pub async fn create_tenant_table(
    m: &SchemaManager<'_>,
    name: &'static str,
    cols: Vec<ColumnDef>,
    keys: &[(&'static str, &'static str, OnDelete)],
    parent: bool,
) -> Result<(), DbErr> {
    let mut t = sea_orm_migration::sea_query::Table::create();
    t.table(name).col(uuid_pk("id")).col(org_id());
    for c in cols {
        t.col(c);
    }
    for (column, to, on_delete) in keys {
        t.foreign_key(&mut ForeignKey::tenant(column, to, *on_delete).create(name));
    }
    m.create_table(t.to_owned()).await?;
    if parent {
        m.create_index(tenant_parent_key(name)).await?;
    }
    Ok(())
}

/// Creates `table`'s indexes: `(name, columns, unique)` each.
pub async fn create_indexes(
    m: &SchemaManager<'_>,
    table: &str,
    list: &[(&str, &[&'static str], bool)],
) -> Result<(), DbErr> {
    for (name, cols, unique) in list {
        let mut i = index(name, table, cols);
        if *unique {
            i.unique();
        }
        m.create_index(i.to_owned()).await?;
    }
    Ok(())
}

/// The unique `(org_id, id)` key a [`ForeignKey::tenant`] points at.
pub fn tenant_parent_key(table: &str) -> IndexCreateStatement {
    let mut i = index(&format!("{table}_org_id_id"), table, &["org_id", "id"]);
    i.unique().if_not_exists();
    i
}

/// Adds foreign keys to an existing table, on both backends, keeping its rows and indexes.
///
/// Rows that already break a key are dealt with as the key would have: deleted for
/// [`OnDelete::Cascade`], their reference cleared for [`OnDelete::SetNull`]; for
/// [`OnDelete::Restrict`] the migration fails naming the table. (They can only exist where a
/// parent was deleted without its children, which is what the key prevents from now on.)
///
/// PostgreSQL adds the constraints (`ALTER TABLE … ADD CONSTRAINT`), with row-level security
/// lifted for the owner while the orphans are looked for (the policies would hide every row
/// from a migration, which has no org). SQLite cannot add a constraint to a table, so the table
/// is rebuilt (a new table with the keys, the rows copied, the old one dropped, the new one
/// renamed, its indexes created again), as SQLite's documentation prescribes. A table that
/// other tables already reference is refused there: dropping it would delete (and cascade)
/// their rows. Add keys parents first.
pub async fn add_foreign_keys(
    m: &SchemaManager<'_>,
    table: &'static str,
    keys: &[ForeignKey],
) -> Result<(), DbErr> {
    let conn = m.get_connection();
    let backend = conn.get_database_backend();
    let mut tables: Vec<&str> = vec![table];
    tables.extend(keys.iter().map(|k| k.parent));
    tables.dedup();
    let mut forced = Vec::new();
    if backend == DbBackend::Postgres {
        for t in &tables {
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
                    [(*t).into()],
                ))
                .await?;
            if let Some(row) = row
                && row.try_get_by_index::<bool>(0)?
            {
                conn.execute_unprepared(&format!(
                    "ALTER TABLE {} NO FORCE ROW LEVEL SECURITY",
                    quoted(t)
                ))
                .await?;
                forced.push(*t);
            }
        }
    }
    for key in keys {
        let orphans = key.orphans(table);
        let fixed = match key.on_delete {
            OnDelete::Cascade => conn
                .execute_unprepared(&format!("DELETE FROM {} WHERE {orphans}", quoted(table)))
                .await?
                .rows_affected(),
            OnDelete::SetNull => {
                let cleared: Vec<String> = key
                    .columns
                    .iter()
                    .map(|c| format!("{} = NULL", quoted(c)))
                    .collect();
                conn.execute_unprepared(&format!(
                    "UPDATE {} SET {} WHERE {orphans}",
                    quoted(table),
                    cleared.join(", ")
                ))
                .await?
                .rows_affected()
            }
            OnDelete::Restrict => {
                let found = conn
                    .query_one_raw(Statement::from_string(
                        backend,
                        format!("SELECT COUNT(*) FROM {} WHERE {orphans}", quoted(table)),
                    ))
                    .await?
                    .map(|r| r.try_get_by_index::<i64>(0))
                    .transpose()?
                    .unwrap_or(0);
                if found > 0 {
                    return Err(DbErr::Migration(format!(
                        "{found} rows of `{table}` refer to missing `{}` rows; the key `{}` cannot be added",
                        key.parent,
                        key.name(table)
                    )));
                }
                0
            }
        };
        if fixed > 0 {
            tracing::warn!(
                table,
                parent = key.parent,
                rows = fixed,
                "rows referring to missing parents {} before adding the foreign key",
                if key.on_delete == OnDelete::Cascade {
                    "deleted"
                } else {
                    "cleared"
                }
            );
        }
    }
    match backend {
        DbBackend::Sqlite => rebuild_with_keys(m, table, keys).await?,
        _ => {
            for key in keys {
                conn.execute_unprepared(&format!(
                    "ALTER TABLE {} ADD {}",
                    quoted(table),
                    key.clause(table)
                ))
                .await?;
            }
        }
    }
    for t in forced {
        conn.execute_unprepared(&format!(
            "ALTER TABLE {} FORCE ROW LEVEL SECURITY",
            quoted(t)
        ))
        .await?;
    }
    Ok(())
}

/// SQLite's table rebuild with `keys` added (see [`add_foreign_keys`]).
async fn rebuild_with_keys(
    m: &SchemaManager<'_>,
    table: &'static str,
    keys: &[ForeignKey],
) -> Result<(), DbErr> {
    let conn = m.get_connection();
    let backend = conn.get_database_backend();
    let text = |sql: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(backend, sql, values)
    };
    let referrers = conn
        .query_all_raw(text(
            "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" = ? AND m.name <> ?",
            vec![table.into(), table.into()],
        ))
        .await?;
    if let Some(first) = referrers.first() {
        let name: String = first.try_get_by_index(0)?;
        return Err(DbErr::Migration(format!(
            "`{name}` refers to `{table}`: add keys to `{table}` before keys that point at it"
        )));
    }
    let create: String = conn
        .query_one_raw(text(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            vec![table.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("no table `{table}`")))?
        .try_get_by_index(0)?;
    let indexes: Vec<String> = conn
        .query_all_raw(text(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            vec![table.into()],
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    let (Some(open), Some(close)) = (create.find('('), create.rfind(')')) else {
        return Err(DbErr::Migration(format!(
            "cannot read the definition of `{table}`"
        )));
    };
    let staging = format!("{table}__with_keys");
    let clauses: Vec<String> = keys.iter().map(|k| k.clause(table)).collect();
    let definition = format!(
        "CREATE TABLE {} {}, {})",
        quoted(&staging),
        &create[open..close],
        clauses.join(", ")
    );
    conn.execute_unprepared(&definition).await?;
    conn.execute_unprepared(&format!(
        "INSERT INTO {} SELECT * FROM {}",
        quoted(&staging),
        quoted(table)
    ))
    .await?;
    conn.execute_unprepared(&format!("DROP TABLE {}", quoted(table)))
        .await?;
    conn.execute_unprepared(&format!(
        "ALTER TABLE {} RENAME TO {}",
        quoted(&staging),
        quoted(table)
    ))
    .await?;
    for sql in indexes {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}
