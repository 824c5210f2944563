//! Organizations and members over HTTP: lifecycle, role rules, leaving, removal, transfer.

use serde_json::json;
use testkit::db_test;

use crate::support::{Cell, fields, tok};

db_test!(async fn organizations_are_created_read_and_updated(db) {
    let cell = Cell::start(&db).await?;
    let alice = cell.user("alice@example.com");
    let me = alice.to_string();

    // Creating needs a signed-in user; the creator owns it.
    let (status, body) = cell.post("/api/v1/organizations", &me, json!({"name": "Acme Corp", "slug": "acme", "plan": "pro"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["slug"].as_str(), body["plan"].as_str(), body["role"].as_str()), (Some("acme"), Some("pro"), Some("owner")));
    assert_eq!(body["default_timezone"], "UTC");
    let org = crate::support::id(&body)?;
    let (status, body) = cell.post("/api/v1/organizations", &me, json!({"name": "Other", "slug": "acme"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    let (status, body) = cell.post("/api/v1/organizations", &me, json!({"name": "", "slug": "Bad Slug"})).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(fields(&body), vec!["name"]);
    let (status, body) = cell.post("/api/v1/organizations", &me, json!({"name": "X", "slug": "Bad Slug"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["slug".to_owned()]));
    let (status, body) = cell.raw(reqwest::Method::POST, "/api/v1/organizations", &me, "{\"name\": ").await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")));
    let (status, _) = cell.post("/api/v1/organizations", &me, json!({"name": "X", "colour": "red"})).await?;
    assert_eq!(status, 400, "unknown fields are refused");
    let (status, _) = cell.app.post("/api/v1/organizations", None, json!({"name": "X"})).await?;
    assert_eq!(status, 401);

    // Mine: every org of the user, with the role.
    let second = cell.org(alice, "Second").await?;
    let (status, body) = cell.get("/api/v1/organizations", &me).await?;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["data"].as_array().map(|a| a.iter().filter_map(|o| o["id"].as_str()).collect()).unwrap_or_default();
    assert_eq!(ids, vec![org.to_string(), second.to_string()]);

    // One org: only the active one.
    let t = tok(alice, org);
    let (status, body) = cell.get(&format!("/api/v1/organizations/{org}"), &t).await?;
    assert_eq!((status, body["name"].as_str(), body["role"].as_str()), (200, Some("Acme Corp"), Some("owner")));
    let (status, _) = cell.get(&format!("/api/v1/organizations/{second}"), &t).await?;
    assert_eq!(status, 404, "a member's other org is 404 while it is not the active one");
    let (status, _) = cell.get(&format!("/api/v1/organizations/{org}"), &me).await?;
    assert_eq!(status, 404, "no active org");

    // Update: name, slug, logo, time zone, settings merged; plan by owners only.
    let (status, body) = cell.patch(&format!("/api/v1/organizations/{org}"), &t, json!({
        "name": "Acme Inc", "logoUrl": "https://cdn.example.com/a.png", "default_timezone": "Europe/Paris",
        "settings": {"color": "red", "week_start": 1}
    })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["name"].as_str(), body["logo_url"].as_str(), body["default_timezone"].as_str()), (Some("Acme Inc"), Some("https://cdn.example.com/a.png"), Some("Europe/Paris")));
    let (_, body) = cell.patch(&format!("/api/v1/organizations/{org}"), &t, json!({"settings": {"color": null, "lang": "fr"}, "logo_url": null})).await?;
    assert_eq!(body["settings"], json!({"week_start": 1, "lang": "fr"}));
    assert!(body["logo_url"].is_null());
    let (status, body) = cell.patch(&format!("/api/v1/organizations/{org}"), &t, json!({"default_timezone": "Mars Time!", "slug": "x"})).await?;
    assert_eq!(status, 422, "{body}");
    let (status, _) = cell.patch(&format!("/api/v1/organizations/{org}"), &t, json!({"slug": "second"})).await?;
    assert_eq!(status, 409, "another org's slug");
    let (status, _) = cell.patch(&format!("/api/v1/organizations/{second}"), &tok(alice, second), json!({"slug": "second"})).await?;
    assert_eq!(status, 200, "its own slug");
    let admin = cell.user("admin@example.com");
    cell.join(org, admin, "admin").await?;
    let (status, _) = cell.patch(&format!("/api/v1/organizations/{org}"), &tok(admin, org), json!({"plan": "enterprise"})).await?;
    assert_eq!(status, 403, "admins do not change the plan");
    let (status, body) = cell.patch(&format!("/api/v1/organizations/{org}"), &tok(admin, org), json!({"name": "By admin"})).await?;
    assert_eq!((status, body["plan"].as_str()), (200, Some("pro")));
    let (status, body) = cell.patch(&format!("/api/v1/organizations/{org}"), &t, json!({"plan": "enterprise"})).await?;
    assert_eq!((status, body["plan"].as_str()), (200, Some("enterprise")));
    let viewer = cell.user("viewer@example.com");
    cell.join(org, viewer, "viewer").await?;
    let (status, _) = cell.patch(&format!("/api/v1/organizations/{org}"), &tok(viewer, org), json!({"name": "Viewer was here"})).await?;
    assert_eq!(status, 403, "viewers read only");
    let (status, _) = cell.get(&format!("/api/v1/organizations/{org}"), &tok(viewer, org)).await?;
    assert_eq!(status, 200);
    assert_eq!(cell.events("tenancy.organization.created").await?.len(), 2);

    // Every route is in the cell's OpenAPI document.
    let (status, doc) = cell.app.get("/api-docs/openapi.json", None).await?;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/organizations", "/api/v1/organizations/{org_id}/members/{user_id}",
        "/api/v1/organizations/{org_id}/transfer", "/api/v1/teams/{id}/members",
        "/api/v1/invitations/accept", "/api/v1/invitations/{id}/resend", "/api/v1/settings/{id}",
        "/api/v1/features", "/api/v1/features/overrides/{id}", "/api/v1/admin/feature-flags/{key}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    cell.finish(db).await
});

db_test!(async fn member_roles_follow_the_rules(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (admin, member, viewer, rep) = (
        cell.user("admin@example.com"),
        cell.user("member@example.com"),
        cell.user("viewer@example.com"),
        cell.user("rep@example.com"),
    );
    cell.join(org, admin, "admin").await?;
    cell.join(org, member, "member").await?;
    cell.join(org, viewer, "viewer").await?;
    let members = format!("/api/v1/organizations/{org}/members");

    // Paginated list, readable by every member.
    let (status, body) = cell.get(&format!("{members}?limit=2"), &tok(viewer, org)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!((body["meta"]["total"].as_u64(), body["meta"]["total_pages"].as_u64(), body["meta"]["has_next"].as_bool()), (Some(4), Some(2), Some(true)));
    assert_eq!(body["data"][0]["user_id"], owner.to_string(), "oldest first");
    let (_, page2) = cell.get(&format!("{members}?limit=2&page=2"), &tok(viewer, org)).await?;
    assert_eq!(page2["data"][1]["user_id"], viewer.to_string());
    let (_, admins) = cell.get(&format!("{members}?filter[role]=admin"), &tok(viewer, org)).await?;
    assert_eq!(admins["meta"]["total"], 1);
    let (status, _) = cell.get(&format!("{members}?sort=email:asc"), &tok(viewer, org)).await?;
    assert_eq!(status, 400, "unknown sort fields are refused");

    // Role changes: admins; members and viewers cannot; only owners touch `owner`.
    let path = |u: uuid::Uuid| format!("{members}/{u}");
    let (status, _) = cell.patch(&path(viewer), &tok(member, org), json!({"role": "member"})).await?;
    assert_eq!(status, 403, "members cannot change roles");
    let (status, _) = cell.patch(&path(member), &tok(viewer, org), json!({"role": "viewer"})).await?;
    assert_eq!(status, 403, "viewers cannot write");
    let (status, _) = cell.patch(&path(member), &tok(admin, org), json!({"role": "owner"})).await?;
    assert_eq!(status, 403, "admins cannot grant owner");
    let (status, _) = cell.patch(&path(owner), &tok(admin, org), json!({"role": "member"})).await?;
    assert_eq!(status, 403, "admins cannot demote owners");
    let (status, body) = cell.patch(&path(member), &tok(admin, org), json!({"role": "boss"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["role".to_owned()]));
    let (status, body) = cell.patch(&path(member), &tok(admin, org), json!({"role": ""})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["role".to_owned()]));

    // Cell aliases: `sales_rep` is a member.
    cell.join(org, rep, "viewer").await?;
    let (status, body) = cell.patch(&path(rep), &tok(admin, org), json!({"role": "sales_rep"})).await?;
    assert_eq!((status, body["role"].as_str(), body["platform_role"].as_str()), (200, Some("sales_rep"), Some("member")), "{body}");
    let (status, _) = cell.post("/api/v1/teams", &tok(rep, org), json!({"name": "Reps"})).await?;
    assert_eq!(status, 201, "a sales_rep writes like a member");
    let (status, _) = cell.post("/api/v1/teams", &tok(viewer, org), json!({"name": "Viewers"})).await?;
    assert_eq!(status, 403, "a viewer does not");
    let changed = cell.events("tenancy.member.role_changed").await?;
    assert_eq!(changed.last().map(|e| (e["user_id"].clone(), e["from"].clone(), e["to"].clone())),
        Some((json!(rep), json!("viewer"), json!("sales_rep"))));

    // The last owner can be neither demoted nor removed, nor leave.
    let (status, body) = cell.patch(&path(owner), &tok(owner, org), json!({"role": "admin"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    let (status, _) = cell.post(&format!("/api/v1/organizations/{org}/leave"), &tok(owner, org), json!({})).await?;
    assert_eq!(status, 409);
    // Nobody removes themselves through DELETE, admins included.
    let (status, _) = cell.delete(&path(admin), &tok(admin, org)).await?;
    assert_eq!(status, 403, "an admin cannot delete themselves");
    let (status, _) = cell.delete(&path(owner), &tok(admin, org)).await?;
    assert_eq!(status, 403, "admins cannot remove owners");
    let (status, _) = cell.delete(&path(viewer), &tok(member, org)).await?;
    assert_eq!(status, 403, "members cannot remove anyone");

    // With a second owner, one owner may step down or be removed.
    let (status, _) = cell.patch(&path(admin), &tok(owner, org), json!({"role": "owner"})).await?;
    assert_eq!(status, 200);
    let (status, body) = cell.patch(&path(owner), &tok(owner, org), json!({"role": "admin"})).await?;
    assert_eq!((status, body["role"].as_str()), (200, Some("admin")));
    let (status, _) = cell.delete(&path(admin), &tok(admin, org)).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.post(&format!("/api/v1/organizations/{org}/leave"), &tok(admin, org), json!({})).await?;
    assert_eq!(status, 409, "the only owner again");

    // Removal and leaving publish `tenancy.member.removed` with the user, and drop team seats.
    let (_, team) = cell.post("/api/v1/teams", &tok(admin, org), json!({"name": "Ops"})).await?;
    let team = crate::support::id(&team)?;
    let (status, _) = cell.post(&format!("/api/v1/teams/{team}/members"), &tok(admin, org), json!({"user_ids": [member, viewer]})).await?;
    assert_eq!(status, 200);
    let (status, _) = cell.delete(&path(member), &tok(admin, org)).await?;
    assert_eq!(status, 204);
    let (status, _) = cell.get(&path(member), &tok(admin, org)).await?;
    assert_eq!(status, 404);
    let (status, _) = cell.delete(&path(member), &tok(admin, org)).await?;
    assert_eq!(status, 404, "already gone");
    let (status, _) = cell.get(&format!("/api/v1/organizations/{org}"), &tok(member, org)).await?;
    assert_eq!(status, 404, "a removed member sees nothing");
    let (status, _) = cell.post(&format!("/api/v1/organizations/{org}/leave"), &tok(viewer, org), json!({})).await?;
    assert_eq!(status, 204);
    let (_, team_view) = cell.get(&format!("/api/v1/teams/{team}"), &tok(admin, org)).await?;
    let seats: Vec<&str> = team_view["members"].as_array().map(|m| m.iter().filter_map(|x| x["user_id"].as_str()).collect()).unwrap_or_default();
    assert_eq!(seats, vec![admin.to_string()]);
    let removed = cell.events("tenancy.member.removed").await?;
    let who: Vec<(serde_json::Value, serde_json::Value)> = removed.iter().map(|e| (e["user_id"].clone(), e["reason"].clone())).collect();
    assert_eq!(who, vec![(json!(member), json!("removed")), (json!(viewer), json!("left"))]);
    cell.finish(db).await
});

db_test!(async fn ownership_is_transferred_with_a_password(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (admin, outsider) = (cell.user("admin@example.com"), cell.user("out@example.com"));
    cell.join(org, admin, "admin").await?;
    let transfer = format!("/api/v1/organizations/{org}/transfer");

    let (status, _) = cell.post(&transfer, &tok(owner, org), json!({"newOwnerId": admin, "password": "wrong"})).await?;
    assert_eq!(status, 403, "wrong password");
    let (status, _) = cell.post(&transfer, &tok(admin, org), json!({"new_owner_id": admin, "password": "pw:admin@example.com"})).await?;
    assert_eq!(status, 403, "only owners transfer");
    let (status, body) = cell.post(&transfer, &tok(owner, org), json!({"new_owner_id": outsider, "password": "pw:owner@example.com"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["new_owner_id".to_owned()]));
    let (status, body) = cell.post(&transfer, &tok(owner, org), json!({"new_owner_id": "nope", "password": "x"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")));
    let (status, body) = cell.post(&transfer, &tok(owner, org), json!({"new_owner_id": admin, "password": ""})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["password".to_owned()]));
    let key = format!("key:{owner}:{org}:*");
    let (status, _) = cell.post(&transfer, &key, json!({"new_owner_id": admin, "password": "pw:owner@example.com"})).await?;
    assert_eq!(status, 403, "API keys cannot transfer ownership");

    let (status, body) = cell.post(&transfer, &tok(owner, org), json!({"newOwnerId": admin, "password": "pw:owner@example.com"})).await?;
    assert_eq!((status, body["role"].as_str()), (200, Some("owner")), "{body}");
    let (_, me) = cell.get(&format!("/api/v1/organizations/{org}/members/{owner}"), &tok(owner, org)).await?;
    assert_eq!(me["role"], "admin", "the old owner becomes admin");
    assert_eq!(
        cell.events("tenancy.ownership.transferred").await?,
        vec![json!({"organization_id": org, "from": owner, "to": admin})]
    );
    let (status, _) = cell.post(&format!("/api/v1/organizations/{org}/leave"), &tok(owner, org), json!({})).await?;
    assert_eq!(status, 204, "no longer the last owner");
    cell.finish(db).await
});

db_test!(async fn two_owners_demoting_each_other_at_once_keep_one(db) {
    let cell = Cell::start(&db).await?;
    for round in 0..5 {
        let (x, y) = (cell.user(&format!("x{round}@example.com")), cell.user(&format!("y{round}@example.com")));
        let org = cell.org(x, &format!("Race {round}")).await?;
        cell.join(org, y, "owner").await?;
        let demote = |actor: uuid::Uuid, target: uuid::Uuid| {
            let path = format!("/api/v1/organizations/{org}/members/{target}");
            let token = tok(actor, org);
            let cell = &cell;
            async move { cell.patch(&path, &token, json!({"role": "admin"})).await }
        };
        let (a, b) = tokio::join!(demote(x, y), demote(y, x));
        let mut statuses = vec![a?.0, b?.0];
        statuses.sort_unstable();
        // The second may also be refused as no longer an owner (403) when it runs after.
        assert!(statuses == vec![200, 409] || statuses == vec![200, 403], "{statuses:?}");
        let (_, owners) = cell.get(&format!("/api/v1/organizations/{org}/members?filter[role]=owner"), &tok(x, org)).await?;
        assert_eq!(owners["meta"]["total"], 1, "round {round}");
    }
    cell.finish(db).await
});

// Reads open read-only transactions: while a writer holds the database (SQLite's one write
// lock; a write transaction on PostgreSQL), tenancy's GETs answer at once instead of queueing
// behind it, and see only committed rows.
db_test!(async fn reads_answer_while_a_writer_holds_the_database(db) {
    let cell = Cell::start(&db).await?;
    let alice = cell.user("alice@example.com");
    let org = cell.org(alice, "Acme").await?;
    let t = tok(alice, org);
    let writer = cell.ctx().db().tenant(org).await?;
    // The writer changes the org's name and holds its transaction open.
    use kernel::sea_orm::ConnectionTrait;
    let sql = match cell.ctx().db().backend() {
        kernel::sea_orm::DbBackend::Sqlite => "UPDATE organizations SET name = 'Renamed' WHERE id = ?",
        _ => "UPDATE organizations SET name = 'Renamed' WHERE id = $1",
    };
    writer
        .unscoped()
        .execute_raw(kernel::sea_orm::Statement::from_sql_and_values(cell.ctx().db().backend(), sql, [org.into()]))
        .await?;
    for path in [format!("/api/v1/organizations/{org}"), format!("/api/v1/organizations/{org}/members"), "/api/v1/teams".to_owned(), "/api/v1/settings?scope=org".to_owned()] {
        let (status, body) = cell.get(&path, &t).await?;
        assert_eq!(status, 200, "{path}: {body}");
        if path.ends_with(&org.to_string()) {
            assert_eq!(body["name"], "Acme", "uncommitted rows are not seen");
        }
    }
    writer.rollback().await?;
    Ok(())
});
