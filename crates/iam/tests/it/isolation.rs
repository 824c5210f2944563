//! Orgs never see each other's tuples: the same object ids in two orgs with different tuples
//! give each org only its own answers.

use std::collections::BTreeSet;

use iam::conformance::spicedb::{LoadError, load, parse_assertion};
use iam::{
    CaveatContext, Engine, ObjectRef, Permissionship, ReadOptions, Schema, SubjectRef, Tuple,
    WriteBatch,
};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{migrated, supported_spicedb_files};

db_test!(async fn same_ids_in_two_orgs_do_not_mix(db) {
    let engine_db = migrated(&db).await?;
    let schema = Schema::parse(
        "definition user {}
         definition team { relation member: user }
         definition doc {
             relation viewer: user | team#member
             permission view = viewer
         }",
    )?;
    let engine = Engine::new(engine_db, schema);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let t = |s: &str| Tuple::parse(s);
    engine.write(a, &WriteBatch::touch([t("doc:1#viewer@user:alice")?, t("team:x#member@user:carol")?])).await?;
    engine.write(b, &WriteBatch::touch([t("doc:1#viewer@user:bob")?, t("doc:1#viewer@team:x#member")?])).await?;
    let doc = ObjectRef::parse("doc:1")?;
    let user = |id: &str| SubjectRef::object("user", id);
    let o = ReadOptions::default();
    assert!(engine.check(a, &doc, "view", &user("alice"), &o).await?.value);
    assert!(!engine.check(a, &doc, "view", &user("bob"), &o).await?.value);
    assert!(!engine.check(a, &doc, "view", &user("carol"), &o).await?.value, "b's userset tuple leaked into a");
    assert!(engine.check(b, &doc, "view", &user("bob"), &o).await?.value);
    assert!(!engine.check(b, &doc, "view", &user("alice"), &o).await?.value);
    assert!(!engine.check(b, &doc, "view", &user("carol"), &o).await?.value, "a's team tuple leaked into b");
    let subjects = |org| {
        let engine = engine.clone();
        let doc = doc.clone();
        async move {
            let found = engine.lookup_subjects(org, &doc, "view", "user", None, &ReadOptions::default()).await?.value;
            anyhow::Ok(found.iter().map(ToString::to_string).collect::<Vec<_>>())
        }
    };
    assert_eq!(subjects(a).await?, vec!["user:alice"]);
    assert_eq!(subjects(b).await?, vec!["user:bob"]);
    assert_eq!(engine.lookup_resources(b, "doc", "view", &user("alice"), &o).await?.value, Vec::<String>::new());
    assert_eq!(engine.current_revision(a).await?.0, 1);
    assert_eq!(engine.current_revision(b).await?.0, 1);
    Ok(())
});

/// Every tuple the schema allows between the file's objects and subjects: a graph in which
/// almost everything holds, so any leak into another org flips that org's answers.
fn dense_tuples(schema: &Schema, tuples: &[Tuple]) -> Vec<Tuple> {
    let mut objects: BTreeSet<ObjectRef> = BTreeSet::new();
    for t in tuples {
        objects.insert(t.object.clone());
        if !t.subject.is_wildcard() {
            objects.insert(ObjectRef::new(
                t.subject.subject_type.clone(),
                t.subject.subject_id.clone(),
            ));
        }
    }
    let mut subjects: BTreeSet<SubjectRef> = tuples.iter().map(|t| t.subject.clone()).collect();
    for o in &objects {
        subjects.insert(SubjectRef::object(
            o.object_type.clone(),
            o.object_id.clone(),
        ));
        subjects.insert(SubjectRef::wildcard(o.object_type.clone()));
    }
    let mut out = Vec::new();
    for o in &objects {
        let Some(def) = schema.type_def(&o.object_type) else {
            continue;
        };
        for rel in def.relations.values().filter(|r| r.is_assignable()) {
            // Plainly where the relation allows it, else under its first caveat that fits (with
            // no context: conditional).
            let caveats = rel.allowed.iter().filter_map(|a| a.caveat.as_deref());
            for s in &subjects {
                let tuple = Tuple::new(o.clone(), rel.name.clone(), s.clone());
                if rel.accepts_with(s, None, false) {
                    out.push(tuple);
                } else if let Some(c) = caveats
                    .clone()
                    .find(|c| rel.accepts_with(s, Some(c), false))
                {
                    out.push(tuple.with_caveat(c, CaveatContext::default()));
                }
            }
        }
    }
    out
}

db_test!(async fn the_spicedb_suite_twice_in_two_orgs_leaks_nothing(db) {
    let engine_db = migrated(&db).await?;
    let o = ReadOptions::default();
    let mut compared = 0;
    for (label, file) in supported_spicedb_files()? {
        // Org a: the file's own tuples. Org b: a dense graph over the same object ids.
        let a = match load(&engine_db, &file).await? {
            Ok(l) => l,
            Err(LoadError::Unsupported(f)) => anyhow::bail!("{label}: unsupported {f}"),
            Err(LoadError::Invalid(why)) => anyhow::bail!("{label}: {why}"),
        };
        let engine = &a.engine;
        let dense = dense_tuples(engine.schema(), &a.tuples);
        let (b, alone) = (Uuid::now_v7(), Uuid::now_v7());
        engine.write(b, &WriteBatch::touch(dense.clone())).await?;
        engine.write(alone, &WriteBatch::touch(dense)).await?;

        let assertions = file.assertions.unwrap_or_default();
        let cases = assertions.assert_true.unwrap_or_default().into_iter().map(|x| (x, true))
            .chain(assertions.assert_false.unwrap_or_default().into_iter().map(|x| (x, false)));
        for (text, want) in cases {
            let (t, context) = parse_assertion(&text).map_err(anyhow::Error::msg)?;
            let o = ReadOptions { context, ..o.clone() };
            // Org a still answers exactly as the file expects, beside org b's dense graph.
            let got = engine.check_caveated(a.org, &t.object, &t.relation, &t.subject, &o).await?.value;
            let expected = if want { Permissionship::Allowed } else { Permissionship::Denied };
            assert_eq!(got, expected, "{label}: {text} in org a");
            // Org b answers exactly as an org holding only the dense graph.
            let in_b = engine.check_caveated(b, &t.object, &t.relation, &t.subject, &o).await.map(|x| x.value).map_err(|e| e.to_string());
            let in_alone = engine.check_caveated(alone, &t.object, &t.relation, &t.subject, &o).await.map(|x| x.value).map_err(|e| e.to_string());
            assert_eq!(in_b, in_alone, "{label}: {text} in org b");
            let lr = |org| engine.lookup_resources(org, &t.object.object_type, &t.relation, &t.subject, &o);
            assert_eq!(
                lr(a.org).await?.value.contains(&t.object.object_id), want,
                "{label}: lookup_resources for {text} in org a"
            );
            assert_eq!(
                lr(b).await.map(|x| x.value).map_err(|e| e.to_string()),
                lr(alone).await.map(|x| x.value).map_err(|e| e.to_string()),
                "{label}: lookup_resources for {text} in org b"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 385);
    Ok(())
});
