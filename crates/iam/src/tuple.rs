//! Objects, subjects and relationship tuples, with their text forms:
//! `document:1`, `user:jon`, `user:*`, `team:eng#member`, `document:1#viewer@user:jon`.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::caveat::{CaveatRef, Context};
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

/// A relationship: `object#relation@subject`, optionally under a caveat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub object: ObjectRef,
    pub relation: String,
    pub subject: SubjectRef,
    /// The caveat the relationship holds under. Not part of its identity: writing it again
    /// with another caveat (or none) replaces it.
    pub caveat: Option<CaveatRef>,
    /// When it stops holding (SpiceDB's expiring relationships); like the caveat, replaced by a
    /// later write.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Tuple {
    pub fn new(object: ObjectRef, relation: impl Into<String>, subject: SubjectRef) -> Self {
        Self {
            object,
            relation: relation.into(),
            subject,
            caveat: None,
            expires_at: None,
        }
    }

    /// The same relationship, holding until `at`.
    pub fn expiring(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The same relationship, holding only under `caveat` with `context`.
    pub fn with_caveat(mut self, caveat: impl Into<String>, context: Context) -> Self {
        self.caveat = Some(CaveatRef {
            name: caveat.into(),
            context,
        });
        self
    }

    /// Parses `type:id#relation@subject` (SpiceDB's relationship syntax), with an optional
    /// caveat (`…@user:tom[name]`, `…@user:tom[name:{"param":1}]`) and expiry
    /// (`…[expiration:2030-01-01T00:00:00Z]`, last).
    pub fn parse(s: &str) -> Result<Self, TupleError> {
        if let Some((rest, at)) = s
            .strip_suffix(']')
            .and_then(|r| r.rsplit_once("[expiration:"))
        {
            let at = DateTime::parse_from_rfc3339(at)
                .map_err(|e| TupleError(format!("`{s}`: invalid expiration: {e}")))?;
            return Ok(Self::parse(rest)?.expiring(at.with_timezone(&Utc)));
        }
        if let Some((plain, caveat)) = s.strip_suffix(']').and_then(|r| r.split_once('[')) {
            let (name, context) = match caveat.split_once(':') {
                Some((n, ctx)) => (
                    n,
                    Context::parse(ctx).map_err(|e| TupleError(format!("`{s}`: {e}")))?,
                ),
                None => (caveat, Context::default()),
            };
            if !valid_type_name(name) {
                return Err(TupleError(format!("`{s}` has an invalid caveat name")));
            }
            return Ok(Self::parse(plain)?.with_caveat(name, context));
        }
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
        write!(f, "{}#{}@{}", self.object, self.relation, self.subject)?;
        if let Some(c) = &self.caveat {
            write!(f, "{c}")?;
        }
        match &self.expires_at {
            Some(at) => write!(
                f,
                "[expiration:{}]",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            None => Ok(()),
        }
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
        let c = Tuple::parse(r#"doc:1#viewer@user:tom[ip:{"cidr":"10.0.0.0/8"}]"#)?;
        assert_eq!(c.caveat.as_ref().map(|c| c.name.as_str()), Some("ip"));
        assert_eq!(
            c.to_string(),
            r#"doc:1#viewer@user:tom[ip:{"cidr":"10.0.0.0/8"}]"#
        );
        let bare = Tuple::parse("doc:1#viewer@user:tom[ip]")?;
        assert_eq!(bare.to_string(), "doc:1#viewer@user:tom[ip]");
        assert!(Tuple::parse("doc:1#viewer@user:tom[ip:[1]]").is_err());
        let both = r#"doc:1#viewer@user:tom[ip:{"xs":[1]}][expiration:2030-01-01T00:00:00Z]"#;
        let e = Tuple::parse(both)?;
        assert_eq!(e.expires_at.map(|t| t.timestamp()), Some(1_893_456_000));
        assert_eq!(e.to_string(), both);
        assert!(Tuple::parse("doc:1#viewer@user:tom[expiration:tomorrow]").is_err());
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
