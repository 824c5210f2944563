//! Regressions of the outside probe's findings (issue 17) that live in auth: a deactivated
//! user's keys, a removed member's old token, keys managing keys, forgot-password's timing
//! (the same work whether the address is known), and the deny-list with Redis down.

use kernel::sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use testkit::TestApp;

use crate::support::{
    PASSWORD, cell, cell_with_env, code, invited_admin, jobs_settled, mail_count, mailed_token,
    query_one, signed_up,
};

async fn new_key(app: &TestApp, token: &str, scopes: Value) -> anyhow::Result<(String, String)> {
    let (status, body) = app
        .post(
            "/api/v1/api-keys",
            Some(token),
            json!({"name": "k", "scopes": scopes}),
        )
        .await?;
    anyhow::ensure!(status == 201, "key: {status} {body}");
    Ok((
        body["key"].as_str().unwrap_or_default().to_owned(),
        body["id"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Sets a user's status behind the API's back (as the owner connection: `users` is global).
async fn set_status(app: &TestApp, user: &str, status: &str) -> anyhow::Result<()> {
    let db = app.ctx.db().system();
    let sql = match db.backend() {
        DbBackend::Sqlite => "UPDATE users SET status = ? WHERE id = ?",
        _ => "UPDATE users SET status = $1 WHERE id = $2",
    };
    let id: uuid::Uuid = user.parse()?;
    let values: Vec<kernel::sea_orm::Value> = vec![status.into(), id.into()];
    db.conn()
        .execute_raw(Statement::from_sql_and_values(db.backend(), sql, values))
        .await?;
    Ok(())
}

testkit::db_test!(async fn a_deactivated_users_api_keys_die_with_the_user(db) {
    let app = cell(&db, "").await?;
    let (owner, _) = signed_up(&app, "owner@example.com").await?;
    let (ada, ada_id) = invited_admin(&app, &owner, "ada@example.com").await?;
    let (key, key_id) = new_key(&app, &ada, json!(["*"])).await?;
    let (key2, _) = new_key(&app, &ada, json!(["*"])).await?;
    // With the key: admin work in the org.
    let (status, body) = app.post("/api/v1/teams", Some(&key), json!({"name": "Before"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.get("/api/v1/audit", Some(&key)).await?.0, 200);

    // Checked on every request: a status changed behind the API's back stops the key at once.
    set_status(&app, &ada_id, "deactivated").await?;
    for (status, body) in [
        app.post("/api/v1/teams", Some(&key), json!({"name": "Sneaky"})).await?,
        app.get("/api/v1/audit", Some(&key)).await?,
        app.post("/api/v1/invitations", Some(&key), json!({"email": "eve@example.com", "role": "admin"})).await?,
    ] {
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{body}");
    }
    set_status(&app, &ada_id, "active").await?;
    assert_eq!(app.get("/api/v1/audit", Some(&key)).await?.0, 200, "active again");

    // Deactivation revokes every key of the user.
    let (status, body) = app
        .post("/api/v1/users/me/deactivate", Some(&ada), json!({"confirmation": "DEACTIVATE", "password": PASSWORD}))
        .await?;
    assert_eq!(status, 200, "{body}");
    for k in [&key, &key2] {
        let (status, body) = app.post("/api/v1/teams", Some(k), json!({"name": "After"})).await?;
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{body}");
    }
    let (_, keys) = app.get("/api/v1/api-keys", Some(&owner)).await?;
    let revoked = keys["data"].as_array().into_iter().flatten().filter(|k| !k["revoked_at"].is_null()).count();
    assert_eq!(revoked, 2, "{keys}");
    assert!(keys["data"].as_array().into_iter().flatten().any(|k| k["id"] == key_id.as_str()));
    Ok(())
});

testkit::db_test!(async fn a_removed_member_loses_admin_powers_at_once(db) {
    let app = cell(&db, "").await?;
    let (owner, tokens) = signed_up(&app, "owner@example.com").await?;
    let org = tokens["org_id"].as_str().unwrap_or_default().to_owned();
    let (x, x_id) = invited_admin(&app, &owner, "x@example.com").await?;
    // While a member, x's admin token works on the audit routes and makes keys.
    assert_eq!(app.get("/api/v1/audit", Some(&x)).await?.0, 200);
    let (status, export) = app.post("/api/v1/audit/export", Some(&x), json!({})).await?;
    assert_eq!(status, 202, "{export}");
    let export = export["id"].as_str().unwrap_or_default().to_owned();
    let (_, x_key) = new_key(&app, &x, json!(["teams:read"])).await?;

    let (status, body) = app.delete(&format!("/api/v1/organizations/{org}/members/{x_id}"), Some(&owner)).await?;
    assert_eq!(status, 204, "{body}");
    // auth hears tenancy's `tenancy.member.removed` (an event of one module, delivered to a
    // subscriber in another) and revokes x's keys in the org: the owner's list shows it.
    let mut revoked = serde_json::Value::Null;
    for _ in 0..250 {
        let (_, keys) = app.get("/api/v1/api-keys", Some(&owner)).await?;
        let key = keys["data"].as_array().into_iter().flatten().find(|k| k["id"] == x_key.as_str());
        revoked = key.map(|k| k["revoked_at"].clone()).unwrap_or_default();
        if !revoked.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(revoked.is_string(), "x's key was not revoked: {revoked}");
    // The same, still unexpired token: refused everywhere, at once.
    for (status, body) in [
        app.get("/api/v1/audit", Some(&x)).await?,
        app.post("/api/v1/audit/export", Some(&x), json!({})).await?,
        app.get(&format!("/api/v1/audit/export/{export}"), Some(&x)).await?,
        app.post("/api/v1/api-keys", Some(&x), json!({"name": "late", "scopes": ["*"]})).await?,
        app.get("/api/v1/api-keys", Some(&x)).await?,
    ] {
        assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    }
    // The owner still can; a member (not admin) cannot read the audit log.
    assert_eq!(app.get(&format!("/api/v1/audit/export/{export}"), Some(&owner)).await?.0, 200);
    let (status, body) = app.post("/api/v1/invitations", Some(&owner), json!({"email": "m@example.com", "role": "member"})).await?;
    assert_eq!(status, 201, "{body}");
    let token = mailed_token(&app, "m@example.com", "tenancy.invitation").await?;
    let (_, joined) = app.post("/api/v1/auth/register", None, json!({"email": "m@example.com", "password": PASSWORD, "invitation_token": token})).await?;
    let member = joined["access_token"].as_str().unwrap_or_default();
    assert_eq!(app.get("/api/v1/audit", Some(member)).await?.0, 403);
    Ok(())
});

testkit::db_test!(async fn api_keys_cannot_manage_api_keys(db) {
    let app = cell(&db, "").await?;
    let (owner, _) = signed_up(&app, "owner@example.com").await?;
    let (key, _) = new_key(&app, &owner, json!(["*"])).await?;
    let (_, other) = new_key(&app, &owner, json!(["*"])).await?;
    let (status, body) = app.delete(&format!("/api/v1/api-keys/{other}"), Some(&key)).await?;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    let (status, body) = app.get("/api/v1/api-keys", Some(&key)).await?;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    // The other key still works; the owner's session revokes it.
    assert_eq!(app.get("/api/v1/teams", Some(&key)).await?.0, 200);
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{other}"), Some(&owner)).await?.0, 204);
    Ok(())
});

testkit::db_test!(async fn forgot_password_does_the_same_work_for_unknown_addresses(db) {
    let app = cell(&db, "").await?;
    signed_up(&app, "ada@example.com").await?;
    jobs_settled(&app).await?;
    // Both answers are the same and each only enqueues a job: no mail exists before it runs.
    let (s1, a) = app.post("/api/v1/auth/forgot-password", None, json!({"email": "nobody@example.com"})).await?;
    let (s2, b) = app.post("/api/v1/auth/forgot-password", None, json!({"email": "ada@example.com"})).await?;
    assert_eq!((s1, s2, &a), (202, 202, &b));
    let queued = queued_jobs(&app, "auth.forgot_password").await?;
    assert_eq!(queued, 2, "one job per request, known or not");
    // The job mails the account only.
    assert_eq!(mail_count(&app, "ada@example.com", "auth.reset_password").await?, 1);
    assert_eq!(mail_count(&app, "nobody@example.com", "auth.reset_password").await?, 0);
    Ok(())
});

async fn queued_jobs(app: &TestApp, name: &str) -> anyhow::Result<i64> {
    let row = query_one(
        app,
        "SELECT count(*) AS n FROM kernel_jobs WHERE name = $1",
        &[name],
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no count"))?;
    Ok(row.try_get("", "n")?)
}

testkit::db_test!(async fn with_redis_down_logout_lockout_and_limits_still_hold(db) {
    // Redis configured for the cache and the limiter, on a port where nothing listens: every
    // call fails at once, as with a stopped Redis.
    let extra = "lockout_threshold = 3
[cache]
backend = \"redis\"
[rate_limit]
backend = \"redis\"
[rate_limit.groups.general]
limit = 1000
window_secs = 60
[rate_limit.groups.login]
limit = 100
window_secs = 900
[rate_limit.groups.tight]
limit = 3
window_secs = 600
[rate_limit.routes]
\"/api/v1/teams\" = \"tight\"
[redis]
timeout_ms = 500
";
    let app = cell_with_env(&db, extra, &[("CELL__REDIS__URL", "redis://127.0.0.1:1")]).await?;
    // Readiness says what is degraded, and the cell serves on.
    let (status, ready) = app.get("/health/ready", None).await?;
    assert_eq!((status, ready["status"].as_str()), (200, Some("degraded")), "{ready}");
    assert!(ready["checks"]["redis"].as_str().is_some_and(|r| r.starts_with("unreachable")), "{ready}");
    assert_eq!(ready["checks"]["database"], "ok");

    let (token, _) = signed_up(&app, "ada@example.com").await?;
    assert_eq!(app.get("/api/v1/users/me", Some(&token)).await?.0, 200);
    // Logout: the deny-list entry cannot be written to Redis, the session row says revoked.
    assert_eq!(app.post("/api/v1/auth/logout", Some(&token), json!({})).await?.0, 204);
    let (status, body) = app.get("/api/v1/users/me", Some(&token)).await?;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "a logged-out token: {body}");

    // Lockout counts in this instance's memory: the threshold locks even the right password.
    for _ in 0..3 {
        let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": "ada@example.com", "password": "Wrong-Passw0rd!"})).await?;
        assert_eq!(status, 401);
    }
    let (status, body) = app.post("/api/v1/auth/login", None, json!({"email": "ada@example.com", "password": PASSWORD})).await?;
    assert_eq!((status, body["error"]["details"]["reason"].as_str()), (429, Some("account_locked")), "{body}");

    // Rate limits count in memory too.
    let (other, _) = signed_up(&app, "bob@example.com").await?;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/teams", Some(&other)).await?.0, 200);
    }
    let (status, body) = app.get("/api/v1/teams", Some(&other)).await?;
    assert_eq!((status, code(&body)), (429, "rate_limited"), "{body}");
    Ok(())
});
