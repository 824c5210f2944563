//! Parser, translator and validator: what they build and how they refuse.

use super::*;

fn kinds(src: &str) -> Vec<ErrorKind> {
    match Schema::parse(src) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| e.kind).collect(),
    }
}

fn fga_kinds(src: &str) -> Vec<ErrorKind> {
    match Schema::from_openfga(src) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| e.kind).collect(),
    }
}

fn c(r: &str) -> Rewrite {
    Rewrite::Computed(r.to_owned())
}

const BASE: &str = "definition user {}\ndefinition team { relation member: user | team#member }\n";

#[test]
fn parses_the_spicedb_language() -> anyhow::Result<()> {
    let schema = Schema::parse(
        "// comment
        definition test/user {}
        definition test/folder {
            relation parent: test/folder
            relation viewer: test/user | test/user:*
            permission view = viewer + parent->view
        }
        definition test/document {
            relation parent: test/folder
            relation viewer: test/user | test/folder#viewer /* inline */
            relation banned: test/user
            permission view = (viewer + parent->view) - banned & nil
            permission all_parents = parent.all(view)
        }",
    )?;
    let doc = schema
        .relation("test/document", "view")
        .ok_or_else(|| anyhow::anyhow!("no view"))?;
    assert_eq!(doc.kind, RelationKind::Permission);
    assert!(doc.allowed.is_empty());
    // `-` binds loosest: `(…) - (banned & nil)`.
    assert_eq!(
        doc.rewrite,
        Rewrite::Exclusion(
            Box::new(Rewrite::Union(vec![
                c("viewer"),
                Rewrite::Arrow {
                    tupleset: "parent".into(),
                    computed: "view".into(),
                    mode: ArrowMode::Any
                },
            ])),
            Box::new(Rewrite::Intersection(vec![c("banned"), Rewrite::Nil])),
        )
    );
    let viewer = schema
        .relation("test/folder", "viewer")
        .ok_or_else(|| anyhow::anyhow!("no viewer"))?;
    assert!(viewer.accepts("test/user", "*", ""));
    assert!(viewer.accepts("test/user", "tom", ""));
    assert!(!viewer.accepts("test/user", "tom", "member"));
    let all = schema
        .relation("test/document", "all_parents")
        .ok_or_else(|| anyhow::anyhow!("no all"))?;
    assert!(matches!(
        all.rewrite,
        Rewrite::Arrow {
            mode: ArrowMode::All,
            ..
        }
    ));
    Ok(())
}

#[test]
fn spicedb_precedence_is_union_then_intersection_then_exclusion() -> anyhow::Result<()> {
    let s = Schema::parse(&format!(
        "{BASE} definition d {{
            relation a: user
            relation b: user
            relation x: user
            permission p1 = a - b + x
            permission p2 = a & b + x
            permission p3 = a - b - x
        }}"
    ))?;
    let rw = |p: &str| s.relation("d", p).map(|r| r.rewrite.clone());
    let ex = |l: Rewrite, r: Rewrite| Rewrite::Exclusion(Box::new(l), Box::new(r));
    assert_eq!(
        rw("p1"),
        Some(ex(c("a"), Rewrite::Union(vec![c("b"), c("x")])))
    );
    assert_eq!(
        rw("p2"),
        Some(Rewrite::Intersection(vec![
            c("a"),
            Rewrite::Union(vec![c("b"), c("x")])
        ]))
    );
    assert_eq!(rw("p3"), Some(ex(ex(c("a"), c("b")), c("x"))));
    Ok(())
}

#[test]
fn refuses_undefined_types_and_relations() {
    assert_eq!(
        kinds("definition doc { relation viewer: user }"),
        vec![ErrorKind::UndefinedType]
    );
    assert_eq!(
        kinds(&format!(
            "{BASE} definition doc {{ relation viewer: team#owner }}"
        )),
        vec![ErrorKind::UndefinedRelation]
    );
    assert_eq!(
        kinds(&format!(
            "{BASE} definition doc {{ relation viewer: user\n permission view = viewr }}"
        )),
        vec![ErrorKind::UndefinedRelation]
    );
    assert_eq!(
        kinds(&format!(
            "{BASE} definition doc {{ relation viewer: user\n permission view = parent->view }}"
        )),
        vec![ErrorKind::UndefinedRelation]
    );
    // The arrow's target relation must exist on some type the tupleset allows.
    assert_eq!(
        kinds(&format!(
            "{BASE} definition doc {{ relation owner: team\n permission view = owner->viewer }}"
        )),
        vec![ErrorKind::UndefinedRelation]
    );
}

#[test]
fn refuses_arrows_over_relations_that_are_not_directly_assignable() {
    let src = format!(
        "{BASE} definition folder {{ relation viewer: user }}
        definition doc {{
            relation parent: folder
            permission parents = parent
            permission view = parents->viewer
        }}"
    );
    assert_eq!(kinds(&src), vec![ErrorKind::InvalidArrow]);
    let wildcard = format!(
        "{BASE} definition doc {{ relation parent: team:*\n permission view = parent->member }}"
    );
    assert!(kinds(&wildcard).contains(&ErrorKind::InvalidArrow));
}

#[test]
fn refuses_relations_without_an_entry_point() {
    // Only ever itself: no tuple can start the chain.
    let src = "definition user {}
        definition group { relation member: group#member }";
    assert_eq!(kinds(src), vec![ErrorKind::NoEntryPoint]);
    let intersection = format!(
        "{BASE} definition doc {{
            relation a: user
            relation b: doc#b
            permission both = a & b
        }}"
    );
    assert_eq!(
        kinds(&intersection),
        vec![ErrorKind::NoEntryPoint, ErrorKind::NoEntryPoint]
    );
    // `nil` is an explicit "nobody", not a mistake.
    assert_eq!(
        kinds(&format!(
            "{BASE} definition doc {{ permission none = nil }}"
        )),
        vec![]
    );
}

#[test]
fn refuses_duplicates_and_bad_syntax_with_lines() {
    assert_eq!(
        kinds("definition user {}\ndefinition user {}"),
        vec![ErrorKind::Duplicate]
    );
    assert_eq!(
        kinds("definition user {}\ndefinition d { relation a: user\n relation a: user }"),
        vec![ErrorKind::Duplicate]
    );
    let err = Schema::parse("definition user {}\n\ndefinition doc {\n  relation viewer user\n}")
        .err()
        .map(|e| e.0[0].clone());
    let err = err.unwrap_or_else(|| SchemaError::new(ErrorKind::Syntax, "accepted"));
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert_eq!(err.line, Some(4));
    assert!(err.to_string().contains("expected `:`"), "{err}");
    assert_eq!(kinds("definition user {} garbage"), vec![ErrorKind::Syntax]);
    assert_eq!(kinds("definition us$er {}"), vec![ErrorKind::Syntax]);
}

#[test]
fn parses_caveats() {
    let s = Schema::parse(
        "definition user {}\ncaveat foo/on_tuesday(day string, m map<any>) {\n  day == 'tuesday' && m.x == {'a': 1}['a']\n}\ndefinition d {\n relation r: user with foo/on_tuesday | user:*\n permission p = r\n}",
    )
    .expect("a schema with a caveat");
    let c = &s.caveats["foo/on_tuesday"];
    assert_eq!(
        c.params,
        vec![
            ("day".to_owned(), ParamType::String),
            ("m".to_owned(), ParamType::Map(Box::new(ParamType::Any)))
        ]
    );
    assert_eq!(
        s.relation("d", "r").map(|r| r.allowed[0].caveat.clone()),
        Some(Some("foo/on_tuesday".to_owned()))
    );
    // The caveat's lines still count: an error after it names its own line.
    let err = Schema::parse("caveat c(x int) {\n x == 1\n}\ndefinition d { relation r: }")
        .expect_err("a syntax error");
    assert_eq!(err.0[0].line, Some(4));
    assert_eq!(
        kinds("caveat c(x nosuchtype) { x }\ndefinition u {}"),
        vec![ErrorKind::Syntax]
    );
    assert_eq!(
        kinds("caveat c(x int) { x == }\ndefinition u {}"),
        vec![ErrorKind::Syntax]
    );
    assert_eq!(
        kinds("definition u {}\ndefinition d { relation r: u with missing }"),
        vec![ErrorKind::UndefinedCaveat]
    );
}

#[test]
fn names_unsupported_features() {
    let feature = |src: &str| Schema::parse(src).err().and_then(|e| e.unsupported());
    let expiring = Schema::parse(
        "use expiration\ndefinition user {}\ncaveat c(x int) { x > 1 }\ndefinition d { relation r: user with expiration | user:* with c and expiration }",
    )
    .expect("expiring relationships");
    let r = expiring.relation("d", "r").expect("relation r");
    assert!(r.allowed.iter().all(|a| a.expiration));
    assert_eq!(r.allowed[1].to_string(), "user:* with c and expiration");
    assert_eq!(
        kinds("definition user {}\ndefinition d { relation r: user with expiration }"),
        vec![ErrorKind::Syntax],
        "`with expiration` needs `use expiration`"
    );
    assert_eq!(
        feature("definition user {}\ndefinition d { relation r: user\n permission p = self + r }"),
        Some(Feature::SelfKeyword)
    );
}

#[test]
fn translates_openfga_models() -> anyhow::Result<()> {
    let s = Schema::from_openfga(
        "model
  schema 1.1
# a comment
type user
type group
  relations
    define member: [user, group#member]
type folder
  relations
    define viewer: [user]
type document
  relations
    define parent: [folder]
    define editor: [user]
    define blocked: [user]  # trailing comment
    define viewer: [user, user:*, group#member] or editor or viewer from parent
    define can_view: (viewer and editor) but not blocked
",
    )?;
    let viewer = s
        .relation("document", "viewer")
        .ok_or_else(|| anyhow::anyhow!("no viewer"))?;
    assert_eq!(viewer.kind, RelationKind::Relation);
    assert_eq!(
        viewer
            .allowed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["user", "user:*", "group#member"]
    );
    assert_eq!(
        viewer.rewrite,
        Rewrite::Union(vec![
            Rewrite::This,
            c("editor"),
            Rewrite::Arrow {
                tupleset: "parent".into(),
                computed: "viewer".into(),
                mode: ArrowMode::Any
            },
        ])
    );
    let can_view = s
        .relation("document", "can_view")
        .ok_or_else(|| anyhow::anyhow!("no can_view"))?;
    assert_eq!(
        can_view.rewrite,
        Rewrite::Exclusion(
            Box::new(Rewrite::Intersection(vec![c("viewer"), c("editor")])),
            Box::new(c("blocked"))
        )
    );
    assert!(!can_view.is_assignable());
    Ok(())
}

#[test]
fn refuses_openfga_mistakes() {
    let head = "model\n  schema 1.1\ntype user\n";
    let m = |body: &str| format!("{head}type doc\n  relations\n{body}");
    // Different operators at one level need parentheses.
    assert_eq!(
        fga_kinds(&m(
            "    define a: [user]\n    define b: [user]\n    define c: [user] or a and b\n"
        )),
        vec![ErrorKind::Syntax]
    );
    // The relation after `from` may only list types.
    assert_eq!(
        fga_kinds(&format!(
            "{head}type group\n  relations\n    define member: [user]\n    define parent: [group#member]\ntype doc\n  relations\n    define parent: [group#member]\n    define v: member from parent\n"
        ))
        .first(),
        Some(&ErrorKind::InvalidArrow)
    );
    assert_eq!(
        fga_kinds(&m("    define a: [user]\n    define b: a or a\n")),
        vec![ErrorKind::Duplicate]
    );
    assert_eq!(
        fga_kinds(&m("    define a: [user] or b\n    define b: [user] or a\n")),
        vec![ErrorKind::NoEntryPoint, ErrorKind::NoEntryPoint]
    );
    assert_eq!(
        fga_kinds(&m("    define this: [user]\n")),
        vec![ErrorKind::InvalidName]
    );
    assert_eq!(
        fga_kinds(&m("    define a: [usr]\n")),
        vec![ErrorKind::UndefinedType]
    );
    assert_eq!(
        fga_kinds("model\n  schema 1.0\ntype user\n"),
        vec![ErrorKind::Syntax]
    );
    let cond = Schema::from_openfga(&format!(
        "{head}type doc\n  relations\n    define a: [user with ok, user]\ncondition ok(x: int) {{\n  x < 3\n}}\n"
    ));
    let cond = cond.expect("a model with a condition");
    assert_eq!(
        cond.caveats["ok"].params,
        vec![("x".to_owned(), ParamType::Int)]
    );
    assert_eq!(
        cond.relation("doc", "a").map(|r| r.allowed.len()),
        Some(2),
        "`user with ok` and `user` are two entries"
    );
    assert_eq!(
        fga_kinds(&format!(
            "{head}type doc\n  relations\n    define a: [user with nope]\n"
        )),
        vec![ErrorKind::UndefinedCaveat]
    );
    // Unions that loop among relations without tuples are fine when they have an entry.
    assert_eq!(
        fga_kinds(&m(
            "    define admin: [user]\n    define a: admin or b\n    define b: admin or a\n"
        )),
        vec![]
    );
}

#[test]
fn spicedb_relation_names_reach_64_characters() {
    let schema = |n: usize| {
        format!(
            "definition user {{}}\ndefinition d {{ relation {}: user }}",
            "r".repeat(n)
        )
    };
    assert_eq!(kinds(&schema(64)), Vec::<ErrorKind>::new());
    assert_eq!(kinds(&schema(65)), vec![ErrorKind::InvalidName]);
}
