//! Reads tuples for one query: from the org's table (through its tenant transaction) plus the
//! request's contextual tuples, remembering every answer for the rest of the query so a graph
//! that reaches one node twice reads it once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kernel::TenantTx;
use sea_orm::{ColumnTrait, Condition, QueryFilter, QuerySelect, Select};

use crate::caveat::CaveatRef;
use crate::error::EngineError;
use crate::schema::{RelationDef, Schema, WILDCARD};
use crate::store::{caveat_from_row, live, object_from_row, permission_tuple, subject_from_row};
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

type Forward = (String, String, String);
type Reverse = (String, String, String, Option<Vec<(String, String)>>);
/// A stored subject with its caveat's name and context, and its expiry.
type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// A [`Row`] led by its object's id (a read over many objects).
type ObjectRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// What a tuple carries besides its subject: a caveat, an expiry.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub caveat: Option<CaveatRef>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) struct Reader<'a> {
    tx: Option<&'a TenantTx>,
    contextual: &'a [Tuple],
    forward: HashMap<Forward, Arc<[SubjectRef]>>,
    direct: HashMap<(Forward, SubjectRef), Arc<[SubjectRef]>>,
    reverse: HashMap<Reverse, Arc<[(ObjectRef, String)]>>,
    /// The caveat and expiry of each tuple read so far that has one.
    edges: HashMap<(ObjectRef, String, SubjectRef), Edge>,
    /// The query's time: tuples expired by then are absent.
    now: DateTime<Utc>,
}

/// Selects what the engine reads of a tuple after what the query already selected: its
/// subject, its caveat and its expiry (a [`Row`]'s columns, in order).
fn subject_columns(q: Select<permission_tuple::Entity>) -> Select<permission_tuple::Entity> {
    use permission_tuple::Column as C;
    q.column(C::SubjectType)
        .column(C::SubjectId)
        .column(C::SubjectRelation)
        .column(C::CaveatName)
        .column(C::CaveatContext)
        .column(C::ExpiresAt)
}

impl<'a> Reader<'a> {
    /// `tx: None` reads only the contextual tuples (used by unit tests and schema checks).
    pub fn new(tx: Option<&'a TenantTx>, contextual: &'a [Tuple]) -> Self {
        Self {
            tx,
            contextual,
            forward: HashMap::new(),
            direct: HashMap::new(),
            reverse: HashMap::new(),
            edges: HashMap::new(),
            now: Utc::now(),
        }
    }

    /// The caveat and expiry of the tuple `object#relation@subject`, read by [`Self::subjects`]
    /// or [`Self::direct`] (`None`: it holds unconditionally, for ever).
    pub fn edge(&self, object: &ObjectRef, relation: &str, subject: &SubjectRef) -> Option<&Edge> {
        if self.edges.is_empty() {
            return None;
        }
        self.edges
            .get(&(object.clone(), relation.to_owned(), subject.clone()))
    }

    fn note_edge(
        &mut self,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        caveat: Option<CaveatRef>,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if caveat.is_some() || expires_at.is_some() {
            let key = (object.clone(), relation.to_owned(), subject.clone());
            self.edges.insert(key, Edge { caveat, expires_at });
        }
    }

    /// A stored tuple of `object#relation` as read: its subject, its caveat and expiry noted.
    fn take(&mut self, object: &ObjectRef, relation: &str, row: Row) -> SubjectRef {
        let (t, i, r, name, ctx, expires_at) = row;
        let s = subject_from_row(t, i, r);
        let caveat = caveat_from_row(name, ctx.as_deref());
        self.note_edge(object, relation, &s, caveat, expires_at);
        s
    }

    /// The live contextual tuples of `object#relation` whose subject `keep` accepts, not
    /// already in `out` (their caveats and expiries noted).
    fn add_contextual(
        &mut self,
        object: &ObjectRef,
        relation: &str,
        keep: impl Fn(&SubjectRef) -> bool,
        out: &mut Vec<SubjectRef>,
    ) {
        for t in self.contextual {
            if t.object == *object
                && t.relation == relation
                && keep(&t.subject)
                && !out.contains(&t.subject)
                && t.expires_at.is_none_or(|at| at > self.now)
            {
                let (caveat, expires_at) = (t.caveat.clone(), t.expires_at);
                self.note_edge(&t.object, &t.relation, &t.subject, caveat, expires_at);
                out.push(t.subject.clone());
            }
        }
    }

    /// Reads `object_type:<id>#relation` for many objects at once (`IN` lists of 500), as
    /// [`Self::subjects`] would read them one by one: what a lookup's candidate checks ask
    /// first, in a few statements instead of one per candidate.
    pub async fn prefetch(
        &mut self,
        object_type: &str,
        relation: &str,
        ids: &[String],
    ) -> Result<(), EngineError> {
        let key = |id: &str| (object_type.to_owned(), id.to_owned(), relation.to_owned());
        let todo: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !self.forward.contains_key(&key(id)))
            .collect();
        use permission_tuple::Column as C;
        for chunk in todo.chunks(500) {
            let mut found: HashMap<String, Vec<SubjectRef>> = HashMap::new();
            if let Some(tx) = self.tx {
                let repo = tx.repo::<permission_tuple::Entity>();
                let q = repo
                    .find()
                    .filter(C::ObjectType.eq(object_type))
                    .filter(C::Relation.eq(relation))
                    .filter(C::ObjectId.is_in(chunk.iter().copied()))
                    .filter(live(self.now))
                    .select_only()
                    .column(C::ObjectId);
                let rows: Vec<ObjectRow> = subject_columns(q).into_tuple().all(repo.conn()).await?;
                for (id, t, i, r, name, ctx, expires_at) in rows {
                    let object = ObjectRef::new(object_type, id.as_str());
                    let s = self.take(&object, relation, (t, i, r, name, ctx, expires_at));
                    found.entry(id).or_default().push(s);
                }
            }
            for &id in chunk {
                let mut out = found.remove(id).unwrap_or_default();
                self.add_contextual(
                    &ObjectRef::new(object_type, id),
                    relation,
                    |_| true,
                    &mut out,
                );
                self.forward.insert(key(id), out.into());
            }
        }
        Ok(())
    }

    /// Every subject of `object#relation`.
    pub async fn subjects(
        &mut self,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<Arc<[SubjectRef]>, EngineError> {
        let key = (
            object.object_type.clone(),
            object.object_id.clone(),
            relation.to_owned(),
        );
        if !self.forward.contains_key(&key) {
            let id = std::slice::from_ref(&object.object_id);
            self.prefetch(&object.object_type, relation, id).await?;
        }
        Ok(self
            .forward
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Arc::from([])))
    }

    /// The objects the arrow `tupleset->computed` of `object` leads to: the tupleset's subjects
    /// the model still allows (never a wildcard), of types that define `computed`. A userset
    /// subject (`team:x#member`, allowed by SpiceDB) leads to its object. Each with the caveat
    /// of the tupleset's tuple, if it has one.
    pub async fn arrow_targets(
        &mut self,
        schema: &Schema,
        object: &ObjectRef,
        tupleset: &str,
        computed: &str,
    ) -> Result<Vec<(ObjectRef, Option<Edge>)>, EngineError> {
        let Some(ts) = schema.relation(&object.object_type, tupleset) else {
            return Ok(Vec::new());
        };
        let subjects = self.subjects(object, tupleset).await?;
        Ok(subjects
            .iter()
            .filter_map(|s| {
                let edge = self.edge(object, tupleset, s);
                let valid = !s.is_wildcard()
                    && accepts(ts, s, edge)
                    && schema.relation(&s.subject_type, computed).is_some();
                valid.then(|| {
                    (
                        ObjectRef::new(s.subject_type.clone(), s.subject_id.clone()),
                        edge.cloned(),
                    )
                })
            })
            .collect())
    }

    /// The tuples of `object#relation` that matter to a check of `subject`: the subject itself,
    /// its type's wildcard, and every userset (which may contain it). Three index seeks instead
    /// of reading a relation that may have thousands of plain subjects.
    pub async fn direct(
        &mut self,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
    ) -> Result<Arc<[SubjectRef]>, EngineError> {
        let forward = (
            object.object_type.clone(),
            object.object_id.clone(),
            relation.to_owned(),
        );
        let relevant = |s: &SubjectRef| {
            s.relation.is_some()
                || s == subject
                || (s.is_wildcard() && s.subject_type == subject.subject_type)
        };
        if let Some(all) = self.forward.get(&forward) {
            return Ok(all.iter().filter(|s| relevant(s)).cloned().collect());
        }
        let key = (forward, subject.clone());
        if let Some(hit) = self.direct.get(&key) {
            return Ok(hit.clone());
        }
        let mut out: Vec<SubjectRef> = Vec::new();
        if let Some(tx) = self.tx {
            use permission_tuple::Column as C;
            let repo = tx.repo::<permission_tuple::Entity>();
            let matches = Condition::any()
                .add(
                    Condition::all()
                        .add(C::SubjectRelation.eq(subject.relation_str()))
                        .add(C::SubjectType.eq(subject.subject_type.as_str()))
                        .add(C::SubjectId.eq(subject.subject_id.as_str())),
                )
                .add(
                    Condition::all()
                        .add(C::SubjectRelation.eq(""))
                        .add(C::SubjectType.eq(subject.subject_type.as_str()))
                        .add(C::SubjectId.eq(WILDCARD)),
                )
                .add(C::SubjectRelation.gt(""));
            let q = repo
                .find()
                .filter(C::ObjectType.eq(object.object_type.as_str()))
                .filter(C::ObjectId.eq(object.object_id.as_str()))
                .filter(C::Relation.eq(relation))
                .filter(live(self.now))
                .filter(matches)
                .select_only();
            let rows: Vec<Row> = subject_columns(q).into_tuple().all(repo.conn()).await?;
            for row in rows {
                let s = self.take(object, relation, row);
                out.push(s);
            }
        }
        self.add_contextual(object, relation, relevant, &mut out);
        let out: Arc<[SubjectRef]> = out.into();
        self.direct.insert(key, out.clone());
        Ok(out)
    }

    /// Every `(object, relation)` whose tuples name exactly `subject`; with `only`, just those
    /// of the listed `(object type, relation)` pairs (each an index seek).
    pub async fn objects(
        &mut self,
        subject: &SubjectRef,
        only: Option<&[(String, String)]>,
    ) -> Result<Arc<[(ObjectRef, String)]>, EngineError> {
        if only.is_some_and(<[_]>::is_empty) {
            return Ok(Arc::from(Vec::new()));
        }
        let key = (
            subject.subject_type.clone(),
            subject.subject_id.clone(),
            subject.relation_str().to_owned(),
            only.map(<[_]>::to_vec),
        );
        if let Some(hit) = self.reverse.get(&key) {
            return Ok(hit.clone());
        }
        let mut out: Vec<(ObjectRef, String)> = Vec::new();
        if let Some(tx) = self.tx {
            use permission_tuple::Column as C;
            let repo = tx.repo::<permission_tuple::Entity>();
            let mut q = repo
                .find()
                .filter(C::SubjectType.eq(subject.subject_type.as_str()))
                .filter(C::SubjectId.eq(subject.subject_id.as_str()))
                .filter(C::SubjectRelation.eq(subject.relation_str()))
                .filter(live(self.now));
            if let Some(pairs) = only {
                let mut any = Condition::any();
                for (t, r) in pairs {
                    any = any.add(
                        Condition::all()
                            .add(C::ObjectType.eq(t.as_str()))
                            .add(C::Relation.eq(r.as_str())),
                    );
                }
                q = q.filter(any);
            }
            let rows: Vec<(String, String, String)> = q
                .select_only()
                .column(C::ObjectType)
                .column(C::ObjectId)
                .column(C::Relation)
                .into_tuple()
                .all(repo.conn())
                .await?;
            out.extend(rows.into_iter().map(|(t, i, r)| (object_from_row(t, i), r)));
        }
        for t in self.contextual {
            if t.subject == *subject
                && t.expires_at.is_none_or(|at| at > self.now)
                && only.is_none_or(|pairs| {
                    pairs
                        .iter()
                        .any(|(ot, r)| t.object.object_type == *ot && t.relation == *r)
                })
            {
                let item = (t.object.clone(), t.relation.clone());
                if !out.contains(&item) {
                    out.push(item);
                }
            }
        }
        let out: Arc<[(ObjectRef, String)]> = out.into();
        self.reverse.insert(key, out.clone());
        Ok(out)
    }
}

/// Whether the model still allows a tuple with this subject, caveat and expiry on `rel`.
pub(crate) fn accepts(rel: &RelationDef, s: &SubjectRef, edge: Option<&Edge>) -> bool {
    let caveat = edge
        .and_then(|e| e.caveat.as_ref())
        .map(|c| c.name.as_str());
    rel.accepts_with(s, caveat, edge.is_some_and(|e| e.expires_at.is_some()))
}
