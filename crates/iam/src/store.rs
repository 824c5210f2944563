//! Tuple storage: the `permission_tuples` table (one row per relationship, scoped by org), the
//! per-org revision counter, their migration, and atomic batch writes.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, Value,
};
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use uuid::Uuid;

use crate::caveat::{CaveatRef, Context};
use crate::error::EngineError;
use crate::schema::Schema;
use crate::tuple::{ObjectRef, SubjectRef, Tuple};

pub const TUPLES_TABLE: &str = "permission_tuples";
pub const REVISIONS_TABLE: &str = "permission_revisions";

/// One relationship of one org. `subject_relation` is empty for plain subjects, so the whole
/// relationship is the primary key (NULL cannot be part of one).
pub mod permission_tuple {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "permission_tuples")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub object_type: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub object_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub relation: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_relation: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_type: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_id: String,
        pub created_at: DateTimeUtc,
        /// The caveat the relationship holds under, and its context (a JSON object's text).
        pub caveat_name: Option<String>,
        pub caveat_context: Option<String>,
        /// When it stops holding (reads skip it from then on; a sweep deletes it).
        pub expires_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The latest revision of each org's tuples: bumped by every write, in the write's transaction.
pub mod permission_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "permission_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: Uuid,
        pub revision: i64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl kernel::TenantEntity for permission_tuple::Entity {
    fn org_id_column() -> Self::Column {
        permission_tuple::Column::OrgId
    }
}

impl kernel::TenantEntity for permission_revision::Entity {
    fn org_id_column() -> Self::Column {
        permission_revision::Column::OrgId
    }
}

/// Creates both tables, their indexes (every one led by `org_id`) and row-level security.
pub struct CreatePermissionTuples;

impl MigrationName for CreatePermissionTuples {
    fn name(&self) -> &str {
        "iam_m20261121_000001_create_permission_tuples"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreatePermissionTuples {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |name: &'static str| ColumnDef::new(name).text().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(TUPLES_TABLE)
                    .col(ColumnDef::new("org_id").uuid().not_null())
                    .col(text("object_type"))
                    .col(text("object_id"))
                    .col(text("relation"))
                    .col(text("subject_type"))
                    .col(text("subject_id"))
                    .col(text("subject_relation").default("").to_owned())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Check, expand and lookup_subjects read (object, relation) → subjects.
                    // `subject_relation` before the subject, so a check seeks the subject, its
                    // wildcard and the usersets (`subject_relation > ''`) without scanning the
                    // relation's plain subjects.
                    .primary_key(
                        Index::create()
                            .col("org_id")
                            .col("object_type")
                            .col("object_id")
                            .col("relation")
                            .col("subject_relation")
                            .col("subject_type")
                            .col("subject_id"),
                    )
                    .to_owned(),
            )
            .await?;
        // lookup_resources and reverse walks read subject → (object type, relation, object).
        manager
            .create_index(
                Index::create()
                    .name("permission_tuples_by_subject")
                    .table(TUPLES_TABLE)
                    .col("org_id")
                    .col("subject_type")
                    .col("subject_id")
                    .col("subject_relation")
                    .col("object_type")
                    .col("relation")
                    .col("object_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(REVISIONS_TABLE)
                    .col(ColumnDef::new("org_id").uuid().not_null().primary_key())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .col(
                        ColumnDef::new("updated_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        kernel::db::enable_tenant_rls(conn, TUPLES_TABLE).await?;
        kernel::db::enable_tenant_rls(conn, REVISIONS_TABLE).await?;
        Ok(())
    }
}

/// Relationships may hold under a caveat (its name and the context written with it) and until
/// a time. The expiry sweep deletes across orgs, so the table's policy admits the system
/// context; a partial index finds the expiring rows.
pub struct CaveatsAndExpiry;

impl MigrationName for CaveatsAndExpiry {
    fn name(&self) -> &str {
        "iam_m20261208_000001_caveats_and_expiry"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CaveatsAndExpiry {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let columns = [
            ColumnDef::new("caveat_name").text().null().to_owned(),
            ColumnDef::new("caveat_context").text().null().to_owned(),
            ColumnDef::new("expires_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(TUPLES_TABLE)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE INDEX permission_tuples_expiring ON permission_tuples (expires_at) \
             WHERE expires_at IS NOT NULL",
        )
        .await?;
        kernel::db::enable_system_rls(conn, TUPLES_TABLE, false).await
    }
}

/// Deletes the relationships of every org that expired before `now` (reads already skip them,
/// so no answer changes and no revision moves). Returns how many were deleted.
pub async fn purge_expired(
    db: &kernel::Db,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr> {
    let done = permission_tuple::Entity::delete_many()
        .filter(permission_tuple::Column::ExpiresAt.lt(now))
        .exec(db.system().conn())
        .await?;
    Ok(done.rows_affected)
}

/// Every committed revision bump raises [`crate::engine::REVISION_SIGNAL`] with
/// `<org>:<revision>`, so each instance's engine keeps the orgs' revisions in memory.
pub struct RevisionSignal;

impl MigrationName for RevisionSignal {
    fn name(&self) -> &str {
        "iam_m20261203_000001_revision_signal"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for RevisionSignal {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        kernel::signals::signal_on(
            manager.get_connection(),
            REVISIONS_TABLE,
            crate::engine::REVISION_SIGNAL,
            kernel::signals::SignalOn::RowWrite("NEW.org_id::text || ':' || NEW.revision::text"),
        )
        .await
    }
}

/// A revision of one org's tuples. Every write returns the revision it created; reads can ask to
/// be at least as fresh as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub i64);

/// What a write does with one tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// Insert, or leave as is when it exists.
    Touch,
    /// Insert; the whole batch fails if it exists.
    Create,
    /// Remove if present.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleUpdate {
    pub op: WriteOp,
    pub tuple: Tuple,
}

impl TupleUpdate {
    pub fn touch(tuple: Tuple) -> Self {
        Self {
            op: WriteOp::Touch,
            tuple,
        }
    }
    pub fn create(tuple: Tuple) -> Self {
        Self {
            op: WriteOp::Create,
            tuple,
        }
    }
    pub fn delete(tuple: Tuple) -> Self {
        Self {
            op: WriteOp::Delete,
            tuple,
        }
    }
}

/// Matches stored tuples; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TupleFilter {
    pub object_type: String,
    pub object_id: Option<String>,
    pub relation: Option<String>,
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    /// `Some("")` matches plain subjects only.
    pub subject_relation: Option<String>,
}

impl TupleFilter {
    /// The filter matching exactly one tuple.
    pub fn exact(t: &Tuple) -> Self {
        Self {
            object_type: t.object.object_type.clone(),
            object_id: Some(t.object.object_id.clone()),
            relation: Some(t.relation.clone()),
            subject_type: Some(t.subject.subject_type.clone()),
            subject_id: Some(t.subject.subject_id.clone()),
            subject_relation: Some(t.subject.relation_str().to_owned()),
        }
    }

    fn condition(&self) -> sea_orm::Condition {
        use permission_tuple::Column as C;
        let mut c = sea_orm::Condition::all().add(C::ObjectType.eq(self.object_type.as_str()));
        let opt = [
            (C::ObjectId, &self.object_id),
            (C::Relation, &self.relation),
            (C::SubjectType, &self.subject_type),
            (C::SubjectId, &self.subject_id),
            (C::SubjectRelation, &self.subject_relation),
        ];
        for (col, v) in opt {
            if let Some(v) = v {
                c = c.add(col.eq(v.as_str()));
            }
        }
        c
    }
}

/// A condition the batch checks before it applies (SpiceDB's write preconditions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    MustMatch(TupleFilter),
    MustNotMatch(TupleFilter),
}

/// Updates applied atomically, after every precondition holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub updates: Vec<TupleUpdate>,
    pub preconditions: Vec<Precondition>,
}

impl WriteBatch {
    pub fn touch(tuples: impl IntoIterator<Item = Tuple>) -> Self {
        Self {
            updates: tuples.into_iter().map(TupleUpdate::touch).collect(),
            preconditions: Vec::new(),
        }
    }
}

/// Rows per INSERT statement (8 values each; well under every backend's parameter limit).
const INSERT_CHUNK: usize = 500;

/// Applies a batch in one tenant transaction and returns the new revision. Tuples to insert must
/// be valid under `schema` (the relation is assignable and accepts the subject); deletes are not
/// checked, so tuples a model change made stale can still be removed.
pub async fn write(
    db: &kernel::Db,
    org_id: Uuid,
    schema: &Schema,
    batch: &WriteBatch,
) -> Result<Revision, EngineError> {
    for u in &batch.updates {
        if u.op != WriteOp::Delete {
            validate_tuple(schema, &u.tuple)?;
        }
    }
    let tx = db.tenant(org_id).await?;
    match write_in(&tx, batch).await {
        Ok(revision) => {
            tx.commit().await?;
            Ok(revision)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// Applies an (already validated) batch in the caller's tenant transaction, so a module can
/// change its own rows and their relationships atomically. Returns the revision the commit
/// will create; on an error the caller must roll back.
pub(crate) async fn write_in(
    tx: &kernel::TenantTx,
    batch: &WriteBatch,
) -> Result<Revision, EngineError> {
    let org_id = tx.org_id();
    let repo = tx.repo::<permission_tuple::Entity>();
    let now = chrono::Utc::now();
    for p in &batch.preconditions {
        let (filter, want) = match p {
            Precondition::MustMatch(f) => (f, true),
            Precondition::MustNotMatch(f) => (f, false),
        };
        let found = repo
            .find()
            .filter(filter.condition())
            .filter(live(now))
            .select_only()
            .column(permission_tuple::Column::ObjectId)
            .limit(1)
            .into_tuple::<String>()
            .one(repo.conn())
            .await?
            .is_some();
        if found != want {
            return Err(EngineError::PreconditionFailed(format!("{p:?}")));
        }
    }
    let mut inserts: Vec<&Tuple> = Vec::new();
    for u in &batch.updates {
        match u.op {
            WriteOp::Delete => {
                repo.delete_many(TupleFilter::exact(&u.tuple).condition().into())
                    .await?;
            }
            WriteOp::Create => {
                let exists = repo
                    .find()
                    .filter(TupleFilter::exact(&u.tuple).condition())
                    .filter(live(now))
                    .select_only()
                    .column(permission_tuple::Column::ObjectId)
                    .into_tuple::<String>()
                    .one(repo.conn())
                    .await?
                    .is_some();
                if exists {
                    return Err(EngineError::AlreadyExists(u.tuple.to_string()));
                }
                inserts.push(&u.tuple);
            }
            WriteOp::Touch => inserts.push(&u.tuple),
        }
    }
    // A touch replaces the caveat of a relationship that exists, and one statement may not
    // update a row twice: of one relationship written twice, the last write counts.
    let mut seen = std::collections::HashSet::new();
    let mut inserts: Vec<_> = inserts
        .into_iter()
        .rev()
        .filter(|t| seen.insert((&t.object, &t.relation, &t.subject)))
        .map(|t| active(org_id, t, now))
        .collect();
    inserts.reverse();
    while !inserts.is_empty() {
        let rest = inserts.split_off(inserts.len().min(INSERT_CHUNK));
        // Rows carry this transaction's org (set by `active`); RLS holds it to that on PostgreSQL.
        use permission_tuple::Column as C;
        permission_tuple::Entity::insert_many(std::mem::replace(&mut inserts, rest))
            .on_conflict(
                OnConflict::columns(
                    permission_tuple::PrimaryKey::iter().map(PrimaryKeyToColumn::into_column),
                )
                .update_columns([C::CaveatName, C::CaveatContext, C::ExpiresAt])
                .to_owned(),
            )
            .exec_without_returning(repo.conn())
            .await?;
    }
    bump(tx).await
}

fn active(
    org_id: Uuid,
    t: &Tuple,
    now: chrono::DateTime<chrono::Utc>,
) -> permission_tuple::ActiveModel {
    permission_tuple::ActiveModel {
        org_id: Set(org_id),
        object_type: Set(t.object.object_type.clone()),
        object_id: Set(t.object.object_id.clone()),
        relation: Set(t.relation.clone()),
        subject_type: Set(t.subject.subject_type.clone()),
        subject_id: Set(t.subject.subject_id.clone()),
        subject_relation: Set(t.subject.relation_str().to_owned()),
        created_at: Set(now),
        caveat_name: Set(t.caveat.as_ref().map(|c| c.name.clone())),
        caveat_context: Set(t
            .caveat
            .as_ref()
            .filter(|c| !c.context.is_empty())
            .map(|c| c.context.to_string())),
        expires_at: Set(t.expires_at),
    }
}

/// `revision = revision + 1` for the org (creating its row at 1), returning the new value. The
/// row lock also orders concurrent writes of one org.
async fn bump_revision<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Revision, DbErr> {
    use permission_revision::Column as C;
    let stmt = Query::insert()
        .into_table(permission_revision::Entity)
        .columns(permission_revision::Column::iter())
        .values([
            Expr::value(Value::from(org_id)),
            Expr::value(1i64),
            Expr::value(Value::from(now)),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::column(C::OrgId)
                .value(
                    C::Revision,
                    Expr::col((permission_revision::Entity, C::Revision)).add(1),
                )
                .update_column(C::UpdatedAt)
                .to_owned(),
        )
        .returning_col(C::Revision)
        .to_owned();
    let row = conn
        .query_one(&stmt)
        .await?
        .ok_or_else(|| DbErr::Custom("the revision upsert returned no row".into()))?;
    Ok(Revision(row.try_get::<i64>("", "revision")?))
}

/// Removes, in the caller's tenant transaction, every tuple on an object of `object_type` (one
/// object when `object_id` is set) and every tuple naming that object (or any object of the
/// type) as its subject, whatever the relation: what is left when the object is deleted.
/// Returns the revision the commit will create.
pub(crate) async fn forget_in(
    tx: &kernel::TenantTx,
    object_type: &str,
    object_id: Option<&str>,
) -> Result<Revision, EngineError> {
    use permission_tuple::Column as C;
    let repo = tx.repo::<permission_tuple::Entity>();
    let mut on_object = sea_orm::Condition::all().add(C::ObjectType.eq(object_type));
    let mut as_subject = sea_orm::Condition::all().add(C::SubjectType.eq(object_type));
    if let Some(id) = object_id {
        on_object = on_object.add(C::ObjectId.eq(id));
        as_subject = as_subject.add(C::SubjectId.eq(id));
    }
    repo.delete_many(
        sea_orm::Condition::any()
            .add(on_object)
            .add(as_subject)
            .into(),
    )
    .await?;
    bump(tx).await
}

/// Removes, in the caller's tenant transaction, the tuples matching any of `filters`. Returns
/// the revision the commit will create.
pub(crate) async fn delete_matching_in(
    tx: &kernel::TenantTx,
    filters: &[TupleFilter],
) -> Result<Revision, EngineError> {
    let repo = tx.repo::<permission_tuple::Entity>();
    for f in filters {
        repo.delete_many(f.condition().into()).await?;
    }
    bump(tx).await
}

/// Bumps the org's revision in the caller's transaction (the revision row is this org's, its key
/// the transaction's org; the repository has no upsert, so the statement runs on the
/// transaction directly).
async fn bump(tx: &kernel::TenantTx) -> Result<Revision, EngineError> {
    let conn = tx.repo::<permission_revision::Entity>();
    let revision = bump_revision(conn.conn(), tx.org_id(), chrono::Utc::now()).await?;
    tx.raise_on_commit(
        crate::engine::REVISION_SIGNAL,
        format!("{}:{}", tx.org_id(), revision.0),
    );
    Ok(revision)
}

/// The stored tuples matching `filter`, in primary-key order, at most `limit`.
pub async fn read(
    tx: &kernel::TenantTx,
    filter: &TupleFilter,
    limit: u64,
) -> Result<Vec<Tuple>, DbErr> {
    use permission_tuple::Column as C;
    let repo = tx.repo::<permission_tuple::Entity>();
    let rows = repo
        .find()
        .filter(filter.condition())
        .filter(live(chrono::Utc::now()))
        .order_by_asc(C::ObjectType)
        .order_by_asc(C::ObjectId)
        .order_by_asc(C::Relation)
        .order_by_asc(C::SubjectType)
        .order_by_asc(C::SubjectId)
        .order_by_asc(C::SubjectRelation)
        .limit(limit)
        .all(repo.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Tuple {
            caveat: caveat_from_row(r.caveat_name, r.caveat_context.as_deref()),
            expires_at: r.expires_at,
            ..Tuple::new(
                object_from_row(r.object_type, r.object_id),
                r.relation,
                subject_from_row(r.subject_type, r.subject_id, r.subject_relation),
            )
        })
        .collect())
}

/// The org's current revision (0 before its first write).
pub async fn current_revision(tx: &kernel::TenantTx) -> Result<Revision, DbErr> {
    let repo = tx.repo::<permission_revision::Entity>();
    let rev = repo
        .find()
        .select_only()
        .column(permission_revision::Column::Revision)
        .into_tuple::<i64>()
        .one(repo.conn())
        .await?;
    Ok(Revision(rev.unwrap_or(0)))
}

/// Whether a tuple may be stored (or sent as a contextual tuple) under `schema`.
pub fn validate_tuple(schema: &Schema, t: &Tuple) -> Result<(), EngineError> {
    let invalid = |why: String| EngineError::InvalidTuple(format!("`{t}`: {why}"));
    let Some(def) = schema.type_def(&t.object.object_type) else {
        return Err(invalid(format!(
            "type `{}` is not defined",
            t.object.object_type
        )));
    };
    let Some(rel) = def.relations.get(&t.relation) else {
        return Err(invalid(format!(
            "type `{}` has no relation `{}`",
            t.object.object_type, t.relation
        )));
    };
    if !rel.is_assignable() {
        return Err(invalid(format!(
            "`{}#{}` is not directly assignable",
            t.object.object_type, t.relation
        )));
    }
    if t.object.object_id == crate::schema::WILDCARD {
        return Err(invalid("an object cannot be a wildcard".into()));
    }
    let s = &t.subject;
    let caveat = t.caveat.as_ref().map(|c| c.name.as_str());
    if !rel.accepts_with(s, caveat, t.expires_at.is_some()) {
        let mut like = match caveat {
            Some(c) => format!("`{s}` with caveat `{c}`"),
            None => format!("`{s}` without a caveat"),
        };
        if t.expires_at.is_some() {
            like.push_str(" that expire");
        }
        return Err(invalid(format!(
            "`{}#{}` does not allow subjects like {like} (allowed: {})",
            t.object.object_type,
            t.relation,
            rel.allowed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(c) = &t.caveat
        && let Some(def) = schema.caveats.get(&c.name)
    {
        def.check_context(&c.context).map_err(invalid)?;
    }
    Ok(())
}

/// Relationships that have not expired at `now` (an expired one is absent everywhere).
pub(crate) fn live(now: chrono::DateTime<chrono::Utc>) -> sea_orm::Condition {
    use permission_tuple::Column as C;
    sea_orm::Condition::any()
        .add(C::ExpiresAt.is_null())
        .add(C::ExpiresAt.gt(now))
}

/// A stored caveat as the engine reads it (a context that does not parse counts as empty; only
/// this module writes it, from a validated context).
pub(crate) fn caveat_from_row(name: Option<String>, context: Option<&str>) -> Option<CaveatRef> {
    Some(CaveatRef {
        name: name?,
        context: context
            .and_then(|c| Context::parse(c).ok())
            .unwrap_or_default(),
    })
}

/// A stored subject as the engine reads it.
pub(crate) fn subject_from_row(
    subject_type: String,
    subject_id: String,
    rel: String,
) -> SubjectRef {
    SubjectRef {
        subject_type,
        subject_id,
        relation: (!rel.is_empty()).then_some(rel),
    }
}

/// An object as the engine reads it.
pub(crate) fn object_from_row(object_type: String, object_id: String) -> ObjectRef {
    ObjectRef {
        object_type,
        object_id,
    }
}
