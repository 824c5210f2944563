//! Caveated relationships through the engine on both backends: stored and read back with their
//! context, replaced by a later write, evaluated with the request's context (the stored one
//! winning), three-valued through exclusions and arrows, and cached per request context.

use iam::store::{self, TupleFilter};
use iam::{CaveatContext, Engine, ObjectRef, Permissionship, ReadOptions, Schema, WriteBatch};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{migrated, t, user};

const SCHEMA: &str = r#"
definition user {}
caveat in_network(ip ipaddress, cidr string) {
    ip.in_cidr(cidr)
}
caveat before(now timestamp, until timestamp) {
    now < until
}
definition folder {
    relation viewer: user | user with before
}
definition doc {
    relation parent: folder | folder with before
    relation viewer: user | user with in_network
    relation banned: user with in_network
    permission view = (viewer + parent->viewer) - banned
}
"#;

fn ctx(json: &str) -> anyhow::Result<ReadOptions> {
    Ok(ReadOptions {
        context: CaveatContext::parse(json).map_err(anyhow::Error::msg)?,
        ..ReadOptions::default()
    })
}

db_test!(async fn caveats_are_stored_evaluated_and_cached_per_context(db) {
    let engine = Engine::new(migrated(&db).await?, Schema::parse(SCHEMA)?);
    let org = Uuid::now_v7();
    let office = r#"doc:1#viewer@user:ann[in_network:{"cidr":"10.0.0.0/8"}]"#;
    engine.write(org, &WriteBatch::touch([t(office)?])).await?;

    // Read back exactly as written, context included.
    let tx = engine.db().tenant_read(org).await?;
    let stored = store::read(&tx, &TupleFilter { object_type: "doc".into(), ..TupleFilter::default() }, 10).await?;
    tx.commit().await?;
    assert_eq!(stored.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![office.to_owned()]);

    let doc = ObjectRef::parse("doc:1")?;
    let check = |opts: ReadOptions| {
        let (engine, doc) = (engine.clone(), doc.clone());
        async move { anyhow::Ok(engine.check_caveated(org, &doc, "view", &user("ann"), &opts).await?.value) }
    };
    assert_eq!(check(ReadOptions::default()).await?, Permissionship::Conditional(vec!["ip".into()]));
    // The same node, cached under one context, answers per context.
    for _ in 0..2 {
        assert_eq!(check(ctx(r#"{"ip":"10.9.9.9"}"#)?).await?, Permissionship::Allowed);
        assert_eq!(check(ctx(r#"{"ip":"8.8.8.8"}"#)?).await?, Permissionship::Denied);
    }
    assert!(engine.cache_stats().await.hits > 0, "the second round was answered from the cache");
    // The stored context wins over the request's.
    assert_eq!(check(ctx(r#"{"ip":"8.8.8.8","cidr":"8.0.0.0/8"}"#)?).await?, Permissionship::Denied);
    // A value of the wrong type is the caller's error.
    assert!(engine.check_caveated(org, &doc, "view", &user("ann"), &ctx(r#"{"ip":"nope"}"#)?).await.is_err());
    // `check` answers a conditional permission as "no".
    assert!(!engine.check(org, &doc, "view", &user("ann"), &ReadOptions::default()).await?.value);

    // A caveated exclusion: granted only where the ban's caveat is false.
    engine.write(org, &WriteBatch::touch([t(r#"doc:1#banned@user:ann[in_network:{"cidr":"10.1.0.0/16"}]"#)?])).await?;
    assert_eq!(check(ctx(r#"{"ip":"10.9.9.9"}"#)?).await?, Permissionship::Allowed);
    assert_eq!(check(ctx(r#"{"ip":"10.1.2.3"}"#)?).await?, Permissionship::Denied);

    // Writing the relationship again without a caveat replaces it.
    engine.write(org, &WriteBatch::touch([t("doc:1#viewer@user:ann")?])).await?;
    let tx = engine.db().tenant_read(org).await?;
    let viewer = TupleFilter { object_type: "doc".into(), relation: Some("viewer".into()), ..TupleFilter::default() };
    let stored = store::read(&tx, &viewer, 10).await?;
    tx.commit().await?;
    assert_eq!(stored.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["doc:1#viewer@user:ann"]);
    assert_eq!(check(ReadOptions::default()).await?, Permissionship::Conditional(vec!["ip".into()]), "the ban is still caveated");
    assert_eq!(check(ctx(r#"{"ip":"8.8.8.8"}"#)?).await?, Permissionship::Allowed);

    // Through a caveated arrow: the folder link holds until a time the request gives.
    engine.write(org, &WriteBatch::touch([
        t(r#"doc:2#parent@folder:f[before:{"until":"2030-01-01T00:00:00Z"}]"#)?,
        t("folder:f#viewer@user:bob")?,
    ])).await?;
    let doc2 = ObjectRef::parse("doc:2")?;
    let bob = |opts: ReadOptions| {
        let (engine, doc2) = (engine.clone(), doc2.clone());
        async move { anyhow::Ok(engine.check_caveated(org, &doc2, "view", &user("bob"), &opts).await?.value) }
    };
    assert_eq!(bob(ReadOptions::default()).await?, Permissionship::Conditional(vec!["now".into()]));
    assert_eq!(bob(ctx(r#"{"now":"2029-12-31T23:59:59Z"}"#)?).await?, Permissionship::Allowed);
    assert_eq!(bob(ctx(r#"{"now":"2030-01-01T00:00:01Z"}"#)?).await?, Permissionship::Denied);
    let found = engine.lookup_resources_caveated(org, "doc", "view", &user("bob"), &ReadOptions::default()).await?.value;
    assert_eq!(found, vec![("2".to_owned(), Permissionship::Conditional(vec!["now".into()]))]);
    assert!(engine.lookup_resources(org, "doc", "view", &user("bob"), &ReadOptions::default()).await?.value.is_empty());
    let subjects = engine.lookup_subjects_caveated(org, &doc2, "view", "user", None, &ctx(r#"{"now":"2020-01-01T00:00:00Z"}"#)?).await?.value;
    assert_eq!(subjects, vec![(user("bob"), Permissionship::Allowed)]);

    // A node no caveat touches is cached once for every context.
    engine.write(org, &WriteBatch::touch([t("doc:9#viewer@user:zed")?])).await?;
    let doc9 = ObjectRef::parse("doc:9")?;
    let zed = |json: &'static str| {
        let (engine, doc9) = (engine.clone(), doc9.clone());
        async move { anyhow::Ok(engine.check_caveated(org, &doc9, "view", &user("zed"), &ctx(json)?).await?.value) }
    };
    assert_eq!(zed(r#"{"ip":"1.1.1.1"}"#).await?, Permissionship::Allowed);
    let hits = engine.cache_stats().await.hits;
    assert_eq!(zed(r#"{"ip":"2.2.2.2"}"#).await?, Permissionship::Allowed);
    assert!(engine.cache_stats().await.hits > hits, "answered from the cache under another context");

    // Refused: a caveat the relation does not allow, an unknown parameter, a wrong type.
    for bad in [
        r#"folder:f#viewer@user:cy[in_network:{"cidr":"10.0.0.0/8"}]"#,
        r#"doc:3#viewer@user:cy[in_network:{"port":1}]"#,
        r#"doc:3#viewer@user:cy[in_network:{"cidr":5}]"#,
        "doc:3#banned@user:cy",
    ] {
        assert!(engine.write(org, &WriteBatch::touch([t(bad)?])).await.is_err(), "{bad}");
    }
    Ok(())
});

const EXPIRING: &str = r#"
use expiration
definition user {}
definition doc {
    relation viewer: user with expiration
    relation banned: user with expiration
    relation owner: user
    permission view = (viewer + owner) - banned
}
"#;

db_test!(async fn expired_relationships_are_absent_everywhere_and_purged(db) {
    let engine = Engine::new(migrated(&db).await?, Schema::parse(EXPIRING)?);
    let org = Uuid::now_v7();
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let at = |s: &str| -> anyhow::Result<iam::Tuple> { Ok(t(s)?.expiring(soon)) };
    engine.write(org, &WriteBatch::touch([
        at("doc:1#viewer@user:ann")?,
        at("doc:2#banned@user:bob")?,
        t("doc:2#owner@user:bob")?,
        t("doc:3#viewer@user:cy[expiration:2020-01-01T00:00:00Z]")?,
    ])).await?;
    let o = ReadOptions::default();
    let view = |doc: &'static str, who: &'static str| {
        let engine = engine.clone();
        async move { anyhow::Ok(engine.check(org, &ObjectRef::parse(doc)?, "view", &user(who), &ReadOptions::default()).await?.value) }
    };
    // Before: ann sees doc 1, bob is banned from doc 2; cy's tuple expired when written.
    assert!(view("doc:1", "ann").await?);
    assert!(!view("doc:2", "bob").await?);
    assert!(!view("doc:3", "cy").await?);
    assert!(engine.lookup_resources(org, "doc", "view", &user("cy"), &o).await?.value.is_empty());
    // Cached now; after the expiry the cache does not answer with what no longer holds.
    assert!(view("doc:1", "ann").await?);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert!(!view("doc:1", "ann").await?, "ann's expired grant is gone, cache or not");
    assert!(view("doc:2", "bob").await?, "bob's expired ban is gone");
    assert!(engine.lookup_subjects(org, &ObjectRef::parse("doc:1")?, "view", "user", None, &o).await?.value.is_empty());
    let tx = engine.db().tenant_read(org).await?;
    let all = store::read(&tx, &TupleFilter { object_type: "doc".into(), ..TupleFilter::default() }, 10).await?;
    tx.commit().await?;
    assert_eq!(all.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["doc:2#owner@user:bob"]);

    // Writing it again (here without an expiry) brings it back; an expired one may be created anew.
    engine.write(org, &WriteBatch::touch([t("doc:1#viewer@user:ann")?])).await?;
    assert!(view("doc:1", "ann").await?);
    engine.write(org, &WriteBatch { updates: vec![iam::TupleUpdate::create(t("doc:2#banned@user:bob")?)], preconditions: vec![] }).await?;
    assert!(!view("doc:2", "bob").await?);

    // The sweep deletes what expired (cy's, and nothing live).
    let purged = store::purge_expired(engine.db(), chrono::Utc::now()).await?;
    assert!(purged >= 1, "{purged}");
    assert!(view("doc:1", "ann").await?);
    // Only relations declared `with expiration` take an expiry.
    assert!(engine.write(org, &WriteBatch::touch([at("doc:9#owner@user:dan")?])).await.is_err());
    Ok(())
});
