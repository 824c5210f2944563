//! The conformance runner: loads the public OpenFGA and SpiceDB test data into fresh orgs of a
//! real database and runs every assertion against the engine.
//!
//! Formats (detected from each file's content):
//! - OpenFGA consolidated test files (`tests:` → `stages:`), see [`openfga`];
//! - OpenFGA CLI store files (`*.fga.yaml`: `model`/`model_file`, `tuples`/`tuple_file`, `tests`);
//! - SpiceDB validation files (`schema`, `relationships`, `assertions`, `validation`), see
//!   [`spicedb`];
//! - OpenFGA's language cases (DSL validation, object-id syntax), see [`language`].
//!
//! Assertions that need a feature the engine does not support (`self`, which no suite file
//! uses) are skipped and counted per feature; everything else passes or fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::engine::CacheConfig;
use crate::schema::{AllowedKind, Feature, Rewrite, Schema};

pub mod language;
pub mod openfga;
pub mod spicedb;

/// How the runner runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Also run every single-stage OpenFGA test (≤ 100 tuples) a second time with its tuples
    /// sent as contextual tuples instead of written, as OpenFGA's own runner does.
    pub contextual_replay: bool,
    /// The cache of each engine the runner builds (one per model). Assertions of one model
    /// share it, so later assertions reuse what earlier ones resolved.
    pub cache: CacheConfig,
}

/// Results per feature, skips per unsupported feature, and every failure with its reason.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// feature → (passed, failed). An assertion counts under every feature it exercises.
    pub features: BTreeMap<String, (usize, usize)>,
    /// unsupported feature → assertions skipped.
    pub skips: BTreeMap<String, usize>,
    pub failures: Vec<String>,
    /// YAML files in a folder that are not test files.
    pub ignored: Vec<String>,
    /// Sub-problems answered from an engine's cache (resolved by an earlier query).
    pub cache_hits: u64,
}

impl Report {
    pub fn pass(&mut self, features: &[String]) {
        self.passed += 1;
        for f in features {
            self.features.entry(f.clone()).or_default().0 += 1;
        }
    }

    pub fn fail(&mut self, features: &[String], why: String) {
        self.failed += 1;
        for f in features {
            self.features.entry(f.clone()).or_default().1 += 1;
        }
        self.failures.push(why);
    }

    /// Records an outcome: `Ok(())` passes, `Err(why)` fails.
    pub fn record(&mut self, features: &[String], outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.pass(features),
            Err(why) => self.fail(features, why),
        }
    }

    pub fn skip(&mut self, feature: Feature, count: usize) {
        if count > 0 {
            self.skipped += count;
            *self.skips.entry(feature.to_string()).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: Report) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        for (k, (p, f)) in other.features {
            let e = self.features.entry(k).or_default();
            e.0 += p;
            e.1 += f;
        }
        for (k, n) in other.skips {
            *self.skips.entry(k).or_default() += n;
        }
        self.failures.extend(other.failures);
        self.ignored.extend(other.ignored);
        self.cache_hits += other.cache_hits;
    }

    /// The last line: `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// The per-feature table, the skips, the failures and the summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .features
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(out, "{:width$}  passed  failed", "feature");
        for (f, (p, x)) in &self.features {
            let _ = writeln!(out, "{f:width$}  {p:>6}  {x:>6}");
        }
        if !self.skips.is_empty() {
            let _ = writeln!(out, "skipped (unsupported features):");
            for (f, n) in &self.skips {
                let _ = writeln!(out, "  {f}: {n}");
            }
        }
        for f in &self.ignored {
            let _ = writeln!(out, "ignored (not a test file): {f}");
        }
        let _ = writeln!(
            out,
            "sub-problems answered from the cache: {}",
            self.cache_hits
        );
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failures:");
            for f in &self.failures {
                let _ = writeln!(out, "  {f}");
            }
        }
        out.push_str(&self.summary_line());
        out
    }
}

/// Runs every test file under `path` (a file, or a folder searched recursively for `.yaml`
/// files) against `db`, whose migrations must be applied.
///
/// In a folder, YAML files of no known test format (a store's tuple file, say) are listed as
/// ignored; a file named explicitly must be a test file.
pub async fn run_path(db: &kernel::Db, path: &Path, opts: &RunOptions) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let explicit = path.is_file();
    for file in test_files(path)? {
        match run_file(db, &file, opts).await? {
            Some(r) => report.merge(r),
            None if explicit => {
                anyhow::bail!(
                    "{}: not a test file format the runner knows",
                    file.display()
                )
            }
            None => report.ignored.push(file.display().to_string()),
        }
    }
    Ok(report)
}

/// The YAML files under `path`, sorted (a file is returned as is).
pub fn test_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let p = entry?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs one file, whatever its format; `None` when it is not a test file the runner knows.
pub async fn run_file(
    db: &kernel::Db,
    file: &Path,
    opts: &RunOptions,
) -> anyhow::Result<Option<Report>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: yaml_serde::Value =
        yaml_serde::from_str(&text).with_context(|| format!("{} is not YAML", file.display()))?;
    let label = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let has = |k: &str| value.get(k).is_some();
    let first_has = |k: &str| {
        value
            .as_sequence()
            .is_some_and(|s| s.first().is_some_and(|c| c.get(k).is_some()))
    };
    let spicedb = (has("schema") || has("schemaFile"))
        && (has("relationships") || has("assertions") || has("validation"));
    let report = if spicedb {
        spicedb::run_file(db, file, &text, opts.cache).await?
    } else if has("tests") && (has("model") || has("model_file")) {
        openfga::run_store_file(db, file, &text, opts.cache).await?
    } else if has("tests") {
        openfga::run_consolidated(db, &label, &text, opts).await?
    } else if first_has("dsl") {
        language::run_dsl_cases(&label, &text)?
    } else if first_has("object_id") {
        language::run_object_id_cases(&label, &text)?
    } else {
        return Ok(None);
    };
    Ok(Some(report))
}

/// The features a schema exercises, for the per-feature table (`prefix` names the suite).
pub fn schema_features(schema: &Schema, prefix: &str) -> Vec<String> {
    fn walk(rw: &Rewrite, out: &mut Vec<&'static str>) {
        match rw {
            Rewrite::This => {}
            Rewrite::Nil => out.push("nil"),
            Rewrite::Computed(_) => out.push("computed userset"),
            Rewrite::Arrow {
                mode: crate::schema::ArrowMode::All,
                ..
            } => out.push("arrow .all()"),
            Rewrite::Arrow { .. } => out.push("arrow / tuple-to-userset"),
            Rewrite::Union(p) => {
                out.push("union");
                p.iter().for_each(|x| walk(x, out));
            }
            Rewrite::Intersection(p) => {
                out.push("intersection");
                p.iter().for_each(|x| walk(x, out));
            }
            Rewrite::Exclusion(a, b) => {
                out.push("exclusion");
                walk(a, out);
                walk(b, out);
            }
        }
    }
    let mut found = Vec::new();
    for (name, def) in &schema.types {
        if name.contains('/') {
            found.push("prefixed type names");
        }
        for rel in def.relations.values() {
            walk(&rel.rewrite, &mut found);
            for a in &rel.allowed {
                match a.kind {
                    AllowedKind::Wildcard => found.push("wildcard"),
                    AllowedKind::Userset(_) => found.push("userset subjects"),
                    AllowedKind::Object => {}
                }
                if a.caveat.is_some() {
                    found.push("caveats");
                }
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found.into_iter().map(|f| format!("{prefix} {f}")).collect()
}

/// Connects to `url` (a fresh SQLite file in a temporary folder when `None`) and applies the
/// iam migrations. Keep the returned folder alive as long as the database is used.
pub async fn connect(url: Option<&str>) -> anyhow::Result<(kernel::Db, Option<tempfile::TempDir>)> {
    let (url, dir) = match url {
        Some(u) => (u.to_owned(), None),
        None => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("iam.db").display());
            (url, Some(dir))
        }
    };
    let mut opts = sea_orm::ConnectOptions::new(url.clone());
    opts.sqlx_logging(false).max_connections(4);
    let conn = sea_orm::Database::connect(opts)
        .await
        .with_context(|| format!("cannot connect to {}", kernel::config::redact_url(&url)))?;
    migrate(&conn).await?;
    Ok((kernel::Db::from_connection(conn), dir))
}

/// Applies the iam module's migrations (tracked, so running twice is a no-op).
pub async fn migrate(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use kernel::PlatformModule as _;
    let iam = crate::Iam::default();
    cell_migrations::up(
        conn,
        &[cell_migrations::ModuleMigrations {
            module: iam.name().to_owned(),
            migrations: iam.migrations(),
        }],
    )
    .await?;
    Ok(())
}
