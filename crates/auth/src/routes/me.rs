//! The signed-in user's own account: profile, password, deactivation, organizations.

use actix_web::{HttpResponse, get, patch, post};
use chrono::Utc;
use kernel::http::{RequestInfo, SignedIn, ValidJson};
use kernel::sea_orm::{ActiveModelTrait, ActiveValue::Set};
use kernel::{ApiError, ApiResult, CellContext};
use serde::Deserialize;

use super::AuthState;
use crate::entity::user;
use crate::service::{self, UserView, db_err};

const TAG: &str = "users";

/// The signed-in user.
#[utoipa::path(tag = TAG, responses((status = 200, body = UserView), (status = 401)))]
#[get("/users/me")]
pub(crate) async fn get_me(ctx: CellContext, caller: SignedIn) -> ApiResult<HttpResponse> {
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

fn valid_timezone(tz: &Option<Option<String>>, _: &()) -> garde::Result {
    let Some(Some(tz)) = tz else { return Ok(()) };
    if tz.len() <= 64 && kernel::identity::parse_zone(tz).is_some() {
        Ok(())
    } else {
        Err(garde::Error::new(
            "not an IANA time zone name (`Europe/Paris`)",
        ))
    }
}

fn valid_locale(locale: &Option<Option<String>>, _: &()) -> garde::Result {
    let Some(Some(locale)) = locale else {
        return Ok(());
    };
    let ok = (2..=35).contains(&locale.len())
        && locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && locale
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(garde::Error::new("not a locale tag (`en-GB`)"))
    }
}

/// Fields to change; absent fields are kept, `null` clears the optional ones.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[serde(
        default,
        alias = "firstName",
        deserialize_with = "kernel::http::nullable"
    )]
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub first_name: Option<Option<String>>,
    #[serde(
        default,
        alias = "lastName",
        deserialize_with = "kernel::http::nullable"
    )]
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(custom(valid_timezone))]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(custom(valid_locale))]
    pub locale: Option<Option<String>>,
    #[serde(
        default,
        alias = "avatarUrl",
        deserialize_with = "kernel::http::nullable"
    )]
    #[schema(max_length = 2048)]
    #[garde(url, length(chars, max = 2048))]
    pub avatar_url: Option<Option<String>>,
}

/// Updates the signed-in user's profile.
#[utoipa::path(tag = TAG, request_body = UpdateMe, responses((status = 200, body = UserView), (status = 422)))]
#[patch("/users/me")]
pub(crate) async fn update_me(
    ctx: CellContext,
    caller: SignedIn,
    body: ValidJson<UpdateMe>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    let b = body.0;
    let mut m: user::ActiveModel = user.into();
    if let Some(v) = b.first_name {
        m.first_name = Set(v);
    }
    if let Some(v) = b.last_name {
        m.last_name = Set(v);
    }
    if let Some(v) = b.timezone {
        m.timezone = Set(v);
    }
    if let Some(v) = b.locale {
        m.locale = Set(v);
    }
    if let Some(v) = b.avatar_url {
        m.avatar_url = Set(v);
    }
    m.updated_at = Set(Utc::now());
    let user = m.update(ctx.db().conn()).await.map_err(db_err)?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[serde(alias = "currentPassword")]
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub current_password: String,
    #[serde(alias = "newPassword")]
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub new_password: String,
}

/// Changes the password; every other session ends (this one stays signed in).
#[utoipa::path(tag = TAG, request_body = ChangePassword, responses(
    (status = 200, description = "Changed"), (status = 401, description = "Wrong current password"), (status = 422)))]
#[post("/users/me/change-password")]
pub(crate) async fn change_password(
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    caller: SignedIn,
    body: ValidJson<ChangePassword>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    service::check_lockout(&ctx, &state, &user.email).await?;
    if !service::verify_password(&user.password_hash, &body.0.current_password).await {
        service::record_failure(&ctx, &state, &user.email).await;
        return Err(ApiError::unauthorized("the current password is wrong"));
    }
    let hash = service::hash_new_password(&state, "new_password", &body.0.new_password).await?;
    let email = user.email.clone();
    let mut m: user::ActiveModel = user.into();
    m.password_hash = Set(hash);
    m.updated_at = Set(Utc::now());
    let txn = ctx.db().begin().await.map_err(db_err)?;
    m.update(&txn).await.map_err(db_err)?;
    ctx.mail()
        .queue(
            &txn,
            None,
            &email,
            "auth.password_changed",
            &serde_json::json!({}),
        )
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    let ended = service::revoke_sessions(
        &ctx,
        &state,
        caller.user_id,
        None,
        caller.session_id,
        "password_changed",
    )
    .await?;
    service::audit(
        &ctx,
        "auth.password_changed",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "status": "password_changed", "other_sessions_ended": ended })))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deactivate {
    /// Must be `DEACTIVATE`.
    #[garde(custom(is_deactivate))]
    #[schema(pattern = r"^DEACTIVATE$")]
    pub confirmation: String,
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub password: String,
}

fn is_deactivate(word: &str, _: &()) -> garde::Result {
    match word {
        "DEACTIVATE" => Ok(()),
        _ => Err(garde::Error::new("type DEACTIVATE to confirm")),
    }
}

/// Deactivates the account: every session ends at once, sign-in stops working, and personal
/// data is anonymized after `anonymize_after_days` (30 by default) by a scheduled job.
#[utoipa::path(tag = TAG, request_body = Deactivate, responses(
    (status = 200, description = "Deactivated"), (status = 401, description = "Wrong password"), (status = 422)))]
#[post("/users/me/deactivate")]
pub(crate) async fn deactivate(
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    caller: SignedIn,
    body: ValidJson<Deactivate>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    if !service::verify_password(&user.password_hash, &body.0.password).await {
        service::record_failure(&ctx, &state, &user.email).await;
        return Err(ApiError::unauthorized("the password is wrong"));
    }
    let now = Utc::now();
    let mut m: user::ActiveModel = user.into();
    m.status = Set(service::STATUS_DEACTIVATED.into());
    m.deactivated_at = Set(Some(now));
    m.updated_at = Set(now);
    m.update(ctx.db().conn()).await.map_err(db_err)?;
    service::revoke_sessions(&ctx, &state, caller.user_id, None, None, "deactivated").await?;
    super::keys::revoke_all_of(&ctx, caller.user_id).await?;
    service::audit(
        &ctx,
        "auth.account_deactivated",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": service::STATUS_DEACTIVATED,
        "anonymize_after_days": state.settings.anonymize_after_days,
    })))
}

/// The organizations the signed-in user belongs to, with their role in each.
#[utoipa::path(tag = TAG, responses((status = 200, description = "`data`: organizations with `role`")))]
#[get("/users/me/organizations")]
pub(crate) async fn my_organizations(
    ctx: CellContext,
    caller: SignedIn,
) -> ApiResult<HttpResponse> {
    let orgs = tenancy::organizations_of(ctx.db(), caller.user_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": orgs })))
}
