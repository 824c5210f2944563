//! Finishes a cell's OpenAPI document so that it states what the kernel does for every route,
//! which handlers cannot each be trusted to repeat: how callers authenticate, and the failures
//! any operation can answer (in the one error envelope).
//!
//! - **Security.** Every operation needs `bearerAuth` (an access token or an API key) unless its
//!   handler marks itself public with `security(())` in its `#[utoipa::path]` (sign-in, signed
//!   hooks and URLs, health); operator routes (an `admin` path segment) take `adminToken`.
//! - **Failures.** Each operation gets the statuses it can answer and has not declared: 400 (a
//!   bad query or path, a NUL character), 401/403 (secured operations), 404 (a path naming a
//!   record), 413/415/422 (a body: too large, not JSON, invalid), 429 (rate limits), 500 and 503,
//!   each with the `ErrorEnvelope` schema. A declared error status without content gets it too.
//! - **No NUL.** Every string the cell reads (body fields, query and path parameters) says that
//!   it holds no NUL character, which the cell refuses at the edge on every backend.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document, as served, with security and failure responses filled in. (utoipa's types do
/// not read back their own JSON, so the finished document stays JSON.)
pub fn finish(doc: &OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    finish_value(&mut value);
    value
}

/// The tags of `doc`'s operations, each once, in the order of its paths.
pub(crate) fn tags_of(doc: &OpenApi) -> Vec<String> {
    tags_in(&serde_json::to_value(doc).unwrap_or_default())
}

fn tags_in(value: &Value) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let paths = value["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values());
    for item in paths {
        for method in METHODS {
            let named = item[method]["tags"].as_array().into_iter().flatten();
            for tag in named.filter_map(Value::as_str) {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
    }
    tags
}

/// Lists the document's tags in `order` (Swagger UI groups operations in this order); a tag
/// `order` misses goes last, by name.
pub(crate) fn order_tags(doc: &mut Value, order: &[String]) {
    let mut used = tags_in(doc);
    used.sort_by_key(|t| {
        (
            order.iter().position(|o| o == t).unwrap_or(usize::MAX),
            t.clone(),
        )
    });
    if let Some(root) = doc.as_object_mut() {
        root.insert(
            "tags".into(),
            Value::Array(
                used.into_iter()
                    .map(|name| json!({ "name": name }))
                    .collect(),
            ),
        );
    }
}

fn finish_value(doc: &mut Value) {
    let Some(root) = doc.as_object_mut() else {
        return;
    };
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(components) = components {
        let schemes = components
            .entry("securitySchemes")
            .or_insert_with(|| json!({}));
        if let Some(schemes) = schemes.as_object_mut() {
            schemes.entry("bearerAuth").or_insert_with(|| {
                json!({
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token from `POST /auth/login` (a JWT), or an API key (`pk_live_…`, limited to its scopes)."
                })
            });
            schemes.entry("adminToken").or_insert_with(|| {
                json!({
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The cell's operator token (`CELL__CELL__ADMIN_TOKEN`)."
                })
            });
        }
    }
    root.insert("security".into(), json!([{ "bearerAuth": [] }]));
    if let Some(schemas) = root
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            forbid_nul(schema);
        }
    }
    let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                finish_operation(path, op);
            }
        }
    }
    unique_operation_ids(paths);
}

/// Makes every `operationId` unique, as OpenAPI requires (generated clients name their methods
/// after them). utoipa names an operation after its handler, and modules reuse names (`list`,
/// `create`): every operation of a shared name gets its resource appended (`list_boards`,
/// `list_boards_automations`: the path's words, without the `api`/`v1` prefix and the
/// parameters), and an operation whose name is shared again (with a name made so) then gets
/// its method. A name no other operation has stays.
fn unique_operation_ids(paths: &mut Map<String, Value>) {
    let ids = |paths: &Map<String, Value>| -> std::collections::HashMap<String, usize> {
        let mut count = std::collections::HashMap::new();
        for item in paths.values() {
            for method in METHODS {
                if let Some(id) = item[method]["operationId"].as_str() {
                    *count.entry(id.to_owned()).or_insert(0) += 1;
                }
            }
        }
        count
    };
    let resource = |path: &str| -> String {
        path.split('/')
            .filter(|s| !s.is_empty() && !s.starts_with('{'))
            .skip_while(|s| {
                *s == "api"
                    || (s.len() > 1
                        && s.starts_with('v')
                        && s[1..].bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|s| s.replace(['-', '.'], "_"))
            .collect::<Vec<_>>()
            .join("_")
    };
    // How many times each operation was renamed: first its resource, then its method.
    let mut renamed: std::collections::HashMap<(String, &str), usize> = Default::default();
    for _ in 0..3 {
        let count = ids(paths);
        if count.values().all(|n| *n < 2) {
            break;
        }
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                    continue;
                };
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                if count.get(id).copied().unwrap_or(0) < 2 {
                    continue;
                }
                let times = renamed.entry((path.clone(), method)).or_insert(0);
                let id = match *times {
                    0 => format!("{id}_{}", resource(path)),
                    _ => format!("{id}_{method}"),
                };
                *times += 1;
                op.insert("operationId".into(), Value::String(id));
            }
        }
    }
}

fn finish_operation(path: &str, op: &mut Map<String, Value>) {
    // `security(())` on the handler gives `[{}]`: nothing is required.
    let public = match op.get("security").and_then(Value::as_array) {
        Some(reqs) => reqs
            .iter()
            .all(|r| r.as_object().is_some_and(Map::is_empty)),
        None => false,
    };
    if public {
        op.insert("security".into(), json!([]));
    } else if path.split('/').any(|segment| segment == "admin") {
        op.insert("security".into(), json!([{ "adminToken": [] }]));
    }
    for parameter in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(schema) = parameter.get_mut("schema") {
            forbid_nul(schema);
        }
    }
    if let Some(body) = op.get_mut("requestBody") {
        forbid_nul(body);
    }
    let has_body = op.contains_key("requestBody");
    let names_record = path.contains('{');
    let mut add: Vec<(&str, &str)> =
        vec![("400", "The query string or a path parameter is malformed")];
    if !public {
        add.push((
            "401",
            "No valid credentials; `details.reason` says why (`authentication_required`, \
             `token_expired`: refresh it, `token_invalid`), as does `WWW-Authenticate`",
        ));
        add.push(("403", "The caller may not do this"));
    }
    if names_record {
        add.push(("404", "Nothing with this id, or not visible to the caller"));
    }
    if has_body {
        add.push(("413", "The body is larger than the cell accepts"));
        add.push((
            "415",
            "The body is not of a content type this operation reads",
        ));
        add.push((
            "422",
            "The body fails validation; `details` names the fields",
        ));
    }
    if !path.starts_with("/health/") {
        add.push(("429", "Rate limited; `Retry-After` says when to try again"));
    }
    add.push(("500", "An internal error (logged with the request id)"));
    add.push(("503", "The cell is not ready or too busy; retry later"));
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    for (status, description) in add {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description }));
    }
    for (status, response) in responses.iter_mut() {
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        if let Some(r) = response.as_object_mut()
            && !r.contains_key("content")
            && !r.contains_key("$ref")
        {
            r.insert(
                "content".into(),
                json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } }),
            );
        }
    }
}

/// What every free string matches: no NUL character.
const NO_NUL: &str = "^[^\\x00]*$";

/// Adds [`NO_NUL`] to every string schema under `schema` (beside a pattern it already has).
/// Formats, enumerations and constants already exclude NUL.
fn forbid_nul(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
                _ => false,
            };
            let constrained = [
                "format",
                "enum",
                "const",
                "contentEncoding",
                "contentMediaType",
            ]
            .iter()
            .any(|k| map.contains_key(*k));
            if is_string && !constrained {
                match map.get("pattern").and_then(Value::as_str) {
                    None => {
                        map.insert("pattern".into(), json!(NO_NUL));
                    }
                    Some(p) if p == NO_NUL => {}
                    Some(_) => {
                        let all = map.entry("allOf").or_insert_with(|| json!([]));
                        if let Some(all) = all.as_array_mut()
                            && !all.iter().any(|s| s["pattern"] == NO_NUL)
                        {
                            all.push(json!({ "pattern": NO_NUL }));
                        }
                    }
                }
            }
            for (key, value) in map.iter_mut() {
                if key != "example" && key != "examples" && key != "default" {
                    forbid_nul(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_nul),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_get_security_and_their_failures() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/v1/things/{id}": {
                    "patch": {"requestBody": {"content": {}}, "responses": {"200": {"description": "ok"}, "409": {"description": "taken"}}}
                },
                "/api/v1/auth/login": {
                    "post": {"security": [{}], "requestBody": {"content": {}}, "responses": {"200": {"description": "ok"}}}
                },
                "/admin/mail": {"get": {"responses": {}}}
            }
        });
        finish_value(&mut doc);
        let patch = &doc["paths"]["/api/v1/things/{id}"]["patch"];
        let codes: Vec<&String> = patch["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        for code in [
            "200", "400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503",
        ] {
            assert!(codes.iter().any(|c| *c == code), "{code}: {codes:?}");
        }
        assert_eq!(
            patch["responses"]["409"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorEnvelope"
        );
        assert!(
            patch.get("security").is_none(),
            "inherits the document's bearerAuth"
        );
        let login = &doc["paths"]["/api/v1/auth/login"]["post"];
        assert_eq!(login["security"], json!([]));
        assert!(
            login["responses"].get("401").is_none(),
            "public: no 401 added"
        );
        assert_eq!(
            doc["paths"]["/admin/mail"]["get"]["security"],
            json!([{"adminToken": []}])
        );
        assert_eq!(doc["security"], json!([{"bearerAuth": []}]));
        let again = doc.clone();
        let mut schema = json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": ["string", "null"], "pattern": "\\S"},
            "c": {"type": "string", "format": "uuid"}, "d": {"type": "array", "items": {"type": "string"}}}});
        forbid_nul(&mut schema);
        assert_eq!(schema["properties"]["a"]["pattern"], NO_NUL);
        assert_eq!(
            schema["properties"]["b"]["allOf"],
            json!([{"pattern": NO_NUL}])
        );
        assert!(schema["properties"]["c"].get("pattern").is_none());
        assert_eq!(schema["properties"]["d"]["items"]["pattern"], NO_NUL);
        finish_value(&mut doc);
        assert_eq!(doc, again, "idempotent");
    }
}
