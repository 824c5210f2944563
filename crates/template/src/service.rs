//! The domain rules, on a transaction of the org: handlers call them, and so could a job or a
//! command. Nothing here knows about HTTP beyond answering `ApiError`.

use chrono::Utc;
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::{ActiveValue::Set, PaginatorTrait};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::item;
use crate::events::{ItemCompleted, ItemCreated, ItemDeleted, ItemRestored};

pub(crate) const STATUSES: [&str; 2] = ["open", "done"];
pub(crate) const MAX_NAME: usize = 200;

pub(crate) struct NewItem {
    pub name: String,
    pub notes: Option<String>,
}

/// What may change; `notes: Some(None)` clears the notes.
pub(crate) struct Change {
    pub name: Option<String>,
    pub status: Option<String>,
    pub notes: Option<Option<String>>,
}

fn not_found() -> ApiError {
    ApiError::not_found("no such item in this organization")
}

/// Publishes `event` in `tx`, acted by `user` (delivered once the transaction commits).
async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    user: Uuid,
    event: &E,
) -> Result<(), ApiError> {
    let actor = EntityRef::user(user);
    ctx.events().emit(tx, Some(actor), event).await?;
    Ok(())
}

/// 422 unless `status` is one of [`STATUSES`].
pub(crate) fn status(field: &str, status: &str) -> Result<(), ApiError> {
    match STATUSES.contains(&status) {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            format!("must be one of {}", STATUSES.join(", ")),
        )),
    }
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<item::Model, ApiError> {
    tx.repo::<item::Entity>()
        .get(id)
        .await?
        .ok_or_else(not_found)
}

/// Creates an open item; 409 when the name is taken or the org holds `max` items already.
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    new: NewItem,
    max: u64,
) -> Result<item::Model, ApiError> {
    let repo = tx.repo::<item::Entity>();
    if repo.find().count(repo.conn()).await? >= max {
        return Err(ApiError::conflict(format!(
            "this organization holds {max} items, the most it may"
        )));
    }
    let now = Utc::now();
    let row = repo
        .insert(item::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(new.name),
            status: Set("open".into()),
            notes: Set(new.notes),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .await
        .map_err(name_taken)?;
    let created = ItemCreated {
        item_id: row.id,
        name: row.name.clone(),
    };
    publish(ctx, tx, by, &created).await?;
    Ok(row)
}

/// Applies `change`; moving an item to `done` publishes `template.item.completed`.
pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
    change: Change,
) -> Result<item::Model, ApiError> {
    let row = get(tx, id).await?;
    let completed = row.status != "done" && change.status.as_deref() == Some("done");
    let mut m: item::ActiveModel = row.into();
    if let Some(name) = change.name {
        m.name = Set(name);
    }
    if let Some(status) = change.status {
        m.status = Set(status);
    }
    if let Some(notes) = change.notes {
        m.notes = Set(notes);
    }
    m.updated_at = Set(Utc::now());
    let row = tx
        .repo::<item::Entity>()
        .update(m)
        .await
        .map_err(name_taken)?;
    if completed {
        publish(ctx, tx, by, &ItemCompleted { item_id: id }).await?;
    }
    Ok(row)
}

/// Moves an item to the trash (collab's `/trash` lists, restores and purges it).
pub(crate) async fn delete(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    if !tx.repo::<item::Entity>().trash(id).await? {
        return Err(not_found());
    }
    publish(ctx, tx, by, &ItemDeleted { item_id: id }).await
}

/// Takes an item out of the trash: `None` when it is not there. Its name may have been taken
/// meanwhile (409).
pub(crate) async fn restore(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<Option<item::Model>, ApiError> {
    let repo = tx.repo::<item::Entity>();
    if !repo.restore(id).await.map_err(name_taken)? {
        return Ok(None);
    }
    publish(ctx, tx, by, &ItemRestored { item_id: id }).await?;
    Ok(repo.get(id).await?)
}

/// A unique violation here can only be the name: say so, on the field.
fn name_taken(e: kernel::sea_orm::DbErr) -> ApiError {
    match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("an item with this name already exists")
                .with_details(serde_json::json!({ "field": "name" }))
        }
        _ => e.into(),
    }
}
