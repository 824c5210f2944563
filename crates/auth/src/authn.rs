//! The cell's authenticator: `Authorization: Bearer <access JWT>` or `Bearer pk_live_…`.

use actix_web::HttpRequest;
use chrono::Utc;
use kernel::http::{Authenticator, Caller, Refused};
use kernel::sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use kernel::{ApiError, CellContext};
use uuid::Uuid;

use crate::entity::api_key;
use crate::service;
use crate::state::{Shared, State};

/// Keys' `last_used_at` is written at most this often.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

pub(crate) struct AuthN(pub Shared);

#[kernel::async_trait::async_trait(?Send)]
impl Authenticator for AuthN {
    /// Anonymous without an `Authorization` header; refused (saying whether the token merely
    /// expired) for one that does not verify, a revoked session or an unknown key.
    async fn authenticate(
        &self,
        ctx: &CellContext,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, Refused> {
        let Some(state) = self.0.get() else {
            return Ok(None);
        };
        let Some(header) = req.headers().get("authorization") else {
            return Ok(None);
        };
        let (scheme, token) = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .ok_or(Refused::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refused::Invalid);
        }
        let token = token.trim();
        if token.starts_with(crate::routes::keys::KEY_PREFIX) {
            return api_key_caller(ctx, state, token)
                .await
                .map(Some)
                .ok_or(Refused::Invalid);
        }
        let claims = state.keys.verify(token).map_err(|e| match e {
            crate::jwt::TokenError::Expired => Refused::Expired,
            _ => Refused::Invalid,
        })?;
        if service::is_denied(ctx, claims.sid).await {
            return Err(Refused::Invalid);
        }
        let role_name = claims.roles.first().cloned();
        let role = role_name
            .as_deref()
            .and_then(|r| service::role_of(state, r));
        Ok(Some(Caller {
            org_id: claims.org,
            role_name,
            role,
            session_id: Some(claims.sid),
            ..Caller::user(claims.sub)
        }))
    }

    fn jwks(&self) -> Option<serde_json::Value> {
        Some(self.0.get()?.keys.jwks())
    }
}

/// What other modules may ask about users (`kernel::identity`), provided in `on_ready`.
pub(crate) struct Directory(pub Shared);

#[kernel::async_trait::async_trait(?Send)]
impl kernel::identity::UserDirectory for Directory {
    /// Read on the read pool: callers ask while they hold a write transaction (a notification
    /// being fanned out), and on SQLite the writer is that transaction's.
    async fn email(&self, ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError> {
        let reads = ctx.db().begin_read().await.map_err(service::db_err)?;
        Ok(service::user_by_id(&reads, user_id)
            .await?
            .filter(|u| u.status == service::STATUS_ACTIVE)
            .map(|u| u.email))
    }

    async fn timezone(&self, ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError> {
        let reads = ctx.db().begin_read().await.map_err(service::db_err)?;
        Ok(service::user_by_id(&reads, user_id)
            .await?
            .and_then(|u| u.timezone))
    }

    async fn confirm_password(
        &self,
        ctx: &CellContext,
        user_id: Uuid,
        password: &str,
    ) -> Result<bool, ApiError> {
        let state = crate::state::get(&self.0)?;
        let user = service::active_user(ctx.db().conn(), user_id).await?;
        service::check_lockout(ctx, state, &user.email).await?;
        let ok = service::verify_password(&user.password_hash, password).await;
        if !ok {
            service::record_failure(ctx, state, &user.email).await;
        }
        Ok(ok)
    }
}

/// Looks the key up by id (its row only is visible to this transaction under row-level
/// security), checks the secret in constant time, expiry and revocation, then the creator's
/// current role in the key's org: a key never outlives its creator's membership. The key and
/// the membership are read together (one transaction on PostgreSQL, scoped to the key's org once
/// the key is found).
async fn api_key_caller(ctx: &CellContext, state: &State, token: &str) -> Option<Caller> {
    let (id, secret) = crate::routes::keys::parse_key(token)?;
    let now = Utc::now();
    let txn = ctx.db().begin_read().await.ok()?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "select set_config('app.current_api_key_id', $1, true)",
            [id.to_string().into()],
        ))
        .await
        .ok()?;
    }
    let key = api_key::Entity::find_by_id(id).one(&txn).await.ok()??;
    if !kernel::opaque::matches(&state.hash_key, secret, &key.secret_hash)
        || key.revoked_at.is_some()
        || key.expires_at.is_some_and(|e| e <= now)
    {
        return None;
    }
    // A key dies with its user: checked on every request (deactivation also revokes the keys).
    let user = crate::entity::user::Entity::find_by_id(key.created_by)
        .one(&txn)
        .await
        .ok()??;
    if user.status != service::STATUS_ACTIVE {
        return None;
    }
    let tx = ctx.db().scope_read(txn, key.org_id).await.ok()?;
    let role_name = tenancy::member_role(&tx, key.created_by).await.ok()??;
    tx.commit().await.ok()?;
    let role = service::role_of(state, &role_name);
    if key
        .last_used_at
        .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS)
        && let Ok(tx) = ctx.db().tenant(key.org_id).await
    {
        let update = tx
            .repo::<api_key::Entity>()
            .update(api_key::ActiveModel {
                id: Set(key.id),
                last_used_at: Set(Some(now)),
                ..Default::default()
            })
            .await;
        if update.is_ok() {
            let _ = tx.commit().await;
        }
    }
    let scopes: Vec<String> = serde_json::from_value(key.scopes).ok()?;
    Some(Caller {
        org_id: Some(key.org_id),
        role_name: Some(role_name),
        role,
        api_key_id: Some(key.id),
        scopes: Some(scopes),
        ..Caller::user(key.created_by)
    })
}
