//! Invitations: invite, email, preview, accept (signed-in user and registration through the
//! public API), resend, revoke, expiry, wrong email.

use kernel::sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;
use testkit::db_test;
use uuid::Uuid;

use crate::support::{Cell, fields, id, tok};

db_test!(async fn an_existing_user_accepts_an_invitation(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (admin, member) = (cell.user("admin@example.com"), cell.user("member@example.com"));
    cell.join(org, admin, "admin").await?;
    cell.join(org, member, "member").await?;
    let (_, team) = cell.post("/api/v1/teams", &tok(owner, org), json!({"name": "Sales"})).await?;
    let team = id(&team)?;

    // Who may invite, with what.
    let invite = |role: &str| json!({"email": "Bob@Example.com", "role": role, "teamIds": [team]});
    let (status, _) = cell.post("/api/v1/invitations", &tok(member, org), invite("member")).await?;
    assert_eq!(status, 403, "members do not invite");
    let (status, _) = cell.post("/api/v1/invitations", &tok(admin, org), invite("owner")).await?;
    assert_eq!(status, 403, "only owners invite owners");
    let (status, body) = cell.post("/api/v1/invitations", &tok(admin, org), json!({"email": "not-an-email"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["email".to_owned()]));
    let (status, body) = cell.post("/api/v1/invitations", &tok(admin, org), json!({"email": "b@example.com", "team_ids": [Uuid::now_v7()]})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["team_ids".to_owned()]));
    let (status, body) = cell.post("/api/v1/invitations", &tok(admin, org), json!({"email": "b@example.com", "role": "king"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["role".to_owned()]));

    let (status, body) = cell.post("/api/v1/invitations", &tok(admin, org), invite("sales_rep")).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["email"].as_str(), body["role"].as_str(), body["status"].as_str()), (Some("bob@example.com"), Some("sales_rep"), Some("pending")));
    assert!(body.get("token").is_none() && body.get("token_hash").is_none(), "{body}");
    let invitation = id(&body)?;
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap_or_default())?;
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "7 days: {days} h");
    let (status, _) = cell.post("/api/v1/invitations", &tok(admin, org), invite("member")).await?;
    assert_eq!(status, 409, "one live invitation per address");

    // The email carries the link with the token; the token is stored hashed only.
    let mails = cell.mails("bob@example.com").await?;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "tenancy.invitation");
    assert!(mails[0].1.contains("Acme"), "{}", mails[0].1);
    assert!(mails[0].2.contains("https://app.example.test/api/v1/invitations/accept?token="), "{}", mails[0].2);
    assert!(mails[0].2.contains("admin@example.com has invited you"), "{}", mails[0].2);
    let token = cell.last_token("bob@example.com").await?;
    assert!(token.starts_with(&org.simple().to_string()));
    let tx = cell.ctx().db().tenant(org).await?;
    let row = tenancy::entity::invitation::Entity::find_by_id(invitation).one(tx.unscoped()).await?;
    tx.commit().await?;
    let secret = token.split('.').nth(1).unwrap_or_default();
    assert!(row.is_some_and(|r| r.token_hash.len() == 64 && !r.token_hash.contains(secret)));
    assert_eq!(cell.events("tenancy.invitation.sent").await?.len(), 1);

    // Pending list, readable by members.
    let (status, body) = cell.get("/api/v1/invitations", &tok(member, org)).await?;
    assert_eq!((status, body["meta"]["total"].as_u64()), (200, Some(1)));
    assert_eq!(body["data"][0]["team_ids"], json!([team]));

    // The link's preview needs no sign-in; it changes nothing.
    let (status, body) = cell.app.get(&format!("/api/v1/invitations/accept?token={token}"), None).await?;
    assert_eq!((status, body["org_name"].as_str(), body["email"].as_str()), (200, Some("Acme"), Some("bob@example.com")));
    let (status, _) = cell.app.get("/api/v1/invitations/accept?token=garbage", None).await?;
    assert_eq!(status, 404);

    // Accepting needs the invited address.
    let mallory = cell.user("mallory@example.com");
    let (status, body) = cell.post("/api/v1/invitations/accept", &mallory.to_string(), json!({"token": token})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "wrong email refused");
    let (status, _) = cell.get(&format!("/api/v1/organizations/{org}"), &tok(mallory, org)).await?;
    assert_eq!(status, 404, "mallory did not join");
    let (status, _) = cell.post("/api/v1/invitations/accept", &mallory.to_string(), json!({"token": "nonsense"})).await?;
    assert_eq!(status, 404);

    let bob = cell.user("BOB@example.com");
    let key = format!("key:{bob}:{org}:*");
    let (status, _) = cell.post("/api/v1/invitations/accept", &key, json!({"token": token})).await?;
    assert_eq!(status, 403, "not through an API key");
    let (status, body) = cell.post("/api/v1/invitations/accept", &bob.to_string(), json!({"token": token})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["org_id"].as_str(), body["role"].as_str(), body["team_ids"].clone()), (Some(org.to_string().as_str()), Some("sales_rep"), json!([team])));
    let (status, me) = cell.get(&format!("/api/v1/organizations/{org}"), &tok(bob, org)).await?;
    assert_eq!((status, me["role"].as_str()), (200, Some("sales_rep")));
    let (_, t) = cell.get(&format!("/api/v1/teams/{team}"), &tok(bob, org)).await?;
    assert!(t["members"].as_array().is_some_and(|m| m.iter().any(|x| x["user_id"] == json!(bob))));
    let (status, _) = cell.post("/api/v1/invitations/accept", &bob.to_string(), json!({"token": token})).await?;
    assert_eq!(status, 409, "accepted once");
    let (_, body) = cell.get(&format!("/api/v1/invitations/{invitation}"), &tok(owner, org)).await?;
    assert_eq!((body["status"].as_str(), body["accepted_by"].as_str()), (Some("accepted"), Some(bob.to_string().as_str())));
    let (_, body) = cell.get("/api/v1/invitations", &tok(owner, org)).await?;
    assert_eq!(body["meta"]["total"], 0, "no longer pending");
    let accepted = cell.events("tenancy.invitation.accepted").await?;
    assert_eq!(accepted.len(), 1);
    assert_eq!((accepted[0]["user_id"].clone(), accepted[0]["invited_by"].clone()), (json!(bob), json!(admin)));
    cell.finish(db).await
});

db_test!(async fn resend_revoke_and_expiry(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let t = tok(owner, org);
    let carol = cell.user("carol@example.com");

    let (_, body) = cell.post("/api/v1/invitations", &t, json!({"email": "carol@example.com"})).await?;
    let inv = id(&body)?;
    assert_eq!(body["role"], "member", "the default role");
    let first = cell.last_token("carol@example.com").await?;

    // Resend: a new token and expiry; the old token is dead.
    let (status, body) = cell.post(&format!("/api/v1/invitations/{inv}/resend"), &t, json!({})).await?;
    assert_eq!((status, body["sent_count"].as_i64()), (200, Some(2)));
    let second = cell.last_token("carol@example.com").await?;
    assert_ne!(first, second);
    assert_eq!(cell.mails("carol@example.com").await?.len(), 2);
    assert!(tenancy::find_invitation(cell.ctx(), &first).await.map_err(|e| anyhow::anyhow!("{e:?}"))?.is_none());
    let (status, _) = cell.post("/api/v1/invitations/accept", &carol.to_string(), json!({"token": first})).await?;
    assert_eq!(status, 404, "the old token is dead");

    // Expiry: past its date the invitation cannot be accepted; it shows as expired.
    set_expiry(&cell, org, inv, chrono::Utc::now() - chrono::Duration::minutes(1)).await?;
    let (status, body) = cell.post("/api/v1/invitations/accept", &carol.to_string(), json!({"token": second})).await?;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("expired"));
    let (_, body) = cell.get("/api/v1/invitations", &t).await?;
    assert_eq!(body["data"][0]["status"], "expired");
    assert!(tenancy::find_invitation(cell.ctx(), &second).await.map_err(|e| anyhow::anyhow!("{e:?}"))?.is_none());
    // Resending an expired invitation brings it back.
    let (status, body) = cell.post(&format!("/api/v1/invitations/{inv}/resend"), &t, json!({})).await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    let third = cell.last_token("carol@example.com").await?;

    // Revoke: its token stops working; revoking twice is harmless.
    let member = cell.user("m@example.com");
    cell.join(org, member, "member").await?;
    let (status, _) = cell.delete(&format!("/api/v1/invitations/{inv}"), &tok(member, org)).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.delete(&format!("/api/v1/invitations/{inv}"), &t).await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")));
    let (status, _) = cell.delete(&format!("/api/v1/invitations/{inv}"), &t).await?;
    assert_eq!(status, 200);
    let (status, body) = cell.post("/api/v1/invitations/accept", &carol.to_string(), json!({"token": third})).await?;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("revoked"));
    let (status, _) = cell.post(&format!("/api/v1/invitations/{inv}/resend"), &t, json!({})).await?;
    assert_eq!(status, 409, "a revoked invitation is not resent");
    let (_, body) = cell.get("/api/v1/invitations?filter[status]=revoked", &t).await?;
    assert_eq!(body["meta"]["total"], 1);
    assert_eq!(cell.events("tenancy.invitation.revoked").await?.len(), 1);

    // A new invitation to the same address is fine now; an expired pending one is superseded.
    let (status, body) = cell.post("/api/v1/invitations", &t, json!({"email": "carol@example.com"})).await?;
    assert_eq!(status, 201);
    let again = id(&body)?;
    set_expiry(&cell, org, again, chrono::Utc::now() - chrono::Duration::minutes(1)).await?;
    let (status, _) = cell.post("/api/v1/invitations", &t, json!({"email": "carol@example.com"})).await?;
    assert_eq!(status, 201);
    let (_, body) = cell.get(&format!("/api/v1/invitations/{again}"), &t).await?;
    assert_eq!(body["status"], "expired");
    let fresh = cell.last_token("carol@example.com").await?;
    let (status, _) = cell.post("/api/v1/invitations/accept", &carol.to_string(), json!({"token": fresh})).await?;
    assert_eq!(status, 200);
    let (status, _) = cell.post("/api/v1/invitations", &t, json!({"email": "carol@example.com"})).await?;
    assert_eq!(status, 201, "inviting a member is not checked (emails belong to auth)");
    cell.finish(db).await
});

db_test!(async fn registration_accepts_through_the_public_api(db) {
    let cell = Cell::start_with(&db, "invitation_ttl_days = 2").await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let other_org = cell.org(owner, "Other").await?;
    let (_, body) = cell.post("/api/v1/invitations", &tok(owner, org), json!({"email": "new@example.com", "role": "admin"})).await?;
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap_or_default())?;
    assert!((expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() <= 48, "the TTL is a setting");
    let token = cell.last_token("new@example.com").await?;
    let err = |e: kernel::ApiError| anyhow::anyhow!("{e:?}");

    // What the auth module does on `POST /auth/register {…, invitation_token}`.
    let found = tenancy::find_invitation(cell.ctx(), &token).await.map_err(err)?;
    let found = found.ok_or_else(|| anyhow::anyhow!("not found"))?;
    assert_eq!((found.org_id, found.email.as_str(), found.role.as_str()), (org, "new@example.com", "admin"));
    assert!(tenancy::find_invitation(cell.ctx(), "garbage").await.map_err(err)?.is_none());
    let user = Uuid::now_v7();

    // Another org's transaction does not see the invitation.
    let tx = cell.ctx().db().tenant(other_org).await?;
    let e = tenancy::accept_invitation(cell.ctx(), &tx, &token, user, "new@example.com").await.err().map(|e| e.code());
    assert_eq!(e, Some(kernel::ErrorCode::NotFound));
    tx.rollback().await?;
    // The wrong address is refused, and nothing is written.
    let tx = cell.ctx().db().tenant(found.org_id).await?;
    let e = tenancy::accept_invitation(cell.ctx(), &tx, &token, user, "someone@example.com").await.err().map(|e| e.code());
    assert_eq!(e, Some(kernel::ErrorCode::Forbidden));
    tx.rollback().await?;

    let tx = cell.ctx().db().tenant(found.org_id).await?;
    let accepted = tenancy::accept_invitation(cell.ctx(), &tx, &token, user, "New@Example.com ").await.map_err(err)?;
    tx.commit().await?;
    assert_eq!((accepted.user_id, accepted.role.as_str()), (user, "admin"));
    assert_eq!(tenancy::role_in(cell.ctx().db(), user, org).await.map_err(err)?.as_deref(), Some("admin"));
    assert!(tenancy::find_invitation(cell.ctx(), &token).await.map_err(err)?.is_none(), "used up");
    // A rolled-back acceptance leaves the invitation pending.
    let (_, _) = cell.post("/api/v1/invitations", &tok(owner, org), json!({"email": "late@example.com"})).await?;
    let late = cell.last_token("late@example.com").await?;
    let tx = cell.ctx().db().tenant(org).await?;
    tenancy::accept_invitation(cell.ctx(), &tx, &late, Uuid::now_v7(), "late@example.com").await.map_err(err)?;
    tx.rollback().await?;
    assert!(tenancy::find_invitation(cell.ctx(), &late).await.map_err(err)?.is_some());
    cell.finish(db).await
});

async fn set_expiry(
    cell: &Cell,
    org: Uuid,
    inv: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use tenancy::entity::invitation;
    let tx = cell.ctx().db().tenant(org).await?;
    tx.repo::<invitation::Entity>()
        .update(invitation::ActiveModel {
            id: Set(inv),
            expires_at: Set(at),
            ..Default::default()
        })
        .await?;
    tx.commit().await?;
    Ok(())
}
