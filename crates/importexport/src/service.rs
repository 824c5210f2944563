//! What handlers and jobs share: the entity types that can be imported, jobs as their
//! requester sees them, storage keys.

use std::sync::Arc;

use kernel::http::{AdministerOrg, Caller};
use kernel::module::EntityLoader;
use kernel::storage::ObjectKey;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::job;

pub(crate) const MODULE: &str = "importexport";

/// The loader of `entity_type` if its module declares records; 422 naming the field otherwise.
pub(crate) fn loader_with_records(
    ctx: &CellContext,
    field: &str,
    entity_type: &str,
) -> Result<Arc<dyn EntityLoader>, ApiError> {
    match ctx.entity_loader(entity_type) {
        Some(l) if l.records().is_some() => Ok(l.clone()),
        _ => {
            let known: Vec<&str> = ctx
                .entity_loaders()
                .filter(|l| l.records().is_some())
                .map(|l| l.entity_type())
                .collect();
            // Like an id that names nothing: the type is no resource of this cell.
            Err(ApiError::not_found(format!(
                "no entity type `{entity_type}` can be imported or exported here; these can: {}",
                match known.is_empty() {
                    true => "none in this cell".to_owned(),
                    false => known.join(", "),
                }
            ))
            .with_details(serde_json::json!({ "field": field })))
        }
    }
}

/// A job of `kind` the caller may see: their own, or any when they administer the org.
pub(crate) async fn job_for(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
    kind: &str,
) -> Result<job::Model, ApiError> {
    let not_found = || ApiError::not_found(format!("no such {kind} job"));
    let row = tx
        .repo::<job::Entity>()
        .get(id)
        .await?
        .filter(|j| j.kind == kind)
        .ok_or_else(not_found)?;
    if row.requested_by == caller.user_id
        || kernel::http::require::<AdministerOrg>(ctx, tx, caller, None)
            .await
            .is_ok()
    {
        return Ok(row);
    }
    Err(not_found())
}

/// Where a job keeps a file: `<org>/importexport/<job>/<name>`.
pub(crate) fn key(org: Uuid, job: Uuid, name: &str) -> Result<ObjectKey, ApiError> {
    Ok(ObjectKey::new(org, MODULE, &format!("{job}/{name}"))?)
}

/// The name of an import's uploaded file beside its job: `source.<format>`.
pub(crate) fn source_name(format: crate::table::Format) -> String {
    format!("source.{}", format.name())
}

/// A local scratch file for a job (removed by the caller).
pub(crate) async fn spool(ctx: &CellContext, name: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = ctx.config().cell.data_dir.join("spool");
    tokio::fs::create_dir_all(&dir).await?;
    Ok(dir.join(format!("{}-{name}", Uuid::now_v7())))
}

/// The caller a job acts as: the user who asked, in the job's org (permissions are decided by
/// the graph as it is when the job runs, never by a role carried along).
pub(crate) fn acting(org: Uuid, user: Uuid) -> Caller {
    Caller {
        org_id: Some(org),
        ..Caller::user(user)
    }
}
