//! Entities of other modules, as their loaders show them to the caller: an entity the caller may
//! not see is, to them, one that does not exist.

use std::collections::BTreeMap;

use kernel::http::{Caller, Mode, Permission, Scoped};
use kernel::module::EntitySummary;
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An entity of any module, as requests name it.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    garde::Validate,
    utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct EntityKey {
    /// The entity type (`team`, `task`).
    #[serde(rename = "type")]
    #[schema(max_length = 64, pattern = r"^[a-z][a-z0-9_]*$")]
    #[garde(custom(kind_rule))]
    pub kind: String,
    #[garde(skip)]
    pub id: Uuid,
}

/// Whether `kind` is written as an entity type is (`team`, `template_item`): what the schema's
/// pattern says, so a request the document calls invalid is refused.
pub(crate) fn valid_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    kind.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// [`valid_kind`] as a garde rule.
pub(crate) fn kind_rule(kind: &str, _: &()) -> garde::Result {
    match valid_kind(kind) {
        true => Ok(()),
        false => Err(garde::Error::new(
            "an entity type is lowercase letters, digits and `_`, from a letter, up to 64",
        )),
    }
}

/// `/{collection}/{id}/…`: an entity as a route names it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EntityPath {
    /// The entity's collection (`teams`), as its module declares it.
    pub collection: String,
    pub id: Uuid,
}

fn no_such(what: &str) -> ApiError {
    ApiError::not_found(format!("no such {what}"))
}

/// The entity `collection/id` names (`teams/…`), if the caller may see it; 404 otherwise.
pub(crate) async fn in_collection<P: Permission, M: Mode>(
    ctx: &CellContext,
    tx: &Scoped<P, M>,
    collection: &str,
    id: Uuid,
) -> Result<EntitySummary, ApiError> {
    let loader = ctx
        .entity_collection(collection)
        .ok_or_else(|| no_such(&format!("collection `{collection}`")))?;
    let found = loader.resolve(ctx, tx, tx.caller(), &[id]).await?;
    found
        .into_iter()
        .find(|s| s.entity.id == id)
        .ok_or_else(|| no_such(loader.entity_type()))
}

pub(crate) use kernel::module::sees;

/// The summaries of those of `keys` the caller may see, by (type, id). Unknown types are seen by
/// no one.
pub(crate) async fn visible(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    keys: &[EntityKey],
) -> Result<BTreeMap<(String, Uuid), EntitySummary>, ApiError> {
    kernel::module::visible(
        ctx,
        tx,
        caller,
        keys.iter().map(|k| (k.kind.as_str(), k.id)),
    )
    .await
}

/// 403 unless the caller may link `key` (an entity they see), as its module decides.
pub(crate) async fn may_link(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    key: &EntityKey,
) -> Result<(), ApiError> {
    let allowed = match ctx.entity_loader(&key.kind) {
        Some(loader) => loader.may_link(ctx, tx, caller, key.id).await?,
        None => false,
    };
    match allowed {
        true => Ok(()),
        false => Err(
            ApiError::forbidden(format!("you may not link this {}", key.kind))
                .with_details(serde_json::json!({ "entity": key })),
        ),
    }
}

/// Every entity of `keys`, if the caller may see them all; 404 naming the ones they may not.
pub(crate) async fn all_visible(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    keys: &[EntityKey],
) -> Result<(), ApiError> {
    let seen = visible(ctx, tx, caller, keys).await?;
    let missing: Vec<&EntityKey> = keys
        .iter()
        .filter(|k| !seen.contains_key(&(k.kind.clone(), k.id)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(no_such("entity").with_details(serde_json::json!({ "missing": missing })))
}
