//! The cross-query cache of sub-problem results: a write is visible to the very next query,
//! revision tokens are honoured, contextual tuples bypass it, depth limits hold with cached
//! sub-problems, and it stays within its bound. That cached answers are the uncached ones is
//! checked on the whole conformance data: the runner's engines have caches (`conformance.rs`),
//! and on every SpiceDB file a cache warmed by all the cross-API queries answers every check as
//! an engine without one does (`agreement.rs`, with [`cached_and_uncached_agree`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use iam::conformance::spicedb::{Loaded, universe};
use iam::{
    CacheConfig, Engine, EngineError, ObjectRef, Permissionship, ReadOptions, Revision, Schema,
    SubjectRef, Tuple, TupleUpdate, WriteBatch,
};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{migrated, t, user};

const SCHEMA: &str = "
definition user {}
definition team {
    relation member: user | team#member
}
definition folder {
    relation parent: folder
    relation viewer: user | team#member
    permission view = viewer + parent->view
}
definition doc {
    relation parent: folder
    relation viewer: user
    relation banned: user
    permission view = (viewer + parent->view) - banned
}
";

fn at_least(r: Revision) -> ReadOptions {
    ReadOptions {
        at_least: Some(r),
        ..Default::default()
    }
}

/// `doc:d` in `folder:f5` ⊂ f4 ⊂ … ⊂ f0, which team `eng` (bob) may view: the answer for bob
/// rests on sub-problems six levels down.
async fn folders(engine: &Engine, org: Uuid) -> anyhow::Result<Revision> {
    let mut tuples = vec![
        t("folder:f0#viewer@team:eng#member")?,
        t("team:eng#member@user:bob")?,
        t("doc:d#parent@folder:f5")?,
    ];
    for i in 0..5 {
        tuples.push(t(&format!("folder:f{}#parent@folder:f{i}", i + 1))?);
    }
    Ok(engine.write(org, &WriteBatch::touch(tuples)).await?)
}

fn delete(s: &str) -> anyhow::Result<WriteBatch> {
    Ok(WriteBatch {
        updates: vec![TupleUpdate::delete(t(s)?)],
        preconditions: vec![],
    })
}

db_test!(async fn a_write_is_visible_to_the_very_next_check(db) {
    let db = migrated(&db).await?;
    let engine = Engine::new(db.clone(), Schema::parse(SCHEMA)?);
    // Another instance of the cell: same database, its own cache.
    let other = Engine::new(db, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    let o = ReadOptions::default();
    folders(&engine, org).await?;
    let doc = ObjectRef::parse("doc:d")?;
    let f3 = ObjectRef::parse("folder:f3")?;
    assert!(engine.check(org, &doc, "view", &user("bob"), &o).await?.value);
    let before = engine.cache_stats().await;
    assert!(before.entries >= 7, "{before:?}");
    // A second check comes from the cache; so does a sub-problem the first one resolved.
    assert!(engine.check(org, &doc, "view", &user("bob"), &o).await?.value);
    assert!(engine.check(org, &f3, "view", &user("bob"), &o).await?.value);
    let after = engine.cache_stats().await;
    assert_eq!(after.hits, before.hits + 2, "{after:?}");

    // Revoking the team membership, six levels below the answer, shows at once.
    engine.write(org, &delete("team:eng#member@user:bob")?).await?;
    assert!(!engine.check(org, &doc, "view", &user("bob"), &o).await?.value);
    assert!(!engine.check(org, &f3, "view", &user("bob"), &o).await?.value);
    // So does a write made by another instance, which this engine's cache never heard of.
    other.write(org, &WriteBatch::touch([t("team:eng#member@user:bob")?])).await?;
    assert!(engine.check(org, &doc, "view", &user("bob"), &o).await?.value);
    other.write(org, &WriteBatch::touch([t("doc:d#banned@user:bob")?])).await?;
    assert!(!engine.check(org, &doc, "view", &user("bob"), &o).await?.value);
    assert!(engine.check(org, &f3, "view", &user("bob"), &o).await?.value);
    // Every query shape, after each of a run of toggles.
    for i in 0..10 {
        let banned = i % 2 == 1;
        let batch = if banned {
            WriteBatch::touch([t("doc:d#banned@user:bob")?])
        } else {
            delete("doc:d#banned@user:bob")?
        };
        let writer = if i % 3 == 0 { &other } else { &engine };
        writer.write(org, &batch).await?;
        assert_eq!(engine.check(org, &doc, "view", &user("bob"), &o).await?.value, !banned, "round {i}");
        let bulk = engine.check_bulk(org, &[(doc.clone(), "view".into(), user("bob"))], &o).await?.value;
        assert!(matches!(bulk.as_slice(), [Ok(v)] if v.is_allowed() != banned), "round {i}");
        let docs = engine.lookup_resources(org, "doc", "view", &user("bob"), &o).await?.value;
        assert_eq!(docs.is_empty(), banned, "round {i}");
        let users = engine.lookup_subjects(org, &doc, "view", "user", None, &o).await?.value;
        assert_eq!(users.is_empty(), banned, "round {i}");
    }
    Ok(())
});

db_test!(async fn checks_racing_writes_never_see_a_stale_answer(db) {
    let db = migrated(&db).await?;
    let engine = Engine::new(db, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    folders(&engine, org).await?;
    let doc = ObjectRef::parse("doc:d")?;
    // Readers keep filling the cache, at whatever revision they started, while the writer
    // toggles bob's membership; each write's result must show in the writer's next check.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (engine, doc, stop) = (engine.clone(), doc.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                engine.check(org, &doc, "view", &user("bob"), &ReadOptions::default()).await?;
            }
            anyhow::Ok(())
        }));
    }
    let result = async {
        for i in 0..30 {
            let member = i % 2 == 1;
            let batch = if member {
                WriteBatch::touch([t("team:eng#member@user:bob")?])
            } else {
                delete("team:eng#member@user:bob")?
            };
            let r = engine.write(org, &batch).await?;
            let fresh = engine.check(org, &doc, "view", &user("bob"), &ReadOptions::default()).await?;
            assert_eq!(fresh.value, member, "round {i}");
            assert!(fresh.revision >= r);
            let token = engine.check(org, &doc, "view", &user("bob"), &at_least(r)).await?;
            assert_eq!(token.value, member, "round {i} with the write's token");
        }
        anyhow::Ok(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await??;
    }
    result?;
    assert!(engine.cache_stats().await.hits > 0);
    Ok(())
});

db_test!(async fn a_write_token_is_honoured(db) {
    let db = migrated(&db).await?;
    let a = Engine::new(db.clone(), Schema::parse(SCHEMA)?);
    let b = Engine::new(db, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    let doc = ObjectRef::parse("doc:1")?;
    let ann = user("ann");

    let r1 = a.write(org, &WriteBatch::touch([t("doc:1#viewer@user:ann")?])).await?;
    let answer = a.check(org, &doc, "view", &ann, &at_least(r1)).await?;
    assert!(answer.value);
    assert_eq!(answer.revision, r1);
    // The same question with the same token: answered from the cache, no database round trip.
    assert_eq!(a.cache_stats().await.answered_without_db, 0);
    assert_eq!(a.check(org, &doc, "view", &ann, &at_least(r1)).await?, answer);
    assert_eq!(a.cache_stats().await.answered_without_db, 1);

    // A write through another instance: its token makes `a` read past everything it cached.
    let r2 = b.write(org, &WriteBatch::touch([t("doc:1#banned@user:ann")?])).await?;
    let answer = a.check(org, &doc, "view", &ann, &at_least(r2)).await?;
    assert!(!answer.value, "the token's write must be visible");
    assert_eq!(answer.revision, r2);
    // An older token is answered at any revision from it on; `a` now knows r2.
    let answer = a.check(org, &doc, "view", &ann, &at_least(r1)).await?;
    assert_eq!((answer.value, answer.revision), (false, r2));

    // A later write `a` has not seen: an old token may still be answered at r2 (at least as
    // fresh as asked), while no token, or the new one, reads the latest revision.
    let r3 = b.write(org, &delete("doc:1#banned@user:ann")?).await?;
    let old = a.check(org, &doc, "view", &ann, &at_least(r1)).await?;
    assert!(old.revision >= r1);
    assert_eq!(old.value, old.revision >= r3, "{old:?}");
    let latest = a.check(org, &doc, "view", &ann, &ReadOptions::default()).await?;
    assert_eq!((latest.value, latest.revision), (true, r3));
    let new = a.check(org, &doc, "view", &ann, &at_least(r3)).await?;
    assert_eq!((new.value, new.revision), (true, r3));
    let bulk = a.check_bulk(org, &[(doc.clone(), "view".into(), ann.clone())], &at_least(r3)).await?;
    assert!(matches!(bulk.value.as_slice(), [Ok(Permissionship::Allowed)]));
    assert_eq!(bulk.revision, r3);

    // A write through `a` itself moves its tokens on at once.
    let r4 = a.write(org, &WriteBatch::touch([t("doc:1#banned@user:ann")?])).await?;
    let answer = a.check(org, &doc, "view", &ann, &at_least(r4)).await?;
    assert_eq!((answer.value, answer.revision), (false, r4));
    let future = a.check(org, &doc, "view", &ann, &at_least(Revision(r4.0 + 1))).await;
    assert!(matches!(future, Err(EngineError::FutureRevision { .. })), "{future:?}");
    Ok(())
});

db_test!(async fn contextual_tuples_bypass_the_cache(db) {
    let engine = Engine::new(migrated(&db).await?, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    let r = folders(&engine, org).await?;
    let doc = ObjectRef::parse("doc:d")?;
    let zoe = user("zoe");
    let o = ReadOptions::default();
    // A cached "no" does not hide a contextual "yes"…
    assert!(!engine.check(org, &doc, "view", &zoe, &o).await?.value);
    let held = engine.cache_stats().await;
    let ctx = ReadOptions {
        contextual: vec![t("team:eng#member@user:zoe")?],
        at_least: Some(r),
        ..ReadOptions::default()
    };
    assert!(engine.check(org, &doc, "view", &zoe, &ctx).await?.value);
    assert!(engine.check_bulk(org, &[(doc.clone(), "view".into(), zoe.clone())], &ctx).await?.value[0].as_ref().is_ok_and(Permissionship::is_allowed));
    assert_eq!(engine.lookup_resources(org, "doc", "view", &zoe, &ctx).await?.value, vec!["d"]);
    // …and the contextual answers were neither read from nor written to it.
    let after = engine.cache_stats().await;
    assert_eq!((after.entries, after.hits, after.misses), (held.entries, held.hits, held.misses));
    assert!(!engine.check(org, &doc, "view", &zoe, &o).await?.value);
    assert!(!engine.check(org, &doc, "view", &zoe, &at_least(r)).await?.value);
    Ok(())
});

db_test!(async fn cached_sub_problems_respect_the_depth_limit(db) {
    let engine = Engine::new(migrated(&db).await?, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    // team:t0 ⊃ t1 ⊃ … ⊃ t30 ∋ ann: from t5 on, ann is within 25 nested steps.
    let mut tuples = vec![t("team:t30#member@user:ann")?];
    for i in 0..30 {
        tuples.push(t(&format!("team:t{i}#member@team:t{}#member", i + 1))?);
    }
    engine.write(org, &WriteBatch::touch(tuples)).await?;
    let team = |i: u32| ObjectRef::new("team", format!("t{i}"));
    let o = ReadOptions::default();
    let ann = user("ann");
    // t10 resolves t11…t30 and caches them; reached from t4 they are too deep, and must not
    // turn t4's depth error into a "yes".
    assert!(engine.check(org, &team(10), "member", &ann, &o).await?.value);
    let deep = engine.check(org, &team(4), "member", &ann, &o).await;
    assert!(matches!(deep, Err(EngineError::DepthExceeded(25))), "{deep:?}");
    assert!(engine.check(org, &team(5), "member", &ann, &o).await?.value);
    let deep = engine.check(org, &team(0), "member", &ann, &o).await;
    assert!(matches!(deep, Err(EngineError::DepthExceeded(25))), "{deep:?}");
    // The same within one query, and for a fresh engine asked in the other order.
    let items: Vec<_> = [10, 4, 5, 0].iter().map(|&i| (team(i), "member".to_owned(), ann.clone())).collect();
    let fresh = Engine::with_cache(engine.db().clone(), engine.schema().clone(), CacheConfig::disabled());
    for e in [&engine, &fresh] {
        let bulk = e.check_bulk(org, &items, &o).await?.value;
        assert!(matches!(
            bulk.as_slice(),
            [Ok(Permissionship::Allowed), Err(EngineError::DepthExceeded(25)), Ok(Permissionship::Allowed), Err(EngineError::DepthExceeded(25))]
        ), "{bulk:?}");
    }
    Ok(())
});

db_test!(async fn the_cache_stays_within_its_bound(db) {
    let engine = Engine::with_cache(migrated(&db).await?, Schema::parse(SCHEMA)?, CacheConfig::max_entries(50));
    let org = Uuid::now_v7();
    let tuples: Vec<Tuple> = (0..200).map(|i| t(&format!("doc:{i}#viewer@user:u{}", i % 7))).collect::<anyhow::Result<_>>()?;
    engine.write(org, &WriteBatch::touch(tuples)).await?;
    let o = ReadOptions::default();
    for i in 0..200 {
        let doc = ObjectRef::new("doc", i.to_string());
        assert!(engine.check(org, &doc, "view", &user(&format!("u{}", i % 7)), &o).await?.value);
        assert!(!engine.check(org, &doc, "view", &user("nobody"), &o).await?.value);
    }
    let stats = engine.cache_stats().await;
    assert!(stats.entries <= 50, "{stats:?}");
    assert!(stats.entries > 0, "{stats:?}");
    let off = Engine::with_cache(engine.db().clone(), engine.schema().clone(), CacheConfig::disabled());
    assert!(off.check(org, &ObjectRef::parse("doc:1")?, "view", &user("u1"), &o).await?.value);
    assert_eq!(off.cache_stats().await, iam::CacheStats::default());
    Ok(())
});

/// An answer as comparable data (errors by their message).
fn plain(r: &Result<Permissionship, EngineError>) -> Result<Permissionship, String> {
    r.as_ref().cloned().map_err(ToString::to_string)
}

/// After a file's queries warmed `loaded`'s cache, every check of resource × relation × subject
/// answers the same from the warm cache, with a token (answered from the cache where it can
/// be) and from an engine without a cache. Returns the answers compared, or the differences.
pub async fn cached_and_uncached_agree(
    loaded: &Loaded,
    label: &str,
) -> anyhow::Result<Result<usize, Vec<String>>> {
    let (org, cached) = (loaded.org, &loaded.engine);
    let uncached = Engine::with_cache(
        cached.db().clone(),
        cached.schema().clone(),
        CacheConfig::disabled(),
    );
    let revision = cached.current_revision(org).await?;
    let (objects, subjects) = universe(loaded);
    let mut compared = 0;
    let mut problems = Vec::new();
    for (type_name, def) in &cached.schema().types {
        let resources: Vec<&ObjectRef> = objects
            .iter()
            .filter(|o| &o.object_type == type_name)
            .collect();
        for rel in def.relations.keys() {
            // Subjects in reverse order, so the warm-up's last entries are read first.
            for s in subjects.iter().rev().filter(|s| !s.is_wildcard()) {
                let items: Vec<(ObjectRef, String, SubjectRef)> = resources
                    .iter()
                    .map(|r| ((*r).clone(), rel.clone(), s.clone()))
                    .collect();
                let want = uncached
                    .check_bulk(org, &items, &ReadOptions::default())
                    .await?
                    .value;
                let warm = cached
                    .check_bulk(org, &items, &ReadOptions::default())
                    .await?
                    .value;
                let token = cached
                    .check_bulk(org, &items, &at_least(revision))
                    .await?
                    .value;
                for (i, (object, _, _)) in items.iter().enumerate() {
                    compared += 1;
                    let (w, c, k) = (plain(&want[i]), plain(&warm[i]), plain(&token[i]));
                    if w != c || w != k {
                        problems.push(format!("{label}: {object}#{rel}@{s}: uncached {w:?}, cached {c:?}, with token {k:?}"));
                    }
                }
            }
        }
    }
    Ok(if problems.is_empty() {
        Ok(compared)
    } else {
        Err(problems)
    })
}
