//! The outermost middleware of every cell: request id and span, panic containment, the error
//! envelope for every failure, security headers, request metrics and the access log line.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode};
use crate::http::request_id;

const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The docs UI loads its own script and styles from this origin (vendored Swagger UI).
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    let id = request_id::from_headers(req.headers());
    let path = req.path().to_owned();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %crate::opaque::redact_path(&path),
        status = tracing::field::Empty,
    );

    // The request is not cloned before the call: the router needs it uniquely owned.
    let refusal = refuse_at_the_edge(&req);
    // Only a request that cannot change anything may read from a replica that lags.
    let reads_may_lag = matches!(*req.method(), Method::GET | Method::HEAD);
    let call = AssertUnwindSafe(async move {
        match refusal {
            Some(err) => Ok(req.error_response(err)),
            None if reads_may_lag => crate::replica::lagging_reads(next.call(req))
                .await
                .map(ServiceResponse::map_into_boxed_body),
            None => next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body),
        }
    })
    .catch_unwind();
    let outcome = request_id::scope(id.clone(), call)
        .instrument(span.clone())
        .await;
    let (status, route, result) = request_id::scope(id.clone(), async {
        match outcome {
            Ok(Ok(res)) => {
                let mut res = res.map_into_boxed_body();
                super::allow::complete(&mut res);
                let mut res = envelope(res);
                let route = res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into());
                finish_headers(res.headers_mut(), &id, &path);
                expose_access(&mut res);
                (res.status(), route, Ok(res))
            }
            // A middleware below failed before producing a response; no request is left to
            // build a `ServiceResponse` from, so the dispatcher sends this pre-rendered one.
            Ok(Err(err)) => {
                let status = err.as_response_error().status_code();
                let _enter = span.enter();
                tracing::debug!(error = %err, "service error");
                let api = ApiError::of(ErrorCode::from_status(status));
                (
                    status,
                    "unmatched".into(),
                    Err(prerendered(&api, status, &id, &path)),
                )
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                let _enter = span.enter();
                tracing::error!(panic = %message, "handler panicked; answered 500");
                let api = ApiError::of(ErrorCode::InternalError);
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (
                    status,
                    "unmatched".into(),
                    Err(prerendered(&api, status, &id, &path)),
                )
            }
        }
    })
    .await;

    let elapsed = start.elapsed().as_secs_f64();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.as_str().to_owned()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed);

    span.record("status", status.as_u16());
    let latency_ms = (elapsed * 1000.0 * 1000.0).round() / 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
    });
    result
}

/// What no route may see: a NUL character in the path or the query string (`%00`), which
/// PostgreSQL cannot store or compare: 400 on every backend alike, before any handler runs.
fn refuse_at_the_edge(req: &ServiceRequest) -> Option<ApiError> {
    if req.query_string().contains("%00") {
        return Some(ApiError::invalid_query(
            "the query string must not contain the NUL character (%00)",
        ));
    }
    if req.uri().path().contains("%00") {
        return Some(ApiError::bad_request(
            "the path must not contain the NUL character (%00)",
        ));
    }
    None
}

fn prerendered(err: &ApiError, status: StatusCode, id: &str, path: &str) -> actix_web::Error {
    let mut res = HttpResponse::build(status).json(err.envelope());
    finish_headers(res.headers_mut(), id, path);
    actix_web::error::InternalError::from_response(err.message().to_owned(), res).into()
}

/// Gives every failure the envelope: our own errors already carry it; framework errors (router
/// 404/405, extractor errors not mapped by a config) and bare error statuses get one here.
fn envelope(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if res
        .response()
        .error()
        .is_some_and(|e| e.as_error::<ApiError>().is_some())
    {
        return res;
    }
    if let Some(e) = res.response().error() {
        tracing::debug!(error = %e, "framework error");
    }
    let err = ApiError::of(ErrorCode::from_status(status));
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(err.envelope());
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, new)
}

fn finish_headers(headers: &mut header::HeaderMap, id: &str, path: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static(request_id::HEADER), v);
    }
    let csp = if path.starts_with("/api-docs") {
        DOCS_CSP
    } else {
        API_CSP
    };
    let set = [
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, csp),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// `x-cell-access` (see [`super::access`]) when the cell is configured to expose it.
fn expose_access(res: &mut ServiceResponse<BoxBody>) {
    use actix_web::HttpMessage;
    let exposed = res
        .request()
        .app_data::<crate::CellContext>()
        .is_some_and(|ctx| ctx.config().http.expose_access);
    if !exposed {
        return;
    }
    let access = res
        .request()
        .extensions()
        .get::<super::Access>()
        .map(ToString::to_string);
    if let Some(value) = access.and_then(|a| HeaderValue::from_str(&a).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static(super::access::ACCESS_HEADER), value);
    }
}
