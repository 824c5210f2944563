//! Check: does `subject` hold `relation` on `object`?
//!
//! A depth-first walk of the rewrite tree with OpenFGA's semantics:
//! - a node already on the current path is a *cycle*: it contributes nothing, and the answer it
//!   taints is "no" — also under an exclusion (`true but not <cycle>` is false), because the
//!   subtracted side is unknown, not empty;
//! - more than [`MAX_DEPTH`] nested steps (computed usersets, userset tuples, arrows) is an
//!   error, never a silent "no";
//! - stored tuples that the current model no longer allows are ignored.
//!
//! Results that no cycle tainted do not depend on the path that reached them, so they are kept
//! for the rest of the query (bulk checks and lookups check many subjects over one graph) and,
//! without contextual tuples, in the engine's cache for later queries at the same revision
//! ([`super::cache`]). They do depend on how deep they were first asked, though: a node resolved
//! near the top may need more nested steps than remain when it is reached deeper down. Each kept
//! result therefore carries its *span* — the most nested steps its resolution took below it — and
//! is reused only where that many steps are still allowed, so a reused result is always the one
//! a fresh resolution would give, depth errors included.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use crate::error::EngineError;
use crate::schema::{ArrowMode, RelationDef, Rewrite, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

use super::cache::Scope;
use super::reader::Reader;

/// Nested steps a check may take; one more is an error (OpenFGA's resolution limit).
pub const MAX_DEPTH: u32 = 25;

/// A sub-result: granted, not granted, or not known because it ran into a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Yes,
    No,
    Cycle,
}

pub(crate) type Key = (ObjectRef, String, SubjectRef);
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// A resolved node: its answer and its span (the most nested steps its resolution took below
/// the node, counting a step that went over the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memo {
    pub allowed: bool,
    pub span: u32,
}

impl Memo {
    /// Whether reaching the node at `depth` would resolve it the same way: every step its
    /// resolution took is still within the limit there.
    pub fn usable_at(self, depth: u32) -> bool {
        depth.saturating_add(self.span) <= MAX_DEPTH
    }
}

pub(crate) struct Checker<'s, 'r> {
    pub schema: &'s Schema,
    pub reader: Reader<'r>,
    shared: Option<Scope<'r>>,
    memo: HashMap<Key, Memo>,
    path: HashSet<Key>,
    /// The deepest step reached since the innermost node being resolved began.
    deepest: u32,
}

impl<'s, 'r> Checker<'s, 'r> {
    /// A checker for one query; `shared` is the engine's cache at the query's org and revision
    /// (`None` when the query has contextual tuples, or the engine has no cache).
    pub fn new(schema: &'s Schema, reader: Reader<'r>, shared: Option<Scope<'r>>) -> Self {
        Self {
            schema,
            reader,
            shared,
            memo: HashMap::new(),
            path: HashSet::new(),
            deepest: 0,
        }
    }

    /// The final answer for one check (a cycle is "no").
    pub async fn allowed(
        &mut self,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
    ) -> Result<bool, EngineError> {
        Ok(self.check(object, relation, subject, 0).await? == Outcome::Yes)
    }

    pub fn check<'a>(
        &'a mut self,
        object: &'a ObjectRef,
        relation: &'a str,
        subject: &'a SubjectRef,
        depth: u32,
    ) -> BoxFut<'a, Outcome> {
        Box::pin(async move {
            self.deepest = self.deepest.max(depth);
            if depth > MAX_DEPTH {
                return Err(EngineError::DepthExceeded(MAX_DEPTH));
            }
            // A userset always contains itself (`group:x#member` is in `group:x#member`).
            if subject.relation.as_deref() == Some(relation)
                && subject.subject_type == object.object_type
                && subject.subject_id == object.object_id
            {
                return Ok(Outcome::Yes);
            }
            let schema = self.schema;
            let Some(def) = schema.relation(&object.object_type, relation) else {
                return Ok(Outcome::No);
            };
            let key: Key = (object.clone(), relation.to_owned(), subject.clone());
            if let Some(hit) = self.kept(&key, depth).await {
                return Ok(if hit { Outcome::Yes } else { Outcome::No });
            }
            if !self.path.insert(key.clone()) {
                return Ok(Outcome::Cycle);
            }
            let outer = std::mem::replace(&mut self.deepest, depth);
            let result = self
                .rewrite(object, def, &def.rewrite, subject, depth)
                .await;
            let span = self.deepest - depth;
            self.deepest = self.deepest.max(outer);
            self.path.remove(&key);
            let outcome = result?;
            let allowed = match outcome {
                Outcome::Yes => true,
                Outcome::No => false,
                Outcome::Cycle => return Ok(outcome),
            };
            self.keep(key, Memo { allowed, span }).await;
            Ok(outcome)
        })
    }

    /// A result kept by this query or, failing that, by the engine's cache, if valid at `depth`.
    async fn kept(&mut self, key: &Key, depth: u32) -> Option<bool> {
        let mut found = self.memo.get(key).copied().filter(|m| m.usable_at(depth));
        if found.is_none()
            && let Some(shared) = self.shared
            && let Some(m) = shared
                .cache
                .get(shared.org, shared.revision, key, depth)
                .await
        {
            self.memo.insert(key.clone(), m);
            found = Some(m);
        }
        let m = found?;
        self.deepest = self.deepest.max(depth + m.span);
        Some(m.allowed)
    }

    /// Keeps a result for the rest of the query and in the engine's cache. Of two resolutions
    /// of one node (the second one deeper, where the first was not valid), the smaller span is
    /// the more widely valid.
    async fn keep(&mut self, key: Key, memo: Memo) {
        if self.memo.get(&key).is_some_and(|old| old.span <= memo.span) {
            return;
        }
        self.memo.insert(key.clone(), memo);
        if let Some(shared) = self.shared {
            shared
                .cache
                .put(shared.org, shared.revision, key, memo)
                .await;
        }
    }

    fn rewrite<'a>(
        &'a mut self,
        object: &'a ObjectRef,
        def: &'s RelationDef,
        rw: &'s Rewrite,
        subject: &'a SubjectRef,
        depth: u32,
    ) -> BoxFut<'a, Outcome> {
        Box::pin(async move {
            match rw {
                Rewrite::Nil => Ok(Outcome::No),
                Rewrite::This => self.direct(object, def, subject, depth).await,
                Rewrite::Computed(r) => self.check(object, r, subject, depth + 1).await,
                Rewrite::Arrow {
                    tupleset,
                    computed,
                    mode,
                } => {
                    self.arrow(object, tupleset, computed, *mode, subject, depth)
                        .await
                }
                Rewrite::Union(parts) => {
                    let mut acc = Union::default();
                    for p in parts {
                        if acc.add(self.rewrite(object, def, p, subject, depth).await)? {
                            break;
                        }
                    }
                    acc.finish()
                }
                Rewrite::Intersection(parts) => {
                    let mut cycle = false;
                    for p in parts {
                        match self.rewrite(object, def, p, subject, depth).await? {
                            Outcome::No => return Ok(Outcome::No),
                            Outcome::Cycle => cycle = true,
                            Outcome::Yes => {}
                        }
                    }
                    Ok(if cycle { Outcome::Cycle } else { Outcome::Yes })
                }
                Rewrite::Exclusion(base, subtract) => {
                    let b = self.rewrite(object, def, base, subject, depth).await?;
                    if b == Outcome::No {
                        return Ok(Outcome::No);
                    }
                    match self.rewrite(object, def, subtract, subject, depth).await? {
                        Outcome::Yes => Ok(Outcome::No),
                        Outcome::Cycle => Ok(Outcome::Cycle),
                        Outcome::No => Ok(b),
                    }
                }
            }
        })
    }

    /// The relation's own tuples: the subject itself, a wildcard of its type, or a userset
    /// that contains it.
    async fn direct(
        &mut self,
        object: &ObjectRef,
        def: &RelationDef,
        subject: &SubjectRef,
        depth: u32,
    ) -> Result<Outcome, EngineError> {
        let subjects = self.reader.direct(object, &def.name, subject).await?;
        let mut usersets = Vec::new();
        for s in subjects.iter() {
            if !def.accepts(&s.subject_type, &s.subject_id, s.relation_str()) {
                continue;
            }
            if s == subject
                || (s.is_wildcard()
                    && s.subject_type == subject.subject_type
                    && subject.relation.is_none())
            {
                return Ok(Outcome::Yes);
            }
            if let Some(r) = &s.relation {
                usersets.push((
                    ObjectRef::new(s.subject_type.clone(), s.subject_id.clone()),
                    r.clone(),
                ));
            }
        }
        let mut acc = Union::default();
        for (obj, rel) in &usersets {
            if acc.add(self.check(obj, rel, subject, depth + 1).await)? {
                break;
            }
        }
        acc.finish()
    }

    async fn arrow(
        &mut self,
        object: &ObjectRef,
        tupleset: &str,
        computed: &str,
        mode: ArrowMode,
        subject: &SubjectRef,
        depth: u32,
    ) -> Result<Outcome, EngineError> {
        let targets = self
            .reader
            .arrow_targets(self.schema, object, tupleset, computed)
            .await?;
        match mode {
            ArrowMode::Any => {
                let mut acc = Union::default();
                for t in &targets {
                    if acc.add(self.check(t, computed, subject, depth + 1).await)? {
                        break;
                    }
                }
                acc.finish()
            }
            ArrowMode::All => {
                if targets.is_empty() {
                    return Ok(Outcome::No);
                }
                let mut cycle = false;
                for t in &targets {
                    match self.check(t, computed, subject, depth + 1).await? {
                        Outcome::No => return Ok(Outcome::No),
                        Outcome::Cycle => cycle = true,
                        Outcome::Yes => {}
                    }
                }
                Ok(if cycle { Outcome::Cycle } else { Outcome::Yes })
            }
        }
    }
}

/// Folds union branches: any "yes" wins (even over an error in another branch, as in OpenFGA,
/// where branches race); otherwise a cycle, then an error, taints the "no".
#[derive(Default)]
struct Union {
    yes: bool,
    cycle: bool,
    error: Option<EngineError>,
}

impl Union {
    /// Adds a branch; returns true once the union is decided. Only a depth error can be
    /// outvoted by a "yes"; any other error (the database) ends the check.
    fn add(&mut self, r: Result<Outcome, EngineError>) -> Result<bool, EngineError> {
        match r {
            Ok(Outcome::Yes) => self.yes = true,
            Ok(Outcome::Cycle) => self.cycle = true,
            Ok(Outcome::No) => {}
            Err(e @ EngineError::DepthExceeded(_)) => {
                if self.error.is_none() {
                    self.error = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(self.yes)
    }

    fn finish(self) -> Result<Outcome, EngineError> {
        if self.yes {
            return Ok(Outcome::Yes);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(if self.cycle {
            Outcome::Cycle
        } else {
            Outcome::No
        })
    }
}
