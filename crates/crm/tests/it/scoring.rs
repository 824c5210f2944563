//! Person merge (everything about the merged record moves to the kept one) and fit scoring:
//! criteria per product, scorings kept as history, leads ranked by fit and reviewed.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v[field].as_str().map(str::to_owned))
        .collect()
}

db_test!(
    async fn merging_two_records_of_a_person_moves_everything_to_the_kept_one(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let kept = id(&person(&cell, &ann, json!({"name": "Ann Lee", "email": "ann@initech.com"})).await?);
        let dup = id(&person(&cell, &ann, json!({"name": "A. Lee", "email": "ann.lee@gmail.com", "phone": "+1 555 010 0100", "job_title": "CTO"})).await?);
        let co = id(&company(&cell, &ann, "Initech", &["initech.com"]).await?);

        // What the duplicate has: a deal, an interaction, a note, tags (one both carry), a link,
        // a static segment.
        let (status, deal) = cell.post("/api/v1/deals", Some(&ann), json!({"title": "Seats", "contact_id": dup, "value": 5000, "currency": "usd"})).await?;
        assert_eq!(status, 201, "{deal}");
        let (status, _) = cell.post(&format!("/api/v1/contacts/{dup}/interactions"), Some(&ann), json!({"type": "call", "subject": "Intro"})).await?;
        assert_eq!(status, 201);
        let (status, _) = cell.post(&format!("/api/v1/contacts/{dup}/notes"), Some(&ann), json!({"body": "Met at the fair"})).await?;
        assert_eq!(status, 201);
        let (_, vip) = cell.post("/api/v1/tags", Some(&ann), json!({"name": "VIP"})).await?;
        let (_, hot) = cell.post("/api/v1/tags", Some(&ann), json!({"name": "Hot"})).await?;
        for (who, tag) in [(&kept, &vip), (&dup, &vip), (&dup, &hot)] {
            let (status, _) = cell.post(&format!("/api/v1/contacts/{who}/tags"), Some(&ann), json!({"tag_id": id(tag)})).await?;
            assert_eq!(status, 201);
        }
        let (status, _) = cell.post("/api/v1/links", Some(&ann), json!({"source": {"type": "contact", "id": dup}, "target": {"type": "company", "id": co}})).await?;
        assert_eq!(status, 201);
        let (_, seg) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Fair", "kind": "static"})).await?;
        let sid = id(&seg);
        cell.post(&format!("/api/v1/segments/{sid}/members"), Some(&ann), json!({"contact_ids": [dup]})).await?;
        settle(&cell).await?;

        // Refused: into itself, an unknown or other org's person (422, named), a person another
        // member claimed (403), from another org (404).
        let merge = format!("/api/v1/contacts/{kept}/merge");
        let (status, e) = cell.post(&merge, Some(&ann), json!({"from_id": kept})).await?;
        assert_eq!((status, &e["error"]["details"]["fields"]["from_id"].is_string()), (422, &true), "{e}");
        let stranger = id(&person(&cell, &gus, json!({"name": "Gus's"})).await?);
        let (status, _) = cell.post(&merge, Some(&ann), json!({"from_id": stranger})).await?;
        assert_eq!(status, 422);
        let (status, _) = cell.post(&format!("/api/v1/contacts/{stranger}/merge"), Some(&ann), json!({"from_id": dup})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&merge, Some(&gus), json!({"from_id": dup})).await?;
        assert_eq!(status, 404);
        let bobs = id(&person(&cell, &bob, json!({"name": "Bob's", "claim": true})).await?);
        let (status, _) = cell.post(&merge, Some(&ann), json!({"from_id": bobs})).await?;
        assert_eq!(status, 403);
        // What Ann may do with each, as the policy says (outreach's: reply own or pool).
        let (_, theirs) = cell.get(&format!("/api/v1/contacts/{bobs}/access"), Some(&ann)).await?;
        assert_eq!((&theirs["read"], &theirs["write"], &theirs["reply"]), (&json!(true), &json!(false), &json!(false)), "{theirs}");
        let (_, pooled) = cell.get(&format!("/api/v1/contacts/{dup}/access"), Some(&ann)).await?;
        assert_eq!((&pooled["write"], &pooled["reply"]), (&json!(true), &json!(true)), "{pooled}");
        assert_eq!(cell.get(&format!("/api/v1/contacts/{bobs}/access"), Some(&gus)).await?.0, 404);

        let (status, merged) = cell.post(&merge, Some(&ann), json!({"from_id": dup})).await?;
        assert_eq!(status, 200, "{merged}");
        // Channels: the kept email stays primary, the other joins; the phone (the kept one had
        // none) is primary and fills `phone`; the job title fills the empty field; the name stays.
        assert_eq!((&merged["name"], &merged["email"], &merged["phone"], &merged["job_title"]),
            (&json!("Ann Lee"), &json!("ann@initech.com"), &json!("+15550100100"), &json!("CTO")), "{merged}");
        let primary: Vec<(String, bool)> = merged["channels"].as_array().into_iter().flatten()
            .map(|c| (c["value"].as_str().unwrap_or_default().to_owned(), c["is_primary"] == true)).collect();
        assert_eq!(primary.len(), 3, "{merged}");
        assert!(primary.contains(&("ann@initech.com".into(), true)) && primary.contains(&("ann.lee@gmail.com".into(), false)), "{primary:?}");
        assert_eq!(merged["deals"].as_array().map(Vec::len), Some(1));
        assert_eq!(merged["interactions"].as_array().map(Vec::len), Some(1));
        assert_eq!(cell.get(&format!("/api/v1/contacts/{dup}"), Some(&ann)).await?.0, 404, "in the trash");
        let (_, trash) = cell.get("/api/v1/trash?type=contact", Some(&ann)).await?;
        assert!(trash["data"].as_array().into_iter().flatten().any(|t| t["id"] == json!(dup)), "{trash}");

        let (_, notes) = cell.get(&format!("/api/v1/contacts/{kept}/notes"), Some(&ann)).await?;
        assert_eq!(notes["data"].as_array().map(Vec::len), Some(1), "{notes}");
        let (_, tags) = cell.get(&format!("/api/v1/contacts/{kept}/tags"), Some(&ann)).await?;
        let mut tag_names = names(&tags, "name");
        tag_names.sort();
        assert_eq!(tag_names, ["Hot", "VIP"], "VIP once: {tags}");
        let (_, linked) = cell.get(&format!("/api/v1/contacts/{kept}/linked"), Some(&ann)).await?;
        assert!(linked.to_string().contains(&co), "{linked}");
        let (_, members) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={sid}"), Some(&ann)).await?;
        assert_eq!(names(&members["data"], "id"), std::slice::from_ref(&kept));
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 1);
        // Searching the merged-away record's name finds nothing any more.
        settle(&cell).await?;
        let (_, found) = cell.get("/api/v1/search?q=Lee", Some(&ann)).await?;
        assert!(!found.to_string().contains(&dup), "{found}");

        let ev = cell.events("crm.contact.merged").await?;
        assert_eq!((&ev[0]["merged_id"], &ev[0]["channels_moved"], &ev[0]["deals_moved"], &ev[0]["interactions_moved"]),
            (&json!(dup), &json!(2), &json!(1), &json!(1)), "{ev:?}");
        assert_eq!(ev[0]["fields"], json!(["phone", "job_title"]));
        let (_, feed) = cell.get(&format!("/api/v1/contacts/{kept}/activity?limit=100"), Some(&ann)).await?;
        let feed_names = names(&feed["data"], "name");
        assert!(feed_names.contains(&"crm.contact.merged".to_owned()) && feed_names.contains(&"note.added".to_owned()), "the duplicate's history follows: {feed_names:?}");
        assert!(!feed_names.contains(&"entity.merged".to_owned()));
        Ok(())
    }
);

db_test!(
    async fn fit_scores_rank_leads_keep_their_history_and_take_a_review(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let lead = id(&person(&cell, &ann, json!({"name": "Lead", "claim": true})).await?);
        let client = id(&person(&cell, &ann, json!({"name": "Client", "type": "client"})).await?);

        // Criteria: admins set them; checked.
        let criteria = "/api/v1/scoring/criteria";
        let (status, _) = cell.post(criteria, Some(&ann), json!({"product": "enterprise", "name": "Size", "weight": 3})).await?;
        assert_eq!(status, 403);
        let (status, size) = cell.post(criteria, Some(&boss), json!({"product": "enterprise", "name": "Company size", "weight": 3, "description": "Seats they need"})).await?;
        assert_eq!(status, 201, "{size}");
        let (status, is_client) = cell.post(criteria, Some(&boss), json!({"product": "enterprise", "name": "Already a client", "weight": 1, "rule": "filter[type]=client"})).await?;
        assert_eq!(status, 201, "{is_client}");
        for (body, field) in [
            (json!({"product": "enterprise", "name": "x", "weight": 0}), "weight"),
            (json!({"product": "Enter prise", "name": "x", "weight": 1}), "product"),
            (json!({"product": "enterprise", "name": "x", "weight": 1, "rule": "filter[nope]=1"}), "rule"),
        ] {
            let (status, e) = cell.post(criteria, Some(&boss), body).await?;
            assert_eq!(status, 422, "{field}: {e}");
            assert!(e["error"]["details"]["fields"][field].is_string(), "{field}: {e}");
        }
        let (status, _) = cell.post(criteria, Some(&boss), json!({"product": "enterprise", "name": "Company size", "weight": 1})).await?;
        assert_eq!(status, 409);
        let (_, list) = cell.get("/api/v1/scoring/criteria?filter[product]=enterprise", Some(&ann)).await?;
        assert_eq!(list["meta"]["total"], 2);

        // Scored: (3·80 + 1·0) / 4 = 60 for the lead; (3·40 + 1·100) / 4 = 55 for the client.
        let score = |who: &str| format!("/api/v1/contacts/{who}/fit");
        let (status, fit) = cell.post(&score(&lead), Some(&ann), json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 80, "note": "200 seats"}]})).await?;
        assert_eq!((status, &fit["score"], &fit["review_state"]), (200, &json!(60), &json!("pending")), "{fit}");
        let (status, fit) = cell.post(&score(&client), Some(&ann), json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 40}]})).await?;
        assert_eq!((status, &fit["score"]), (200, &json!(55)), "{fit}");
        // Re-scored: 100 → 75; the first scoring stays in the history.
        let (_, fit) = cell.post(&score(&lead), Some(&ann), json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 100}]})).await?;
        assert_eq!(fit["score"], 75, "{fit}");
        let sources: Vec<(String, Value)> = fit["criteria"].as_array().into_iter().flatten()
            .map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), c["score"].clone())).collect();
        assert_eq!(sources, [("Already a client".to_owned(), json!(0)), ("Company size".to_owned(), json!(100))]);
        let (_, history) = cell.get(&format!("/api/v1/contacts/{lead}/fit/history?filter[product]=enterprise"), Some(&bob)).await?;
        assert_eq!(history["meta"]["total"], 4, "two scorings of two criteria: {history}");
        assert!(history["data"].as_array().into_iter().flatten().any(|a| a["score"] == 80 && a["note"] == "200 seats"), "{history}");
        let scored = cell.events("crm.contact.scored").await?;
        assert_eq!((&scored[2]["score"], &scored[2]["previous_score"]), (&json!(75), &json!(60)));
        let (_, fits) = cell.get(&score(&lead), Some(&bob)).await?;
        assert_eq!(names(&fits, "product"), ["enterprise"]);

        // Refused: a criterion of no such product, twice, out of range; a product without
        // criteria; a member scoring another member's person.
        for body in [
            json!({"product": "enterprise", "scores": [{"criterion_id": uuid::Uuid::now_v7(), "score": 1}]}),
            json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 1}, {"criterion_id": id(&size), "score": 2}]}),
            json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 101}]}),
            json!({"product": "starter", "scores": []}),
        ] {
            let (status, e) = cell.post(&score(&client), Some(&ann), body.clone()).await?;
            assert_eq!(status, 422, "{body}: {e}");
        }
        let (status, _) = cell.post(&score(&lead), Some(&bob), json!({"product": "enterprise"})).await?;
        assert_eq!(status, 403);

        // Leads: best first; reviewed by a human; the review filter; the trash leaves.
        let (_, leads) = cell.get("/api/v1/leads?filter[product]=enterprise", Some(&bob)).await?;
        let ranked: Vec<(Value, Value)> = leads["data"].as_array().into_iter().flatten().map(|l| (l["contact"]["id"].clone(), l["score"].clone())).collect();
        assert_eq!(ranked, [(json!(lead), json!(75)), (json!(client), json!(55))]);
        let lead_id = leads["data"][0]["id"].as_str().unwrap_or_default().to_owned();
        let (status, _) = cell.patch(&format!("/api/v1/leads/{lead_id}"), Some(&bob), json!({"review_state": "accepted"})).await?;
        assert_eq!(status, 403, "Ann's person");
        let (status, e) = cell.patch(&format!("/api/v1/leads/{lead_id}"), Some(&ann), json!({"review_state": "maybe"})).await?;
        assert_eq!(status, 422, "{e}");
        let (status, reviewed) = cell.patch(&format!("/api/v1/leads/{lead_id}"), Some(&ann), json!({"review_state": "accepted", "note": "Call this week"})).await?;
        assert_eq!((status, &reviewed["review_state"], &reviewed["review_note"]), (200, &json!("accepted"), &json!("Call this week")), "{reviewed}");
        assert!(reviewed["reviewed_by"].is_string() && reviewed["reviewed_at"].is_string());
        let (_, pending) = cell.get("/api/v1/leads?filter[review_state]=pending", Some(&ann)).await?;
        assert_eq!(pending["meta"]["total"], 1);
        assert_eq!(pending["data"][0]["contact"]["id"], json!(client));
        // A later scoring keeps the review.
        let (_, fit) = cell.post(&score(&lead), Some(&ann), json!({"product": "enterprise"})).await?;
        assert_eq!((&fit["score"], &fit["review_state"]), (&json!(75), &json!("accepted")), "{fit}");
        assert_eq!(cell.delete(&format!("/api/v1/contacts/{client}"), Some(&ann)).await?.0, 204);
        let (_, leads) = cell.get("/api/v1/leads", Some(&ann)).await?;
        assert_eq!(leads["meta"]["total"], 1);

        // A merge brings the merged record's fits and history along (a product both were scored
        // for keeps the kept one's fit).
        let (_, starter) = cell.post(criteria, Some(&boss), json!({"product": "starter", "name": "Budget", "weight": 1})).await?;
        let twin = id(&person(&cell, &ann, json!({"name": "Lead twin"})).await?);
        cell.post(&score(&twin), Some(&ann), json!({"product": "starter", "scores": [{"criterion_id": id(&starter), "score": 30}]})).await?;
        cell.post(&score(&twin), Some(&ann), json!({"product": "enterprise", "scores": [{"criterion_id": id(&size), "score": 10}]})).await?;
        let (status, _) = cell.post(&format!("/api/v1/contacts/{lead}/merge"), Some(&ann), json!({"from_id": twin})).await?;
        assert_eq!(status, 200);
        let (_, fits) = cell.get(&score(&lead), Some(&ann)).await?;
        let by_product: Vec<(Value, Value)> = fits.as_array().into_iter().flatten().map(|f| (f["product"].clone(), f["score"].clone())).collect();
        assert_eq!(by_product, [(json!("enterprise"), json!(75)), (json!("starter"), json!(30))]);
        let (_, history) = cell.get(&format!("/api/v1/contacts/{lead}/fit/history"), Some(&ann)).await?;
        assert_eq!(history["meta"]["total"], 8, "5 of its own, 3 of the twin's: {history}");

        // Criteria changes and deletes: admins; the history keeps the name it had.
        let (status, _) = cell.patch(&format!("{criteria}/{}", id(&size)), Some(&ann), json!({"weight": 2})).await?;
        assert_eq!(status, 403);
        let (status, changed) = cell.patch(&format!("{criteria}/{}", id(&size)), Some(&boss), json!({"weight": 2, "rule": null})).await?;
        assert_eq!((status, &changed["weight"]), (200, &json!(2)), "{changed}");
        assert_eq!(cell.delete(&format!("{criteria}/{}", id(&size)), Some(&boss)).await?.0, 204);
        let (_, history) = cell.get(&format!("/api/v1/contacts/{lead}/fit/history?filter[criterion_id]={}", id(&size)), Some(&ann)).await?;
        assert_eq!(history["data"][0]["criterion_name"], "Company size");

        // Another org: nothing of Acme's is there.
        let (_, crit) = cell.get("/api/v1/scoring/criteria", Some(&gus)).await?;
        assert_eq!(crit["meta"]["total"], 0);
        let (_, leads) = cell.get("/api/v1/leads", Some(&gus)).await?;
        assert_eq!(leads["meta"]["total"], 0);
        for (status, what) in [
            (cell.get(&score(&lead), Some(&gus)).await?.0, "fit"),
            (cell.post(&score(&lead), Some(&gus), json!({"product": "enterprise"})).await?.0, "score"),
            (cell.get(&format!("/api/v1/contacts/{lead}/fit/history"), Some(&gus)).await?.0, "history"),
            (cell.patch(&format!("/api/v1/leads/{lead_id}"), Some(&gus), json!({"review_state": "rejected"})).await?.0, "review"),
            (cell.patch(&format!("{criteria}/{}", id(&is_client)), Some(&gus), json!({"weight": 5})).await?.0, "criterion"),
            (cell.delete(&format!("{criteria}/{}", id(&is_client)), Some(&gus)).await?.0, "criterion delete"),
        ] {
            assert_eq!(status, 404, "{what}");
        }
        Ok(())
    }
);
