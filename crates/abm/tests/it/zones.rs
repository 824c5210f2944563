//! The dashboard (`/api/abm/*`) and the portal (`/api/app/*`) over HTTP with real sign-in:
//! zones, the companies list and detail, the score explanation, conversion, the signal feed,
//! customer accounts, and isolation between customers.

use abm::store::entity::intent_signal;
use chrono::{DateTime, TimeDelta, Utc};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use serde_json::{Value, json};
use testkit::{TestApp, TestDb, db_test};
use uuid::Uuid;

use crate::hook::{event, hook};
use crate::support::{
    SECRET, User, add_contact, add_identity, cell, customer, delete, get, operator, patch, post,
    user,
};

/// A company made through the API; returns its id.
async fn company(app: &TestApp, token: &str, name: &str, domain: &str) -> anyhow::Result<Uuid> {
    let (status, body) = post(
        app,
        "/api/abm/companies",
        token,
        json!({"name": name, "domain": domain}),
    )
    .await?;
    anyhow::ensure!(status == 201, "{status} {body}");
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
}

/// A contact of `company` known to PostHog as `distinct`.
async fn person(app: &TestApp, company: Uuid, email: &str, distinct: &str) -> anyhow::Result<Uuid> {
    let tx = app.ctx.db().tenant(operator(app)?).await?;
    let id = add_contact(&tx, company, email).await?;
    add_identity(&tx, id, "posthog_distinct_id", distinct).await?;
    tx.commit().await?;
    Ok(id)
}

/// A signal of `company`, `days` ago, written directly (for ages the hook would not accept).
async fn signal(
    app: &TestApp,
    company: Uuid,
    kind: &str,
    lane: Option<&str>,
    weight: i32,
    at: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    let org = operator(app)?;
    let tx = app.ctx.db().tenant(org).await?;
    let id = Uuid::now_v7();
    tx.repo::<intent_signal::Entity>()
        .insert(intent_signal::ActiveModel {
            id: Set(id),
            org_id: Set(org),
            prospect_company_id: Set(company),
            contact_id: Set(None),
            visitor_id: Set(None),
            signal_type: Set(kind.into()),
            service_lane: Set(lane.map(str::to_owned)),
            topic: Set(Some("Starship Specs PDF".into())),
            weight: Set(weight),
            occurred_at: Set(at),
            event_uuid: Set(None),
            created_at: Set(Utc::now()),
        })
        .await?;
    tx.commit().await?;
    Ok(id)
}

struct People {
    admin: User,
    sales: User,
}

async fn internal(app: &TestApp) -> anyhow::Result<People> {
    let op = operator(app)?;
    Ok(People {
        admin: user(app, "boss@fullorbit.test", op, "internal_admin").await?,
        sales: user(app, "sales@fullorbit.test", op, "internal_sales").await?,
    })
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

db_test!(async fn each_zone_admits_only_its_users(db) {
    let app = cell(&db).await?;
    let op = operator(&app)?;
    let staff = internal(&app).await?;
    let viewer = user(&app, "viewer@fullorbit.test", op, "viewer").await?;
    let acme = customer(&app, "Acme Launch", "growth").await?;
    let globex = customer(&app, "Globex", "starter").await?;
    let ann = user(&app, "ann@acme.test", acme, "customer_admin").await?;
    let gus = user(&app, "gus@globex.test", globex, "customer_member").await?;
    // A plain organization of the cell that is no customer.
    let other = Uuid::now_v7();
    let tx = app.ctx.db().tenant(other).await?;
    tenancy::create_organization_without_members(&tx, tenancy::NewOrganization { name: "Side project".into(), ..Default::default() })
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    let outsider = user(&app, "sam@side.test", other, "owner").await?;

    for path in ["/api/abm/companies", "/api/abm/signals/feed"] {
        assert_eq!(get(&app, path, &staff.sales.token).await?.0, 200, "{path}");
        assert_eq!(get(&app, path, &staff.admin.token).await?.0, 200, "{path}");
        for who in [&ann, &gus, &outsider, &viewer] {
            let (status, body) = get(&app, path, &who.token).await?;
            assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{path} {body}");
        }
        assert_eq!(app.get(path, None).await?.0, 401, "{path}");
    }
    let (status, _) = post(&app, "/api/abm/companies", &ann.token, json!({"name": "Evil", "domain": "evil.test"})).await?;
    assert_eq!(status, 403);
    for path in ["/api/app/me", "/api/app/billing"] {
        for who in [&staff.admin, &staff.sales, &outsider] {
            let (status, body) = get(&app, path, &who.token).await?;
            assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{path} {body}");
        }
        assert_eq!(app.get(path, None).await?.0, 401, "{path}");
    }

    // Each customer sees their own company only.
    let (status, me) = get(&app, "/api/app/me", &ann.token).await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ann@acme.test");
    assert_eq!(me["role"], "customer_admin");
    assert_eq!(me["customer_company"]["id"], acme.to_string());
    assert_eq!(me["customer_company"]["name"], "Acme Launch");
    let (_, bill) = get(&app, "/api/app/billing", &ann.token).await?;
    assert_eq!((bill["customer_company_id"].as_str(), bill["plan_tier"].as_str(), bill["stripe_customer_id"].as_str()), (Some(acme.to_string().as_str()), Some("growth"), Some("cus_acme launch")), "{bill}");
    let (_, bill) = get(&app, "/api/app/billing", &gus.token).await?;
    assert_eq!((bill["customer_company_id"].as_str(), bill["plan_tier"].as_str()), (Some(globex.to_string().as_str()), Some("starter")), "{bill}");

    // Removal from the customer org applies at once, whatever the token says.
    let tx = app.ctx.db().tenant(globex).await?;
    tx.repo::<tenancy::entity::membership::Entity>().delete((globex, gus.id)).await?;
    iam::platform::remove_member(&tx, gus.id).await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    assert_eq!(get(&app, "/api/app/billing", &gus.token).await?.0, 403);
    // And from the operator org.
    let tx = app.ctx.db().tenant(op).await?;
    tx.repo::<tenancy::entity::membership::Entity>().delete((op, staff.sales.id)).await?;
    iam::platform::remove_member(&tx, staff.sales.id).await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    assert_eq!(get(&app, "/api/abm/companies", &staff.sales.token).await?.0, 403);
    Ok(())
});

db_test!(async fn companies_are_listed_hottest_first_with_filters(db) {
    let app = cell(&db).await?;
    let staff = internal(&app).await?;
    let t = &staff.sales.token;
    let nasa = company(&app, t, "NASA", "nasa.gov").await?;
    let spacex = company(&app, t, "SpaceX", "https://www.SpaceX.com/careers").await?;
    let blue = company(&app, t, "Blue Origin", "blueorigin.com").await?;
    person(&app, nasa, "amy@nasa.gov", "ph-amy").await?;
    person(&app, spacex, "elon@spacex.com", "ph-elon").await?;
    let pricing = json!({"$current_url": "https://fullorbit.example/pricing", "$pathname": "/pricing"});
    let batch = json!([
        event("$pageview", "ph-amy", pricing.clone()),
        event("$pageview", "ph-amy", pricing.clone()),
        event("content_download", "ph-elon", json!({"asset": "ISAM brochure"})),
    ]);
    let (status, body) = hook(&app, "m1", &batch.to_string(), None, SECRET).await?;
    assert_eq!((status, body["signals"].as_u64()), (200, Some(3)), "{body}");
    while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}

    let (status, page) = get(&app, "/api/abm/companies", t).await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["NASA", "SpaceX", "Blue Origin"]);
    assert_eq!(page["data"][0]["intent_score"], 40);
    assert_eq!(page["data"][0]["stage"], "engaged");
    assert_eq!(page["data"][1]["domain"], "spacex.com");
    assert_eq!(page["meta"]["total"], 3, "{page}");
    let (_, page) = get(&app, "/api/abm/companies?filter[intent_score.gte]=15", t).await?;
    assert_eq!(ids(&page), ["NASA", "SpaceX"]);
    let (_, page) = get(&app, "/api/abm/companies?filter[lane]=Launch", t).await?;
    assert_eq!(ids(&page), ["NASA"]);
    let (_, page) = get(&app, "/api/abm/companies?filter[stage]=new&sort=name:asc", t).await?;
    assert_eq!(ids(&page), ["Blue Origin", "SpaceX"]);
    let (_, page) = get(&app, "/api/abm/companies?search=origin", t).await?;
    assert_eq!(ids(&page), ["Blue Origin"]);
    let (_, page) = get(&app, "/api/abm/companies?limit=1&page=2", t).await?;
    assert_eq!((ids(&page), page["meta"]["total"].as_u64()), (vec!["SpaceX".to_owned()], Some(3)));
    let (status, page) = get(&app, &format!("/api/abm/companies?filter[owner_user_id]={}", staff.sales.id), t).await?;
    assert_eq!((status, ids(&page).len()), (200, 0));
    for bad in ["filter[lane]=Orbit", "filter[lane.ne]=Launch", "filter[colour]=red", "sort=secret:asc", "limit=0"] {
        let (status, body) = get(&app, &format!("/api/abm/companies?{bad}"), t).await?;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // Owners are internal users only; stages move by hand except into `customer`.
    let acme = customer(&app, "Acme", "growth").await?;
    let ann = user(&app, "ann@acme.test", acme, "customer_admin").await?;
    let (status, body) = patch(&app, &format!("/api/abm/companies/{blue}"), t, json!({"owner_user_id": ann.id})).await?;
    assert_eq!((status, body["error"]["details"]["fields"]["owner_user_id"].is_array() || body["error"]["details"]["fields"]["owner_user_id"].is_string()), (422, true), "{body}");
    let (status, body) = patch(&app, &format!("/api/abm/companies/{blue}"), t, json!({"owner_user_id": staff.sales.id, "stage": "opportunity", "name": "Blue Origin LLC"})).await?;
    assert_eq!((status, body["owner_user_id"].as_str(), body["stage"].as_str(), body["name"].as_str()), (200, Some(staff.sales.id.to_string().as_str()), Some("opportunity"), Some("Blue Origin LLC")), "{body}");
    let (_, page) = get(&app, &format!("/api/abm/companies?filter[owner_user_id]={}", staff.sales.id), t).await?;
    assert_eq!(ids(&page), ["Blue Origin LLC"]);
    let (status, body) = patch(&app, &format!("/api/abm/companies/{blue}"), t, json!({"owner_user_id": null})).await?;
    assert_eq!((status, body["owner_user_id"].is_null()), (200, true));
    let (status, _) = patch(&app, &format!("/api/abm/companies/{blue}"), t, json!({"stage": "customer"})).await?;
    assert_eq!(status, 422);
    // Domains are unique across prospects; bad input is 422 and stores nothing.
    let (status, body) = post(&app, "/api/abm/companies", t, json!({"name": "NASA again", "domain": "NASA.gov"})).await?;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(&app, "/api/abm/companies", t, json!({"name": "X", "domain": "not a domain"})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("validation_failed")), "{body}");
    let (status, _) = post(&app, "/api/abm/companies", t, json!({"name": "", "domain": "x.test"})).await?;
    assert_eq!(status, 422);
    let (_, page) = get(&app, "/api/abm/companies", t).await?;
    assert_eq!(page["meta"]["total"], 3);

    // Deleting is for internal admins, and takes the company's data with it.
    assert_eq!(delete(&app, &format!("/api/abm/companies/{nasa}"), t).await?.0, 403);
    assert_eq!(delete(&app, &format!("/api/abm/companies/{nasa}"), &staff.admin.token).await?.0, 204);
    assert_eq!(get(&app, &format!("/api/abm/companies/{nasa}"), t).await?.0, 404);
    let tx = app.ctx.db().tenant(operator(&app)?).await?;
    let repo = tx.repo::<intent_signal::Entity>();
    let left = repo.find().filter(intent_signal::Column::ProspectCompanyId.eq(nasa)).all(repo.conn()).await?;
    tx.commit().await?;
    assert!(left.is_empty());
    Ok(())
});

db_test!(async fn detail_and_score_explain_the_signals(db) {
    let app = cell(&db).await?;
    let staff = internal(&app).await?;
    let t = &staff.sales.token;
    let nasa = company(&app, t, "NASA", "nasa.gov").await?;
    let now = Utc::now();
    signal(&app, nasa, "pricing_view", Some("Launch"), 20, now - TimeDelta::days(1)).await?;
    signal(&app, nasa, "content_download", Some("ISAM"), 15, now - TimeDelta::days(2)).await?;
    signal(&app, nasa, "page_view", None, 5, now - TimeDelta::days(10)).await?;
    signal(&app, nasa, "page_view", None, 10, now - TimeDelta::days(20)).await?;
    signal(&app, nasa, "pricing_view", Some("Launch"), 99, now - TimeDelta::days(40)).await?;

    let (status, d) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["name"], "NASA");
    assert_eq!(d["domains"][0]["domain"], "nasa.gov");
    assert_eq!(d["domains"][0]["is_primary"], true);
    assert_eq!((d["signals"]["signals"].as_u64(), d["signals"]["weight"].as_i64()), (Some(4), Some(50)), "{d}");
    assert_eq!(d["signals"]["by_signal_type"][0], json!({"key": "pricing_view", "signals": 1, "weight": 20}));
    assert_eq!(d["signals"]["by_service_lane"], json!([
        {"key": "Launch", "signals": 1, "weight": 20},
        {"key": null, "signals": 2, "weight": 15},
        {"key": "ISAM", "signals": 1, "weight": 15},
    ]));
    assert_eq!(d["recent_signals"].as_array().map(Vec::len), Some(5));
    assert!(d["customer"].is_null());

    let (status, s) = get(&app, &format!("/api/abm/companies/{nasa}/score"), t).await?;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["weight"], 50);
    assert_eq!(s["momentum"]["last_7_days"], 35);
    assert_eq!(s["momentum"]["prior_21_days"], 15);
    assert_eq!(s["momentum"]["ratio"], 7.0);
    let weeks: i64 = s["by_week"].as_array().into_iter().flatten().map(|w| w["weight"].as_i64().unwrap_or(0)).sum();
    assert_eq!(weeks, 50);
    assert!(s["by_week"].as_array().is_some_and(|w| w.len() >= 3), "{s}");
    assert_eq!(get(&app, &format!("/api/abm/companies/{}/score", Uuid::now_v7()), t).await?.0, 404);
    // A segment that cannot be an id names nothing: 404, like an id that exists nowhere.
    assert_eq!(get(&app, "/api/abm/companies/not-a-uuid", t).await?.0, 404);
    Ok(())
});

db_test!(async fn conversion_makes_one_customer_and_invites_a_contact(db) {
    let app = cell(&db).await?;
    let staff = internal(&app).await?;
    let t = &staff.sales.token;
    let nasa = company(&app, t, "NASA", "nasa.gov").await?;
    let amy = person(&app, nasa, "amy@nasa.gov", "ph-amy").await?;
    let spacex = company(&app, t, "SpaceX", "spacex.com").await?;
    let elon = person(&app, spacex, "elon@spacex.com", "ph-elon").await?;

    // Bad input first: nothing converts.
    let path = format!("/api/abm/companies/{nasa}/convert");
    for bad in [json!({"invite_contact_id": elon}), json!({"status": "past_due"}), json!({"plan_tier": "Gold Plan"}), json!({"stripe_customer_id": "nope"})] {
        let (status, body) = post(&app, &path, t, bad.clone()).await?;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = post(&app, &path, t, json!({"extra": 1})).await?;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    let (_, d) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    assert_eq!((d["stage"].as_str(), d["customer_company_id"].is_null()), (Some("new"), true));

    let (status, first) = post(&app, &path, t, json!({"plan_tier": "growth", "stripe_customer_id": "cus_NASA1", "invite_contact_id": amy})).await?;
    assert_eq!(status, 201, "{first}");
    let customer_id: Uuid = first["customer"]["customer_company_id"].as_str().unwrap_or_default().parse()?;
    assert_eq!(first["company"]["stage"], "customer");
    assert_eq!(first["company"]["customer_company_id"], customer_id.to_string());
    assert_eq!(first["customer"]["status"], "trial");
    assert_eq!(first["customer_name"], "NASA");
    assert_eq!(first["invited"], "amy@nasa.gov");
    // Again (and twice at once): the same customer, nobody invited twice.
    let (a, b) = tokio::join!(post(&app, &path, t, json!({})), post(&app, &path, t, json!({"invite_contact_id": amy})));
    for (status, again) in [a?, b?] {
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["customer"]["customer_company_id"], customer_id.to_string());
        assert!(again["invited"].is_null());
    }
    let tx = app.ctx.db().tenant(customer_id).await?;
    let repo = tx.repo::<tenancy::entity::invitation::Entity>();
    let invitations = repo.find().all(repo.conn()).await?;
    tx.commit().await?;
    assert_eq!(invitations.len(), 1);
    assert_eq!((invitations[0].email.as_str(), invitations[0].role.as_str()), ("amy@nasa.gov", "customer_admin"));
    // Two companies converting at once get two customers.
    let (status, other) = post(&app, &format!("/api/abm/companies/{spacex}/convert"), t, json!({"status": "active"})).await?;
    assert_eq!(status, 201, "{other}");
    assert_ne!(other["customer"]["customer_company_id"], customer_id.to_string());

    // The customer's user sees the account; internal admins manage it.
    let amy_user = user(&app, "amy@nasa.gov", customer_id, "customer_admin").await?;
    let (_, bill) = get(&app, "/api/app/billing", &amy_user.token).await?;
    assert_eq!((bill["plan_tier"].as_str(), bill["status"].as_str(), bill["stripe_customer_id"].as_str()), (Some("growth"), Some("trial"), Some("cus_NASA1")), "{bill}");
    let customers = format!("/api/abm/customers/{customer_id}");
    assert_eq!(patch(&app, &customers, t, json!({"status": "past_due"})).await?.0, 403);
    let (status, body) = patch(&app, &customers, &staff.admin.token, json!({"status": "overdue"})).await?;
    assert_eq!(status, 422, "{body}");
    let (status, body) = patch(&app, &customers, &staff.admin.token, json!({"status": "past_due", "stripe_customer_id": null})).await?;
    assert_eq!((status, body["status"].as_str(), body["stripe_customer_id"].is_null()), (200, Some("past_due"), true), "{body}");
    let (_, bill) = get(&app, "/api/app/billing", &amy_user.token).await?;
    assert_eq!(bill["status"], "past_due");
    // A tenant no company converted into is not the dashboard's to manage.
    let stranger = customer(&app, "Stranger", "growth").await?;
    let (status, _) = patch(&app, &format!("/api/abm/customers/{stranger}"), &staff.admin.token, json!({"status": "cancelled"})).await?;
    assert_eq!(status, 404);
    // The detail shows the account; a converted company is not deleted.
    let (_, d) = get(&app, &format!("/api/abm/companies/{nasa}"), t).await?;
    assert_eq!(d["customer"]["status"], "past_due");
    assert_eq!(delete(&app, &format!("/api/abm/companies/{nasa}"), &staff.admin.token).await?.0, 409);
    assert_eq!(post(&app, &format!("/api/abm/companies/{}/convert", Uuid::now_v7()), t, json!({})).await?.0, 404);
    // A customer user cannot convert.
    assert_eq!(post(&app, &path, &amy_user.token, json!({})).await?.0, 403);
    Ok(())
});

db_test!(async fn the_feed_pages_newest_first_by_cursor(db) {
    let app = cell(&db).await?;
    let staff = internal(&app).await?;
    let t = &staff.sales.token;
    let nasa = company(&app, t, "NASA", "nasa.gov").await?;
    let jpl = company(&app, t, "JPL", "jpl.gov").await?;
    let base = Utc::now() - TimeDelta::hours(1);
    let mut expected = Vec::new();
    for i in 0..7i64 {
        // Two signals share each instant: the id breaks the tie.
        let at = base + TimeDelta::minutes(i / 2);
        let c = if i % 3 == 0 { jpl } else { nasa };
        let lane = if i % 2 == 0 { Some("Fuel") } else { None };
        expected.push((at, signal(&app, c, "page_view", lane, 1, at).await?));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id.to_string()).collect();

    let mut seen = Vec::new();
    let mut path = "/api/abm/signals/feed?limit=3".to_owned();
    loop {
        let (status, page) = get(&app, &path, t).await?;
        assert_eq!(status, 200, "{page}");
        for s in page["data"].as_array().into_iter().flatten() {
            seen.push(s["id"].as_str().unwrap_or_default().to_owned());
            assert!(s["company_name"] == "NASA" || s["company_name"] == "JPL", "{s}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/abm/signals/feed?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let (_, page) = get(&app, &format!("/api/abm/signals/feed?company_id={jpl}&service_lane=Fuel"), t).await?;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2), "{page}");
    for bad in ["limit=0", "limit=500", "cursor=garbage", "signal_type=tweet", "service_lane=Orbit", "colour=red", "company_id=1"] {
        let (status, body) = get(&app, &format!("/api/abm/signals/feed?{bad}"), t).await?;
        assert_eq!((status, body["error"]["code"].is_string()), (400, true), "{bad}: {body}");
    }
    Ok(())
});

/// PostgreSQL: every abm table has row-level security, enabled and forced, and the application
/// role the cell serves as sees none of their rows without an org context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_covers_every_abm_table() -> anyhow::Result<()> {
    let db = TestDb::new(testkit::Backend::Postgres).await?;
    let app = cell(&db).await?;
    let staff = internal(&app).await?;
    let t = &staff.sales.token;
    let nasa = company(&app, t, "NASA", "nasa.gov").await?;
    person(&app, nasa, "amy@nasa.gov", "ph-amy").await?;
    // The anonymous Stanford visitor is attributed (and stored as a visitor) through the mapping.
    company(&app, t, "Stanford", "stanford.edu").await?;
    let (status, body) = post(
        &app,
        "/api/abm/org-domains",
        t,
        json!({"org_name": "Stanford University", "domain": "stanford.edu"}),
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let pricing = json!({"$pathname": "/pricing", "$ip": "171.64.1.1"});
    let (status, body) = hook(
        &app,
        "rls-1",
        &json!([
            event("$pageview", "ph-amy", pricing.clone()),
            event("$pageview", "anon", pricing)
        ])
        .to_string(),
        None,
        SECRET,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &app,
        &format!("/api/abm/companies/{nasa}/convert"),
        t,
        json!({}),
    )
    .await?;
    assert_eq!(status, 201, "{body}");

    let role = app
        .role
        .as_ref()
        .map(|r| r.name().to_owned())
        .unwrap_or_default();
    let counts = testkit::assert_rls_everywhere(db.url(), &role).await?;
    for table in [
        "abm_prospect_companies",
        "abm_company_domains",
        "abm_contacts",
        "abm_contact_identities",
        "abm_intent_signals",
        "abm_hook_deliveries",
        "abm_org_domains",
        "abm_customers",
        "abm_anonymous_visitors",
        "abm_score_queue",
    ] {
        let n = counts
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, n)| *n);
        assert!(
            n.is_some_and(|n| n > 0),
            "{table} was not checked or not seeded: {n:?}"
        );
    }
    Ok(())
}
