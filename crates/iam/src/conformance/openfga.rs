//! OpenFGA test data: the consolidated suite (`tests:` → `stages:`) and CLI store files
//! (`fga model test`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use uuid::Uuid;

use crate::caveat::Context;
use crate::engine::{CacheConfig, Engine, Permissionship, ReadOptions};
use crate::error::EngineError;
use crate::schema::Schema;
use crate::store::WriteBatch;
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

use super::{Report, RunOptions, schema_features};

#[derive(Debug, Clone, Deserialize)]
pub struct FgaTuple {
    pub object: String,
    pub relation: String,
    pub user: String,
    #[serde(default)]
    pub condition: Option<yaml_serde::Value>,
}

impl FgaTuple {
    fn parse(&self) -> Result<Tuple, String> {
        let object = ObjectRef::parse(&self.object).map_err(|e| e.to_string())?;
        let subject = SubjectRef::parse(&self.user).map_err(|e| e.to_string())?;
        let tuple = Tuple::new(object, self.relation.clone(), subject);
        let Some(condition) = &self.condition else {
            return Ok(tuple);
        };
        // `condition: {name, context?}`
        #[derive(Deserialize)]
        struct Condition {
            name: String,
            #[serde(default)]
            context: Option<yaml_serde::Value>,
        }
        let c: Condition =
            yaml_serde::from_value(condition.clone()).map_err(|e| format!("condition: {e}"))?;
        Ok(tuple.with_caveat(c.name, context_of(&c.context)?))
    }
}

/// A request's or tuple's `context` as a caveat context.
fn context_of(value: &Option<yaml_serde::Value>) -> Result<Context, String> {
    let Some(v) = value else {
        return Ok(Context::default());
    };
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(map)) => Ok(Context::new(map)),
        Ok(serde_json::Value::Null) => Ok(Context::default()),
        _ => Err("a context must be a map".into()),
    }
}

/// OpenFGA answers a check whose conditions lack context parameters with an error.
fn missing_context(missing: &[String]) -> EngineError {
    EngineError::Caveat(format!(
        "missing context parameters: {}",
        missing.join(", ")
    ))
}

#[derive(Debug, Deserialize)]
struct Consolidated {
    tests: Vec<FgaTest>,
}

#[derive(Debug, Deserialize)]
struct FgaTest {
    name: String,
    stages: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stage {
    model: String,
    #[serde(default)]
    tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    check_assertions: Option<Vec<CheckAssertion>>,
    #[serde(default)]
    list_objects_assertions: Option<Vec<ListObjectsAssertion>>,
    #[serde(default)]
    list_users_assertions: Option<Vec<ListUsersAssertion>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckAssertion {
    tuple: FgaTuple,
    #[serde(default)]
    expectation: Option<bool>,
    #[serde(default)]
    error_code: Option<u32>,
    #[serde(default)]
    contextual_tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
struct ListObjectsRequest {
    user: String,
    #[serde(rename = "type")]
    object_type: String,
    relation: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListObjectsAssertion {
    request: ListObjectsRequest,
    #[serde(default)]
    expectation: Option<Vec<String>>,
    #[serde(default)]
    error_code: Option<u32>,
    #[serde(default)]
    contextual_tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
struct ListUsersRequest {
    filters: Vec<String>,
    object: String,
    relation: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListUsersAssertion {
    request: ListUsersRequest,
    #[serde(default)]
    expectation: Option<Vec<String>>,
    #[serde(default)]
    error_code: Option<u32>,
    #[serde(default)]
    contextual_tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
}

/// Which OpenFGA API an error answers (the same engine error maps to different codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Check,
    ListObjects,
    ListUsers,
}

/// The OpenFGA error code of an engine error (openfga/api `ErrorCode`): 2000
/// validation_error, 2002 resolution too complex, 2021 type not found, 2022 relation not
/// found, 2027 invalid tuple.
pub fn error_code(api: Api, e: &EngineError) -> Option<u32> {
    match e {
        EngineError::InvalidTuple(_) => Some(2027),
        EngineError::DepthExceeded(_) => Some(2002),
        EngineError::InvalidSubject(_) | EngineError::Caveat(_) => Some(2000),
        EngineError::UnknownType(_) if api == Api::Check => Some(2000),
        EngineError::UnknownType(_) => Some(2021),
        EngineError::UnknownRelation { .. } if api == Api::Check => Some(2000),
        EngineError::UnknownRelation { .. } => Some(2022),
        _ => None,
    }
}

/// What an assertion got: a value, or an error with its OpenFGA code.
enum Got<T> {
    Value(T),
    Code(u32, String),
}

fn compare<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: Result<Got<T>, String>,
    expected: Result<T, u32>,
) -> Result<(), String> {
    match (got?, expected) {
        (Got::Value(g), Ok(e)) if g == e => Ok(()),
        (Got::Code(c, _), Err(e)) if c == e => Ok(()),
        (Got::Value(g), Ok(e)) => Err(format!("{what}: expected {e:?}, got {g:?}")),
        (Got::Value(g), Err(e)) => Err(format!("{what}: expected error {e}, got {g:?}")),
        (Got::Code(c, m), Ok(e)) => Err(format!("{what}: expected {e:?}, got error {c} ({m})")),
        (Got::Code(c, m), Err(e)) => {
            Err(format!("{what}: expected error {e}, got error {c} ({m})"))
        }
    }
}

fn got<T>(api: Api, r: Result<T, EngineError>) -> Result<Got<T>, String> {
    match r {
        Ok(v) => Ok(Got::Value(v)),
        Err(e) => match error_code(api, &e) {
            Some(c) => Ok(Got::Code(c, e.to_string())),
            None => Err(format!("unexpected error: {e}")),
        },
    }
}

/// An OpenFGA Check: request strings that do not parse are validation errors (2000).
async fn check(
    engine: &Engine,
    org: Uuid,
    object: &str,
    relation: &str,
    user: &str,
    opts: &ReadOptions,
) -> Result<bool, EngineError> {
    let invalid = |e: crate::tuple::TupleError| EngineError::InvalidSubject(e.to_string());
    let object = ObjectRef::parse(object).map_err(invalid)?;
    let subject = SubjectRef::parse(user).map_err(invalid)?;
    match engine
        .check_caveated(org, &object, relation, &subject, opts)
        .await?
        .value
    {
        Permissionship::Allowed => Ok(true),
        Permissionship::Denied => Ok(false),
        Permissionship::Conditional(m) => Err(missing_context(&m)),
    }
}

/// The items of a caveated lookup, or the error OpenFGA gives when one is conditional.
fn definite<T>(items: Vec<(T, Permissionship)>) -> Result<Vec<T>, EngineError> {
    items
        .into_iter()
        .map(|(t, p)| match p {
            Permissionship::Conditional(m) => Err(missing_context(&m)),
            _ => Ok(t),
        })
        .collect()
}

/// An OpenFGA ListObjects, answered as `type:id` strings.
async fn list_objects(
    engine: &Engine,
    org: Uuid,
    object_type: &str,
    relation: &str,
    user: &str,
    opts: &ReadOptions,
) -> Result<BTreeSet<String>, EngineError> {
    let subject =
        SubjectRef::parse(user).map_err(|e| EngineError::InvalidSubject(e.to_string()))?;
    let ids = definite(
        engine
            .lookup_resources_caveated(org, object_type, relation, &subject, opts)
            .await?
            .value,
    )?;
    Ok(set(ids.into_iter().map(|id| format!("{object_type}:{id}"))))
}

/// An OpenFGA ListUsers over `(type, relation?)` filters, answered as subject strings. It
/// resolves every path: a condition short of context anywhere is an error.
async fn list_users(
    engine: &Engine,
    org: Uuid,
    object: &str,
    relation: &str,
    filters: &[(&str, Option<&str>)],
    opts: &ReadOptions,
) -> Result<BTreeSet<String>, EngineError> {
    let object =
        ObjectRef::parse(object).map_err(|e| EngineError::InvalidSubject(e.to_string()))?;
    let opts = &ReadOptions {
        all_paths: true,
        ..opts.clone()
    };
    let mut all = BTreeSet::new();
    for (t, rel) in filters {
        let found = definite(
            engine
                .lookup_subjects_caveated(org, &object, relation, t, *rel, opts)
                .await?
                .value,
        )?;
        all.extend(found.iter().map(ToString::to_string));
    }
    Ok(all)
}

fn contextual(tuples: &Option<Vec<FgaTuple>>) -> Result<Vec<Tuple>, EngineError> {
    tuples
        .iter()
        .flatten()
        .map(|t| t.parse().map_err(EngineError::InvalidTuple))
        .collect()
}

fn set(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// Runs an OpenFGA consolidated test file: each test in a fresh org, its stages in that org
/// (each stage replaces the model; tuples accumulate).
pub async fn run_consolidated(
    db: &kernel::Db,
    label: &str,
    text: &str,
    opts: &RunOptions,
) -> anyhow::Result<Report> {
    let file: Consolidated =
        yaml_serde::from_str(text).with_context(|| format!("{label}: not a consolidated file"))?;
    let mut report = Report::default();
    for test in &file.tests {
        run_test(db, label, test, false, opts, &mut report).await?;
        if opts.contextual_replay
            && test.stages.len() == 1
            && test.stages[0].tuples.as_ref().map_or(0, Vec::len) <= 100
        {
            run_test(db, label, test, true, opts, &mut report).await?;
        }
    }
    Ok(report)
}

fn stage_assertions(stage: &Stage) -> usize {
    stage.check_assertions.as_ref().map_or(0, Vec::len)
        + stage.list_objects_assertions.as_ref().map_or(0, Vec::len)
        + stage.list_users_assertions.as_ref().map_or(0, Vec::len)
}

async fn run_test(
    db: &kernel::Db,
    label: &str,
    test: &FgaTest,
    replay: bool,
    run: &RunOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let org = Uuid::now_v7();
    let suite = if replay {
        "openfga (contextual replay)"
    } else {
        "openfga"
    };
    for (n, stage) in test.stages.iter().enumerate() {
        let at = format!("{label} {} stage {}", test.name, n + 1);
        let schema = match Schema::from_openfga(&stage.model) {
            Ok(s) => s,
            Err(e) => {
                if let Some(f) = e.unsupported() {
                    report.skip(f, stage_assertions(stage));
                } else {
                    for _ in 0..stage_assertions(stage) {
                        report.fail(&[suite.to_owned()], format!("{at}: model refused: {e}"));
                    }
                }
                continue;
            }
        };
        let engine = Engine::with_cache(db.clone(), schema, run.cache);
        let mut stage_tuples = Vec::new();
        let mut load_error = None;
        for t in stage.tuples.iter().flatten() {
            match t.parse() {
                Ok(t) => stage_tuples.push(t),
                Err(e) => load_error = Some(format!("tuple {}: {e}", t.user)),
            }
        }
        if !replay {
            // OpenFGA's runner writes in chunks of 40.
            for chunk in stage_tuples.chunks(40) {
                if let Err(e) = engine.write(org, &WriteBatch::touch(chunk.to_vec())).await {
                    load_error = Some(format!("write failed: {e}"));
                }
            }
        }
        let base_features = {
            let mut f = schema_features(engine.schema(), "openfga");
            f.push(suite.to_owned());
            f
        };
        let extra = if replay {
            stage_tuples.clone()
        } else {
            Vec::new()
        };
        let opts_for = |own: &Option<Vec<FgaTuple>>,
                        context: &Option<yaml_serde::Value>|
         -> Result<ReadOptions, EngineError> {
            let mut c = extra.clone();
            c.extend(contextual(own)?);
            Ok(ReadOptions {
                contextual: c,
                context: context_of(context).map_err(EngineError::Caveat)?,
                ..ReadOptions::default()
            })
        };
        let features = |kind: &str, a_ctx: bool, a_err: bool| {
            let mut f = base_features.clone();
            f.push(format!("openfga {kind}"));
            if a_ctx {
                f.push("openfga contextual tuples".to_owned());
            }
            if a_err {
                f.push("openfga error codes".to_owned());
            }
            f
        };

        for a in stage.check_assertions.iter().flatten() {
            let what = format!(
                "{at}: check {}#{}@{}",
                a.tuple.object, a.tuple.relation, a.tuple.user
            );
            let feats = features(
                "check",
                a.contextual_tuples.is_some(),
                a.error_code.is_some(),
            );
            if let Some(e) = &load_error {
                report.fail(&feats, format!("{what}: {e}"));
                continue;
            }
            let t = &a.tuple;
            let result = match opts_for(&a.contextual_tuples, &a.context) {
                Ok(opts) => check(&engine, org, &t.object, &t.relation, &t.user, &opts).await,
                Err(e) => Err(e),
            };
            let expected = match (a.error_code, a.expectation) {
                (Some(c), _) => Err(c),
                (None, e) => Ok(e.unwrap_or(false)),
            };
            report.record(&feats, compare(&what, got(Api::Check, result), expected));
        }

        for a in stage.list_objects_assertions.iter().flatten() {
            let r = &a.request;
            let what = format!(
                "{at}: listObjects {}#{}@{}",
                r.object_type, r.relation, r.user
            );
            let feats = features(
                "listObjects",
                a.contextual_tuples.is_some(),
                a.error_code.is_some(),
            );
            if let Some(e) = &load_error {
                report.fail(&feats, format!("{what}: {e}"));
                continue;
            }
            let result = match opts_for(&a.contextual_tuples, &a.context) {
                Ok(opts) => {
                    list_objects(&engine, org, &r.object_type, &r.relation, &r.user, &opts).await
                }
                Err(e) => Err(e),
            };
            let expected = match a.error_code {
                Some(c) => Err(c),
                None => Ok(set(a.expectation.clone().unwrap_or_default())),
            };
            report.record(
                &feats,
                compare(&what, got(Api::ListObjects, result), expected),
            );
        }

        for a in stage.list_users_assertions.iter().flatten() {
            let r = &a.request;
            let what = format!(
                "{at}: listUsers {}#{} filters {:?}",
                r.object, r.relation, r.filters
            );
            let feats = features(
                "listUsers",
                a.contextual_tuples.is_some(),
                a.error_code.is_some(),
            );
            if let Some(e) = &load_error {
                report.fail(&feats, format!("{what}: {e}"));
                continue;
            }
            let filters: Vec<(&str, Option<&str>)> = r
                .filters
                .iter()
                .map(|f| match f.split_once('#') {
                    Some((t, rel)) => (t, Some(rel)),
                    None => (f.as_str(), None),
                })
                .collect();
            let result = match opts_for(&a.contextual_tuples, &a.context) {
                Ok(opts) => list_users(&engine, org, &r.object, &r.relation, &filters, &opts).await,
                Err(e) => Err(e),
            };
            let expected = match a.error_code {
                Some(c) => Err(c),
                None => Ok(set(a.expectation.clone().unwrap_or_default())),
            };
            report.record(
                &feats,
                compare(&what, got(Api::ListUsers, result), expected),
            );
        }
        report.cache_hits += engine.cache_stats().await.hits;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CLI store files (`fga model test`)

#[derive(Debug, Deserialize)]
struct StoreFile {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    model_file: Option<String>,
    #[serde(default)]
    tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    tuple_file: Option<String>,
    #[serde(default)]
    tuple_files: Option<Vec<String>>,
    #[serde(default)]
    tests: Vec<StoreTest>,
}

#[derive(Debug, Deserialize)]
struct StoreTest {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tuples: Option<Vec<FgaTuple>>,
    #[serde(default)]
    tuple_file: Option<String>,
    #[serde(default)]
    tuple_files: Option<Vec<String>>,
    #[serde(default)]
    check: Vec<StoreCheck>,
    #[serde(default)]
    list_objects: Vec<StoreListObjects>,
    #[serde(default)]
    list_users: Vec<StoreListUsers>,
}

#[derive(Debug, Deserialize)]
struct StoreCheck {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    objects: Option<Vec<String>>,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
    assertions: BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize)]
struct StoreListObjects {
    user: String,
    #[serde(rename = "type")]
    object_type: String,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
    assertions: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct UserFilter {
    #[serde(rename = "type")]
    subject_type: String,
    #[serde(default)]
    relation: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListUsersExpectation {
    #[serde(default)]
    users: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct StoreListUsers {
    object: String,
    user_filter: Vec<UserFilter>,
    #[serde(default)]
    context: Option<yaml_serde::Value>,
    assertions: BTreeMap<String, ListUsersExpectation>,
}

fn read_tuple_files(
    base: &Path,
    one: &Option<String>,
    many: &Option<Vec<String>>,
) -> anyhow::Result<Vec<FgaTuple>> {
    let mut out = Vec::new();
    for f in one.iter().chain(many.iter().flatten()) {
        let path = base.join(f);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read tuple file {}", path.display()))?;
        // JSON is YAML, so one parser reads both formats.
        let tuples: Vec<FgaTuple> = yaml_serde::from_str(&text)
            .with_context(|| format!("{}: expected a list of tuples", path.display()))?;
        out.extend(tuples);
    }
    Ok(out)
}

/// Runs an OpenFGA CLI store file: each test in a fresh org holding the store's tuples plus the
/// test's own.
pub async fn run_store_file(
    db: &kernel::Db,
    file: &Path,
    text: &str,
    cache: CacheConfig,
) -> anyhow::Result<Report> {
    let label = file.display().to_string();
    let store: StoreFile =
        yaml_serde::from_str(text).with_context(|| format!("{label}: not a store file"))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let model = match (&store.model, &store.model_file) {
        (Some(m), _) => m.clone(),
        (None, Some(f)) => std::fs::read_to_string(base.join(f))
            .with_context(|| format!("{label}: cannot read model file {f}"))?,
        (None, None) => anyhow::bail!("{label}: no model or model_file"),
    };
    let mut report = Report::default();
    let count = |t: &StoreTest| {
        t.check
            .iter()
            .map(|c| {
                c.assertions.len()
                    * c.users.as_ref().map_or(1, Vec::len)
                    * c.objects.as_ref().map_or(1, Vec::len)
            })
            .sum::<usize>()
            + t.list_objects
                .iter()
                .map(|l| l.assertions.len())
                .sum::<usize>()
            + t.list_users
                .iter()
                .map(|l| l.assertions.len())
                .sum::<usize>()
    };
    let schema = match Schema::from_openfga(&model) {
        Ok(s) => s,
        Err(e) => {
            let total: usize = store.tests.iter().map(count).sum();
            match e.unsupported() {
                Some(f) => report.skip(f, total),
                None => {
                    for _ in 0..total {
                        report.fail(
                            &["fga store".to_owned()],
                            format!("{label}: model refused: {e}"),
                        );
                    }
                }
            }
            return Ok(report);
        }
    };
    let mut common = store.tuples.clone().unwrap_or_default();
    common.extend(read_tuple_files(
        base,
        &store.tuple_file,
        &store.tuple_files,
    )?);
    let engine = Engine::with_cache(db.clone(), schema, cache);
    let mut feats = schema_features(engine.schema(), "fga store");
    feats.push("fga store".to_owned());

    for test in &store.tests {
        let at = format!("{label} {}", test.name);
        let mut tuples = common.clone();
        tuples.extend(test.tuples.clone().unwrap_or_default());
        tuples.extend(read_tuple_files(base, &test.tuple_file, &test.tuple_files)?);
        let org = Uuid::now_v7();
        let parsed: Result<Vec<Tuple>, String> = tuples.iter().map(FgaTuple::parse).collect();
        let loaded = match parsed {
            Ok(p) => engine
                .write(org, &WriteBatch::touch(p))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let opts_with = |context: &Option<yaml_serde::Value>| {
            context_of(context).map(|context| ReadOptions {
                context,
                ..ReadOptions::default()
            })
        };
        for c in &test.check {
            let opts = opts_with(&c.context);
            let users: Vec<&String> = c.user.iter().chain(c.users.iter().flatten()).collect();
            let objects: Vec<&String> = c.object.iter().chain(c.objects.iter().flatten()).collect();
            for user in &users {
                for object in &objects {
                    for (relation, want) in &c.assertions {
                        let what = format!("{at}: check {object}#{relation}@{user}");
                        let outcome = match (&loaded, &opts) {
                            (Err(e), _) => Err(format!("{what}: tuples not loaded: {e}")),
                            (_, Err(e)) => Err(format!("{what}: {e}")),
                            (Ok(()), Ok(opts)) => {
                                let r = check(&engine, org, object, relation, user, opts).await;
                                compare(&what, got(Api::Check, r), Ok(*want))
                            }
                        };
                        report.record(&feats, outcome);
                    }
                }
            }
        }
        for l in &test.list_objects {
            let opts = opts_with(&l.context);
            for (relation, want) in &l.assertions {
                let what = format!("{at}: list_objects {}#{relation}@{}", l.object_type, l.user);
                let outcome = match (&loaded, &opts) {
                    (Err(e), _) => Err(format!("{what}: tuples not loaded: {e}")),
                    (_, Err(e)) => Err(format!("{what}: {e}")),
                    (Ok(()), Ok(opts)) => {
                        let r = list_objects(&engine, org, &l.object_type, relation, &l.user, opts)
                            .await;
                        compare(&what, got(Api::ListObjects, r), Ok(set(want.clone())))
                    }
                };
                report.record(&feats, outcome);
            }
        }
        for l in &test.list_users {
            let opts = opts_with(&l.context);
            for (relation, want) in &l.assertions {
                let what = format!("{at}: list_users {}#{relation}", l.object);
                let outcome = match (&loaded, &opts) {
                    (Err(e), _) => Err(format!("{what}: tuples not loaded: {e}")),
                    (_, Err(e)) => Err(format!("{what}: {e}")),
                    (Ok(()), Ok(opts)) => {
                        let filters: Vec<(&str, Option<&str>)> = l
                            .user_filter
                            .iter()
                            .map(|f| (f.subject_type.as_str(), f.relation.as_deref()))
                            .collect();
                        let r = list_users(&engine, org, &l.object, relation, &filters, opts).await;
                        compare(&what, got(Api::ListUsers, r), Ok(set(want.users.clone())))
                    }
                };
                report.record(&feats, outcome);
            }
        }
    }
    report.cache_hits += engine.cache_stats().await.hits;
    Ok(report)
}
