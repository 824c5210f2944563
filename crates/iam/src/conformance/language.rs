//! OpenFGA's language cases: models that must be refused (or accepted) by schema validation,
//! and object ids that must be refused (or accepted) by the tuple syntax.

use anyhow::Context as _;
use serde::Deserialize;

use crate::schema::Schema;
use crate::tuple::valid_object_id;

use super::Report;

#[derive(Debug, Deserialize)]
struct DslCase {
    name: String,
    dsl: String,
    #[serde(default)]
    expected_errors: Option<Vec<ExpectedError>>,
}

#[derive(Debug, Deserialize)]
struct ExpectedError {
    #[serde(default)]
    metadata: Option<ErrorMetadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorMetadata {
    #[serde(default)]
    error_type: Option<String>,
}

/// Each model must be refused exactly when the case lists errors. Models that need an
/// unsupported feature (conditions) are skipped.
pub fn run_dsl_cases(label: &str, text: &str) -> anyhow::Result<Report> {
    let cases: Vec<DslCase> =
        yaml_serde::from_str(text).with_context(|| format!("{label}: not DSL cases"))?;
    let mut report = Report::default();
    for case in cases {
        let errors = case.expected_errors.unwrap_or_default();
        let kind = errors
            .iter()
            .find_map(|e| e.metadata.as_ref().and_then(|m| m.error_type.clone()))
            .unwrap_or_else(|| "valid model".to_owned());
        let features = [
            "openfga language".to_owned(),
            format!("openfga language {kind}"),
        ];
        match (Schema::from_openfga(&case.dsl), errors.is_empty()) {
            (Err(e), _) if e.unsupported().is_some() => {
                if let Some(f) = e.unsupported() {
                    report.skip(f, 1);
                }
            }
            (Ok(_), true) | (Err(_), false) => report.pass(&features),
            (Ok(_), false) => report.fail(
                &features,
                format!("{label}: `{}`: accepted, expected {kind}", case.name),
            ),
            (Err(e), true) => report.fail(
                &features,
                format!("{label}: `{}`: refused a valid model: {e}", case.name),
            ),
        }
    }
    Ok(report)
}

#[derive(Debug, Deserialize)]
struct ObjectIdCase {
    name: String,
    object_id: String,
    valid: bool,
}

/// Each id must be accepted exactly when the case says it is valid.
pub fn run_object_id_cases(label: &str, text: &str) -> anyhow::Result<Report> {
    let cases: Vec<ObjectIdCase> =
        yaml_serde::from_str(text).with_context(|| format!("{label}: not object-id cases"))?;
    let mut report = Report::default();
    let features = ["openfga object ids".to_owned()];
    for case in cases {
        let got = valid_object_id(&case.object_id);
        if got == case.valid {
            report.pass(&features);
        } else {
            report.fail(
                &features,
                format!(
                    "{label}: `{}` ({:?}): expected valid={}, got {got}",
                    case.name, case.object_id, case.valid
                ),
            );
        }
    }
    Ok(report)
}
