//! Objects, subjects and relationship tuples, with their text forms:
//! `document:1`, `user:jon`, `user:*`, `team:eng#member`, `document:1#viewer@user:jon`.

use std::fmt;

use crate::schema::{WILDCARD, valid_relation_name, valid_type_name};

/// The longest object id accepted (SpiceDB's limit).
pub const MAX_ID_LEN: usize = 1024;

/// An object: `document:1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub object_type: String,
    pub object_id: String,
}

impl ObjectRef {
    pub fn new(object_type: impl Into<String>, object_id: impl Into<String>) -> Self {
        Self {
            object_type: object_type.into(),
            object_id: object_id.into(),
        }
    }

    /// Parses `type:id`.
    pub fn parse(s: &str) -> Result<Self, TupleError> {
        let (t, id) = s
            .split_once(':')
            .ok_or_else(|| TupleError(format!("`{s}` is not an object (`type:id`)")))?;
        check_type(t, s)?;
        if !valid_object_id(id) {
            return Err(TupleError(format!("`{s}` has an invalid object id")));
        }
        Ok(Self::new(t, id))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.object_type, self.object_id)
    }
}

/// A subject: an object (`user:jon`), the public wildcard (`user:*`) or a userset
/// (`team:eng#member`: everyone holding `member` on `team:eng`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef {
    pub subject_type: String,
    pub subject_id: String,
    pub relation: Option<String>,
}

impl SubjectRef {
    pub fn object(subject_type: impl Into<String>, subject_id: impl Into<String>) -> Self {
        Self {
            subject_type: subject_type.into(),
            subject_id: subject_id.into(),
            relation: None,
        }
    }

    pub fn userset(
        subject_type: impl Into<String>,
        subject_id: impl Into<String>,
        relation: impl Into<String>,
    ) -> Self {
        Self {
            subject_type: subject_type.into(),
            subject_id: subject_id.into(),
            relation: Some(relation.into()),
        }
    }

    pub fn wildcard(subject_type: impl Into<String>) -> Self {
        Self::object(subject_type, WILDCARD)
    }

    pub fn is_wildcard(&self) -> bool {
        self.subject_id == WILDCARD
    }

    /// The relation as stored: empty for a plain subject.
    pub fn relation_str(&self) -> &str {
        self.relation.as_deref().unwrap_or("")
    }

    /// Parses `type:id`, `type:*`, `type:id#relation` (and SpiceDB's `type:id#...`, which is a
    /// plain subject).
    pub fn parse(s: &str) -> Result<Self, TupleError> {
        let (obj, relation) = match s.split_once('#') {
            Some((o, "...")) => (o, None),
            Some((o, r)) => {
                if !valid_relation_name(r) {
                    return Err(TupleError(format!("`{s}` has an invalid relation")));
                }
                (o, Some(r.to_owned()))
            }
            None => (s, None),
        };
        let (t, id) = obj
            .split_once(':')
            .ok_or_else(|| TupleError(format!("`{s}` is not a subject (`type:id`)")))?;
        check_type(t, s)?;
        if id == WILDCARD {
            if relation.is_some() {
                return Err(TupleError(format!(
                    "`{s}`: a wildcard subject cannot have a relation"
                )));
            }
        } else if !valid_object_id(id) {
            return Err(TupleError(format!("`{s}` has an invalid subject id")));
        }
        Ok(Self {
            subject_type: t.to_owned(),
            subject_id: id.to_owned(),
            relation,
        })
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.subject_type, self.subject_id)?;
        if let Some(r) = &self.relation {
            write!(f, "#{r}")?;
        }
        Ok(())
    }
}

/// A relationship: `object#relation@subject`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub object: ObjectRef,
    pub relation: String,
    pub subject: SubjectRef,
}

impl Tuple {
    pub fn new(object: ObjectRef, relation: impl Into<String>, subject: SubjectRef) -> Self {
        Self {
            object,
            relation: relation.into(),
            subject,
        }
    }

    /// Parses `type:id#relation@subject` (SpiceDB's relationship syntax).
    pub fn parse(s: &str) -> Result<Self, TupleError> {
        let (obj, rest) = s
            .split_once('#')
            .ok_or_else(|| TupleError(format!("`{s}` is not a tuple (`type:id#rel@subject`)")))?;
        let (rel, subject) = rest
            .split_once('@')
            .ok_or_else(|| TupleError(format!("`{s}` is not a tuple (`type:id#rel@subject`)")))?;
        if !valid_relation_name(rel) {
            return Err(TupleError(format!("`{s}` has an invalid relation")));
        }
        Ok(Self::new(
            ObjectRef::parse(obj)?,
            rel,
            SubjectRef::parse(subject)?,
        ))
    }
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}@{}", self.object, self.relation, self.subject)
    }
}

/// A malformed object, subject or tuple.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TupleError(pub String);

fn check_type(t: &str, whole: &str) -> Result<(), TupleError> {
    if valid_type_name(t) {
        Ok(())
    } else {
        Err(TupleError(format!("`{whole}` has an invalid type")))
    }
}

/// Object ids: letters, digits and `_ | * @ . + / - =`, not starting with `*`, at most
/// [`MAX_ID_LEN`] characters (no `:`, `#`, whitespace).
pub fn valid_object_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('*')
        && id.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '|' | '*' | '@' | '.' | '+' | '/' | '-' | '=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tuples_and_subjects() -> anyhow::Result<()> {
        let t = Tuple::parse("test/document:1#viewer@test/user:tom#...")?;
        assert_eq!(t.object, ObjectRef::new("test/document", "1"));
        assert_eq!(t.subject, SubjectRef::object("test/user", "tom"));
        assert_eq!(t.to_string(), "test/document:1#viewer@test/user:tom");
        let u = Tuple::parse("doc:a@b.com#viewer@team:eng#member")?;
        assert_eq!(u.object.object_id, "a@b.com");
        assert_eq!(u.subject, SubjectRef::userset("team", "eng", "member"));
        assert!(SubjectRef::parse("user:*")?.is_wildcard());
        Ok(())
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "a:b:c",
            "user",
            "user:",
            ":x",
            "user:*#member",
            "user:a b",
            "us er:x",
            "user:*x",
        ] {
            assert!(SubjectRef::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "doc:1",
            "doc:1#@user:x",
            "doc:1#viewer",
            "doc:*#viewer@user:x",
        ] {
            assert!(Tuple::parse(bad).is_err(), "{bad}");
        }
        assert!(valid_object_id("--=base64YWZz+/fmIr=="));
        assert!(!valid_object_id(&"x".repeat(MAX_ID_LEN + 1)));
    }
}
