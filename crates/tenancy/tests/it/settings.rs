//! Settings: org, user and module scopes over HTTP, and the typed public API.

use serde_json::json;
use testkit::db_test;

use crate::support::{Cell, fields, id, tok};
use tenancy::SettingScope;

db_test!(async fn settings_by_scope_with_typed_defaults(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (member, viewer) = (cell.user("m@example.com"), cell.user("v@example.com"));
    cell.join(org, member, "member").await?;
    cell.join(org, viewer, "viewer").await?;
    let (a, m, v) = (tok(owner, org), tok(member, org), tok(viewer, org));
    let err = |e: kernel::ApiError| anyhow::anyhow!("{e:?}");
    let db_ = cell.ctx().db().clone();

    // Typed get with a default, before anything is stored.
    let tz: String = tenancy::get_setting(&db_, &SettingScope::user(org, viewer), "profile", "timezone", "UTC".to_owned()).await.map_err(err)?;
    assert_eq!(tz, "UTC");

    // Org settings: admins write, everyone reads.
    let branding = json!({"scope": "org", "namespace": "branding", "key": "color", "value": {"primary": "#EF4444"}});
    let (status, _) = cell.put("/api/v1/settings", &m, branding.clone()).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.put("/api/v1/settings", &a, branding.clone()).await?;
    assert_eq!((status, body["scope_id"].as_str()), (200, Some(org.to_string().as_str())), "{body}");
    let org_setting = id(&body)?;
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "org", "namespace": "branding", "key": "color", "value": "blue"})).await?;
    assert_eq!((status, id(&body)?), (200, org_setting), "replaced in place");
    let (status, body) = cell.get("/api/v1/settings?scope=org&namespace=branding", &v).await?;
    assert_eq!((status, body["data"][0]["value"].clone(), body["meta"]["total"].as_u64()), (200, json!("blue"), Some(1)));

    // User settings: anyone's own, viewers included; invisible to others.
    let (status, body) = cell.put("/api/v1/settings", &v, json!({"scope": "user", "namespace": "profile", "key": "timezone", "value": "Europe/Paris"})).await?;
    assert_eq!(status, 200, "{body}");
    let viewer_tz = id(&body)?;
    let tz: String = tenancy::get_setting(&db_, &SettingScope::user(org, viewer), "profile", "timezone", "UTC".to_owned()).await.map_err(err)?;
    assert_eq!(tz, "Europe/Paris");
    let other: String = tenancy::get_setting(&db_, &SettingScope::user(org, member), "profile", "timezone", "UTC".to_owned()).await.map_err(err)?;
    assert_eq!(other, "UTC", "per user");
    let (_, body) = cell.get("/api/v1/settings?scope=user", &m).await?;
    assert_eq!(body["meta"]["total"], 0);
    let (status, _) = cell.get(&format!("/api/v1/settings/{viewer_tz}"), &a).await?;
    assert_eq!(status, 404, "another user's setting, even for the owner");
    let (status, _) = cell.delete(&format!("/api/v1/settings/{viewer_tz}"), &a).await?;
    assert_eq!(status, 404);
    let (status, body) = cell.get(&format!("/api/v1/settings/{viewer_tz}"), &v).await?;
    assert_eq!((status, body["value"].clone()), (200, json!("Europe/Paris")));

    // A stored value of the wrong type gives the default instead of an error.
    cell.put("/api/v1/settings", &v, json!({"scope": "user", "namespace": "profile", "key": "page_size", "value": "lots"})).await?;
    let n: u32 = tenancy::get_setting(&db_, &SettingScope::user(org, viewer), "profile", "page_size", 25).await.map_err(err)?;
    assert_eq!(n, 25);

    // Module settings.
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "module", "namespace": "pipeline", "key": "stages", "value": ["new", "won"]})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["module".to_owned()]));
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "module", "module": "crm", "namespace": "pipeline", "key": "stages", "value": ["new", "won"]})).await?;
    assert_eq!((status, body["scope_id"].as_str()), (200, Some("crm")));
    let stages: Vec<String> = tenancy::get_setting(&db_, &SettingScope::module(org, "crm"), "pipeline", "stages", vec![]).await.map_err(err)?;
    assert_eq!(stages, vec!["new", "won"]);
    let all = tenancy::settings_in(&db_, &SettingScope::org(org), "branding").await.map_err(err)?;
    assert_eq!(all.get("color"), Some(&json!("blue")));

    // Validation: field names in 422, malformed JSON 400, unknown query keys 400.
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "galaxy", "namespace": "x", "key": "y", "value": 1})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["scope".to_owned()]));
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "org", "namespace": "Bad Space", "key": "y", "value": 1})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["namespace".to_owned()]));
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "org", "namespace": "x", "key": "", "value": 1})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["key".to_owned()]));
    let big = "x".repeat(70_000);
    let (status, body) = cell.put("/api/v1/settings", &a, json!({"scope": "org", "namespace": "x", "key": "big", "value": big})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["value".to_owned()]));
    let (status, _) = cell.put("/api/v1/settings", &a, json!({"scope": "org", "namespace": "x", "key": "y"})).await?;
    assert_eq!(status, 400, "value is required");
    let (status, _) = cell.raw(reqwest::Method::PUT, "/api/v1/settings", &a, "[1, 2").await?;
    assert_eq!(status, 400);
    let (status, _) = cell.get("/api/v1/settings?scope=org&colour=red", &a).await?;
    assert_eq!(status, 400);
    let (status, _) = cell.get("/api/v1/settings", &a).await?;
    assert_eq!(status, 400, "scope is required");

    // Deleting: the readers get their default again.
    let (status, _) = cell.delete(&format!("/api/v1/settings/{org_setting}"), &m).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.delete(&format!("/api/v1/settings/{org_setting}"), &a).await?;
    assert_eq!(status, 204);
    let color: String = tenancy::get_setting(&db_, &SettingScope::org(org), "branding", "color", "none".to_owned()).await.map_err(err)?;
    assert_eq!(color, "none");
    cell.finish(db).await
});

db_test!(async fn concurrent_writes_of_several_orgs_all_succeed(db) {
    let cell = Cell::start(&db).await?;
    let mut tokens = Vec::new();
    for i in 0..4 {
        let owner = cell.user(&format!("o{i}@example.com"));
        let org = cell.org(owner, &format!("Org {i}")).await?;
        tokens.push(tok(owner, org));
    }
    for round in 0..3 {
        let writes = tokens.iter().enumerate().map(|(i, t)| {
            let cell = &cell;
            async move {
                let body = json!({"scope": "org", "namespace": "ns", "key": format!("k{i}"), "value": round});
                let setting = cell.put("/api/v1/settings", t, body).await?;
                let team = cell.post("/api/v1/teams", t, json!({"name": format!("T{round}")})).await?;
                let invite = cell.post("/api/v1/invitations", t, json!({"email": format!("r{round}@example.com")})).await?;
                anyhow::Ok([setting.0, team.0, invite.0])
            }
        });
        for r in futures_util::future::join_all(writes).await {
            assert_eq!(r?, [200, 201, 201], "round {round}");
        }
    }
    cell.finish(db).await
});
