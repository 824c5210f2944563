//! How other modules see items: the kernel's entity contract. Declaring it is all it takes for
//! items to get the services that work on any entity (collab's tags, notes, links, comments,
//! activity, search and trash: `/items/{id}/tags`, `/search?q=`, `/trash?type=template_item`,
//! `?tags=` on the list).

use chrono::{DateTime, Utc};
use kernel::analytics::{Analytics, CountBucket, Measure};
use kernel::http::{AdministerOrg, Caller, ListQuery, WorkInOrg};
use kernel::module::{
    Documents, DomainEvent, EntityLoader, EntityRef, EntitySummary, EntityTrash, Recipient,
    Recipients, SearchDocument, Trashed,
};
use kernel::records::{FieldSpec, Record, RecordError, Records};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::item;

/// The entity type other modules name items by.
pub(crate) const ENTITY: &str = "template_item";

pub(crate) struct Items;

fn summary(m: item::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: ENTITY.into(),
            id: m.id,
        },
        title: m.name,
        subtitle: Some(m.status),
        url: None,
    }
}

/// Every member of the org sees every item (the module's read rule), so no caller filter here;
/// a module whose records have their own sharing filters by `caller` in each method.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Items {
    fn entity_type(&self) -> &'static str {
        ENTITY
    }

    fn collection(&self) -> &'static str {
        "items"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let rows = repo
            .find()
            .filter(item::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<item::Entity>().count().await?)
    }

    /// Items are found by their name (ranked first) and notes.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let select = repo.find_documents(which)?;
        let rows = select.all(repo.conn()).await?;
        Ok(rows
            .into_iter()
            .map(|m| SearchDocument {
                id: m.id,
                title: m.name,
                body: m.notes.unwrap_or_default(),
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }

    fn records(&self) -> Option<&dyn Records> {
        Some(self)
    }

    fn analytics(&self) -> Option<&dyn Analytics> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for Items {
    async fn trashed(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        Ok(repo
            .trashed_page(before, limit)
            .await?
            .into_iter()
            .map(|(m, deleted_at)| Trashed {
                summary: summary(m),
                deleted_at,
            })
            .collect())
    }

    /// Whoever may delete an item (admins and owners) may restore it.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let in_trash = repo.find_trashed(None)?.filter(item::Column::Id.eq(id));
        if in_trash.one(repo.conn()).await?.is_none() {
            return Ok(None);
        }
        kernel::http::require::<AdministerOrg>(ctx, tx, caller, None).await?;
        let restored = crate::service::restore(ctx, tx, caller.user_id, id).await?;
        Ok(restored.map(summary))
    }

    /// An item has no children or files of its own: deleting its row is all.
    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        Ok(repo.purge(ids).await?)
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<item::Entity>(ctx.db(), cutoff, limit).await?)
    }
}

/// Items in and out of files (the import/export module does the files): a name (the key: an
/// item of the same name is updated), a status, notes.
#[kernel::async_trait::async_trait(?Send)]
impl Records for Items {
    fn fields(&self) -> Vec<FieldSpec> {
        vec![
            FieldSpec::text("name", "Name", crate::service::MAX_NAME).required(),
            FieldSpec::choice("status", "Status", &crate::service::STATUSES),
            FieldSpec::text("notes", "Notes", 10_000),
        ]
    }

    /// Whoever may create items (members and up) may import them.
    async fn may_import(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        kernel::http::require::<WorkInOrg>(ctx, tx, caller, None).await
    }

    async fn upsert(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        records: Vec<Record>,
    ) -> Result<Vec<Result<(), RecordError>>, ApiError> {
        let max = ctx
            .service::<crate::module::Settings>()
            .map_or(u64::MAX, |s| s.max_items);
        crate::service::upsert(ctx, tx, caller.user_id, records, max).await
    }

    async fn export(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        query: &ListQuery,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Record)>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let mut select = crate::http::item_list().filters(query, repo.find())?;
        if let Some(after) = after {
            select = select.filter(item::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(item::Column::Id)
            .limit(limit)
            .all(repo.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let mut r = Record::new();
                r.insert("name".into(), m.name.into());
                r.insert("status".into(), m.status.into());
                r.insert("notes".into(), m.notes.into());
                (m.id, r)
            })
            .collect())
    }
}

/// Items counted for dashboards: by status, per creation or update date.
#[kernel::async_trait::async_trait(?Send)]
impl Analytics for Items {
    fn dimensions(&self) -> &'static [&'static str] {
        &["status"]
    }

    fn dates(&self) -> &'static [&'static str] {
        &["created_at", "updated_at"]
    }

    async fn measure(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        query: &ListQuery,
        measure: Measure<'_>,
    ) -> Result<Vec<CountBucket>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        let select = crate::http::item_list().filters(query, repo.find())?;
        kernel::analytics::measure(repo.conn(), select, measure, |field| match field {
            "status" => Some(item::Column::Status),
            "created_at" => Some(item::Column::CreatedAt),
            "updated_at" => Some(item::Column::UpdatedAt),
            _ => None,
        })
        .await
    }
}

/// Who hears of an item's events: its creator (a real module adds assignees, watchers…).
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for Items {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let repo = tx.repo::<item::Entity>();
        // An item in the trash is still its creator's concern (`template.item.deleted`).
        let found = match repo.get(event.entity.id).await? {
            Some(m) => Some(m),
            None => {
                repo.find_trashed(None)?
                    .filter(item::Column::Id.eq(event.entity.id))
                    .one(repo.conn())
                    .await?
            }
        };
        Ok(found
            .map(|m| Recipient {
                user_id: m.created_by,
                reason: "creator",
            })
            .into_iter()
            .collect())
    }
}
