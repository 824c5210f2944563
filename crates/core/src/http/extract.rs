//! Extractor configuration that turns every body, query and path failure into a precise
//! envelope error, and `ValidJson<T>`: JSON deserialized and then validated with garde.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req: &HttpRequest| json_error(err, limit).into())
}

pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let msg = match err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            other => format!("invalid query string: {other}"),
        };
        ApiError::invalid_query(msg).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req: &HttpRequest| {
        let PathError::Deserialize(e) = err else {
            return ApiError::bad_request("invalid path parameter").into();
        };
        ApiError::bad_request(format!("invalid path parameter: {e}")).into()
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body exceeds the limit of {limit} bytes"),
    )
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            too_large(limit)
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => too_large(limit),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected `Content-Type: application/json`",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the JSON does not match this endpoint: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {e}"))
        }
        other => ApiError::bad_request("the request body could not be read")
            .with_cause(anyhow::anyhow!("{other}")),
    }
}

/// A JSON body, deserialized with the path of any mismatch in the message
/// (`priority: invalid type: string "x", expected i32`) and then validated with garde (errors as
/// `validation_failed`, with a message per field). Prefer it to `web::Json` in module handlers.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate + 'static,
    T::Context: Default,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let limit = req
            .app_data::<crate::CellContext>()
            .map_or(DEFAULT_BODY_LIMIT, |c| c.config().http.body_limit);
        let is_json = req.mime_type().ok().flatten().is_some_and(|m| {
            m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON)
        });
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(json_error(JsonPayloadError::ContentType, limit).into());
            }
            let bytes = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => too_large(limit),
                _ => ApiError::bad_request("the request body could not be read")
                    .with_cause(anyhow::anyhow!("{e}")),
            })?;
            let value = parse_json::<T>(&bytes)?;
            value.validate().map_err(ApiError::from)?;
            Ok(ValidJson(value))
        })
    }
}

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Deserializes a JSON document; the error names the path of the first mismatch.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the JSON does not match this endpoint at `{path}`: {inner}"),
            )
        } else {
            ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// For PATCH bodies: `#[serde(default, deserialize_with = "kernel::http::nullable")]` on an
/// `Option<Option<T>>` gives `None` for an absent field and `Some(None)` for an explicit `null`,
/// so a client can clear a field.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[expect(dead_code, reason = "only deserialized")]
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[expect(dead_code, reason = "only deserialized")]
        qty: u32,
    }

    #[test]
    fn json_errors_name_the_path() {
        let e = parse_json::<Outer>(br#"{"items":[{"qty":1},{"qty":"two"}]}"#).err();
        let msg = e.map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(msg.contains("items[1].qty"), "{msg}");
        let e = parse_json::<Outer>(br#"{"items":[]} trailing"#).err();
        assert!(e.is_some_and(|e| e.message().contains("malformed")));
        let e = parse_json::<Outer>(br#"{"items": ["#).err();
        assert!(e.is_some_and(|e| e.message().contains("malformed")));
    }
}
