//! The flows behind the routes: users, sessions and tokens, lockout, one-time tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kernel::http::{RequestInfo, Role};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use kernel::{ApiError, CellContext, ErrorCode};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{one_time_token, refresh_token, session, user};
use crate::jwt::Claims;
use crate::state::State;

pub(crate) const STATUS_ACTIVE: &str = "active";
pub(crate) const STATUS_DEACTIVATED: &str = "deactivated";
pub(crate) const STATUS_ANONYMIZED: &str = "anonymized";

pub(crate) const PURPOSE_VERIFY: &str = "verify_email";
pub(crate) const PURPOSE_RESET: &str = "reset_password";
pub(crate) const PURPOSE_MFA: &str = "mfa";

/// Emails are compared trimmed and lower-cased.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn db_err(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(e)
}

/// A user as the API shows them (never the hash or MFA secret).
#[derive(Debug, Clone, Serialize, kernel::utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub mfa_enabled: bool,
    pub status: String,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&user::Model> for UserView {
    fn from(u: &user::Model) -> Self {
        let name = match (&u.first_name, &u.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        };
        Self {
            id: u.id,
            email: u.email.clone(),
            email_verified: u.email_verified_at.is_some(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            name,
            avatar_url: u.avatar_url.clone(),
            timezone: u.timezone.clone(),
            locale: u.locale.clone(),
            mfa_enabled: u.mfa_enabled,
            status: u.status.clone(),
            last_login_at: u.last_login_at,
            created_at: u.created_at,
        }
    }
}

pub(crate) async fn user_by_email<C: ConnectionTrait>(
    conn: &C,
    email: &str,
) -> Result<Option<user::Model>, ApiError> {
    user::Entity::find()
        .filter(user::Column::Email.eq(normalize_email(email)))
        .one(conn)
        .await
        .map_err(db_err)
}

pub(crate) async fn user_by_id<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<user::Model>, ApiError> {
    user::Entity::find_by_id(id).one(conn).await.map_err(db_err)
}

/// The active user behind a caller, or 401 (deactivated since the token was issued).
pub(crate) async fn active_user<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<user::Model, ApiError> {
    match user_by_id(conn, id).await? {
        Some(u) if u.status == STATUS_ACTIVE => Ok(u),
        _ => Err(ApiError::unauthorized("the account is not active")),
    }
}

/// A new active user row (not yet inserted), for the auth routes, `users create`, and tests
/// that seed users; `password_hash` from [`crate::password::hash`].
pub fn new_user(
    email: &str,
    password_hash: String,
    first_name: Option<String>,
    last_name: Option<String>,
    verified: bool,
) -> user::ActiveModel {
    let now = Utc::now();
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(normalize_email(email)),
        email_verified_at: Set(verified.then_some(now)),
        password_hash: Set(password_hash),
        first_name: Set(first_name),
        last_name: Set(last_name),
        avatar_url: Set(None),
        timezone: Set(None),
        locale: Set(None),
        status: Set(STATUS_ACTIVE.into()),
        mfa_enabled: Set(false),
        mfa_secret: Set(None),
        mfa_last_step: Set(None),
        last_login_at: Set(None),
        login_count: Set(0),
        deactivated_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Checks a new password against the cell's policy (422 listing every broken rule) and hashes it.
pub(crate) async fn hash_new_password(
    state: &State,
    field: &str,
    password: &str,
) -> Result<String, ApiError> {
    let violations = state.settings.password.violations(password);
    if !violations.is_empty() {
        return Err(ApiError::validation(field, violations.join("; ")));
    }
    hash_password(password).await
}

/// Runs an argon2id hash or verification (tens of milliseconds and 19 MiB each) on auth's own
/// threads, one per core, fed by a queue: a flood of logins waits its turn instead of running
/// hundreds of hashes at once, and the memory the allocator keeps after a hash stays with those
/// few threads (on tokio's blocking pool each of up to 512 threads keeps its own: the harness
/// saw 2.3 GiB resident with no bound, 756 MiB with a semaphore over the blocking pool). `None`
/// when no hashing thread could be started or the work panicked.
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    hashers()?
        .send(Box::new(move || {
            let _ = done.send(work());
        }))
        .ok()?;
    result.await.ok()
}

type HashJob = Box<dyn FnOnce() + Send>;

type HashJobs = std::sync::Mutex<std::sync::mpsc::Receiver<HashJob>>;

/// The queue of the hashing threads (started on first use).
fn hashers() -> Option<&'static std::sync::mpsc::Sender<HashJob>> {
    static QUEUE: std::sync::OnceLock<Option<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (queue, jobs) = std::sync::mpsc::channel();
            let jobs = std::sync::Arc::new(HashJobs::new(jobs));
            let mut started = 0;
            for i in 0..std::thread::available_parallelism().map_or(1, usize::from) {
                let jobs = jobs.clone();
                match std::thread::Builder::new()
                    .name(format!("argon2-{i}"))
                    .spawn(move || hash_worker(&jobs))
                {
                    Ok(_) => started += 1,
                    Err(e) => tracing::error!(error = %e, "argon2 thread not started"),
                }
            }
            (started > 0).then_some(queue)
        })
        .as_ref()
}

fn hash_worker(jobs: &HashJobs) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panicking job drops its answer (its caller gets `None`); the thread goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

pub(crate) async fn hash_password(password: &str) -> Result<String, ApiError> {
    let password = password.to_owned();
    argon2(move || crate::password::hash(&password))
        .await
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("password hashing did not finish")))?
        .map_err(|e| ApiError::validation("password", e.to_string()))
}

pub(crate) async fn verify_password(phc: &str, password: &str) -> bool {
    let (phc, password) = (phc.to_owned(), password.to_owned());
    argon2(move || {
        // Unknown or anonymized accounts verify against a dummy hash, so they take as long.
        let target = if phc.is_empty() {
            crate::password::dummy_hash()
        } else {
            phc.as_str()
        };
        crate::password::verify(target, &password) && !phc.is_empty()
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Lockout: failures counted per email in the cache backend, so unknown emails lock the same way
// known ones do (no enumeration), and a password reset clears it (no denial of service).

#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct Failures {
    count: u64,
    locked_until: Option<i64>,
}

fn lockout_key(state: &State, email: &str) -> String {
    format!("auth:lockout:{}", state.hash(&normalize_email(email)))
}

/// 429 while the email is locked.
pub(crate) async fn check_lockout(
    ctx: &CellContext,
    state: &State,
    email: &str,
) -> Result<(), ApiError> {
    let f: Option<Failures> = ctx.cache().global().get(&lockout_key(state, email)).await;
    if let Some(until) = f.and_then(|f| f.locked_until)
        && until > Utc::now().timestamp()
    {
        return Err(locked(until - Utc::now().timestamp()));
    }
    Ok(())
}

fn locked(secs: i64) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        "too many failed sign-in attempts: try again later, or reset your password",
    )
    .with_details(serde_json::json!({ "reason": "account_locked", "retry_after": secs.max(1) }))
}

/// Counts a failure; the threshold-th failure locks the email for `lockout_minutes`.
pub(crate) async fn record_failure(ctx: &CellContext, state: &State, email: &str) {
    let key = lockout_key(state, email);
    let cache = ctx.cache().global();
    let mut f: Failures = cache.get(&key).await.unwrap_or_default();
    f.count += 1;
    let window = Duration::from_secs(state.settings.lockout_minutes * 60);
    if f.count >= state.settings.lockout_threshold {
        f.locked_until = Some(Utc::now().timestamp() + window.as_secs() as i64);
        tracing::warn!(target: "security", "sign-in locked after repeated failures");
    }
    cache.set(&key, &f, Some(window)).await;
}

pub(crate) async fn clear_failures(ctx: &CellContext, state: &State, email: &str) {
    let _ = ctx
        .cache()
        .global()
        .invalidate(&lockout_key(state, email))
        .await;
}

/// Per-email and per-IP limits on credential endpoints (`rate_limit.groups.login`).
pub(crate) async fn limit_attempts(
    ctx: &CellContext,
    state: &State,
    what: &str,
    email: &str,
    info: &RequestInfo,
) -> Result<(), ApiError> {
    let limiter = ctx.rate_limiter();
    let email_key = format!("{what}:email:{}", state.hash(&normalize_email(email)));
    let ip_key = format!(
        "{what}:ip:{}",
        info.ip
            .map_or_else(|| "unknown".into(), |ip| ip.to_string())
    );
    for (group, subject) in [("login", email_key), ("login_ip", ip_key)] {
        if let Some(d) = limiter.hit(group, &subject, false).await
            && !d.allowed
        {
            return Err(
                ApiError::new(ErrorCode::RateLimited, "too many attempts; retry later")
                    .with_details(serde_json::json!({
                        "group": group,
                        "limit": d.limit,
                        "retry_after": d.reset_after.as_secs().max(1),
                    })),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sessions and tokens.

/// What a successful sign-in returns.
#[derive(Debug, Clone, Serialize, kernel::utoipa::ToSchema)]
pub struct TokenResponse {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub org_id: Option<Uuid>,
    pub role: Option<String>,
    pub session_id: Uuid,
}

/// The org a session acts for: `preferred` if the user is still a member, else their first.
pub(crate) async fn choose_org(
    ctx: &CellContext,
    user: Uuid,
    preferred: Option<Uuid>,
) -> Result<Option<(Uuid, String)>, ApiError> {
    if let Some(org) = preferred
        && let Some(role) = tenancy::role_in(ctx.db(), user, org).await?
    {
        return Ok(Some((org, role)));
    }
    let mine = tenancy::organizations_of(ctx.db(), user).await?;
    Ok(mine.into_iter().next().map(|m| (m.organization.id, m.role)))
}

pub(crate) fn access_token(
    state: &State,
    user: Uuid,
    session: Uuid,
    org: Option<&(Uuid, String)>,
) -> Result<String, ApiError> {
    let now = Utc::now().timestamp();
    state
        .keys
        .sign(Claims {
            iss: String::new(),
            aud: String::new(),
            sub: user,
            iat: now,
            exp: now + state.settings.access_ttl_secs as i64,
            jti: Uuid::now_v7(),
            sid: session,
            org: org.map(|o| o.0),
            roles: org.map(|o| vec![o.1.clone()]).unwrap_or_default(),
        })
        .map_err(db_err)
}

/// A new refresh token of `session`, stored hashed; returns the token.
pub(crate) async fn new_refresh_token<C: ConnectionTrait>(
    conn: &C,
    state: &State,
    session: Uuid,
) -> Result<String, ApiError> {
    let token =
        kernel::opaque::generate(32).map_err(|_| db_err(anyhow::anyhow!("no randomness")))?;
    refresh_token::ActiveModel {
        token_hash: Set(state.hash(&token)),
        session_id: Set(session),
        created_at: Set(Utc::now()),
        used_at: Set(None),
    }
    .insert(conn)
    .await
    .map_err(db_err)?;
    Ok(token)
}

/// Signs the user in: a new session (refresh family) acting for their preferred or first org.
pub(crate) async fn sign_in(
    ctx: &CellContext,
    state: &State,
    user: &user::Model,
    preferred_org: Option<Uuid>,
    info: &RequestInfo,
) -> Result<TokenResponse, ApiError> {
    let org = choose_org(ctx, user.id, preferred_org).await?;
    let now = Utc::now();
    let session_id = Uuid::now_v7();
    let txn = ctx.db().begin().await.map_err(db_err)?;
    session::ActiveModel {
        id: Set(session_id),
        user_id: Set(user.id),
        active_org_id: Set(org.as_ref().map(|o| o.0)),
        ip: Set(info.ip.map(|ip| ip.to_string())),
        user_agent: Set(info.user_agent.clone()),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(now + chrono::Duration::days(state.settings.refresh_ttl_days as i64)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(db_err)?;
    let refresh = new_refresh_token(&txn, state, session_id).await?;
    user::Entity::update_many()
        .col_expr(user::Column::LastLoginAt, Expr::value(now))
        .col_expr(
            user::Column::LoginCount,
            kernel::sea_orm::sea_query::ExprTrait::add(Expr::col(user::Column::LoginCount), 1),
        )
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    let mut view = UserView::from(user);
    view.last_login_at = Some(now);
    TokenResponse::issue(state, view, session_id, org, refresh)
}

impl TokenResponse {
    /// Signs an access token for `session` acting for `org`, next to its new refresh token.
    pub(crate) fn issue(
        state: &State,
        user: UserView,
        session_id: Uuid,
        org: Option<(Uuid, String)>,
        refresh_token: String,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            access_token: access_token(state, user.id, session_id, org.as_ref())?,
            user,
            refresh_token,
            token_type: "Bearer",
            expires_in: state.settings.access_ttl_secs,
            org_id: org.as_ref().map(|o| o.0),
            role: org.map(|o| o.1),
            session_id,
        })
    }
}

fn deny_key(session: Uuid) -> String {
    format!("auth:deny:{session}")
}

/// Whether the session's access tokens were revoked (logout) before they expire. The
/// deny-list in the cache answers; when the shared cache does not, the session's row does
/// (fails closed: a database error denies too).
pub(crate) async fn is_denied(ctx: &CellContext, session: Uuid) -> bool {
    match ctx
        .cache()
        .global()
        .try_get::<bool>(&deny_key(session))
        .await
    {
        Ok(hit) => hit.unwrap_or(false),
        Err(_) => match session::Entity::find_by_id(session)
            .one(ctx.db().conn())
            .await
        {
            Ok(Some(s)) => s.revoked_at.is_some(),
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(error = %e, "session check failed; token refused");
                true
            }
        },
    }
}

/// Revokes sessions (their refresh tokens stop working) and deny-lists their access tokens
/// until those expire. `None` for `except` revokes them all.
pub(crate) async fn revoke_sessions(
    ctx: &CellContext,
    state: &State,
    user: Uuid,
    only: Option<Uuid>,
    except: Option<Uuid>,
    reason: &str,
) -> Result<u64, ApiError> {
    let mut q = session::Entity::find()
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(id) = only {
        q = q.filter(session::Column::Id.eq(id));
    }
    if let Some(id) = except {
        q = q.filter(session::Column::Id.ne(id));
    }
    let sessions = q.all(ctx.db().conn()).await.map_err(db_err)?;
    if sessions.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(
            session::Column::RevokedReason,
            Expr::value(reason.to_owned()),
        )
        .filter(session::Column::Id.is_in(ids.clone()))
        .exec(ctx.db().conn())
        .await
        .map_err(db_err)?;
    let ttl = Duration::from_secs(state.settings.access_ttl_secs + 60);
    for id in &ids {
        ctx.cache()
            .global()
            .set(&deny_key(*id), &true, Some(ttl))
            .await;
    }
    Ok(ids.len() as u64)
}

// ---------------------------------------------------------------------------------------------
// One-time tokens.

pub(crate) async fn issue_one_time<C: ConnectionTrait>(
    conn: &C,
    state: &State,
    user: Uuid,
    purpose: &str,
    ttl: chrono::Duration,
) -> Result<String, ApiError> {
    let token =
        kernel::opaque::generate(32).map_err(|_| db_err(anyhow::anyhow!("no randomness")))?;
    let now = Utc::now();
    one_time_token::ActiveModel {
        token_hash: Set(state.hash(&token)),
        user_id: Set(user),
        purpose: Set(purpose.to_owned()),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(conn)
    .await
    .map_err(db_err)?;
    Ok(token)
}

/// Consumes a one-time token (atomically: a second use fails); returns its user. The write
/// comes first, so on SQLite the transaction holds the write lock before it reads anything.
pub(crate) async fn consume_one_time<C: ConnectionTrait>(
    conn: &C,
    state: &State,
    token: &str,
    purpose: &str,
) -> Result<Option<Uuid>, ApiError> {
    let hash = state.hash(token);
    let res = one_time_token::Entity::update_many()
        .col_expr(one_time_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(one_time_token::Column::TokenHash.eq(hash.clone()))
        .filter(one_time_token::Column::Purpose.eq(purpose))
        .filter(one_time_token::Column::UsedAt.is_null())
        .filter(one_time_token::Column::ExpiresAt.gt(Utc::now()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(one_time_token::Entity::find_by_id(hash)
        .one(conn)
        .await
        .map_err(db_err)?
        .map(|r| r.user_id))
}

/// Peeks at a one-time token without consuming it.
pub(crate) async fn peek_one_time<C: ConnectionTrait>(
    conn: &C,
    state: &State,
    token: &str,
    purpose: &str,
) -> Result<Option<Uuid>, ApiError> {
    let row = one_time_token::Entity::find_by_id(state.hash(token))
        .one(conn)
        .await
        .map_err(db_err)?;
    Ok(row
        .filter(|r| r.purpose == purpose && r.used_at.is_none() && r.expires_at > Utc::now())
        .map(|r| r.user_id))
}

/// What a mailed single-use link is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Link {
    /// Confirm the address (48 hours).
    Verify,
    /// Choose a new password (1 hour).
    Reset,
}

/// Issues a one-time token and queues the mail carrying its link, both through `conn` (the
/// caller's transaction): no mail for a token that was rolled back.
pub(crate) async fn mail_link<C: ConnectionTrait>(
    ctx: &CellContext,
    conn: &C,
    state: &State,
    user: Uuid,
    to: &str,
    first_name: Option<&str>,
    kind: Link,
) -> Result<(), ApiError> {
    let (purpose, ttl, template, path) = match kind {
        Link::Verify => (
            PURPOSE_VERIFY,
            chrono::Duration::days(2),
            "auth.verify_email",
            "/verify-email",
        ),
        Link::Reset => (
            PURPOSE_RESET,
            chrono::Duration::hours(1),
            "auth.reset_password",
            "/reset-password",
        ),
    };
    let token = issue_one_time(conn, state, user, purpose, ttl).await?;
    let context = serde_json::json!({
        "first_name": first_name,
        "link": link(ctx, path, &token),
        "token": token,
    });
    ctx.mail()
        .queue(conn, None, to, template, &context)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The absolute link in a mail: `<public base><path>?token=…`.
pub(crate) fn link(ctx: &CellContext, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", ctx.config().public_base())
}

pub(crate) fn role_of(state: &State, name: &str) -> Option<Role> {
    Role::resolve(name, &state.roles)
}

// ---------------------------------------------------------------------------------------------
// Audit: every auth event is appended to the kernel's audit log. Events of an org (a sign-in to
// it) are visible to its admins; the others (a failed sign-in) to the operator only.

/// Appends an auth event; a failure is logged, never returned (the event already happened).
pub(crate) async fn audit(
    ctx: &CellContext,
    action: &str,
    org: Option<Uuid>,
    user: Option<Uuid>,
    info: &RequestInfo,
    changes: Option<serde_json::Value>,
) {
    let mut entry = kernel::audit::AuditEntry::new(action).request(info);
    entry.actor_user_id = user;
    if let Some(u) = user {
        entry = entry.entity("user", u);
    }
    if let Some(c) = changes {
        entry = entry.changes(c);
    }
    let result = match org {
        Some(org) => {
            async {
                let tx = ctx.db().tenant(org).await?;
                ctx.audit().record_in(&tx, entry).await?;
                tx.commit().await
            }
            .await
        }
        None => ctx.audit().record(ctx.db().conn(), entry).await.map(|_| ()),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, action, "audit entry not recorded");
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashing_threads_answer_and_survive_a_panicking_job() {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        // More panicking jobs than threads: each thread must go on to the next job.
        for _ in 0..=threads {
            assert_eq!(super::argon2(|| -> u8 { panic!("boom") }).await, None);
        }
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..8 {
            jobs.spawn(super::argon2(|| {
                std::thread::current().name().map(str::to_owned)
            }));
        }
        let names: Vec<Option<String>> = jobs.join_all().await.into_iter().flatten().collect();
        assert_eq!(names.len(), 8, "every job answered");
        assert!(
            names
                .iter()
                .all(|n| n.as_deref().is_some_and(|n| n.starts_with("argon2-"))),
            "{names:?}"
        );
    }
}
