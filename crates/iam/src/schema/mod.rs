//! The internal permission model both schema languages compile to: types with relations, each
//! relation with its directly assignable subject types and a rewrite expression.
//!
//! SpiceDB's `relation r: user | team#member` is a relation whose rewrite is [`Rewrite::This`];
//! `permission p = a + b->c` has no assignable types and a rewrite. OpenFGA's
//! `define r: [user] or a` is both at once, which this model expresses directly.

use std::collections::BTreeMap;
use std::fmt;

mod lex;
pub mod openfga;
pub mod spicedb;
mod validate;

pub use validate::validate;

/// A subject type a relation accepts directly: `user`, `user:*` or `team#member`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllowedSubject {
    pub subject_type: String,
    pub kind: AllowedKind,
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

    /// Whether a stored or contextual tuple with this subject is valid under the current model;
    /// tuples that no longer match are ignored at read time (a model change never needs a
    /// data migration, and old tuples never grant what the model no longer allows).
    pub fn accepts(&self, subject_type: &str, subject_id: &str, subject_relation: &str) -> bool {
        let wildcard = subject_id == WILDCARD;
        self.allowed.iter().any(|a| {
            a.subject_type == subject_type
                && match &a.kind {
                    AllowedKind::Object => !wildcard && subject_relation.is_empty(),
                    AllowedKind::Wildcard => wildcard && subject_relation.is_empty(),
                    AllowedKind::Userset(r) => !wildcard && r == subject_relation,
                }
        })
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
        Ok(())
    }
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
    /// An arrow walks a relation that is not directly assignable, or whose subjects are usersets.
    InvalidArrow,
    /// A relation or permission no tuple can ever satisfy.
    NoEntryPoint,
    /// A feature this engine does not support (caveats, expiration, `self`).
    Unsupported(Feature),
}

/// Schema and data features the engine does not support yet; the conformance runner skips the
/// cases that use them and counts them per feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Conditions,
    Expiration,
    SelfKeyword,
    Modules,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Conditions => "conditions/caveats",
            Feature::Expiration => "expiration",
            Feature::SelfKeyword => "self",
            Feature::Modules => "modular models",
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

/// Relation names: letters, digits, `_` and `-` (no `:`, `#`, `@`, `*`, `/`, `.`, whitespace).
pub fn valid_relation_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
