//! Registration, sign-in, refresh, sign-out, password reset and change, verification,
//! profile, deactivation — end to end over HTTP.

use serde_json::json;

use crate::support::{
    PASSWORD, cell, code, comparable, login, mail_count, mailed_token, signed_up,
};

testkit::db_test!(async fn register_login_me_and_no_enumeration(db) {
    let app = cell(&db, "").await?;
    let (status, first) = app
        .post("/api/v1/auth/register", None, json!({"email": "Ada@Example.com", "password": PASSWORD, "firstName": "Ada"}))
        .await?;
    assert_eq!(status, 202, "{first}");
    // The same email again: the same answer, but a different mail to the owner.
    let (status, again) = app
        .post("/api/v1/auth/register", None, json!({"email": "ada@example.com", "password": PASSWORD}))
        .await?;
    assert_eq!((status, &again), (202, &first));
    assert_eq!(mail_count(&app, "ada@example.com", "auth.verify_email").await?, 1);
    assert_eq!(mail_count(&app, "ada@example.com", "auth.account_exists").await?, 1);

    // Weak, common and short passwords are refused with the rules broken.
    for bad in ["short1!A", "alllowercase-and-long-1", "Password123!"] {
        let (status, body) = app
            .post("/api/v1/auth/register", None, json!({"email": "bob@example.com", "password": bad}))
            .await?;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["error"]["details"]["fields"]["password"].is_string(), "{body}");
    }
    // A 70-character passphrase is fine.
    let long = format!("{}A1!", "correct horse battery staple ".repeat(3));
    assert!(long.len() >= 64);
    let (status, _) = app
        .post("/api/v1/auth/register", None, json!({"email": "long@example.com", "password": long}))
        .await?;
    assert_eq!(status, 202);
    let (status, body) = app.post("/api/v1/auth/register", None, json!({"email": "not-an-email", "password": PASSWORD})).await?;
    assert_eq!((status, code(&body)), (422, "validation_failed"));

    // Sign in (before verification too), then the profile and the personal org.
    let tokens = login(&app, "ADA@example.com", PASSWORD).await?;
    let access = tokens["access_token"].as_str().unwrap_or_default();
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    assert_eq!(tokens["role"], "owner");
    assert_eq!(tokens["expires_in"], 900);
    let (status, me) = app.get("/api/v1/users/me", Some(access)).await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["email_verified"], false);
    assert!(me.get("password_hash").is_none() && me.get("mfa_secret").is_none());
    let (_, orgs) = app.get("/api/v1/users/me/organizations", Some(access)).await?;
    assert_eq!(orgs["data"][0]["id"], tokens["org_id"]);
    assert_eq!(orgs["data"][0]["personal"], true);

    // Unknown email and wrong password: the same answer.
    let (s1, unknown) = app.post("/api/v1/auth/login", None, json!({"email": "nobody@example.com", "password": PASSWORD})).await?;
    let (s2, wrong) = app.post("/api/v1/auth/login", None, json!({"email": "ada@example.com", "password": "Wrong-password-1"})).await?;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(comparable(unknown), comparable(wrong));
    let actions = crate::support::audit_actions(&app).await?;
    let count = |name: &str| actions.iter().filter(|(a, _)| a == name).count();
    assert_eq!(count("auth.login_failed"), 2, "{actions:?}");
    assert!(actions.iter().any(|(a, org)| a == "auth.login" && org.map(|o| o.to_string()).as_deref() == tokens["org_id"].as_str()), "{actions:?}");
    assert!(actions.iter().any(|(a, _)| a == "auth.registered"));
    // Forgot-password: the same answer for both; only the account gets a mail.
    let (s1, a) = app.post("/api/v1/auth/forgot-password", None, json!({"email": "nobody@example.com"})).await?;
    let (s2, b) = app.post("/api/v1/auth/forgot-password", None, json!({"email": "ada@example.com"})).await?;
    assert_eq!((s1, s2, &a), (202, 202, &b));
    assert_eq!(mail_count(&app, "nobody@example.com", "auth.reset_password").await?, 0);
    assert_eq!(mail_count(&app, "ada@example.com", "auth.reset_password").await?, 1);

    // Verification works once.
    let token = mailed_token(&app, "ada@example.com", "auth.verify_email").await?;
    let (status, _) = app.post("/api/v1/auth/verify-email", None, json!({"token": token})).await?;
    assert_eq!(status, 200);
    let (status, _) = app.post("/api/v1/auth/verify-email", None, json!({"token": token})).await?;
    assert_eq!(status, 400);
    let (_, me) = app.get("/api/v1/users/me", Some(access)).await?;
    assert_eq!(me["email_verified"], true);

    // No credentials, or garbage: 401 in the envelope.
    let (status, body) = app.get("/api/v1/users/me", None).await?;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    let (status, _) = app.get("/api/v1/users/me", Some("garbage")).await?;
    assert_eq!(status, 401);
    Ok(())
});

testkit::db_test!(async fn refresh_rotates_and_reuse_revokes_the_family(db) {
    let app = cell(&db, "").await?;
    let (access, tokens) = signed_up(&app, "rota@example.com").await?;
    let r1 = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let (status, second) = app.post("/api/v1/auth/refresh", None, json!({"refreshToken": r1})).await?;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap_or_default().to_owned();
    let access2 = second["access_token"].as_str().unwrap_or_default().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(second["session_id"], tokens["session_id"]);
    assert_eq!(app.get("/api/v1/users/me", Some(&access2)).await?.0, 200);

    // r1 again: reuse. The whole family dies: r2 and the session's access tokens too.
    let (status, body) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": r1})).await?;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("already used"));
    let (status, _) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": r2})).await?;
    assert_eq!(status, 401);
    assert_eq!(app.get("/api/v1/users/me", Some(&access2)).await?.0, 401);
    assert_eq!(app.get("/api/v1/users/me", Some(&access)).await?.0, 401);
    let actions = crate::support::audit_actions(&app).await?;
    assert!(actions.iter().any(|(a, _)| a == "auth.refresh_token_reused"), "logged as a security event: {actions:?}");

    // Another session is untouched.
    let other = crate::support::login(&app, "rota@example.com", PASSWORD).await?;
    let (status, _) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": other["refresh_token"]})).await?;
    assert_eq!(status, 200);

    // The cookie path: login sets an HttpOnly SameSite=Strict cookie that refresh accepts.
    let res = app
        .send(reqwest::Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "rota@example.com", "password": PASSWORD})))
        .await?;
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.starts_with("refresh_token=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/api/v1/auth"), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let res = app.client.post(app.url("/api/v1/auth/refresh")).header("cookie", pair).send().await?;
    assert_eq!(res.status().as_u16(), 200);
    let (status, _) = app.post("/api/v1/auth/refresh", None, json!({})).await?;
    assert_eq!(status, 401);
    let (status, _) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "made-up"})).await?;
    assert_eq!(status, 401);
    Ok(())
});

testkit::db_test!(async fn logout_and_logout_all_revoke_access_tokens(db) {
    let app = cell(&db, "").await?;
    let (a1, t1) = signed_up(&app, "out@example.com").await?;
    let t2 = login(&app, "out@example.com", PASSWORD).await?;
    let a2 = t2["access_token"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app.post("/api/v1/auth/logout", Some(&a1), json!({})).await?;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/v1/users/me", Some(&a1)).await?.0, 401, "logged-out token refused");
    let (status, _) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": t1["refresh_token"]})).await?;
    assert_eq!(status, 401, "its refresh token too");
    assert_eq!(app.get("/api/v1/users/me", Some(&a2)).await?.0, 200, "other session lives");

    let _t3 = login(&app, "out@example.com", PASSWORD).await?;
    let (status, body) = app.post("/api/v1/auth/logout-all", Some(&a2), json!({})).await?;
    assert_eq!(status, 200);
    assert_eq!(body["sessions_revoked"], 2);
    assert_eq!(app.get("/api/v1/users/me", Some(&a2)).await?.0, 401);
    Ok(())
});

testkit::db_test!(async fn password_reset_change_and_lockout(db) {
    // Room in the per-email limit: this test signs in to one address many times.
    let app = cell(&db, "[rate_limit.groups.general]\nlimit = 1000\nwindow_secs = 60\n[rate_limit.groups.login]\nlimit = 50\nwindow_secs = 900\n").await?;
    let (access, _) = signed_up(&app, "lock@example.com").await?;
    // Five failures lock the email; even the right password is refused while locked, and an
    // unknown email locks the same way.
    for email in ["lock@example.com", "ghost@example.com"] {
        for _ in 0..5 {
            let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": email, "password": "Wrong-pass-123"})).await?;
            assert_eq!(status, 401);
        }
        let (status, body) = app.post("/api/v1/auth/login", None, json!({"email": email, "password": PASSWORD})).await?;
        assert_eq!((status, code(&body)), (429, "rate_limited"), "{body}");
        assert_eq!(body["error"]["details"]["reason"], "account_locked");
    }
    // The owner resets the password: the lock lifts, old sessions end.
    let (status, _) = app.post("/api/v1/auth/forgot-password", None, json!({"email": "lock@example.com"})).await?;
    assert_eq!(status, 202);
    let token = mailed_token(&app, "lock@example.com", "auth.reset_password").await?;
    let (status, body) = app.post("/api/v1/auth/reset-password", None, json!({"token": token, "newPassword": "weak"})).await?;
    assert_eq!(status, 422, "{body}");
    let new_password = "New-Passw0rd-for-lock";
    let (status, body) = app.post("/api/v1/auth/reset-password", None, json!({"token": token, "new_password": new_password})).await?;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.post("/api/v1/auth/reset-password", None, json!({"token": token, "new_password": "Another-Passw0rd!"})).await?;
    assert_eq!(status, 400, "a reset token works once");
    assert_eq!(app.get("/api/v1/users/me", Some(&access)).await?.0, 401, "sessions ended");
    assert_eq!(mail_count(&app, "lock@example.com", "auth.password_changed").await?, 1);
    let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": "lock@example.com", "password": PASSWORD})).await?;
    assert_eq!(status, 401, "old password dead");
    let t1 = login(&app, "lock@example.com", new_password).await?;
    let t2 = login(&app, "lock@example.com", new_password).await?;

    // Change password: the other session ends, this one stays.
    let a1 = t1["access_token"].as_str().unwrap_or_default();
    let a2 = t2["access_token"].as_str().unwrap_or_default();
    let (status, _) = app
        .post("/api/v1/users/me/change-password", Some(a1), json!({"currentPassword": "nope-Wrong-1", "newPassword": PASSWORD}))
        .await?;
    assert_eq!(status, 401);
    let (status, body) = app
        .post("/api/v1/users/me/change-password", Some(a1), json!({"current_password": new_password, "new_password": PASSWORD}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["other_sessions_ended"], 1);
    assert_eq!(app.get("/api/v1/users/me", Some(a1)).await?.0, 200);
    assert_eq!(app.get("/api/v1/users/me", Some(a2)).await?.0, 401);
    Ok(())
});

testkit::db_test!(async fn rate_limits_per_email_engage(db) {
    // Lockout far away, so the per-email limit (10 per 15 minutes) is what answers.
    let app = cell(&db, "lockout_threshold = 100\n").await?;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": "flood@example.com", "password": "Wrong-pass-123"})).await?;
        statuses.push(status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    // Another email is not affected.
    let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": "calm@example.com", "password": "Wrong-pass-123"})).await?;
    assert_eq!(status, 401);
    Ok(())
});

testkit::db_test!(async fn profile_update_and_deactivation(db) {
    let app = cell(&db, "").await?;
    let (access, _) = signed_up(&app, "me@example.com").await?;
    let (status, me) = app
        .patch("/api/v1/users/me", Some(&access), json!({"first_name": "Grace", "lastName": "Hopper", "timezone": "Europe/Paris", "locale": "en-GB"}))
        .await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "Grace Hopper");
    assert_eq!(me["timezone"], "Europe/Paris");
    let (status, me) = app.patch("/api/v1/users/me", Some(&access), json!({"timezone": null})).await?;
    assert_eq!(status, 200);
    assert!(me["timezone"].is_null());
    assert_eq!(me["first_name"], "Grace", "absent fields are kept");
    let (status, body) = app.patch("/api/v1/users/me", Some(&access), json!({"timezone": "Not a zone!", "avatar_url": "nope"})).await?;
    assert_eq!(status, 422);
    assert!(body["error"]["details"]["fields"]["timezone"].is_string(), "{body}");
    let (status, body) = app.patch("/api/v1/users/me", Some(&access), json!({"timezone": "Mars/Olympus_Mons"})).await?;
    assert_eq!(status, 422, "well-formed, but no such zone: {body}");
    assert!(body["error"]["details"]["fields"]["timezone"].is_string(), "{body}");
    let (status, body) = app.patch("/api/v1/users/me", Some(&access), json!({"email": "x@y.z"})).await?;
    assert_eq!((status, code(&body)), (400, "invalid_json"), "email is not changed here");

    let (status, _) = app
        .post("/api/v1/users/me/deactivate", Some(&access), json!({"confirmation": "yes", "password": PASSWORD}))
        .await?;
    assert_eq!(status, 422);
    let (status, _) = app
        .post("/api/v1/users/me/deactivate", Some(&access), json!({"confirmation": "DEACTIVATE", "password": PASSWORD}))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(app.get("/api/v1/users/me", Some(&access)).await?.0, 401);
    let (status, _) = app.post("/api/v1/auth/login", None, json!({"email": "me@example.com", "password": PASSWORD})).await?;
    assert_eq!(status, 401);

    // Not yet due: nothing happens; due: personal data is gone.
    assert_eq!(auth::jobs::anonymize_due(&app.ctx, 30).await?, 0);
    assert_eq!(auth::jobs::anonymize_due(&app.ctx, 0).await?, 1);
    let user = auth::entity::user::Entity::find()
        .one(app.ctx.db().conn())
        .await?
        .ok_or_else(|| anyhow::anyhow!("user gone"))?;
    assert!(user.email.starts_with("anonymized-"), "{}", user.email);
    assert!(user.first_name.is_none() && user.last_name.is_none() && user.password_hash.is_empty());
    assert_eq!(user.status, "anonymized");
    // The address is free again.
    let (status, _) = app.post("/api/v1/auth/register", None, json!({"email": "me@example.com", "password": PASSWORD})).await?;
    assert_eq!(status, 202);
    assert_eq!(mail_count(&app, "me@example.com", "auth.verify_email").await?, 2);
    Ok(())
});

use kernel::sea_orm::EntityTrait;

testkit::db_test!(async fn switching_organizations(db) {
    let app = cell(&db, "").await?;
    let (access, tokens) = signed_up(&app, "multi@example.com").await?;
    let user_id: uuid::Uuid = tokens["user"]["id"].as_str().unwrap_or_default().parse()?;
    let personal = tokens["org_id"].clone();
    // A second org where the user is a member, and a third they do not belong to.
    let second = uuid::Uuid::now_v7();
    let tx = app.ctx.db().tenant(second).await?;
    let owner = uuid::Uuid::now_v7();
    tenancy::create_organization(&app.ctx, &tx, tenancy::NewOrganization { name: "Second".into(), ..Default::default() }, owner)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tenancy::add_member(&app.ctx, &tx, user_id, "member").await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    let (status, body) = app.post("/api/v1/auth/switch-org", Some(&access), json!({"org_id": second})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "member");
    let switched = body["access_token"].as_str().unwrap_or_default().to_owned();
    // The refresh keeps the switched org.
    let (_, refreshed) = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": tokens["refresh_token"]})).await?;
    assert_eq!(refreshed["org_id"], second.to_string());
    assert_ne!(refreshed["org_id"], personal);
    let (status, body) = app.post("/api/v1/auth/switch-org", Some(&switched), json!({"orgId": uuid::Uuid::now_v7()})).await?;
    assert_eq!((status, code(&body)), (404, "not_found"));
    Ok(())
});
