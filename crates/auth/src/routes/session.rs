//! Sign-up, sign-in, tokens, sign-out, password reset, email verification.

use actix_web::{HttpRequest, HttpResponse, post};
use chrono::Utc;
use kernel::http::{Caller, Public, RequestInfo, SignedIn, ValidJson};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthState, clear_refresh_cookie, set_refresh_cookie};
use crate::entity::{refresh_token, session, user};
use crate::service::{self, TokenResponse, db_err, normalize_email};

const TAG: &str = "auth";

fn accepted(status: &str, message: &str) -> HttpResponse {
    HttpResponse::Accepted().json(serde_json::json!({ "status": status, "message": message }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(max_length = 254, format = Email)]
    #[garde(email, length(chars, max = 254))]
    pub email: String,
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub password: String,
    #[serde(default, alias = "firstName")]
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub first_name: Option<String>,
    #[serde(default, alias = "lastName")]
    #[schema(min_length = 1, max_length = 100)]
    #[garde(length(chars, min = 1, max = 100))]
    pub last_name: Option<String>,
    /// Registering through an invitation: the account joins the inviting org (no personal org)
    /// and is signed in at once; its email must be the invited one.
    #[serde(default, alias = "invitationToken")]
    #[schema(min_length = 1, max_length = 512)]
    #[garde(length(chars, min = 1, max = 512))]
    pub invitation_token: Option<String>,
}

/// Creates an account and its personal organization, and mails a verification link. The answer
/// is the same whether or not the email already has an account (the owner of an existing one is
/// mailed instead), so the endpoint cannot be used to discover accounts.
#[utoipa::path(tag = TAG, security(()), request_body = RegisterBody, responses(
    (status = 202, description = "Accepted: check your inbox"),
    (status = 201, description = "Registered through an invitation: tokens", body = TokenResponse),
    (status = 404, description = "The invitation token is invalid, used or expired"),
    (status = 422, description = "Invalid email or a password the policy refuses"),
    (status = 429, description = "Too many attempts")))]
#[post("/auth/register")]
pub(crate) async fn register(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    body: ValidJson<RegisterBody>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let email = normalize_email(&body.email);
    service::limit_attempts(&ctx, &state, "register", &email, &info).await?;
    // Hash first on every path, so that known and unknown emails take as long.
    let hash = service::hash_new_password(&state, "password", &body.password).await?;
    if let Some(token) = &body.invitation_token {
        return register_invited(&ctx, &state, &req, &info, &body, token, hash).await;
    }
    let answer = || {
        accepted(
            "pending_verification",
            "check your inbox to verify your email address",
        )
    };
    if let Some(existing) = service::user_by_email(ctx.db().conn(), &email).await? {
        if existing.status == service::STATUS_ACTIVE {
            ctx.mail()
                .queue(
                    ctx.db().conn(),
                    None,
                    &email,
                    "auth.account_exists",
                    &serde_json::json!({ "reset_link": service::link(&ctx, "/reset-password", "") }),
                )
                .await
                .map_err(db_err)?;
        }
        return Ok(answer());
    }
    let org_id = Uuid::now_v7();
    let tx = ctx.db().tenant(org_id).await.map_err(db_err)?;
    let user = service::new_user(
        &email,
        hash,
        body.first_name.clone(),
        body.last_name.clone(),
        false,
    )
    // unscoped: users are not tenant-owned; inserted with the new org's rows
    .insert(tx.unscoped())
    .await;
    let user = match user {
        Ok(u) => u,
        // A concurrent registration of the same email won: same answer.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(answer());
        }
        Err(e) => return Err(db_err(e)),
    };
    let org_name = match &body.first_name {
        Some(first) => format!("{first}'s workspace"),
        None => email.split('@').next().unwrap_or("my").to_owned() + "'s workspace",
    };
    tenancy::create_organization(
        &ctx,
        &tx,
        tenancy::NewOrganization {
            name: org_name,
            personal: true,
            ..Default::default()
        },
        user.id,
    )
    .await?;
    service::mail_link(
        &ctx,
        // unscoped: the kernel's mail outbox, written in the change's transaction
        tx.unscoped(),
        &state,
        user.id,
        &email,
        body.first_name.as_deref(),
        service::Link::Verify,
    )
    .await?;
    tx.commit().await.map_err(db_err)?;
    service::audit(
        &ctx,
        "auth.registered",
        Some(org_id),
        Some(user.id),
        &info,
        None,
    )
    .await;
    Ok(answer())
}

/// Registration with an invitation token: the holder of the token knows the invited address, so
/// answering plainly reveals nothing new.
async fn register_invited(
    ctx: &CellContext,
    state: &crate::state::State,
    req: &HttpRequest,
    info: &RequestInfo,
    body: &RegisterBody,
    token: &str,
    hash: String,
) -> ApiResult<HttpResponse> {
    let email = normalize_email(&body.email);
    let invitation = tenancy::find_invitation(ctx, token)
        .await?
        .ok_or_else(|| ApiError::not_found("the invitation is invalid, used or expired"))?;
    if invitation.email != email {
        return Err(ApiError::validation("email", "must be the invited address"));
    }
    if service::user_by_email(ctx.db().conn(), &email)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "an account with this email exists: sign in and accept the invitation",
        ));
    }
    let tx = ctx.db().tenant(invitation.org_id).await.map_err(db_err)?;
    // The invitation proves the address: it is verified.
    let user = service::new_user(
        &email,
        hash,
        body.first_name.clone(),
        body.last_name.clone(),
        true,
    )
    // unscoped: users are not tenant-owned; inserted with the new org's rows
    .insert(tx.unscoped())
    .await
    .map_err(|e| match e.sql_err() {
        Some(kernel::sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::conflict(
            "an account with this email exists: sign in and accept the invitation",
        ),
        _ => db_err(e),
    })?;
    tenancy::accept_invitation(ctx, &tx, token, user.id, &email).await?;
    tx.commit().await.map_err(db_err)?;
    service::audit(
        ctx,
        "auth.registered",
        Some(invitation.org_id),
        Some(user.id),
        info,
        None,
    )
    .await;
    let tokens = service::sign_in(ctx, state, &user, Some(invitation.org_id), info).await?;
    let mut res = token_response(req, state, tokens);
    *res.status_mut() = actix_web::http::StatusCode::CREATED;
    Ok(res)
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(min_length = 1, max_length = 254)]
    #[garde(length(chars, min = 1, max = 254))]
    pub email: String,
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub password: String,
    /// The organization to act for; default the last one used, else the first joined.
    #[serde(default, alias = "orgId")]
    #[garde(skip)]
    pub org_id: Option<Uuid>,
}

/// The answer to a correct password of an account with two-factor authentication.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaRequired {
    pub requires_mfa: bool,
    /// Valid 5 minutes, for `POST /auth/mfa/challenge`.
    pub mfa_token: String,
}

/// Signs in with email and password. Wrong passwords, unknown emails and inactive accounts get
/// the same 401 after the same work; repeated failures lock the email for a while.
#[utoipa::path(tag = TAG, security(()), request_body = LoginBody, responses(
    (status = 200, description = "Tokens (the refresh token also as an HttpOnly cookie), or `requires_mfa`", body = TokenResponse),
    (status = 401, description = "Invalid email or password"),
    (status = 429, description = "Locked or rate limited")))]
#[post("/auth/login")]
pub(crate) async fn login(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    body: ValidJson<LoginBody>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    service::limit_attempts(&ctx, &state, "login", &body.email, &info).await?;
    service::check_lockout(&ctx, &state, &body.email).await?;
    let found = service::user_by_email(ctx.db().conn(), &body.email).await?;
    let hash = found.as_ref().map_or("", |u| u.password_hash.as_str());
    let ok = service::verify_password(hash, &body.password).await;
    let Some(user) = found.filter(|u| ok && u.status == service::STATUS_ACTIVE) else {
        service::record_failure(&ctx, &state, &body.email).await;
        let email: String = normalize_email(&body.email).chars().take(254).collect();
        service::audit(
            &ctx,
            "auth.login_failed",
            None,
            None,
            &info,
            Some(serde_json::json!({ "email": email })),
        )
        .await;
        return Err(ApiError::unauthorized("invalid email or password"));
    };
    service::clear_failures(&ctx, &state, &body.email).await;
    if crate::password::needs_rehash(&user.password_hash)
        && let Ok(new_hash) = service::hash_password(&body.password).await
    {
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(new_hash))
            .filter(user::Column::Id.eq(user.id))
            .exec(ctx.db().conn())
            .await
            .map_err(db_err)?;
    }
    if user.mfa_enabled {
        let token = service::issue_one_time(
            ctx.db().conn(),
            &state,
            user.id,
            service::PURPOSE_MFA,
            chrono::Duration::minutes(5),
        )
        .await?;
        return Ok(HttpResponse::Ok().json(MfaRequired {
            requires_mfa: true,
            mfa_token: token,
        }));
    }
    let tokens = service::sign_in(&ctx, &state, &user, body.org_id, &info).await?;
    service::audit(
        &ctx,
        "auth.login",
        tokens.org_id,
        Some(user.id),
        &info,
        None,
    )
    .await;
    Ok(token_response(&req, &state, tokens))
}

pub(crate) fn token_response(
    req: &HttpRequest,
    state: &crate::state::State,
    tokens: TokenResponse,
) -> HttpResponse {
    let mut res = HttpResponse::Ok().json(&tokens);
    set_refresh_cookie(&mut res, req, state, &tokens.refresh_token);
    res
}

#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// Or the `refresh_token` cookie.
    #[serde(default, alias = "refreshToken")]
    #[schema(max_length = 512)]
    #[garde(length(chars, max = 512))]
    pub refresh_token: Option<String>,
}

/// Trades a refresh token for new tokens; the presented one is spent. Presenting a spent token
/// again revokes its whole session (a stolen token was used) and is logged as a security event.
#[utoipa::path(tag = TAG, security(()), request_body = RefreshBody, responses(
    (status = 200, description = "New tokens", body = TokenResponse),
    (status = 401, description = "Invalid, expired, revoked or reused refresh token")))]
#[post("/auth/refresh")]
pub(crate) async fn refresh(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    body: Option<ValidJson<RefreshBody>>,
) -> ApiResult<HttpResponse> {
    let token = body
        .and_then(|b| b.0.refresh_token)
        .or_else(|| {
            req.cookie(super::REFRESH_COOKIE)
                .map(|c| c.value().to_owned())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("a refresh token is required (body or cookie)"))?;
    let hash = state.hash(&token);
    let txn = ctx.db().begin().await.map_err(db_err)?;
    let now = Utc::now();
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(hash.clone()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_err)?;
    let row = refresh_token::Entity::find_by_id(hash)
        .one(&txn)
        .await
        .map_err(db_err)?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized("invalid refresh token"));
    };
    let session = session::Entity::find_by_id(row.session_id)
        .one(&txn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| ApiError::unauthorized("invalid refresh token"))?;
    if spent.rows_affected == 0 {
        txn.rollback().await.map_err(db_err)?;
        tracing::warn!(
            target: "security",
            user_id = %session.user_id,
            session_id = %session.id,
            ip = ?info.ip,
            "refresh token reuse: the session is revoked"
        );
        service::revoke_sessions(
            &ctx,
            &state,
            session.user_id,
            Some(session.id),
            None,
            "refresh_token_reuse",
        )
        .await?;
        let changes = serde_json::json!({ "session_id": session.id });
        service::audit(
            &ctx,
            "auth.refresh_token_reused",
            None,
            Some(session.user_id),
            &info,
            Some(changes),
        )
        .await;
        return Err(ApiError::unauthorized(
            "this refresh token was already used; the session has been revoked",
        ));
    }
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(ApiError::unauthorized(
            "the session has ended; sign in again",
        ));
    }
    let user = service::active_user(&txn, session.user_id).await?;
    let new_token = service::new_refresh_token(&txn, &state, session.id).await?;
    txn.commit().await.map_err(db_err)?;
    // After the commit: the membership lookup opens its own transaction, which on SQLite would
    // wait for this one's write lock.
    let org = service::choose_org(&ctx, user.id, session.active_org_id).await?;
    let mut s: session::ActiveModel = session.clone().into();
    s.last_used_at = Set(now);
    s.active_org_id = Set(org.as_ref().map(|o| o.0));
    s.update(ctx.db().conn()).await.map_err(db_err)?;
    let tokens = TokenResponse::issue(&state, (&user).into(), session.id, org, new_token)?;
    Ok(token_response(&req, &state, tokens))
}

/// The caller's session: signed-in users have one; API keys are refused.
fn session_of(caller: &Caller) -> Result<Uuid, ApiError> {
    caller.require_session()?;
    caller
        .session_id
        .ok_or_else(|| ApiError::bad_request("this credential has no session"))
}

/// Ends this session: its refresh tokens stop working and its access tokens are refused from now
/// on (deny-listed until they expire).
#[utoipa::path(tag = TAG, responses((status = 204, description = "Signed out"), (status = 401)))]
#[post("/auth/logout")]
pub(crate) async fn logout(
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    caller: SignedIn,
) -> ApiResult<HttpResponse> {
    let sid = session_of(&caller)?;
    service::revoke_sessions(&ctx, &state, caller.user_id, Some(sid), None, "logout").await?;
    service::audit(
        &ctx,
        "auth.logout",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    let mut res = HttpResponse::NoContent().finish();
    clear_refresh_cookie(&mut res, &req, &state);
    Ok(res)
}

/// Ends every session of the user, on every device.
#[utoipa::path(tag = TAG, responses((status = 200, description = "How many sessions ended"), (status = 401)))]
#[post("/auth/logout-all")]
pub(crate) async fn logout_all(
    ctx: CellContext,
    state: AuthState,
    req: HttpRequest,
    info: RequestInfo,
    caller: SignedIn,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let n =
        service::revoke_sessions(&ctx, &state, caller.user_id, None, None, "logout_all").await?;
    service::audit(
        &ctx,
        "auth.logout_all",
        caller.org_id,
        Some(caller.user_id),
        &info,
        None,
    )
    .await;
    let mut res = HttpResponse::Ok().json(serde_json::json!({ "sessions_revoked": n }));
    clear_refresh_cookie(&mut res, &req, &state);
    Ok(res)
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchOrgBody {
    #[serde(alias = "orgId")]
    #[garde(skip)]
    pub org_id: Uuid,
}

/// A new access token acting for another organization the user belongs to; the session
/// remembers it for later refreshes.
#[utoipa::path(tag = TAG, request_body = SwitchOrgBody, responses(
    (status = 200, description = "A new access token"), (status = 404, description = "Not a member")))]
#[post("/auth/switch-org")]
pub(crate) async fn switch_org(
    ctx: CellContext,
    state: AuthState,
    caller: SignedIn,
    body: ValidJson<SwitchOrgBody>,
) -> ApiResult<HttpResponse> {
    let sid = session_of(&caller)?;
    let org = body.0.org_id;
    let role = tenancy::role_in(ctx.db(), caller.user_id, org)
        .await?
        .ok_or_else(|| ApiError::not_found("no such organization"))?;
    session::Entity::update_many()
        .col_expr(session::Column::ActiveOrgId, Expr::value(org))
        .filter(session::Column::Id.eq(sid))
        .exec(ctx.db().conn())
        .await
        .map_err(db_err)?;
    let access = service::access_token(&state, caller.user_id, sid, Some(&(org, role.clone())))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.settings.access_ttl_secs,
        "org_id": org,
        "role": role,
    })))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    #[schema(min_length = 1, max_length = 254)]
    #[garde(length(chars, min = 1, max = 254))]
    pub email: String,
}

/// Mails a password-reset link (valid 1 hour) if the email has an active account. The answer is
/// the same either way.
#[utoipa::path(tag = TAG, security(()), request_body = ForgotBody, responses((status = 202, description = "Accepted")))]
#[post("/auth/forgot-password")]
pub(crate) async fn forgot_password(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    body: ValidJson<ForgotBody>,
) -> ApiResult<HttpResponse> {
    let email = normalize_email(&body.0.email);
    service::limit_attempts(&ctx, &state, "forgot", &email, &info).await?;
    // Known or not, the request does the same work (one job): the lookup and the mail happen
    // in the job, so the answer's timing does not tell whether the address has an account.
    ctx.jobs()
        .enqueue(
            ctx.db().conn(),
            crate::jobs::FORGOT_PASSWORD_JOB,
            None,
            serde_json::json!({ "email": email }),
        )
        .await
        .map_err(db_err)?;
    Ok(accepted(
        "accepted",
        "if the address has an account, a reset link is on its way",
    ))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    #[schema(min_length = 1, max_length = 512)]
    #[garde(length(chars, min = 1, max = 512))]
    pub token: String,
    #[serde(alias = "newPassword")]
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub new_password: String,
    /// A TOTP or backup code: required when the account has two-factor authentication.
    #[serde(default)]
    #[schema(max_length = 64)]
    #[garde(length(chars, max = 64))]
    pub code: Option<String>,
}

/// Sets a new password with a reset token. Ends every session and lifts a sign-in lockout.
#[utoipa::path(tag = TAG, security(()), request_body = ResetBody, responses(
    (status = 200, description = "Password changed"),
    (status = 400, description = "Invalid or expired token"),
    (status = 401, description = "The account needs its second factor (`details.requires_mfa`)")))]
#[post("/auth/reset-password")]
pub(crate) async fn reset_password(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    info: RequestInfo,
    body: ValidJson<ResetBody>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let invalid = || ApiError::bad_request("the reset link is invalid or has expired");
    let user_id =
        service::peek_one_time(ctx.db().conn(), &state, &body.token, service::PURPOSE_RESET)
            .await?
            .ok_or_else(invalid)?;
    let user = service::active_user(ctx.db().conn(), user_id)
        .await
        .map_err(|_| invalid())?;
    if user.mfa_enabled {
        let ok = match &body.code {
            Some(code) => super::mfa::second_factor(&ctx, &state, &user, code).await?,
            None => false,
        };
        if !ok {
            return Err(ApiError::unauthorized(
                "this account uses two-factor authentication: include a valid `code`",
            )
            .with_details(serde_json::json!({ "requires_mfa": true })));
        }
    }
    let hash = service::hash_new_password(&state, "new_password", &body.new_password).await?;
    let txn = ctx.db().begin().await.map_err(db_err)?;
    service::consume_one_time(&txn, &state, &body.token, service::PURPOSE_RESET)
        .await?
        .ok_or_else(invalid)?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    ctx.mail()
        .queue(
            &txn,
            None,
            &user.email,
            "auth.password_changed",
            &serde_json::json!({}),
        )
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    service::revoke_sessions(&ctx, &state, user.id, None, None, "password_reset").await?;
    service::clear_failures(&ctx, &state, &user.email).await;
    service::audit(
        &ctx,
        "auth.password_reset",
        None,
        Some(user.id),
        &info,
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "password_reset" })))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[schema(min_length = 1, max_length = 512)]
    #[garde(length(chars, min = 1, max = 512))]
    pub token: String,
}

/// Confirms the email address with the mailed token.
#[utoipa::path(tag = TAG, security(()), request_body = TokenBody, responses(
    (status = 200, description = "Verified"), (status = 400, description = "Invalid or expired token")))]
#[post("/auth/verify-email")]
pub(crate) async fn verify_email(
    _: Public,
    ctx: CellContext,
    state: AuthState,
    body: ValidJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    let txn = ctx.db().begin().await.map_err(db_err)?;
    let user = service::consume_one_time(&txn, &state, &body.0.token, service::PURPOSE_VERIFY)
        .await?
        .ok_or_else(|| ApiError::bad_request("the verification link is invalid or has expired"))?;
    user::Entity::update_many()
        .col_expr(user::Column::EmailVerifiedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user))
        .filter(user::Column::EmailVerifiedAt.is_null())
        .exec(&txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "email_verified": true })))
}

/// Mails a new verification link to the signed-in user, if their address is not verified yet.
#[utoipa::path(tag = TAG, responses((status = 202, description = "Accepted"), (status = 401)))]
#[post("/auth/verify-email/resend")]
pub(crate) async fn resend_verification(
    ctx: CellContext,
    state: AuthState,
    caller: SignedIn,
    info: RequestInfo,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let user = service::active_user(ctx.db().conn(), caller.user_id).await?;
    service::limit_attempts(&ctx, &state, "verify", &user.email, &info).await?;
    if user.email_verified_at.is_none() {
        let txn = ctx.db().begin().await.map_err(db_err)?;
        service::mail_link(
            &ctx,
            &txn,
            &state,
            user.id,
            &user.email,
            user.first_name.as_deref(),
            service::Link::Verify,
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
    }
    Ok(accepted(
        "accepted",
        "a verification link is on its way if the address is unverified",
    ))
}
