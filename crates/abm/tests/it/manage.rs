//! The management routes (domains, contacts, identities, org-name mapping) over HTTP with real
//! sign-in: happy paths with exact bodies, conflicts, validation, 404s, the primary-domain
//! switch, identities feeding ingestion, and who may call what.

use abm::store::entity::contact_identity;
use chrono::{DateTime, FixedOffset};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use serde_json::{Value, json};
use testkit::{TestApp, TestDb, db_test};
use uuid::Uuid;

use crate::hook::{event, hook};
use crate::support::{
    Cell, SECRET, User, cell, customer, delete, get, operator, patch, post, user,
};

/// An internal admin of the operator org (deletions need one).
async fn admin(app: &TestApp) -> anyhow::Result<User> {
    user(
        app,
        "admin@fullorbit.test",
        operator(app)?,
        "internal_admin",
    )
    .await
}

/// A started cell and its internal sales user.
async fn sales(db: &TestDb) -> anyhow::Result<(Cell, User)> {
    let app = cell(db).await?;
    let op = operator(&app)?;
    let sales = user(&app, "sales@fullorbit.test", op, "internal_sales").await?;
    Ok((app, sales))
}

/// The `id` of a created thing.
fn id_of(body: &Value) -> anyhow::Result<Uuid> {
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
}

/// A company made through the API, with `aliases`; returns its id.
async fn company(
    app: &TestApp,
    token: &str,
    name: &str,
    domain: &str,
    aliases: &[&str],
) -> anyhow::Result<Uuid> {
    let (status, body) = post(
        app,
        "/api/abm/companies",
        token,
        json!({"name": name, "domain": domain, "aliases": aliases}),
    )
    .await?;
    anyhow::ensure!(status == 201, "{status} {body}");
    id_of(&body)
}

/// `POST`s `body` to `path`, expecting 201; returns the created id.
async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> anyhow::Result<Uuid> {
    let (status, res) = post(app, path, token, body).await?;
    anyhow::ensure!(status == 201, "{path}: {status} {res}");
    id_of(&res)
}

/// `body` without its server-made `fields`, each of which must be there as a string (an id or a
/// timestamp): what is left is compared exactly.
fn made(body: &Value, fields: &[&str]) -> Value {
    let mut rest = body.clone();
    if let Some(o) = rest.as_object_mut() {
        for f in fields {
            let v = o.remove(*f);
            assert!(v.as_ref().is_some_and(Value::is_string), "`{f}` in {body}");
        }
    }
    rest
}

/// The same for every item of an array.
fn made_all(body: &Value, fields: &[&str]) -> Value {
    Value::Array(
        body.as_array()
            .into_iter()
            .flatten()
            .map(|v| made(v, fields))
            .collect(),
    )
}

/// A timestamp of a body.
fn at(v: &Value) -> anyhow::Result<DateTime<FixedOffset>> {
    Ok(DateTime::parse_from_rfc3339(
        v.as_str().unwrap_or_default(),
    )?)
}

/// A 422 on `field`.
fn invalid(status: u16, body: &Value, field: &str) -> bool {
    status == 422
        && body["error"]["code"] == "validation_failed"
        && body["error"]["details"]["fields"][field].is_string()
}

fn error(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// A list's values of `key`.
fn column(page: &Value, key: &str) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

db_test!(async fn domains_are_listed_added_made_primary_and_removed(db) {
    let (app, sales) = sales(&db).await?;
    let t = sales.token.as_str();
    let nasa = company(&app, t, "NASA", "nasa.gov", &["jpl.nasa.gov"]).await?;
    let spacex = company(&app, t, "SpaceX", "spacex.com", &[]).await?;
    let domains = format!("/api/abm/companies/{nasa}/domains");

    let (status, body) = get(&app, &domains, t).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(made_all(&body, &["id", "created_at"]), json!([
        {"prospect_company_id": nasa, "domain": "nasa.gov", "is_primary": true},
        {"prospect_company_id": nasa, "domain": "jpl.nasa.gov", "is_primary": false},
    ]));

    // An alias, given as a URL.
    let (status, body) = post(&app, &domains, t, json!({"domain": "https://www.NASA-HQ.gov/about"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at"]), json!({"prospect_company_id": nasa, "domain": "nasa-hq.gov", "is_primary": false}));
    let hq = id_of(&body)?;

    // Conflicts: another prospect's domain, one of this company's own.
    let (status, body) = post(&app, &domains, t, json!({"domain": "SpaceX.com"})).await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error(&body), format!("the domain spacex.com belongs to company SpaceX ({spacex})"));
    let (status, body) = post(&app, &domains, t, json!({"domain": "jpl.nasa.gov"})).await?;
    assert_eq!((status, error(&body)), (409, "the domain jpl.nasa.gov is already a domain of this company"), "{body}");
    // Validation; an unknown field is refused by the JSON reader (400 `invalid_json`).
    let (status, body) = post(&app, &domains, t, json!({"domain": "not a domain"})).await?;
    assert!(invalid(status, &body, "domain"), "{status} {body}");
    let (status, body) = post(&app, &domains, t, json!({"domain": "nasa.us", "primary": true})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    // Unknown companies.
    let nobody = Uuid::now_v7();
    for (status, body) in [
        get(&app, &format!("/api/abm/companies/{nobody}/domains"), t).await?,
        post(&app, &format!("/api/abm/companies/{nobody}/domains"), t, json!({"domain": "nasa.us"})).await?,
    ] {
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    }

    // A new primary domain: the old one becomes an alias, the company follows.
    let (_, before) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    let (status, body) = post(&app, &domains, t, json!({"domain": "nasa.us", "is_primary": true})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at"]), json!({"prospect_company_id": nasa, "domain": "nasa.us", "is_primary": true}));
    let us = id_of(&body)?;
    let (_, after) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    assert_eq!(after["domain"], "nasa.us");
    assert!(at(&after["updated_at"])? > at(&before["updated_at"])?, "{before} → {after}");
    let (_, body) = get(&app, &domains, t).await?;
    assert_eq!(column(&json!({"data": body}), "domain"), ["nasa.us", "jpl.nasa.gov", "nasa-hq.gov", "nasa.gov"]);
    assert_eq!(body.as_array().map(|a| a.iter().filter(|d| d["is_primary"] == true).count()), Some(1));
    // An alias of the company made primary again (200: nothing new).
    let (status, body) = post(&app, &domains, t, json!({"domain": "nasa.gov", "is_primary": true})).await?;
    assert_eq!((status, body["is_primary"].as_bool()), (200, Some(true)), "{body}");
    let (_, after) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    assert_eq!(after["domain"], "nasa.gov");
    let (_, body) = get(&app, &domains, t).await?;
    assert_eq!(column(&json!({"data": body}), "domain"), ["nasa.gov", "jpl.nasa.gov", "nasa-hq.gov", "nasa.us"]);

    // Removing a domain needs an internal admin; the primary domain stays; aliases go.
    let primary = body[0]["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = delete(&app, &format!("/api/abm/domains/{us}"), t).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "sales: {body}");
    let admin = admin(&app).await?;
    let t = admin.token.as_str();
    let (status, body) = delete(&app, &format!("/api/abm/domains/{primary}"), t).await?;
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).ends_with("make another domain primary first"), "{body}");
    for d in [us, hq] {
        assert_eq!(delete(&app, &format!("/api/abm/domains/{d}"), t).await?.0, 204);
    }
    let (_, body) = get(&app, &domains, t).await?;
    assert_eq!(column(&json!({"data": body}), "domain"), ["nasa.gov", "jpl.nasa.gov"]);
    // Gone, never there, or the id of something else: 404.
    for id in [us, Uuid::now_v7(), nasa] {
        let (status, body) = delete(&app, &format!("/api/abm/domains/{id}"), t).await?;
        assert_eq!((status, error(&body)), (404, "no such domain"), "{body}");
    }
    Ok(())
});

db_test!(async fn contacts_are_created_listed_read_updated_and_deleted(db) {
    let (app, sales) = sales(&db).await?;
    let t = sales.token.as_str();
    let op = operator(&app)?;
    let acme = company(&app, t, "Acme", "acme.com", &[]).await?;
    let globex = company(&app, t, "Globex", "globex.com", &[]).await?;
    let contacts = format!("/api/abm/companies/{acme}/contacts");

    let (status, body) = post(&app, &contacts, t, json!({"email": "Jane@Acme.COM", "first_name": " Jane ", "last_name": "Doe", "title": "CTO"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at", "updated_at"]), json!({
        "prospect_company_id": acme, "email": "jane@acme.com", "first_name": "Jane", "last_name": "Doe",
        "title": "CTO", "status": "new",
    }));
    let jane = id_of(&body)?;
    let bob = created(&app, t, &contacts, json!({"email": "bob@acme.com", "first_name": "Bob", "status": "engaged"})).await?;
    created(&app, t, &contacts, json!({"email": "zed@acme.com", "last_name": "Zimmer", "status": "qualified", "title": ""})).await?;
    // The same address at another company is another contact.
    created(&app, t, &format!("/api/abm/companies/{globex}/contacts"), json!({"email": "jane@acme.com"})).await?;

    // 409 on the same address in the company, whatever its case; 422s; 400 on unknown fields.
    let (status, body) = post(&app, &contacts, t, json!({"email": "JANE@acme.com"})).await?;
    assert_eq!((status, error(&body)), (409, format!("the company already has the contact jane@acme.com ({jane})").as_str()), "{body}");
    for (bad, field) in [
        (json!({"email": "sam@acme.com", "status": "won"}), "status"),
        (json!({"email": "not-an-address"}), "email"),
        (json!({"email": "sam@acme.com", "first_name": "x".repeat(201)}), "first_name"),
    ] {
        let (status, body) = post(&app, &contacts, t, bad.clone()).await?;
        assert!(invalid(status, &body, field), "{bad} → {status} {body}");
    }
    let (status, body) = post(&app, &contacts, t, json!({"email": "sam@acme.com", "phone": "555"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    let nobody = Uuid::now_v7();
    let (status, _) = post(&app, &format!("/api/abm/companies/{nobody}/contacts"), t, json!({"email": "sam@acme.com"})).await?;
    assert_eq!(status, 404);

    // The list: sorted by email, filtered by status, searched in names and emails, paged.
    let (status, page) = get(&app, &contacts, t).await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(column(&page, "email"), ["bob@acme.com", "jane@acme.com", "zed@acme.com"]);
    assert_eq!(page["meta"], json!({"page": 1, "limit": 25, "total": 3, "total_exact": true, "total_pages": 1, "has_next": false, "has_prev": false}));
    assert_eq!(made(&page["data"][0], &["id", "created_at", "updated_at"]), json!({
        "prospect_company_id": acme, "email": "bob@acme.com", "first_name": "Bob", "last_name": null,
        "title": null, "status": "engaged",
    }));
    for (query, emails) in [
        ("filter[status]=new,engaged", &["bob@acme.com", "jane@acme.com"][..]),
        ("search=ZIMM", &["zed@acme.com"][..]),
        ("search=jane", &["jane@acme.com"][..]),
        ("sort=created_at:desc", &["zed@acme.com", "bob@acme.com", "jane@acme.com"][..]),
        ("sort=email:desc&limit=2&page=2", &["bob@acme.com"][..]),
    ] {
        let (status, page) = get(&app, &format!("{contacts}?{query}"), t).await?;
        assert_eq!((status, column(&page, "email")), (200, emails.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()), "{query}: {page}");
    }
    let (status, body) = get(&app, &format!("{contacts}?sort=title"), t).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_query")), "{body}");
    assert_eq!(get(&app, &format!("/api/abm/companies/{nobody}/contacts"), t).await?.0, 404);

    // One contact, with its identities.
    let path = format!("/api/abm/contacts/{jane}");
    let (status, body) = get(&app, &path, t).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(made(&body, &["created_at", "updated_at"]), json!({
        "id": jane, "prospect_company_id": acme, "email": "jane@acme.com", "first_name": "Jane",
        "last_name": "Doe", "title": "CTO", "status": "new", "identities": [],
    }));

    // Changes: `null` clears, absent keeps.
    let (status, body) = patch(&app, &path, t, json!({"first_name": "Janet", "title": null, "status": "qualified", "email": "Janet@Acme.com"})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(made(&body, &["created_at", "updated_at"]), json!({
        "id": jane, "prospect_company_id": acme, "email": "janet@acme.com", "first_name": "Janet",
        "last_name": "Doe", "title": null, "status": "qualified",
    }));
    let (status, body) = patch(&app, &path, t, json!({"email": "BOB@acme.com"})).await?;
    assert_eq!((status, error(&body)), (409, format!("the company already has the contact bob@acme.com ({bob})").as_str()), "{body}");
    let (status, body) = patch(&app, &path, t, json!({"email": "janet@acme.com"})).await?;
    assert_eq!(status, 200, "its own address: {body}");
    for (bad, field) in [(json!({"status": "won"}), "status"), (json!({"email": "nope"}), "email")] {
        let (status, body) = patch(&app, &path, t, bad.clone()).await?;
        assert!(invalid(status, &body, field), "{bad} → {status} {body}");
    }
    let (status, body) = patch(&app, &path, t, json!({"company": "x"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    assert_eq!(patch(&app, &format!("/api/abm/contacts/{nobody}"), t, json!({"status": "new"})).await?.0, 404);

    // Deleting a contact deletes its identities.
    for (kind, value) in [("posthog_distinct_id", "ph-jane"), ("crm_id", "crm-1")] {
        created(&app, t, &format!("{path}/identities"), json!({"identity_type": kind, "identity_value": value})).await?;
    }
    let (status, body) = delete(&app, &path, t).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "sales: {body}");
    let admin = admin(&app).await?;
    assert_eq!(delete(&app, &path, &admin.token).await?.0, 204);
    for (status, body) in [get(&app, &path, t).await?, delete(&app, &path, &admin.token).await?, get(&app, &format!("{path}/identities"), t).await?] {
        assert_eq!((status, error(&body)), (404, "no such contact"), "{body}");
    }
    let tx = app.ctx.db().tenant(op).await?;
    let repo = tx.repo::<contact_identity::Entity>();
    let left = repo.find().filter(contact_identity::Column::ContactId.eq(jane)).all(repo.conn()).await?;
    tx.commit().await?;
    assert!(left.is_empty(), "{left:?}");
    // Its identifiers are free again.
    created(&app, t, &format!("/api/abm/contacts/{bob}/identities"), json!({"identity_type": "posthog_distinct_id", "identity_value": "ph-jane"})).await?;
    let (_, page) = get(&app, &contacts, t).await?;
    assert_eq!(column(&page, "email"), ["bob@acme.com", "zed@acme.com"]);
    Ok(())
});

db_test!(async fn identities_added_through_the_api_attribute_events(db) {
    let (app, sales) = sales(&db).await?;
    let t = sales.token.as_str();
    let orbital = company(&app, t, "Orbital", "orbital.io", &[]).await?;
    let contacts = format!("/api/abm/companies/{orbital}/contacts");
    let ann = created(&app, t, &contacts, json!({"email": "ann@orbital.io", "first_name": "Ann"})).await?;
    let bob = created(&app, t, &contacts, json!({"email": "bob@orbital.io"})).await?;
    let identities = format!("/api/abm/contacts/{ann}/identities");

    let (status, body) = post(&app, &identities, t, json!({"identity_type": "posthog_distinct_id", "identity_value": "  ph-Ann  "})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at"]), json!({"contact_id": ann, "identity_type": "posthog_distinct_id", "identity_value": "ph-Ann"}));
    let distinct = id_of(&body)?;
    let (status, body) = post(&app, &identities, t, json!({"identity_type": "email", "identity_value": "Ann@Orbital.IO"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at"]), json!({"contact_id": ann, "identity_type": "email", "identity_value": "ann@orbital.io"}));

    let expected = json!([
        {"contact_id": ann, "identity_type": "email", "identity_value": "ann@orbital.io"},
        {"contact_id": ann, "identity_type": "posthog_distinct_id", "identity_value": "ph-Ann"},
    ]);
    let (status, body) = get(&app, &identities, t).await?;
    assert_eq!((status, made_all(&body, &["id", "created_at"])), (200, expected.clone()), "{body}");
    let (_, detail) = get(&app, &format!("/api/abm/contacts/{ann}"), t).await?;
    assert_eq!(made_all(&detail["identities"], &["id", "created_at"]), expected);

    // The same identifier for anyone (here another contact) is a 409 naming its contact.
    let (status, body) = post(&app, &format!("/api/abm/contacts/{bob}/identities"), t, json!({"identity_type": "email", "identity_value": "ANN@orbital.io"})).await?;
    assert_eq!((status, error(&body)), (409, format!("the email `ann@orbital.io` belongs to contact ann@orbital.io ({ann})").as_str()), "{body}");
    // The same value as another type is another identifier.
    created(&app, t, &format!("/api/abm/contacts/{bob}/identities"), json!({"identity_type": "crm_id", "identity_value": "ph-Ann"})).await?;
    for (bad, field) in [
        (json!({"identity_type": "phone", "identity_value": "555"}), "identity_type"),
        (json!({"identity_type": "cookie_id", "identity_value": "   "}), "identity_value"),
        (json!({"identity_type": "cookie_id", "identity_value": "c".repeat(256)}), "identity_value"),
    ] {
        let (status, body) = post(&app, &identities, t, bad.clone()).await?;
        assert!(invalid(status, &body, field), "{bad} → {status} {body}");
    }
    let (status, body) = post(&app, &identities, t, json!({"identity_type": "cookie_id", "identity_value": "c1", "primary": true})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    let nobody = Uuid::now_v7();
    for (status, body) in [
        get(&app, &format!("/api/abm/contacts/{nobody}/identities"), t).await?,
        post(&app, &format!("/api/abm/contacts/{orbital}/identities"), t, json!({"identity_type": "cookie_id", "identity_value": "c1"})).await?,
    ] {
        assert_eq!((status, error(&body)), (404, "no such contact"), "{body}");
    }

    // A signed PostHog event of that distinct id lands on the company, for the contact.
    let pricing = json!({"$pathname": "/pricing"});
    let (status, body) = hook(&app, "msg_1", &event("$pageview", "ph-Ann", pricing.clone()).to_string(), None, SECRET).await?;
    assert_eq!((status, body["signals"].as_u64()), (200, Some(1)), "{body}");
    let (_, detail) = get(&app, &format!("/api/abm/companies/{orbital}"), t).await?;
    let signal = &detail["recent_signals"][0];
    assert_eq!((signal["prospect_company_id"].as_str(), signal["contact_id"].as_str(), signal["signal_type"].as_str()),
        (Some(orbital.to_string().as_str()), Some(ann.to_string().as_str()), Some("pricing_view")), "{detail}");

    // Unlinking needs an internal admin; unlinked, the distinct id is nobody's.
    let (status, body) = delete(&app, &format!("/api/abm/identities/{distinct}"), t).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "sales: {body}");
    let admin = admin(&app).await?;
    let t = admin.token.as_str();
    assert_eq!(delete(&app, &format!("/api/abm/identities/{distinct}"), t).await?.0, 204);
    for id in [distinct, nobody, ann] {
        let (status, body) = delete(&app, &format!("/api/abm/identities/{id}"), t).await?;
        assert_eq!((status, error(&body)), (404, "no such identity"), "{body}");
    }
    let (_, body) = hook(&app, "msg_2", &event("$pageview", "ph-Ann", pricing).to_string(), None, SECRET).await?;
    assert_eq!((body["signals"].as_u64(), body["unattributed"].as_u64()), (Some(0), Some(1)), "{body}");
    // A deleted contact's signals stay, still naming it.
    assert_eq!(delete(&app, &format!("/api/abm/contacts/{ann}"), t).await?.0, 204);
    let (_, detail) = get(&app, &format!("/api/abm/companies/{orbital}"), t).await?;
    assert_eq!(detail["recent_signals"][0]["contact_id"].as_str(), Some(ann.to_string().as_str()), "{detail}");
    Ok(())
});

db_test!(async fn the_org_name_mapping_is_kept_by_sales_and_changed_by_admins(db) {
    let (app, sales) = sales(&db).await?;
    let t = sales.token.as_str();
    let admin = user(&app, "boss@fullorbit.test", operator(&app)?, "internal_admin").await?;
    let a = admin.token.as_str();

    let (status, body) = post(&app, "/api/abm/org-domains", t, json!({"org_name": "  Stanford University ", "domain": "https://www.Stanford.edu/"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(made(&body, &["id", "created_at"]), json!({"org_name": "stanford university", "domain": "stanford.edu"}));
    let stanford = id_of(&body)?;
    let jpl = created(&app, t, "/api/abm/org-domains", json!({"org_name": "Jet Propulsion Laboratory", "domain": "jpl.nasa.gov"})).await?;

    let (status, body) = post(&app, "/api/abm/org-domains", t, json!({"org_name": "STANFORD UNIVERSITY", "domain": "other.edu"})).await?;
    assert_eq!((status, error(&body)), (409, format!("`stanford university` is mapped to stanford.edu already ({stanford})").as_str()), "{body}");
    for (bad, field) in [
        (json!({"org_name": "  ", "domain": "x.edu"}), "org_name"),
        (json!({"org_name": "x".repeat(201), "domain": "x.edu"}), "org_name"),
        (json!({"org_name": "MIT", "domain": "mit"}), "domain"),
    ] {
        let (status, body) = post(&app, "/api/abm/org-domains", t, bad.clone()).await?;
        assert!(invalid(status, &body, field), "{bad} → {status} {body}");
    }
    let (status, body) = post(&app, "/api/abm/org-domains", t, json!({"org_name": "MIT", "domain": "mit.edu", "country": "US"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");

    let (status, page) = get(&app, "/api/abm/org-domains", t).await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(made_all(&page["data"], &["id", "created_at"]), json!([
        {"org_name": "jet propulsion laboratory", "domain": "jpl.nasa.gov"},
        {"org_name": "stanford university", "domain": "stanford.edu"},
    ]));
    assert_eq!(page["meta"]["total"], 2);
    for (query, names) in [("search=NASA", &["jet propulsion laboratory"][..]), ("search=stanford&sort=domain:desc", &["stanford university"][..]), ("sort=domain:desc", &["stanford university", "jet propulsion laboratory"][..])] {
        let (_, page) = get(&app, &format!("/api/abm/org-domains?{query}"), t).await?;
        assert_eq!(column(&page, "org_name"), names, "{query}: {page}");
    }

    // Changing or deleting the mapping takes an internal admin.
    let path = format!("/api/abm/org-domains/{jpl}");
    for (status, body) in [patch(&app, &path, t, json!({"domain": "jpl.gov"})).await?, delete(&app, &path, t).await?] {
        assert_eq!((status, error(&body)), (403, "this needs an internal admin"), "{body}");
    }
    let (status, body) = patch(&app, &path, a, json!({"domain": "JPL.gov"})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(made(&body, &["created_at"]), json!({"id": jpl, "org_name": "jet propulsion laboratory", "domain": "jpl.gov"}));
    let (status, body) = patch(&app, &path, a, json!({"domain": "jpl"})).await?;
    assert!(invalid(status, &body, "domain"), "{status} {body}");
    assert_eq!(delete(&app, &path, a).await?.0, 204);
    for (status, body) in [delete(&app, &path, a).await?, patch(&app, &path, a, json!({"domain": "jpl.gov"})).await?] {
        assert_eq!((status, error(&body)), (404, "no such org-name mapping"), "{body}");
    }
    let (_, page) = get(&app, "/api/abm/org-domains", t).await?;
    assert_eq!(column(&page, "org_name"), ["stanford university"]);
    Ok(())
});

db_test!(async fn customer_users_are_refused_every_route(db) {
    let (app, sales) = sales(&db).await?;
    let t = sales.token.as_str();
    let acme = company(&app, t, "Acme", "acme.com", &["acme.io"]).await?;
    let contact = created(&app, t, &format!("/api/abm/companies/{acme}/contacts"), json!({"email": "jane@acme.com"})).await?;
    let identity = created(&app, t, &format!("/api/abm/contacts/{contact}/identities"), json!({"identity_type": "crm_id", "identity_value": "crm-1"})).await?;
    let mapping = created(&app, t, "/api/abm/org-domains", json!({"org_name": "Acme", "domain": "acme.com"})).await?;
    let (_, domains) = get(&app, &format!("/api/abm/companies/{acme}/domains"), t).await?;
    let alias = domains[1]["id"].as_str().unwrap_or_default().to_owned();
    let org = customer(&app, "Acme Launch", "growth").await?;
    let ann = user(&app, "ann@acme.test", org, "customer_admin").await?;

    let calls: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/abm/companies/{acme}/domains"), None),
        ("POST", format!("/api/abm/companies/{acme}/domains"), Some(json!({"domain": "acme.net"}))),
        ("DELETE", format!("/api/abm/domains/{alias}"), None),
        ("GET", format!("/api/abm/companies/{acme}/contacts"), None),
        ("POST", format!("/api/abm/companies/{acme}/contacts"), Some(json!({"email": "eve@acme.com"}))),
        ("GET", format!("/api/abm/contacts/{contact}"), None),
        ("PATCH", format!("/api/abm/contacts/{contact}"), Some(json!({"status": "engaged"}))),
        ("GET", format!("/api/abm/contacts/{contact}/identities"), None),
        ("POST", format!("/api/abm/contacts/{contact}/identities"), Some(json!({"identity_type": "cookie_id", "identity_value": "c1"}))),
        ("DELETE", format!("/api/abm/identities/{identity}"), None),
        ("GET", "/api/abm/org-domains".to_owned(), None),
        ("POST", "/api/abm/org-domains".to_owned(), Some(json!({"org_name": "Evil", "domain": "evil.com"}))),
        ("PATCH", format!("/api/abm/org-domains/{mapping}"), Some(json!({"domain": "evil.com"}))),
        ("DELETE", format!("/api/abm/org-domains/{mapping}"), None),
        ("DELETE", format!("/api/abm/contacts/{contact}"), None),
    ];
    for (method, path, body) in &calls {
        let (status, res) = match (*method, body) {
            ("GET", _) => get(&app, path, &ann.token).await?,
            ("POST", Some(b)) => post(&app, path, &ann.token, b.clone()).await?,
            ("PATCH", Some(b)) => patch(&app, path, &ann.token, b.clone()).await?,
            _ => delete(&app, path, &ann.token).await?,
        };
        assert_eq!((status, res["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {res}");
    }
    // Nothing changed.
    let (_, after) = get(&app, &format!("/api/abm/companies/{acme}/domains"), t).await?;
    assert_eq!(after, domains);
    let (_, detail) = get(&app, &format!("/api/abm/contacts/{contact}"), t).await?;
    assert_eq!((detail["status"].as_str(), detail["identities"].as_array().map(Vec::len)), (Some("new"), Some(1)), "{detail}");
    let (_, page) = get(&app, "/api/abm/org-domains", t).await?;
    assert_eq!(column(&page, "domain"), ["acme.com"]);
    Ok(())
});
