//! Shared helpers: a migrated database per test and the path of the conformance data.

use std::path::PathBuf;

use iam::{SubjectRef, Tuple};
use kernel::PlatformModule;
use testkit::TestDb;

/// `shared/conformance/`, beside the repository checkout (as in CI).
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance"
    ))
}

/// The engine's database on a fresh test database, migrated.
pub async fn migrated(db: &TestDb) -> anyhow::Result<kernel::Db> {
    let (db, _none) = iam::conformance::connect(Some(db.url())).await?;
    Ok(db)
}

/// The SpiceDB files the engine supports (no caveats, expiration or `self`), parsed.
pub fn supported_spicedb_files()
-> anyhow::Result<Vec<(String, iam::conformance::spicedb::ValidationFile)>> {
    let dir = conformance_dir().join("spicedb/testconfigs");
    let mut out = Vec::new();
    for path in iam::conformance::test_files(&dir)? {
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path)?;
        let file = iam::conformance::spicedb::parse_file(&path, &text)?;
        let uses_unsupported = iam::Schema::parse(&file.schema)
            .err()
            .is_some_and(|e| e.unsupported().is_some());
        if !uses_unsupported {
            out.push((label, file));
        }
    }
    Ok(out)
}

/// A tuple from its text form (`doc:1#viewer@user:ann`).
pub fn t(s: &str) -> anyhow::Result<Tuple> {
    Ok(Tuple::parse(s)?)
}

/// The subject `user:<id>`.
pub fn user(id: &str) -> SubjectRef {
    SubjectRef::object("user", id)
}

/// A module that only declares namespaces.
pub struct Docs(pub &'static str);

#[kernel::async_trait::async_trait]
impl PlatformModule for Docs {
    fn name(&self) -> &'static str {
        "docs"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn permission_schema(&self) -> &'static str {
        self.0
    }
}
