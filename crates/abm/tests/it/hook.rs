//! `POST /api/hooks/posthog` over HTTP with signatures built here: every branch of the
//! ingestion workflow, replays, bad signatures and bodies, and scoring.

use abm::store::entity::{
    anonymous_visitor, company_domain, intent_signal, org_domain, prospect_company,
};
use abm::webhook::{WebhookSecret, sign};
use chrono::{TimeDelta, Utc};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use testkit::{TestApp, db_test};
use uuid::Uuid;

use crate::support::{SECRET, add_contact, add_identity, cell};

/// Posts `body` signed as delivery `id` at `ts` (now when `None`), with `secret`.
pub(crate) async fn hook(
    app: &TestApp,
    id: &str,
    body: &str,
    ts: Option<i64>,
    secret: &str,
) -> anyhow::Result<(u16, Value)> {
    let ts = ts.unwrap_or_else(|| Utc::now().timestamp());
    let sig = sign(&WebhookSecret::parse(secret)?, id, ts, body.as_bytes());
    let res = app
        .client
        .post(app.url("/api/hooks/posthog"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body.to_owned())
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

pub(crate) fn event(name: &str, distinct: &str, props: Value) -> Value {
    json!({"event": {"uuid": Uuid::now_v7(), "event": name, "distinct_id": distinct, "properties": props, "timestamp": Utc::now().to_rfc3339()}, "person": {"properties": {}}})
}

struct Seed {
    operator: Uuid,
    acme: Uuid,
    stanford: Uuid,
}

/// A prospect with a known contact, and one reachable only through its IP network.
async fn seed(app: &TestApp) -> anyhow::Result<Seed> {
    let operator = abm::operator_org(&app.ctx).ok_or_else(|| anyhow::anyhow!("no operator org"))?;
    let tx = app.ctx.db().tenant(operator).await?;
    let now = Utc::now();
    let mut ids = Vec::new();
    for (name, domain) in [("Acme", "acme.com"), ("Stanford", "stanford.edu")] {
        let id = Uuid::now_v7();
        tx.repo::<prospect_company::Entity>()
            .insert(prospect_company::ActiveModel {
                id: Set(id),
                org_id: Set(operator),
                name: Set(name.into()),
                domain: Set(domain.into()),
                intent_score: Set(0),
                stage: Set("new".into()),
                owner_user_id: Set(None),
                customer_org_id: Set(None),
                score_updated_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?;
        tx.repo::<company_domain::Entity>()
            .insert(company_domain::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(operator),
                prospect_company_id: Set(id),
                domain: Set(domain.into()),
                is_primary: Set(true),
                created_at: Set(now),
            })
            .await?;
        ids.push(id);
    }
    let person = add_contact(&tx, ids[0], "jane@acme.com").await?;
    add_identity(&tx, person, "posthog_distinct_id", "ph-jane").await?;
    tx.repo::<org_domain::Entity>()
        .insert(org_domain::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(operator),
            org_name: Set("stanford university".into()),
            domain: Set("stanford.edu".into()),
            created_at: Set(now),
        })
        .await?;
    tx.commit().await?;
    Ok(Seed {
        operator,
        acme: ids[0],
        stanford: ids[1],
    })
}

async fn signals(app: &TestApp, operator: Uuid) -> anyhow::Result<Vec<intent_signal::Model>> {
    let tx = app.ctx.db().tenant(operator).await?;
    let repo = tx.repo::<intent_signal::Entity>();
    let rows = repo.find().all(repo.conn()).await?;
    tx.commit().await?;
    Ok(rows)
}

async fn score_of(app: &TestApp, operator: Uuid, company: Uuid) -> anyhow::Result<(i64, String)> {
    let tx = app.ctx.db().tenant(operator).await?;
    let c = tx
        .repo::<prospect_company::Entity>()
        .get(company)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no company"))?;
    tx.commit().await?;
    Ok((c.intent_score, c.stage))
}

db_test!(async fn every_branch_of_the_ingestion_workflow(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let pricing = json!({"$current_url": "https://fullorbit.example/pricing", "$pathname": "/pricing"});

    // Known identity → a signal for the contact's company.
    let (status, body) = hook(&app, "msg_1", &event("$pageview", "ph-jane", pricing.clone()).to_string(), None, SECRET).await?;
    assert_eq!((status, body["signals"].as_u64()), (200, Some(1)), "{body}");
    // Unknown visitor from an attributable (university) network → a visitor and a signal.
    let mut props = pricing.clone();
    props["$ip"] = json!("171.64.1.1");
    let (status, body) = hook(&app, "msg_2", &event("$pageview", "anon-1", props).to_string(), None, SECRET).await?;
    assert_eq!((status, body["signals"].as_u64()), (200, Some(1)), "{body}");
    // The same visitor later, without an IP: known by its distinct id.
    let (_, body) = hook(&app, "msg_3", &event("content_download", "anon-1", json!({"asset": "Starship Specs PDF"})).to_string(), None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    // A residential ISP, and no IP at all: nobody to attribute.
    let mut isp = pricing.clone();
    isp["$ip"] = json!("73.1.2.3");
    let batch = json!([event("$pageview", "anon-2", isp), event("$pageview", "anon-3", pricing.clone())]);
    let (_, body) = hook(&app, "msg_4", &batch.to_string(), None, SECRET).await?;
    assert_eq!((body["signals"].as_u64(), body["unattributed"].as_u64()), (Some(0), Some(2)), "{body}");
    // A low-value event is counted and dropped.
    let (_, body) = hook(&app, "msg_5", &event("$pageview", "ph-jane", json!({"$pathname": "/blog"})).to_string(), None, SECRET).await?;
    assert_eq!((body["signals"].as_u64(), body["dropped"].as_u64()), (Some(0), Some(1)), "{body}");

    let rows = signals(&app, s.operator).await?;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().filter(|r| r.prospect_company_id == s.acme).count(), 1);
    let stanford: Vec<_> = rows.iter().filter(|r| r.prospect_company_id == s.stanford).collect();
    assert_eq!(stanford.len(), 2);
    assert!(stanford.iter().any(|r| r.topic.as_deref() == Some("Starship Specs PDF") && r.signal_type == "content_download"));
    // The visitor keeps a salted hash of the IP, never the IP.
    let tx = app.ctx.db().tenant(s.operator).await?;
    let repo = tx.repo::<anonymous_visitor::Entity>();
    let visitors = repo.find().all(repo.conn()).await?;
    tx.commit().await?;
    assert_eq!(visitors.len(), 1);
    let v = &visitors[0];
    assert_eq!((v.ip_org.as_deref(), v.ip_country.as_deref()), (Some("Stanford University"), Some("US")), "{v:?}");
    let hash = v.ip_hash.clone().unwrap_or_default();
    assert!(hash.len() == 64 && !hash.contains("171.64"), "{hash}");

    // Scoring: the job the ingestion enqueued; signals older than 30 days do not count.
    while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}
    assert_eq!(score_of(&app, s.operator, s.stanford).await?, (35, "engaged".to_owned()));
    assert_eq!(score_of(&app, s.operator, s.acme).await?, (20, "new".to_owned()));
    let old = signals(&app, s.operator).await?;
    let tx = app.ctx.db().tenant(s.operator).await?;
    for r in old.into_iter().filter(|r| r.prospect_company_id == s.stanford) {
        let mut m: intent_signal::ActiveModel = r.into();
        m.occurred_at = Set(Utc::now() - TimeDelta::days(31));
        tx.repo::<intent_signal::Entity>().update(m).await?;
    }
    let changed = abm::score::daily(&app.ctx, &tx, 30).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    tx.commit().await?;
    assert_eq!(changed, 1, "the daily pass ages Stanford's signals out");
    assert_eq!(score_of(&app, s.operator, s.stanford).await?.0, 0);
    assert_eq!(score_of(&app, s.operator, s.acme).await?.0, 20);
    Ok(())
});

db_test!(async fn a_contacts_email_identifies_them_unless_two_contacts_share_it(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let a = &app;
    let seen = move |id: &'static str, distinct: &str, email: &str| {
        let mut e = event("$pageview", distinct, json!({"$pathname": "/pricing"}));
        e["person"]["properties"]["email"] = json!(email);
        let body = e.to_string();
        async move { hook(a, id, &body, None, SECRET).await }
    };
    // Jane has no identity row for her email: her contact's email is enough (any case), from a
    // device PostHog never saw her on.
    let (status, body) = seen("msg_e1", "new-device", "Jane@Acme.com").await?;
    assert_eq!((status, body["signals"].as_u64()), (200, Some(1)), "{body}");
    let rows = signals(&app, s.operator).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].prospect_company_id, s.acme);
    assert!(rows[0].contact_id.is_some(), "{:?}", rows[0]);

    // One person at two companies is not guessed between...
    let tx = app.ctx.db().tenant(s.operator).await?;
    add_contact(&tx, s.acme, "pat@consultants.test").await?;
    let at_stanford = add_contact(&tx, s.stanford, "pat@consultants.test").await?;
    tx.commit().await?;
    let (_, body) = seen("msg_e2", "pat-laptop", "pat@consultants.test").await?;
    assert_eq!((body["signals"].as_u64(), body["unattributed"].as_u64()), (Some(0), Some(1)), "{body}");
    // ...until an email identity row says which contact it is.
    let tx = app.ctx.db().tenant(s.operator).await?;
    add_identity(&tx, at_stanford, "email", "pat@consultants.test").await?;
    tx.commit().await?;
    let (_, body) = seen("msg_e3", "pat-laptop", "pat@consultants.test").await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    let rows = signals(&app, s.operator).await?;
    assert!(rows.iter().any(|r| r.contact_id == Some(at_stanford) && r.prospect_company_id == s.stanford), "{rows:?}");
    Ok(())
});

db_test!(async fn replays_bad_signatures_and_bad_bodies_store_nothing(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let ev = event("$pageview", "ph-jane", json!({"$pathname": "/pricing"})).to_string();
    let (_, body) = hook(&app, "msg_1", &ev, None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1));
    // The same delivery again, and the same event in a new delivery.
    let (status, body) = hook(&app, "msg_1", &ev, None, SECRET).await?;
    assert_eq!((status, body["replay"].as_bool()), (200, Some(true)), "{body}");
    let (_, body) = hook(&app, "msg_2", &ev, None, SECRET).await?;
    assert_eq!((body["signals"].as_u64(), body["duplicates"].as_u64()), (Some(0), Some(1)), "{body}");

    let fresh = event("$pageview", "ph-jane", json!({"$pathname": "/pricing"})).to_string();
    let stale = Utc::now().timestamp() - 6 * 60;
    for (id, ts, secret) in [("msg_3", None, "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA=="), ("msg_4", Some(stale), SECRET)] {
        let (status, body) = hook(&app, id, &fresh, ts, secret).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    }
    let res = app.client.post(app.url("/api/hooks/posthog")).header("content-type", "application/json").body(fresh.clone()).send().await?;
    assert_eq!(res.status().as_u16(), 401, "unsigned");
    for (i, bad) in ["", "{not json", "42", "[]", r#"{"event": {"event": "$pageview"}}"#].into_iter().enumerate() {
        let (status, body) = hook(&app, &format!("bad-{i}"), bad, None, SECRET).await?;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{bad:?} → {body}");
    }
    let huge = format!("[{}]", vec![fresh.as_str(); 20_000].join(","));
    let (status, _) = hook(&app, "msg_huge", &huge, None, SECRET).await?;
    assert_eq!(status, 413);
    // A batch mixing good and bad events: the good one is kept, the bad one reported.
    let batch = format!(r#"[{}, {{"event": "$pageview"}}]"#, event("$pageview", "ph-jane", json!({"$pathname": "/pricing/x"})));
    let (status, body) = hook(&app, "msg_5", &batch, None, SECRET).await?;
    assert_eq!((status, body["signals"].as_u64(), body["errors"][0]["index"].as_u64()), (200, Some(1), Some(1)), "{body}");
    assert_eq!(signals(&app, s.operator).await?.len(), 2, "nothing else was stored");
    Ok(())
});

db_test!(async fn deliveries_queue_weights_that_one_job_adds_up(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let pricing = json!({"$current_url": "https://fullorbit.example/pricing", "$pathname": "/pricing"});
    for n in 0..3 {
        let (status, body) = hook(&app, &format!("q{n}"), &event("$pageview", "ph-jane", pricing.clone()).to_string(), None, SECRET).await?;
        assert_eq!((status, body["signals"].as_u64()), (200, Some(1)), "{body}");
    }
    // Three deliveries, three rows for one company, each with its signal's weight (plain
    // inserts: no delivery waits), and one job: the first delivery's waits for the others.
    assert_eq!(queued(&app, s.operator).await?, vec![(s.acme, 20); 3]);
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 1);
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 0);
    assert!(queued(&app, s.operator).await?.is_empty());
    assert_eq!(score_of(&app, s.operator, s.acme).await?, (60, "engaged".to_owned()));
    Ok(())
});

db_test!(async fn the_minute_sweep_takes_weights_whose_job_was_claimed_before_they_committed(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let pricing = json!({"$current_url": "https://fullorbit.example/pricing", "$pathname": "/pricing"});
    let (_, body) = hook(&app, "s1", &event("$pageview", "ph-jane", pricing).to_string(), None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    // The waiting job was claimed and drained the queue before this delivery committed: no job
    // is left for its row.
    app.ctx.db().system().conn().execute_unprepared("UPDATE kernel_jobs SET status = 'done'").await?;
    assert_eq!(app.ctx.jobs().run_once(&app.ctx).await?, 0);
    assert_eq!(queued(&app, s.operator).await?, vec![(s.acme, 20)]);
    // The next minute's sweep adds it.
    let ticks = app.ctx.jobs().tick_schedules(app.ctx.db(), Utc::now() + TimeDelta::seconds(61)).await?;
    assert!(ticks >= 1);
    while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}
    assert!(queued(&app, s.operator).await?.is_empty());
    assert_eq!(score_of(&app, s.operator, s.acme).await?.0, 20);
    Ok(())
});

db_test!(async fn duplicates_and_old_signals_add_nothing_and_the_daily_pass_takes_the_queue(db) {
    let app = cell(&db).await?;
    let s = seed(&app).await?;
    let pricing = json!({"$current_url": "https://fullorbit.example/pricing", "$pathname": "/pricing"});
    let first = event("$pageview", "ph-jane", pricing.clone()).to_string();
    let (_, body) = hook(&app, "d1", &first, None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    // The same event in another delivery is a duplicate: stored once, queued once.
    let (_, body) = hook(&app, "d2", &first, None, SECRET).await?;
    assert_eq!((body["signals"].as_u64(), body["duplicates"].as_u64()), (Some(0), Some(1)), "{body}");
    // An event from before the window is stored but adds nothing.
    let mut old = event("$pageview", "ph-jane", pricing.clone());
    old["event"]["timestamp"] = json!((Utc::now() - TimeDelta::days(40)).to_rfc3339());
    let (_, body) = hook(&app, "d3", &old.to_string(), None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    assert_eq!(signals(&app, s.operator).await?.len(), 2);
    assert_eq!(queued(&app, s.operator).await?, vec![(s.acme, 20)]);

    // The daily pass runs before the job: it sums the window and empties the queue in one
    // snapshot, so the job that runs after it adds nothing twice.
    let tx = app.ctx.db().tenant(s.operator).await?;
    let changed = abm::score::daily(&app.ctx, &tx, 30).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    tx.commit().await?;
    assert_eq!(changed, 1);
    assert!(queued(&app, s.operator).await?.is_empty());
    while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}
    assert_eq!(score_of(&app, s.operator, s.acme).await?, (20, "new".to_owned()));

    // A new delivery is added on top of the daily sum, and crosses the threshold.
    let (_, body) = hook(&app, "d4", &event("$pageview", "ph-jane", pricing).to_string(), None, SECRET).await?;
    assert_eq!(body["signals"].as_u64(), Some(1), "{body}");
    while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}
    assert_eq!(score_of(&app, s.operator, s.acme).await?, (40, "engaged".to_owned()));
    // A daily pass over unchanged signals changes nothing.
    let tx = app.ctx.db().tenant(s.operator).await?;
    let changed = abm::score::daily(&app.ctx, &tx, 30).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    tx.commit().await?;
    assert_eq!(changed, 0);
    assert_eq!(score_of(&app, s.operator, s.acme).await?.0, 40);
    Ok(())
});

/// The score queue of `operator`: (company, weight) per row, oldest first.
async fn queued(app: &TestApp, operator: Uuid) -> anyhow::Result<Vec<(Uuid, i64)>> {
    use abm::store::entity::score_queue;
    use kernel::sea_orm::QueryOrder;
    let tx = app.ctx.db().tenant(operator).await?;
    let repo = tx.repo::<score_queue::Entity>();
    let rows = repo
        .find()
        .order_by_asc(score_queue::Column::Id)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.prospect_company_id, r.weight))
        .collect())
}
