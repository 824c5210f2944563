//! `<prefix>/items`: list, create, read, change, delete. Each handler names who may call it
//! (its `Scoped` argument, see `crate::permissions`), validates its input (`ValidJson`, garde
//! with the same limits in the schema), calls the service, commits, and answers a DTO.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::item;
use crate::module::Settings;
use crate::permissions::{DeleteItems, ReadItems, WriteItems};
use crate::service;

const TAG: &str = "template";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove);
}

/// An item, as the API shows it (never the entity itself).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub id: Uuid,
    pub name: String,
    /// `open` or `done`.
    pub status: String,
    pub notes: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<item::Model> for Item {
    fn from(m: item::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            status: m.status,
            notes: m.notes,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What `list` exposes: its filters, search and order (one spec for the handler and its
/// OpenAPI parameters).
pub(crate) fn item_list() -> ListSpec<item::Entity> {
    use item::Column as C;
    ListSpec::new()
        .field("name", C::Name)
        .field("status", C::Status)
        .sortable("created_at", C::CreatedAt)
        .search([C::Name])
        .tagged(crate::loader::ENTITY, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(ItemListParams, item_list);

/// The org's items, newest first (`filter[status]=open`, `search`, `sort`, paged).
#[utoipa::path(tag = TAG, params(ItemListParams), responses(
    (status = 200, body = Page<Item>), (status = 401), (status = 403), (status = 422)))]
#[get("/items")]
pub(crate) async fn list(tx: ReadItems, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = item_list().apply(&query, tx.repo::<item::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Item::from)))
}

/// `POST /items`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// Unique in the org; kept trimmed.
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(max_length = 10000)]
    #[garde(inner(length(chars, max = 10000)))]
    pub notes: Option<String>,
}

/// Creates an open item (409 when the name is taken in the org).
#[utoipa::path(tag = TAG, request_body = NewItem, responses(
    (status = 201, body = Item), (status = 401), (status = 403), (status = 409), (status = 422)))]
#[post("/items")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteItems,
    body: ValidJson<NewItem>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let new = service::NewItem {
        name: trimmed("name", &body.name, service::MAX_NAME)?,
        notes: body.notes,
    };
    let by = tx.caller().user_id;
    let row = service::create(&ctx, &tx, by, new, settings.max_items).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Item::from(row)))
}

/// One item.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Item), (status = 401), (status = 403), (status = 404)))]
#[get("/items/{id}")]
pub(crate) async fn read(tx: ReadItems, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Item::from(row)))
}

/// `PATCH /items/{id}`: absent fields stay; `notes: null` clears the notes.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    /// `open` or `done`.
    #[schema(pattern = "^(open|done)$")]
    #[garde(skip)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    #[garde(inner(inner(length(chars, max = 10000))))]
    pub notes: Option<Option<String>>,
}

/// Renames an item, marks it open or done, or changes its notes.
#[utoipa::path(tag = TAG, request_body = ItemPatch, responses(
    (status = 200, body = Item), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/items/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteItems,
    id: web::Path<Uuid>,
    body: ValidJson<ItemPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    if let Some(s) = &body.status {
        service::status("status", s)?;
    }
    let change = service::Change {
        name: body
            .name
            .map(|n| trimmed("name", &n, service::MAX_NAME))
            .transpose()?,
        status: body.status,
        notes: body.notes,
    };
    let by = tx.caller().user_id;
    let row = service::update(&ctx, &tx, by, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Item::from(row)))
}

/// Moves an item to the trash (admins and owners); `/trash` restores it within 30 days.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/items/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: DeleteItems,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    service::delete(&ctx, &tx, by, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
