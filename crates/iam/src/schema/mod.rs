//! The internal permission model both schema languages compile to: types with relations, each
//! relation with its directly assignable subject types and a rewrite expression.
//!
//! SpiceDB's `relation r: user | team#member` is a relation whose rewrite is [`Rewrite::This`];
//! `permission p = a + b->c` has no assignable types and a rewrite. OpenFGA's
//! `define r: [user] or a` is both at once, which this model expresses directly.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::caveat::{Caveat, ParamType};

mod lex;
pub mod openfga;
pub mod spicedb;
mod validate;

pub use validate::validate;

/// A subject type a relation accepts directly: `user`, `user:*` or `team#member`, optionally
/// only with a caveat (`user with is_valid_ip`; OpenFGA `[user with cond]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllowedSubject {
    pub subject_type: String,
    pub kind: AllowedKind,
    pub caveat: Option<String>,
    /// Relationships of this subject type may expire (SpiceDB's `with expiration`).
    pub expiration: bool,
}

impl AllowedSubject {
    pub fn new(subject_type: impl Into<String>, kind: AllowedKind) -> Self {
        Self {
            subject_type: subject_type.into(),
            kind,
            caveat: None,
            expiration: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AllowedKind {
    /// Objects of the type (`user:alice`).
    Object,
    /// The public wildcard (`user:*`).
    Wildcard,
    /// A userset: the subjects holding a relation on an object of the type (`team:eng#member`).
    Userset(String),
}

impl fmt::Display for AllowedSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AllowedKind::Object => write!(f, "{}", self.subject_type),
            AllowedKind::Wildcard => write!(f, "{}:*", self.subject_type),
            AllowedKind::Userset(r) => write!(f, "{}#{r}", self.subject_type),
        }?;
        match (&self.caveat, self.expiration) {
            (Some(c), true) => write!(f, " with {c} and expiration"),
            (Some(c), false) => write!(f, " with {c}"),
            (None, true) => write!(f, " with expiration"),
            (None, false) => Ok(()),
        }
    }
}

/// How an arrow combines the results over the objects its tupleset points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrowMode {
    /// `parent->view`, `parent.any(view)`, OpenFGA's `view from parent`.
    Any,
    /// `parent.all(view)`: every object the tupleset points at must grant it (and there is one).
    All,
}

/// A relation's rewrite expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// The relation's own tuples (its directly assignable subjects).
    This,
    /// Another relation of the same object.
    Computed(String),
    /// `tupleset->computed`: follow the tupleset relation's tuples to their subject objects and
    /// evaluate `computed` there.
    Arrow {
        tupleset: String,
        computed: String,
        mode: ArrowMode,
    },
    Union(Vec<Rewrite>),
    Intersection(Vec<Rewrite>),
    /// `base - subtract` (`base but not subtract`).
    Exclusion(Box<Rewrite>, Box<Rewrite>),
    /// SpiceDB's `nil`: nobody.
    Nil,
}

impl fmt::Display for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(f: &mut fmt::Formatter<'_>, parts: &[Rewrite], op: &str) -> fmt::Result {
            write!(f, "(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{p}")?;
            }
            write!(f, ")")
        }
        match self {
            Rewrite::This => write!(f, "<direct>"),
            Rewrite::Computed(r) => write!(f, "{r}"),
            Rewrite::Arrow {
                tupleset,
                computed,
                mode: ArrowMode::Any,
            } => write!(f, "{tupleset}->{computed}"),
            Rewrite::Arrow {
                tupleset,
                computed,
                mode: ArrowMode::All,
            } => write!(f, "{tupleset}.all({computed})"),
            Rewrite::Union(p) => join(f, p, "+"),
            Rewrite::Intersection(p) => join(f, p, "&"),
            Rewrite::Exclusion(a, b) => write!(f, "({a} - {b})"),
            Rewrite::Nil => write!(f, "nil"),
        }
    }
}

/// Whether the schema source declared it as a relation or a permission (SpiceDB keeps the two
/// apart: tuples may only be written to relations, arrows may only walk relations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Relation,
    Permission,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDef {
    pub name: String,
    pub kind: RelationKind,
    /// Directly assignable subject types; empty when tuples cannot name this relation.
    pub allowed: Vec<AllowedSubject>,
    pub rewrite: Rewrite,
}

impl RelationDef {
    /// Whether tuples may be written to this relation.
    pub fn is_assignable(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Whether a stored or contextual tuple with this subject (with or without a caveat) may be
    /// valid under the current model: what candidate walks follow.
    pub fn accepts(&self, subject_type: &str, subject_id: &str, subject_relation: &str) -> bool {
        self.allowed
            .iter()
            .any(|a| a.matches(subject_type, subject_id, subject_relation))
    }

    /// Whether a stored or contextual tuple with this subject and caveat (and an expiry, when
    /// `expiring`) is valid under the current model; tuples that no longer match are ignored at
    /// read time (a model change never needs a data migration, and old tuples never grant what
    /// the model no longer allows).
    pub fn accepts_with(
        &self,
        s: &crate::tuple::SubjectRef,
        caveat: Option<&str>,
        expiring: bool,
    ) -> bool {
        self.allowed.iter().any(|a| {
            a.caveat.as_deref() == caveat
                && (a.expiration || !expiring)
                && a.matches(&s.subject_type, &s.subject_id, s.relation_str())
        })
    }
}

impl AllowedSubject {
    fn matches(&self, subject_type: &str, subject_id: &str, subject_relation: &str) -> bool {
        let wildcard = subject_id == WILDCARD;
        self.subject_type == subject_type
            && match &self.kind {
                AllowedKind::Object => !wildcard && subject_relation.is_empty(),
                AllowedKind::Wildcard => wildcard && subject_relation.is_empty(),
                AllowedKind::Userset(r) => !wildcard && r == subject_relation,
            }
    }
}

/// The id of the public wildcard subject (`user:*`).
pub const WILDCARD: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeDef {
    pub name: String,
    pub relations: BTreeMap<String, RelationDef>,
}

/// A complete, validated permission model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub types: BTreeMap<String, TypeDef>,
    /// Caveats (OpenFGA: conditions) by name.
    pub caveats: BTreeMap<String, Caveat>,
}

impl Schema {
    /// Parses and validates a schema in SpiceDB syntax.
    pub fn parse(src: &str) -> Result<Self, SchemaErrors> {
        let schema = spicedb::parse(src)?;
        validate(&schema)?;
        Ok(schema)
    }

    /// Translates and validates an OpenFGA model (`model schema 1.1 …`).
    pub fn from_openfga(src: &str) -> Result<Self, SchemaErrors> {
        let schema = openfga::parse(src)?;
        validate(&schema)?;
        Ok(schema)
    }

    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    pub fn relation(&self, type_name: &str, relation: &str) -> Option<&RelationDef> {
        self.types.get(type_name)?.relations.get(relation)
    }

    /// Merges another module's namespaces into this schema; a type defined twice is an error.
    pub fn merge(&mut self, other: Schema) -> Result<(), SchemaError> {
        for (name, def) in other.types {
            if self.types.contains_key(&name) {
                return Err(SchemaError::new(
                    ErrorKind::Duplicate,
                    format!("type `{name}` is defined twice"),
                ));
            }
            self.types.insert(name, def);
        }
        for (name, c) in other.caveats {
            if self.caveats.contains_key(&name) {
                return Err(SchemaError::new(
                    ErrorKind::Duplicate,
                    format!("caveat `{name}` is defined twice"),
                ));
            }
            self.caveats.insert(name, c);
        }
        Ok(())
    }
}

/// Takes the caveat (OpenFGA: condition) blocks out of a schema's source: `keyword name(params)
/// { CEL }` at the start of a line. Their bodies are CEL, not schema language, so they are
/// replaced by blank lines (line numbers stay right) before the rest is tokenized. Parameters
/// are `name type` (SpiceDB) or `name: type` (OpenFGA).
pub(crate) fn take_caveats(
    src: &str,
    keyword: &str,
) -> Result<(String, BTreeMap<String, Caveat>), SchemaError> {
    let mut rest = String::with_capacity(src.len());
    let mut caveats = BTreeMap::new();
    let mut pos = 0;
    let line_of = |at: usize| src[..at].matches('\n').count() + 1;
    while pos < src.len() {
        let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i + 1);
        let line = &src[pos..line_end];
        let trimmed = line.trim_start();
        let is_block = trimmed
            .strip_prefix(keyword)
            .is_some_and(|r| r.starts_with(char::is_whitespace));
        if !is_block {
            rest.push_str(line);
            pos = line_end;
            continue;
        }
        let start = pos + (line.len() - trimmed.len()) + keyword.len();
        let line_no = line_of(pos);
        let err = |msg: String| SchemaError::new(ErrorKind::Syntax, msg).at(line_no);
        let open = src[start..]
            .find('{')
            .map(|i| start + i)
            .ok_or_else(|| err(format!("`{keyword}` without a `{{ body }}`")))?;
        let close = matching_brace(src, open)
            .ok_or_else(|| err(format!("`{keyword}` body is not closed")))?;
        let caveat = caveat_header(&src[start..open], &src[open + 1..close])
            .map_err(|m| SchemaError::new(ErrorKind::Syntax, m).at(line_no))?;
        if caveats.contains_key(&caveat.name) {
            return Err(SchemaError::new(
                ErrorKind::Duplicate,
                format!("{keyword} `{}` is defined twice", caveat.name),
            )
            .at(line_no));
        }
        caveats.insert(caveat.name.clone(), caveat);
        let end = src[close..].find('\n').map_or(src.len(), |i| close + i + 1);
        rest.extend(std::iter::repeat_n(
            '\n',
            src[pos..end].matches('\n').count(),
        ));
        pos = end;
    }
    Ok((rest, caveats))
}

/// The index of the `}` closing the `{` at `open`, skipping CEL string literals.
fn matching_brace(src: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in src[open..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn caveat_header(header: &str, body: &str) -> Result<Caveat, String> {
    let header = header.trim();
    let (name, params) = header
        .split_once('(')
        .and_then(|(n, p)| Some((n.trim(), p.trim().strip_suffix(')')?)))
        .ok_or_else(|| format!("expected `name(parameters)`, found `{header}`"))?;
    if !valid_type_name(name) {
        return Err(format!("invalid caveat name `{name}`"));
    }
    let mut out = Vec::new();
    for p in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (pname, ptype) = p
            .split_once(':')
            .or_else(|| p.split_once(char::is_whitespace))
            .map(|(n, t)| (n.trim(), t.trim()))
            .ok_or_else(|| format!("caveat `{name}`: parameter `{p}` has no type"))?;
        if !valid_relation_name(pname) {
            return Err(format!("caveat `{name}`: invalid parameter name `{pname}`"));
        }
        let ty = ParamType::parse(ptype)
            .ok_or_else(|| format!("caveat `{name}`: unknown parameter type `{ptype}`"))?;
        out.push((pname.to_owned(), ty));
    }
    Caveat::new(name, out, body)
}

/// What is wrong with a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// A name is not allowed (reserved, empty, bad characters).
    InvalidName,
    /// A type or relation is defined twice.
    Duplicate,
    /// A type is referenced but never defined.
    UndefinedType,
    /// A relation is referenced but never defined.
    UndefinedRelation,
    /// A caveat (condition) is referenced but never defined.
    UndefinedCaveat,
    /// An OpenFGA condition no relation uses.
    UnusedCaveat,
    /// An arrow walks a relation that is not directly assignable, or whose subjects are usersets.
    InvalidArrow,
    /// A relation or permission no tuple can ever satisfy.
    NoEntryPoint,
    /// A feature this engine does not support (`self`).
    Unsupported(Feature),
}

/// Schema and data features the engine does not support yet; the conformance runner skips the
/// cases that use them and counts them per feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    SelfKeyword,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::SelfKeyword => "self",
        })
    }
}

/// One problem in a schema, with the line it was found on (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub kind: ErrorKind,
    pub message: String,
    pub line: Option<usize>,
}

impl SchemaError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            line: None,
        }
    }

    pub fn at(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a schema (validation reports all of them, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaErrors(pub Vec<SchemaError>);

impl SchemaErrors {
    pub fn one(e: SchemaError) -> Self {
        Self(vec![e])
    }

    /// The unsupported feature this schema needs, if that is what stopped it.
    pub fn unsupported(&self) -> Option<Feature> {
        self.0.iter().find_map(|e| match e.kind {
            ErrorKind::Unsupported(f) => Some(f),
            _ => None,
        })
    }

    pub fn has(&self, kind: ErrorKind) -> bool {
        self.0.iter().any(|e| e.kind == kind)
    }
}

impl From<SchemaError> for SchemaErrors {
    fn from(e: SchemaError) -> Self {
        Self::one(e)
    }
}

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Type names: `user`, `test/user`, `org/team/user` (SpiceDB prefixes) — letters, digits, `_`,
/// `-` and `/` between segments; no `:`, `#`, `@`, `*` or whitespace.
pub fn valid_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 254
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        })
}

/// Relation names: letters, digits, `_` and `-` (no `:`, `#`, `@`, `*`, `/`, `.`, whitespace), up
/// to 64 characters as SpiceDB allows (the OpenFGA translator holds its own names to 50).
pub fn valid_relation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
