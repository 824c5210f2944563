//! Who may see and change webhooks: an org's admins and owners; nobody from another org; bad
//! input refused with the field named.

use serde_json::json;
use testkit::db_test;

use crate::support::{Receiver, cell, item, org, settle, user};

db_test!(
    async fn only_the_orgs_admins_reach_its_webhooks(db) {
        let cell = cell(&db, true).await?;
        let receiver = Receiver::start()?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let theirs = user(&cell, "admin@globex.test", globex, "admin").await?;
        let body = json!({"url": receiver.url("acme"), "events": ["template.item.created"]});

        let (status, _) = cell.post("/api/v1/webhooks", Some(&member), body.clone()).await?;
        assert_eq!(status, 403, "members do not register webhooks");
        let (status, _) = cell.get("/api/v1/webhooks", Some(&member)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.post("/api/v1/webhooks", None, body.clone()).await?;
        assert_eq!(status, 401);
        let (status, sub) = cell.post("/api/v1/webhooks", Some(&admin), body.clone()).await?;
        assert_eq!(status, 201, "{sub}");
        let id = sub["id"].as_str().unwrap_or_default().to_owned();

        // Another org's admin: the subscription does not exist for them.
        for path in [format!("/api/v1/webhooks/{id}"), format!("/api/v1/webhooks/{id}/deliveries")] {
            let (status, _) = cell.get(&path, Some(&theirs)).await?;
            assert_eq!(status, 404, "{path}");
        }
        for path in [format!("/api/v1/webhooks/{id}/test"), format!("/api/v1/webhooks/{id}/rotate-secret")] {
            let (status, _) = cell.post(&path, Some(&theirs), json!({})).await?;
            assert_eq!(status, 404, "{path}");
        }
        let (status, _) = cell.patch(&format!("/api/v1/webhooks/{id}"), Some(&theirs), json!({"active": false})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.delete(&format!("/api/v1/webhooks/{id}"), Some(&theirs)).await?;
        assert_eq!(status, 404);
        let (_, list) = cell.get("/api/v1/webhooks", Some(&theirs)).await?;
        assert_eq!(list["meta"]["total"], 0, "{list}");

        // Another org's events never reach Acme's endpoint.
        receiver.configure("acme", &[sub["secret"].as_str().unwrap_or_default()], 204).await?;
        let theirs_member = user(&cell, "member@globex.test", globex, "member").await?;
        item(&cell, &theirs_member, "Globex item").await?;
        let ours = user(&cell, "writer@acme.test", acme, "member").await?;
        item(&cell, &ours, "Acme item").await?;
        settle(&cell).await?;
        let log = receiver.log("acme").await?;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0]["body"]["data"]["name"], "Acme item");
        let (_, deliveries) = cell.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&admin)).await?;
        let did = deliveries["data"][0]["id"].as_str().unwrap_or_default().to_owned();
        let (status, _) = cell.get(&format!("/api/v1/webhooks/deliveries/{did}"), Some(&theirs)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&format!("/api/v1/webhooks/deliveries/{did}/retry"), Some(&theirs), json!({})).await?;
        assert_eq!(status, 404);

        // Deleting takes its log with it.
        let (status, _) = cell.delete(&format!("/api/v1/webhooks/{id}"), Some(&admin)).await?;
        assert_eq!(status, 204);
        let (status, _) = cell.get(&format!("/api/v1/webhooks/deliveries/{did}"), Some(&admin)).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);

db_test!(
    async fn bad_subscriptions_are_refused_with_the_field_named(db) {
        let cell = cell(&db, true).await?;
        let acme = org(&cell, "Acme").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let url = "http://127.0.0.1:9/hook";
        for (body, field) in [
            (json!({"url": url, "events": []}), "events"),
            (json!({"url": url, "events": ["Not An Event"]}), "events[0]"),
            (json!({"url": url, "events": ["template.item.created", "nobody.thing.happened"]}), "events[1]"),
            (json!({"url": url, "events": ["nomodule.*"]}), "events[0]"),
            (json!({"url": "", "events": ["*"]}), "url"),
            (json!({"url": format!("http://127.0.0.1/{}", "a".repeat(1000)), "events": ["*"]}), "url"),
        ] {
            let (status, res) = cell.post("/api/v1/webhooks", Some(&admin), body.clone()).await?;
            assert_eq!(status, 422, "{body}: {res}");
            assert!(res["error"]["details"]["fields"].get(field).is_some(), "{body}: {res}");
        }
        // A secret is never chosen by the client.
        let (status, res) = cell.post("/api/v1/webhooks", Some(&admin), json!({"url": url, "events": ["*"], "secret": "mine"})).await?;
        assert_eq!(status, 400, "{res}");
        assert!(res["error"]["message"].as_str().unwrap_or_default().contains("unknown field `secret`"), "{res}");
        let (_, none) = cell.get("/api/v1/webhooks", Some(&admin)).await?;
        assert_eq!(none["meta"]["total"], 0, "nothing was stored: {none}");
        let (status, sub) = cell.post("/api/v1/webhooks", Some(&admin), json!({"url": url, "events": ["template.*", "template.*"]})).await?;
        assert_eq!((status, &sub["events"]), (201, &json!(["template.*"])), "{sub}");
        let id = sub["id"].as_str().unwrap_or_default();
        let (status, res) = cell.patch(&format!("/api/v1/webhooks/{id}"), Some(&admin), json!({"events": ["nope.nope"]})).await?;
        assert_eq!(status, 422, "{res}");
        let (_, still) = cell.get(&format!("/api/v1/webhooks/{id}"), Some(&admin)).await?;
        assert_eq!(still["events"], json!(["template.*"]), "nothing changed");
        let (status, res) = cell.post(&format!("/api/v1/webhooks/{id}/replay"), Some(&admin), json!({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})).await?;
        assert_eq!(status, 422, "{res}");
        Ok(())
    }
);
