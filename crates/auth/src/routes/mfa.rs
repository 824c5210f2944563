//! Two-factor authentication: enroll → verify (turns it on, hands out backup codes) →
//! challenge at sign-in; disable with password and code.

use actix_web::{HttpRequest, HttpResponse, post};
use chrono::Utc;
use kernel::http::{Public, RequestInfo, SignedIn, ValidJson};
use kernel::sea_orm::sea_query::{Expr, ExprTrait};
use kernel::sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext};
use serde::Deserialize;

use super::AuthState;
use crate::entity::{backup_code, user};
use crate::service::{self, db_err};
use crate::state::State;

const TAG: &str = "auth";
/// Wrong codes allowed per MFA token before it is spent.
const MAX_CHALLENGE_FAILURES: u64 = 5;

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// Checks a TOTP code (each time step accepted once, recorded atomically) or a backup code
/// (spent atomically). Returns whether it was valid.
pub(crate) async fn second_factor(
    ctx: &CellContext,
    state: &State,
    user: &user::Model,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(sealed) = user.mfa_secret.as_deref() else {
        return Ok(false);
    };
    let secret =
        crate::mfa::unseal(&state.seal_key, sealed).map_err(|e| db_err(anyhow::anyhow!(e)))?;
    if let Some(step) = crate::mfa::check(&secret, code, now_secs(), user.mfa_last_step) {
        // Only one request can move the step forward: a concurrent replay loses here.
        let res = user::Entity::update_many()
            .col_expr(user::Column::MfaLastStep, Expr::value(step))
            .filter(user::Column::Id.eq(user.id))
            .filter(
                user::Column::MfaLastStep
                    .is_null()
                    .or(user::Column::MfaLastStep.lt(step)),
            )
            .exec(ctx.db().conn())
            .await
            .map_err(db_err)?;
        return Ok(res.rows_affected == 1);
    }
    let normalized = crate::mfa::normalize_backup_code(code);
    if normalized.len() != 12 {
        return Ok(false);
    }
    let res = backup_code::Entity::update_many()
        .col_expr(backup_code::Column::UsedAt, Expr::value(Utc::now()))
        .filter(backup_code::Column::CodeHash.eq(state.hash(&normalized)))
        .filter(backup_code::Column::UserId.eq(user.id))
        .filter(backup_code::Column::UsedAt.is_null())
        .exec(ctx.db().conn())
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected == 1)
}

/// Starts enrollment: a new secret (stored sealed, not yet active) and its `otpauth://` URL.
#[utoipa::path(tag = TAG, responses(
    (status = 200, description = "`secret` (base32) and `otpauth_url` (also as `qr_code_url`)"),
    (status = 409, description = "Already enabled")))]
#[post("/auth/mfa/enroll")]
pub(crate) async fn enroll(
    ctx: CellContext,
    state: AuthState,
    caller: SignedIn,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    if user.mfa_enabled {
        return Err(ApiError::conflict(
            "two-factor authentication is already on",
        ));
    }
    let secret = crate::mfa::new_secret();
    let issuer = ctx.config().name().to_owned();
    let url = crate::mfa::otpauth_url(&secret, &issuer, &user.email)
        .map_err(|e| db_err(anyhow::anyhow!(e)))?;
    let sealed =
        crate::mfa::seal(&state.seal_key, &secret).map_err(|e| db_err(anyhow::anyhow!(e)))?;
    let mut m: user::ActiveModel = user.into();
    m.mfa_secret = Set(Some(sealed));
    m.mfa_last_step = Set(None);
    m.updated_at = Set(Utc::now());
    m.update(ctx.db().conn()).await.map_err(db_err)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "secret": secret,
        "otpauth_url": url,
        "qr_code_url": url,
    })))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    #[schema(min_length = 6, max_length = 64)]
    #[garde(length(chars, min = 6, max = 64))]
    pub code: String,
}

/// Confirms enrollment with a current code: two-factor authentication is on, and ten backup
/// codes are returned (once; only their hashes are kept).
#[utoipa::path(tag = TAG, request_body = CodeBody, responses(
    (status = 200, description = "`backup_codes`"),
    (status = 400, description = "No enrollment in progress, or a wrong code")))]
#[post("/auth/mfa/verify")]
pub(crate) async fn verify(
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    caller: SignedIn,
    body: ValidJson<CodeBody>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    if user.mfa_enabled {
        return Err(ApiError::conflict(
            "two-factor authentication is already on",
        ));
    }
    if user.mfa_secret.is_none() {
        return Err(ApiError::bad_request("start with POST /auth/mfa/enroll"));
    }
    if !second_factor(&ctx, &state, &user, &body.0.code).await? {
        return Err(ApiError::bad_request("the code is not valid"));
    }
    let codes = crate::mfa::backup_codes().map_err(|e| db_err(anyhow::anyhow!(e)))?;
    let txn = ctx.db().begin().await.map_err(db_err)?;
    backup_code::Entity::delete_many()
        .filter(backup_code::Column::UserId.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    let now = Utc::now();
    for code in &codes {
        backup_code::ActiveModel {
            code_hash: Set(state.hash(&crate::mfa::normalize_backup_code(code))),
            user_id: Set(user.id),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(db_err)?;
    }
    user::Entity::update_many()
        .col_expr(user::Column::MfaEnabled, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    service::audit(
        &ctx,
        "auth.mfa_enabled",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "mfa_enabled": true, "backup_codes": codes })))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    #[serde(alias = "mfaToken")]
    #[schema(min_length = 1, max_length = 512)]
    #[garde(length(chars, min = 1, max = 512))]
    pub mfa_token: String,
    #[schema(min_length = 6, max_length = 64)]
    #[garde(length(chars, min = 6, max = 64))]
    pub code: String,
}

/// Completes a sign-in that answered `requires_mfa`, with a TOTP or backup code.
#[utoipa::path(tag = TAG, security(()), request_body = ChallengeBody, responses(
    (status = 200, description = "Tokens", body = crate::service::TokenResponse),
    (status = 401, description = "Invalid or expired MFA token, or a wrong code")))]
#[post("/auth/mfa/challenge")]
pub(crate) async fn challenge(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    body: ValidJson<ChallengeBody>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let invalid = || ApiError::unauthorized("the sign-in has expired or the code is wrong");
    let user_id = service::peek_one_time(
        ctx.db().conn(),
        &state,
        &body.mfa_token,
        service::PURPOSE_MFA,
    )
    .await?
    .ok_or_else(invalid)?;
    let user = service::active_user(ctx.db().conn(), user_id)
        .await
        .map_err(|_| invalid())?;
    if !second_factor(&ctx, &state, &user, &body.code).await? {
        let key = format!("auth:mfa-failures:{}", state.hash(&body.mfa_token));
        let cache = ctx.cache().global();
        let failures = cache.get::<u64>(&key).await.unwrap_or(0) + 1;
        cache
            .set(&key, &failures, Some(std::time::Duration::from_secs(600)))
            .await;
        if failures >= MAX_CHALLENGE_FAILURES {
            service::consume_one_time(
                ctx.db().conn(),
                &state,
                &body.mfa_token,
                service::PURPOSE_MFA,
            )
            .await?;
        }
        service::audit(
            &ctx,
            "auth.mfa_challenge_failed",
            None,
            Some(user.id),
            &info,
            None,
        )
        .await;
        return Err(invalid());
    }
    service::consume_one_time(
        ctx.db().conn(),
        &state,
        &body.mfa_token,
        service::PURPOSE_MFA,
    )
    .await?
    .ok_or_else(invalid)?;
    let tokens = service::sign_in(&ctx, &state, &user, None, &info).await?;
    service::audit(
        &ctx,
        "auth.login",
        tokens.org_id,
        Some(user.id),
        &info,
        Some(serde_json::json!({ "mfa": true })),
    )
    .await;
    Ok(super::session::token_response(&req, &state, tokens))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub password: String,
    #[schema(min_length = 6, max_length = 64)]
    #[garde(length(chars, min = 6, max = 64))]
    pub code: String,
}

/// Turns two-factor authentication off (password and a current code required).
#[utoipa::path(tag = TAG, request_body = DisableBody, responses(
    (status = 200, description = "Off"), (status = 401, description = "Wrong password or code"),
    (status = 409, description = "Two-factor authentication is not on")))]
#[post("/auth/mfa/disable")]
pub(crate) async fn disable(
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    caller: SignedIn,
    body: ValidJson<DisableBody>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    if !user.mfa_enabled {
        return Err(ApiError::conflict("two-factor authentication is not on"));
    }
    if !service::verify_password(&user.password_hash, &body.0.password).await
        || !second_factor(&ctx, &state, &user, &body.0.code).await?
    {
        return Err(ApiError::unauthorized("the password or code is wrong"));
    }
    let txn = ctx.db().begin().await.map_err(db_err)?;
    user::Entity::update_many()
        .col_expr(user::Column::MfaEnabled, Expr::value(false))
        .col_expr(user::Column::MfaSecret, Expr::value(Option::<String>::None))
        .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    backup_code::Entity::delete_many()
        .filter(backup_code::Column::UserId.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    service::audit(
        &ctx,
        "auth.mfa_disabled",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "mfa_enabled": false })))
}
