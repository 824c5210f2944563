//! Deliveries as a receiver sees them: signed (verified by an independent Standard Webhooks
//! implementation, through a secret rotation), retried on the schedule, disabled after ten
//! failures in a row, retried by hand, replayed, never sent twice once answered.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{
    Receiver, advance_clock, cell, item, job_due_ms, org, settle, sql, sql_in, user,
};

const SCHEDULE_MS: [i64; 4] = [60_000, 300_000, 1_800_000, 7_200_000];

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

db_test!(
    async fn deliveries_verify_with_the_standard_webhooks_library_through_a_rotation(db) {
        let cell = cell(&db, true).await?;
        let receiver = Receiver::start()?;
        let acme = org(&cell, "Acme").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let (status, sub) = cell
            .post("/api/v1/webhooks", Some(&admin), json!({
                "url": receiver.url("acme"), "events": ["template.item.*"], "description": "CRM sync"
            }))
            .await?;
        assert_eq!(status, 201, "{sub}");
        let secret = sub["secret"].as_str().unwrap_or_default().to_owned();
        assert!(secret.starts_with("whsec_"), "{sub}");
        let id = sub["id"].as_str().unwrap_or_default().to_owned();
        let (_, shown) = cell.get(&format!("/api/v1/webhooks/{id}"), Some(&admin)).await?;
        assert!(shown.get("secret").is_none(), "the secret is shown once: {shown}");
        assert_eq!(shown["events"], json!(["template.item.*"]));
        receiver.configure("acme", &[&secret], 204).await?;

        let first = item(&cell, &admin, "First").await?;
        settle(&cell).await?;
        let log = receiver.log("acme").await?;
        assert_eq!(log.len(), 1, "{log:?}");
        let got = &log[0];
        assert_eq!(got["verified"], true, "{got}");
        assert_eq!(got["event"], "template.item.created");
        assert_eq!(got["body"]["type"], "template.item.created");
        assert_eq!(got["body"]["data"]["item_id"], first["id"]);
        assert_eq!(got["body"]["org_id"], json!(acme.to_string()));
        assert_eq!(got["id"], got["body"]["id"], "webhook-id is the event's id");
        let (_, page) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&admin)).await?;
        assert_eq!(page["data"][0]["status"], "delivered", "{page}");
        assert_eq!(page["data"][0]["attempts"], 1);
        assert_eq!(got["delivery"], page["data"][0]["id"], "X-Webhook-Delivery names the delivery");

        // The test message is signed too, and its answer is logged.
        let (status, test) = cell.post(&format!("/api/v1/webhooks/{id}/test"), Some(&admin), json!({})).await?;
        assert_eq!(status, 200, "{test}");
        assert_eq!((&test["attempt"]["status_code"], &test["delivery"]["status"]), (&json!(204), &json!("delivered")), "{test}");
        let log = receiver.log("acme").await?;
        assert_eq!((&log[1]["event"], &log[1]["verified"]), (&json!("webhook.test"), &json!(true)));

        // A rotation: both secrets sign during the overlap, so a receiver holding either one
        // verifies; afterwards the new one alone.
        let (status, rotated) = cell.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&admin), json!({})).await?;
        assert_eq!(status, 200, "{rotated}");
        let new_secret = rotated["secret"].as_str().unwrap_or_default().to_owned();
        assert_ne!(new_secret, secret);
        receiver.configure("acme", &[&new_secret], 204).await?;
        item(&cell, &admin, "Second").await?;
        settle(&cell).await?;
        receiver.configure("acme", &[&secret], 204).await?;
        item(&cell, &admin, "Third").await?;
        settle(&cell).await?;
        let log = receiver.log("acme").await?;
        assert_eq!(log.len(), 4, "{log:?}");
        for entry in &log[2..] {
            assert_eq!((&entry["verified"], &entry["signatures"]), (&json!(true), &json!(2)), "{entry}");
        }
        // The overlap over: the old secret no longer verifies.
        let n = sql_in(&cell, acme, "UPDATE webhooks_subscriptions SET previous_until = '2000-01-01T00:00:00Z'").await?;
        assert_eq!(n, 1);
        item(&cell, &admin, "Fourth").await?;
        settle(&cell).await?;
        let log = receiver.log("acme").await?;
        assert_eq!((&log[4]["verified"], &log[4]["signatures"]), (&json!(false), &json!(1)), "{:?}", log[4]);
        receiver.configure("acme", &[&new_secret], 204).await?;
        advance_clock(&cell).await?;
        settle(&cell).await?;
        let log = receiver.log("acme").await?;
        assert_eq!(log[5]["verified"], true, "the retry verifies with the new secret");
        assert_eq!(log[5]["id"], log[4]["id"], "a retry keeps its webhook-id");
        Ok(())
    }
);

db_test!(
    async fn failures_retry_on_the_schedule_then_disable_and_recover(db) {
        let cell = cell(&db, true).await?;
        let receiver = Receiver::start()?;
        let acme = org(&cell, "Acme").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let (_, sub) = cell
            .post("/api/v1/webhooks", Some(&admin), json!({"url": receiver.url("down"), "events": ["template.item.*"]}))
            .await?;
        let id = sub["id"].as_str().unwrap_or_default().to_owned();
        let secret = sub["secret"].as_str().unwrap_or_default().to_owned();
        receiver.configure("down", &[&secret], 500).await?;
        item(&cell, &admin, "One").await?;
        item(&cell, &admin, "Two").await?;
        settle(&cell).await?;

        // Five attempts per delivery, 1 min, 5 min, 30 min, 2 h apart.
        for round in 0..5 {
            let (_, page) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&admin)).await?;
            let deliveries = page["data"].as_array().cloned().unwrap_or_default();
            assert_eq!(deliveries.len(), 2, "{page}");
            for d in &deliveries {
                assert_eq!(d["attempts"], round + 1, "{d}");
                let did = d["id"].as_str().unwrap_or_default();
                let (_, detail) = cell.get(&format!("/api/v1/webhooks/deliveries/{did}"), Some(&admin)).await?;
                let last = &detail["attempts_log"][round as usize];
                assert_eq!(last["status_code"], 500, "{detail}");
                if round < 4 {
                    assert_eq!(d["status"], "pending");
                    let wait = at(&d["next_attempt_at"]) - at(&last["at"]);
                    assert_eq!(wait.num_milliseconds(), SCHEDULE_MS[round as usize], "{d}");
                    let due = job_due_ms(&cell, did).await?.unwrap_or_default();
                    let expected = at(&d["next_attempt_at"]).timestamp_millis();
                    assert!((due - expected).abs() < 5_000, "the job is due with the delivery: {due} vs {expected}");
                } else {
                    assert_eq!((&d["status"], &d["next_attempt_at"]), (&json!("failed"), &Value::Null), "{d}");
                }
            }
            // Nothing is sent before its time.
            settle(&cell).await?;
            assert_eq!(receiver.log("down").await?.len(), 2 * (round as usize + 1));
            advance_clock(&cell).await?;
            settle(&cell).await?;
        }
        // Ten failures in a row: disabled, and said so.
        let (_, shown) = cell.get(&format!("/api/v1/webhooks/{id}"), Some(&admin)).await?;
        assert_eq!((&shown["active"], &shown["consecutive_failures"]), (&json!(false), &json!(10)), "{shown}");
        let disabled = cell.events("webhook.disabled").await?;
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0]["subscription_id"], json!(id));
        assert!(receiver.log("down").await?.iter().all(|e| e["verified"] == true));

        // A disabled subscription gets nothing; a retry is refused until it is on again.
        item(&cell, &admin, "Three").await?;
        settle(&cell).await?;
        assert_eq!(receiver.log("down").await?.len(), 10);
        let (_, page) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries?filter[status]=failed"), Some(&admin)).await?;
        let failed = page["data"][0]["id"].as_str().unwrap_or_default().to_owned();
        let (status, refused) = cell.post(&format!("/api/v1/webhooks/deliveries/{failed}/retry"), Some(&admin), json!({})).await?;
        assert_eq!(status, 409, "{refused}");

        // On again, the receiver up: a manual retry delivers; a replay sends the range again,
        // including the event it missed while disabled.
        receiver.configure("down", &[&secret], 200).await?;
        let (status, _) = cell.patch(&format!("/api/v1/webhooks/{id}"), Some(&admin), json!({"active": true})).await?;
        assert_eq!(status, 200);
        let (status, retried) = cell.post(&format!("/api/v1/webhooks/deliveries/{failed}/retry"), Some(&admin), json!({})).await?;
        assert_eq!((status, &retried["status"]), (202, &json!("pending")), "{retried}");
        settle(&cell).await?;
        let log = receiver.log("down").await?;
        assert_eq!(log.len(), 11);
        assert_eq!(log[10]["delivery"], json!(failed));
        let (_, detail) = cell.get(&format!("/api/v1/webhooks/deliveries/{failed}"), Some(&admin)).await?;
        assert_eq!((&detail["status"], &detail["attempts"]), (&json!("delivered"), &json!(6)), "{detail}");
        let (_, shown) = cell.get(&format!("/api/v1/webhooks/{id}"), Some(&admin)).await?;
        assert_eq!(shown["consecutive_failures"], 0);

        let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let to = (Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
        let (status, replayed) = cell.post(&format!("/api/v1/webhooks/{id}/replay"), Some(&admin), json!({"from": from, "to": to})).await?;
        assert_eq!((status, &replayed["queued"]), (202, &json!(3)), "{replayed}");
        settle(&cell).await?;
        let log = receiver.log("down").await?;
        assert_eq!(log.len(), 14, "{log:?}");
        let names: Vec<&str> = log[11..].iter().filter_map(|e| e["body"]["data"]["name"].as_str()).collect();
        assert!(names.contains(&"Three"), "the missed event is replayed: {names:?}");

        // Once answered with a 2xx, never sent again: not by a redelivered event, not by a
        // duplicate job.
        sql(&cell, "UPDATE kernel_event_deliveries SET status = 'pending', next_attempt_ms = 0, attempts = 0 WHERE subscriber = 'webhooks.fan_out'").await?;
        sql(&cell, "UPDATE kernel_jobs SET status = 'pending', next_attempt_ms = 0, attempts = 0 WHERE name = 'webhooks.deliver'").await?;
        settle(&cell).await?;
        assert_eq!(receiver.log("down").await?.len(), 14);
        let (_, page) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&admin)).await?;
        assert_eq!(page["meta"]["total"], 3, "one delivery per event: {page}");
        Ok(())
    }
);

db_test!(
    async fn urls_that_reach_the_cells_network_are_refused(db) {
        let cell = cell(&db, false).await?;
        let receiver = Receiver::start()?;
        let acme = org(&cell, "Acme").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9000/hook",
            "http://localhost:8080/hook",
            "http://[::ffff:127.0.0.1]/hook",
        ] {
            let (status, body) = cell
                .post("/api/v1/webhooks", Some(&admin), json!({"url": url, "events": ["*"]}))
                .await?;
            assert_eq!(status, 422, "{url}: {body}");
            assert!(body["error"]["details"]["fields"]["url"].as_str().unwrap_or_default().contains("not a public address"), "{url}: {body}");
        }
        for (url, why) in [("ftp://example.com/x", "http(s)"), ("https://user:pw@example.com/", "credentials"), ("/relative", "absolute")] {
            let (status, body) = cell.post("/api/v1/webhooks", Some(&admin), json!({"url": url, "events": ["*"]})).await?;
            assert_eq!(status, 422, "{url}: {body}");
            assert!(body["error"]["message"].as_str().unwrap_or_default().contains(why), "{url}: {body}");
        }
        let (_, none) = cell.get("/api/v1/webhooks", Some(&admin)).await?;
        assert_eq!(none["meta"]["total"], 0, "{none}");

        // A name that resolved to a public address when registered and to a private one at
        // delivery (DNS rebinding) is refused when it is sent: stand-in, a row pointed at the
        // receiver behind the API's back.
        let (status, sub) = cell
            .post("/api/v1/webhooks", Some(&admin), json!({"url": "https://93.184.216.34/hook", "events": ["*"]}))
            .await?;
        assert_eq!(status, 201, "{sub}");
        let n = sql_in(&cell, acme, &format!("UPDATE webhooks_subscriptions SET url = '{}'", receiver.url("inside"))).await?;
        assert_eq!(n, 1);
        item(&cell, &admin, "One").await?;
        settle(&cell).await?;
        assert!(receiver.log("inside").await?.is_empty(), "nothing reached the private address");
        let id = sub["id"].as_str().unwrap_or_default();
        let (_, page) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&admin)).await?;
        let did = page["data"][0]["id"].as_str().unwrap_or_default();
        let (_, detail) = cell.get(&format!("/api/v1/webhooks/deliveries/{did}"), Some(&admin)).await?;
        assert!(detail["attempts_log"][0]["error"].as_str().unwrap_or_default().contains("not a public address"), "{detail}");
        assert_eq!(detail["status"], "pending", "it is retried later, and refused again");
        Ok(())
    }
);
