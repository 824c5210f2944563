//! lookup_resources and lookup_subjects.
//!
//! Both first walk the tuple graph to collect *candidates* — every object (or subject) that some
//! path of tuples connects to the query, ignoring what intersections and exclusions would
//! remove — and then run [`Checker`] on each candidate, sharing its memo. The walk is exact for
//! reachability, so the answers agree with `check` by construction; the checks apply the
//! intersections, exclusions, cycle and depth rules in exactly one place.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use crate::error::EngineError;
use crate::schema::{AllowedKind, Rewrite, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

use super::check::{Checker, Permissionship};

/// How a relation feeds other relations, read backwards: `(type, relation)` → what uses it.
#[derive(Debug, Default)]
pub(crate) struct ReverseIndex {
    uses: BTreeMap<(String, String), Vec<Use>>,
}

#[derive(Debug, Clone)]
enum Use {
    /// `relation` of the same object refers to it.
    Computed { relation: String },
    /// `object_type#relation` reaches it through `tupleset->…`.
    Arrow {
        object_type: String,
        tupleset: String,
        relation: String,
        /// How the tupleset names objects of this type: `""` plainly, or as `type:id#rel`.
        subject_relations: Vec<String>,
    },
}

impl ReverseIndex {
    pub fn new(schema: &Schema) -> Self {
        let mut idx = Self::default();
        for (type_name, def) in &schema.types {
            for rel in def.relations.values() {
                idx.collect(schema, type_name, &rel.name, &rel.rewrite);
            }
        }
        idx
    }

    fn collect(&mut self, schema: &Schema, type_name: &str, relation: &str, rw: &Rewrite) {
        match rw {
            Rewrite::This | Rewrite::Nil => {}
            Rewrite::Computed(r) => self
                .uses
                .entry((type_name.to_owned(), r.clone()))
                .or_default()
                .push(Use::Computed {
                    relation: relation.to_owned(),
                }),
            Rewrite::Arrow {
                tupleset, computed, ..
            } => {
                let Some(ts) = schema.relation(type_name, tupleset) else {
                    return;
                };
                let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                for a in &ts.allowed {
                    match &a.kind {
                        AllowedKind::Object => by_type
                            .entry(&a.subject_type)
                            .or_default()
                            .push(String::new()),
                        AllowedKind::Userset(r) => {
                            by_type.entry(&a.subject_type).or_default().push(r.clone())
                        }
                        AllowedKind::Wildcard => {}
                    }
                }
                for (subject_type, subject_relations) in by_type {
                    self.uses
                        .entry((subject_type.to_owned(), computed.clone()))
                        .or_default()
                        .push(Use::Arrow {
                            object_type: type_name.to_owned(),
                            tupleset: tupleset.clone(),
                            relation: relation.to_owned(),
                            subject_relations,
                        });
                }
            }
            Rewrite::Union(parts) | Rewrite::Intersection(parts) => {
                for p in parts {
                    self.collect(schema, type_name, relation, p);
                }
            }
            // Only the base can grant: a subject reached through the subtracted side alone is
            // never a candidate.
            Rewrite::Exclusion(base, _) => self.collect(schema, type_name, relation, base),
        }
    }
}

/// The `(type, relation)` pairs from which a path can lead to `type_name#relation`: only these
/// are worth walking through when looking for its resources.
fn feeders(schema: &Schema, type_name: &str, relation: &str) -> HashSet<(String, String)> {
    let mut seen = HashSet::new();
    let mut todo = vec![(type_name.to_owned(), relation.to_owned())];
    while let Some((t, r)) = todo.pop() {
        if !seen.insert((t.clone(), r.clone())) {
            continue;
        }
        let Some(def) = schema.relation(&t, &r) else {
            continue;
        };
        let mut refs = Vec::new();
        for a in &def.allowed {
            if let AllowedKind::Userset(ur) = &a.kind {
                refs.push((a.subject_type.clone(), ur.clone()));
            }
        }
        rewrite_refs(schema, &t, &def.rewrite, &mut refs);
        todo.extend(refs);
    }
    seen
}

fn rewrite_refs(schema: &Schema, t: &str, rw: &Rewrite, out: &mut Vec<(String, String)>) {
    match rw {
        Rewrite::This | Rewrite::Nil => {}
        Rewrite::Computed(r) => out.push((t.to_owned(), r.clone())),
        Rewrite::Arrow {
            tupleset, computed, ..
        } => {
            if let Some(ts) = schema.relation(t, tupleset) {
                for a in &ts.allowed {
                    out.push((a.subject_type.clone(), computed.clone()));
                }
            }
        }
        Rewrite::Union(parts) | Rewrite::Intersection(parts) => {
            for p in parts {
                rewrite_refs(schema, t, p, out);
            }
        }
        Rewrite::Exclusion(base, _) => rewrite_refs(schema, t, base, out),
    }
}

/// The ids of every `object_type` object on which `subject` holds `relation` (allowed or
/// conditional), sorted.
pub(crate) async fn lookup_resources(
    checker: &mut Checker<'_, '_>,
    index: &ReverseIndex,
    object_type: &str,
    relation: &str,
    subject: &SubjectRef,
) -> Result<Vec<(String, Permissionship)>, EngineError> {
    let schema = checker.schema;
    let useful = feeders(schema, object_type, relation);
    let mut seen: HashSet<(ObjectRef, String)> = HashSet::new();
    let mut todo: VecDeque<(ObjectRef, String)> = VecDeque::new();
    let mut candidates = BTreeSet::new();

    // Where the subject enters the graph: itself if it is a userset, and every tuple naming it
    // (or, for a plain object, its type's wildcard).
    if let Some(r) = &subject.relation {
        todo.push_back((
            ObjectRef::new(subject.subject_type.clone(), subject.subject_id.clone()),
            r.clone(),
        ));
    }
    let mut entries = vec![subject.clone()];
    if subject.relation.is_none() && !subject.is_wildcard() {
        entries.push(SubjectRef::wildcard(subject.subject_type.clone()));
    }
    for s in &entries {
        let pairs = accepting(schema, &useful, s);
        for (obj, rel) in checker.reader.objects(s, Some(&pairs)).await?.iter() {
            if accepts(schema, obj, rel, s) {
                todo.push_back((obj.clone(), rel.clone()));
            }
        }
    }

    while let Some((obj, rel)) = todo.pop_front() {
        if !seen.insert((obj.clone(), rel.clone())) {
            continue;
        }
        let node = (obj.object_type.clone(), rel.clone());
        if obj.object_type == object_type && rel == relation {
            candidates.insert(obj.object_id.clone());
        }
        if !useful.contains(&node) {
            continue;
        }
        for u in index.uses.get(&node).map(Vec::as_slice).unwrap_or_default() {
            match u {
                Use::Computed { relation } => todo.push_back((obj.clone(), relation.clone())),
                Use::Arrow {
                    object_type,
                    tupleset,
                    relation,
                    subject_relations,
                } => {
                    if !useful.contains(&(object_type.clone(), relation.clone())) {
                        continue;
                    }
                    for sr in subject_relations {
                        let named = SubjectRef {
                            subject_type: obj.object_type.clone(),
                            subject_id: obj.object_id.clone(),
                            relation: (!sr.is_empty()).then(|| sr.clone()),
                        };
                        let pair = [(object_type.clone(), tupleset.clone())];
                        let parents = checker.reader.objects(&named, Some(&pair)).await?;
                        for (p, ts) in parents.iter() {
                            if accepts(schema, p, ts, &named) {
                                todo.push_back((p.clone(), relation.clone()));
                            }
                        }
                    }
                }
            }
        }
        // Tuples whose subject is this userset (`team:eng#member`).
        let userset = SubjectRef::userset(obj.object_type.clone(), obj.object_id.clone(), rel);
        let pairs = accepting(schema, &useful, &userset);
        for (o, r) in checker.reader.objects(&userset, Some(&pairs)).await?.iter() {
            if accepts(schema, o, r, &userset) {
                todo.push_back((o.clone(), r.clone()));
            }
        }
    }

    // The candidates' own tuples that their checks start from, read together.
    let ids: Vec<String> = candidates.iter().cloned().collect();
    for rel in first_reads(schema, object_type, relation) {
        checker.reader.prefetch(object_type, &rel, &ids).await?;
    }
    let mut out = Vec::new();
    for id in candidates {
        let obj = ObjectRef::new(object_type, id);
        let p = checker.permissionship(&obj, relation, subject).await?;
        if p != Permissionship::Denied {
            out.push((obj.object_id, p));
        }
    }
    Ok(out)
}

/// The relations of an object of `type_name` that a check of `relation` on it reads before
/// leaving the object: its own tuples, and the tuplesets of its arrows, through computed
/// relations.
fn first_reads(schema: &Schema, type_name: &str, relation: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![relation];
    while let Some(rel) = todo.pop() {
        let Some(def) = schema.relation(type_name, rel).filter(|_| seen.insert(rel)) else {
            continue;
        };
        let mut steps = Vec::new();
        walk(&def.rewrite, &mut steps);
        for step in steps {
            match step {
                Step::This => {
                    out.insert(rel.to_owned());
                }
                Step::Computed(r) => todo.push(r),
                Step::Arrow(tupleset, _) => {
                    out.insert(tupleset.to_owned());
                }
            }
        }
    }
    out
}

/// The useful `(type, relation)` pairs whose tuples may name subjects like `s`: where to look
/// for `s` in the reverse index, sorted so the query's cache key is stable.
fn accepting(
    schema: &Schema,
    useful: &HashSet<(String, String)>,
    s: &SubjectRef,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = useful
        .iter()
        .filter(|(t, r)| {
            schema
                .relation(t, r)
                .is_some_and(|d| d.accepts(&s.subject_type, &s.subject_id, s.relation_str()))
        })
        .cloned()
        .collect();
    pairs.sort();
    pairs
}

fn accepts(schema: &Schema, obj: &ObjectRef, rel: &str, s: &SubjectRef) -> bool {
    schema
        .relation(&obj.object_type, rel)
        .is_some_and(|d| d.accepts(&s.subject_type, &s.subject_id, s.relation_str()))
}

/// Every subject of type `subject_type` (with `subject_relation`, for usersets) holding
/// `relation` on `object` (allowed or conditional), sorted; `type:*` stands for "every object
/// of the type".
pub(crate) async fn lookup_subjects(
    checker: &mut Checker<'_, '_>,
    object: &ObjectRef,
    relation: &str,
    subject_type: &str,
    subject_relation: Option<&str>,
) -> Result<Vec<(SubjectRef, Permissionship)>, EngineError> {
    let schema = checker.schema;
    let mut seen: HashSet<(ObjectRef, String)> = HashSet::new();
    let mut todo = VecDeque::from([(object.clone(), relation.to_owned())]);
    let mut candidates: BTreeSet<SubjectRef> = BTreeSet::new();
    let wanted = |s: &SubjectRef| {
        s.subject_type == subject_type && s.relation.as_deref() == subject_relation
    };

    while let Some((obj, rel)) = todo.pop_front() {
        if !seen.insert((obj.clone(), rel.clone())) {
            continue;
        }
        let Some(def) = schema.relation(&obj.object_type, &rel) else {
            continue;
        };
        let itself = SubjectRef::userset(obj.object_type.clone(), obj.object_id.clone(), &rel);
        if wanted(&itself) {
            candidates.insert(itself);
        }
        let mut steps = Vec::new();
        walk(&def.rewrite, &mut steps);
        for step in steps {
            match step {
                Step::This => {
                    for s in checker.reader.subjects(&obj, &rel).await?.iter() {
                        if !def.accepts(&s.subject_type, &s.subject_id, s.relation_str()) {
                            continue;
                        }
                        if wanted(s) {
                            candidates.insert(s.clone());
                        }
                        if let Some(r) = &s.relation {
                            todo.push_back((
                                ObjectRef::new(s.subject_type.clone(), s.subject_id.clone()),
                                r.clone(),
                            ));
                        }
                    }
                }
                Step::Computed(r) => todo.push_back((obj.clone(), r.to_owned())),
                Step::Arrow(tupleset, computed) => {
                    let targets = checker
                        .reader
                        .arrow_targets(schema, &obj, tupleset, computed)
                        .await?;
                    todo.extend(targets.into_iter().map(|(t, _)| (t, computed.to_owned())));
                }
            }
        }
    }

    let mut out = Vec::new();
    for s in candidates {
        let p = checker.permissionship(object, relation, &s).await?;
        if p != Permissionship::Denied {
            out.push((s, p));
        }
    }
    Ok(out)
}

enum Step<'a> {
    This,
    Computed(&'a str),
    Arrow(&'a str, &'a str),
}

/// Every leaf of a rewrite, on both sides of exclusions: a subject named only on the
/// subtracted side is still a candidate when a wildcard grants the base.
fn walk<'a>(rw: &'a Rewrite, out: &mut Vec<Step<'a>>) {
    match rw {
        Rewrite::Nil => {}
        Rewrite::This => out.push(Step::This),
        Rewrite::Computed(r) => out.push(Step::Computed(r)),
        Rewrite::Arrow {
            tupleset, computed, ..
        } => out.push(Step::Arrow(tupleset, computed)),
        Rewrite::Union(parts) | Rewrite::Intersection(parts) => {
            for p in parts {
                walk(p, out);
            }
        }
        Rewrite::Exclusion(a, b) => {
            walk(a, out);
            walk(b, out);
        }
    }
}
