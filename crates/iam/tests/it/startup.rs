//! The module in a cell: its migration runs with the cell's, and start-up composes and
//! validates every enabled module's permission schema, refusing to start on an error.

use std::collections::BTreeMap;

use iam::{ObjectRef, ReadOptions, SubjectRef, Tuple, WriteBatch};
use kernel::PlatformModule;
use kernel::config::Sources;
use testkit::{TestDb, db_test};
use uuid::Uuid;

use crate::support::Docs;

fn config(db: &TestDb) -> anyhow::Result<kernel::CellConfig> {
    let mut env = BTreeMap::new();
    env.insert("CELL__DATABASE__URL".to_owned(), db.url().to_owned());
    let sources = Sources {
        file: Some((
            "[cell]\nname = \"test\"\n[modules.iam]\n[modules.docs]\n".to_owned(),
            "test.toml".into(),
        )),
        env: Some(env),
        overrides: vec![("cell.data_dir".into(), db.data_dir().display().to_string())],
    };
    Ok(kernel::CellConfig::load(&sources, &Default::default())?)
}

const DOCS: &str = "
definition doc {
    relation viewer: user
    permission view = viewer
}";

db_test!(async fn a_cell_starts_with_the_composed_schema(db) {
    let modules: Vec<Box<dyn PlatformModule>> = vec![Box::new(iam::Iam::default()), Box::new(Docs(DOCS))];
    let ctx = kernel::startup::prepare(config(&db)?, modules).await?;
    // The engine the cell made at start-up, not one built here: a broken `on_ready` fails this.
    let engine = iam::engine(&ctx).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let org = Uuid::now_v7();
    engine.write(org, &WriteBatch::touch([Tuple::parse("doc:1#viewer@user:ann")?])).await?;
    let ok = engine
        .check(org, &ObjectRef::parse("doc:1")?, "view", &SubjectRef::object("user", "ann"), &ReadOptions::default())
        .await?;
    assert!(ok.value);
    Ok(())
});

db_test!(async fn a_bad_permission_schema_stops_start_up(db) {
    let bad = "definition doc {\n relation viewer: usr\n}";
    let modules: Vec<Box<dyn PlatformModule>> = vec![Box::new(iam::Iam::default()), Box::new(Docs(bad))];
    let err = kernel::startup::prepare(config(&db)?, modules).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("module `iam` failed to get ready"), "{err}");
    assert!(err.contains("module `docs`") && err.contains("`usr` is not defined"), "{err}");
    Ok(())
});
