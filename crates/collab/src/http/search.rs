//! `GET /search?q=` over every searchable entity of the cell, grouped by type, best first;
//! `GET /search/recent` (the caller's last 10); saved searches (`/search/saved`, run again on
//! current data). The index finds candidates (`crate::search`); each type's loader decides what
//! the caller sees, so a result is never an entity they may not see.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{Caller, State, ValidJson, trimmed};
use kernel::module::EntitySummary;
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::sea_query::ExprTrait;
use kernel::sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{recent_search, saved_search};
use crate::module::Settings;
use crate::permissions::{ReadSearch, SaveSearch};

const TAG: &str = "search";
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 50;
const MAX_QUERY: usize = 200;
/// Recent searches kept per user.
const RECENT: u64 = 10;
/// Saved searches a user may keep.
const MAX_SAVED: u64 = 100;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(search)
        .service(recent)
        .service(saved)
        .service(save)
        .service(run_saved)
        .service(forget_saved);
}

/// `GET /search`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words to find (each also as a prefix: `acm` finds `Acme`); every one must match.
    #[param(min_length = 1, max_length = 200)]
    pub q: String,
    /// Entity types, comma-separated (`team,template_item`); all when absent.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        pattern = r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,9}$",
        max_length = 640
    )]
    pub types: Option<String>,
    /// Results in all (default 10, up to 50).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u64>,
}

/// The entities of one type that matched, best first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchGroup {
    #[serde(rename = "type")]
    pub kind: String,
    pub results: Vec<EntitySummary>,
}

/// What a search found that the caller may see, grouped by type (the group of the best result
/// first).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub q: String,
    pub total: usize,
    pub groups: Vec<SearchGroup>,
}

/// The query, trimmed and bounded, and the type filter.
fn query_of(q: &str, types: Option<&str>) -> Result<(String, Option<Vec<String>>), ApiError> {
    let q = trimmed("q", q, MAX_QUERY)?;
    Ok((q, super::trash::types_param(types)?))
}

/// Runs a search for `caller` in `tx`: candidates from the index, then each type's loader keeps
/// what the caller sees, in rank order, up to `limit`.
async fn find(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    q: &str,
    types: Option<&[String]>,
    limit: u64,
) -> Result<SearchResults, ApiError> {
    let terms = crate::search::terms(q);
    // Some candidates may be hidden from the caller: ask for more than will be shown.
    let candidates = crate::search::candidates(tx, &terms, types, limit * 4).await?;
    let mut by_type: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
    for (kind, id) in &candidates {
        by_type.entry(kind.as_str()).or_default().push(*id);
    }
    let mut seen: BTreeMap<(String, Uuid), EntitySummary> = BTreeMap::new();
    for (kind, ids) in by_type {
        let Some(loader) = ctx.entity_loader(kind) else {
            continue;
        };
        for s in loader.resolve(ctx, tx, caller, &ids).await? {
            seen.insert((s.entity.kind.clone(), s.entity.id), s);
        }
    }
    let mut groups: Vec<SearchGroup> = Vec::new();
    let mut total = 0;
    for key in candidates {
        if total as u64 == limit {
            break;
        }
        let Some(summary) = seen.remove(&key) else {
            continue;
        };
        total += 1;
        match groups.iter_mut().find(|g| g.kind == key.0) {
            Some(group) => group.results.push(summary),
            None => groups.push(SearchGroup {
                kind: key.0,
                results: vec![summary],
            }),
        }
    }
    Ok(SearchResults {
        q: q.to_owned(),
        total,
        groups,
    })
}

/// Searches every module's entities the caller may see (the same answer is reused for
/// `search_cache_seconds`, 60 by default); the search is kept in the caller's recent ones.
#[utoipa::path(tag = TAG, params(SearchQuery), responses(
    (status = 200, body = SearchResults), (status = 400), (status = 401), (status = 403),
    (status = 422)))]
#[get("/search")]
pub(crate) async fn search(
    ctx: CellContext,
    settings: State<Settings>,
    tx: ReadSearch,
    q: web::Query<SearchQuery>,
) -> ApiResult<HttpResponse> {
    let (query, types) = query_of(&q.q, q.types.as_deref())?;
    let limit = super::limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let (caller, tx) = tx.into_parts();
    let cache = ctx.cache().org(tx.org_id());
    let key = format!(
        "search:{}:{limit}:{}:{query}",
        caller.user_id,
        q.types.as_deref().unwrap_or("")
    );
    let ttl = settings.search_cache_seconds;
    let cached = match ttl {
        0 => None,
        _ => cache.get::<SearchResults>(&key).await,
    };
    let results = match cached {
        Some(hit) => hit,
        None => {
            let found = find(&ctx, &tx, &caller, &query, types.as_deref(), limit).await?;
            if ttl > 0 {
                cache
                    .set(&key, &found, Some(Duration::from_secs(ttl)))
                    .await;
            }
            found
        }
    };
    let org = tx.org_id();
    tx.commit().await?;
    remember(&ctx, org, caller.user_id, &query, q.types.clone()).await?;
    Ok(HttpResponse::Ok().json(results))
}

/// Keeps `query` as the caller's most recent search (once: an earlier run of it moves up), and
/// only their last [`RECENT`]. Its own transaction: a search reads, this writes.
async fn remember(
    ctx: &CellContext,
    org: Uuid,
    user: Uuid,
    query: &str,
    types: Option<String>,
) -> Result<(), ApiError> {
    use recent_search::Column as C;
    let tx = ctx.db().tenant(org).await?;
    let repo = tx.repo::<recent_search::Entity>();
    let mine = C::UserId.eq(user);
    let same_types = match &types {
        Some(t) => C::Types.eq(t.clone()),
        None => C::Types.is_null(),
    };
    repo.delete_many(mine.clone().and(C::Query.eq(query)).and(same_types))
        .await?;
    repo.insert(recent_search::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org),
        user_id: Set(user),
        query: Set(query.to_owned()),
        types: Set(types),
        searched_at: Set(Utc::now()),
    })
    .await?;
    let keep: Vec<Uuid> = repo
        .find()
        .filter(mine.clone())
        .order_by_desc(C::Id)
        .limit(RECENT)
        .select_only()
        .column(C::Id)
        .into_tuple()
        .all(repo.conn())
        .await?;
    repo.delete_many(mine.and(C::Id.is_not_in(keep))).await?;
    tx.commit().await?;
    Ok(())
}

/// A search the caller ran.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecentSearch {
    pub q: String,
    #[serde(rename = "type")]
    pub types: Option<String>,
    pub searched_at: DateTime<Utc>,
}

/// The caller's last 10 searches, newest first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<RecentSearch>), (status = 401), (status = 403)))]
#[get("/search/recent")]
pub(crate) async fn recent(tx: ReadSearch) -> ApiResult<HttpResponse> {
    use recent_search::Column as C;
    let repo = tx.repo::<recent_search::Entity>();
    let rows = repo
        .find()
        .filter(C::UserId.eq(tx.caller().user_id))
        .order_by_desc(C::Id)
        .limit(RECENT)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    let out: Vec<RecentSearch> = rows
        .into_iter()
        .map(|r| RecentSearch {
            q: r.query,
            types: r.types,
            searched_at: r.searched_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// A search kept under a name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedSearch {
    pub id: Uuid,
    pub name: String,
    pub q: String,
    #[serde(rename = "type")]
    pub types: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<saved_search::Model> for SavedSearch {
    fn from(m: saved_search::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            q: m.query,
            types: m.types,
            created_at: m.created_at,
        }
    }
}

/// `POST /search/saved`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedSearch {
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    /// The query, as `GET /search` takes it.
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub q: String,
    /// Entity types, comma-separated; all when absent.
    #[serde(rename = "type")]
    #[schema(
        pattern = r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,9}$",
        max_length = 640
    )]
    #[garde(skip)]
    pub types: Option<String>,
}

/// The caller's saved searches, newest first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<SavedSearch>), (status = 401), (status = 403)))]
#[get("/search/saved")]
pub(crate) async fn saved(tx: ReadSearch) -> ApiResult<HttpResponse> {
    use saved_search::Column as C;
    let repo = tx.repo::<saved_search::Entity>();
    let rows = repo
        .find()
        .filter(C::UserId.eq(tx.caller().user_id))
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    let out: Vec<SavedSearch> = rows.into_iter().map(SavedSearch::from).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Keeps a search under a name (each user their own, up to 100).
#[utoipa::path(tag = TAG, request_body = NewSavedSearch, responses(
    (status = 201, body = SavedSearch), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/search/saved")]
pub(crate) async fn save(
    tx: SaveSearch,
    body: ValidJson<NewSavedSearch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let name = trimmed("name", &body.name, 100)?;
    let (q, _) = query_of(&body.q, body.types.as_deref())?;
    let user = tx.caller().user_id;
    let repo = tx.repo::<saved_search::Entity>();
    let held = repo
        .find()
        .filter(saved_search::Column::UserId.eq(user))
        .count(repo.conn())
        .await?;
    if held >= MAX_SAVED {
        return Err(ApiError::conflict(format!(
            "you keep {MAX_SAVED} saved searches, the most you may"
        )));
    }
    let row = repo
        .insert(saved_search::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            user_id: Set(user),
            name: Set(name),
            query: Set(q),
            types: Set(body.types),
            created_at: Set(Utc::now()),
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(SavedSearch::from(row)))
}

async fn own_saved(tx: &TenantTx, user: Uuid, id: Uuid) -> Result<saved_search::Model, ApiError> {
    tx.repo::<saved_search::Entity>()
        .get(id)
        .await?
        .filter(|s| s.user_id == user)
        .ok_or_else(|| ApiError::not_found("no such saved search"))
}

/// Runs a saved search again on current data (never a cached answer).
#[utoipa::path(tag = TAG, params(("id" = Uuid, Path), ("limit" = Option<u64>, Query, minimum = 1, maximum = 50)),
    responses((status = 200, body = SearchResults), (status = 400), (status = 401),
    (status = 403), (status = 404)))]
#[get("/search/saved/{id}/run")]
pub(crate) async fn run_saved(
    ctx: CellContext,
    tx: ReadSearch,
    id: web::Path<Uuid>,
    q: web::Query<RunSaved>,
) -> ApiResult<HttpResponse> {
    let limit = super::limit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let s = own_saved(&tx, tx.caller().user_id, id.into_inner()).await?;
    let types = super::trash::types_param(s.types.as_deref())?;
    let results = find(&ctx, &tx, tx.caller(), &s.query, types.as_deref(), limit).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(results))
}

/// `GET /search/saved/{id}/run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSaved {
    pub limit: Option<u64>,
}

/// Forgets a saved search.
#[utoipa::path(tag = TAG, params(("id" = Uuid, Path)), responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/search/saved/{id}")]
pub(crate) async fn forget_saved(tx: SaveSearch, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let s = own_saved(&tx, tx.caller().user_id, id.into_inner()).await?;
    tx.repo::<saved_search::Entity>().delete(s.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
