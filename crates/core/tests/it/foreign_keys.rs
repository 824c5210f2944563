//! `kernel::migration::add_foreign_keys` on a table that already holds rows, on both backends:
//! rows kept, orphans dealt with as the key says, indexes kept, the key enforced afterwards.

use kernel::migration::{ForeignKey, OnDelete, add_foreign_keys, tenant_parent_key};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use sea_orm_migration::SchemaManager;
use testkit::db_test;
use uuid::Uuid;

use crate::support::{NOTES_AND_TAGS, TestApp};

async fn exec(
    conn: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> anyhow::Result<()> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => sql.to_owned(),
        // `$n` placeholders become SQLite's `?` (they appear in order here).
        _ => (1..=values.len())
            .rev()
            .fold(sql.to_owned(), |s, i| s.replace(&format!("${i}"), "?")),
    };
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        values,
    ))
    .await?;
    Ok(())
}

async fn ids(conn: &DatabaseConnection) -> anyhow::Result<Vec<Uuid>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM fk_child ORDER BY note",
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?)
}

async fn add(
    conn: &DatabaseConnection,
    table: &'static str,
    key: ForeignKey,
) -> anyhow::Result<()> {
    let txn = conn.begin().await?;
    add_foreign_keys(&SchemaManager::new(&txn), table, &[key]).await?;
    txn.commit().await?;
    Ok(())
}

db_test!(async fn foreign_keys_are_added_to_a_table_with_rows(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let conn = app.ctx.db().conn();
    let uuid = match conn.get_database_backend() {
        DbBackend::Postgres => "uuid",
        _ => "uuid_text",
    };
    exec(conn, &format!("CREATE TABLE fk_parent (id {uuid} PRIMARY KEY, org_id {uuid} NOT NULL)"), vec![]).await?;
    exec(conn, &format!("CREATE TABLE fk_child (id {uuid} PRIMARY KEY, org_id {uuid} NOT NULL, parent_id {uuid} NOT NULL, note TEXT NOT NULL)"), vec![]).await?;
    exec(conn, "CREATE UNIQUE INDEX fk_child_org_note ON fk_child (org_id, note)", vec![]).await?;
    let (org_a, org_b, parent) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    exec(conn, "INSERT INTO fk_parent (id, org_id) VALUES ($1, $2)", vec![parent.into(), org_a.into()]).await?;
    let (kept, other_org, orphan) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, org, parent_id, note) in [
        (kept, org_a, parent, "a kept"),
        (other_org, org_b, parent, "b names a parent of another org"),
        (orphan, org_a, Uuid::now_v7(), "c names no parent"),
    ] {
        exec(conn, "INSERT INTO fk_child (id, org_id, parent_id, note) VALUES ($1, $2, $3, $4)", vec![id.into(), org.into(), parent_id.into(), note.into()]).await?;
    }

    // Restrict refuses rows that break the key, and leaves the table as it was.
    let txn = conn.begin().await?;
    let refused = add_foreign_keys(&SchemaManager::new(&txn), "fk_child", &[ForeignKey::by_id("parent_id", "fk_parent", OnDelete::Restrict)]).await;
    drop(txn);
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("1 rows of `fk_child` refer to missing `fk_parent` rows"), "{message}");
    assert_eq!(ids(conn).await?, vec![kept, other_org, orphan]);

    // A tenant key: a child names a parent of its own org; the two rows that do not go.
    let txn = conn.begin().await?;
    let m = SchemaManager::new(&txn);
    m.create_index(tenant_parent_key("fk_parent")).await?;
    add_foreign_keys(&m, "fk_child", &[ForeignKey::tenant("parent_id", "fk_parent", OnDelete::Cascade)]).await?;
    txn.commit().await?;
    assert_eq!(ids(conn).await?, vec![kept]);

    // The index survived (SQLite rebuilt the table), and the key holds.
    let dup = exec(conn, "INSERT INTO fk_child (id, org_id, parent_id, note) VALUES ($1, $2, $3, $4)", vec![Uuid::now_v7().into(), org_a.into(), parent.into(), "a kept".into()]).await;
    assert!(dup.is_err(), "the unique index is gone");
    let cross = exec(conn, "INSERT INTO fk_child (id, org_id, parent_id, note) VALUES ($1, $2, $3, $4)", vec![Uuid::now_v7().into(), org_b.into(), parent.into(), "d".into()]).await;
    assert!(cross.is_err(), "a child took a parent of another org");
    exec(conn, "INSERT INTO fk_child (id, org_id, parent_id, note) VALUES ($1, $2, $3, $4)", vec![Uuid::now_v7().into(), org_a.into(), parent.into(), "e".into()]).await?;
    // Deleting the parent takes its children.
    exec(conn, "DELETE FROM fk_parent WHERE id = $1", vec![parent.into()]).await?;
    assert_eq!(ids(conn).await?, Vec::<Uuid>::new());

    // SQLite would rebuild (drop) a table others refer to, deleting their rows: refused there.
    if conn.get_database_backend() == DbBackend::Sqlite {
        exec(conn, &format!("CREATE TABLE fk_root (id {uuid} PRIMARY KEY)"), vec![]).await?;
        exec(conn, &format!("ALTER TABLE fk_parent ADD COLUMN root_id {uuid}"), vec![]).await?;
        let refused = add(conn, "fk_parent", ForeignKey::by_id("root_id", "fk_root", OnDelete::SetNull)).await;
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("`fk_child` refers to `fk_parent`"), "{message}");
    }
    Ok(())
});
