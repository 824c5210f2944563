//! The engine's API beyond the suites: atomic writes with preconditions, revisions, expand,
//! bulk checks, depth limits and refusals.

use iam::{
    Engine, EngineError, ExpandNode, ObjectRef, Permissionship, Precondition, ReadOptions,
    Revision, Schema, SubjectRef, TupleFilter, TupleUpdate, WriteBatch,
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
    relation viewer: user | team#member | user:*
    permission view = viewer + parent->view
}
definition doc {
    relation parent: folder
    relation viewer: user
    relation banned: user
    permission view = (viewer + parent->view) - banned
}
";

async fn engine(db: &testkit::TestDb) -> anyhow::Result<Engine> {
    Ok(Engine::new(migrated(db).await?, Schema::parse(SCHEMA)?))
}

db_test!(async fn writes_are_atomic_and_revisioned(db) {
    let engine = engine(&db).await?;
    let org = Uuid::now_v7();
    let o = ReadOptions::default();
    assert_eq!(engine.current_revision(org).await?, Revision(0));
    let r1 = engine.write(org, &WriteBatch::touch([t("doc:1#viewer@user:ann")?, t("doc:1#viewer@user:ann")?])).await?;
    assert_eq!(r1, Revision(1));
    let doc = ObjectRef::parse("doc:1")?;
    let answer = engine.check(org, &doc, "view", &user("ann"), &o).await?;
    assert!(answer.value);
    assert_eq!(answer.revision, r1);

    // A failing precondition applies nothing.
    let batch = WriteBatch {
        updates: vec![TupleUpdate::touch(t("doc:1#banned@user:ann")?)],
        preconditions: vec![Precondition::MustMatch(TupleFilter::exact(&t("doc:1#viewer@user:bob")?))],
    };
    assert!(matches!(engine.write(org, &batch).await, Err(EngineError::PreconditionFailed(_))));
    assert!(engine.check(org, &doc, "view", &user("ann"), &o).await?.value);
    assert_eq!(engine.current_revision(org).await?, r1);

    // Create refuses an existing tuple, and the whole batch with it.
    let batch = WriteBatch {
        updates: vec![TupleUpdate::touch(t("doc:1#banned@user:ann")?), TupleUpdate::create(t("doc:1#viewer@user:ann")?)],
        preconditions: vec![],
    };
    assert!(matches!(engine.write(org, &batch).await, Err(EngineError::AlreadyExists(_))));
    assert!(engine.check(org, &doc, "view", &user("ann"), &o).await?.value);

    // A passing precondition; the write becomes visible at its revision.
    let batch = WriteBatch {
        updates: vec![TupleUpdate::touch(t("doc:1#banned@user:ann")?)],
        preconditions: vec![
            Precondition::MustMatch(TupleFilter { object_type: "doc".into(), relation: Some("viewer".into()), ..Default::default() }),
            Precondition::MustNotMatch(TupleFilter { object_type: "doc".into(), relation: Some("banned".into()), ..Default::default() }),
        ],
    };
    let r2 = engine.write(org, &batch).await?;
    assert_eq!(r2, Revision(2));
    let fresh = ReadOptions { at_least: Some(r2), ..Default::default() };
    let answer = engine.check(org, &doc, "view", &user("ann"), &fresh).await?;
    assert!(!answer.value, "a write must never be hidden");
    assert_eq!(answer.revision, r2);
    let future = ReadOptions { at_least: Some(Revision(99)), ..Default::default() };
    assert!(matches!(engine.check(org, &doc, "view", &user("ann"), &future).await, Err(EngineError::FutureRevision { .. })));

    // Deletes; another org's revision is its own.
    let r3 = engine.write(org, &WriteBatch { updates: vec![TupleUpdate::delete(t("doc:1#banned@user:ann")?)], preconditions: vec![] }).await?;
    assert_eq!(r3, Revision(3));
    assert!(engine.check(org, &doc, "view", &user("ann"), &o).await?.value);
    assert_eq!(engine.current_revision(Uuid::now_v7()).await?, Revision(0));
    Ok(())
});

db_test!(async fn invalid_tuples_and_requests_are_refused(db) {
    let engine = engine(&db).await?;
    let org = Uuid::now_v7();
    let o = ReadOptions::default();
    for bad in ["doc:1#view@user:ann", "doc:1#viewer@team:x#member", "doc:1#viewer@user:*", "nope:1#viewer@user:ann", "doc:1#nope@user:ann"] {
        let err = engine.write(org, &WriteBatch::touch([t(bad)?])).await;
        assert!(matches!(err, Err(EngineError::InvalidTuple(_))), "{bad}: {err:?}");
    }
    assert_eq!(engine.current_revision(org).await?, Revision(0));
    let doc = ObjectRef::parse("doc:1")?;
    assert!(matches!(engine.check(org, &doc, "nope", &user("ann"), &o).await, Err(EngineError::UnknownRelation { .. })));
    assert!(matches!(engine.check(org, &ObjectRef::parse("x:1")?, "view", &user("ann"), &o).await, Err(EngineError::UnknownType(_))));
    assert!(matches!(engine.check(org, &doc, "view", &SubjectRef::object("robot", "r"), &o).await, Err(EngineError::InvalidSubject(_))));
    let ctx = ReadOptions { contextual: vec![t("doc:1#parent@user:ann")?], ..Default::default() };
    assert!(matches!(engine.check(org, &doc, "view", &user("ann"), &ctx).await, Err(EngineError::InvalidTuple(_))));
    Ok(())
});

db_test!(async fn expand_bulk_contextual_and_lookups(db) {
    let engine = engine(&db).await?;
    let org = Uuid::now_v7();
    let o = ReadOptions::default();
    engine.write(org, &WriteBatch::touch([
        t("folder:root#viewer@team:eng#member")?,
        t("team:eng#member@user:bob")?,
        t("folder:sub#parent@folder:root")?,
        t("doc:1#parent@folder:sub")?,
        t("doc:1#viewer@user:ann")?,
        t("doc:2#parent@folder:root")?,
        t("doc:2#banned@user:bob")?,
    ])).await?;
    let doc1 = ObjectRef::parse("doc:1")?;
    let tree = engine.expand(org, &doc1, "view", &o).await?.value;
    let expected = ExpandNode::Exclusion {
        base: Box::new(ExpandNode::Union { children: vec![
            ExpandNode::Computed { userset: "doc:1#viewer".into() },
            ExpandNode::Arrow { tupleset: "parent".into(), computed: "view".into(), all: false, usersets: vec!["folder:sub#view".into()] },
        ]}),
        subtract: Box::new(ExpandNode::Computed { userset: "doc:1#banned".into() }),
    };
    assert_eq!(tree, expected);
    let direct = engine.expand(org, &doc1, "viewer", &o).await?.value;
    assert_eq!(direct, ExpandNode::Direct { subjects: vec!["user:ann".into()] });

    let items = vec![
        (doc1.clone(), "view".to_owned(), user("bob")),
        (ObjectRef::parse("doc:2")?, "view".to_owned(), user("bob")),
        (doc1.clone(), "nope".to_owned(), user("bob")),
    ];
    let bulk = engine.check_bulk(org, &items, &o).await?.value;
    assert!(matches!(bulk[0], Ok(Permissionship::Allowed)));
    assert!(matches!(bulk[1], Ok(Permissionship::Denied)));
    assert!(matches!(bulk[2], Err(EngineError::UnknownRelation { .. })));

    assert_eq!(engine.lookup_resources(org, "doc", "view", &user("bob"), &o).await?.value, vec!["1"]);
    let users = engine.lookup_subjects(org, &doc1, "view", "user", None, &o).await?.value;
    assert_eq!(users, vec![user("ann"), user("bob")]);
    let teams = engine.lookup_subjects(org, &doc1, "view", "team", Some("member"), &o).await?.value;
    assert_eq!(teams, vec![SubjectRef::userset("team", "eng", "member")]);

    // Contextual tuples count for one query only.
    let ctx = ReadOptions { contextual: vec![t("folder:root#viewer@user:*")?], ..Default::default() };
    assert!(engine.check(org, &doc1, "view", &user("zoe"), &ctx).await?.value);
    assert!(!engine.check(org, &doc1, "view", &user("zoe"), &o).await?.value);
    assert_eq!(engine.lookup_resources(org, "doc", "view", &user("zoe"), &ctx).await?.value, vec!["1", "2"]);
    Ok(())
});

db_test!(async fn deep_and_cyclic_graphs(db) {
    let engine = engine(&db).await?;
    let org = Uuid::now_v7();
    let o = ReadOptions::default();
    // team:t0 ⊃ t1 ⊃ … ⊃ t30 ∋ ann: 31 nested usersets, deeper than the limit of 25.
    let mut tuples = vec![t("team:t30#member@user:ann")?];
    for i in 0..30 {
        tuples.push(t(&format!("team:t{i}#member@team:t{}#member", i + 1))?);
    }
    // A cycle: x ⊃ y ⊃ x.
    tuples.push(t("team:x#member@team:y#member")?);
    tuples.push(t("team:y#member@team:x#member")?);
    engine.write(org, &WriteBatch::touch(tuples)).await?;
    let deep = engine.check(org, &ObjectRef::parse("team:t0")?, "member", &user("ann"), &o).await;
    assert!(matches!(deep, Err(EngineError::DepthExceeded(25))), "{deep:?}");
    assert!(engine.check(org, &ObjectRef::parse("team:t10")?, "member", &user("ann"), &o).await?.value);
    assert!(!engine.check(org, &ObjectRef::parse("team:x")?, "member", &user("ann"), &o).await?.value);
    assert!(engine.check(org, &ObjectRef::parse("team:x")?, "member", &SubjectRef::userset("team", "y", "member"), &o).await?.value);
    Ok(())
});
