//! A property test: for random small schemas (unions, intersections, exclusions, arrows,
//! wildcards, nested groups, caveats) and random tuples, check, lookup_resources and
//! lookup_subjects agree on every resource × permission × subject, conditional answers
//! included (`iam::conformance::spicedb::agreement`). On SQLite, one org per case.

use std::fmt::Write as _;

use iam::conformance::spicedb::{LoadError, ValidationFile, agreement, load};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A deterministic generator driven by the case's seed (proptest picks the seeds).
struct Rng(fastrand::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n.max(1))
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SUBJECT_KINDS: [&str; 4] = ["user", "user:*", "group#member", "user with over"];

/// A permission expression over `names`, at most `depth` operators deep.
fn expr(rng: &mut Rng, names: &[&str], depth: u32) -> String {
    if depth == 0 || rng.below(3) == 0 {
        return rng.pick(names).to_owned();
    }
    let op = rng.pick(&["+", "&", "-"]);
    format!(
        "({} {op} {})",
        expr(rng, names, depth - 1),
        expr(rng, names, depth - 1)
    )
}

/// A schema and relationships for one seed.
fn case(seed: u64) -> ValidationFile {
    let mut rng = Rng(fastrand::Rng::with_seed(seed));
    let mut schema = String::from(
        "definition user {}\ncaveat over(x int) { x > 1 }\n\
         definition group { relation member: user | group#member }\ndefinition doc {\n  relation parent: doc\n",
    );
    let mut allowed: Vec<Vec<&str>> = Vec::new();
    for r in 1..=3 {
        let mut kinds: Vec<&str> = SUBJECT_KINDS
            .iter()
            .copied()
            .filter(|_| rng.below(2) == 0)
            .collect();
        if kinds.is_empty() {
            kinds.push("user");
        }
        let _ = writeln!(schema, "  relation r{r}: {}", kinds.join(" | "));
        allowed.push(kinds);
    }
    let p1 = expr(&mut rng, &["r1", "r2", "r3"], 2);
    let p2 = expr(
        &mut rng,
        &["r1", "r2", "r3", "p1", "parent->p1", "parent->p2"],
        2,
    );
    let _ = write!(
        schema,
        "  permission p1 = {p1}\n  permission p2 = {p2}\n}}\n"
    );

    let mut rels = Vec::new();
    for _ in 0..3 + rng.below(4) {
        rels.push(format!(
            "group:g{}#member@user:u{}",
            rng.below(3),
            rng.below(4)
        ));
    }
    if rng.below(2) == 0 {
        rels.push(format!(
            "group:g{}#member@group:g{}#member",
            rng.below(3),
            rng.below(3)
        ));
    }
    for _ in 0..rng.below(3) {
        rels.push(format!(
            "doc:d{}#parent@doc:d{}",
            rng.below(4),
            rng.below(4)
        ));
    }
    for _ in 0..6 + rng.below(8) {
        let r = rng.below(3);
        let doc = format!("doc:d{}#r{}", rng.below(4), r + 1);
        let subject = match rng.pick(&allowed[r]) {
            "user" => format!("user:u{}", rng.below(4)),
            "user:*" => "user:*".to_owned(),
            "group#member" => format!("group:g{}#member", rng.below(3)),
            // No context (conditional) or a value that decides it either way.
            _ => match rng.below(3) {
                0 => format!("user:u{}[over]", rng.below(4)),
                n => format!("user:u{}[over:{{\"x\":{n}}}]", rng.below(4)),
            },
        };
        rels.push(format!("{doc}@{subject}"));
    }
    ValidationFile {
        schema,
        schema_file: None,
        relationships: Some(rels.join("\n")),
        assertions: None,
        validation: None,
    }
}

#[test]
fn random_schemas_and_tuples_agree_across_check_and_lookups() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (db, _dir) = rt.block_on(iam::conformance::connect(None))?;
    let compared = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let result = runner.run(&proptest::num::u64::ANY, |seed| {
        let file = case(seed);
        let outcome = rt.block_on(async {
            let loaded = match load(&db, &file).await? {
                Ok(l) => l,
                // A generated schema the validator refuses (a permission nothing can grant).
                Err(LoadError::Invalid(_) | LoadError::Unsupported(_)) => return anyhow::Ok(None),
            };
            Ok(Some(agreement(&loaded).await?))
        });
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(Ok(n))) => {
                compared.set(compared.get() + n);
                Ok(())
            }
            Ok(Some(Err(problems))) => Err(TestCaseError::fail(format!(
                "schema:\n{}\nrelationships:\n{}\n{}",
                file.schema,
                file.relationships.unwrap_or_default(),
                problems.join("\n")
            ))),
            Err(e) => Err(TestCaseError::fail(e.to_string())),
        }
    });
    if let Err(e) = result {
        anyhow::bail!("{e}");
    }
    let compared = compared.get();
    assert!(
        compared > 1000,
        "only {compared} answers compared: most generated schemas were refused"
    );
    Ok(())
}
