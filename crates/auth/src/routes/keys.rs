//! API keys: `pk_live_<key id>_<secret>`, shown once, stored as a keyed hash; they act for
//! the user who made them, in their org, limited to their scopes; revocation is immediate.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{
    AdministerOrg, InOrg, ListQuery, ListSpec, Read, Scoped, ValidJson, WorkInOrg, Write,
};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AuthState;
use crate::entity::api_key;
use crate::service::db_err;

const TAG: &str = "api-keys";
pub(crate) const KEY_PREFIX: &str = "pk_live_";
kernel::api_scope!(
    /// API keys themselves (listing and revoking; creating one needs a signed-in user).
    Keys = "api-keys"
);

const MAX_SCOPES: usize = 50;

/// `resource:read`, `resource:write`, `resource:*` or `*`.
pub(crate) fn valid_scope(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some((resource, action)) = s.split_once(':') else {
        return false;
    };
    !resource.is_empty()
        && resource.len() <= 64
        && resource
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && matches!(action, "read" | "write" | "*")
}

#[expect(clippy::ptr_arg, reason = "garde passes the field as it is declared")]
fn valid_scopes(scopes: &Vec<String>, _: &()) -> garde::Result {
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return Err(garde::Error::new(format!("give 1 to {MAX_SCOPES} scopes")));
    }
    match scopes.iter().find(|s| !valid_scope(s)) {
        Some(bad) => Err(garde::Error::new(format!(
            "`{bad}` is not a scope (`tasks:read`, `contacts:write`, `files:*`, `*`)"
        ))),
        None => Ok(()),
    }
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    #[garde(custom(valid_scopes))]
    #[schema(min_items = 1, max_items = 50)]
    pub scopes: Vec<String>,
    #[serde(default, alias = "expiresAt")]
    #[garde(skip)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as lists show it (never the secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: serde_json::Value,
    pub created_by: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<api_key::Model> for KeyView {
    fn from(k: api_key::Model) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_by: k.created_by,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            created_at: k.created_at,
        }
    }
}

/// Creates a key for the active organization. The full key is in this answer only.
#[utoipa::path(tag = TAG, request_body = NewKey, responses(
    (status = 201, description = "`key` is shown once"), (status = 403), (status = 422)))]
#[post("/api-keys")]
pub(crate) async fn create_key(
    state: AuthState,
    tx: Scoped<WorkInOrg, Write<Keys>>,
    body: ValidJson<NewKey>,
) -> ApiResult<HttpResponse> {
    tx.caller().require_session()?;
    let (org, user) = (tx.org_id(), tx.caller().user_id);
    let body = body.0;
    if body.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let id = Uuid::now_v7();
    let secret =
        kernel::opaque::generate(32).map_err(|_| db_err(anyhow::anyhow!("no randomness")))?;
    let key = format!("{KEY_PREFIX}{}_{secret}", id.simple());
    let simple = id.simple().to_string();
    let row = tx
        .repo::<api_key::Entity>()
        .insert(api_key::ActiveModel {
            id: Set(id),
            org_id: Set(org),
            created_by: Set(user),
            name: Set(body.name),
            prefix: Set(format!("{KEY_PREFIX}{}", &simple[simple.len() - 8..])),
            secret_hash: Set(state.hash(&secret)),
            scopes: Set(serde_json::json!(body.scopes)),
            expires_at: Set(body.expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(Utc::now()),
        })
        .await
        .map_err(db_err)?;
    tx.commit().await?;
    let mut view = serde_json::to_value(KeyView::from(row)).map_err(db_err)?;
    view["key"] = serde_json::Value::String(key);
    Ok(HttpResponse::Created().json(view))
}

/// What `list_keys` exposes: its fields, search and order.
fn key_list() -> ListSpec<api_key::Entity> {
    ListSpec::new()
        .sortable("created_at", api_key::Column::CreatedAt)
        .sortable("name", api_key::Column::Name)
        .search([api_key::Column::Name])
        .default_sort(api_key::Column::CreatedAt, true)
        .tiebreak(api_key::Column::Id)
}

kernel::list_params!(KeyListParams, key_list);

/// The organization's keys: all of them for admins, one's own for others.
#[utoipa::path(tag = TAG, params(KeyListParams), responses((status = 200, description = "A page of keys")))]
#[get("/api-keys")]
pub(crate) async fn list_keys(
    ctx: CellContext,
    tx: Scoped<InOrg, Read<Keys>>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    tx.caller().require_session()?;
    let spec = key_list();
    let mut select = tx.repo::<api_key::Entity>().find();
    if !tx.holds::<AdministerOrg>(&ctx, None).await? {
        select = select.filter(api_key::Column::CreatedBy.eq(tx.caller().user_id));
    }
    let select = spec.apply(&query, select)?;
    let page = tx.page(select, &query).await.map_err(db_err)?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(KeyView::from)))
}

/// Revokes a key: it stops working with the next request.
#[utoipa::path(tag = TAG, responses((status = 204, description = "Revoked"), (status = 404)))]
#[delete("/api-keys/{id}")]
pub(crate) async fn revoke_key(
    ctx: CellContext,
    tx: Scoped<InOrg, Write<Keys>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    tx.caller().require_session()?;
    let admin = tx.holds::<AdministerOrg>(&ctx, None).await?;
    let repo = tx.repo::<api_key::Entity>();
    let user = tx.caller().user_id;
    let key = repo
        .get(id.into_inner())
        .await
        .map_err(db_err)?
        .filter(|k| k.created_by == user || admin)
        .ok_or_else(|| ApiError::not_found("no such API key"))?;
    if key.revoked_at.is_none() {
        let mut m: api_key::ActiveModel = key.into();
        m.revoked_at = Set(Some(Utc::now()));
        repo.update(m).await.map_err(db_err)?;
    }
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes every live key `user` created, in each of their organizations (at deactivation: a
/// key never outlives its user). Returns how many were revoked.
pub(crate) async fn revoke_all_of(ctx: &CellContext, user: Uuid) -> Result<u64, ApiError> {
    let mut revoked = 0;
    for org in tenancy::organizations_of(ctx.db(), user).await? {
        revoked += revoke_in(ctx, org.organization.id, user).await?;
    }
    Ok(revoked)
}

/// Revokes every live key `user` created in `org`. Returns how many were revoked.
pub(crate) async fn revoke_in(ctx: &CellContext, org: Uuid, user: Uuid) -> Result<u64, ApiError> {
    let tx = ctx.db().tenant(org).await.map_err(db_err)?;
    let revoked = tx
        .repo::<api_key::Entity>()
        .update_many(
            vec![(
                api_key::Column::RevokedAt,
                kernel::sea_orm::sea_query::Expr::value(Utc::now()),
            )],
            api_key::Column::CreatedBy
                .eq(user)
                .and(api_key::Column::RevokedAt.is_null()),
        )
        .await
        .map_err(db_err)?;
    tx.commit().await?;
    Ok(revoked)
}

/// On `tenancy.member.removed`: the member's keys in that org are revoked (they were already
/// refused, since a key acts with its creator's current membership; now the key list says so).
pub(crate) struct RevokeKeysOfRemovedMember;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for RevokeKeysOfRemovedMember {
    async fn handle(
        &self,
        ctx: &CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let Some(removed) = event.payload_as::<tenancy::events::MemberRemoved>() else {
            anyhow::bail!("unexpected event {} v{}", event.name, event.version);
        };
        revoke_in(ctx, event.org_id, removed.user_id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        Ok(())
    }
}

/// Splits `pk_live_<32 hex>_<secret>`.
pub(crate) fn parse_key(key: &str) -> Option<(Uuid, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() < 43 || secret.len() > 128 {
        return None;
    }
    Some((Uuid::parse_str(id).ok()?, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_key_format() {
        for ok in [
            "tasks:read",
            "contacts:write",
            "files:*",
            "*",
            "api-keys:read",
        ] {
            assert!(valid_scope(ok), "{ok}");
        }
        for bad in [
            "tasks",
            "tasks:delete",
            ":read",
            "Tasks:read",
            "tasks:read ",
        ] {
            assert!(!valid_scope(bad), "{bad}");
        }
        let id = Uuid::now_v7();
        let secret = "a".repeat(43);
        let key = format!("pk_live_{}_{secret}", id.simple());
        assert_eq!(parse_key(&key), Some((id, secret.as_str())));
        assert_eq!(parse_key("pk_live_abc_def"), None);
        assert_eq!(
            parse_key(&format!("pk_test_{}_{secret}", id.simple())),
            None
        );
    }
}
