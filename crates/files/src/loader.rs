//! How other modules see files: the kernel's entity contract, so files get tags, notes,
//! comments, links, search by name and the trash (`/files/{id}/tags`, `/trash?type=file`).

use chrono::{DateTime, Utc};
use kernel::http::Caller;
use kernel::module::{
    Documents, EntityLoader, EntityRef, EntitySummary, EntityTrash, SearchDocument, Trashed,
};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::file;
use crate::service;

/// The entity type other modules name files by.
pub(crate) const ENTITY: &str = "file";

pub(crate) struct FileLoader;

fn summary(m: file::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: ENTITY.into(),
            id: m.id,
        },
        title: m.name,
        subtitle: Some(m.content_type),
        url: None,
    }
}

/// A file is seen by whoever sees the entity it is attached to; a library file by every member.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for FileLoader {
    fn entity_type(&self) -> &'static str {
        ENTITY
    }

    fn collection(&self) -> &'static str {
        "files"
    }

    async fn resolve(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<file::Entity>();
        let rows = repo
            .find()
            .filter(file::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        let rows = service::visible(ctx, tx, caller, rows).await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    /// Library files, plus the files of each entity the caller sees (one grouped read, then one
    /// loader call per entity type).
    async fn count(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<u64, ApiError> {
        let repo = tx.repo::<file::Entity>();
        let groups: Vec<(Option<String>, Option<Uuid>, i64)> = repo
            .find()
            .select_only()
            .column(file::Column::AttachedType)
            .column(file::Column::AttachedId)
            .column_as(file::Column::Id.count(), "n")
            .group_by(file::Column::AttachedType)
            .group_by(file::Column::AttachedId)
            .into_tuple()
            .all(repo.conn())
            .await?;
        let seen = kernel::module::visible(
            ctx,
            tx,
            caller,
            groups
                .iter()
                .filter_map(|(kind, id, _)| Some((kind.as_deref()?, (*id)?))),
        )
        .await?;
        let total = groups
            .iter()
            .filter(|(kind, id, _)| match (kind, id) {
                (Some(kind), Some(id)) => seen.contains_key(&(kind.clone(), *id)),
                _ => true,
            })
            .map(|(_, _, n)| (*n).max(0) as u64)
            .sum();
        Ok(total)
    }

    /// Files are found by their name.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<file::Entity>();
        let rows = repo.find_documents(which)?.all(repo.conn()).await?;
        Ok(rows
            .into_iter()
            .map(|m| SearchDocument {
                id: m.id,
                title: m.name,
                body: String::new(),
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for FileLoader {
    async fn trashed(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let repo = tx.repo::<file::Entity>();
        let rows = repo
            .find_trashed(before)?
            .limit(limit)
            .all(repo.conn())
            .await?;
        let rows = service::visible(ctx, tx, caller, rows).await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let deleted_at = m.deleted_at?;
                Some(Trashed {
                    summary: summary(m),
                    deleted_at,
                })
            })
            .collect())
    }

    /// The uploader or an admin restores a file.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        Ok(service::restore(ctx, tx, caller, id).await?.map(summary))
    }

    /// Deletes the rows, and their objects after the transaction commits.
    async fn purge(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let repo = tx.repo::<file::Entity>();
        let gone = repo.trashed_ids(ids).await?;
        service::purge(ctx, tx, gone).await
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<file::Entity>(ctx.db(), cutoff, limit).await?)
    }
}
