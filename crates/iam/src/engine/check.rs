//! Check: does `subject` hold `relation` on `object`?
//!
//! A depth-first walk of the rewrite tree with OpenFGA's semantics:
//! - a node already on the current path is a *cycle*: it contributes nothing, and the answer it
//!   taints is "no" — also under an exclusion (`true but not <cycle>` is false), because the
//!   subtracted side is unknown, not empty;
//! - more than [`MAX_DEPTH`] nested steps (computed usersets, userset tuples, arrows) is an
//!   error, never a silent "no";
//! - stored tuples that the current model no longer allows are ignored;
//! - a tuple with a caveat counts only where its caveat evaluates to true, with the tuple's
//!   context over the request's; where the contexts leave out a parameter the caveat needs, the
//!   result is *conditional* (Kleene's three-valued logic through unions, intersections,
//!   exclusions and arrows), naming the missing parameters.
//!
//! Results that no cycle tainted do not depend on the path that reached them, so they are kept
//! for the rest of the query (bulk checks and lookups check many subjects over one graph) and,
//! without contextual tuples, in the engine's cache for later queries at the same revision
//! ([`super::cache`]). They do depend on how deep they were first asked, though: a node resolved
//! near the top may need more nested steps than remain when it is reached deeper down. Each kept
//! result therefore carries its *span* — the most nested steps its resolution took below it — and
//! is reused only where that many steps are still allowed, so a reused result is always the one
//! a fresh resolution would give, depth errors included.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::caveat::{Context, Eval};
use crate::error::EngineError;
use crate::schema::{ArrowMode, RelationDef, Rewrite, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

use super::cache::Scope;
use super::reader::{Edge, Reader, accepts};

/// Nested steps a check may take; one more is an error (OpenFGA's resolution limit).
pub const MAX_DEPTH: u32 = 25;

/// A sub-result: granted, not granted, granted only given the named missing caveat
/// parameters, or not known because it ran into a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Yes,
    No,
    Maybe(BTreeSet<String>),
    Cycle,
}

impl Outcome {
    /// Both hold (a caveat on the way to a result, an intersection's parts).
    fn and(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::No, _) | (_, Outcome::No) => Outcome::No,
            (Outcome::Cycle, _) | (_, Outcome::Cycle) => Outcome::Cycle,
            (Outcome::Maybe(mut a), Outcome::Maybe(b)) => {
                a.extend(b);
                Outcome::Maybe(a)
            }
            (m @ Outcome::Maybe(_), Outcome::Yes) | (Outcome::Yes, m) => m,
        }
    }
}

/// A check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissionship {
    /// The subject does not hold it.
    Denied,
    /// The subject holds it.
    Allowed,
    /// The subject holds it if caveats hold that need these context parameters, which neither
    /// the relationships nor the request gave.
    Conditional(Vec<String>),
}

impl Permissionship {
    pub fn is_allowed(&self) -> bool {
        *self == Permissionship::Allowed
    }

    pub(crate) fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Yes => Self::Allowed,
            Outcome::Maybe(m) => Self::Conditional(m.iter().cloned().collect()),
            Outcome::No | Outcome::Cycle => Self::Denied,
        }
    }
}

pub(crate) type Key = (ObjectRef, String, SubjectRef);
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// A resolved node: its answer and its span (the most nested steps its resolution took below
/// the node, counting a step that went over the limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Memo {
    /// Never [`Outcome::Cycle`].
    pub outcome: Outcome,
    pub span: u32,
    /// Whether its resolution evaluated a caveat, so that it depends on the request's context.
    pub contextual: bool,
    /// When the first tuple its resolution read expires: it may not be reused from then on.
    pub valid_until: Option<DateTime<Utc>>,
}

impl Memo {
    /// Whether reaching the node at `depth` would resolve it the same way: every step its
    /// resolution took is still within the limit there.
    pub fn usable_at(&self, depth: u32) -> bool {
        depth.saturating_add(self.span) <= MAX_DEPTH
    }
}

pub(crate) struct Checker<'s, 'r> {
    pub schema: &'s Schema,
    pub reader: Reader<'r>,
    shared: Option<Scope<'r>>,
    /// The request's caveat context.
    context: &'r Context,
    memo: HashMap<Key, Memo>,
    path: HashSet<Key>,
    /// The deepest step reached since the innermost node being resolved began.
    deepest: u32,
    /// Cycles met so far: a conditional result resolved while one was met may depend on the
    /// path that reached it, and is not kept.
    cycles: u64,
    /// Resolve every branch of a union (see [`super::ReadOptions::all_paths`]).
    all_paths: bool,
    /// Caveats evaluated (or cached results that evaluated one) so far: a result resolved
    /// while none was met holds whatever the request's context, and is cached for every one.
    caveats: u64,
    /// The earliest expiry among the tuples read since the innermost node being resolved began.
    soonest: Option<DateTime<Utc>>,
}

impl<'s, 'r> Checker<'s, 'r> {
    /// A checker for one query; `shared` is the engine's cache at the query's org and revision
    /// (`None` when the query has contextual tuples, or the engine has no cache).
    pub fn new(
        schema: &'s Schema,
        reader: Reader<'r>,
        shared: Option<Scope<'r>>,
        context: &'r Context,
        all_paths: bool,
    ) -> Self {
        Self {
            schema,
            reader,
            shared,
            context,
            memo: HashMap::new(),
            path: HashSet::new(),
            deepest: 0,
            cycles: 0,
            all_paths,
            caveats: 0,
            soonest: None,
        }
    }

    /// The final answer for one check (a cycle is "no").
    pub async fn permissionship(
        &mut self,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
    ) -> Result<Permissionship, EngineError> {
        Ok(Permissionship::of(
            &self.check(object, relation, subject, 0).await?,
        ))
    }

    /// Whether a tuple read from the store holds: no caveat, or its caveat evaluates to true.
    /// Its expiry, if any, bounds how long what depends on it may be reused.
    fn holds(&mut self, edge: Option<&Edge>) -> Result<Outcome, EngineError> {
        let Some(edge) = edge else {
            return Ok(Outcome::Yes);
        };
        self.note_expiry(edge.expires_at);
        let Some(c) = &edge.caveat else {
            return Ok(Outcome::Yes);
        };
        self.caveats += 1;
        // A caveat the model no longer defines grants nothing.
        let Some(def) = self.schema.caveats.get(&c.name) else {
            return Ok(Outcome::No);
        };
        Ok(
            match def
                .evaluate(&c.context, self.context)
                .map_err(EngineError::Caveat)?
            {
                Eval::True => Outcome::Yes,
                Eval::False => Outcome::No,
                Eval::Missing(m) => Outcome::Maybe(m),
            },
        )
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
                return Ok(hit);
            }
            if !self.path.insert(key.clone()) {
                self.cycles += 1;
                return Ok(Outcome::Cycle);
            }
            let (cycles, caveats) = (self.cycles, self.caveats);
            let outer = std::mem::replace(&mut self.deepest, depth);
            let outer_expiry = self.soonest.take();
            let result = self
                .rewrite(object, def, &def.rewrite, subject, depth)
                .await;
            let span = self.deepest - depth;
            self.deepest = self.deepest.max(outer);
            let valid_until = self.soonest;
            self.soonest = outer_expiry;
            self.note_expiry(valid_until);
            self.path.remove(&key);
            let outcome = result?;
            match outcome {
                Outcome::Cycle => return Ok(outcome),
                Outcome::Maybe(_) if self.cycles != cycles => return Ok(outcome),
                _ => {}
            }
            self.keep(
                key,
                Memo {
                    outcome: outcome.clone(),
                    span,
                    contextual: self.caveats != caveats,
                    valid_until,
                },
            )
            .await;
            Ok(outcome)
        })
    }

    /// A result kept by this query or, failing that, by the engine's cache, if valid at `depth`.
    async fn kept(&mut self, key: &Key, depth: u32) -> Option<Outcome> {
        let mut found = self.memo.get(key).filter(|m| m.usable_at(depth)).cloned();
        if found.is_none()
            && let Some(shared) = self.shared
            && let Some(m) = shared.cache.get(&shared, key, depth).await
        {
            self.memo.insert(key.clone(), m.clone());
            found = Some(m);
        }
        let m = found?;
        self.deepest = self.deepest.max(depth + m.span);
        if m.contextual {
            // What depends on it depends on the context too.
            self.caveats += 1;
        }
        self.note_expiry(m.valid_until);
        Some(m.outcome)
    }

    /// What is being resolved read a tuple that expires at `at`.
    fn note_expiry(&mut self, at: Option<DateTime<Utc>>) {
        if let Some(at) = at {
            self.soonest = Some(self.soonest.map_or(at, |s| s.min(at)));
        }
    }

    /// Keeps a result for the rest of the query and in the engine's cache. Of two resolutions
    /// of one node (the second one deeper, where the first was not valid), the smaller span is
    /// the more widely valid.
    async fn keep(&mut self, key: Key, memo: Memo) {
        if self.memo.get(&key).is_some_and(|old| old.span <= memo.span) {
            return;
        }
        if let Some(shared) = self.shared {
            shared.cache.put(&shared, key.clone(), memo.clone()).await;
        }
        self.memo.insert(key, memo);
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
                    let mut acc = Union::new(self.all_paths);
                    for p in parts {
                        if acc.add(self.rewrite(object, def, p, subject, depth).await)? {
                            break;
                        }
                    }
                    acc.finish()
                }
                Rewrite::Intersection(parts) => {
                    let mut acc = Outcome::Yes;
                    for p in parts {
                        acc = acc.and(self.rewrite(object, def, p, subject, depth).await?);
                        if acc == Outcome::No {
                            break;
                        }
                    }
                    Ok(acc)
                }
                Rewrite::Exclusion(base, subtract) => {
                    let b = self.rewrite(object, def, base, subject, depth).await?;
                    if b == Outcome::No {
                        return Ok(Outcome::No);
                    }
                    Ok(
                        match self.rewrite(object, def, subtract, subject, depth).await? {
                            Outcome::Yes => Outcome::No,
                            Outcome::Cycle => Outcome::Cycle,
                            Outcome::No => b,
                            // Granted where the subtracted side's caveats turn out false.
                            Outcome::Maybe(m) => b.and(Outcome::Maybe(m)),
                        },
                    )
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
        let mut acc = Union::new(self.all_paths);
        for s in subjects.iter() {
            let edge = self.reader.edge(object, &def.name, s).cloned();
            if !accepts(def, s, edge.as_ref()) {
                continue;
            }
            if s == subject
                || (s.is_wildcard()
                    && s.subject_type == subject.subject_type
                    && subject.relation.is_none())
            {
                if acc.add(self.holds(edge.as_ref()))? {
                    return Ok(Outcome::Yes);
                }
                continue;
            }
            if let Some(r) = &s.relation {
                usersets.push((
                    ObjectRef::new(s.subject_type.clone(), s.subject_id.clone()),
                    r.clone(),
                    edge,
                ));
            }
        }
        let steps: Vec<_> = usersets
            .iter()
            .map(|(o, r, e)| (o, r.as_str(), e.as_ref()))
            .collect();
        self.through(acc, &steps, subject, depth).await
    }

    /// Adds to a union the tuples that lead on: each where it holds (its caveat, its expiry),
    /// anded with `relation` on the object it leads to.
    async fn through<'x>(
        &mut self,
        mut acc: Union,
        steps: &[(&'x ObjectRef, &'x str, Option<&'x Edge>)],
        subject: &SubjectRef,
        depth: u32,
    ) -> Result<Outcome, EngineError> {
        for &(obj, relation, edge) in steps {
            let holds = match self.holds(edge) {
                Ok(Outcome::No) => continue,
                Ok(holds) => holds,
                Err(e) => {
                    acc.add(Err(e))?;
                    continue;
                }
            };
            let found = self.check(obj, relation, subject, depth + 1).await;
            if acc.add(found.map(|o| holds.and(o)))? {
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
                let steps: Vec<_> = targets
                    .iter()
                    .map(|(t, e)| (t, computed, e.as_ref()))
                    .collect();
                let acc = Union::new(self.all_paths);
                self.through(acc, &steps, subject, depth).await
            }
            ArrowMode::All => {
                if targets.is_empty() {
                    return Ok(Outcome::No);
                }
                let mut acc = Outcome::Yes;
                for (t, edge) in &targets {
                    acc = acc.and(self.holds(edge.as_ref())?);
                    if acc == Outcome::No {
                        break;
                    }
                    acc = acc.and(self.check(t, computed, subject, depth + 1).await?);
                    if acc == Outcome::No {
                        break;
                    }
                }
                Ok(acc)
            }
        }
    }
}

/// Folds union branches: any "yes" wins (even over an error in another branch, as in OpenFGA,
/// where branches race); otherwise an error, then a conditional branch, then a cycle decide.
/// With `all_paths`, every branch is resolved and an error, then a conditional branch, wins
/// over a "yes".
struct Union {
    all_paths: bool,
    yes: bool,
    cycle: bool,
    maybe: Option<BTreeSet<String>>,
    error: Option<EngineError>,
}

impl Union {
    fn new(all_paths: bool) -> Self {
        Self {
            all_paths,
            yes: false,
            cycle: false,
            maybe: None,
            error: None,
        }
    }

    /// Adds a branch; returns true once the union is decided. Only a depth or caveat error can
    /// be outvoted by a "yes"; any other error (the database) ends the check.
    fn add(&mut self, r: Result<Outcome, EngineError>) -> Result<bool, EngineError> {
        match r {
            Ok(Outcome::Yes) => self.yes = true,
            Ok(Outcome::Cycle) => self.cycle = true,
            Ok(Outcome::Maybe(m)) => self.maybe.get_or_insert_default().extend(m),
            Ok(Outcome::No) => {}
            Err(e @ (EngineError::DepthExceeded(_) | EngineError::Caveat(_))) => {
                if self.error.is_none() {
                    self.error = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(self.yes && !self.all_paths)
    }

    fn finish(self) -> Result<Outcome, EngineError> {
        if self.yes && !(self.all_paths && (self.error.is_some() || self.maybe.is_some())) {
            return Ok(Outcome::Yes);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(m) = self.maybe {
            return Ok(Outcome::Maybe(m));
        }
        Ok(if self.cycle {
            Outcome::Cycle
        } else {
            Outcome::No
        })
    }
}
