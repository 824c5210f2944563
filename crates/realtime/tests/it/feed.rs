//! The WebSocket feed: notifications across instances, org and view isolation, resume, tickets,
//! heartbeats.

use futures_util::StreamExt;
use serde_json::json;
use testkit::db_test;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

db_test!(
    async fn a_notification_raised_on_one_instance_reaches_a_socket_held_by_another(db) {
        let a = cell(&db).await?;
        let b = second(&db, &a).await?;
        let b = b.as_ref().unwrap_or(&a);
        let acme = org(&a, "Acme").await?;
        let globex = org(&a, "Globex").await?;
        let ann = user(&a, "ann@acme.test", acme, "member").await?;
        let bob = user(&a, "bob@acme.test", acme, "member").await?;
        let carol = user(&a, "carol@globex.test", globex, "owner").await?;

        let mut anns = connect(b, &ann).await?;
        let mut bobs = connect(b, &bob).await?;
        let mut carols = connect(b, &carol).await?;
        let id = item(&a, &ann, "Launch plan").await?;
        settle(&a).await?;
        // Bob, on instance A, completes Ann's item; A's dispatcher writes her notification.
        let (status, _) = a.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        assert_eq!(status, 200);
        settle(&a).await?;

        let heard = hear(&mut anns).await?;
        assert_eq!((&heard["type"], &heard["name"]), (&json!("notification"), &json!("template.item.completed")), "{heard}");
        assert_eq!(heard["data"]["entity"], json!({"type": "template_item", "id": id}));
        assert_eq!((&heard["data"]["reason"], &heard["data"]["status"]), (&json!("creator"), &json!("unread")));
        let (_, inbox) = a.get("/api/v1/notifications", Some(&ann)).await?;
        assert_eq!(heard["data"]["id"], inbox["data"][0]["id"], "the inbox's row, as listed");
        assert_eq!(heard["event_id"], inbox["data"][0]["event_id"]);
        // Bob acted (no notification); Carol is in another org.
        heard_nothing(&mut bobs).await?;
        heard_nothing(&mut carols).await?;
        Ok(())
    }
);

db_test!(
    async fn entity_events_reach_only_those_who_subscribed_and_may_view_the_entity(db) {
        let a = cell(&db).await?;
        let b = second(&db, &a).await?;
        let b = b.as_ref().unwrap_or(&a);
        let acme = org(&a, "Acme").await?;
        let globex = org(&a, "Globex").await?;
        let ann = user(&a, "ann@acme.test", acme, "member").await?;
        let bob = user(&a, "bob@acme.test", acme, "member").await?;
        let dan = user(&a, "dan@acme.test", acme, "admin").await?;
        let carol = user(&a, "carol@globex.test", globex, "owner").await?;

        let (status, secret) = a.post("/api/v1/teams", Some(&ann), json!({"name": "Secret", "visibility": "private"})).await?;
        assert_eq!(status, 201, "{secret}");
        let secret = secret["id"].as_str().unwrap_or_default().to_owned();
        let (_, open) = a.post("/api/v1/teams", Some(&ann), json!({"name": "Open"})).await?;
        let open = open["id"].as_str().unwrap_or_default().to_owned();
        settle(&a).await?;

        let mut bobs = connect(b, &bob).await?;
        let mut dans = connect(b, &dan).await?;
        let mut carols = connect(b, &carol).await?;
        let mut anns = connect(b, &ann).await?;
        // One team Bob may not view: refused as if it did not exist.
        let refused = subscribe(&mut bobs, "team", Some(&secret)).await?;
        assert_eq!((&refused["type"], &refused["code"]), (&json!("error"), &json!("not_found")), "{refused}");
        let refused = subscribe(&mut bobs, "no_such_type", None).await?;
        assert_eq!(refused["code"], "validation_failed", "{refused}");
        for socket in [&mut bobs, &mut dans, &mut carols] {
            let ok = subscribe(socket, "team", None).await?;
            assert_eq!(ok, json!({"type": "subscribed", "entity_type": "team", "entity_id": null}));
        }
        let ok = subscribe(&mut anns, "team", Some(&open)).await?;
        assert_eq!(ok["type"], "subscribed");

        let (status, _) = a.patch(&format!("/api/v1/teams/{secret}"), Some(&ann), json!({"description": "hush"})).await?;
        assert_eq!(status, 200);
        settle(&a).await?;
        let heard = hear(&mut dans).await?;
        assert_eq!((&heard["type"], &heard["name"], &heard["entity_id"]), (&json!("event"), &json!("tenancy.team.updated"), &json!(secret)), "{heard}");

        let (status, _) = a.patch(&format!("/api/v1/teams/{open}"), Some(&ann), json!({"description": "all welcome"})).await?;
        assert_eq!(status, 200);
        settle(&a).await?;
        // Bob's next message is the open team's event: the private one never came before it.
        let heard = hear(&mut bobs).await?;
        assert_eq!((&heard["name"], &heard["entity_id"]), (&json!("tenancy.team.updated"), &json!(open)), "{heard}");
        assert_eq!(hear(&mut dans).await?["entity_id"], json!(open));
        // Ann watches the open team only.
        assert_eq!(hear(&mut anns).await?["entity_id"], json!(open));
        heard_nothing(&mut anns).await?;
        // Another org's subscriber to every team hears of none of Acme's.
        heard_nothing(&mut carols).await?;

        // Unsubscribed, nothing more.
        crate::support::say(&mut dans, json!({"type": "unsubscribe", "entity_type": "team"})).await?;
        assert_eq!(hear(&mut dans).await?["type"], "unsubscribed");
        let (status, _) = a.patch(&format!("/api/v1/teams/{open}"), Some(&ann), json!({"description": "again"})).await?;
        assert_eq!(status, 200);
        settle(&a).await?;
        assert_eq!(hear(&mut bobs).await?["entity_id"], json!(open));
        heard_nothing(&mut dans).await?;
        Ok(())
    }
);

db_test!(
    async fn a_reconnecting_client_resumes_from_the_last_event_it_saw(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let first = item(&cell, &ann, "One").await?;
        let second_item = item(&cell, &ann, "Two").await?;
        settle(&cell).await?;

        let mut socket = connect(&cell, &ann).await?;
        assert_eq!(subscribe(&mut socket, "template_item", None).await?["type"], "subscribed");
        cell.patch(&format!("/api/v1/items/{first}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        // The event and the notification; their order is the dispatcher's.
        let mut seen = vec![hear(&mut socket).await?, hear(&mut socket).await?];
        seen.sort_by_key(|m| m["type"].as_str().unwrap_or_default().to_owned());
        assert_eq!((&seen[0]["type"], &seen[1]["type"]), (&json!("event"), &json!("notification")), "{seen:?}");
        let last = seen[1]["event_id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(seen[0]["event_id"], seen[1]["event_id"]);
        drop(socket);

        // Away: Bob completes Ann's second item (an event and her notification) and makes one of
        // his own (an event; nobody to notify).
        cell.patch(&format!("/api/v1/items/{second_item}"), Some(&bob), json!({"status": "done"})).await?;
        item(&cell, &bob, "Three").await?;
        settle(&cell).await?;

        let mut socket = connect(&cell, &ann).await?;
        assert_eq!(subscribe(&mut socket, "template_item", None).await?["type"], "subscribed");
        crate::support::say(&mut socket, json!({"type": "resume", "since": last})).await?;
        let mut missed = Vec::new();
        loop {
            let m = hear(&mut socket).await?;
            if m["type"] == "resumed" {
                assert_eq!((&m["count"], &m["more"]), (&json!(missed.len()), &json!(false)), "{m}");
                break;
            }
            missed.push(m);
        }
        let events: Vec<&str> = missed.iter().filter(|m| m["type"] == "event").filter_map(|m| m["name"].as_str()).collect();
        let notes = missed.iter().filter(|m| m["type"] == "notification").count();
        assert_eq!(events, ["template.item.completed", "template.item.created"], "{missed:?}");
        assert_eq!(notes, 1, "the completion notified Ann: {missed:?}");
        assert!(missed.iter().all(|m| m["event_id"].as_str() > Some(last.as_str())), "nothing before `since`");
        let ids: Vec<&str> = missed.iter().filter_map(|m| m["event_id"].as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "oldest first");

        crate::support::say(&mut socket, json!({"type": "resume", "since": uuid::Uuid::now_v7()})).await?;
        let m = hear(&mut socket).await?;
        assert_eq!((&m["type"], &m["code"]), (&json!("error"), &json!("not_found")), "{m}");
        crate::support::say(&mut socket, json!({"type": "shout"})).await?;
        let m = hear(&mut socket).await?;
        assert_eq!(m["code"], "invalid_json", "{m}");
        heard_nothing(&mut socket).await?;
        Ok(())
    }
);

db_test!(
    async fn sockets_need_credentials_or_a_single_use_ticket_and_are_pinged(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "viewer").await?;

        assert_eq!(connect_with_ticket(&cell, "forged").await.err(), Some(401));
        let url = cell.url("/ws").replacen("http://", "ws://", 1);
        assert!(matches!(
            tokio_tungstenite::connect_async(url).await,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401
        ));
        let (status, _) = cell.post("/ws/ticket", None, json!({})).await?;
        assert_eq!(status, 401);

        let ticket = ticket(&cell, &ann).await?;
        let mut socket = connect_with_ticket(&cell, &ticket).await.map_err(|s| anyhow::anyhow!("{s}"))?;
        heard_nothing(&mut socket).await?;
        assert_eq!(connect_with_ticket(&cell, &ticket).await.err(), Some(401), "used once");

        // The server pings every heartbeat_secs (1 s here).
        let mut pinged = false;
        for _ in 0..5 {
            match tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Ping(_)))) => {
                    pinged = true;
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                other => anyhow::bail!("no ping: {other:?}"),
            }
        }
        assert!(pinged);

        // An API key needs `realtime:read` (viewers cannot make keys: a member's).
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let (status, key) = cell.post("/api/v1/api-keys", Some(&max), json!({"name": "k", "scopes": ["account:read"]})).await?;
        assert_eq!(status, 201, "{key}");
        let key = key["key"].as_str().unwrap_or_default().to_owned();
        let (status, body) = cell.post("/ws/ticket", Some(&key), json!({})).await?;
        assert_eq!((status, &body["error"]["code"]), (403, &json!("insufficient_scope")), "{body}");
        let (status, key) = cell.post("/api/v1/api-keys", Some(&max), json!({"name": "k2", "scopes": ["realtime:read"]})).await?;
        assert_eq!(status, 201, "{key}");
        let key = key["key"].as_str().unwrap_or_default().to_owned();
        let mut socket = connect(&cell, &key).await?;
        heard_nothing(&mut socket).await?;
        Ok(())
    }
);
