//! One error type for every HTTP failure, with stable snake_case codes from one table.
//!
//! The envelope is `{"error":{"code","message","details"?,"request_id","timestamp"}}`. The cause
//! (an `anyhow::Error`) and the caller's location go to the log, never to the client.

use std::fmt;
use std::panic::Location;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::http::request_id;

/// The code table. Adding a code is an API change: codes are stable once shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    InvalidQuery,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    InsufficientScope,
    NotFound,
    MethodNotAllowed,
    Conflict,
    /// What a link pointed at is no longer there for it (a revoked or expired review link).
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    InternalError,
    /// A service the cell calls (a payment provider) failed or refused: nothing was done.
    BadGateway,
    NotReady,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 17] = [
        Self::BadRequest,
        Self::InvalidJson,
        Self::InvalidQuery,
        Self::ValidationFailed,
        Self::Unauthorized,
        Self::Forbidden,
        Self::InsufficientScope,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::Gone,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::InternalError,
        Self::BadGateway,
        Self::NotReady,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidJson | Self::InvalidQuery => StatusCode::BAD_REQUEST,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Gone => StatusCode::GONE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::InvalidQuery => "invalid_query",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::InsufficientScope => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::Gone => "gone",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::InternalError => "internal_error",
            Self::BadGateway => "bad_gateway",
            Self::NotReady => "not_ready",
        }
    }

    /// The code a bare status maps to, for responses that carry no error of ours
    /// (a 405 from the router, a 404 from the default service).
    pub fn from_status(status: StatusCode) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.status() == status && *c != Self::InvalidJson && *c != Self::InvalidQuery)
            .unwrap_or(if status.is_server_error() {
                Self::InternalError
            } else {
                Self::BadRequest
            })
    }

    fn default_message(self) -> &'static str {
        match self {
            Self::BadRequest => "the request is not valid",
            Self::InvalidJson => "the request body is not valid JSON for this endpoint",
            Self::InvalidQuery => "the query string is not valid",
            Self::ValidationFailed => "the request failed validation",
            Self::Unauthorized => "authentication is required",
            Self::Forbidden => "you are not allowed to do this",
            Self::InsufficientScope => "the API key lacks the scope this needs",
            Self::NotFound => "no such resource",
            Self::MethodNotAllowed => "this method is not allowed on this resource",
            Self::Conflict => "the request conflicts with the current state",
            Self::Gone => "this is no longer available",
            Self::PayloadTooLarge => "the request body is too large",
            Self::UnsupportedMediaType => "unsupported content type",
            Self::RateLimited => "too many requests",
            Self::InternalError => "an internal error occurred",
            Self::BadGateway => "a service this cell depends on failed",
            Self::NotReady => "the service is not ready",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a handler returns. Build it with the constructors; attach the internal cause with
/// [`ApiError::with_cause`]. Only `code`, `message` and `details` reach the client.
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<serde_json::Value>,
    cause: Option<anyhow::Error>,
    location: &'static Location<'static>,
}

impl ApiError {
    #[track_caller]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            cause: None,
            location: Location::caller(),
        }
    }

    /// An error with the code's default message.
    #[track_caller]
    pub fn of(code: ErrorCode) -> Self {
        Self::new(code, code.default_message())
    }

    #[track_caller]
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    #[track_caller]
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidQuery, message)
    }

    #[track_caller]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    #[track_caller]
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    #[track_caller]
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    #[track_caller]
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// A `validation_failed` error about one field, shaped like garde's (`details.fields`).
    #[track_caller]
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(ErrorCode::ValidationFailed, format!("{field}: {message}"))
            .with_details(serde_json::json!({ "fields": { field: message } }))
    }

    /// An internal error: the client sees a generic message, the cause is logged.
    #[track_caller]
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::of(ErrorCode::InternalError).with_cause(cause)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// The envelope body for this error, stamped with the current request id.
    pub fn envelope(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
            "request_id": request_id::current().unwrap_or_default(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let (Some(details), Some(obj)) = (&self.details, error.as_object_mut()) {
            obj.insert("details".into(), details.clone());
        }
        serde_json::json!({ "error": error })
    }

    fn log(&self) {
        let location = format!("{}:{}", self.location.file(), self.location.line());
        let cause = self.cause.as_ref().map(|c| format!("{c:#}"));
        if self.code.status().is_server_error() {
            tracing::error!(code = %self.code, %location, cause = cause.as_deref(), "{}", self.message);
        } else {
            tracing::debug!(code = %self.code, %location, cause = cause.as_deref(), "{}", self.message);
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("details", &self.details)
            .field("cause", &self.cause)
            .field("location", &self.location)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut res = HttpResponse::build(self.status_code());
        if self.code == ErrorCode::Unauthorized {
            res.insert_header(("WWW-Authenticate", self.challenge()));
        }
        res.json(self.envelope())
    }
}

impl ApiError {
    /// A 401's `WWW-Authenticate` (RFC 6750): `Bearer`, with `error="invalid_token"` when the
    /// credentials sent were refused (`details.reason` says why).
    fn challenge(&self) -> String {
        let reason = self
            .details
            .as_ref()
            .and_then(|d| d["reason"].as_str())
            .unwrap_or_default();
        match reason {
            "token_expired" | "token_invalid" => format!(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{reason}\""
            ),
            _ => "Bearer realm=\"api\"".to_owned(),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    #[track_caller]
    fn from(e: sea_orm::DbErr) -> Self {
        match e {
            sea_orm::DbErr::RecordNotFound(_) => Self::of(ErrorCode::NotFound).with_cause(e),
            // Every pooled connection stayed busy for the pool's acquire timeout: the cell is
            // overloaded (the SQLite harness run saw it with writers queued behind a long score
            // job), not broken; the request did nothing and can be sent again.
            sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => Self::new(
                ErrorCode::NotReady,
                "the service is busy (no database connection came free in time); retry shortly",
            )
            .with_cause(e),
            other => match other.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    Self::conflict("a record with these values already exists").with_cause(other)
                }
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                    Self::conflict("a referenced record does not exist or is still in use")
                        .with_cause(other)
                }
                _ if is_transient(&other) => {
                    Self::conflict("a concurrent request conflicted with this one; retry it")
                        .with_cause(other)
                }
                _ => Self::internal(other),
            },
        }
    }
}

/// A deadlock or serialization failure (PostgreSQL `40P01`, `40001`): the database aborted this
/// transaction in favour of a concurrent one, and running it again is the remedy. Mapped to a
/// 409 `conflict` so callers that retry on conflicts (abm's ingestion) retry these too.
fn is_transient(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err))) = e
    else {
        return false;
    };
    err.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

impl From<garde::Report> for ApiError {
    #[track_caller]
    fn from(report: garde::Report) -> Self {
        let fields: serde_json::Map<String, serde_json::Value> = report
            .iter()
            .map(|(path, err)| (path.to_string(), err.message().to_string().into()))
            .collect();
        Self::of(ErrorCode::ValidationFailed).with_details(serde_json::json!({ "fields": fields }))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate code {s}");
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(s))
            );
        }
    }

    #[test]
    fn a_busy_pool_is_503_not_500() {
        let busy = ApiError::from(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::ConnAcquireErr::Timeout,
        ));
        assert_eq!(
            (busy.status_code(), busy.code()),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady)
        );
        let closed = ApiError::from(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::ConnAcquireErr::ConnectionClosed,
        ));
        assert_eq!(closed.code(), ErrorCode::InternalError);
    }

    #[test]
    fn status_maps_back_to_a_code() {
        assert_eq!(
            ErrorCode::from_status(StatusCode::NOT_FOUND),
            ErrorCode::NotFound
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::BAD_REQUEST),
            ErrorCode::BadRequest
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::BAD_GATEWAY),
            ErrorCode::BadGateway
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::GATEWAY_TIMEOUT),
            ErrorCode::InternalError
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn the_cause_never_reaches_the_envelope() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 at db"));
        let body = err.envelope().to_string();
        assert!(!body.contains("hunter2"), "{body}");
        assert!(body.contains("internal_error"));
    }
}

/// The error envelope, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code (`not_found`, `validation_failed`, …).
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub request_id: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(ErrorEnvelope, ErrorBody)))]
pub(crate) struct ErrorDocs;
