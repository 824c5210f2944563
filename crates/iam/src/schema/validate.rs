//! Whole-schema checks: every reference resolves, arrows walk assignable relations, and every
//! relation can be satisfied by some tuple (has an entry point).

use std::collections::BTreeSet;

use super::{
    AllowedKind, ErrorKind, RelationDef, RelationKind, Rewrite, Schema, SchemaError, SchemaErrors,
    TypeDef, valid_type_name,
};

/// Checks a parsed schema; reports every problem found.
pub fn validate(schema: &Schema) -> Result<(), SchemaErrors> {
    let mut errors = Vec::new();
    for (type_name, def) in &schema.types {
        if !valid_type_name(type_name) {
            errors.push(SchemaError::new(
                ErrorKind::InvalidName,
                format!("invalid type name `{type_name}`"),
            ));
        }
        for rel in def.relations.values() {
            check_allowed(schema, type_name, rel, &mut errors);
            check_rewrite(schema, type_name, rel, &rel.rewrite, &mut errors);
        }
    }
    // Entry points only mean something once every reference resolves.
    if errors.is_empty() {
        for (type_name, def) in &schema.types {
            computed_loops(type_name, def, &mut errors);
        }
    }
    if errors.is_empty() {
        for (type_name, def) in &schema.types {
            for rel in def.relations.values() {
                if !has_entry_point(schema, type_name, &rel.name, &mut BTreeSet::new()) {
                    errors.push(SchemaError::new(
                        ErrorKind::NoEntryPoint,
                        format!(
                            "`{type_name}#{}` has no entry point: no tuple can ever satisfy it \
                             (it only refers to itself, or to relations without entry points)",
                            rel.name
                        ),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SchemaErrors(errors))
    }
}

fn check_allowed(
    schema: &Schema,
    type_name: &str,
    rel: &RelationDef,
    errors: &mut Vec<SchemaError>,
) {
    let mut seen = BTreeSet::new();
    for a in &rel.allowed {
        if !seen.insert(a) {
            errors.push(SchemaError::new(
                ErrorKind::Duplicate,
                format!("`{type_name}#{}` lists `{a}` twice", rel.name),
            ));
        }
        if let Some(c) = &a.caveat
            && !schema.caveats.contains_key(c)
        {
            errors.push(SchemaError::new(
                ErrorKind::UndefinedCaveat,
                format!(
                    "`{type_name}#{}` allows `{a}`, but caveat `{c}` is not defined",
                    rel.name
                ),
            ));
        }
        let Some(target) = schema.types.get(&a.subject_type) else {
            errors.push(SchemaError::new(
                ErrorKind::UndefinedType,
                format!(
                    "`{type_name}#{}` allows `{a}`, but type `{}` is not defined",
                    rel.name, a.subject_type
                ),
            ));
            continue;
        };
        if let AllowedKind::Userset(r) = &a.kind
            && !target.relations.contains_key(r)
        {
            errors.push(SchemaError::new(
                ErrorKind::UndefinedRelation,
                format!(
                    "`{type_name}#{}` allows `{a}`, but type `{}` has no relation `{r}`",
                    rel.name, a.subject_type
                ),
            ));
        }
    }
}

fn check_rewrite(
    schema: &Schema,
    type_name: &str,
    rel: &RelationDef,
    rw: &Rewrite,
    errors: &mut Vec<SchemaError>,
) {
    let here = |r: &str| schema.relation(type_name, r);
    match rw {
        Rewrite::This | Rewrite::Nil => {}
        Rewrite::Computed(r) => {
            if here(r).is_none() {
                errors.push(SchemaError::new(
                    ErrorKind::UndefinedRelation,
                    format!(
                        "`{type_name}#{}` refers to `{r}`, which type `{type_name}` does not define",
                        rel.name
                    ),
                ));
            }
        }
        Rewrite::Arrow {
            tupleset, computed, ..
        } => {
            let Some(ts) = here(tupleset) else {
                errors.push(SchemaError::new(
                    ErrorKind::UndefinedRelation,
                    format!(
                        "`{type_name}#{}` walks `{tupleset}`, which type `{type_name}` does not define",
                        rel.name
                    ),
                ));
                return;
            };
            if ts.kind == RelationKind::Permission || !ts.is_assignable() {
                errors.push(SchemaError::new(
                    ErrorKind::InvalidArrow,
                    format!(
                        "`{type_name}#{}` walks `{tupleset}`, which is not a directly assignable relation",
                        rel.name
                    ),
                ));
                return;
            }
            if ts.rewrite != Rewrite::This {
                errors.push(SchemaError::new(
                    ErrorKind::InvalidArrow,
                    format!(
                        "`{type_name}#{}` walks `{tupleset}`, which must only list directly related types",
                        rel.name
                    ),
                ));
            }
            let mut found = false;
            for a in &ts.allowed {
                match &a.kind {
                    // SpiceDB follows the object of a userset subject too.
                    AllowedKind::Object | AllowedKind::Userset(_) => {
                        if schema.relation(&a.subject_type, computed).is_some() {
                            found = true;
                        }
                    }
                    AllowedKind::Wildcard => {
                        errors.push(SchemaError::new(
                            ErrorKind::InvalidArrow,
                            format!(
                                "`{type_name}#{}` walks `{tupleset}`, which allows `{a}`: an arrow cannot follow a wildcard",
                                rel.name
                            ),
                        ));
                    }
                }
            }
            if !found {
                errors.push(SchemaError::new(
                    ErrorKind::UndefinedRelation,
                    format!(
                        "`{type_name}#{}` uses `{tupleset}->{computed}`, but none of the types `{tupleset}` allows defines `{computed}`",
                        rel.name
                    ),
                ));
            }
        }
        Rewrite::Union(parts) | Rewrite::Intersection(parts) => {
            for p in parts {
                check_rewrite(schema, type_name, rel, p, errors);
            }
        }
        Rewrite::Exclusion(a, b) => {
            check_rewrite(schema, type_name, rel, a, errors);
            check_rewrite(schema, type_name, rel, b, errors);
        }
    }
}

/// Whether some set of tuples can satisfy `type#relation` for a plain subject. `nil` counts as
/// satisfiable: it is an explicit "nobody", not a mistake.
fn has_entry_point(
    schema: &Schema,
    type_name: &str,
    relation: &str,
    visiting: &mut BTreeSet<(String, String)>,
) -> bool {
    let Some(def) = schema.relation(type_name, relation) else {
        return false;
    };
    let key = (type_name.to_owned(), relation.to_owned());
    if !visiting.insert(key.clone()) {
        return false;
    }
    let ok = rewrite_entry(schema, type_name, def, &def.rewrite, visiting);
    visiting.remove(&key);
    ok
}

fn rewrite_entry(
    schema: &Schema,
    type_name: &str,
    def: &RelationDef,
    rw: &Rewrite,
    visiting: &mut BTreeSet<(String, String)>,
) -> bool {
    match rw {
        Rewrite::Nil => true,
        Rewrite::This => def.allowed.iter().any(|a| match &a.kind {
            AllowedKind::Object | AllowedKind::Wildcard => true,
            AllowedKind::Userset(r) => has_entry_point(schema, &a.subject_type, r, visiting),
        }),
        Rewrite::Computed(r) => has_entry_point(schema, type_name, r, visiting),
        Rewrite::Arrow {
            tupleset, computed, ..
        } => schema
            .relation(type_name, tupleset)
            .map(|ts| {
                ts.allowed.iter().any(|a| {
                    a.kind != AllowedKind::Wildcard
                        && has_entry_point(schema, &a.subject_type, computed, visiting)
                })
            })
            .unwrap_or(false),
        Rewrite::Union(parts) => parts
            .iter()
            .any(|p| rewrite_entry(schema, type_name, def, p, visiting)),
        Rewrite::Intersection(parts) => parts
            .iter()
            .all(|p| rewrite_entry(schema, type_name, def, p, visiting)),
        // Both sides must be satisfiable: a subtraction of something impossible is a mistake.
        Rewrite::Exclusion(base, subtract) => {
            rewrite_entry(schema, type_name, def, base, visiting)
                && rewrite_entry(schema, type_name, def, subtract, visiting)
        }
    }
}

/// A relation that holds tuples must not refer back to itself through other relations of the
/// same object (`x: [user] or y`, `y: [user] or x`, also through `but not`): OpenFGA refuses
/// such loops ("potential loop"), and checks through them could only end by cycle detection.
/// Loops through tuples (`member: [group#member]`, `viewer from parent`) are fine, and so are
/// loops of unions among relations without tuples (`a: admin or b`, `b: admin or a`).
fn computed_loops(type_name: &str, def: &TypeDef, errors: &mut Vec<SchemaError>) {
    fn refs<'a>(rw: &'a Rewrite, out: &mut Vec<&'a str>) {
        match rw {
            Rewrite::Computed(r) => out.push(r),
            Rewrite::Union(p) | Rewrite::Intersection(p) => p.iter().for_each(|x| refs(x, out)),
            Rewrite::Exclusion(a, b) => {
                refs(a, out);
                refs(b, out);
            }
            Rewrite::This | Rewrite::Nil | Rewrite::Arrow { .. } => {}
        }
    }
    for (start, start_def) in &def.relations {
        if !start_def.is_assignable() {
            continue;
        }
        // Is `start` reachable from itself through computed references?
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.as_str()];
        let mut looped = false;
        while let Some(r) = todo.pop() {
            let Some(rel) = def.relations.get(r) else {
                continue;
            };
            let mut next = Vec::new();
            refs(&rel.rewrite, &mut next);
            for n in next {
                if n == start {
                    looped = true;
                }
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        if looped {
            errors.push(SchemaError::new(
                ErrorKind::NoEntryPoint,
                format!(
                    "`{type_name}#{start}` is an impossible relation: it has directly assigned \
                     tuples and refers back to itself through other relations of the same object \
                     (a potential loop)"
                ),
            ));
        }
    }
}
