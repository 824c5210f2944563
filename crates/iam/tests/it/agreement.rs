//! SpiceDB's consistency check without an oracle: on every supported SpiceDB file, for all
//! resources × permissions × subjects it names, check, lookup_resources and lookup_subjects
//! agree — and then, with the engine's cache warmed by all of those queries, every check answers
//! as an engine without a cache does.

use iam::conformance::spicedb::{LoadError, agreement, load};
use testkit::db_test;

use crate::cache::cached_and_uncached_agree;
use crate::support::{migrated, supported_spicedb_files};

db_test!(async fn check_lookups_and_the_cache_agree_on_every_spicedb_file(db) {
    let engine_db = migrated(&db).await?;
    let files = supported_spicedb_files()?;
    assert_eq!(files.len(), 73, "every SpiceDB file");
    let mut compared = 0;
    let mut cache_compared = 0;
    let mut problems = Vec::new();
    for (label, file) in &files {
        let loaded = match load(&engine_db, file).await? {
            Ok(l) => l,
            Err(LoadError::Unsupported(f)) => anyhow::bail!("{label}: unsupported {f}"),
            Err(LoadError::Invalid(why)) => anyhow::bail!("{label}: {why}"),
        };
        match agreement(&loaded).await? {
            Ok(n) => compared += n,
            Err(p) => problems.extend(p.into_iter().map(|x| format!("{label}: {x}"))),
        }
        match cached_and_uncached_agree(&loaded, label).await? {
            Ok(n) => cache_compared += n,
            Err(p) => problems.extend(p),
        }
    }
    assert!(problems.is_empty(), "{} disagreements:\n{}", problems.len(), problems.join("\n"));
    assert!(compared > 1000, "only {compared} triples compared");
    assert_eq!(cache_compared, compared, "cached and uncached answers compared");
    Ok(())
});
