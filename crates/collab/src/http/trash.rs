//! The trash of every module whose loader has one (`EntityLoader::trash`): `GET /trash?type=`
//! (most recently deleted first, paged by cursor), `POST /trash/{id}/restore`,
//! `DELETE /trash/{id}/permanent` (admins), and the daily purge of what has been there longer
//! than the retention (`trash_retention_days`, 30 by default). A purge asks the owning module to
//! delete the entity with its children and files, then deletes what collab keeps for it (tags,
//! notes, comments, links, search entry), so nothing is left pointing at it. Its activity stays:
//! the feed is append-only, and an entity that no longer exists is seen by no one.

use std::sync::Arc;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::Caller;
use kernel::module::{EntityLoader, EntitySummary, EntityTrash, JobHandler, Trashed};
use kernel::sea_orm::ColumnTrait;
use kernel::sea_orm::sea_query::ExprTrait;
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{comment, entity_tag, link, note};
use crate::events::{EntityPurged, EntityRestored};
use crate::permissions::{PurgeTrash, ReadTrash, WriteTrash};

const TAG: &str = "trash";
const DEFAULT_LIMIT: u64 = 25;
const MAX_LIMIT: u64 = 100;
/// Expired entities purged per statement batch of the daily job.
const PURGE_BATCH: u64 = 200;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list).service(restore).service(purge);
}

/// `GET /trash`: `type` (one or more entity types, comma-separated), `before` (the
/// `next_before` of the previous page) and `limit` (default 25, up to 100).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrashQuery {
    /// Entity types, comma-separated (`template_item,task`); all when absent.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,9}$",
        max_length = 640
    )]
    pub types: Option<String>,
    /// The cursor: a page's `next_before` (`<deleted_at in µs since 1970>_<id>`).
    #[param(
        pattern = r"^[0-9]{1,16}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub before: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// A page of the trash, most recently deleted first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrashPage {
    pub data: Vec<Trashed>,
    /// Pass as `before` for the next page; `null` at the end.
    pub next_before: Option<String>,
}

/// `?type=a,b`: those types, each written as an entity type is; `None` for all.
pub(crate) fn types_param(types: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(types) = types else {
        return Ok(None);
    };
    let kinds: Vec<String> = types.split(',').map(str::to_owned).collect();
    match kinds.len() <= 10 && kinds.iter().all(|t| crate::entities::valid_kind(t)) {
        true => Ok(Some(kinds)),
        false => Err(ApiError::invalid_query(
            "`type` is up to 10 entity types, comma-separated (`team,template_item`)",
        )),
    }
}

fn cursor_of(t: &Trashed) -> String {
    format!(
        "{}_{}",
        t.deleted_at.timestamp_micros(),
        t.summary.entity.id
    )
}

fn parse_cursor(before: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::invalid_query("`before` is a page's `next_before`");
    let (at, id) = before.split_once('_').ok_or_else(bad)?;
    let at = at
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// The trash loaders of the cell, only those of `types` when given.
fn bins<'a>(
    ctx: &'a CellContext,
    types: Option<&'a [String]>,
) -> impl Iterator<Item = &'a Arc<dyn EntityLoader>> + 'a {
    ctx.entity_loaders().filter(move |l| {
        l.trash().is_some() && types.is_none_or(|t| t.iter().any(|t| t == l.entity_type()))
    })
}

/// What is in the org's trash that the caller may see, most recently deleted first.
#[utoipa::path(tag = TAG, params(TrashQuery), responses(
    (status = 200, body = TrashPage), (status = 400), (status = 401), (status = 403)))]
#[get("/trash")]
pub(crate) async fn list(
    ctx: CellContext,
    tx: ReadTrash,
    q: web::Query<TrashQuery>,
) -> ApiResult<HttpResponse> {
    let limit = super::limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let types = types_param(q.types.as_deref())?;
    let before = q.before.as_deref().map(parse_cursor).transpose()?;
    // Each type's newest `limit + 1`, merged: the page, and whether there is more.
    let mut all = Vec::new();
    for loader in bins(&ctx, types.as_deref()) {
        if let Some(trash) = loader.trash() {
            all.extend(
                trash
                    .trashed(&ctx, &tx, tx.caller(), before, limit + 1)
                    .await?,
            );
        }
    }
    tx.commit().await?;
    all.sort_by(|a, b| {
        (b.deleted_at, b.summary.entity.id).cmp(&(a.deleted_at, a.summary.entity.id))
    });
    let more = all.len() as u64 > limit;
    all.truncate(limit as usize);
    let next_before = match more {
        true => all.last().map(cursor_of),
        false => None,
    };
    Ok(HttpResponse::Ok().json(TrashPage {
        data: all,
        next_before,
    }))
}

/// `POST /trash/{id}/restore` and `DELETE /trash/{id}/permanent`: `type` when the id alone is
/// ambiguous (ids are UUIDs, so it never is in practice).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OfType {
    /// The entity's type (`template_item`).
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = r"^[a-z][a-z0-9_]*$", max_length = 64)]
    pub kind: Option<String>,
}

fn not_in_trash() -> ApiError {
    ApiError::not_found("nothing with this id is in the trash")
}

/// Takes an entity out of the trash (whoever may delete it may restore it; its links, tags,
/// notes and comments are back with it).
#[utoipa::path(tag = TAG, params(("id" = Uuid, Path), OfType), responses(
    (status = 200, body = EntitySummary), (status = 400), (status = 401), (status = 403),
    (status = 404), (status = 409)))]
#[post("/trash/{id}/restore")]
pub(crate) async fn restore(
    ctx: CellContext,
    tx: WriteTrash,
    id: web::Path<Uuid>,
    q: web::Query<OfType>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let types = types_param(q.kind.as_deref())?;
    for loader in bins(&ctx, types.as_deref()) {
        let Some(trash) = loader.trash() else {
            continue;
        };
        if let Some(summary) = trash.restore(&ctx, &tx, tx.caller(), id).await? {
            let restored = EntityRestored {
                entity_type: summary.entity.kind.clone(),
                entity_id: id,
                title: summary.title.clone(),
            };
            super::publish(&ctx, &tx, &restored).await?;
            tx.commit().await?;
            return Ok(HttpResponse::Ok().json(summary));
        }
    }
    Err(not_in_trash())
}

/// Deletes an entity in the trash for good, with everything kept for it (admins).
#[utoipa::path(tag = TAG, params(("id" = Uuid, Path), OfType), responses(
    (status = 204), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[delete("/trash/{id}/permanent")]
pub(crate) async fn purge(
    ctx: CellContext,
    tx: PurgeTrash,
    id: web::Path<Uuid>,
    q: web::Query<OfType>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let types = types_param(q.kind.as_deref())?;
    let caller = tx.caller().clone();
    for loader in bins(&ctx, types.as_deref()) {
        let Some(trash) = loader.trash() else {
            continue;
        };
        let gone = purge_in(&ctx, &tx, loader.entity_type(), trash, &[id], Some(&caller)).await?;
        if !gone.is_empty() {
            tx.commit().await?;
            return Ok(HttpResponse::NoContent().finish());
        }
    }
    Err(not_in_trash())
}

/// Purges those of `ids` in the trash of `kind` in `tx`'s org: the module deletes them, collab
/// deletes what it keeps for them, and `entity.purged` tells the rest. The ids purged.
async fn purge_in(
    ctx: &CellContext,
    tx: &TenantTx,
    kind: &str,
    trash: &dyn EntityTrash,
    ids: &[Uuid],
    by: Option<&Caller>,
) -> Result<Vec<Uuid>, ApiError> {
    let gone = trash.purge(ctx, tx, ids).await?;
    forget(tx, kind, &gone).await?;
    let reason = match by {
        Some(_) => "by_hand",
        None => "expired",
    };
    let actor = by.map(|c| kernel::module::EntityRef::user(c.user_id));
    for id in &gone {
        let purged = EntityPurged {
            entity_type: kind.to_owned(),
            entity_id: *id,
            reason: reason.into(),
        };
        ctx.events().emit(tx, actor.clone(), &purged).await?;
    }
    Ok(gone)
}

/// Deletes everything collab keeps for the entities `ids` of `kind` (their tags, notes and
/// comments with their histories, links from or to them, their search entry).
pub(crate) async fn forget(tx: &TenantTx, kind: &str, ids: &[Uuid]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = ids.to_vec();
    tx.repo::<entity_tag::Entity>()
        .delete_many(
            entity_tag::Column::EntityType
                .eq(kind)
                .and(entity_tag::Column::EntityId.is_in(ids.clone())),
        )
        .await?;
    tx.repo::<note::Entity>()
        .delete_many(
            note::Column::EntityType
                .eq(kind)
                .and(note::Column::EntityId.is_in(ids.clone())),
        )
        .await?;
    tx.repo::<comment::Entity>()
        .delete_many(
            comment::Column::EntityType
                .eq(kind)
                .and(comment::Column::EntityId.is_in(ids.clone())),
        )
        .await?;
    let from = link::Column::SourceType
        .eq(kind)
        .and(link::Column::SourceId.is_in(ids.clone()));
    let to = link::Column::TargetType
        .eq(kind)
        .and(link::Column::TargetId.is_in(ids.clone()));
    tx.repo::<link::Entity>().delete_many(from.or(to)).await?;
    crate::search::forget(tx, kind, &ids).await
}

/// The daily purge: every trash loader's entities deleted more than `retention_days` ago, in
/// every org, a batch per org transaction.
pub(crate) struct PurgeExpired {
    pub retention_days: u32,
}

#[kernel::async_trait::async_trait]
impl JobHandler for PurgeExpired {
    async fn run(&self, ctx: &CellContext, _job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(self.retention_days));
        let ctx = ctx.clone();
        let purged = kernel::module::run_unsend(move || async move {
            let mut purged = 0usize;
            for loader in bins(&ctx, None) {
                purged += purge_expired(&ctx, loader.as_ref(), cutoff).await?;
            }
            Ok(purged)
        })
        .await?;
        if purged > 0 {
            tracing::info!(purged, "expired trash purged");
        }
        Ok(())
    }
}

/// Purges what has been in `loader`'s trash since before `cutoff`, in every org, a batch per
/// org transaction; how many.
async fn purge_expired(
    ctx: &CellContext,
    loader: &dyn EntityLoader,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let err = |e: ApiError| anyhow::anyhow!("{}", e.message());
    let Some(trash) = loader.trash() else {
        return Ok(0);
    };
    let mut purged = 0;
    loop {
        let expired = trash.expired(ctx, cutoff, PURGE_BATCH).await.map_err(err)?;
        if expired.is_empty() {
            return Ok(purged);
        }
        let mut by_org: std::collections::BTreeMap<Uuid, Vec<Uuid>> = Default::default();
        for (org, id) in expired {
            by_org.entry(org).or_default().push(id);
        }
        let mut progress = 0;
        for (org, ids) in by_org {
            let tx = ctx.db().tenant(org).await?;
            let gone = purge_in(ctx, &tx, loader.entity_type(), trash, &ids, None)
                .await
                .map_err(err)?;
            tx.commit().await?;
            progress += gone.len();
        }
        purged += progress;
        // A module that purges none of what it called expired would loop forever.
        if progress == 0 {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let id = Uuid::now_v7();
        let trashed = Trashed {
            summary: EntitySummary {
                entity: kernel::module::EntityRef {
                    kind: "widget".into(),
                    id,
                },
                title: "w".into(),
                subtitle: None,
                url: None,
            },
            deleted_at: at.unwrap_or_default(),
        };
        assert_eq!(
            parse_cursor(&cursor_of(&trashed)).ok(),
            at.map(|at| (at, id))
        );
        assert!(parse_cursor("yesterday").is_err());
        assert!(types_param(Some("team,Widget")).is_err());
        assert_eq!(
            types_param(Some("team,widget")).ok().flatten(),
            Some(vec!["team".to_owned(), "widget".to_owned()])
        );
    }
}
