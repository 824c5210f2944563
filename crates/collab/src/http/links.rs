//! Links between any two entities (`/links`, `/{collection}/{id}/linked[/{other}]`), and the
//! summaries and counts of any module's entities (`/resolve`, `/counts`). A link shows only
//! while the caller may see both of its ends: one to a deleted entity drops out of every
//! lookup (and is back if its module restores it).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::ValidJson;
use kernel::module::EntitySummary;
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::{self, EntityKey, EntityPath};
use crate::entity::link;
use crate::events::{EntityLinked, EntityUnlinked};
use crate::permissions::{ReadEntities, ReadLinks, WriteLinks};

const TAG: &str = "links";
/// The most links one lookup answers.
const MAX_LINKS: u64 = 1000;
const MAX_RESOLVE: usize = 100;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(create)
        .service(lookup)
        .service(remove)
        .service(linked)
        .service(linked_of_type)
        .service(resolve)
        .service(counts);
}

/// A link, with both ends as the caller sees them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Link {
    pub id: Uuid,
    pub relationship: String,
    pub source: EntitySummary,
    pub target: EntitySummary,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// `POST /links`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    #[garde(dive)]
    pub source: EntityKey,
    #[garde(dive)]
    pub target: EntityKey,
    /// What the link means; default `associated`.
    #[schema(pattern = r"^[a-z][a-z0-9_]{0,49}$")]
    #[garde(inner(pattern(r"^[a-z][a-z0-9_]{0,49}$")))]
    pub relationship: Option<String>,
}

fn key(kind: &str, id: Uuid) -> EntityKey {
    EntityKey {
        kind: kind.to_owned(),
        id,
    }
}

/// The links among `rows` whose two ends the caller may see, with their summaries.
async fn shown(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &kernel::http::Caller,
    rows: Vec<link::Model>,
) -> Result<Vec<Link>, ApiError> {
    let keys: Vec<EntityKey> = rows
        .iter()
        .flat_map(|l| {
            [
                key(&l.source_type, l.source_id),
                key(&l.target_type, l.target_id),
            ]
        })
        .collect();
    let seen = entities::visible(ctx, tx, caller, &keys).await?;
    Ok(rows
        .into_iter()
        .filter_map(|l| {
            let source = seen.get(&(l.source_type.clone(), l.source_id))?.clone();
            let target = seen.get(&(l.target_type.clone(), l.target_id))?.clone();
            Some(Link {
                id: l.id,
                relationship: l.relationship,
                source,
                target,
                created_by: l.created_by,
                created_at: l.created_at,
            })
        })
        .collect())
}

/// Links two entities the caller may see (members and up) and may link (each entity's module
/// decides; 403 naming the end): 201, or 200 with the link that exists already. Either end
/// unseen is 404, naming it in `details.missing`.
#[utoipa::path(tag = TAG, request_body = NewLink, responses(
    (status = 200, body = Link), (status = 201, body = Link), (status = 401), (status = 403),
    (status = 404), (status = 422)))]
#[post("/links")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteLinks,
    body: ValidJson<NewLink>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    if body.source == body.target {
        return Err(ApiError::validation(
            "target",
            "an entity is not linked to itself",
        ));
    }
    let relationship = body.relationship.unwrap_or_else(|| "associated".into());
    entities::all_visible(
        &ctx,
        &tx,
        tx.caller(),
        &[body.source.clone(), body.target.clone()],
    )
    .await?;
    for end in [&body.source, &body.target] {
        entities::may_link(&ctx, &tx, tx.caller(), end).await?;
    }
    let repo = tx.repo::<link::Entity>();
    let existing = repo
        .find()
        .filter(link::Column::SourceType.eq(&body.source.kind))
        .filter(link::Column::SourceId.eq(body.source.id))
        .filter(link::Column::TargetType.eq(&body.target.kind))
        .filter(link::Column::TargetId.eq(body.target.id))
        .filter(link::Column::Relationship.eq(&relationship))
        .one(repo.conn())
        .await?;
    let (row, created) = match existing {
        Some(row) => (row, false),
        None => {
            let row = repo
                .insert(link::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(tx.org_id()),
                    source_type: Set(body.source.kind),
                    source_id: Set(body.source.id),
                    target_type: Set(body.target.kind),
                    target_id: Set(body.target.id),
                    relationship: Set(relationship),
                    created_by: Set(tx.caller().user_id),
                    created_at: Set(Utc::now()),
                })
                .await?;
            let event = EntityLinked {
                link_id: row.id,
                source_type: row.source_type.clone(),
                source_id: row.source_id,
                target_type: row.target_type.clone(),
                target_id: row.target_id,
                relationship: row.relationship.clone(),
            };
            super::publish(&ctx, &tx, &event).await?;
            (row, true)
        }
    };
    let mut links = shown(&ctx, &tx, tx.caller(), vec![row]).await?;
    tx.commit().await?;
    let link = links
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a link just made is not shown")))?;
    Ok(match created {
        true => HttpResponse::Created().json(link),
        false => HttpResponse::Ok().json(link),
    })
}

/// `GET /links`: filters on the ends, all optional and combined (`source_type` and `source_id`
/// give the links from one entity, `target_…` those to one).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    #[param(pattern = r"^[a-z][a-z0-9_]*$", max_length = 64)]
    pub source_type: Option<String>,
    pub source_id: Option<Uuid>,
    #[param(pattern = r"^[a-z][a-z0-9_]*$", max_length = 64)]
    pub target_type: Option<String>,
    pub target_id: Option<Uuid>,
}

/// The org's links the caller sees both ends of, newest first, up to 1000: from an entity
/// (`source_type`, `source_id`), to one (`target_type`, `target_id`), or any mix of the four.
#[utoipa::path(tag = TAG, params(LinkQuery), responses(
    (status = 200, body = Vec<Link>), (status = 400), (status = 401), (status = 403)))]
#[get("/links")]
pub(crate) async fn lookup(
    ctx: CellContext,
    tx: ReadLinks,
    q: web::Query<LinkQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    for (name, kind) in [
        ("source_type", &q.source_type),
        ("target_type", &q.target_type),
    ] {
        if kind.as_deref().is_some_and(|k| !entities::valid_kind(k)) {
            return Err(ApiError::invalid_query(format!(
                "`{name}` is an entity type: lowercase letters, digits and `_`, from a letter"
            )));
        }
    }
    let repo = tx.repo::<link::Entity>();
    let mut select = repo.find();
    if let Some(t) = q.source_type {
        select = select.filter(link::Column::SourceType.eq(t));
    }
    if let Some(id) = q.source_id {
        select = select.filter(link::Column::SourceId.eq(id));
    }
    if let Some(t) = q.target_type {
        select = select.filter(link::Column::TargetType.eq(t));
    }
    if let Some(id) = q.target_id {
        select = select.filter(link::Column::TargetId.eq(id));
    }
    let rows = select
        .order_by_desc(link::Column::CreatedAt)
        .order_by_desc(link::Column::Id)
        .limit(MAX_LINKS)
        .all(repo.conn())
        .await?;
    let links = shown(&ctx, &tx, tx.caller(), rows).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(links))
}

/// Removes a link (members and up) whose ends the caller may see.
#[utoipa::path(tag = TAG, responses(
    (status = 204, description = "removed"), (status = 401), (status = 403), (status = 404)))]
#[delete("/links/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteLinks,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let missing = || ApiError::not_found("no such link");
    let row = tx
        .repo::<link::Entity>()
        .get(id.into_inner())
        .await?
        .ok_or_else(missing)?;
    if shown(&ctx, &tx, tx.caller(), vec![row.clone()])
        .await?
        .is_empty()
    {
        return Err(missing());
    }
    tx.repo::<link::Entity>().delete(row.id).await?;
    let event = EntityUnlinked {
        link_id: row.id,
        source_type: row.source_type,
        source_id: row.source_id,
        target_type: row.target_type,
        target_id: row.target_id,
        relationship: row.relationship,
    };
    super::publish(&ctx, &tx, &event).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An entity linked to the one a route names, from its side.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Linked {
    pub link_id: Uuid,
    pub relationship: String,
    /// `outgoing` (the named entity is the source) or `incoming`.
    pub direction: String,
    pub entity: EntitySummary,
}

/// Everything linked to one entity, both directions, or only entities of `other`.
async fn linked_to(
    ctx: &CellContext,
    tx: &ReadLinks,
    path: &EntityPath,
    other: Option<&str>,
) -> Result<Vec<Linked>, ApiError> {
    let me = entities::in_collection(ctx, tx, &path.collection, path.id).await?;
    let other_type = match other {
        Some(collection) => Some(
            ctx.entity_collection(collection)
                .ok_or_else(|| ApiError::not_found(format!("no such collection `{collection}`")))?
                .entity_type(),
        ),
        None => None,
    };
    let (kind, id) = (me.entity.kind.clone(), me.entity.id);
    let mut outgoing = Condition::all()
        .add(link::Column::SourceType.eq(&kind))
        .add(link::Column::SourceId.eq(id));
    let mut incoming = Condition::all()
        .add(link::Column::TargetType.eq(&kind))
        .add(link::Column::TargetId.eq(id));
    if let Some(t) = other_type {
        outgoing = outgoing.add(link::Column::TargetType.eq(t));
        incoming = incoming.add(link::Column::SourceType.eq(t));
    }
    let repo = tx.repo::<link::Entity>();
    let rows = repo
        .find()
        .filter(Condition::any().add(outgoing).add(incoming))
        .order_by_desc(link::Column::CreatedAt)
        .order_by_desc(link::Column::Id)
        .limit(MAX_LINKS)
        .all(repo.conn())
        .await?;
    Ok(shown(ctx, tx, tx.caller(), rows)
        .await?
        .into_iter()
        .map(|l| {
            let out = l.source.entity.kind == kind && l.source.entity.id == id;
            Linked {
                link_id: l.id,
                relationship: l.relationship,
                direction: if out { "outgoing" } else { "incoming" }.into(),
                entity: if out { l.target } else { l.source },
            }
        })
        .collect())
}

/// Everything linked to an entity, in both directions, newest first (up to 1000).
#[utoipa::path(tag = TAG, params(EntityPath), responses(
    (status = 200, body = Vec<Linked>), (status = 401), (status = 403), (status = 404)))]
#[get("/{collection}/{id}/linked")]
pub(crate) async fn linked(
    ctx: CellContext,
    tx: ReadLinks,
    path: web::Path<EntityPath>,
) -> ApiResult<HttpResponse> {
    let out = linked_to(&ctx, &tx, &path, None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The path of an entity's links to one collection (`/teams/{id}/linked/items`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LinkedPath {
    pub collection: String,
    pub id: Uuid,
    /// The other collection.
    pub other: String,
}

/// The entities of one collection linked to an entity, in both directions.
#[utoipa::path(tag = TAG, params(LinkedPath), responses(
    (status = 200, body = Vec<Linked>), (status = 401), (status = 403), (status = 404)))]
#[get("/{collection}/{id}/linked/{other}")]
pub(crate) async fn linked_of_type(
    ctx: CellContext,
    tx: ReadLinks,
    path: web::Path<LinkedPath>,
) -> ApiResult<HttpResponse> {
    let LinkedPath {
        collection,
        id,
        other,
    } = path.into_inner();
    let out = linked_to(&ctx, &tx, &EntityPath { collection, id }, Some(&other)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /resolve`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// The entity type (`team`).
    #[serde(rename = "type")]
    #[schema(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    #[garde(custom(crate::entities::kind_rule))]
    pub kind: String,
    /// Up to 100 ids.
    #[schema(max_items = 100)]
    #[garde(length(max = MAX_RESOLVE))]
    pub ids: Vec<Uuid>,
}

/// Summaries of entities of one type: those the caller may see (the others, and every id of a
/// type no module of the cell declares, are left out).
#[utoipa::path(tag = "entities", request_body = Resolve, responses(
    (status = 200, body = Vec<EntitySummary>), (status = 401), (status = 403), (status = 422)))]
#[post("/resolve")]
pub(crate) async fn resolve(
    ctx: CellContext,
    tx: ReadEntities,
    body: ValidJson<Resolve>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let found = match ctx.entity_loader(&body.kind) {
        Some(loader) => loader.resolve(&ctx, &tx, tx.caller(), &body.ids).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(found))
}

/// How many entities of each collection the org holds that the caller may see
/// (`{"teams": 3, "items": 12}`).
#[utoipa::path(tag = "entities", responses(
    (status = 200, body = BTreeMap<String, u64>), (status = 401), (status = 403)))]
#[get("/counts")]
pub(crate) async fn counts(ctx: CellContext, tx: ReadEntities) -> ApiResult<HttpResponse> {
    let mut out = BTreeMap::new();
    for loader in ctx.entity_loaders() {
        let seen = loader.count(&ctx, &tx, tx.caller()).await?;
        out.insert(loader.collection(), seen);
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}
