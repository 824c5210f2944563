//! Comments on any entity (`/{collection}/{id}/comments`): threaded replies, markdown rendered
//! to sanitized HTML on read, mentions that reach only users who may see the entity, edits that
//! keep the text they replace, deletes that leave "[deleted]" in the thread.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, Caller, ValidJson};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::{self, EntityPath};
use crate::entity::{comment, comment_revision};
use crate::events::{CommentAdded, UserMentioned};
use crate::markdown;
use crate::permissions::{ReadComments, WriteComments};

const TAG: &str = "comments";
const MAX_BODY: usize = 20_000;
/// The most comments one thread answers.
const MAX_THREAD: u64 = 2000;
/// The most users one comment mentions (each one checked).
const MAX_MENTIONS: usize = 50;
const DELETED: &str = "[deleted]";

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(thread)
        .service(create)
        .service(update)
        .service(remove)
        .service(history);
}

/// A comment with its replies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(no_recursion)]
pub struct Comment {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Uuid,
    /// The markdown as written (`[deleted]` once deleted).
    pub body: String,
    /// The body rendered and sanitized.
    pub html: String,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    /// When the text last changed (`null`: never edited).
    pub edited_at: Option<DateTime<Utc>>,
    pub replies: Vec<Comment>,
}

impl From<comment::Model> for Comment {
    fn from(m: comment::Model) -> Self {
        let deleted = m.deleted_at.is_some();
        let body = if deleted { DELETED.to_owned() } else { m.body };
        Self {
            html: markdown::html(&body),
            id: m.id,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            parent_id: m.parent_id,
            author_id: m.author_id,
            body,
            deleted,
            created_at: m.created_at,
            edited_at: m.edited_at,
            replies: Vec::new(),
        }
    }
}

/// Nests `rows` (oldest first) under their parents.
fn threaded(rows: Vec<comment::Model>) -> Vec<Comment> {
    let mut children: BTreeMap<Option<Uuid>, Vec<Comment>> = BTreeMap::new();
    for row in rows {
        children
            .entry(row.parent_id)
            .or_default()
            .push(Comment::from(row));
    }
    fn attach(c: &mut Comment, children: &mut BTreeMap<Option<Uuid>, Vec<Comment>>) {
        if let Some(mut replies) = children.remove(&Some(c.id)) {
            for r in &mut replies {
                attach(r, children);
            }
            c.replies = replies;
        }
    }
    let mut top = children.remove(&None).unwrap_or_default();
    for c in &mut top {
        attach(c, &mut children);
    }
    top
}

/// An entity's comments as a thread, oldest first, replies under their parents.
#[utoipa::path(tag = TAG, params(EntityPath), responses(
    (status = 200, body = Vec<Comment>), (status = 401), (status = 403), (status = 404)))]
#[get("/{collection}/{id}/comments")]
pub(crate) async fn thread(
    ctx: CellContext,
    tx: ReadComments,
    path: web::Path<EntityPath>,
) -> ApiResult<HttpResponse> {
    let entity = entities::in_collection(&ctx, &tx, &path.collection, path.id).await?;
    let repo = tx.repo::<comment::Entity>();
    let rows = repo
        .find()
        .filter(comment::Column::EntityType.eq(entity.entity.kind))
        .filter(comment::Column::EntityId.eq(entity.entity.id))
        .order_by_asc(comment::Column::CreatedAt)
        .order_by_asc(comment::Column::Id)
        .limit(MAX_THREAD)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(threaded(rows)))
}

/// `POST /{collection}/{id}/comments`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Markdown; mention a user as `@[Ann](user:<id>)`.
    #[schema(min_length = 1, max_length = 20000, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = MAX_BODY))]
    pub body: String,
    /// The comment this replies to (on the same entity).
    #[garde(skip)]
    pub parent_id: Option<Uuid>,
}

fn check_body(raw: &str) -> Result<(), ApiError> {
    kernel::http::trimmed("body", raw, MAX_BODY)?;
    if markdown::mentioned(raw).len() > MAX_MENTIONS {
        return Err(ApiError::validation(
            "body",
            format!("mentions more than {MAX_MENTIONS} users"),
        ));
    }
    Ok(())
}

/// Publishes `user.mentioned` for each user the text mentions who belongs to the org and may
/// see the entity; anyone else is not told.
async fn notify_mentions(
    ctx: &CellContext,
    tx: &WriteComments,
    row: &comment::Model,
    previous: Option<&str>,
) -> Result<(), ApiError> {
    let before = previous.map(markdown::mentioned).unwrap_or_default();
    let authorizer = ctx.authorizer().cloned();
    let org = tx.org_id().to_string();
    for user in markdown::mentioned(&row.body) {
        if before.contains(&user) || user == row.author_id {
            continue;
        }
        let member = match &authorizer {
            Some(a) => {
                let asker = kernel::http::Asker::user(user);
                a.check(ctx, tx, &asker, "org", &org, "viewer_access")
                    .await?
            }
            None => false,
        };
        if !member {
            continue;
        }
        let them = Caller {
            org_id: Some(tx.org_id()),
            ..Caller::user(user)
        };
        if entities::sees(ctx, tx, &them, &row.entity_type, row.entity_id).await? {
            let event = UserMentioned {
                user_id: user,
                comment_id: row.id,
                entity_type: row.entity_type.clone(),
                entity_id: row.entity_id,
                by: tx.caller().user_id,
            };
            super::publish(ctx, tx, &event).await?;
        }
    }
    Ok(())
}

/// Comments on an entity (members and up), or replies to a comment of it.
#[utoipa::path(tag = TAG, params(EntityPath), request_body = NewComment, responses(
    (status = 201, body = Comment), (status = 401), (status = 403), (status = 404),
    (status = 422)))]
#[post("/{collection}/{id}/comments")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteComments,
    path: web::Path<EntityPath>,
    body: ValidJson<NewComment>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let entity = entities::in_collection(&ctx, &tx, &path.collection, path.id).await?;
    check_body(&body.body)?;
    let (kind, id) = (entity.entity.kind, entity.entity.id);
    if let Some(parent) = body.parent_id {
        let on_entity = tx
            .repo::<comment::Entity>()
            .get(parent)
            .await?
            .filter(|p| p.entity_type == kind && p.entity_id == id && p.deleted_at.is_none());
        if on_entity.is_none() {
            return Err(ApiError::validation(
                "parent_id",
                "no such comment on this entity",
            ));
        }
    }
    let author = tx.caller().user_id;
    let row = tx
        .repo::<comment::Entity>()
        .insert(comment::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            entity_type: Set(kind),
            entity_id: Set(id),
            parent_id: Set(body.parent_id),
            author_id: Set(author),
            body: Set(body.body),
            created_at: Set(Utc::now()),
            edited_at: Set(None),
            deleted_at: Set(None),
        })
        .await?;
    let event = CommentAdded {
        comment_id: row.id,
        entity_type: row.entity_type.clone(),
        entity_id: row.entity_id,
        parent_id: row.parent_id,
        author_id: author,
    };
    super::publish(&ctx, &tx, &event).await?;
    notify_mentions(&ctx, &tx, &row, None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Comment::from(row)))
}

/// A comment whose entity the caller may see; 404 otherwise.
async fn visible(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
) -> Result<comment::Model, ApiError> {
    let missing = || ApiError::not_found("no such comment");
    let row = tx
        .repo::<comment::Entity>()
        .get(id)
        .await?
        .ok_or_else(missing)?;
    match entities::sees(ctx, tx, caller, &row.entity_type, row.entity_id).await? {
        true => Ok(row),
        false => Err(missing()),
    }
}

/// `PATCH /comments/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentPatch {
    #[schema(min_length = 1, max_length = 20000, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = MAX_BODY))]
    pub body: String,
}

/// Edits a comment (its author only): `edited_at` is set and the replaced text kept; users
/// newly mentioned are told.
#[utoipa::path(tag = TAG, request_body = CommentPatch, responses(
    (status = 200, body = Comment), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/comments/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteComments,
    id: web::Path<Uuid>,
    body: ValidJson<CommentPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let row = visible(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    if row.author_id != tx.caller().user_id {
        return Err(ApiError::forbidden("only its author edits a comment"));
    }
    if row.deleted_at.is_some() {
        return Err(ApiError::conflict("a deleted comment cannot be edited"));
    }
    check_body(&body.body)?;
    if body.body == row.body {
        tx.commit().await?;
        return Ok(HttpResponse::Ok().json(Comment::from(row)));
    }
    let now = Utc::now();
    tx.repo::<comment_revision::Entity>()
        .insert(comment_revision::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            comment_id: Set(row.id),
            body: Set(row.body.clone()),
            edited_at: Set(now),
        })
        .await?;
    let previous = row.body.clone();
    let mut m: comment::ActiveModel = row.into();
    m.body = Set(body.body);
    m.edited_at = Set(Some(now));
    let row = tx.repo::<comment::Entity>().update(m).await?;
    notify_mentions(&ctx, &tx, &row, Some(&previous)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Comment::from(row)))
}

/// Deletes a comment (its author or an admin): it stays in the thread as "[deleted]", with its
/// replies.
#[utoipa::path(tag = TAG, responses(
    (status = 204, description = "deleted"), (status = 401), (status = 403), (status = 404)))]
#[delete("/comments/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteComments,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = visible(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    if row.author_id != tx.caller().user_id && !tx.holds::<AdministerOrg>(&ctx, None).await? {
        return Err(ApiError::forbidden(
            "only its author or an admin deletes a comment",
        ));
    }
    if row.deleted_at.is_none() {
        let mut m: comment::ActiveModel = row.into();
        m.deleted_at = Set(Some(Utc::now()));
        tx.repo::<comment::Entity>().update(m).await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A comment's text before one of its edits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommentRevision {
    pub body: String,
    pub edited_at: DateTime<Utc>,
}

/// A comment's earlier texts, newest first (none for a deleted comment).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<CommentRevision>), (status = 401), (status = 403),
    (status = 404)))]
#[get("/comments/{id}/history")]
pub(crate) async fn history(
    ctx: CellContext,
    tx: ReadComments,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = visible(&ctx, &tx, tx.caller(), id.into_inner()).await?;
    let revisions = match row.deleted_at {
        Some(_) => Vec::new(),
        None => {
            let repo = tx.repo::<comment_revision::Entity>();
            repo.find()
                .filter(comment_revision::Column::CommentId.eq(row.id))
                .order_by_desc(comment_revision::Column::EditedAt)
                .order_by_desc(comment_revision::Column::Id)
                .all(repo.conn())
                .await?
                .into_iter()
                .map(|r| CommentRevision {
                    body: r.body,
                    edited_at: r.edited_at,
                })
                .collect()
        }
    };
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(revisions))
}
