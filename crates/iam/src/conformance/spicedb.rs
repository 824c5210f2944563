//! SpiceDB validation files (`schema`, `relationships`, `assertions`, `validation`) and the
//! cross-API agreement check SpiceDB's own consistency suite runs on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use uuid::Uuid;

use crate::caveat::Context;
use crate::engine::{CacheConfig, Engine, Permissionship, ReadOptions};
use crate::error::EngineError;
use crate::schema::{Feature, Schema};
use crate::store::WriteBatch;
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

use super::{Report, schema_features};

#[derive(Debug, Deserialize)]
pub struct ValidationFile {
    #[serde(default)]
    pub schema: String,
    /// `schemaFile`: the schema in a file of its own, relative to this one.
    #[serde(default, rename = "schemaFile")]
    pub schema_file: Option<String>,
    #[serde(default)]
    pub relationships: Option<String>,
    #[serde(default)]
    pub assertions: Option<Assertions>,
    /// `resource#permission` → `["[subject] is <…>", …]`.
    #[serde(default)]
    pub validation: Option<BTreeMap<String, Option<Vec<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assertions {
    #[serde(default)]
    pub assert_true: Option<Vec<String>>,
    #[serde(default)]
    pub assert_false: Option<Vec<String>>,
    #[serde(default)]
    pub assert_caveated: Option<Vec<String>>,
}

/// A validation file loaded into a fresh org.
pub struct Loaded {
    pub engine: Engine,
    pub org: Uuid,
    pub tuples: Vec<Tuple>,
}

/// Why a file could not be loaded.
pub enum LoadError {
    Unsupported(Feature),
    Invalid(String),
}

/// Parses the schema and relationships and writes them into a new org, for an engine with the
/// default cache.
pub async fn load(
    db: &kernel::Db,
    file: &ValidationFile,
) -> anyhow::Result<Result<Loaded, LoadError>> {
    load_with(db, file, CacheConfig::default()).await
}

/// [`load`], for an engine with the given cache.
pub async fn load_with(
    db: &kernel::Db,
    file: &ValidationFile,
    cache: CacheConfig,
) -> anyhow::Result<Result<Loaded, LoadError>> {
    let schema = match Schema::parse(&file.schema) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Err(match e.unsupported() {
                Some(f) => LoadError::Unsupported(f),
                None => LoadError::Invalid(format!("schema refused: {e}")),
            }));
        }
    };
    let mut tuples = Vec::new();
    for line in file.relationships.as_deref().unwrap_or("").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        match Tuple::parse(line) {
            Ok(t) => tuples.push(t),
            Err(e) => return Ok(Err(LoadError::Invalid(format!("relationship {line}: {e}")))),
        }
    }
    let engine = Engine::with_cache(db.clone(), schema, cache);
    let org = Uuid::now_v7();
    match engine.write(org, &WriteBatch::touch(tuples.clone())).await {
        Ok(_) => {}
        Err(EngineError::Db(e)) => return Err(e).context("writing relationships"),
        Err(e) => {
            return Ok(Err(LoadError::Invalid(format!(
                "relationships refused: {e}"
            ))));
        }
    }
    Ok(Ok(Loaded {
        engine,
        org,
        tuples,
    }))
}

/// Reads a validation file (`text`, read from `path`), with its `schemaFile` if it names one.
pub fn parse_file(path: &Path, text: &str) -> anyhow::Result<ValidationFile> {
    let label = path.display();
    let mut file: ValidationFile = yaml_serde::from_str(text)
        .with_context(|| format!("{label}: not a SpiceDB validation file"))?;
    if let Some(name) = &file.schema_file {
        anyhow::ensure!(
            file.schema.trim().is_empty(),
            "{label}: both `schema` and `schemaFile`"
        );
        let schema = path.parent().unwrap_or(Path::new(".")).join(name);
        file.schema = std::fs::read_to_string(&schema)
            .with_context(|| format!("{label}: cannot read schemaFile {}", schema.display()))?;
    }
    Ok(file)
}

/// An assertion: `resource#permission@subject`, optionally `with {"param": value}` (the
/// request's caveat context).
pub fn parse_assertion(text: &str) -> Result<(Tuple, Context), String> {
    let (tuple, context) = match text.trim().split_once(" with ") {
        Some((t, ctx)) => (t, Context::parse(ctx.trim())?),
        None => (text.trim(), Context::default()),
    };
    Ok((Tuple::parse(tuple).map_err(|e| e.to_string())?, context))
}

/// Runs a file's assertions and validation block.
pub async fn run_file(
    db: &kernel::Db,
    path: &Path,
    text: &str,
    cache: CacheConfig,
) -> anyhow::Result<Report> {
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let label = label.as_str();
    let file = parse_file(path, text)?;
    let mut report = Report::default();
    let a = file.assertions.as_ref();
    let trues = a.and_then(|a| a.assert_true.clone()).unwrap_or_default();
    let falses = a.and_then(|a| a.assert_false.clone()).unwrap_or_default();
    let caveated = a
        .and_then(|a| a.assert_caveated.clone())
        .unwrap_or_default();
    let validations: Vec<(String, Vec<String>)> = file
        .validation
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let total = trues.len() + falses.len() + caveated.len() + validations.len();
    let loaded = match load_with(db, &file, cache).await? {
        Ok(l) => l,
        Err(LoadError::Unsupported(f)) => {
            report.skip(f, total);
            return Ok(report);
        }
        Err(LoadError::Invalid(why)) => {
            for _ in 0..total {
                report.fail(&["spicedb".to_owned()], format!("{label}: {why}"));
            }
            return Ok(report);
        }
    };
    let mut feats = schema_features(loaded.engine.schema(), "spicedb");
    feats.push("spicedb".to_owned());
    type Holds = fn(&Permissionship) -> bool;
    let expectations: [(&Vec<String>, &str, Holds); 3] = [
        (&trues, "True", Permissionship::is_allowed),
        (&falses, "False", |p| *p == Permissionship::Denied),
        (&caveated, "Caveated", |p| {
            matches!(p, Permissionship::Conditional(_))
        }),
    ];
    for (list, want, holds) in expectations {
        for assertion in list {
            let mut f = feats.clone();
            f.push(format!("spicedb assert{want}"));
            let outcome = async {
                let (t, context) = parse_assertion(assertion)?;
                let opts = ReadOptions {
                    context,
                    ..ReadOptions::default()
                };
                let got = loaded
                    .engine
                    .check_caveated(loaded.org, &t.object, &t.relation, &t.subject, &opts)
                    .await
                    .map_err(|e| e.to_string())?
                    .value;
                if holds(&got) {
                    Ok(())
                } else {
                    Err(format!("expected assert{want}, got {got:?}"))
                }
            }
            .await;
            report.record(
                &f,
                outcome.map_err(|e| format!("{label}: {assertion}: {e}")),
            );
        }
    }
    for (key, expected) in &validations {
        let mut f = feats.clone();
        f.push("spicedb validation".to_owned());
        let outcome = validate_block(&loaded, key, expected).await;
        report.record(
            &f,
            outcome.map_err(|e| format!("{label}: validation {key}: {e}")),
        );
    }
    report.cache_hits += loaded.engine.cache_stats().await.hits;
    Ok(report)
}

/// A `validation` entry: `resource#permission: ["[subject] is <…>", …]`. Every listed subject
/// must pass check, and for each subject type listed, lookup_subjects must find exactly the
/// listed subjects of that type.
async fn validate_block(loaded: &Loaded, key: &str, expected: &[String]) -> Result<(), String> {
    let (obj, rel) = key
        .split_once('#')
        .ok_or_else(|| format!("`{key}` is not `resource#permission`"))?;
    let object = ObjectRef::parse(obj).map_err(|e| e.to_string())?;
    let mut by_type: BTreeMap<(String, Option<String>), BTreeSet<String>> = BTreeMap::new();
    for line in expected {
        let subject = line
            .trim()
            .strip_prefix('[')
            .and_then(|s| s.split_once(']'))
            .map(|(s, _)| s)
            .ok_or_else(|| format!("cannot read `{line}`"))?;
        let s = SubjectRef::parse(subject).map_err(|e| e.to_string())?;
        let opts = ReadOptions::default();
        let ok = loaded
            .engine
            .check(loaded.org, &object, rel, &s, &opts)
            .await
            .map_err(|e| e.to_string())?
            .value;
        if !ok {
            return Err(format!("check says {s} does not hold it"));
        }
        by_type
            .entry((s.subject_type.clone(), s.relation.clone()))
            .or_default()
            .insert(s.to_string());
    }
    for ((t, r), want) in by_type {
        let found = loaded
            .engine
            .lookup_subjects(
                loaded.org,
                &object,
                rel,
                &t,
                r.as_deref(),
                &ReadOptions::default(),
            )
            .await
            .map_err(|e| e.to_string())?
            .value;
        let got: BTreeSet<String> = found.iter().map(ToString::to_string).collect();
        if got != want {
            return Err(format!("lookup_subjects found {got:?}, expected {want:?}"));
        }
    }
    Ok(())
}

/// The objects a file names (resources and subjects' objects) and the subjects to ask about:
/// every subject of a tuple, every object as a plain subject, and every object as a userset for
/// each relation the schema lets tuples name as one (`team#member`).
pub fn universe(loaded: &Loaded) -> (BTreeSet<ObjectRef>, BTreeSet<SubjectRef>) {
    let schema = loaded.engine.schema();
    let mut objects: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut subjects: BTreeSet<SubjectRef> = BTreeSet::new();
    for t in &loaded.tuples {
        objects.insert(t.object.clone());
        if !t.subject.is_wildcard() {
            objects.insert(ObjectRef::new(
                t.subject.subject_type.clone(),
                t.subject.subject_id.clone(),
            ));
        }
        subjects.insert(t.subject.clone());
    }
    let userset_relations: BTreeSet<(String, String)> = schema
        .types
        .values()
        .flat_map(|d| d.relations.values())
        .flat_map(|r| r.allowed.iter())
        .filter_map(|a| match &a.kind {
            crate::schema::AllowedKind::Userset(r) => Some((a.subject_type.clone(), r.clone())),
            _ => None,
        })
        .collect();
    for o in &objects {
        subjects.insert(SubjectRef::object(
            o.object_type.clone(),
            o.object_id.clone(),
        ));
        for (t, r) in &userset_relations {
            if *t == o.object_type {
                subjects.insert(SubjectRef::userset(
                    t.clone(),
                    o.object_id.clone(),
                    r.clone(),
                ));
            }
        }
    }
    (objects, subjects)
}

/// SpiceDB's consistency check without an oracle: for every resource × permission × subject
/// named in the file, check, lookup_resources and lookup_subjects must agree. Returns the
/// number of (resource, permission, subject) triples compared, or the disagreements.
pub async fn agreement(loaded: &Loaded) -> anyhow::Result<Result<usize, Vec<String>>> {
    let schema = loaded.engine.schema();
    let opts = ReadOptions::default();
    let (objects, subjects) = universe(loaded);
    let mut problems = Vec::new();
    let mut compared = 0;
    let org = loaded.org;
    let engine = &loaded.engine;
    for (type_name, def) in &schema.types {
        let resources: Vec<&ObjectRef> = objects
            .iter()
            .filter(|o| &o.object_type == type_name)
            .collect();
        for rel in def.relations.keys() {
            let mut listed: BTreeMap<(&ObjectRef, String, Option<String>), Vec<SubjectRef>> =
                BTreeMap::new();
            for s in subjects.iter().filter(|s| !s.is_wildcard()) {
                let found: BTreeMap<String, Permissionship> = match engine
                    .lookup_resources_caveated(org, type_name, rel, s, &opts)
                    .await
                {
                    Ok(a) => a.value.into_iter().collect(),
                    Err(EngineError::Db(e)) => return Err(e.into()),
                    Err(e) => {
                        problems.push(format!("lookup_resources {type_name}#{rel}@{s}: {e}"));
                        continue;
                    }
                };
                let items: Vec<(ObjectRef, String, SubjectRef)> = resources
                    .iter()
                    .map(|r| ((*r).clone(), rel.clone(), s.clone()))
                    .collect();
                let checks = match engine.check_bulk(org, &items, &opts).await {
                    Ok(a) => a.value,
                    Err(e) => return Err(e.into()),
                };
                for (r, checked) in resources.iter().zip(checks) {
                    compared += 1;
                    let checked = match checked {
                        Ok(c) => c,
                        Err(e) => {
                            problems.push(format!("check {r}#{rel}@{s}: {e}"));
                            continue;
                        }
                    };
                    let looked_up = found
                        .get(&r.object_id)
                        .cloned()
                        .unwrap_or(Permissionship::Denied);
                    if checked != looked_up {
                        problems.push(format!(
                            "{r}#{rel}@{s}: check says {checked:?}, lookup_resources says {looked_up:?}"
                        ));
                    }
                    let checked = checked != Permissionship::Denied;
                    let key = (*r, s.subject_type.clone(), s.relation.clone());
                    if !listed.contains_key(&key) {
                        let l = match engine
                            .lookup_subjects_caveated(
                                org,
                                r,
                                rel,
                                &s.subject_type,
                                s.relation.as_deref(),
                                &opts,
                            )
                            .await
                        {
                            Ok(a) => a.value.into_iter().map(|(s, _)| s).collect(),
                            Err(EngineError::Db(e)) => return Err(e.into()),
                            Err(e) => {
                                problems.push(format!("lookup_subjects {r}#{rel}: {e}"));
                                Vec::new()
                            }
                        };
                        listed.insert(key.clone(), l);
                    }
                    let l = listed.get(&key).map(Vec::as_slice).unwrap_or_default();
                    let named = l.contains(s);
                    let via_wildcard = s.relation.is_none()
                        && l.contains(&SubjectRef::wildcard(s.subject_type.clone()));
                    if checked && !(named || via_wildcard) {
                        problems.push(format!(
                            "{r}#{rel}@{s}: check says true, lookup_subjects does not list it"
                        ));
                    }
                    if !checked && named {
                        problems.push(format!(
                            "{r}#{rel}@{s}: check says false, lookup_subjects lists it"
                        ));
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
