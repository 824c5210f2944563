//! Import and export of any module's records: a module says, per entity type, which fields its
//! records have and how to write a batch of them ([`Records`], returned by
//! [`EntityLoader::records`](crate::module::EntityLoader::records)); the import/export module
//! does the files (CSV, XLSX, JSON), the mapping, the batches, the progress and the error
//! report. No module writes CSV code of its own.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::http::{Caller, ListQuery};
use crate::{ApiError, CellContext, TenantTx};

/// What a spreadsheet cell starts with when a spreadsheet would run it as a formula.
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One record as import and export carry it: field name → JSON value (`null` when empty).
pub type Record = Map<String, Value>;

/// What a field holds, which decides how its text is read on import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// Lowercased; one `@` with something on each side, no spaces.
    Email,
    Integer,
    Number,
    /// `true`/`false`, `yes`/`no`, `1`/`0` (any case).
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339.
    DateTime,
    /// One of the field's `choices` (any case; stored as declared).
    Choice,
    Uuid,
}

/// A field of an importable entity type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldSpec {
    /// The record key (`name`, `status`).
    pub name: &'static str,
    /// What people call it, also matched against file headers (`Full name`).
    pub label: &'static str,
    pub kind: FieldKind,
    /// An import row without it is refused.
    pub required: bool,
    /// The longest text, in characters (text and email fields).
    pub max_len: usize,
    /// The values a `choice` field takes.
    pub choices: &'static [&'static str],
}

impl FieldSpec {
    /// A text field of at most `max_len` characters.
    pub const fn text(name: &'static str, label: &'static str, max_len: usize) -> Self {
        Self {
            name,
            label,
            kind: FieldKind::Text,
            required: false,
            max_len,
            choices: &[],
        }
    }

    /// A field of `kind` (not text: see [`FieldSpec::text`]).
    pub const fn of(name: &'static str, label: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            label,
            kind,
            required: false,
            max_len: 320,
            choices: &[],
        }
    }

    /// A field taking one of `choices`.
    pub const fn choice(
        name: &'static str,
        label: &'static str,
        choices: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            label,
            kind: FieldKind::Choice,
            required: false,
            max_len: 100,
            choices,
        }
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Reads the text of one cell: `null` when empty (an error when required), else the typed
    /// value; the error says what was expected.
    pub fn parse(&self, raw: &str) -> Result<Value, String> {
        let raw = raw.trim();
        // What [`safe_cell`] quoted on export reads back as it was.
        let raw = match raw.strip_prefix('\'') {
            Some(rest) if rest.starts_with(FORMULA_LEADS) => rest,
            _ => raw,
        };
        if raw.is_empty() {
            return match self.required {
                true => Err("is required".into()),
                false => Ok(Value::Null),
            };
        }
        match self.kind {
            FieldKind::Text => match raw.chars().count() <= self.max_len {
                true => Ok(Value::String(raw.to_owned())),
                false => Err(format!("is longer than {} characters", self.max_len)),
            },
            FieldKind::Email => {
                let email = raw.to_lowercase();
                let ok = email.chars().count() <= self.max_len
                    && !email.chars().any(char::is_whitespace)
                    && email
                        .split_once('@')
                        .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.contains('@'));
                match ok {
                    true => Ok(Value::String(email)),
                    false => Err("is not an email address".into()),
                }
            }
            FieldKind::Integer => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| "is not a whole number".into()),
            FieldKind::Number => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "is not a number".into()),
            FieldKind::Boolean => match raw.to_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err("is not true or false".into()),
            },
            FieldKind::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|d| Value::String(d.to_string()))
                .map_err(|_| "is not a date (YYYY-MM-DD)".into()),
            FieldKind::DateTime => chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| Value::String(t.with_timezone(&chrono::Utc).to_rfc3339()))
                .map_err(|_| "is not a date and time (RFC 3339)".into()),
            FieldKind::Choice => self
                .choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(raw))
                .map(|c| Value::String((*c).to_owned()))
                .ok_or_else(|| format!("is not one of {}", self.choices.join(", "))),
            FieldKind::Uuid => Uuid::parse_str(raw)
                .map(|u| Value::String(u.to_string()))
                .map_err(|_| "is not an id".into()),
        }
    }
}

/// Why one record was not written: the field (when one is to blame) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordError {
    pub field: Option<String>,
    pub message: String,
}

impl RecordError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

/// Parses a row of cells (`field name → text`) against `fields`: the record, or every field's
/// error.
pub fn parse_record(
    fields: &[FieldSpec],
    cells: &std::collections::BTreeMap<&str, &str>,
) -> Result<Record, Vec<RecordError>> {
    let mut record = Record::new();
    let mut errors = Vec::new();
    for f in fields {
        match f.parse(cells.get(f.name).copied().unwrap_or_default()) {
            Ok(v) => {
                record.insert(f.name.to_owned(), v);
            }
            Err(message) => errors.push(RecordError::field(f.name, message)),
        }
    }
    match errors.is_empty() {
        true => Ok(record),
        false => Err(errors),
    }
}

/// The import and export of one entity type, declared by its module.
#[async_trait::async_trait(?Send)]
pub trait Records {
    /// The fields of a record, in export column order.
    fn fields(&self) -> Vec<FieldSpec>;

    /// Whether `caller` may import records of this type (the module's create/update rule).
    async fn may_import(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<(), ApiError>;

    /// Writes a batch of parsed records in `tx` (one transaction per batch): inserts new ones,
    /// updates those whose key (the module's: a name, an email) matches an existing record, so
    /// importing a file twice adds nothing the second time; one outcome per record, in order. A
    /// record the module refuses (a rule `fields` cannot say) gets its error; the others are
    /// written. Publish the events a created or updated record publishes through the API.
    async fn upsert(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        records: Vec<Record>,
    ) -> Result<Vec<Result<(), RecordError>>, ApiError>;

    /// Up to `limit` of the records `caller` sees that match `query`'s list filters, in id
    /// order after `after`: what an export pages through, with each record's id.
    async fn export(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        query: &ListQuery,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Record)>, ApiError>;
}

/// The text of a value in a CSV or XLSX cell; text that spreadsheets would run as a formula
/// (`=`, `+`, `-`, `@`, tab, CR lead) is quoted with `'`.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => safe_cell(s),
        // A number is data to a spreadsheet, whatever its sign.
        other => other.to_string(),
    }
}

/// `text`, made safe for a spreadsheet cell (see [`cell_text`]); [`FieldSpec::parse`] reads it
/// back unchanged.
pub fn safe_cell(text: &str) -> String {
    match text.starts_with(FORMULA_LEADS) {
        true => format!("'{text}"),
        false => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_read_by_kind() {
        let email = FieldSpec::of("email", "Email", FieldKind::Email).required();
        assert_eq!(
            email.parse(" Ada@Example.COM "),
            Ok(Value::from("ada@example.com"))
        );
        assert!(email.parse("").is_err());
        assert!(email.parse("ada at example").is_err());
        let n = FieldSpec::of("n", "N", FieldKind::Integer);
        assert_eq!(n.parse("42"), Ok(Value::from(42)));
        assert_eq!(n.parse(""), Ok(Value::Null));
        assert!(n.parse("4.2").is_err());
        let status = FieldSpec::choice("status", "Status", &["open", "done"]);
        assert_eq!(status.parse("DONE"), Ok(Value::from("done")));
        assert!(status.parse("later").is_err());
        let day = FieldSpec::of("d", "D", FieldKind::Date);
        assert!(day.parse("2026-02-30").is_err());
        let t = FieldSpec::text("t", "T", 3);
        assert!(t.parse("four").is_err());
        assert_eq!(cell_text(&Value::from("=1+1")), "'=1+1");
        assert_eq!(cell_text(&Value::from(-3)), "-3");
        assert_eq!(
            t.parse("'=1"),
            Ok(Value::from("=1")),
            "an exported formula reads back"
        );
        assert_eq!(cell_text(&Value::Null), "");
    }
}
