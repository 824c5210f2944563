//! Column and index builders every module's migrations share.

use sea_orm_migration::sea_query::{ColumnDef, Index, IndexCreateStatement};

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
