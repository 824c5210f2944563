//! Background work: deleting objects once their rows are gone, sweeping uploads never
//! confirmed, and deleting the files of an entity deleted for good.

use std::collections::BTreeMap;

use chrono::Utc;
use kernel::CellContext;
use kernel::module::{DomainEvent, EventHandler, JobHandler};
use kernel::sea_orm::{ColumnTrait, ExprTrait};
use uuid::Uuid;

use crate::entity::file;
use crate::service;

/// `files.delete_objects {"ids": [...]}`: the objects of files whose rows were deleted.
pub(crate) const DELETE_OBJECTS: &str = "delete_objects";
/// Rows per sweep transaction.
const BATCH: u64 = 500;

fn api(e: kernel::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

pub(crate) struct DeleteObjects;

#[kernel::async_trait::async_trait]
impl JobHandler for DeleteObjects {
    /// Deleting an object that is already gone is not an error, so a rerun is harmless.
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let org = job
            .org_id
            .ok_or_else(|| anyhow::anyhow!("files.delete_objects needs an org"))?;
        let ids: Vec<Uuid> = serde_json::from_value(job.payload["ids"].clone())?;
        let storage = ctx.storage().clone();
        // The storage backends' futures are not `Send`.
        kernel::module::run_unsend(move || async move {
            for id in ids {
                storage.delete(&service::key(org, id).map_err(api)?).await?;
            }
            Ok(())
        })
        .await
    }
}

/// Deletes uploads never confirmed within `after_hours`, with whatever was stored for them.
pub(crate) struct SweepAbandoned {
    pub after_hours: u32,
}

#[kernel::async_trait::async_trait]
impl JobHandler for SweepAbandoned {
    async fn run(&self, ctx: &CellContext, _job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let cutoff = Utc::now() - chrono::Duration::hours(i64::from(self.after_hours));
        let mut swept = 0usize;
        loop {
            let stale = kernel::db::across_orgs::<file::Entity>(
                ctx.db(),
                file::Column::Status
                    .eq(service::PENDING)
                    .and(file::Column::CreatedAt.lt(cutoff)),
                file::Column::CreatedAt,
                BATCH,
            )
            .await?;
            if stale.is_empty() {
                break;
            }
            let mut by_org: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
            for (org, id) in stale {
                by_org.entry(org).or_default().push(id);
            }
            for (org, ids) in by_org {
                let tx = ctx.db().tenant(org).await?;
                swept += service::purge(ctx, &tx, ids).await.map_err(api)?.len();
                tx.commit().await?;
            }
        }
        if swept > 0 {
            tracing::info!(swept, "abandoned uploads deleted");
        }
        Ok(())
    }
}

/// On `entity.purged` (collab's purge of any entity), the files attached to it go too.
pub(crate) struct OwnerPurged;

#[kernel::async_trait::async_trait]
impl EventHandler for OwnerPurged {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        if event.entity.kind == crate::loader::ENTITY {
            return Ok(());
        }
        let tx = ctx.db().tenant(event.org_id).await?;
        let ids = service::attached_to(&tx, &event.entity.kind, event.entity.id)
            .await
            .map_err(api)?;
        service::purge(ctx, &tx, ids).await.map_err(api)?;
        tx.commit().await?;
        Ok(())
    }
}
