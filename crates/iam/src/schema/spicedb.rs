//! The SpiceDB schema language:
//!
//! ```text
//! definition user {}
//! definition document {
//!     relation parent: folder
//!     relation viewer: user | user:* | team#member
//!     permission view = (viewer + parent->view) - banned & nil
//! }
//! ```
//!
//! Precedence follows SpiceDB: `+` binds tightest, then `&`, then `-`; each is left-associative.
//! Caveats: `caveat name(param type, …) { CEL }` and `relation r: user with name`. Expiring
//! relationships: `use expiration` at the top, then `user with expiration` (or `user with name
//! and expiration`). `self` is recognised and refused as unsupported.

use std::collections::BTreeMap;

use super::lex::{Cursor, Tok, tokenize};
use super::{
    AllowedKind, AllowedSubject, ArrowMode, ErrorKind, Feature, RelationDef, RelationKind, Rewrite,
    Schema, SchemaError, SchemaErrors, TypeDef, take_caveats, valid_relation_name, valid_type_name,
};

/// Parses a schema (no validation of references; see [`super::validate`]).
pub fn parse(src: &str) -> Result<Schema, SchemaErrors> {
    // Caveat bodies are CEL, not schema: taken out first.
    let (src, caveats) = take_caveats(src, "caveat")?;
    let mut cur = Cursor::new(tokenize(&src, false)?);
    let mut schema = Schema {
        caveats,
        ..Schema::default()
    };
    let mut uses_expiration = false;
    while !cur.at_end() {
        let line = cur.line();
        if cur.eat_keyword("definition") {
            let def = definition(&mut cur)?;
            if schema.types.contains_key(&def.name) {
                return Err(SchemaError::new(
                    ErrorKind::Duplicate,
                    format!("definition `{}` is defined twice", def.name),
                )
                .at(line)
                .into());
            }
            schema.types.insert(def.name.clone(), def);
        } else if cur.eat_keyword("use") {
            let what = cur.ident("a feature name after `use`")?;
            if what != "expiration" {
                return Err(SchemaError::new(
                    ErrorKind::Syntax,
                    format!("unknown directive `use {what}`"),
                )
                .at(line)
                .into());
            }
            uses_expiration = true;
        } else {
            return Err(cur.error("expected `definition` or `caveat`").into());
        }
    }
    let expiring = schema
        .types
        .values()
        .flat_map(|t| t.relations.values())
        .flat_map(|r| &r.allowed)
        .any(|a| a.expiration);
    if expiring && !uses_expiration {
        return Err(SchemaError::new(
            ErrorKind::Syntax,
            "`with expiration` needs `use expiration` at the top of the schema",
        )
        .into());
    }
    Ok(schema)
}

fn unsupported(feature: Feature, line: usize, what: &str) -> SchemaError {
    SchemaError::new(
        ErrorKind::Unsupported(feature),
        format!("{what} are not supported ({feature})"),
    )
    .at(line)
}

fn definition(cur: &mut Cursor) -> Result<TypeDef, SchemaError> {
    let line = cur.line();
    let name = cur.ident("a definition name")?;
    if !valid_type_name(&name) {
        return Err(SchemaError::new(
            ErrorKind::InvalidName,
            format!("invalid definition name `{name}`"),
        )
        .at(line));
    }
    cur.expect_punct("{")?;
    let mut relations = BTreeMap::new();
    while !cur.eat_punct("}") {
        let line = cur.line();
        let rel = if cur.eat_keyword("relation") {
            relation(cur)?
        } else if cur.eat_keyword("permission") {
            permission(cur)?
        } else {
            return Err(cur.error(format!(
                "expected `relation`, `permission` or `}}` in definition `{name}`"
            )));
        };
        if relations.contains_key(&rel.name) {
            return Err(SchemaError::new(
                ErrorKind::Duplicate,
                format!("`{}` is defined twice in definition `{name}`", rel.name),
            )
            .at(line));
        }
        relations.insert(rel.name.clone(), rel);
    }
    Ok(TypeDef { name, relations })
}

fn relation_name(cur: &mut Cursor) -> Result<String, SchemaError> {
    let line = cur.line();
    let name = cur.ident("a relation name")?;
    if !valid_relation_name(&name) || name == "self" || name == "this" {
        return Err(SchemaError::new(
            ErrorKind::InvalidName,
            format!("invalid relation or permission name `{name}`"),
        )
        .at(line));
    }
    Ok(name)
}

fn relation(cur: &mut Cursor) -> Result<RelationDef, SchemaError> {
    let name = relation_name(cur)?;
    cur.expect_punct(":")?;
    let mut allowed = vec![subject_type(cur)?];
    while cur.eat_punct("|") {
        allowed.push(subject_type(cur)?);
    }
    Ok(RelationDef {
        name,
        kind: RelationKind::Relation,
        allowed,
        rewrite: Rewrite::This,
    })
}

fn subject_type(cur: &mut Cursor) -> Result<AllowedSubject, SchemaError> {
    let line = cur.line();
    let subject_type = cur.ident("a subject type")?;
    let kind = if cur.eat_punct(":") {
        cur.expect_punct("*")?;
        AllowedKind::Wildcard
    } else if cur.eat_punct("#") {
        AllowedKind::Userset(cur.ident("a relation name after `#`")?)
    } else {
        AllowedKind::Object
    };
    let mut caveat = None;
    let mut expiration = false;
    if cur.eat_keyword("with") {
        let what = cur.ident("a caveat name or `expiration` after `with`")?;
        if what == "expiration" {
            expiration = true;
        } else {
            caveat = Some(what);
            if cur.eat_keyword("and") {
                let what = cur.ident("`expiration` after `and`")?;
                if what != "expiration" {
                    return Err(SchemaError::new(
                        ErrorKind::Syntax,
                        format!("expected `expiration` after `and`, found `{what}`"),
                    )
                    .at(line));
                }
                expiration = true;
            }
        }
    }
    Ok(AllowedSubject {
        subject_type,
        kind,
        caveat,
        expiration,
    })
}

fn permission(cur: &mut Cursor) -> Result<RelationDef, SchemaError> {
    let name = relation_name(cur)?;
    cur.expect_punct("=")?;
    let rewrite = expr(cur, 0)?;
    Ok(RelationDef {
        name,
        kind: RelationKind::Permission,
        allowed: Vec::new(),
        rewrite,
    })
}

/// Operators from the loosest to the tightest binding.
const LEVELS: [&str; 3] = ["-", "&", "+"];

fn expr(cur: &mut Cursor, level: usize) -> Result<Rewrite, SchemaError> {
    let Some(op) = LEVELS.get(level) else {
        return base(cur);
    };
    let mut left = expr(cur, level + 1)?;
    while cur.eat_punct(op) {
        let right = expr(cur, level + 1)?;
        left = match (*op, left) {
            ("-", l) => Rewrite::Exclusion(Box::new(l), Box::new(right)),
            ("&", Rewrite::Intersection(mut v)) => {
                v.push(right);
                Rewrite::Intersection(v)
            }
            ("&", l) => Rewrite::Intersection(vec![l, right]),
            (_, Rewrite::Union(mut v)) => {
                v.push(right);
                Rewrite::Union(v)
            }
            (_, l) => Rewrite::Union(vec![l, right]),
        };
    }
    Ok(left)
}

fn base(cur: &mut Cursor) -> Result<Rewrite, SchemaError> {
    let line = cur.line();
    if cur.eat_punct("(") {
        let e = expr(cur, 0)?;
        cur.expect_punct(")")?;
        // Flattening `(a + b) + c` into one union is fine: the operators are associative.
        return Ok(e);
    }
    match cur.peek() {
        Some(Tok::Ident(s)) if s == "nil" => {
            cur.bump();
            return Ok(Rewrite::Nil);
        }
        Some(Tok::Ident(s)) if s == "self" => {
            return Err(unsupported(Feature::SelfKeyword, line, "`self` references"));
        }
        _ => {}
    }
    let name = cur.ident("a relation or permission name, `nil` or `(`")?;
    if cur.eat_punct("->") {
        let computed = cur.ident("a permission name after `->`")?;
        if cur.is_punct("->") {
            return Err(cur.error("nested arrows are not supported; name the middle step"));
        }
        return Ok(Rewrite::Arrow {
            tupleset: name,
            computed,
            mode: ArrowMode::Any,
        });
    }
    if cur.is_punct(".") {
        cur.bump();
        let func = cur.ident("`any` or `all` after `.`")?;
        let mode = match func.as_str() {
            "any" => ArrowMode::Any,
            "all" => ArrowMode::All,
            other => {
                return Err(SchemaError::new(
                    ErrorKind::Syntax,
                    format!("unknown arrow function `{other}` (expected `any` or `all`)"),
                )
                .at(line));
            }
        };
        cur.expect_punct("(")?;
        let computed = cur.ident("a permission name")?;
        cur.expect_punct(")")?;
        return Ok(Rewrite::Arrow {
            tupleset: name,
            computed,
            mode,
        });
    }
    Ok(Rewrite::Computed(name))
}
