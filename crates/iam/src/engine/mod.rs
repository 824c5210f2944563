//! The permission engine: one schema, the org-scoped tuple store, and the queries.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::EngineError;
use crate::schema::Schema;
use crate::store::{self, Revision, WriteBatch};
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

mod cache;
mod check;
mod expand;
mod lookup;
mod reader;
mod revisions;

pub use cache::{CacheConfig, CacheStats};
pub use check::{MAX_DEPTH, Permissionship};
pub use expand::ExpandNode;
pub use revisions::SIGNAL as REVISION_SIGNAL;

use cache::{Scope, SubproblemCache};
use check::Checker;
use lookup::ReverseIndex;
use reader::Reader;
use revisions::Revisions;

/// Options every query takes.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Tuples that count for this query only (never stored). They must be valid under the
    /// schema, like written tuples. A query with contextual tuples neither reads nor fills the
    /// engine's cache.
    pub contextual: Vec<Tuple>,
    /// How fresh the answer must be. `None` (the default): the org's latest committed revision,
    /// read in the query's transaction. `Some(token)` (a revision a write returned): any
    /// revision at least as new as the token — possibly an older one than the latest, answered
    /// from the cache without a database round trip when this engine has seen such a revision
    /// and has the answer cached; otherwise the latest. A token newer than the store's revision
    /// is refused.
    pub at_least: Option<Revision>,
    /// The request's caveat context: values for caveat parameters the relationships leave
    /// out (a relationship's own context wins where both give one).
    pub context: crate::caveat::Context,
    /// Resolve every path, as OpenFGA's ListUsers does: a union branch whose caveat lacks
    /// context (or fails) makes the answer conditional (or an error) even where another branch
    /// grants. Off by default: a grant decides, as in a check. Such queries bypass the cache.
    pub all_paths: bool,
}

/// A query's answer and the revision it was computed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    pub value: T,
    pub revision: Revision,
}

impl Answer<Permissionship> {
    /// Whether it holds unconditionally.
    pub fn allowed(self) -> Answer<bool> {
        Answer {
            value: self.value.is_allowed(),
            revision: self.revision,
        }
    }
}

impl<T> Answer<Vec<(T, Permissionship)>> {
    /// The items that hold unconditionally.
    pub fn allowed_only(self) -> Answer<Vec<T>> {
        Answer {
            value: self
                .value
                .into_iter()
                .filter(|(_, p)| p.is_allowed())
                .map(|(t, _)| t)
                .collect(),
            revision: self.revision,
        }
    }
}

/// The engine of one schema over one cell's database. Cheap to clone; clones share the cache.
#[derive(Debug, Clone)]
pub struct Engine {
    db: kernel::Db,
    schema: Arc<Schema>,
    index: Arc<ReverseIndex>,
    cache: Option<Arc<SubproblemCache>>,
    revisions: Arc<Revisions>,
}

impl Engine {
    /// An engine with the default cache ([`CacheConfig::default`]).
    pub fn new(db: kernel::Db, schema: Schema) -> Self {
        Self::with_cache(db, schema, CacheConfig::default())
    }

    /// An engine whose cache is bounded as configured (or disabled).
    pub fn with_cache(db: kernel::Db, schema: Schema, cache: CacheConfig) -> Self {
        let index = Arc::new(ReverseIndex::new(&schema));
        Self {
            db,
            schema: Arc::new(schema),
            index,
            cache: SubproblemCache::new(cache).map(Arc::new),
            revisions: Arc::default(),
        }
    }

    /// Keeps the orgs' revisions in memory while `signals` listens (PostgreSQL), so a check
    /// does not read its org's revision from the database: call once, before the cell serves.
    /// Where no listener can run (SQLite), a revision is trusted for a second after it was
    /// learned (a change by another process on the file is seen within it).
    pub fn follow(&self, signals: &kernel::signals::Signals) {
        if self.db.backend() != sea_orm::DbBackend::Postgres {
            self.revisions.without_listener();
        }
        let revisions = self.revisions.clone();
        signals.on(REVISION_SIGNAL, move |signal| revisions.signal(signal));
    }

    /// How many queries read their org's revision from the database (the others took it from
    /// memory, see [`Engine::follow`]).
    pub fn revision_reads(&self) -> u64 {
        self.revisions.reads()
    }

    /// The cache's counters (all zero without a cache).
    pub async fn cache_stats(&self) -> CacheStats {
        match &self.cache {
            Some(c) => c.stats().await,
            None => CacheStats::default(),
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn db(&self) -> &kernel::Db {
        &self.db
    }

    /// Applies a batch atomically and returns the revision it created.
    pub async fn write(&self, org_id: Uuid, batch: &WriteBatch) -> Result<Revision, EngineError> {
        let revision = store::write(&self.db, org_id, &self.schema, batch).await?;
        if let Some(cache) = &self.cache {
            cache.observe(org_id, revision.0).await;
        }
        Ok(revision)
    }

    /// Does `subject` hold `relation` on `object`? A conditional answer (caveats that need
    /// context the request did not give) is "no"; [`Engine::check_caveated`] tells them apart.
    pub async fn check(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<bool>, EngineError> {
        Ok(self
            .check_caveated(org_id, object, relation, subject, opts)
            .await?
            .allowed())
    }

    /// Does `subject` hold `relation` on `object`: allowed, denied, or conditional on the
    /// caveat parameters it names.
    pub async fn check_caveated(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<Permissionship>, EngineError> {
        self.validate_check(object, relation, subject, opts)?;
        let key = (object.clone(), relation.to_owned(), subject.clone());
        if let Some((mut value, revision)) = self.cached_answers(org_id, &[key], opts).await
            && let Some(value) = value.pop()
        {
            return Ok(Answer { value, revision });
        }
        let tx = self.db.tenant_read(org_id).await?;
        let answer = self
            .check_unvalidated(&tx, object, relation, subject, opts)
            .await;
        tx.commit().await?;
        answer
    }

    /// [`Engine::check`] in a transaction the caller holds (of the org the check is for), so a
    /// request checks and reads its data in one transaction: on PostgreSQL that saves a BEGIN,
    /// `set_config` and COMMIT a request. The answer is at the org's latest revision as this
    /// transaction reads it (a token in `opts` is honoured, but the cache-only path is not
    /// taken: the transaction is open anyway). The transaction must not have written tuples:
    /// answers are cached by revision, and an uncommitted one may be rolled back and reused.
    /// [`crate::Authorized::begin`] is the way in: it checks before handing the transaction over.
    pub(crate) async fn check_in(
        &self,
        tx: &kernel::TenantTx,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<bool>, EngineError> {
        self.validate_check(object, relation, subject, opts)?;
        Ok(self
            .check_unvalidated(tx, object, relation, subject, opts)
            .await?
            .allowed())
    }

    fn validate_check(
        &self,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<(), EngineError> {
        self.validate_object(object, relation)?;
        self.validate_subject(subject)?;
        self.validate_contextual(&opts.contextual)
    }

    async fn check_unvalidated(
        &self,
        tx: &kernel::TenantTx,
        object: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<Permissionship>, EngineError> {
        let revision = self.revision(tx, tx.org_id(), opts).await?;
        let mut checker = self.checker(tx, tx.org_id(), revision, opts);
        let value = checker.permissionship(object, relation, subject).await?;
        Ok(Answer { value, revision })
    }

    /// [`Self::lookup_subjects`] of users, in a transaction the caller holds (a module's request
    /// or job).
    pub(crate) async fn user_subjects_in(
        &self,
        tx: &kernel::TenantTx,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<SubjectRef>, EngineError> {
        let opts = ReadOptions::default();
        self.validate_object(object, relation)?;
        let revision = self.revision(tx, tx.org_id(), &opts).await?;
        let mut checker = self.checker(tx, tx.org_id(), revision, &opts);
        let found = lookup::lookup_subjects(&mut checker, object, relation, "user", None).await?;
        Ok(Answer {
            value: found,
            revision,
        }
        .allowed_only()
        .value)
    }

    /// Many checks over one snapshot, sharing what they read and resolve. Each item answers on
    /// its own: a bad item or a too-deep check does not fail the others.
    pub async fn check_bulk(
        &self,
        org_id: Uuid,
        items: &[(ObjectRef, String, SubjectRef)],
        opts: &ReadOptions,
    ) -> Result<Answer<Vec<Result<Permissionship, EngineError>>>, EngineError> {
        self.validate_contextual(&opts.contextual)?;
        let valid = items.iter().all(|(object, relation, subject)| {
            self.validate_object(object, relation).is_ok() && self.validate_subject(subject).is_ok()
        });
        if valid && let Some((value, revision)) = self.cached_answers(org_id, items, opts).await {
            return Ok(Answer {
                value: value.into_iter().map(Ok).collect(),
                revision,
            });
        }
        let tx = self.db.tenant_read(org_id).await?;
        let revision = self.revision(&tx, org_id, opts).await?;
        let mut checker = self.checker(&tx, org_id, revision, opts);
        let mut out = Vec::with_capacity(items.len());
        for (object, relation, subject) in items {
            let valid = self
                .validate_object(object, relation)
                .and_then(|_| self.validate_subject(subject));
            out.push(match valid {
                Ok(()) => match checker.permissionship(object, relation, subject).await {
                    Err(EngineError::Db(e)) => return Err(EngineError::Db(e)),
                    other => other,
                },
                Err(e) => Err(e),
            });
        }
        tx.commit().await?;
        Ok(Answer {
            value: out,
            revision,
        })
    }

    /// One level of the userset tree of `object#relation`.
    pub async fn expand(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
        opts: &ReadOptions,
    ) -> Result<Answer<ExpandNode>, EngineError> {
        let def = self.validate_object(object, relation)?;
        self.validate_contextual(&opts.contextual)?;
        let tx = self.db.tenant_read(org_id).await?;
        let revision = self.revision(&tx, org_id, opts).await?;
        let mut reader = Reader::new(Some(&tx), &opts.contextual);
        let value = expand::expand(&mut reader, &self.schema, object, def).await;
        tx.commit().await?;
        Ok(Answer {
            value: value?,
            revision,
        })
    }

    /// The ids of the `object_type` objects on which `subject` holds `relation`, sorted (not
    /// those it holds only conditionally; see [`Engine::lookup_resources_caveated`]).
    pub async fn lookup_resources(
        &self,
        org_id: Uuid,
        object_type: &str,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<Vec<String>>, EngineError> {
        Ok(self
            .lookup_resources_caveated(org_id, object_type, relation, subject, opts)
            .await?
            .allowed_only())
    }

    /// The ids of the `object_type` objects on which `subject` holds `relation`, each allowed
    /// or conditional, sorted.
    pub async fn lookup_resources_caveated(
        &self,
        org_id: Uuid,
        object_type: &str,
        relation: &str,
        subject: &SubjectRef,
        opts: &ReadOptions,
    ) -> Result<Answer<Vec<(String, Permissionship)>>, EngineError> {
        self.validate_relation(object_type, relation)?;
        self.validate_subject(subject)?;
        self.validate_contextual(&opts.contextual)?;
        let tx = self.db.tenant_read(org_id).await?;
        let revision = self.revision(&tx, org_id, opts).await?;
        let mut checker = self.checker(&tx, org_id, revision, opts);
        let value =
            lookup::lookup_resources(&mut checker, &self.index, object_type, relation, subject)
                .await;
        tx.commit().await?;
        Ok(Answer {
            value: value?,
            revision,
        })
    }

    /// The subjects of `subject_type` (usersets `subject_type#subject_relation` when given)
    /// holding `relation` on `object`, sorted. `type:*` in the answer means every object of the
    /// type. Subjects that hold it only conditionally are left out; see
    /// [`Engine::lookup_subjects_caveated`].
    pub async fn lookup_subjects(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
        subject_type: &str,
        subject_relation: Option<&str>,
        opts: &ReadOptions,
    ) -> Result<Answer<Vec<SubjectRef>>, EngineError> {
        Ok(self
            .lookup_subjects_caveated(
                org_id,
                object,
                relation,
                subject_type,
                subject_relation,
                opts,
            )
            .await?
            .allowed_only())
    }

    /// [`Engine::lookup_subjects`], each subject allowed or conditional.
    pub async fn lookup_subjects_caveated(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
        subject_type: &str,
        subject_relation: Option<&str>,
        opts: &ReadOptions,
    ) -> Result<Answer<Vec<(SubjectRef, Permissionship)>>, EngineError> {
        self.validate_object(object, relation)?;
        self.validate_relation_opt(subject_type, subject_relation)?;
        self.validate_contextual(&opts.contextual)?;
        let tx = self.db.tenant_read(org_id).await?;
        let revision = self.revision(&tx, org_id, opts).await?;
        let mut checker = self.checker(&tx, org_id, revision, opts);
        let value = lookup::lookup_subjects(
            &mut checker,
            object,
            relation,
            subject_type,
            subject_relation,
        )
        .await;
        tx.commit().await?;
        Ok(Answer {
            value: value?,
            revision,
        })
    }

    /// The org's current revision.
    pub async fn current_revision(&self, org_id: Uuid) -> Result<Revision, EngineError> {
        let tx = self.db.tenant_read(org_id).await?;
        let rev = store::current_revision(&tx).await?;
        tx.commit().await?;
        Ok(rev)
    }

    /// A checker reading through `tx`, with the cache at `revision` unless the query has
    /// contextual tuples (their answers hold for this query only).
    fn checker<'a>(
        &'a self,
        tx: &'a kernel::TenantTx,
        org: Uuid,
        revision: Revision,
        opts: &'a ReadOptions,
    ) -> Checker<'a, 'a> {
        let shared = self
            .cache
            .as_deref()
            .filter(|_| opts.contextual.is_empty() && !opts.all_paths)
            .map(|cache| self.scope(cache, org, revision.0, opts));
        Checker::new(
            &self.schema,
            Reader::new(Some(tx), &opts.contextual),
            shared,
            &opts.context,
            opts.all_paths,
        )
    }

    /// The cache at `org`'s `revision`, for a query with `opts`' caveat context. Without
    /// caveats in the schema no answer depends on the context: it is not even fingerprinted.
    fn scope<'c>(
        &self,
        cache: &'c SubproblemCache,
        org: Uuid,
        revision: i64,
        opts: &ReadOptions,
    ) -> Scope<'c> {
        let context = match self.schema.caveats.is_empty() {
            true => 0,
            false => opts.context.fingerprint(),
        };
        Scope {
            cache,
            org,
            revision,
            context,
        }
    }

    /// For a query that accepts any revision from a token on (and has no contextual tuples):
    /// every answer, when all are cached at the newest revision this engine has seen for the
    /// org and that revision is at least the token's. `None` means "ask the database".
    async fn cached_answers(
        &self,
        org: Uuid,
        items: &[(ObjectRef, String, SubjectRef)],
        opts: &ReadOptions,
    ) -> Option<(Vec<Permissionship>, Revision)> {
        let cache = self.cache.as_deref()?;
        let want = opts.at_least?;
        if !opts.contextual.is_empty() || opts.all_paths || items.is_empty() {
            return None;
        }
        let latest = cache.latest(org).await.filter(|&r| r >= want.0)?;
        let at = self.scope(cache, org, latest, opts);
        let mut out = Vec::with_capacity(items.len());
        for key in items {
            out.push(Permissionship::of(&cache.get(&at, key, 0).await?.outcome));
        }
        cache.answered_without_db();
        Some((out, Revision(latest)))
    }

    /// The revision a query runs at: the org's latest, from memory when it is trusted and
    /// satisfies the token (see [`Engine::follow`]), else read in the query's transaction.
    async fn revision(
        &self,
        tx: &kernel::TenantTx,
        org: Uuid,
        opts: &ReadOptions,
    ) -> Result<Revision, EngineError> {
        let want = opts.at_least.map_or(0, |r| r.0);
        let current = match self.revisions.known(org).filter(|&r| r >= want) {
            // A read replica may hold an older revision than this instance has heard of: the
            // answer is labelled (and cached) with the revision its tuples are at, and what it
            // reads teaches the instance nothing.
            _ if tx.on_replica() => store::current_revision(tx).await?,
            Some(known) => Revision(known),
            None => {
                let epoch = self.revisions.start_read();
                let read = store::current_revision(tx).await?;
                self.revisions.learned(org, read.0, epoch);
                read
            }
        };
        if let Some(cache) = &self.cache {
            cache.observe(org, current.0).await;
        }
        if let Some(want) = opts.at_least
            && want > current
        {
            return Err(EngineError::FutureRevision {
                requested: want.0,
                current: current.0,
            });
        }
        Ok(current)
    }

    fn validate_relation(
        &self,
        type_name: &str,
        relation: &str,
    ) -> Result<&crate::schema::RelationDef, EngineError> {
        let def = self
            .schema
            .type_def(type_name)
            .ok_or_else(|| EngineError::UnknownType(type_name.to_owned()))?;
        def.relations
            .get(relation)
            .ok_or_else(|| EngineError::UnknownRelation {
                type_name: type_name.to_owned(),
                relation: relation.to_owned(),
            })
    }

    fn validate_relation_opt(
        &self,
        type_name: &str,
        relation: Option<&str>,
    ) -> Result<(), EngineError> {
        match relation {
            Some(r) => self.validate_relation(type_name, r).map(|_| ()),
            None => self
                .schema
                .type_def(type_name)
                .map(|_| ())
                .ok_or_else(|| EngineError::UnknownType(type_name.to_owned())),
        }
    }

    fn validate_object(
        &self,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<&crate::schema::RelationDef, EngineError> {
        self.validate_relation(&object.object_type, relation)
    }

    fn validate_subject(&self, subject: &SubjectRef) -> Result<(), EngineError> {
        match self.validate_relation_opt(&subject.subject_type, subject.relation.as_deref()) {
            Ok(()) => Ok(()),
            Err(e) => Err(EngineError::InvalidSubject(format!("`{subject}`: {e}"))),
        }
    }

    fn validate_contextual(&self, tuples: &[Tuple]) -> Result<(), EngineError> {
        tuples
            .iter()
            .try_for_each(|t| store::validate_tuple(&self.schema, t))
    }
}
