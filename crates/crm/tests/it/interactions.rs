//! Interactions and the timeline: logged against a person by who may write them, merged with
//! the person's activity in the order things happened, paged; the profile shows the latest.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn interactions_fill_the_profile_and_merge_into_the_timeline_in_time_order(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let p = person(&cell, &ann, json!({"name": "Cy", "email": "cy@example.com", "claim": true})).await?;
        let pid = id(&p);
        let email_channel = p["channels"][0]["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/v1/contacts/{pid}/interactions");

        // A call yesterday, logged now; an email sent an hour ago through Cy's email channel.
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let (status, call) = cell.post(&path, Some(&ann), json!({"type": "call", "direction": "outbound", "subject": "Intro", "duration_seconds": 300, "occurred_at": yesterday})).await?;
        assert_eq!(status, 201, "{call}");
        let (status, mail) = cell.post(&path, Some(&ann), json!({"type": "email", "event": "sent", "direction": "outbound", "subject": "Proposal", "channel_id": email_channel, "occurred_at": hour_ago, "metadata": {"campaign": "q4"}})).await?;
        assert_eq!((status, &mail["metadata"]["campaign"]), (201, &json!("q4")), "{mail}");
        let logged = cell.events("crm.interaction.logged").await?;
        assert_eq!(logged.len(), 2);
        assert_eq!(logged[1]["event"], "sent");

        // Bad input: named, nothing stored.
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        for (body, field) in [
            (json!({"type": "fax"}), "type"),
            (json!({"type": "call", "direction": "sideways"}), "direction"),
            (json!({"type": "call", "event": "opened"}), "event"),
            (json!({"type": "call", "occurred_at": tomorrow}), "occurred_at"),
            (json!({"type": "call", "channel_id": email_channel}), "channel_id"),
            (json!({"type": "call", "deal_id": uuid::Uuid::now_v7()}), "deal_id"),
            (json!({"type": "call", "duration_seconds": -1}), "duration_seconds"),
        ] {
            let (status, e) = cell.post(&path, Some(&ann), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
            assert!(e["error"]["details"].to_string().contains(field), "{body} -> {e}");
        }
        // Bob may read Cy but not write to Ann's person.
        let (status, _) = cell.post(&path, Some(&bob), json!({"type": "note"})).await?;
        assert_eq!(status, 403);
        let (status, list) = cell.get(&path, Some(&bob)).await?;
        assert_eq!(status, 200);
        let kinds: Vec<&str> = list["data"].as_array().into_iter().flatten().filter_map(|i| i["type"].as_str()).collect();
        assert_eq!(kinds, ["email", "call"], "newest first by when it happened");

        // A comment now: the timeline shows it first; the person's creation (today) above the
        // email (an hour ago), though the email was logged after it; the call (yesterday) last.
        settle(&cell).await?;
        let (status, _) = cell.post(&format!("/api/v1/contacts/{pid}/comments"), Some(&bob), json!({"body": "Warm lead"})).await?;
        assert_eq!(status, 201);
        settle(&cell).await?;
        let (status, t) = cell.get(&format!("/api/v1/contacts/{pid}/timeline"), Some(&bob)).await?;
        assert_eq!(status, 200, "{t}");
        let names: Vec<&str> = t["data"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(names.first(), Some(&"comment.added"), "{names:?}");
        let email_at = names.iter().position(|n| *n == "interaction.email");
        let created_at = names.iter().position(|n| *n == "crm.contact.created");
        assert!(created_at.is_some() && created_at < email_at, "{names:?}");
        assert_eq!(names.last(), Some(&"interaction.call"), "{names:?}");
        assert!(!names.contains(&"crm.interaction.logged"), "each interaction once: {names:?}");

        // Paged two at a time, the pages put together are the whole timeline.
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let q = before.as_ref().map(|b| format!("&before={b}")).unwrap_or_default();
            let (status, page) = cell.get(&format!("/api/v1/contacts/{pid}/timeline?limit=2{q}"), Some(&bob)).await?;
            assert_eq!(status, 200, "{page}");
            seen.extend(page["data"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str().map(str::to_owned)));
            match page["next_before"].as_str() {
                Some(b) => before = Some(b.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, names, "pages");
        for q in ["limit=0", "limit=101", "before=nope"] {
            let (status, _) = cell.get(&format!("/api/v1/contacts/{pid}/timeline?{q}"), Some(&bob)).await?;
            assert_eq!(status, 400, "{q}");
        }

        // The profile: channels, the latest interactions, when Cy was last contacted.
        let (_, profile) = cell.get(&format!("/api/v1/contacts/{pid}"), Some(&bob)).await?;
        assert_eq!(profile["interactions"].as_array().map(Vec::len), Some(2), "{profile}");
        assert_eq!(profile["interactions"][0]["id"], mail["id"]);
        assert_eq!(profile["last_contacted_at"], mail["occurred_at"]);
        assert_eq!(profile["deals"], json!([]));

        // Another org sees none of it.
        let globex = org(&cell, "Globex").await?;
        let eve = user(&cell, "eve@globex.test", globex, "admin").await?;
        for p in [path.clone(), format!("/api/v1/contacts/{pid}/timeline")] {
            assert_eq!(cell.get(&p, Some(&eve)).await?.0, 404, "{p}");
        }
        assert_eq!(cell.post(&path, Some(&eve), json!({"type": "note"})).await?.0, 404);

        // The autoreply bot answered Cy on email, then handed Cy to a human: both in the
        // timeline; a bot's turn needs one of its two events, and a message has no `escalated`.
        for event in ["replied", "escalated"] {
            let (status, turn) = cell.post(&path, Some(&ann), json!({"type": "bot", "event": event, "direction": "outbound", "channel_id": email_channel})).await?;
            assert_eq!((status, &turn["type"], &turn["event"]), (201, &json!("bot"), &json!(event)), "{turn}");
        }
        for body in [json!({"type": "bot"}), json!({"type": "bot", "event": "sent"}), json!({"type": "email", "event": "escalated"})] {
            let (status, e) = cell.post(&path, Some(&ann), body.clone()).await?;
            assert_eq!((status, e["error"]["details"].to_string().contains("event")), (422, true), "{body} -> {e}");
        }
        settle(&cell).await?;
        let (_, t) = cell.get(&format!("/api/v1/contacts/{pid}/timeline"), Some(&bob)).await?;
        let bots = t["data"].as_array().into_iter().flatten().filter(|e| e["name"] == "interaction.bot").count();
        assert_eq!(bots, 2, "{t}");
        Ok(())
    }
);
