//! Bulk operations on persons: claim, release, assign, tag, delete, add to a static segment.
//! Up to one batch (`bulk_batch`, 1 000) at once, all or nothing, in the request; a filter that
//! matches more becomes a job (`crm.bulk`) that acts on one batch per transaction, in id order,
//! keeping its progress (and where it is, so a retry resumes), and stops at the first batch
//! refused, naming the person.

use chrono::Utc;
use kernel::http::{Caller, ListQuery};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{bulk_job, contact};
use crate::ownership::Who;

pub(crate) const ACTIONS: [&str; 6] = [
    "claim",
    "release",
    "assign",
    "tag",
    "delete",
    "add_to_segment",
];
/// The job that acts on a large set.
pub(crate) const JOB: &str = "bulk";

/// What an action needs besides the persons.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Params {
    pub segment_id: Option<Uuid>,
    pub tag_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
}

/// 422 unless `action` is known and names what it needs, and only that.
pub(crate) async fn check(
    ctx: &CellContext,
    tx: &TenantTx,
    action: &str,
    p: &Params,
) -> Result<(), ApiError> {
    super::one_of("action", action, &ACTIONS)?;
    for (field, needs, given) in [
        ("segment_id", "add_to_segment", p.segment_id.is_some()),
        ("tag_id", "tag", p.tag_id.is_some()),
        ("owner_id", "assign", p.owner_id.is_some()),
    ] {
        if (action == needs) != given {
            return Err(ApiError::validation(
                field,
                format!("`{needs}` names `{field}`, and only it"),
            ));
        }
    }
    if let Some(owner) = p.owner_id
        && !super::works_here(ctx, tx, owner).await?
    {
        return Err(ApiError::validation(
            "owner_id",
            "no member of this organization",
        ));
    }
    Ok(())
}

/// The persons a list query matches that the caller reads; 422 naming `filter` for a bad one.
fn selected(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    filter: &str,
) -> Result<Select<contact::Entity>, ApiError> {
    let invalid = |e: ApiError| ApiError::validation("filter", e.message().to_owned());
    let q = ListQuery::parse_in(ctx, tx.org_id(), filter).map_err(invalid)?;
    let mut select = crate::http::contacts::contact_list()
        .filters(&q, tx.repo::<contact::Entity>().find())
        .map_err(invalid)?;
    if let Some(only) = who.readable() {
        select = select.filter(only);
    }
    Ok(select)
}

/// The persons a list query matches that the caller reads, in id order, after `after`, at most
/// `limit`.
pub(crate) async fn matching(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    filter: &str,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, ApiError> {
    let mut select = selected(ctx, tx, who, filter)?;
    if let Some(after) = after {
        select = select.filter(contact::Column::Id.gt(after));
    }
    Ok(select
        .select_only()
        .column(contact::Column::Id)
        .order_by_asc(contact::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(tx.repo::<contact::Entity>().conn())
        .await?)
}

/// Acts on `ids`, all or nothing: the first person the caller may not act on refuses the whole
/// batch, named (`details.contact_id`). Each person's events are published as for one.
pub(crate) async fn apply(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    action: &str,
    p: &Params,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    let named = |id: Uuid| {
        move |e: ApiError| {
            let mut details = e
                .details()
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            details["contact_id"] = serde_json::json!(id);
            ApiError::new(e.code(), format!("{id}: {}", e.message())).with_details(details)
        }
    };
    match action {
        "add_to_segment" => {
            let segment = p.segment_id.unwrap_or_default();
            super::segments::add(ctx, tx, who, segment, ids.to_vec()).await?;
        }
        // Tags are collab's: any member who reads a person tags them, as on one person.
        "tag" => {
            super::all_readable(tx, who, ids, "ids").await?;
            let tag = p.tag_id.unwrap_or_default();
            collab::tag_all(ctx, tx, who.user, tag, crate::loader::CONTACT, ids).await?;
        }
        action => {
            let owner = p.owner_id.unwrap_or_default();
            for id in ids {
                let done = match action {
                    "claim" => super::claim(ctx, tx, who, *id).await.map(|_| ()),
                    "release" => super::release(ctx, tx, who, *id).await.map(|_| ()),
                    "assign" => super::assign(ctx, tx, who, *id, owner).await.map(|_| ()),
                    _ => super::delete(ctx, tx, who, *id).await,
                };
                done.map_err(named(*id))?;
            }
        }
    }
    Ok(())
}

/// Starts a job over every person `filter` matches (`total` of them): the job row, and its run
/// queued in the same transaction.
pub(crate) async fn start(
    ctx: &CellContext,
    tx: &TenantTx,
    who: &Who,
    action: &str,
    filter: String,
    p: Params,
) -> Result<bulk_job::Model, ApiError> {
    let total = selected(ctx, tx, who, &filter)?
        .count(tx.repo::<contact::Entity>().conn())
        .await? as i64;
    let row = tx
        .repo::<bulk_job::Entity>()
        .insert(bulk_job::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            action: Set(action.to_owned()),
            filter: Set(filter),
            params: Set(serde_json::to_value(&p).unwrap_or_default()),
            status: Set("queued".into()),
            total: Set(total),
            done: Set(0),
            cursor: Set(None),
            error: Set(None),
            failed_contact_id: Set(None),
            created_by: Set(who.user),
            created_at: Set(Utc::now()),
            started_at: Set(None),
            finished_at: Set(None),
        })
        .await?;
    ctx.jobs()
        .enqueue_in(
            tx,
            &format!("crm.{JOB}"),
            serde_json::json!({ "bulk_id": row.id }),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok(row)
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<bulk_job::Model, ApiError> {
    tx.repo::<bulk_job::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such bulk operation in this organization"))
}

/// Runs a job: one batch per transaction, as its creator (their rights now), until none is left
/// or a batch is refused (the job `failed`, naming the person; the batches before it stay done).
pub(crate) async fn run(ctx: &CellContext, org: Uuid, id: Uuid, batch: u64) -> anyhow::Result<()> {
    loop {
        let tx = ctx.db().tenant(org).await?;
        let job = match get(&tx, id).await {
            Ok(j) if j.status == "queued" || j.status == "running" => j,
            // Done, failed, or gone: nothing to do.
            _ => return Ok(()),
        };
        let caller = Caller {
            org_id: Some(org),
            ..Caller::user(job.created_by)
        };
        let outcome = async {
            let who = Who::of(ctx, &tx, &caller).await?;
            let p: Params = serde_json::from_value(job.params.clone()).unwrap_or_default();
            let ids = matching(ctx, &tx, &who, &job.filter, job.cursor, batch).await?;
            apply(ctx, &tx, &who, &job.action, &p, &ids).await?;
            Ok::<_, ApiError>(ids)
        }
        .await;
        match outcome {
            Ok(ids) => {
                // A batch short of full was the last one.
                let finished = (ids.len() as u64) < batch;
                let now = Utc::now();
                let mut m: bulk_job::ActiveModel = job.clone().into();
                m.status = Set(if finished { "completed" } else { "running" }.into());
                m.done = Set(job.done + ids.len() as i64);
                m.cursor = Set(ids.last().copied().or(job.cursor));
                if job.started_at.is_none() {
                    m.started_at = Set(Some(now));
                }
                if finished {
                    m.finished_at = Set(Some(now));
                }
                tx.repo::<bulk_job::Entity>().update(m).await?;
                tx.commit().await?;
                if finished {
                    return Ok(());
                }
            }
            Err(e) if e.code().status().is_client_error() => {
                // The batch is undone; the refusal is the job's outcome, in a transaction of
                // its own.
                tx.rollback().await?;
                let tx = ctx.db().tenant(org).await?;
                let failed = e
                    .details()
                    .and_then(|d| d["contact_id"].as_str())
                    .and_then(|s| s.parse().ok());
                let mut m: bulk_job::ActiveModel = job.into();
                m.status = Set("failed".into());
                m.error = Set(Some(e.message().to_owned()));
                m.failed_contact_id = Set(failed);
                m.finished_at = Set(Some(Utc::now()));
                tx.repo::<bulk_job::Entity>().update(m).await?;
                tx.commit().await?;
                return Ok(());
            }
            Err(e) => anyhow::bail!("{}", e.message()),
        }
    }
}
