//! Access-token attacks: every forged, foreign, mis-addressed or expired token is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::json;

use crate::support::{JWT_SECRET, cell, signed_up};

fn claims(sub: &str, sid: &str, exp_offset: i64) -> auth::jwt::Claims {
    let now = chrono::Utc::now().timestamp();
    auth::jwt::Claims {
        iss: String::new(),
        aud: String::new(),
        sub: sub.parse().unwrap_or_default(),
        iat: now,
        exp: now + exp_offset,
        jti: uuid::Uuid::now_v7(),
        sid: sid.parse().unwrap_or_default(),
        org: None,
        roles: vec![],
    }
}

fn keys(secret: &str, kids: &[&str], iss: &str, aud: &str) -> anyhow::Result<auth::jwt::Keys> {
    Ok(auth::jwt::Keys::derive(
        &SecretString::from(secret.to_owned()),
        kids,
        iss,
        aud,
    )?)
}

testkit::db_test!(async fn forged_and_foreign_tokens_are_refused(db) {
    let app = cell(&db, "").await?;
    let (access, tokens) = signed_up(&app, "tok@example.com").await?;
    let sub = tokens["user"]["id"].as_str().unwrap_or_default().to_owned();
    let sid = tokens["session_id"].as_str().unwrap_or_default().to_owned();
    let me = |t: String| {
        let app = &app;
        async move { app.get("/api/v1/users/me", Some(&t)).await.map(|r| r.0) }
    };
    assert_eq!(me(access.clone()).await?, 200);

    // Minted with the cell's own keys, iss and aud: accepted (the harness works)...
    let good = keys(JWT_SECRET, &["k1"], "cell:test", "test")?;
    assert_eq!(me(good.sign(claims(&sub, &sid, 300))?).await?, 200);
    // ...but expired, for another audience or issuer, or from another key: refused.
    assert_eq!(me(good.sign(claims(&sub, &sid, -120))?).await?, 401, "expired");
    // Each 401 says why, in the envelope and in `WWW-Authenticate` (RFC 6750): an expired token
    // of this cell, a token that does not verify, or none at all.
    for (token, reason, challenge) in [
        (Some(good.sign(claims(&sub, &sid, -120))?), "token_expired", r#"Bearer realm="api", error="invalid_token", error_description="token_expired""#),
        (Some("not.a.token".to_owned()), "token_invalid", r#"Bearer realm="api", error="invalid_token", error_description="token_invalid""#),
        (Some(keys(JWT_SECRET, &["k9"], "cell:test", "test")?.sign(claims(&sub, &sid, -120))?), "token_invalid", r#"Bearer realm="api", error="invalid_token", error_description="token_invalid""#),
        (None, "authentication_required", r#"Bearer realm="api""#),
    ] {
        let res = app.send(reqwest::Method::GET, "/api/v1/users/me", token.as_deref(), None).await?;
        assert_eq!(res.status(), 401);
        let header = res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: serde_json::Value = res.json().await?;
        assert_eq!((body["error"]["code"].as_str(), body["error"]["details"]["reason"].as_str()), (Some("unauthorized"), Some(reason)), "{body}");
        assert_eq!(header.as_deref(), Some(challenge));
    }
    assert_eq!(me(keys(JWT_SECRET, &["k1"], "cell:test", "other")?.sign(claims(&sub, &sid, 300))?).await?, 401, "audience");
    assert_eq!(me(keys(JWT_SECRET, &["k1"], "cell:evil", "test")?.sign(claims(&sub, &sid, 300))?).await?, 401, "issuer");
    let other_secret = "another-secret-0123456789abcdef0123456789ab";
    assert_eq!(me(keys(other_secret, &["k1"], "cell:test", "test")?.sign(claims(&sub, &sid, 300))?).await?, 401, "wrong key");
    assert_eq!(me(keys(JWT_SECRET, &["k9"], "cell:test", "test")?.sign(claims(&sub, &sid, 300))?).await?, 401, "unknown kid");

    // alg: none, and HS256 keyed with the public key (algorithm confusion).
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json!({
        "iss": "cell:test", "aud": "test", "sub": sub, "sid": sid, "jti": uuid::Uuid::now_v7(),
        "iat": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 300,
    }))?);
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#));
    assert_eq!(me(none).await?, 401, "alg none");
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await?;
    let x = jwks["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#);
    let signing_input = format!("{header}.{payload}");
    let mac = {
        use hmac::{KeyInit, Mac};
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(x.as_bytes())?;
        m.update(signing_input.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    };
    assert_eq!(me(format!("{signing_input}.{mac}")).await?, 401, "HS256 confusion");
    // A valid token with a tampered payload.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[1] = payload;
    assert_eq!(me(parts.join(".")).await?, 401, "tampered");
    Ok(())
});

testkit::db_test!(async fn jwks_publishes_the_verifying_keys_and_rotation_keeps_old_tokens(db) {
    let app = cell(&db, "").await?;
    let (_, tokens) = signed_up(&app, "rot@example.com").await?;
    let res = app.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await?;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("cache-control").is_some());
    let jwks: serde_json::Value = res.json().await?;
    assert_eq!(jwks["keys"][0]["kid"], "k1");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");

    // A cell that rotated to k2 (k1 kept) still accepts a k1 token and signs with k2.
    let sub = tokens["user"]["id"].as_str().unwrap_or_default();
    let sid = tokens["session_id"].as_str().unwrap_or_default();
    let k1_token = keys(JWT_SECRET, &["k1"], "cell:test", "test")?.sign(claims(sub, sid, 300))?;
    let rotated = cell(&db, "jwt_kids = [\"k2\", \"k1\"]\n").await?;
    assert_eq!(rotated.get("/api/v1/users/me", Some(&k1_token)).await?.0, 200);
    let (_, jwks) = rotated.get("/.well-known/jwks.json", None).await?;
    let kids: Vec<&str> = jwks["keys"].as_array().into_iter().flatten().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, vec!["k2", "k1"]);
    let fresh = crate::support::login(&rotated, "rot@example.com", crate::support::PASSWORD).await?;
    let header = fresh["access_token"].as_str().unwrap_or_default().split('.').next().unwrap_or_default().to_owned();
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
    assert_eq!(header["kid"], "k2");
    assert_eq!(header["alg"], "EdDSA");
    // Once k1 is dropped, its tokens stop working.
    let dropped = cell(&db, "jwt_kids = [\"k2\"]\n").await?;
    assert_eq!(dropped.get("/api/v1/users/me", Some(&k1_token)).await?.0, 401);
    Ok(())
});
