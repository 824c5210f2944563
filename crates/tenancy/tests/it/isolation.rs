//! Cross-org isolation: an admin of org A using org B's ids on every tenant route with an id
//! gets 404, never 403 or data, and B's data is unchanged.

use serde_json::json;
use testkit::db_test;

use crate::support::{Cell, OPERATOR, id, tok};

db_test!(async fn another_orgs_ids_are_not_found_everywhere(db) {
    let cell = Cell::start(&db).await?;
    let (alice, bob, carl) = (cell.user("alice@a.test"), cell.user("bob@b.test"), cell.user("carl@b.test"));
    let a = cell.org(alice, "Org A").await?;
    let b = cell.org(bob, "Org B").await?;
    cell.join(b, carl, "member").await?;
    cell.put("/api/v1/admin/feature-flags/beta", OPERATOR, json!({"enabled": false})).await?;

    // Org B's objects.
    let tb = tok(bob, b);
    let (_, team) = cell.post("/api/v1/teams", &tb, json!({"name": "B team"})).await?;
    let team = id(&team)?;
    cell.post(&format!("/api/v1/teams/{team}/members"), &tb, json!({"user_ids": [carl]})).await?;
    let (_, inv) = cell.post("/api/v1/invitations", &tb, json!({"email": "new@b.test"})).await?;
    let inv = id(&inv)?;
    let (_, setting) = cell.put("/api/v1/settings", &tb, json!({"scope": "org", "namespace": "ns", "key": "k", "value": 1})).await?;
    let setting = id(&setting)?;
    let (_, user_setting) = cell.put("/api/v1/settings", &tb, json!({"scope": "user", "namespace": "ns", "key": "k", "value": 2})).await?;
    let user_setting = id(&user_setting)?;
    let (_, ov) = cell.put("/api/v1/features/overrides", &tb, json!({"flag": "beta", "enabled": true})).await?;
    let ov = id(&ov)?;
    let b_paths = [
        format!("/api/v1/organizations/{b}"),
        format!("/api/v1/organizations/{b}/members?limit=100"),
        format!("/api/v1/teams/{team}"),
        format!("/api/v1/invitations/{inv}"),
        format!("/api/v1/settings/{setting}"),
        format!("/api/v1/settings/{user_setting}"),
        format!("/api/v1/features/overrides/{ov}"),
        "/api/v1/features".to_owned(),
    ];
    let before = snapshot(&cell, &tb, &b_paths).await?;

    // Alice is the owner (every permission) of org A, active in A.
    let ta = tok(alice, a);
    let empty = || json!({});
    let probes: Vec<(reqwest::Method, String, Option<serde_json::Value>)> = vec![
        (reqwest::Method::GET, format!("/api/v1/organizations/{b}"), None),
        (reqwest::Method::PATCH, format!("/api/v1/organizations/{b}"), Some(json!({"name": "pwned"}))),
        (reqwest::Method::GET, format!("/api/v1/organizations/{b}/members"), None),
        (reqwest::Method::GET, format!("/api/v1/organizations/{b}/members/{bob}"), None),
        (reqwest::Method::GET, format!("/api/v1/organizations/{a}/members/{bob}"), None),
        (reqwest::Method::PATCH, format!("/api/v1/organizations/{b}/members/{carl}"), Some(json!({"role": "admin"}))),
        (reqwest::Method::PATCH, format!("/api/v1/organizations/{a}/members/{carl}"), Some(json!({"role": "admin"}))),
        (reqwest::Method::DELETE, format!("/api/v1/organizations/{b}/members/{carl}"), None),
        (reqwest::Method::DELETE, format!("/api/v1/organizations/{a}/members/{carl}"), None),
        (reqwest::Method::POST, format!("/api/v1/organizations/{b}/leave"), Some(empty())),
        (reqwest::Method::POST, format!("/api/v1/organizations/{b}/transfer"), Some(json!({"new_owner_id": alice, "password": "pw:alice@a.test"}))),
        (reqwest::Method::GET, format!("/api/v1/teams/{team}"), None),
        (reqwest::Method::PATCH, format!("/api/v1/teams/{team}"), Some(json!({"name": "pwned"}))),
        (reqwest::Method::DELETE, format!("/api/v1/teams/{team}"), None),
        (reqwest::Method::POST, format!("/api/v1/teams/{team}/members"), Some(json!({"user_ids": [alice]}))),
        (reqwest::Method::DELETE, format!("/api/v1/teams/{team}/members/{carl}"), None),
        (reqwest::Method::GET, format!("/api/v1/invitations/{inv}"), None),
        (reqwest::Method::POST, format!("/api/v1/invitations/{inv}/resend"), Some(empty())),
        (reqwest::Method::DELETE, format!("/api/v1/invitations/{inv}"), None),
        (reqwest::Method::GET, format!("/api/v1/settings/{setting}"), None),
        (reqwest::Method::DELETE, format!("/api/v1/settings/{setting}"), None),
        (reqwest::Method::GET, format!("/api/v1/settings/{user_setting}"), None),
        (reqwest::Method::DELETE, format!("/api/v1/settings/{user_setting}"), None),
        (reqwest::Method::GET, format!("/api/v1/features/overrides/{ov}"), None),
        (reqwest::Method::DELETE, format!("/api/v1/features/overrides/{ov}"), None),
    ];
    for (method, path, body) in &probes {
        let (status, res) = cell.call(method.clone(), path, &ta, body.clone()).await?;
        assert_eq!(status, 404, "{method} {path}: {res}");
        assert_eq!(res["error"]["code"], "not_found", "{method} {path}");
    }
    // Carl, a member of B who is also in A, sees B only while B is his active org.
    cell.join(a, carl, "admin").await?;
    let (status, _) = cell.get(&format!("/api/v1/organizations/{b}"), &tok(carl, a)).await?;
    assert_eq!(status, 404);
    let (status, _) = cell.get(&format!("/api/v1/teams/{team}"), &tok(carl, a)).await?;
    assert_eq!(status, 404);
    let (status, _) = cell.get(&format!("/api/v1/teams/{team}"), &tok(carl, b)).await?;
    assert_eq!(status, 200);
    // A non-member naming B as their active org gets nothing either.
    for (method, path, body) in &probes {
        let path = path.replace(&a.to_string(), &b.to_string());
        let (status, _) = cell.call(method.clone(), &path, &tok(alice, b), body.clone()).await?;
        assert_eq!(status, 404, "{method} {path} as a non-member with B active");
    }
    // Lists in A show none of B's objects.
    for list in ["/api/v1/teams", "/api/v1/invitations", "/api/v1/features/overrides", "/api/v1/settings?scope=org"] {
        let (status, body) = cell.get(list, &ta).await?;
        assert_eq!((status, body["meta"]["total"].as_u64()), (200, Some(0)), "{list}");
    }
    let (_, body) = cell.get("/api/v1/features", &ta).await?;
    assert_eq!(body["flags"]["beta"], false, "B's override does not reach A");

    assert_eq!(snapshot(&cell, &tb, &b_paths).await?, before, "B's data changed");
    cell.finish(db).await
});

/// What B's owner sees of B's objects (minus update times).
async fn snapshot(
    cell: &Cell,
    token: &str,
    paths: &[String],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for p in paths {
        let (status, mut body) = cell.get(p, token).await?;
        anyhow::ensure!(status == 200, "{p}: {status} {body}");
        if let Some(o) = body.as_object_mut() {
            o.remove("updated_at");
        }
        out.push(body);
    }
    Ok(out)
}
