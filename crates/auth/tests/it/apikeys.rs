//! API keys: shown once, scoped, revocable at once, confined to their org.

use serde_json::json;

use crate::support::{cell, code, signed_up};

testkit::db_test!(async fn api_keys_are_scoped_revocable_and_isolated(db) {
    let app = cell(&db, "").await?;
    let (alice, _) = signed_up(&app, "alice@example.com").await?;
    let (bob, _) = signed_up(&app, "bob@example.com").await?;

    let (status, body) = app.post("/api/v1/api-keys", Some(&alice), json!({"name": "Zapier", "scopes": ["account:read", "tasks:write"]})).await?;
    assert_eq!(status, 201, "{body}");
    let key = body["key"].as_str().unwrap_or_default().to_owned();
    let key_id = body["id"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("pk_live_") && key.len() >= 8 + 32 + 1 + 43, "{key}");
    assert!(body["prefix"].as_str().is_some_and(|p| p.starts_with("pk_live_") && key.contains(&p[8..])));
    // Invalid scopes and past expiry are refused.
    let (status, body) = app.post("/api/v1/api-keys", Some(&alice), json!({"name": "x", "scopes": ["tasks:delete"]})).await?;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app.post("/api/v1/api-keys", Some(&alice), json!({"name": "x", "scopes": ["*"], "expires_at": "2001-01-01T00:00:00Z"})).await?;
    assert_eq!(status, 422);

    // The key acts as Alice within its scopes.
    let (status, me) = app.get("/api/v1/users/me", Some(&key)).await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "alice@example.com");
    let (status, body) = app.patch("/api/v1/users/me", Some(&key), json!({"first_name": "Mallory"})).await?;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"), "{body}");
    assert_eq!(body["error"]["details"]["required_scope"], "account:write");
    let (status, body) = app.get("/api/v1/api-keys", Some(&key)).await?;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert_eq!(body["error"]["details"]["required_scope"], "api-keys:read");
    // Each route declares its scope: a key for reading teams reads teams, and nothing else.
    let (_, teams) = app.post("/api/v1/api-keys", Some(&alice), json!({"name": "teams", "scopes": ["teams:read"]})).await?;
    let teams_key = teams["key"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.get("/api/v1/teams", Some(&teams_key)).await?.0, 200);
    let (status, body) = app.post("/api/v1/teams", Some(&teams_key), json!({"name": "Sneaky"})).await?;
    assert_eq!((status, body["error"]["details"]["required_scope"].clone()), (403, json!("teams:write")), "{body}");
    let (status, body) = app.get("/api/v1/settings?scope=org", Some(&teams_key)).await?;
    assert_eq!((status, body["error"]["details"]["required_scope"].clone()), (403, json!("settings:read")), "{body}");
    let (status, body) = app.get("/api/v1/users/me", Some(&teams_key)).await?;
    assert_eq!((status, body["error"]["details"]["required_scope"].clone()), (403, json!("account:read")), "{body}");
    // Even a key with every scope cannot manage credentials.
    let (_, all) = app.post("/api/v1/api-keys", Some(&alice), json!({"name": "all", "scopes": ["*"]})).await?;
    let all_key = all["key"].as_str().unwrap_or_default().to_owned();
    let (status, body) = app.post("/api/v1/api-keys", Some(&all_key), json!({"name": "child", "scopes": ["*"]})).await?;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let (status, _) = app.post("/api/v1/users/me/change-password", Some(&all_key), json!({"current_password": "x", "new_password": "y"})).await?;
    assert_eq!(status, 403);
    // A wrong secret with a real key id fails.
    let forged = format!("{}{}", &key[..key.len() - 4], "AAAA");
    assert_eq!(app.get("/api/v1/users/me", Some(&forged)).await?.0, 401);

    // Lists show no secrets; Bob sees none of Alice's keys and cannot revoke them.
    let (status, list) = app.get("/api/v1/api-keys", Some(&alice)).await?;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["total"], 3);
    assert!(!list.to_string().contains(&key[20..]), "no secret in lists");
    let (_, theirs) = app.get("/api/v1/api-keys", Some(&bob)).await?;
    assert_eq!(theirs["meta"]["total"], 0);
    let (status, body) = app.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&bob)).await?;
    assert_eq!((status, code(&body)), (404, "not_found"));
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await?.0, 200, "still works");

    // Revocation takes effect on the next request.
    let (status, _) = app.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&alice)).await?;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await?.0, 401);

    // On PostgreSQL all of the above ran as the application role; every table with an org_id
    // (api_keys among them, seeded above) is invisible to it without an org context.
    if let Some(role) = &app.role {
        let tables = testkit::assert_rls_everywhere(db.url(), role.name()).await?;
        let keys = tables.iter().find(|(t, _)| t == "api_keys").map(|(_, n)| *n);
        assert_eq!(keys, Some(3), "{tables:?}");
        assert!(tables.iter().any(|(t, n)| t == "memberships" && *n >= 2), "{tables:?}");
    }
    Ok(())
});
