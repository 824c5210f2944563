//! Feature flags: operator routes for global flags, org overrides, resolution for the caller.

use serde_json::json;
use testkit::db_test;

use crate::support::{Cell, OPERATOR, fields, id, tok};

db_test!(async fn flags_resolve_user_org_percentage_default(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let other_owner = cell.user("other@example.com");
    let other = cell.org(other_owner, "Other").await?;
    let (member, admin) = (cell.user("m@example.com"), cell.user("a@example.com"));
    cell.join(org, member, "member").await?;
    cell.join(org, admin, "admin").await?;
    let (a, m) = (tok(admin, org), tok(member, org));
    let err = |e: kernel::ApiError| anyhow::anyhow!("{e:?}");

    // Global flags belong to the operator token, not to users (owners included).
    let flag = json!({"description": "Kanban", "enabled": false});
    let (status, _) = cell.put("/api/v1/admin/feature-flags/kanban_view", &tok(owner, org), flag.clone()).await?;
    assert_eq!(status, 401);
    let (status, _) = cell.app.call(reqwest::Method::PUT, "/api/v1/admin/feature-flags/kanban_view", None, Some(flag.clone())).await?;
    assert_eq!(status, 401);
    let (status, body) = cell.put("/api/v1/admin/feature-flags/kanban_view", OPERATOR, flag).await?;
    assert_eq!((status, body["overridable"].as_bool()), (200, Some(true)), "{body}");
    let (status, body) = cell.put("/api/v1/admin/feature-flags/Bad Key", OPERATOR, json!({"enabled": true})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["key".to_owned()]));
    let (status, body) = cell.put("/api/v1/admin/feature-flags/x", OPERATOR, json!({"enabled": true, "rules": [{"type": "percentage", "value": 150, "enabled": true}]})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["rules[0].value".to_owned()]));
    let (status, _) = cell.put("/api/v1/admin/feature-flags/x", OPERATOR, json!({"enabled": true, "rules": [{"type": "planet"}]})).await?;
    assert_eq!(status, 400);
    cell.put("/api/v1/admin/feature-flags/ai_summary", OPERATOR, json!({"enabled": true})).await?;

    let flags = |b: &serde_json::Value| b["flags"].clone();
    let (status, body) = cell.get("/api/v1/features", &m).await?;
    assert_eq!((status, flags(&body)), (200, json!({"ai_summary": true, "kanban_view": false})));
    let (status, _) = cell.get("/api/v1/features", &owner.to_string()).await?;
    assert_eq!(status, 403, "no active org");

    // Org overrides: admins set them; they apply to the org, then a user override wins.
    let (status, _) = cell.put("/api/v1/features/overrides", &m, json!({"flag": "kanban_view", "enabled": true})).await?;
    assert_eq!(status, 403, "members do not override");
    let (status, body) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "nope", "enabled": true})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["flag".to_owned()]));
    let (status, body) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "kanban_view", "userId": other_owner, "enabled": true})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["user_id".to_owned()]), "only members of the org");
    let (status, body) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "kanban_view", "enabled": true})).await?;
    assert_eq!((status, body["scope"].as_str()), (200, Some("org")), "{body}");
    let org_override = id(&body)?;
    let (status, body) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "kanban_view", "user_id": member, "enabled": false})).await?;
    assert_eq!((status, body["user_id"].as_str()), (200, Some(member.to_string().as_str())));
    let (_, body) = cell.get("/api/v1/features", &a).await?;
    assert_eq!(flags(&body)["kanban_view"], true, "org override");
    let (_, body) = cell.get("/api/v1/features", &m).await?;
    assert_eq!(flags(&body)["kanban_view"], false, "user override");
    let (_, body) = cell.get("/api/v1/features", &tok(other_owner, other)).await?;
    assert_eq!(flags(&body)["kanban_view"], false, "another org is untouched");
    assert!(tenancy::feature_enabled(cell.ctx().db(), "kanban_view", org, Some(admin)).await.map_err(err)?);
    assert!(!tenancy::feature_enabled(cell.ctx().db(), "kanban_view", org, Some(member)).await.map_err(err)?);
    assert!(tenancy::feature_enabled(cell.ctx().db(), "kanban_view", org, None).await.map_err(err)?);
    assert!(!tenancy::feature_enabled(cell.ctx().db(), "unknown_flag", org, None).await.map_err(err)?);
    let (_, body) = cell.get("/api/v1/features/overrides", &m).await?;
    assert_eq!(body["meta"]["total"], 2, "members read the overrides");
    let (status, _) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "kanban_view", "enabled": true})).await?;
    assert_eq!(status, 200);
    let (_, body) = cell.get("/api/v1/features/overrides?filter[scope]=org", &a).await?;
    assert_eq!(body["meta"]["total"], 1, "an override is replaced, not duplicated");

    // Global rules: a user rule beats the org override; percentage rollout for the rest.
    let rules = json!({"enabled": false, "rules": [
        {"type": "user", "ids": [admin], "enabled": false},
        {"type": "percentage", "value": 100, "enabled": true}
    ]});
    let (status, _) = cell.patch("/api/v1/admin/feature-flags/kanban_view", OPERATOR, rules).await?;
    assert_eq!(status, 200);
    let (_, body) = cell.get("/api/v1/features", &a).await?;
    assert_eq!(flags(&body)["kanban_view"], false, "global user rule");
    let (_, body) = cell.get("/api/v1/features", &tok(other_owner, other)).await?;
    assert_eq!(flags(&body)["kanban_view"], true, "100 % rollout");

    // A pinned flag ignores overrides and refuses new ones.
    let (_, body) = cell.patch("/api/v1/admin/feature-flags/kanban_view", OPERATOR, json!({"overridable": false, "rules": []})).await?;
    assert_eq!(body["overridable"], false);
    let (_, body) = cell.get("/api/v1/features", &m).await?;
    assert_eq!(flags(&body)["kanban_view"], false);
    let (_, body) = cell.get("/api/v1/features", &a).await?;
    assert_eq!(flags(&body)["kanban_view"], false, "the org override no longer counts");
    let (status, _) = cell.put("/api/v1/features/overrides", &a, json!({"flag": "kanban_view", "enabled": true})).await?;
    assert_eq!(status, 409);
    let (status, body) = cell.get("/api/v1/admin/feature-flags", OPERATOR).await?;
    assert_eq!((status, body["meta"]["total"].as_u64()), (200, Some(2)));
    let (status, _) = cell.get("/api/v1/admin/feature-flags/none", OPERATOR).await?;
    assert_eq!(status, 404);

    // Overrides are deleted by admins.
    let (status, _) = cell.delete(&format!("/api/v1/features/overrides/{org_override}"), &m).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.delete(&format!("/api/v1/features/overrides/{org_override}"), &a).await?;
    assert_eq!(status, 204);
    let (status, _) = cell.get(&format!("/api/v1/features/overrides/{org_override}"), &a).await?;
    assert_eq!(status, 404);
    cell.finish(db).await
});
