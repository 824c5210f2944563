//! The domain rules, on a transaction of the org: handlers call them, and so could a job or a
//! command. Nothing here knows about HTTP beyond answering `ApiError`.

use chrono::Utc;
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::{ActiveValue::Set, PaginatorTrait};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{item, item_count};
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

/// The org's live items, for the `max_items` check. Takes the org's item lock first, so
/// concurrent creations wait and the limit holds; the first call for an org counts its items
/// and keeps the number, later ones read one row. Creations add to it with [`adjust_count`].
async fn live_items(tx: &TenantTx) -> Result<u64, ApiError> {
    tx.serialize("template.items").await?;
    let counts = tx.repo::<item_count::Entity>();
    if let Some(row) = counts.find().one(counts.conn()).await? {
        return Ok(u64::try_from(row.items).unwrap_or(0));
    }
    let items = tx.repo::<item::Entity>();
    let n = items.find().count(items.conn()).await?;
    counts
        .insert(item_count::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            items: Set(i64::try_from(n).unwrap_or(i64::MAX)),
        })
        .await?;
    Ok(n)
}

/// Adds `by` (negative: removes) to the org's count of live items, when it has been counted.
async fn adjust_count(tx: &TenantTx, by: i64) -> Result<(), ApiError> {
    use kernel::sea_orm::ColumnTrait;
    use kernel::sea_orm::sea_query::{Expr, ExprTrait};
    if by != 0 {
        let c = item_count::Column::Items;
        tx.repo::<item_count::Entity>()
            .update_many(
                vec![(c, Expr::col(c).add(by))],
                item_count::Column::OrgId.eq(tx.org_id()),
            )
            .await?;
    }
    Ok(())
}

fn too_many(max: u64) -> String {
    format!("this organization holds {max} items, the most it may")
}

/// Creates an open item; 409 when the name is taken or the org holds `max` items already.
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    new: NewItem,
    max: u64,
) -> Result<item::Model, ApiError> {
    if live_items(tx).await? >= max {
        return Err(ApiError::conflict(too_many(max)));
    }
    let repo = tx.repo::<item::Entity>();
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
    adjust_count(tx, 1).await?;
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
    adjust_count(tx, -1).await?;
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
    adjust_count(tx, 1).await?;
    publish(ctx, tx, by, &ItemRestored { item_id: id }).await?;
    Ok(repo.get(id).await?)
}

/// Imports `records` (parsed by the kernel against the loader's fields): an item whose name
/// exists is updated, any other created, as the API would (`template.item.created` and
/// `template.item.completed` published). One outcome per record, in order; the org's `max`
/// items hold here too.
pub(crate) async fn upsert(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    records: Vec<kernel::records::Record>,
    max: u64,
) -> Result<Vec<Result<(), kernel::records::RecordError>>, ApiError> {
    use kernel::records::RecordError;
    use kernel::sea_orm::{ColumnTrait, QueryFilter};
    let text =
        |r: &kernel::records::Record, f: &str| r.get(f).and_then(|v| v.as_str()).map(str::to_owned);
    // The lock first: a concurrent batch waits, then finds this one's names.
    let mut count = live_items(tx).await?;
    let names: Vec<String> = records.iter().filter_map(|r| text(r, "name")).collect();
    let repo = tx.repo::<item::Entity>();
    let mut existing: std::collections::HashMap<String, item::Model> = repo
        .find()
        .filter(item::Column::Name.is_in(names))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let now = Utc::now();
    let mut created: Vec<String> = Vec::new();
    let mut fresh: std::collections::HashSet<String> = Default::default();
    let mut created_events: Vec<ItemCreated> = Vec::new();
    let mut completed_events: Vec<ItemCompleted> = Vec::new();
    let mut outcomes = Vec::with_capacity(records.len());
    for r in records {
        let Some(name) = text(&r, "name") else {
            outcomes.push(Err(RecordError::field("name", "is required")));
            continue;
        };
        let status = text(&r, "status");
        let notes = text(&r, "notes");
        if let Some(mut row) = existing.get(&name).cloned() {
            let completed = row.status != "done" && status.as_deref() == Some("done");
            if let Some(s) = status {
                row.status = s;
            }
            row.notes = notes;
            row.updated_at = now;
            // A name met twice in the batch: the first is not stored yet, the last wins.
            if !fresh.contains(&name) {
                let mut m: item::ActiveModel = existing[&name].clone().into();
                m.status = Set(row.status.clone());
                m.notes = Set(row.notes.clone());
                m.updated_at = Set(now);
                row = repo.update(m).await?;
            }
            if completed {
                completed_events.push(ItemCompleted { item_id: row.id });
            }
            existing.insert(name, row);
        } else if count >= max {
            outcomes.push(Err(RecordError {
                field: None,
                message: too_many(max),
            }));
            continue;
        } else {
            let row = item::Model {
                id: Uuid::now_v7(),
                org_id: tx.org_id(),
                name: name.clone(),
                status: status.unwrap_or_else(|| "open".into()),
                notes,
                created_by: by,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            };
            created_events.push(ItemCreated {
                item_id: row.id,
                name: name.clone(),
            });
            count += 1;
            created.push(name.clone());
            fresh.insert(name.clone());
            existing.insert(name, row);
        }
        outcomes.push(Ok(()));
    }
    // New items in one statement (the import's speed); an update of one created in this same
    // batch changed `existing` only, so what is inserted is its final state.
    let finals: Vec<item::ActiveModel> = created
        .iter()
        .filter_map(|name| existing.get(name))
        .map(|m| m.clone().into())
        .collect();
    repo.insert_many(finals).await?;
    adjust_count(tx, i64::try_from(created.len()).unwrap_or(i64::MAX)).await?;
    // The batch's events in two statements, not one per row.
    let actor = Some(EntityRef::user(by));
    ctx.events()
        .emit_all(tx, actor.clone(), &created_events)
        .await?;
    ctx.events().emit_all(tx, actor, &completed_events).await?;
    Ok(outcomes)
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
