//! Who is calling. The cell's authenticator (provided by the identity module through
//! `PlatformModule::authenticator`) identifies the caller once per request, before rate limits,
//! and the result is available to every handler as the `Caller` extractor; [`RequestInfo`] adds
//! the request id, client address and user agent.
//!
//! API keys are limited to their scopes by the marker of each handler (`Scoped<P, Read<S>>`
//! needs `S:read`, see [`super::access`]); `S:write` implies read, `S:*` both, and `*` grants
//! everything.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use crate::context::CellContext;
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Decision;

/// An organization role. Cells may name more roles in `[cell.roles]`, each mapped onto one of
/// these; code only ever compares platform roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// A platform role by name (`owner`, `admin`, `member`, `viewer`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "viewer" => Some(Self::Viewer),
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// A platform role or one of the cell's aliases (`sales_rep` → member).
    pub fn resolve(
        name: &str,
        aliases: &std::collections::BTreeMap<String, String>,
    ) -> Option<Self> {
        Self::parse(name).or_else(|| aliases.get(name).and_then(|r| Self::parse(r)))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user; for an API key, the user who created it (the key acts with at most their
    /// role, further limited by its scopes).
    pub user_id: Uuid,
    /// The active organization.
    pub org_id: Option<Uuid>,
    /// The role in the active organization, as the cell names it (`sales_rep`), as the token
    /// carried it when issued: for display, never for access (see [`super::Scoped`]).
    pub role_name: Option<String>,
    /// The platform role it maps onto.
    pub role: Option<Role>,
    /// Set when the request authenticated with an API key.
    pub api_key_id: Option<Uuid>,
    /// What an API key may do; `None` for user sessions (everything their role allows).
    pub scopes: Option<Vec<String>>,
    /// The session (refresh-token family) of a user's access token.
    pub session_id: Option<Uuid>,
}

impl Caller {
    /// A signed-in user with no active organization and no key.
    pub fn user(user_id: Uuid) -> Self {
        Self {
            user_id,
            org_id: None,
            role_name: None,
            role: None,
            api_key_id: None,
            scopes: None,
            session_id: None,
        }
    }

    /// The rate-limit subject: the API key, else the user.
    pub fn subject(&self) -> String {
        match self.api_key_id {
            Some(k) => format!("key:{k}"),
            None => format!("user:{}", self.user_id),
        }
    }

    /// The active organization, or 403 when the caller has none.
    pub fn org(&self) -> Result<Uuid, ApiError> {
        self.org_id.ok_or_else(|| {
            ApiError::forbidden("no active organization: switch to one with POST /auth/switch-org")
        })
    }

    /// Refuses API keys: for credential and account management, which only the user may do.
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.api_key_id {
            None => Ok(()),
            Some(_) => Err(ApiError::forbidden(
                "API keys cannot do this; sign in as the user",
            )),
        }
    }

    /// Whether the caller may use `scope` (`tasks:read`). Sessions may use every scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        let Some(scopes) = &self.scopes else {
            return true;
        };
        let (resource, action) = scope.split_once(':').unwrap_or((scope, ""));
        scopes.iter().any(|s| {
            s == "*"
                || s == scope
                || (action == "read" && s.strip_suffix(":write") == Some(resource))
                || s.strip_suffix(":*") == Some(resource)
        })
    }

    /// 403 `insufficient_scope` unless the caller has `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::InsufficientScope,
            format!("this API key lacks the `{scope}` scope"),
        )
        .with_details(serde_json::json!({ "required_scope": scope })))
    }
}

/// Why the credentials a request carried were refused: what its 401 says (`details.reason`
/// and the `WWW-Authenticate` header), so a client knows whether to refresh or to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A token the cell signed, past its expiry: refresh it.
    Expired,
    /// Anything else: malformed, signed by another key, revoked, an unknown API key.
    Invalid,
}

impl Refused {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Expired => "token_expired",
            Self::Invalid => "token_invalid",
        }
    }
}

/// The 401 of a request without a caller: why, from what the authenticator said of its
/// credentials (`authentication_required` when it carried none).
fn unauthenticated(req: &HttpRequest) -> ApiError {
    let (reason, message) = match req.extensions().get::<Refused>().copied() {
        Some(Refused::Expired) => (
            Refused::Expired.reason(),
            "the access token has expired: refresh it, or sign in again",
        ),
        Some(Refused::Invalid) => (
            Refused::Invalid.reason(),
            "the credentials are not valid: malformed, revoked, or not issued by this service",
        ),
        None => (
            "authentication_required",
            "authentication is required: send `Authorization: Bearer <token>`",
        ),
    };
    ApiError::new(ErrorCode::Unauthorized, message)
        .with_details(serde_json::json!({ "reason": reason }))
}

/// Identifies callers from the request head. At most one module of a cell provides one (the
/// identity module; what other modules may ask it about users is [`crate::identity`]). Its
/// futures run on the request's worker thread (`?Send`), like handlers.
#[async_trait::async_trait(?Send)]
pub trait Authenticator: Send + Sync {
    /// `Ok(None)` for anonymous requests; `Err` for credentials that do not verify, saying
    /// why. Handlers that need a caller answer 401 through the `Caller` extractor, with the
    /// reason.
    async fn authenticate(
        &self,
        ctx: &CellContext,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, Refused>;

    /// The public keys that verify this cell's access tokens, served at
    /// `/.well-known/jwks.json` so other services can verify them.
    fn jwks(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Who asks a permission question, with what a conditional permission may depend on: the
/// address the request came from and when it was made (iam's caveats read them as `client_ip`
/// and `now`). Outside a request (a job acting for a user) there is no address.
#[derive(Debug, Clone)]
pub struct Asker {
    pub user: Uuid,
    pub client_ip: Option<IpAddr>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Asker {
    /// `user`, now, from no particular address.
    pub fn user(user: Uuid) -> Self {
        Self {
            user,
            client_ip: None,
            at: chrono::Utc::now(),
        }
    }
}

/// Decides whether a user holds a permission on an object of their organization, against the
/// permission graph as it is now (never the role an access token carried, so a removal or
/// demotion applies to the next request). The permission module provides it (iam); handlers
/// reach it through [`Scoped`](super::Scoped). At most one module of a cell provides one.
#[async_trait::async_trait(?Send)]
pub trait Authorizer: Send + Sync {
    /// Whether the asker holds `namespace:object_id#permission` in the transaction's
    /// organization, read in `tx`. An object id the permission module cannot hold answers 400.
    async fn check(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        asker: &Asker,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError>;

    /// The users who hold `namespace:object_id#permission` in the transaction's organization
    /// (an approval step's team or role, to notify them), read in `tx`.
    async fn holders(
        &self,
        ctx: &CellContext,
        tx: &crate::TenantTx,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<Vec<Uuid>, ApiError>;
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| unauthenticated(req)),
        )
    }
}

/// The request's id, client address and user agent, for audit records and security events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub request_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestInfo {
    pub fn of(req: &HttpRequest) -> Self {
        let behind_proxy = req
            .app_data::<CellContext>()
            .is_some_and(|c| c.config().http.behind_proxy);
        Self {
            request_id: crate::http::request_id::current(),
            ip: client_ip(req, behind_proxy),
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
        }
    }
}

impl FromRequest for RequestInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The client address: the peer, or behind a trusted proxy (`http.behind_proxy`) the address
/// the proxy appended last to `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest, behind_proxy: bool) -> Option<IpAddr> {
    if behind_proxy {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// Authenticates the caller, then applies the rate limit of the request's route group.
pub(crate) async fn identify_and_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(ctx) = req.app_data::<CellContext>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if let Some(auth) = ctx.authenticator() {
        match auth.authenticate(&ctx, req.request()).await {
            Ok(Some(caller)) => {
                req.extensions_mut().insert(caller);
            }
            Ok(None) => {}
            Err(refused) => {
                req.extensions_mut().insert(refused);
            }
        }
    }
    let limiter = ctx.rate_limiter();
    let group = match limiter.config().enabled {
        true => limiter.config().group_of(req.path()).map(str::to_owned),
        false => None,
    };
    let Some(group) = group else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let caller = req.extensions().get::<Caller>().cloned();
    let subject = caller
        .as_ref()
        .map(Caller::subject)
        .or_else(|| {
            client_ip(req.request(), ctx.config().http.behind_proxy).map(|ip| format!("ip:{ip}"))
        })
        .unwrap_or_else(|| "ip:unknown".into());
    let mut decisions: Vec<Decision> = Vec::with_capacity(2);
    decisions.extend(limiter.hit(&group, &subject, false).await);
    if let Some(org) = caller.as_ref().and_then(|c| c.org_id) {
        decisions.extend(limiter.hit(&group, &format!("org:{org}"), true).await);
    }
    // The binding decision: a refusal if any, else the one with the least room left.
    let binding = decisions
        .iter()
        .copied()
        .min_by_key(|d| (d.allowed, d.remaining));
    let Some(d) = binding else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !d.allowed {
        metrics::counter!("rate_limited_total", "group" => group.clone()).increment(1);
        let err = ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many requests for `{group}`: the limit is {}; retry later",
                d.limit
            ),
        )
        .with_details(serde_json::json!({ "group": group, "limit": d.limit }));
        // `from_error` keeps the error attached, so the outer middleware keeps this envelope.
        let mut res = actix_web::HttpResponse::from_error(err);
        let retry = d.reset_after.as_secs_f64().ceil().max(1.0) as u64;
        set(res.headers_mut(), "retry-after", retry);
        set(res.headers_mut(), "x-ratelimit-limit", d.limit);
        set(res.headers_mut(), "x-ratelimit-remaining", 0);
        let (http_req, _) = req.into_parts();
        return Ok(ServiceResponse::new(http_req, res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    set(res.headers_mut(), "x-ratelimit-limit", d.limit);
    set(res.headers_mut(), "x-ratelimit-remaining", d.remaining);
    Ok(res)
}

fn set(headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value: u64) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str]) -> Caller {
        Caller {
            api_key_id: Some(Uuid::nil()),
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            ..Caller::user(Uuid::nil())
        }
    }

    #[test]
    fn scopes() {
        assert!(Caller::user(Uuid::nil()).has_scope("tasks:write"));
        let k = key(&["tasks:read", "contacts:write", "files:*"]);
        assert!(k.has_scope("tasks:read"));
        assert!(!k.has_scope("tasks:write"));
        assert!(k.has_scope("contacts:read"));
        assert!(k.has_scope("contacts:write"));
        assert!(k.has_scope("files:write"));
        assert!(!k.has_scope("deals:read"));
        assert!(key(&["*"]).has_scope("anything:write"));
        assert!(key(&[]).require_scope("tasks:read").is_err());
    }

    #[test]
    fn roles_order_and_aliases() {
        assert!(
            Role::Owner > Role::Admin && Role::Admin > Role::Member && Role::Member > Role::Viewer
        );
        let aliases = [("sales_rep".to_owned(), "member".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(Role::resolve("sales_rep", &aliases), Some(Role::Member));
        assert_eq!(Role::resolve("admin", &aliases), Some(Role::Admin));
        assert_eq!(Role::resolve("boss", &aliases), None);
        assert!(Caller::user(Uuid::nil()).org().is_err(), "no org");
    }
}
