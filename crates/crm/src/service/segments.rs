//! Segments: static (members added by hand) or dynamic (the persons a rule matches). The rule is
//! a person-list query (`filter[type]=lead&filter[status]=active&tags=vip&search=acme`): the
//! language every list speaks, so what a segment holds is what that list would show. Members
//! are materialized: a dynamic segment is evaluated whole by a job when it is made or its rule
//! changes, and for one person whenever an event changes them (their details, type, owner,
//! tags, trash), so `crm.segment.joined` / `crm.segment.left` are logged as people start and
//! stop matching. A segment is a target: `filter[segment_id]=` on the person list and on
//! exports.

use std::collections::HashSet;

use chrono::Utc;
use kernel::http::ListQuery;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Select,
};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{contact, segment, segment_member};
use crate::events::{SegmentJoined, SegmentLeft};

pub(crate) const KINDS: [&str; 2] = ["static", "dynamic"];
/// Segments one org may hold.
pub(crate) const MAX_SEGMENTS: u64 = 500;
/// The job that evaluates a dynamic segment whole.
pub(crate) const EVALUATE: &str = "evaluate_segment";
/// Members written or removed per statement in a whole evaluation.
const CHUNK: usize = 500;

fn no_segment() -> ApiError {
    ApiError::not_found("no such segment in this organization")
}

/// A rule, parsed and checked against the person list (what it may filter on); 422 naming
/// `rule` otherwise.
pub(crate) fn rule_query(ctx: &CellContext, org: Uuid, rule: &str) -> Result<ListQuery, ApiError> {
    let invalid = |e: ApiError| ApiError::validation("rule", e.message().to_owned());
    let q = ListQuery::parse_in(ctx, org, rule).map_err(invalid)?;
    if q.filters.iter().any(|f| f.field == "segment_id") {
        return Err(ApiError::validation(
            "rule",
            "a rule cannot name other segments",
        ));
    }
    if q.filters.is_empty() && q.tags.is_empty() && q.search.is_none() {
        return Err(ApiError::validation(
            "rule",
            "a rule filters the person list: `filter[field]=…`, `tags=…` or `search=…`",
        ));
    }
    crate::http::contacts::contact_list()
        .filters(&q, contact::Entity::find())
        .map_err(invalid)?;
    Ok(q)
}

/// The persons of `tx`'s org the rule matches (live ones: the trash is left out).
fn matching(tx: &TenantTx, q: &ListQuery) -> Result<Select<contact::Entity>, ApiError> {
    crate::http::contacts::contact_list().filters(q, tx.repo::<contact::Entity>().find())
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<segment::Model, ApiError> {
    tx.repo::<segment::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_segment)
}

fn name_taken(e: kernel::sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::conflict(
            "a segment of this name exists",
        )
        .with_details(serde_json::json!({ "fields": { "name": "a segment of this name exists" } })),
        _ => e.into(),
    }
}

async fn evaluate_later(ctx: &CellContext, tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    ctx.jobs()
        .enqueue_in(
            tx,
            &format!("crm.{EVALUATE}"),
            serde_json::json!({ "segment_id": id }),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok(())
}

/// Makes a segment; a dynamic one is evaluated by a job right after.
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    name: String,
    kind: &str,
    rule: Option<String>,
) -> Result<segment::Model, ApiError> {
    super::one_of("kind", kind, &KINDS)?;
    let rule = match (kind, rule) {
        ("dynamic", Some(r)) => {
            rule_query(ctx, tx.org_id(), &r)?;
            Some(r)
        }
        ("dynamic", None) => {
            return Err(ApiError::validation("rule", "a dynamic segment has a rule"));
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "rule",
                "a static segment has no rule: add its members",
            ));
        }
        (_, None) => None,
    };
    let repo = tx.repo::<segment::Entity>();
    if repo.count().await? >= MAX_SEGMENTS {
        return Err(ApiError::conflict(format!(
            "this organization holds {MAX_SEGMENTS} segments, the most it may"
        )));
    }
    let now = Utc::now();
    let row = repo
        .insert(segment::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            kind: Set(kind.to_owned()),
            rule: Set(rule),
            member_count: Set(0),
            evaluated_at: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await
        .map_err(name_taken)?;
    if row.kind == "dynamic" {
        evaluate_later(ctx, tx, row.id).await?;
    }
    Ok(row)
}

/// Renames a segment, or gives a dynamic one a new rule (evaluated again by a job).
pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    id: Uuid,
    name: Option<String>,
    rule: Option<String>,
) -> Result<segment::Model, ApiError> {
    let row = get(tx, id).await?;
    if rule.is_some() && row.kind != "dynamic" {
        return Err(ApiError::validation(
            "rule",
            "a static segment has no rule: add its members",
        ));
    }
    if let Some(r) = &rule {
        rule_query(ctx, tx.org_id(), r)?;
    }
    let changed = rule.as_ref().is_some_and(|r| Some(r) != row.rule.as_ref());
    let mut m: segment::ActiveModel = row.into();
    if let Some(n) = name {
        m.name = Set(n);
    }
    if let Some(r) = rule {
        m.rule = Set(Some(r));
    }
    m.updated_at = Set(Utc::now());
    let row = tx
        .repo::<segment::Entity>()
        .update(m)
        .await
        .map_err(name_taken)?;
    if changed {
        evaluate_later(ctx, tx, row.id).await?;
    }
    Ok(row)
}

/// Deletes a segment and its memberships (no one is said to leave: the segment is gone).
pub(crate) async fn delete(tx: &TenantTx, id: Uuid) -> Result<(), ApiError> {
    let row = get(tx, id).await?;
    tx.repo::<segment_member::Entity>()
        .delete_many(segment_member::Column::SegmentId.eq(row.id))
        .await?;
    tx.repo::<segment::Entity>().delete(row.id).await?;
    Ok(())
}

/// Writes memberships and logs each join; returns how many.
async fn join(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    seg: &segment::Model,
    ids: &[Uuid],
) -> Result<i64, ApiError> {
    let now = Utc::now();
    for chunk in ids.chunks(CHUNK) {
        let rows = chunk.iter().map(|c| segment_member::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            segment_id: Set(seg.id),
            contact_id: Set(*c),
            joined_at: Set(now),
        });
        tx.repo::<segment_member::Entity>()
            .insert_many(rows)
            .await?;
        for c in chunk {
            let event = SegmentJoined {
                segment_id: seg.id,
                segment_name: seg.name.clone(),
                contact_id: *c,
            };
            ctx.events()
                .emit(tx, by.map(kernel::module::EntityRef::user), &event)
                .await?;
        }
    }
    Ok(ids.len() as i64)
}

/// Removes memberships and logs each leave; returns how many.
async fn leave(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    seg: &segment::Model,
    ids: &[Uuid],
) -> Result<i64, ApiError> {
    for chunk in ids.chunks(CHUNK) {
        tx.repo::<segment_member::Entity>()
            .delete_many(
                segment_member::Column::SegmentId
                    .eq(seg.id)
                    .and(segment_member::Column::ContactId.is_in(chunk.to_vec())),
            )
            .await?;
        for c in chunk {
            let event = SegmentLeft {
                segment_id: seg.id,
                segment_name: seg.name.clone(),
                contact_id: *c,
            };
            ctx.events()
                .emit(tx, by.map(kernel::module::EntityRef::user), &event)
                .await?;
        }
    }
    Ok(ids.len() as i64)
}

/// Adds `delta` to the member count where it is kept (in the statement, so concurrent joins of
/// different persons add up); `evaluated`: a whole evaluation ended now.
async fn recount(tx: &TenantTx, seg: Uuid, delta: i64, evaluated: bool) -> Result<(), ApiError> {
    use kernel::sea_orm::sea_query::{Expr, ExprTrait};
    let mut set = vec![(
        segment::Column::MemberCount,
        Expr::col(segment::Column::MemberCount).add(delta),
    )];
    if evaluated {
        set.push((segment::Column::EvaluatedAt, Expr::value(Utc::now())));
    }
    tx.repo::<segment::Entity>()
        .update_many(set, segment::Column::Id.eq(seg))
        .await?;
    Ok(())
}

/// The members of `seg` among `ids` (all of them when `ids` is `None`).
async fn members(
    tx: &TenantTx,
    seg: Uuid,
    ids: Option<&[Uuid]>,
) -> Result<HashSet<Uuid>, ApiError> {
    let repo = tx.repo::<segment_member::Entity>();
    let mut select = repo
        .find()
        .filter(segment_member::Column::SegmentId.eq(seg));
    if let Some(ids) = ids {
        select = select.filter(segment_member::Column::ContactId.is_in(ids.to_vec()));
    }
    let rows: Vec<Uuid> = select
        .select_only()
        .column(segment_member::Column::ContactId)
        .into_tuple()
        .all(repo.conn())
        .await?;
    Ok(rows.into_iter().collect())
}

/// Adds persons to a static segment (those already in it stay as they are); 422 naming the
/// first id that is no person of the org.
pub(crate) async fn add(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &crate::ownership::Who,
    id: Uuid,
    ids: Vec<Uuid>,
) -> Result<segment::Model, ApiError> {
    let seg = get(tx, id).await?;
    if seg.kind != "static" {
        return Err(ApiError::conflict(
            "a dynamic segment's members are those its rule matches",
        ));
    }
    let wanted: Vec<Uuid> = ids
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    super::all_readable(tx, who, &wanted, "contact_ids").await?;
    let already = members(tx, seg.id, Some(&wanted)).await?;
    let new: Vec<Uuid> = wanted
        .into_iter()
        .filter(|c| !already.contains(c))
        .collect();
    let n = join(ctx, tx, Some(who.user), &seg, &new).await?;
    recount(tx, seg.id, n, false).await?;
    get(tx, seg.id).await
}

/// Takes a person out of a static segment; 404 when they are not in it.
pub(crate) async fn remove(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    contact_id: Uuid,
) -> Result<(), ApiError> {
    let seg = get(tx, id).await?;
    if seg.kind != "static" {
        return Err(ApiError::conflict(
            "a dynamic segment's members are those its rule matches",
        ));
    }
    if members(tx, seg.id, Some(&[contact_id])).await?.is_empty() {
        return Err(ApiError::not_found("this person is not in the segment"));
    }
    let n = leave(ctx, tx, Some(by), &seg, &[contact_id]).await?;
    recount(tx, seg.id, -n, false).await?;
    Ok(())
}

/// Queues an evaluation of every dynamic segment whose rule is relative to now (`now-30d`):
/// time passing changes who matches without any event. Returns how many were queued.
pub(crate) async fn sweep_relative(ctx: &CellContext) -> Result<usize, ApiError> {
    let relative = || {
        segment::Column::Kind
            .eq("dynamic")
            .and(segment::Column::Rule.like("%=now%"))
    };
    let mut queued = 0;
    for org in kernel::db::orgs_with::<segment::Entity>(ctx.db(), relative()).await? {
        let tx = ctx.db().tenant(org).await?;
        let repo = tx.repo::<segment::Entity>();
        let ids: Vec<Uuid> = repo
            .find()
            .filter(relative())
            .select_only()
            .column(segment::Column::Id)
            .into_tuple()
            .all(repo.conn())
            .await?;
        for id in &ids {
            evaluate_later(ctx, &tx, *id).await?;
        }
        tx.commit().await?;
        queued += ids.len();
    }
    Ok(queued)
}

/// Evaluates a dynamic segment whole: those who match join, those who no longer do leave.
pub(crate) async fn evaluate(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    id: Uuid,
) -> Result<(i64, i64), ApiError> {
    let seg = get(tx, id).await?;
    let Some(rule) = seg.rule.clone().filter(|_| seg.kind == "dynamic") else {
        return Ok((0, 0));
    };
    let q = rule_query(ctx, tx.org_id(), &rule)?;
    let repo = tx.repo::<contact::Entity>();
    let now: HashSet<Uuid> = matching(tx, &q)?
        .select_only()
        .column(contact::Column::Id)
        .into_tuple::<Uuid>()
        .all(repo.conn())
        .await?
        .into_iter()
        .collect();
    let before = members(tx, seg.id, None).await?;
    let mut joined: Vec<Uuid> = now.difference(&before).copied().collect();
    let mut left: Vec<Uuid> = before.difference(&now).copied().collect();
    joined.sort_unstable();
    left.sort_unstable();
    let j = join(ctx, tx, by, &seg, &joined).await?;
    let l = leave(ctx, tx, by, &seg, &left).await?;
    recount(tx, seg.id, j - l, true).await?;
    Ok((j, l))
}

/// Whether the person matches a rule (one statement). A rule that no longer parses (a field
/// renamed by an upgrade) matches no one.
pub(crate) async fn matches(
    ctx: &CellContext,
    tx: &TenantTx,
    rule: &str,
    contact_id: Uuid,
) -> Result<bool, ApiError> {
    let Ok(q) = rule_query(ctx, tx.org_id(), rule) else {
        return Ok(false);
    };
    Ok(matching(tx, &q)?
        .filter(contact::Column::Id.eq(contact_id))
        .count(tx.repo::<contact::Entity>().conn())
        .await?
        > 0)
}

/// The segments a person is in.
async fn segments_of(tx: &TenantTx, contact_id: Uuid) -> Result<HashSet<Uuid>, ApiError> {
    let members = tx.repo::<segment_member::Entity>();
    Ok(members
        .find()
        .filter(segment_member::Column::ContactId.eq(contact_id))
        .select_only()
        .column(segment_member::Column::SegmentId)
        .into_tuple::<Uuid>()
        .all(members.conn())
        .await?
        .into_iter()
        .collect())
}

/// A merge: `from` leaves every segment it was in; `into` joins the static ones it was not in
/// (its dynamic ones follow from the rules when the merge's event re-checks it).
pub(crate) async fn merge(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    into: Uuid,
    from: Uuid,
) -> Result<(), ApiError> {
    let theirs = segments_of(tx, from).await?;
    if theirs.is_empty() {
        return Ok(());
    }
    let ours = segments_of(tx, into).await?;
    let segs = tx.repo::<segment::Entity>();
    let theirs = segs
        .find()
        .filter(segment::Column::Id.is_in(theirs))
        .all(segs.conn())
        .await?;
    for seg in theirs {
        let mut delta = -leave(ctx, tx, Some(by), &seg, &[from]).await?;
        if seg.kind == "static" && !ours.contains(&seg.id) {
            delta += join(ctx, tx, Some(by), &seg, &[into]).await?;
        }
        recount(tx, seg.id, delta, false).await?;
    }
    Ok(())
}

/// Evaluates every dynamic segment of the org for one person (after a change to them): joins
/// and leaves as they start or stop matching. One statement per dynamic segment, plus the
/// person's memberships.
pub(crate) async fn evaluate_person(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    contact_id: Uuid,
) -> Result<(), ApiError> {
    let repo = tx.repo::<segment::Entity>();
    let dynamic = repo
        .find()
        .filter(segment::Column::Kind.eq("dynamic"))
        .all(repo.conn())
        .await?;
    if dynamic.is_empty() {
        return Ok(());
    }
    let of_person = segments_of(tx, contact_id).await?;
    for seg in dynamic {
        let Some(rule) = seg.rule.as_deref() else {
            continue;
        };
        match (
            matches(ctx, tx, rule, contact_id).await?,
            of_person.contains(&seg.id),
        ) {
            (true, false) => {
                let n = join(ctx, tx, by, &seg, &[contact_id]).await?;
                recount(tx, seg.id, n, false).await?;
            }
            (false, true) => {
                let n = leave(ctx, tx, by, &seg, &[contact_id]).await?;
                recount(tx, seg.id, -n, false).await?;
            }
            _ => {}
        }
    }
    Ok(())
}
