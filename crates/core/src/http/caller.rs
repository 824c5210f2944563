//! Who is calling. The cell's authenticator (provided by the identity module through
//! `PlatformModule::authenticator`) identifies the caller once per request, before rate limits,
//! and the result is available to every handler as the `Caller` extractor.

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

/// The authenticated caller of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Option<Uuid>,
    /// The active organization.
    pub org_id: Option<Uuid>,
    /// Set when the request authenticated with an API key.
    pub api_key_id: Option<Uuid>,
}

impl Caller {
    /// The rate-limit subject: the API key, else the user.
    pub fn subject(&self) -> Option<String> {
        self.api_key_id
            .map(|k| format!("key:{k}"))
            .or_else(|| self.user_id.map(|u| format!("user:{u}")))
    }
}

/// Identifies callers from the request head. At most one module of a cell provides one. Its
/// future runs on the request's worker thread (`?Send`), like handlers.
#[async_trait::async_trait(?Send)]
pub trait Authenticator: Send + Sync {
    /// `None` for anonymous requests and for credentials that do not verify (handlers that need
    /// a caller answer 401 through the `Caller` extractor).
    async fn authenticate(&self, ctx: &CellContext, req: &HttpRequest) -> Option<Caller>;
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| ApiError::of(ErrorCode::Unauthorized)),
        )
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
    if let Some(auth) = ctx.authenticator()
        && let Some(caller) = auth.authenticate(&ctx, req.request()).await
    {
        req.extensions_mut().insert(caller);
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
        .and_then(Caller::subject)
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
