//! Translates the OpenFGA modelling language (schema 1.1) into the internal model:
//!
//! ```text
//! model
//!   schema 1.1
//! type document
//!   relations
//!     define parent: [folder]
//!     define viewer: [user, user:*, group#member] or editor or viewer from parent
//!     define can_view: (viewer and allowed) but not banned
//! ```
//!
//! `a or b` is `a + b`, `a and b` is `a & b`, `a but not b` is `a - b`, `x from parent` is
//! `parent->x`, and `[…]` is the relation's own tuples with those allowed subject types. As in
//! OpenFGA, different operators at one level need parentheses. Conditions: `condition name(p: type,
//! …) { CEL }` and `[user with name]`. A modular model as `fga model write` combines an fga.mod
//! (`schema 1.2`, types annotated with `# module:` comments) reads as 1.1; a lone module file
//! (`module …`) is not a model.

use std::collections::BTreeMap;

use super::lex::{Cursor, Tok, tokenize};
use super::{
    AllowedKind, AllowedSubject, ArrowMode, ErrorKind, Feature, RelationDef, RelationKind, Rewrite,
    Schema, SchemaError, SchemaErrors, TypeDef, take_caveats,
};

/// Names OpenFGA reserves for types and relations.
const RESERVED: [&str; 2] = ["self", "this"];

/// Parses an OpenFGA model (no validation of references; see [`super::validate`]).
pub fn parse(src: &str) -> Result<Schema, SchemaErrors> {
    let src = strip_comments(src);
    // Condition bodies are CEL, not DSL: taken out first.
    let (src, caveats) = take_caveats(&src, "condition")?;
    let caveats = caveats
        .into_iter()
        .map(|(n, c)| (n, c.needing_every_parameter()))
        .collect();
    let mut cur = Cursor::new(tokenize(&src, true)?);
    header(&mut cur)?;
    let mut schema = Schema {
        caveats,
        ..Schema::default()
    };
    let mut errors = Vec::new();
    while !cur.at_end() {
        let line = cur.line();
        if cur.eat_keyword("type") {
            let def = type_def(&mut cur)?;
            if schema.types.contains_key(&def.name) {
                errors.push(
                    SchemaError::new(
                        ErrorKind::Duplicate,
                        format!("the type `{}` is defined twice", def.name),
                    )
                    .at(line),
                );
            }
            if RESERVED.contains(&def.name.as_str()) {
                errors.push(
                    SchemaError::new(
                        ErrorKind::InvalidName,
                        "a type cannot be named 'self' or 'this'",
                    )
                    .at(line),
                );
            }
            schema.types.insert(def.name.clone(), def);
        } else {
            return Err(cur.error("expected `type` or `condition`").into());
        }
    }
    tuplesets_are_direct(&schema, &mut errors);
    for name in schema.caveats.keys() {
        let used = schema
            .types
            .values()
            .flat_map(|t| t.relations.values())
            .flat_map(|r| &r.allowed)
            .any(|a| a.caveat.as_ref() == Some(name));
        if !used {
            errors.push(SchemaError::new(
                ErrorKind::UnusedCaveat,
                format!("condition `{name}` is not used in the model"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(schema)
    } else {
        Err(SchemaErrors(errors))
    }
}

/// OpenFGA's rule (stricter than SpiceDB's): the relation after `from` may only list plain
/// object types — no usersets, no wildcards.
fn tuplesets_are_direct(schema: &Schema, errors: &mut Vec<SchemaError>) {
    fn arrows<'a>(rw: &'a Rewrite, out: &mut Vec<&'a str>) {
        match rw {
            Rewrite::Arrow { tupleset, .. } => out.push(tupleset),
            Rewrite::Union(p) | Rewrite::Intersection(p) => p.iter().for_each(|x| arrows(x, out)),
            Rewrite::Exclusion(a, b) => {
                arrows(a, out);
                arrows(b, out);
            }
            Rewrite::This | Rewrite::Computed(_) | Rewrite::Nil => {}
        }
    }
    for (type_name, def) in &schema.types {
        for rel in def.relations.values() {
            let mut found = Vec::new();
            arrows(&rel.rewrite, &mut found);
            for ts in found {
                let Some(tsdef) = def.relations.get(ts) else {
                    continue;
                };
                if tsdef.allowed.iter().any(|a| a.kind != AllowedKind::Object) {
                    errors.push(SchemaError::new(
                        ErrorKind::InvalidArrow,
                        format!(
                            "`{type_name}#{}` uses `… from {ts}`, but `{ts}` allows usersets or wildcards; the relation after `from` may only list types",
                            rel.name
                        ),
                    ));
                }
            }
        }
    }
}

/// Drops `#` comments: a `#` at the start of a line or after whitespace (inside `group#member`
/// it is part of a name).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut cut = line.len();
        let mut prev_space = true;
        for (i, c) in line.char_indices() {
            if c == '#' && prev_space {
                cut = i;
                break;
            }
            prev_space = c.is_whitespace();
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn header(cur: &mut Cursor) -> Result<(), SchemaError> {
    if cur.is_keyword("module") {
        return Err(SchemaError::new(
            ErrorKind::Syntax,
            "schema version required: a module file (`module …`) is not a model on its own; \
             load the model its fga.mod combines (`schema 1.2`)",
        )
        .at(cur.line()));
    }
    cur.expect_keyword("model")?;
    let line = cur.line();
    if !cur.eat_keyword("schema") {
        return Err(SchemaError::new(
            ErrorKind::Syntax,
            "the model must start with `model` and `schema 1.1`",
        )
        .at(line));
    }
    let mut version = cur.ident("a schema version")?;
    if cur.eat_punct(".") {
        version.push('.');
        version.push_str(&cur.ident("a schema version")?);
    }
    match version.as_str() {
        // 1.2 is what `fga model write` makes of an fga.mod: the modules combined into one
        // model of the 1.1 language (types annotated with `# module:` comments).
        "1.1" | "1.2" => Ok(()),
        other => Err(SchemaError::new(
            ErrorKind::Syntax,
            format!("unsupported schema version `{other}` (expected 1.1)"),
        )
        .at(line)),
    }
}

/// OpenFGA's naming rules: `^[^:#@*\s]{1,254}$` for types, `{1,50}` for relations.
fn check_name(name: &str, max: usize, what: &str, line: usize, errors: &mut Vec<SchemaError>) {
    let bad = |c: char| matches!(c, ':' | '#' | '@' | '*') || c.is_whitespace();
    if name.is_empty() || name.chars().count() > max || name.chars().any(bad) {
        errors.push(
            SchemaError::new(
                ErrorKind::InvalidName,
                format!("{what} `{name}` does not match the naming rule (1 to {max} characters, none of `:#@*` or spaces)"),
            )
            .at(line),
        );
    }
}

fn type_def(cur: &mut Cursor) -> Result<TypeDef, SchemaErrors> {
    let line = cur.line();
    let name = cur.ident("a type name")?;
    let mut relations = BTreeMap::new();
    let mut errors = Vec::new();
    check_name(&name, 254, "type", line, &mut errors);
    if cur.eat_keyword("relations") {
        while cur.is_keyword("define") {
            cur.bump();
            let line = cur.line();
            let rel = define(cur)?;
            check_name(&rel.name, 50, "relation", line, &mut errors);
            if let Some(dup) = duplicate_operand(&rel.rewrite) {
                errors.push(
                    SchemaError::new(
                        ErrorKind::Duplicate,
                        format!("`{dup}` appears twice in the definition of `{}`", rel.name),
                    )
                    .at(line),
                );
            }
            if RESERVED.contains(&rel.name.as_str()) {
                errors.push(
                    SchemaError::new(
                        ErrorKind::InvalidName,
                        "a relation cannot be named 'self' or 'this'",
                    )
                    .at(line),
                );
            }
            if relations.contains_key(&rel.name) {
                errors.push(
                    SchemaError::new(
                        ErrorKind::Duplicate,
                        format!(
                            "the relation `{}` is defined twice in type `{name}`",
                            rel.name
                        ),
                    )
                    .at(line),
                );
            }
            relations.insert(rel.name.clone(), rel);
        }
    }
    if errors.is_empty() {
        Ok(TypeDef { name, relations })
    } else {
        Err(SchemaErrors(errors))
    }
}

fn define(cur: &mut Cursor) -> Result<RelationDef, SchemaError> {
    let name = cur.ident("a relation name")?;
    cur.expect_punct(":")?;
    let mut allowed = None;
    let rewrite = rewrite(cur, &mut allowed)?;
    let allowed = allowed.unwrap_or_default();
    Ok(RelationDef {
        name,
        // OpenFGA does not tell relations from permissions; a relation with assignable types
        // behaves as a SpiceDB relation (arrows may walk it).
        kind: if allowed.is_empty() {
            RelationKind::Permission
        } else {
            RelationKind::Relation
        },
        allowed,
        rewrite,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Or,
    And,
    ButNot,
}

fn operator(cur: &mut Cursor) -> Option<Op> {
    if cur.eat_keyword("or") {
        Some(Op::Or)
    } else if cur.eat_keyword("and") {
        Some(Op::And)
    } else if cur.is_keyword("but") && matches!(cur.peek_at(1), Some(Tok::Ident(s)) if s == "not") {
        cur.bump();
        cur.bump();
        Some(Op::ButNot)
    } else {
        None
    }
}

fn rewrite(
    cur: &mut Cursor,
    allowed: &mut Option<Vec<AllowedSubject>>,
) -> Result<Rewrite, SchemaError> {
    let mut left = operand(cur, allowed)?;
    let mut level_op: Option<Op> = None;
    loop {
        let line = cur.line();
        let Some(op) = operator(cur) else { break };
        if level_op.is_some_and(|o| o != op) {
            return Err(SchemaError::new(
                ErrorKind::Syntax,
                "different operators (`or`, `and`, `but not`) need parentheses to be combined",
            )
            .at(line));
        }
        level_op = Some(op);
        let right = operand(cur, allowed)?;
        left = match (op, left) {
            (Op::Or, Rewrite::Union(mut v)) => {
                v.push(right);
                Rewrite::Union(v)
            }
            (Op::Or, l) => Rewrite::Union(vec![l, right]),
            (Op::And, Rewrite::Intersection(mut v)) => {
                v.push(right);
                Rewrite::Intersection(v)
            }
            (Op::And, l) => Rewrite::Intersection(vec![l, right]),
            (Op::ButNot, l) => Rewrite::Exclusion(Box::new(l), Box::new(right)),
        };
    }
    Ok(left)
}

fn operand(
    cur: &mut Cursor,
    allowed: &mut Option<Vec<AllowedSubject>>,
) -> Result<Rewrite, SchemaError> {
    let line = cur.line();
    if cur.eat_punct("(") {
        let inner = rewrite(cur, allowed)?;
        cur.expect_punct(")")?;
        return Ok(inner);
    }
    if cur.eat_punct("[") {
        if allowed.is_some() {
            return Err(SchemaError::new(
                ErrorKind::Syntax,
                "a relation may list its directly related types only once",
            )
            .at(line));
        }
        let mut types = vec![type_restriction(cur)?];
        while cur.eat_punct(",") {
            types.push(type_restriction(cur)?);
        }
        cur.expect_punct("]")?;
        *allowed = Some(types);
        return Ok(Rewrite::This);
    }
    let name = cur.ident("a relation name, `[` or `(`")?;
    if cur.eat_keyword("from") {
        let tupleset = cur.ident("a relation name after `from`")?;
        return Ok(Rewrite::Arrow {
            tupleset,
            computed: name,
            mode: ArrowMode::Any,
        });
    }
    if name == "self" || name == "this" {
        return Err(SchemaError::new(
            ErrorKind::Unsupported(Feature::SelfKeyword),
            "`self`/`this` (schema 1.0) is not supported; list the directly related types",
        )
        .at(line));
    }
    Ok(Rewrite::Computed(name))
}

fn type_restriction(cur: &mut Cursor) -> Result<AllowedSubject, SchemaError> {
    let subject_type = cur.ident("a type name")?;
    let kind = if cur.eat_punct(":") {
        cur.expect_punct("*")?;
        AllowedKind::Wildcard
    } else if cur.eat_punct("#") {
        AllowedKind::Userset(cur.ident("a relation name after `#`")?)
    } else {
        AllowedKind::Object
    };
    let caveat = if cur.eat_keyword("with") {
        Some(cur.ident("a condition name after `with`")?)
    } else {
        None
    };
    Ok(AllowedSubject {
        subject_type,
        kind,
        caveat,
        expiration: false,
    })
}

/// The first operand listed twice under one operator (`viewer or viewer`).
fn duplicate_operand(rw: &Rewrite) -> Option<String> {
    match rw {
        Rewrite::Union(p) | Rewrite::Intersection(p) => {
            for (i, a) in p.iter().enumerate() {
                if p[..i].contains(a) {
                    return Some(a.to_string());
                }
            }
            p.iter().find_map(duplicate_operand)
        }
        Rewrite::Exclusion(a, b) => {
            if a == b {
                return Some(a.to_string());
            }
            duplicate_operand(a).or_else(|| duplicate_operand(b))
        }
        Rewrite::This | Rewrite::Computed(_) | Rewrite::Arrow { .. } | Rewrite::Nil => None,
    }
}
