//! The permission graph in a cell: org roles and teams feed it in the same transaction as the
//! membership change, a module route guarded by `kernel::http::Scoped`, iam's routes (grant,
//! revoke, check, my access, audit, custom roles), and isolation between orgs.

use serde_json::{Value, json};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{Cell, id, tok};

/// `POST /permissions/check` of `permission` on `namespace:object` for `subject` (a user id),
/// asked by `token`.
async fn can(
    cell: &Cell,
    token: &str,
    namespace: &str,
    object: &str,
    permission: &str,
    subject: Uuid,
) -> anyhow::Result<bool> {
    let (status, body) = cell
        .post(
            "/api/v1/permissions/check",
            token,
            json!({
                "namespace": namespace, "object_id": object, "permission": permission,
                "subject": {"type": "user", "id": subject.to_string()},
            }),
        )
        .await?;
    anyhow::ensure!(status == 200, "check answered {status}: {body}");
    Ok(body["allowed"] == json!(true))
}

fn rel(namespace: &str, object: &str, relation: &str, subject: Value) -> Value {
    json!({"namespace": namespace, "object_id": object, "relation": relation, "subject": subject})
}

fn user(u: Uuid) -> Value {
    json!({"type": "user", "id": u.to_string()})
}

db_test!(async fn org_roles_and_teams_feed_the_graph(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (carol, bob) = (cell.user("carol@example.com"), cell.user("bob@example.com"));
    cell.join(org, carol, "member").await?;
    cell.join(org, bob, "sales_rep").await?;
    let (a, o) = (tok(owner, org), org.to_string());

    // org:acme#owner@user:owner; a cell alias resolves to its platform role.
    assert!(can(&cell, &a, "org", &o, "admin_access", owner).await?);
    assert!(can(&cell, &a, "org", &o, "member", bob).await?, "sales_rep is a member");
    assert!(!can(&cell, &a, "org", &o, "admin_access", carol).await?);

    // A role change reaches the graph at once (not at the next token refresh).
    let (status, body) = cell.patch(&format!("/api/v1/organizations/{org}/members/{carol}"), &a, json!({"role": "admin"})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(can(&cell, &a, "org", &o, "admin_access", carol).await?);
    assert!(!can(&cell, &a, "org", &o, "member", carol).await?, "one org role per member");

    // Teams: members and leads.
    let (status, body) = cell.post("/api/v1/teams", &tok(carol, org), json!({"name": "Eng"})).await?;
    assert_eq!(status, 201, "{body}");
    let eng = id(&body)?.to_string();
    let (status, body) = cell.post(&format!("/api/v1/teams/{eng}/members"), &a, json!({"user_ids": [bob]})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(can(&cell, &a, "team", &eng, "member", bob).await?);
    assert!(can(&cell, &a, "team", &eng, "lead", carol).await?);
    assert!(!can(&cell, &a, "team", &eng, "lead", bob).await?);

    // A document shared with the team: bob reads it through the module's guarded route.
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d1", "viewer", json!({"type": "team", "id": eng, "relation": "member"}))).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cell.get("/api/v1/documents/d1", &tok(bob, org)).await?;
    assert_eq!((status, body["id"].as_str()), (200, Some("d1")), "{body}");
    let (status, body) = cell.get("/api/v1/documents/d2", &tok(bob, org)).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));

    // Leaving the team, then the org, takes the access away in the same transaction.
    let (status, _) = cell.delete(&format!("/api/v1/teams/{eng}/members/{bob}"), &a).await?;
    assert_eq!(status, 204);
    let (status, _) = cell.get("/api/v1/documents/d1", &tok(bob, org)).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.post(&format!("/api/v1/teams/{eng}/members"), &a, json!({"user_ids": [bob]})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(can(&cell, &a, "team", &eng, "member", bob).await?);
    let (status, _) = cell.delete(&format!("/api/v1/organizations/{org}/members/{bob}"), &a).await?;
    assert_eq!(status, 204);
    assert!(!can(&cell, &a, "org", &o, "viewer_access", bob).await?);
    assert!(!can(&cell, &a, "team", &eng, "member", bob).await?);

    // Deleting the team forgets its grants.
    let (status, _) = cell.delete(&format!("/api/v1/teams/{eng}"), &a).await?;
    assert_eq!(status, 204);
    let (status, body) = cell.get("/api/v1/permissions/audit?namespace=document&object_id=d1", &a).await?;
    assert_eq!((status, body["direct"].as_array().map(Vec::len)), (200, Some(0)), "{body}");

    // Ownership transfer moves the owner tuple.
    let (status, body) = cell.post(&format!("/api/v1/organizations/{org}/transfer"), &a, json!({"new_owner_id": carol, "password": "pw:owner@example.com"})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(can(&cell, &tok(carol, org), "org", &o, "owner", carol).await?);
    assert!(can(&cell, &tok(carol, org), "org", &o, "admin", owner).await?);
    cell.finish(db).await
});

db_test!(async fn grants_checks_and_the_access_audit(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (ann, ben) = (cell.user("ann@example.com"), cell.user("ben@example.com"));
    cell.join(org, ann, "member").await?;
    cell.join(org, ben, "member").await?;
    let stranger = cell.user("x@example.com");
    let (a, t_ann) = (tok(owner, org), tok(ann, org));

    // Only admins (or holders of the type's `manage`) grant; subjects must belong to the org.
    let (status, _) = cell.post("/api/v1/permissions/grant", &t_ann, rel("document", "d1", "viewer", user(ann))).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d1", "viewer", user(stranger))).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("validation_failed")), "{body}");
    for bad in [
        rel("org", &org.to_string(), "admin", user(ann)),
        rel("document", "d1", "view", user(ann)),
        rel("document", "d1", "viewer", json!({"type": "folder", "id": "f"})),
        rel("nothing", "d1", "viewer", user(ann)),
        rel("document", "d 1", "viewer", user(ann)),
    ] {
        let (status, body) = cell.post("/api/v1/permissions/grant", &a, bad.clone()).await?;
        assert_eq!(status, 422, "{bad} → {body}");
    }
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d1", "viewer", user(ann))).await?;
    assert_eq!(status, 200);
    let revision = body["revision"].as_i64().unwrap_or_default();
    assert!(revision > 0, "{body}");
    // Idempotent.
    let (status, _) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d1", "viewer", user(ann))).await?;
    assert_eq!(status, 200);
    cell.post("/api/v1/permissions/grant", &a, rel("document", "d2", "owner", user(ann))).await?;

    // Check: yourself by default, someone else only as an admin; read-your-write tokens.
    let (status, body) = cell.post("/api/v1/permissions/check", &t_ann, json!({"namespace": "document", "object_id": "d1", "permission": "view", "at_least_revision": revision})).await?;
    assert_eq!((status, body["allowed"].as_bool()), (200, Some(true)), "{body}");
    let (status, _) = cell.post("/api/v1/permissions/check", &t_ann, json!({"namespace": "document", "object_id": "d1", "permission": "view", "subject": user(ben)})).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.post("/api/v1/permissions/check", &t_ann, json!({"namespace": "document", "object_id": "d1", "permission": "fly"})).await?;
    assert_eq!(status, 422);
    let (status, _) = cell.post("/api/v1/permissions/check", &t_ann, json!({"namespace": "document", "object_id": "d1", "permission": "view", "at_least_revision": revision + 1000})).await?;
    assert_eq!(status, 422, "a revision from the future");
    assert!(!can(&cell, &a, "document", "d1", "view", ben).await?);

    // My access: every object with every relation and permission held, paged.
    let (status, body) = cell.get("/api/v1/permissions/my-access?namespace=document", &t_ann).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([
        {"object_id": "d1", "relations": ["view", "viewer"]},
        {"object_id": "d2", "relations": ["edit", "owner", "view"]},
    ]));
    let (_, body) = cell.get("/api/v1/permissions/my-access?namespace=document&limit=1&page=2", &t_ann).await?;
    assert_eq!((body["data"][0]["object_id"].as_str(), body["meta"]["total"].as_u64()), (Some("d2"), Some(2)));
    let (status, _) = cell.get("/api/v1/permissions/my-access?namespace=nothing", &t_ann).await?;
    assert_eq!(status, 422);

    // user:* within the org: everyone in it; the audit shows direct and inherited holders.
    cell.post("/api/v1/permissions/grant", &a, rel("document", "d3", "viewer", json!({"type": "user", "id": "*"}))).await?;
    assert!(can(&cell, &a, "document", "d3", "view", ben).await?);
    let (status, body) = cell.get("/api/v1/permissions/audit?namespace=document&object_id=d2", &a).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["direct"], json!([{"relation": "owner", "subject": user(ann)}]));
    let holders = |b: &Value, relation: &str| -> Vec<(String, bool)> {
        b["effective"].as_array().into_iter().flatten()
            .filter(|e| e["relation"] == relation)
            .flat_map(|e| e["users"].as_array().cloned().unwrap_or_default())
            .map(|u| (u["user_id"].as_str().unwrap_or_default().to_owned(), u["direct"] == json!(true)))
            .collect()
    };
    assert_eq!(holders(&body, "owner"), vec![(ann.to_string(), true)]);
    assert_eq!(holders(&body, "edit"), vec![(ann.to_string(), false)], "inherited from `owner`");
    // Linked to the org, the document is editable by the org's admins (inherited).
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d2", "org", json!({"type": "org", "id": org.to_string()}))).await?;
    assert_eq!(status, 200, "{body}");
    let (_, body) = cell.get("/api/v1/permissions/audit?namespace=document&object_id=d2", &a).await?;
    let mut edit = holders(&body, "edit");
    edit.sort();
    let mut want = vec![(ann.to_string(), false), (owner.to_string(), false)];
    want.sort();
    assert_eq!(edit, want);
    // Another org cannot be linked.
    let (status, _) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d2", "org", json!({"type": "org", "id": Uuid::now_v7().to_string()}))).await?;
    assert_eq!(status, 422);
    let (status, _) = cell.get("/api/v1/permissions/audit?namespace=document&object_id=d2", &t_ann).await?;
    assert_eq!(status, 403);

    // Revoke.
    let (status, _) = cell.post("/api/v1/permissions/revoke", &a, rel("document", "d1", "viewer", user(ann))).await?;
    assert_eq!(status, 200);
    let (status, _) = cell.get("/api/v1/documents/d1", &t_ann).await?;
    assert_eq!(status, 403);
    cell.finish(db).await
});

db_test!(async fn custom_roles_grant_permissions_across_the_org(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (pm, dev) = (cell.user("pm@example.com"), cell.user("dev@example.com"));
    cell.join(org, pm, "member").await?;
    cell.join(org, dev, "member").await?;
    let (a, t_pm) = (tok(owner, org), tok(pm, org));
    let o = json!({"type": "org", "id": org.to_string()});
    for d in ["d1", "d2"] {
        cell.post("/api/v1/permissions/grant", &a, rel("document", d, "org", o.clone())).await?;
    }

    let (status, body) = cell.get("/api/v1/roles/grantable", &t_pm).await?;
    assert_eq!((status, body.clone()), (200, json!(["document:edit", "document:view"])), "{body}");
    let (status, _) = cell.post("/api/v1/roles", &t_pm, json!({"name": "pm", "permissions": ["document:view"]})).await?;
    assert_eq!(status, 403, "members cannot create roles");
    for bad in [json!(["document:fly"]), json!(["task:*"]), json!(["document"]), json!(["org:admin_access"])] {
        let (status, body) = cell.post("/api/v1/roles", &a, json!({"name": "x", "permissions": bad})).await?;
        assert_eq!((status, body["error"]["details"]["fields"]["permissions"].is_string()), (422, true), "{body}");
    }
    let (status, body) = cell.post("/api/v1/roles", &a, json!({"name": "Project manager", "permissions": ["document:view"]})).await?;
    assert_eq!(status, 201, "{body}");
    let role = id(&body)?.to_string();
    let (status, _) = cell.post("/api/v1/roles", &a, json!({"name": "Project manager", "permissions": []})).await?;
    assert_eq!(status, 409);

    // Membership through the generic grant route; the role reaches every document of the org.
    let (status, _) = cell.get("/api/v1/documents/d1", &t_pm).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, rel("role", &role, "member", user(pm))).await?;
    assert_eq!(status, 200, "{body}");
    for d in ["d1", "d2"] {
        let (status, _) = cell.get(&format!("/api/v1/documents/{d}"), &t_pm).await?;
        assert_eq!(status, 200, "{d}");
    }
    // Only the role's members: dev, a member of the org like pm, gets nothing.
    assert!(!can(&cell, &a, "document", "d1", "view", dev).await?);
    assert!(!can(&cell, &a, "document", "d1", "edit", pm).await?);
    let (_, body) = cell.get("/api/v1/permissions/my-access?namespace=document", &t_pm).await?;
    assert_eq!(body["data"], json!([{"object_id": "d1", "relations": ["view"]}, {"object_id": "d2", "relations": ["view"]}]));
    let (status, body) = cell.get(&format!("/api/v1/roles/{role}"), &t_pm).await?;
    assert_eq!((status, body["members"].clone()), (200, json!([user(pm)])), "{body}");
    let (status, _) = cell.post("/api/v1/permissions/grant", &a, rel("role", &role, "grant__document__edit", json!({"type": "user", "id": "*"}))).await?;
    assert_eq!(status, 422, "what a role grants is set through /roles");

    // Changing what it grants, then deleting it, applies at once.
    let (status, body) = cell.patch(&format!("/api/v1/roles/{role}"), &a, json!({"permissions": ["document:*"]})).await?;
    assert_eq!((status, body["permissions"].clone()), (200, json!(["document:*"])), "{body}");
    assert!(can(&cell, &a, "document", "d1", "edit", pm).await?);
    let (_, body) = cell.get("/api/v1/roles?search=project", &t_pm).await?;
    assert_eq!(body["meta"]["total"].as_u64(), Some(1));
    let (status, _) = cell.delete(&format!("/api/v1/roles/{role}"), &t_pm).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.delete(&format!("/api/v1/roles/{role}"), &a).await?;
    assert_eq!(status, 204);
    let (status, _) = cell.get("/api/v1/documents/d1", &t_pm).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.get(&format!("/api/v1/roles/{role}"), &a).await?;
    assert_eq!(status, 404);
    cell.finish(db).await
});

db_test!(async fn the_graph_is_per_org(db) {
    let cell = Cell::start(&db).await?;
    let (alice, bob) = (cell.user("alice@example.com"), cell.user("bob@example.com"));
    let (org_a, org_b) = (cell.org(alice, "A").await?, cell.org(bob, "B").await?);
    let (a, b) = (tok(alice, org_a), tok(bob, org_b));
    cell.post("/api/v1/permissions/grant", &a, rel("document", "shared-id", "viewer", user(alice))).await?;
    let (status, body) = cell.post("/api/v1/roles", &a, json!({"name": "Readers", "permissions": ["document:view"]})).await?;
    assert_eq!(status, 201, "{body}");
    let role_a = id(&body)?.to_string();

    // Same object id in B: nothing of A's is visible or changeable from there.
    let (status, body) = cell.get("/api/v1/permissions/audit?namespace=document&object_id=shared-id", &b).await?;
    assert_eq!((status, body["direct"].clone()), (200, json!([])), "{body}");
    assert!(!can(&cell, &b, "org", &org_a.to_string(), "admin_access", alice).await?);
    let (status, _) = cell.post("/api/v1/permissions/grant", &b, rel("document", "shared-id", "viewer", user(alice))).await?;
    assert_eq!(status, 422, "alice is not in B");
    let (status, _) = cell.post("/api/v1/permissions/grant", &b, rel("role", &role_a, "member", user(bob))).await?;
    assert_eq!(status, 404, "A's role is not part of B");
    for (method, path) in [("GET", format!("/api/v1/roles/{role_a}")), ("DELETE", format!("/api/v1/roles/{role_a}"))] {
        let (status, _) = match method {
            "GET" => cell.get(&path, &b).await?,
            _ => cell.delete(&path, &b).await?,
        };
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, body) = cell.patch(&format!("/api/v1/roles/{role_a}"), &b, json!({"name": "Mine"})).await?;
    assert_eq!(status, 404, "{body}");
    // Alice is unaffected; a token for an org one is not in gets nothing.
    let (status, _) = cell.get("/api/v1/documents/shared-id", &a).await?;
    assert_eq!(status, 200);
    let (status, _) = cell.get("/api/v1/documents/shared-id", &tok(alice, org_b)).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.get("/api/v1/documents/shared-id", &alice.to_string()).await?;
    assert_eq!(status, 403, "no active org");
    let (status, _) = cell.app.call(reqwest::Method::GET, "/api/v1/documents/shared-id", None, None).await?;
    assert_eq!(status, 401);
    let (status, _) = cell.get("/api/v1/roles", &tok(alice, org_b)).await?;
    assert_eq!(status, 403);
    cell.finish(db).await
});

db_test!(async fn caveated_grants_answer_with_the_request_context(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let ann = cell.user("ann@example.com");
    cell.join(org, ann, "member").await?;
    let (a, t_ann) = (tok(owner, org), tok(ann, org));
    let caveated = |caveat: Value| {
        let mut r = rel("document", "d5", "viewer", user(ann));
        r["caveat"] = caveat;
        r
    };
    let office = json!({"name": "in_network", "context": {"cidr": "10.0.0.0/8"}});
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, caveated(office.clone())).await?;
    assert_eq!(status, 200, "{body}");
    let check = |context: Option<Value>| {
        let mut req = json!({"namespace": "document", "object_id": "d5", "permission": "view"});
        if let Some(c) = context {
            req["context"] = c;
        }
        cell.post("/api/v1/permissions/check", &t_ann, req)
    };
    // Without the caller's address the answer is conditional, naming what is missing.
    let (status, body) = check(None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["allowed"].clone(), body["permissionship"].clone()), (json!(false), json!("conditional")), "{body}");
    assert_eq!(body["missing_context"], json!(["ip"]), "{body}");
    let (_, body) = check(Some(json!({"ip": "10.1.2.3"}))).await?;
    assert_eq!((body["allowed"].clone(), body["permissionship"].clone()), (json!(true), json!("allowed")), "{body}");
    let (_, body) = check(Some(json!({"ip": "192.168.1.1"}))).await?;
    assert_eq!((body["allowed"].clone(), body["permissionship"].clone()), (json!(false), json!("denied")), "{body}");
    // The grant's own context wins over the request's.
    let (_, body) = check(Some(json!({"ip": "192.168.1.1", "cidr": "192.168.0.0/16"}))).await?;
    assert_eq!(body["permissionship"], json!("denied"), "{body}");
    let (status, body) = check(Some(json!({"ip": "not an address"}))).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("validation_failed")), "{body}");
    // Not listed as held while conditional.
    let (_, body) = cell.get("/api/v1/permissions/my-access?namespace=document", &t_ann).await?;
    assert_eq!(body["data"], json!([]), "{body}");

    // Caveats the schema does not allow there, unknown ones, or a context of the wrong types.
    for bad in [
        json!({"name": "nope"}),
        json!({"name": "in_network", "context": {"cidr": 5}}),
        json!({"name": "in_network", "context": {"port": 80}}),
    ] {
        let (status, body) = cell.post("/api/v1/permissions/grant", &a, caveated(bad.clone())).await?;
        assert_eq!(status, 422, "{bad} → {body}");
    }
    let mut owner_rel = rel("document", "d5", "owner", user(ann));
    owner_rel["caveat"] = office;
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, owner_rel).await?;
    assert_eq!(status, 422, "`owner` takes no caveat: {body}");
    // An expiring grant, where the relation allows one: gone once expired.
    let mut past = rel("document", "d6", "viewer", user(ann));
    past["expires_at"] = json!("2020-01-01T00:00:00Z");
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, past).await?;
    assert_eq!(status, 200, "{body}");
    assert!(!can(&cell, &a, "document", "d6", "view", ann).await?, "expired when granted");
    let mut later = rel("document", "d6", "viewer", user(ann));
    later["expires_at"] = json!("2999-01-01T00:00:00Z");
    cell.post("/api/v1/permissions/grant", &a, later).await?;
    assert!(can(&cell, &a, "document", "d6", "view", ann).await?);
    let mut owner_until = rel("document", "d6", "owner", user(ann));
    owner_until["expires_at"] = json!("2999-01-01T00:00:00Z");
    let (status, body) = cell.post("/api/v1/permissions/grant", &a, owner_until).await?;
    assert_eq!(status, 422, "`owner` does not expire: {body}");

    // A module's route guard gives caveats the request's address (`client_ip`) and time (`now`):
    // these requests come from 127.0.0.1.
    for (doc, cidr, want) in [("d7", "127.0.0.0/8", 200), ("d8", "10.0.0.0/8", 403)] {
        let mut grant = rel("document", doc, "viewer", user(ann));
        grant["caveat"] = json!({"name": "from_network", "context": {"cidr": cidr}});
        let (status, body) = cell.post("/api/v1/permissions/grant", &a, grant).await?;
        assert_eq!(status, 200, "{body}");
        let (status, body) = cell.get(&format!("/api/v1/documents/{doc}"), &t_ann).await?;
        assert_eq!(status, want, "{doc} from 127.0.0.1 under {cidr}: {body}");
    }

    // Granting again without a caveat replaces it.
    let (status, _) = cell.post("/api/v1/permissions/grant", &a, rel("document", "d5", "viewer", user(ann))).await?;
    assert_eq!(status, 200);
    let (_, body) = check(None).await?;
    assert_eq!(body["permissionship"], json!("allowed"), "{body}");
    cell.finish(db).await
});
