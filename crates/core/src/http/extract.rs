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
    web::PathConfig::default().error_handler(|err, req: &HttpRequest| {
        // `DELETE /invitations/accept` reached `DELETE /invitations/{id}` only because no
        // literal route serves DELETE: the literal path exists, so the answer is 405.
        if req
            .app_data::<super::allow::AllowedMethods>()
            .and_then(|t| t.literal(req.path()))
            .is_some()
        {
            return ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed on {}", req.method(), req.path()),
            )
            .into();
        }
        // A segment that cannot be what the route takes (`/folders/None` where an id goes)
        // names nothing here: 404, as for an id that exists nowhere.
        let PathError::Deserialize(e) = err else {
            return ApiError::not_found("no such resource: invalid path parameter").into();
        };
        ApiError::not_found(format!("no such resource: invalid path parameter ({e})")).into()
    })
}

/// The whole body of a route that takes more than `http.body_limit` (a provider's webhook with
/// a document inline), read from `web::Payload` up to `limit` bytes: 413 beyond, in the error
/// envelope like every other body.
pub async fn body_up_to(payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::bad_request("the request body could not be read")
            .with_cause(anyhow::anyhow!("{e}"))),
        Err(_) => Err(too_large(limit)),
    }
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

/// A JSON object body, deserialized with the path of any mismatch in the message
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
            // Every body is a JSON object: serde would also fill a struct from an array.
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(ApiError::new(
                    ErrorCode::InvalidJson,
                    "the body must be a JSON object",
                )
                .into());
            }
            let value = parse_json::<T>(&bytes)?;
            value.validate().map_err(ApiError::from)?;
            Ok(ValidJson(value))
        })
    }
}

/// A JSON object body that may be left out: a request without one (no `Content-Type`, no
/// length or length 0) is `None`; a body that is there is a [`ValidJson`], refused as it would
/// be (`POST /documents/{id}/submit-for-approval` takes an optional `{workflow_id}`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T> FromRequest for OptionalJson<T>
where
    T: DeserializeOwned + garde::Validate + 'static,
    T::Context: Default,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let headers = req.headers();
        let length = headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let chunked = headers.contains_key(actix_web::http::header::TRANSFER_ENCODING);
        let typed = headers.contains_key(actix_web::http::header::CONTENT_TYPE);
        if length.unwrap_or(0) == 0 && !chunked && !typed {
            return Box::pin(async { Ok(OptionalJson(None)) });
        }
        let body = ValidJson::<T>::from_request(req, payload);
        Box::pin(async move { body.await.map(|b| OptionalJson(Some(b.0))) })
    }
}

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Deserializes a JSON document; the error names the path of the first mismatch. A string
/// holding the NUL character (`\u0000`) is refused (422) on every backend alike: PostgreSQL
/// cannot store it in `text` or `jsonb`, and no field of ours has a use for it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes)
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = nul_path(&doc)
    {
        return Err(nul_refused(&path));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        // JSON Schema's integers include `375.0` (and so do the API document's clients): a
        // body with a whole number written with a fraction is read again with it as an
        // integer. Only such bodies pay for the second read.
        Err(e) if e.inner().is_data() && e.inner().to_string().starts_with(FLOAT) => {
            let mut doc: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
            if !whole_floats_to_integers(&mut doc) {
                return Err(mismatch(e));
            }
            return serde_path_to_error::deserialize(doc).map_err(mismatch);
        }
        Err(e) => return Err(mismatch(e)),
    };
    de.end().map_err(malformed)?;
    Ok(value)
}

const FLOAT: &str = "invalid type: floating point";

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {e}"))
}

fn mismatch(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_data() {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the JSON does not match this endpoint at `{path}`: {inner}"),
        )
    } else {
        malformed(inner)
    }
}

/// Rewrites every number of `value` that is whole but written with a fraction (`375.0`) as an
/// integer; whether it rewrote any.
/// Rewrites every one of `values` (no short-circuit); whether it rewrote any.
fn rewrite_all<'v>(values: impl Iterator<Item = &'v mut serde_json::Value>) -> bool {
    let mut any = false;
    for v in values {
        any |= whole_floats_to_integers(v);
    }
    any
}

fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                // Exact: |f| < 2^53.
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => rewrite_all(items.iter_mut()),
        Value::Object(map) => rewrite_all(map.values_mut()),
        _ => false,
    }
}

/// Whether a JSON text may hold a `\u0000` escape (a raw NUL byte is not valid JSON): a cheap
/// scan, so only such rare bodies are walked by [`nul_path`].
pub fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        // `\\u0000` is an escaped backslash followed by text: count the backslashes before.
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// The path (`items[1].name`, or `{key}` for an object key) of the first string of `value`
/// that holds the NUL character, if any.
pub fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v).map(|rest| format!("[{i}]{rest}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(".{key}".to_owned());
            }
            nul_path(v).map(|rest| format!(".{k}{rest}"))
        }),
        _ => None,
    }
}

/// An optional text field: [`trimmed`] when it holds more than blanks, none otherwise (a blank
/// optional text is no value, as clients send `""` for "nothing").
pub fn trimmed_optional(
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match raw {
        Some(v) if !v.trim_matches(is_schema_space).is_empty() => trimmed(field, &v, max).map(Some),
        _ => Ok(None),
    }
}

/// A name-like text field as a client sent it: 1 to `max` characters as sent (the limit the
/// document states), not blank; kept trimmed. 422 on `field` otherwise. Declare the field
/// `#[schema(min_length = 1, max_length = <max>, pattern = r"\S")]`: blank is what that pattern
/// says it is ([`is_schema_space`]).
pub fn trimmed(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let text = raw.trim_matches(is_schema_space);
    if raw.chars().count() > max || text.is_empty() {
        return Err(ApiError::validation(
            field,
            format!("must be 1 to {max} characters, not blank"),
        ));
    }
    Ok(text.to_owned())
}

/// Whitespace as the OpenAPI document's patterns define it (ECMA-262's `\s`), so "not blank"
/// means what a client's validator says. Rust's `char::is_whitespace` differs: it counts U+0085
/// (NEXT LINE) and not U+FEFF.
pub fn is_schema_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// A module's state, as the module [provided](crate::CellContext::provide) it in `on_ready`:
/// the one way a handler reaches it (`settings: State<Settings>`). 500 when nothing provided
/// it: the module's bug, not the caller's.
#[derive(Debug)]
pub struct State<T>(pub std::sync::Arc<T>);

impl<T> std::ops::Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromRequest for State<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req
            .app_data::<crate::CellContext>()
            .and_then(crate::CellContext::service::<T>)
            .map(State)
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "no module provided {}",
                    std::any::type_name::<T>()
                ))
            });
        std::future::ready(state)
    }
}

/// 422 for a NUL character at `path` (as [`nul_path`] gives it).
pub fn nul_refused(path: &str) -> ApiError {
    let field = path.trim_start_matches('.');
    let field = if field.is_empty() { "body" } else { field };
    ApiError::validation(field, "must not contain the NUL character (U+0000)")
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

/// For a count or size: `#[serde(deserialize_with = "kernel::http::whole_number")]` on a `u64`
/// also takes `16636.0`, which JSON Schema (and so the API document, and the clients checked
/// against it) calls an integer; a fraction or a negative number is refused.
pub fn whole_number<'de, D>(d: D) -> Result<u64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f) => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!(
            "invalid value: {n}, expected a whole number of at least 0"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct Size {
            #[serde(deserialize_with = "whole_number")]
            size: u64,
        }
        let size = |json: &str| serde_json::from_str::<Size>(json).map(|s| s.size).ok();
        assert_eq!(size(r#"{"size": 16636}"#), Some(16636));
        assert_eq!(size(r#"{"size": 16636.0}"#), Some(16636));
        assert_eq!(size(r#"{"size": 1.5}"#), None);
        assert_eq!(size(r#"{"size": -1}"#), None);
        assert_eq!(size(r#"{"size": "3"}"#), None);
    }

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
    fn blank_is_what_the_documents_pattern_says() {
        // `\S` in an ECMA-262 pattern matches U+0085, so the document calls it a name.
        assert_eq!(
            trimmed("name", "\u{85}", 10).ok().as_deref(),
            Some("\u{85}")
        );
        assert_eq!(
            trimmed("name", " Ada\u{feff} ", 10).ok().as_deref(),
            Some("Ada")
        );
        for blank in ["", " \t", "\u{feff}\u{a0}", "\u{3000}"] {
            assert!(trimmed("name", blank, 10).is_err(), "{blank:?}");
        }
        assert!(trimmed("name", &"a".repeat(11), 10).is_err());
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

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        assert!(parse_json::<Outer>(br#"{"items":[{"qty":1},{"qty":375.0}]}"#).is_ok());
        for (body, path) in [
            (
                &br#"{"items":[{"qty":1.0},{"qty":2.5}]}"#[..],
                "items[1].qty",
            ),
            (br#"{"items":[{"qty":-1.0}]}"#, "items[0].qty"),
            (br#"{"items":[{"qty":1e300}]}"#, "items[0].qty"),
        ] {
            let e = parse_json::<Outer>(body).err();
            let msg = e.map(|e| e.message().to_owned()).unwrap_or_default();
            assert!(msg.contains(path), "{msg}");
        }
    }

    #[test]
    fn nul_characters_are_refused_with_their_path() {
        let refused = |body: &[u8]| {
            parse_json::<serde_json::Value>(body)
                .err()
                .map(|e| (e.code(), e.message().to_owned()))
        };
        let refusal = refused(br#"{"a":{"b":["x","y\u0000z"]}}"#);
        assert!(
            refusal
                .as_ref()
                .is_some_and(|(code, msg)| *code == ErrorCode::ValidationFailed
                    && msg.starts_with("a.b[1]: ")),
            "{refusal:?}"
        );
        assert!(refused(br#"{"k\u0000":1}"#).is_some(), "in a key");
        // An escaped backslash followed by the text `u0000` is no NUL.
        assert_eq!(refused(br#"{"a":"\\u0000"}"#), None);
        assert_eq!(
            refused(br#"{"a":"\\\u0000"}"#).map(|e| e.0),
            Some(ErrorCode::ValidationFailed)
        );
        assert!(!has_nul_escape(br#"{"a":"plain"}"#));
    }
}
