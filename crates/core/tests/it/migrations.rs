//! Composed migrations: fresh, re-run, disable/re-enable, unknown rows, failures, two instances.

use kernel::Application;
use kernel::module::PlatformModule;
use kernel::startup::migration_plan;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigrationTrait;
use testkit::db_test;

use crate::support::{Migration, NOTES_AND_TAGS, Notes, Tags, TestApp, config};

/// The migrations recorded for modules (the kernel's own are checked separately).
async fn recorded(conn: &DatabaseConnection) -> anyhow::Result<Vec<(String, String)>> {
    Ok(all_recorded(conn)
        .await?
        .into_iter()
        .filter(|(m, _)| m != "kernel")
        .collect())
}

async fn all_recorded(conn: &DatabaseConnection) -> anyhow::Result<Vec<(String, String)>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT module, name FROM cell_migrations ORDER BY module, name",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "module")?,
                r.try_get::<String>("", "name")?,
            ))
        })
        .collect()
}

fn both(second_tags_migration: bool) -> Vec<Box<dyn PlatformModule>> {
    vec![
        Box::new(Notes::default()),
        Box::new(Tags {
            second_migration: second_tags_migration,
        }),
    ]
}

db_test!(async fn a_fresh_database_is_migrated_and_a_rerun_is_a_no_op(db) {
    let app = TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    let conn = app.ctx.db().conn();
    let expected = vec![
        ("notes".to_owned(), "notes_m20261121_000001_create_notes".to_owned()),
        ("tags".to_owned(), "tags_m20261121_000001_create_tags".to_owned()),
    ];
    assert_eq!(recorded(conn).await?, expected);
    let kernel: Vec<String> = all_recorded(conn).await?.into_iter().filter(|(m, _)| m == "kernel").map(|(_, n)| n).collect();
    let planned: Vec<String> = migration_plan(&[])
        .iter()
        .flat_map(|m| m.migrations.iter().map(|x| x.name().to_owned()))
        .collect();
    assert!(planned.len() >= 3 && planned.iter().all(|n| n.starts_with("kernel_m")), "{planned:?}");
    assert_eq!(kernel, planned, "the kernel's own migrations are applied, always");
    conn.execute_unprepared("SELECT count(*) FROM kernel_events").await?;
    conn.execute_unprepared("SELECT count(*) FROM notes").await?;
    conn.execute_unprepared("SELECT count(*) FROM tags").await?;

    let again = cell_migrations::up(conn, &migration_plan(app.ctx.modules())).await?;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(recorded(conn).await?, expected);
    // A second start of the cell is a no-op too (CREATE TABLE without IF NOT EXISTS would fail).
    TestApp::spawn(&db, NOTES_AND_TAGS).await?;
    assert_eq!(recorded(conn).await?, expected);
    Ok(())
});

db_test!(async fn disabling_and_re_enabling_a_module_never_breaks_start_up(db) {
    let app = TestApp::spawn_with(&db, NOTES_AND_TAGS, &[], both(false)).await?;
    let conn = app.ctx.db().conn().clone();

    // Disabled in the TOML but still linked.
    let off = TestApp::spawn_with(&db, "[modules.notes]\n[modules.tags]\nenabled = false\n", &[], both(false)).await?;
    let status = cell_migrations::status(&conn, &migration_plan(off.ctx.modules())).await?;
    let tags = status.iter().find(|s| s.module == "tags").map(|s| (s.enabled, s.applied_at.is_some()));
    assert_eq!(tags, Some((false, true)), "{status:?}");

    // Not even linked.
    TestApp::spawn_with(&db, "[modules.notes]\n", &[], vec![Box::new(Notes::default())]).await?;

    // Re-enabled, in a release that added a migration while it was off: only that one runs.
    let on = TestApp::spawn_with(&db, NOTES_AND_TAGS, &[], both(true)).await?;
    let tags_rows: Vec<String> = recorded(&conn).await?.into_iter().filter(|(m, _)| m == "tags").map(|(_, n)| n).collect();
    assert_eq!(tags_rows, vec!["tags_m20261121_000001_create_tags", "tags_m20261122_000001_add_colour"]);
    conn.execute_unprepared("SELECT colour FROM tags").await?;
    assert_eq!(on.get("/health/ready").await?.status(), 200);
    Ok(())
});

db_test!(async fn a_migration_the_build_does_not_know_stops_start_up(db) {
    TestApp::spawn_with(&db, NOTES_AND_TAGS, &[], both(true)).await?;
    let older = Application::build(config(&db, NOTES_AND_TAGS, &[])?, both(false)).await;
    let msg = older.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("tags_m20261122_000001_add_colour") && msg.contains("older"), "{msg}");
    Ok(())
});

struct Broken;

#[async_trait::async_trait]
impl PlatformModule for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Migration {
                name: "broken_m1_ok",
                sql: "CREATE TABLE broken_a (id INTEGER)",
                tenant_table: None,
            }),
            Box::new(Migration {
                name: "broken_m2_fails",
                sql: "CREATE TABLE broken_b (id INTEGER); SELECT * FROM no_such_table",
                tenant_table: None,
            }),
        ]
    }
}

db_test!(async fn a_failing_migration_is_rolled_back_and_retried_next_start(db) {
    for _ in 0..2 {
        let res = Application::build(config(&db, "[modules.broken]\n", &[])?, vec![Box::new(Broken)]).await;
        let msg = res.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("broken_m2_fails") && msg.contains("`broken`"), "{msg}");
    }
    let conn = sea_orm::Database::connect(db.url()).await?;
    assert_eq!(recorded(&conn).await?, vec![("broken".to_owned(), "broken_m1_ok".to_owned())]);
    assert!(conn.execute_unprepared("SELECT count(*) FROM broken_a").await.is_ok());
    assert!(conn.execute_unprepared("SELECT count(*) FROM broken_b").await.is_err(), "the failed migration's DDL survived");
    Ok(())
});

struct Unprefixed;

#[async_trait::async_trait]
impl PlatformModule for Unprefixed {
    fn name(&self) -> &'static str {
        "odd"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Migration {
            name: "m20261121_create_things",
            sql: "",
            tenant_table: None,
        })]
    }
}

db_test!(async fn migration_names_must_carry_their_module(db) {
    let res = Application::build(config(&db, "[modules.odd]\n", &[])?, vec![Box::new(Unprefixed)]).await;
    let msg = res.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("m20261121_create_things") && msg.contains("`odd_`"), "{msg}");
    Ok(())
});

db_test!(async fn two_cells_starting_together_both_come_up(db) {
    // The notes migration is a plain CREATE TABLE: applying it twice would fail one start-up.
    let (a, b) = tokio::join!(TestApp::spawn(&db, NOTES_AND_TAGS), TestApp::spawn(&db, NOTES_AND_TAGS));
    let (a, b) = (a?, b?);
    assert_eq!(a.get("/health/ready").await?.status(), 200);
    assert_eq!(b.get("/health/ready").await?.status(), 200);
    assert_eq!(recorded(a.ctx.db().conn()).await?.len(), 2);
    Ok(())
});
