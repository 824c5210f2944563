//! The whole conformance folder through the runner's library code, on both backends: any
//! failure fails the test, and the counts must be complete.

use iam::conformance::{RunOptions, run_path};
use testkit::db_test;

use crate::support::{conformance_dir, migrated};

db_test!(async fn every_conformance_assertion_passes(db) {
    let engine_db = migrated(&db).await?;
    let dir = conformance_dir();
    anyhow::ensure!(dir.is_dir(), "conformance data not found at {}", dir.display());
    // Every engine the runner builds has the default cache, so assertions of one model reuse
    // what earlier ones resolved: the expected answers are the uncached truth.
    let opts = RunOptions { contextual_replay: true, ..Default::default() };
    let report = run_path(&engine_db, &dir, &opts).await?;
    assert_eq!(report.failed, 0, "{}", report.render());
    assert!(report.cache_hits > 500, "the cached path was hardly used: {}", report.render());
    assert!(report.ignored.is_empty(), "{}", report.render());
    let passed = |feature: &str| report.features.get(feature).map_or(0, |c| c.0);
    assert_eq!(passed("openfga"), 1216, "{}", report.render());
    assert_eq!(passed("spicedb"), 411, "{}", report.render());
    assert_eq!(passed("openfga caveats"), 562, "{}", report.render());
    assert_eq!(passed("spicedb assertCaveated"), 26, "{}", report.render());
    assert!(passed("openfga (contextual replay)") > 700, "{}", report.render());
    assert!(passed("openfga language") > 80, "{}", report.render());
    // Nothing is skipped: every feature the suites use is supported.
    assert_eq!(report.skipped, 0, "{}", report.render());
    assert_eq!(report.render().lines().last(), Some(report.summary_line().as_str()));
    Ok(())
});

db_test!(async fn a_cli_store_file_runs(db) {
    let engine_db = migrated(&db).await?;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/store.fga.yaml");
    let report = run_path(&engine_db, &file, &RunOptions::default()).await?;
    assert_eq!(report.failed, 0, "{}", report.render());
    assert_eq!(report.passed, 9, "{}", report.render());
    assert_eq!(report.skipped, 0, "{}", report.render());
    // A SpiceDB validation file with its schema in a `schemaFile` (caveats, expiry, a
    // validation block).
    let zed = file.with_file_name("validation.yaml");
    let report = run_path(&engine_db, &zed, &RunOptions::default()).await?;
    assert_eq!((report.passed, report.failed, report.skipped), (6, 0, 0), "{}", report.render());
    // Run over the folder, the store's tuple file is listed as ignored, not an error.
    let folder = run_path(&engine_db, file.parent().unwrap_or(&file), &RunOptions::default()).await?;
    assert_eq!(folder.passed, 15, "{}", folder.render());
    assert_eq!(folder.ignored.len(), 1, "{}", folder.render());
    Ok(())
});
