//! Auth and tenancy together, as a product cell runs them: invitations accepted by a new
//! account (registration with the token) and by an existing one, ownership transfer with the
//! real password check, and an API key losing its power with its creator's membership.

use serde_json::json;

use crate::support::{PASSWORD, cell, code, mailed_token, signed_up};

testkit::db_test!(async fn invitations_transfer_and_membership_end_to_end(db) {
    let app = cell(&db, "").await?;
    let (owner, owner_tokens) = signed_up(&app, "owner@example.com").await?;
    let org = owner_tokens["org_id"].as_str().unwrap_or_default().to_owned();

    // A new person registers through an invitation: signed in at once, in the inviting org.
    let (status, body) = app.post("/api/v1/invitations", Some(&owner), json!({"email": "new@example.com", "role": "admin"})).await?;
    assert_eq!(status, 201, "{body}");
    let token = mailed_token(&app, "new@example.com", "tenancy.invitation").await?;
    let (status, body) = app
        .post("/api/v1/auth/register", None, json!({"email": "other@example.com", "password": PASSWORD, "invitation_token": token}))
        .await?;
    assert_eq!((status, code(&body)), (422, "validation_failed"), "the invited address only");
    let (status, joined) = app
        .post("/api/v1/auth/register", None, json!({"email": "New@example.com", "password": PASSWORD, "invitationToken": token}))
        .await?;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(joined["org_id"].as_str(), Some(org.as_str()));
    assert_eq!(joined["role"], "admin");
    assert_eq!(joined["user"]["email_verified"], true);
    let new_user = joined["user"]["id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app
        .post("/api/v1/auth/register", None, json!({"email": "new@example.com", "password": PASSWORD, "invitation_token": token}))
        .await?;
    assert_eq!(status, 404, "an invitation is used once");

    // An existing account accepts with its own session; the email check uses the real account.
    let (carol, _) = signed_up(&app, "carol@example.com").await?;
    app.post("/api/v1/invitations", Some(&owner), json!({"email": "carol@example.com", "role": "member"})).await?;
    let carol_token = mailed_token(&app, "carol@example.com", "tenancy.invitation").await?;
    let (mallory, _) = signed_up(&app, "mallory@example.com").await?;
    let (status, _) = app.post("/api/v1/invitations/accept", Some(&mallory), json!({"token": carol_token})).await?;
    assert_eq!(status, 403, "someone else's invitation");
    let (status, body) = app.post("/api/v1/invitations/accept", Some(&carol), json!({"token": carol_token})).await?;
    assert!(status == 200 || status == 201, "{status} {body}");
    let (_, orgs) = app.get("/api/v1/users/me/organizations", Some(&carol)).await?;
    assert_eq!(orgs["data"].as_array().map(Vec::len), Some(2));

    // Transfer needs the owner's real password; a wrong one counts towards the lockout.
    let path = format!("/api/v1/organizations/{org}/transfer");
    let (status, _) = app.post(&path, Some(&owner), json!({"new_owner_id": new_user, "password": "Wrong-Passw0rd!"})).await?;
    assert!(status == 401 || status == 403, "{status}");
    let (status, body) = app.post(&path, Some(&owner), json!({"newOwnerId": new_user, "password": PASSWORD})).await?;
    assert_eq!(status, 200, "{body}");
    let (_, members) = app.get(&format!("/api/v1/organizations/{org}/members"), Some(&owner)).await?;
    let role_of = |id: &str| {
        members["data"].as_array().into_iter().flatten().find(|m| m["user_id"] == id).map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&new_user), Some(json!("owner")));
    assert_eq!(role_of(owner_tokens["user"]["id"].as_str().unwrap_or_default()), Some(json!("admin")));

    // Carol's API key stops working when Carol leaves the org.
    let (_, switched) = app.post("/api/v1/auth/switch-org", Some(&carol), json!({"org_id": org})).await?;
    let carol_in_org = switched["access_token"].as_str().unwrap_or_default().to_owned();
    let (status, key) = app.post("/api/v1/api-keys", Some(&carol_in_org), json!({"name": "k", "scopes": ["account:read"]})).await?;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await?.0, 200);
    let (status, body) = app.post(&format!("/api/v1/organizations/{org}/leave"), Some(&carol_in_org), json!({})).await?;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await?.0, 401);
    Ok(())
});
