//! The methods each path serves, from the cell's OpenAPI document, for the `Allow` header every
//! 405 answer carries (RFC 9110 §15.5.6).

use actix_web::dev::ResourceDef;
use actix_web::http::header::{self, HeaderValue};

/// Path templates with the methods they serve. Built once per cell, shared by its workers.
#[derive(Clone, Default)]
pub(crate) struct AllowedMethods(std::sync::Arc<Vec<(ResourceDef, HeaderValue)>>);

impl AllowedMethods {
    /// From the document, plus the kernel's routes that are not in it.
    pub(crate) fn of(doc: &serde_json::Value) -> Self {
        let mut table = Vec::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            let methods: Vec<&str> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                .into_iter()
                .filter(|m| item.get(m.to_ascii_lowercase()).is_some())
                .collect();
            if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
                table.push((ResourceDef::new(path.as_str()), value));
            }
        }
        for path in ["/metrics", "/.well-known/jwks.json", super::DOCS_PATH] {
            table.push((ResourceDef::new(path), HeaderValue::from_static("GET")));
        }
        // A literal path (`/invitations/accept`) wins over a template it also fits
        // (`/invitations/{id}`), as the router's own order does for the methods it serves.
        table.sort_by_key(|(def, _)| {
            def.is_prefix() || def.pattern().is_none_or(|p| p.contains('{'))
        });
        Self(std::sync::Arc::new(table))
    }

    /// The `Allow` value of a literal path (no template), if `path` is one.
    pub(crate) fn literal(&self, path: &str) -> Option<HeaderValue> {
        self.0
            .iter()
            .find(|(def, _)| def.pattern() == Some(path))
            .map(|(_, v)| v.clone())
    }

    /// The `Allow` value for a concrete path, if a template matches it.
    pub(crate) fn for_path(&self, path: &str) -> Option<HeaderValue> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, v)| v.clone())
    }
}

/// Adds `Allow` to a 405 answer that has none.
pub(crate) fn complete(res: &mut actix_web::dev::ServiceResponse<actix_web::body::BoxBody>) {
    if res.status() != actix_web::http::StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(header::ALLOW)
    {
        return;
    }
    let allow = res
        .request()
        .app_data::<AllowedMethods>()
        .and_then(|t| t.for_path(res.request().path()));
    if let Some(allow) = allow {
        res.headers_mut().insert(header::ALLOW, allow);
    }
}
