//! Notes: markdown notes on any entity (`/{collection}/{id}/notes`), pinned first, every edit
//! kept.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, ListQuery, ListSpec, Page, ValidJson};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::{self, EntityPath};
use crate::entity::{note, note_revision};
use crate::events::NoteAdded;
use crate::permissions::{ReadNotes, WriteNotes};

const TAG: &str = "notes";
const MAX_BODY: usize = 100_000;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(of_entity)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(history);
}

/// A note on an entity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    /// Markdown.
    pub body: String,
    pub pinned: bool,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the text last changed (`null`: never edited).
    pub edited_at: Option<DateTime<Utc>>,
}

impl From<note::Model> for Note {
    fn from(m: note::Model) -> Self {
        Self {
            id: m.id,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            body: m.body,
            pinned: m.pinned,
            author_id: m.author_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
            edited_at: m.edited_at,
        }
    }
}

/// How notes are listed: pinned first, then newest first; only `page` and `limit` apply.
fn note_list() -> ListSpec<note::Entity> {
    ListSpec::new()
        .default_sort(note::Column::Pinned, true)
        .default_sort(note::Column::CreatedAt, true)
        .tiebreak(note::Column::Id)
}

kernel::list_params!(NoteListParams, note_list);

/// The notes of one entity: pinned first, then newest first (paged).
#[utoipa::path(tag = TAG, params(EntityPath, NoteListParams), responses(
    (status = 200, body = Page<Note>), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[get("/{collection}/{id}/notes")]
pub(crate) async fn of_entity(
    ctx: CellContext,
    tx: ReadNotes,
    path: web::Path<EntityPath>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let entity = entities::in_collection(&ctx, &tx, &path.collection, path.id).await?;
    let select = tx
        .repo::<note::Entity>()
        .find()
        .filter(note::Column::EntityType.eq(entity.entity.kind))
        .filter(note::Column::EntityId.eq(entity.entity.id));
    let page = tx.page(note_list().apply(&query, select)?, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Note::from)))
}

/// `POST /{collection}/{id}/notes`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Markdown, up to 100 000 characters.
    #[schema(min_length = 1, max_length = 100000, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = MAX_BODY))]
    pub body: String,
    #[serde(default)]
    #[garde(skip)]
    pub pinned: bool,
}

/// 422 for a blank body (kept as written otherwise: leading spaces mean something in markdown).
fn check_body(raw: &str) -> Result<(), ApiError> {
    kernel::http::trimmed("body", raw, MAX_BODY).map(|_| ())
}

/// Adds a note to an entity (members and up).
#[utoipa::path(tag = TAG, params(EntityPath), request_body = NewNote, responses(
    (status = 201, body = Note), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[post("/{collection}/{id}/notes")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteNotes,
    path: web::Path<EntityPath>,
    body: ValidJson<NewNote>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let entity = entities::in_collection(&ctx, &tx, &path.collection, path.id).await?;
    check_body(&body.body)?;
    let now = Utc::now();
    let author = tx.caller().user_id;
    let row = tx
        .repo::<note::Entity>()
        .insert(note::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            entity_type: Set(entity.entity.kind.clone()),
            entity_id: Set(entity.entity.id),
            body: Set(body.body),
            pinned: Set(body.pinned),
            author_id: Set(author),
            created_at: Set(now),
            updated_at: Set(now),
            edited_at: Set(None),
        })
        .await?;
    let event = NoteAdded {
        note_id: row.id,
        entity_type: row.entity_type.clone(),
        entity_id: row.entity_id,
        author_id: author,
    };
    super::publish(&ctx, &tx, &event).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Note::from(row)))
}

/// A note whose entity the caller may see; 404 otherwise (the note is as unseen as its entity).
async fn visible<P: kernel::http::Permission, M: kernel::http::Mode>(
    ctx: &CellContext,
    tx: &kernel::http::Scoped<P, M>,
    id: Uuid,
) -> Result<note::Model, ApiError> {
    let missing = || ApiError::not_found("no such note");
    let row = tx
        .repo::<note::Entity>()
        .get(id)
        .await?
        .ok_or_else(missing)?;
    match entities::sees(ctx, tx, tx.caller(), &row.entity_type, row.entity_id).await? {
        true => Ok(row),
        false => Err(missing()),
    }
}

/// One note.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Note), (status = 401), (status = 403), (status = 404)))]
#[get("/notes/{id}")]
pub(crate) async fn read(
    ctx: CellContext,
    tx: ReadNotes,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = visible(&ctx, &tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Note::from(row)))
}

/// 403 unless the caller wrote the note or administers the org.
async fn may_change(ctx: &CellContext, tx: &WriteNotes, row: &note::Model) -> Result<(), ApiError> {
    if row.author_id == tx.caller().user_id || tx.holds::<AdministerOrg>(ctx, None).await? {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "only the note's author or an admin may change it",
    ))
}

/// `PATCH /notes/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotePatch {
    #[schema(min_length = 1, max_length = 100000, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = MAX_BODY)))]
    pub body: Option<String>,
    #[garde(skip)]
    pub pinned: Option<bool>,
}

/// Changes a note's text or pin (its author or an admin); the text it replaces is kept in its
/// history and `edited_at` is set.
#[utoipa::path(tag = TAG, request_body = NotePatch, responses(
    (status = 200, body = Note), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/notes/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteNotes,
    id: web::Path<Uuid>,
    body: ValidJson<NotePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let row = visible(&ctx, &tx, id.into_inner()).await?;
    may_change(&ctx, &tx, &row).await?;
    let now = Utc::now();
    let mut m: note::ActiveModel = row.clone().into();
    if let Some(text) = body.body {
        check_body(&text)?;
        if text != row.body {
            tx.repo::<note_revision::Entity>()
                .insert(note_revision::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    org_id: Set(tx.org_id()),
                    note_id: Set(row.id),
                    body: Set(row.body.clone()),
                    edited_by: Set(tx.caller().user_id),
                    edited_at: Set(now),
                })
                .await?;
            m.body = Set(text);
            m.edited_at = Set(Some(now));
        }
    }
    if let Some(pinned) = body.pinned {
        m.pinned = Set(pinned);
    }
    m.updated_at = Set(now);
    let row = tx.repo::<note::Entity>().update(m).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Note::from(row)))
}

/// Deletes a note with its history (its author or an admin).
#[utoipa::path(tag = TAG, responses(
    (status = 204, description = "deleted"), (status = 401), (status = 403), (status = 404)))]
#[delete("/notes/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteNotes,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = visible(&ctx, &tx, id.into_inner()).await?;
    may_change(&ctx, &tx, &row).await?;
    // Its history goes with it (a cascading foreign key).
    tx.repo::<note::Entity>().delete(row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A note's text before one of its edits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteRevision {
    pub body: String,
    /// Who replaced this text, and when.
    pub edited_by: Uuid,
    pub edited_at: DateTime<Utc>,
}

/// A note's earlier texts, newest first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<NoteRevision>), (status = 401), (status = 403), (status = 404)))]
#[get("/notes/{id}/history")]
pub(crate) async fn history(
    ctx: CellContext,
    tx: ReadNotes,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = visible(&ctx, &tx, id.into_inner()).await?;
    let revisions = revisions(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(revisions))
}

async fn revisions(tx: &TenantTx, note: Uuid) -> Result<Vec<NoteRevision>, ApiError> {
    let repo = tx.repo::<note_revision::Entity>();
    Ok(repo
        .find()
        .filter(note_revision::Column::NoteId.eq(note))
        .order_by_desc(note_revision::Column::EditedAt)
        .order_by_desc(note_revision::Column::Id)
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|r| NoteRevision {
            body: r.body,
            edited_by: r.edited_by,
            edited_at: r.edited_at,
        })
        .collect())
}
