//! The request id: accepted from `X-Request-Id` (or its alias `X-Correlation-Id`) when it is a
//! sane token, generated (UUID v7) otherwise, echoed on the response, present in every log line
//! of the request (a field of its span) and in every error envelope.

use actix_web::http::header::HeaderMap;

pub const HEADER: &str = "x-request-id";
pub const ALIAS: &str = "x-correlation-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.clone()).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The caller's id if it is 1–128 characters of `[A-Za-z0-9._:-]`; anything else (log
/// injection, oversized values) is replaced by a fresh id.
pub fn from_headers(headers: &HeaderMap) -> String {
    [HEADER, ALIAS]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok())
        .find(|v| is_valid(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

fn is_valid(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accepts_a_sane_id_and_its_alias() {
        assert_eq!(from_headers(&headers(&[(HEADER, "abc-123")])), "abc-123");
        assert_eq!(from_headers(&headers(&[(ALIAS, "corr.9")])), "corr.9");
        assert_eq!(
            from_headers(&headers(&[(HEADER, "first"), (ALIAS, "second")])),
            "first"
        );
    }

    #[test]
    fn replaces_unsafe_ids() {
        for bad in ["", "has space", "quote\"", "{json}"] {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(bad) {
                h.insert(HeaderName::from_static(HEADER), v);
            }
            let id = from_headers(&h);
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        let long = "a".repeat(129);
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&long) {
            h.insert(HeaderName::from_static(HEADER), v);
        }
        assert_ne!(from_headers(&h), long);
    }
}
