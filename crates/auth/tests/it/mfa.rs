//! TOTP enrollment, challenge at sign-in, replay refusal, backup codes, MFA on password reset.

use serde_json::json;

use crate::support::{PASSWORD, cell, code, mailed_token, signed_up};

fn now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

testkit::db_test!(async fn totp_enrollment_challenge_and_backup_codes(db) {
    let app = cell(&db, "").await?;
    let (access, _) = signed_up(&app, "mfa@example.com").await?;
    let (status, body) = app.post("/api/v1/auth/mfa/verify", Some(&access), json!({"code": "123456"})).await?;
    assert_eq!(status, 400, "verify before enroll: {body}");
    let (status, enrolled) = app.post("/api/v1/auth/mfa/enroll", Some(&access), json!({})).await?;
    assert_eq!(status, 200, "{enrolled}");
    let secret = enrolled["secret"].as_str().unwrap_or_default().to_owned();
    assert!(enrolled["otpauth_url"].as_str().is_some_and(|u| u.starts_with("otpauth://totp/") && u.contains(&secret)));
    let (status, _) = app.post("/api/v1/auth/mfa/verify", Some(&access), json!({"code": "000000"})).await?;
    assert_eq!(status, 400, "wrong code");
    // Codes of the previous step verify; each step is accepted once. Stay clear of a step
    // boundary, so "the previous step" means the same step here and in the cell.
    if now() % 30 >= 27 {
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    }
    let code_then = auth::mfa::code_at(&secret, now() - 30).unwrap_or_default();
    let (status, verified) = app.post("/api/v1/auth/mfa/verify", Some(&access), json!({"code": code_then})).await?;
    assert_eq!(status, 200, "{verified}");
    let backup: Vec<String> = serde_json::from_value(verified["backup_codes"].clone())?;
    assert_eq!(backup.len(), 10);
    let (_, me) = app.get("/api/v1/users/me", Some(&access)).await?;
    assert_eq!(me["mfa_enabled"], true);

    // Sign-in now stops at the second factor.
    let (status, step1) = app.post("/api/v1/auth/login", None, json!({"email": "mfa@example.com", "password": PASSWORD})).await?;
    assert_eq!(status, 200);
    assert_eq!(step1["requires_mfa"], true);
    assert!(step1.get("access_token").is_none());
    let mfa_token = step1["mfa_token"].as_str().unwrap_or_default().to_owned();
    // The code already used for enrollment is refused (replay), a fresh one works.
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfaToken": mfa_token, "code": code_then})).await?;
    assert_eq!(status, 401, "replayed code");
    let current = auth::mfa::code_at(&secret, now()).unwrap_or_default();
    let (status, tokens) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": current})).await?;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    // The MFA token is spent, and the same code again is a replay.
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": current})).await?;
    assert_eq!(status, 401);
    let (_, step1) = app.post("/api/v1/auth/login", None, json!({"email": "mfa@example.com", "password": PASSWORD})).await?;
    let mfa_token = step1["mfa_token"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": current})).await?;
    assert_eq!(status, 401, "TOTP replay across sign-ins");
    // A backup code works once.
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": backup[0].to_uppercase()})).await?;
    assert_eq!(status, 200);
    let (_, step1) = app.post("/api/v1/auth/login", None, json!({"email": "mfa@example.com", "password": PASSWORD})).await?;
    let mfa_token = step1["mfa_token"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": backup[0]})).await?;
    assert_eq!(status, 401, "backup code reused");
    // Five wrong codes spend the MFA token even for a right code after.
    for _ in 0..4 {
        app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": "999999"})).await?;
    }
    let (status, _) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": mfa_token, "code": backup[1]})).await?;
    assert_eq!(status, 401, "token burnt after five failures");

    // A password reset of an MFA account needs a code.
    app.post("/api/v1/auth/forgot-password", None, json!({"email": "mfa@example.com"})).await?;
    let reset = mailed_token(&app, "mfa@example.com", "auth.reset_password").await?;
    let (status, body) = app.post("/api/v1/auth/reset-password", None, json!({"token": reset, "new_password": "Brand-New-Passw0rd"})).await?;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    assert_eq!(body["error"]["details"]["requires_mfa"], true);
    let (status, body) = app
        .post("/api/v1/auth/reset-password", None, json!({"token": reset, "new_password": "Brand-New-Passw0rd", "code": backup[2]}))
        .await?;
    assert_eq!(status, 200, "{body}");

    // Turning it off needs the password and a code.
    let fresh = {
        let (_, s) = app.post("/api/v1/auth/login", None, json!({"email": "mfa@example.com", "password": "Brand-New-Passw0rd"})).await?;
        let t = s["mfa_token"].as_str().unwrap_or_default().to_owned();
        let (_, tokens) = app.post("/api/v1/auth/mfa/challenge", None, json!({"mfa_token": t, "code": backup[3]})).await?;
        tokens["access_token"].as_str().unwrap_or_default().to_owned()
    };
    let (status, _) = app.post("/api/v1/auth/mfa/disable", Some(&fresh), json!({"password": "Brand-New-Passw0rd", "code": "000000"})).await?;
    assert_eq!(status, 401);
    let (status, _) = app.post("/api/v1/auth/mfa/disable", Some(&fresh), json!({"password": "Brand-New-Passw0rd", "code": backup[4]})).await?;
    assert_eq!(status, 200);
    let tokens = crate::support::login(&app, "mfa@example.com", "Brand-New-Passw0rd").await?;
    assert!(tokens["access_token"].is_string(), "no MFA step any more");
    Ok(())
});
