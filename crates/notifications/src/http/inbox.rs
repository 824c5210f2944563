//! `/notifications`: the caller's in-app notifications in their active org.

use actix_web::{HttpResponse, get, patch, web};
use chrono::{DateTime, Utc};
use kernel::ApiResult;
use kernel::http::{ListQuery, ListSpec, Page};
use kernel::module::EntityRef;
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use super::TAG;
use crate::entity::notification;
use crate::permissions::{ReadOwn, WriteOwn};
use crate::service;

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(unread_count)
        .service(read_all)
        .service(read);
}

/// Something that happened that concerns the caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: Uuid,
    /// The event (`task.assigned`).
    pub event: String,
    pub event_id: Uuid,
    /// What happened, in a line.
    pub title: String,
    /// Why the caller is told (`creator`, `assignee`, `watcher`…).
    pub reason: String,
    /// The entity it is about.
    pub entity: EntityRef,
    /// Who did it, if a user did.
    pub actor_id: Option<Uuid>,
    /// `unread` or `read`.
    pub status: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<notification::Model> for Notification {
    fn from(m: notification::Model) -> Self {
        Self {
            id: m.id,
            event: m.event,
            event_id: m.event_id,
            title: m.title,
            reason: m.reason,
            entity: EntityRef {
                kind: m.entity_type,
                id: m.entity_id,
            },
            actor_id: m.actor_id,
            status: m.status,
            read_at: m.read_at,
            created_at: m.created_at,
        }
    }
}

fn notification_list() -> ListSpec<notification::Entity> {
    use notification::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("event", C::Event)
        .filterable("entity_type", C::EntityType)
        .sortable("created_at", C::CreatedAt)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}
kernel::list_params!(NotificationListParams, notification_list);

/// The caller's notifications, newest first (`filter[status]=unread`).
#[utoipa::path(tag = TAG, params(NotificationListParams), responses(
    (status = 200, body = Page<Notification>), (status = 401), (status = 403), (status = 422)))]
#[get("/notifications")]
pub(crate) async fn list(tx: ReadOwn, query: ListQuery) -> ApiResult<HttpResponse> {
    let own = tx
        .repo::<notification::Entity>()
        .find()
        .filter(notification::Column::UserId.eq(tx.caller().user_id))
        .filter(notification::Column::Channel.eq(service::IN_APP));
    let page = tx
        .page(notification_list().apply(&query, own)?, &query)
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Notification::from)))
}

/// How many of the caller's notifications are unread.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadCount {
    pub count: u64,
}

/// The badge: the caller's unread notifications.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = UnreadCount), (status = 401), (status = 403)))]
#[get("/notifications/unread-count")]
pub(crate) async fn unread_count(tx: ReadOwn) -> ApiResult<HttpResponse> {
    let count = service::unread_count(&tx, tx.caller().user_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(UnreadCount { count }))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Notification), (status = 401), (status = 403), (status = 404)))]
#[patch("/notifications/{id}/read")]
pub(crate) async fn read(tx: WriteOwn, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::read(&tx, tx.caller().user_id, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Notification::from(row)))
}

/// How many notifications a read-all marked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    pub marked: u64,
}

/// Marks every unread notification of the caller read.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Marked), (status = 401), (status = 403)))]
#[patch("/notifications/read-all")]
pub(crate) async fn read_all(tx: WriteOwn) -> ApiResult<HttpResponse> {
    let marked = service::read_all(&tx, tx.caller().user_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Marked { marked }))
}
