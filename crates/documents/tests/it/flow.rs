//! The whole loop over HTTP, as an agency runs it: template → draft → revisions (one change
//! accepted, one rejected) → internal approval, returned for changes once → external review by
//! link with a suggestion → signature through the built-in provider → signed, immutable, its PDF
//! stored; then deliverables, and the daily check that finds one behind.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn a_contract_goes_from_template_to_signed_and_delivered(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let ada = user(&cell, "ada@acme.test", acme, "admin").await?;
        let ada_id = me(&cell, &ada).await?;
        let (status, _) = cell.post("/api/v1/approval-workflows", Some(&ada), json!({
            "name": "Contracts", "document_type": "contract",
            "steps": [{"order": 1, "reviewers": [{"kind": "user", "id": ada_id}]}]})).await?;
        assert_eq!(status, 201);

        // Template → draft → two revisions; accept the term, reject the law.
        let t = template(&cell, &mia).await?;
        let doc = id(&draft(&cell, &mia, &t, "5000").await?);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");
        let r1 = revise(&cell, &mia, &doc, json!([
            {"field_name": "term", "old_value": "12", "new_value": "18"},
            {"field_name": "law", "old_value": "New York", "new_value": "Nevada"}])).await?;
        let rev = id(&r1);
        let (status, _) = cell.post(&format!("/api/v1/revisions/{rev}/accept/0"), Some(&mia), json!({})).await?;
        assert_eq!(status, 200);
        let (status, _) = cell.post(&format!("/api/v1/revisions/{rev}/reject/1"), Some(&mia), json!({})).await?;
        assert_eq!(status, 200);

        // Internal approval: returned once, then approved.
        let (_, req) = cell.post(&at("/submit-for-approval"), Some(&mia), json!({})).await?;
        let decide = format!("/api/v1/approval-requests/{}/decide", id(&req));
        let (status, _) = cell.post(&decide, Some(&ada), json!({"decision": "returned_for_changes"})).await?;
        assert_eq!(status, 200);
        revise(&cell, &mia, &doc, json!([{"field_name": "fee", "old_value": "5000", "new_value": "4500"}])).await?;
        let (_, req) = cell.post(&at("/submit-for-approval"), Some(&mia), json!({})).await?;
        let (status, _) = cell.post(&format!("/api/v1/approval-requests/{}/decide", id(&req)), Some(&ada), json!({"decision": "approved"})).await?;
        assert_eq!(status, 200);

        // External review: a suggestion on the fee, approved.
        let (status, _) = cell.post(&at("/send"), Some(&mia), json!({"recipient_email": "cfo@client.test"})).await?;
        assert_eq!(status, 201);
        let token = mailed_token(&cell, "cfo@client.test", "documents.review_request").await?;
        let (status, s) = cell.post(&format!("/api/v1/documents/review/{token}/suggest"), None,
            json!({"field_key": "fee", "original_text": "4500", "suggested_text": "4200"})).await?;
        assert_eq!(status, 201, "{s}");
        let (status, _) = cell.patch(&at(&format!("/suggestions/{}", id(&s))), Some(&mia), json!({"status": "APPROVED"})).await?;
        assert_eq!(status, 200);
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["fields"], json!({"fee": "4200", "term": "18", "law": "New York"}));
        assert_eq!(d["status"], "client_review");

        // Signed by the client through the built-in provider.
        let (status, _) = cell.post(&at("/send-for-signature"), Some(&mia), json!({"signers": [{"email": "cfo@client.test", "name": "Carla Fo"}]})).await?;
        assert_eq!(status, 201);
        let sign = mailed_token(&cell, "cfo@client.test", "documents.signature_request").await?;
        let (status, done) = cell.post(&format!("/api/v1/sign/{sign}"), None, json!({"typed_name": "Carla Fo", "agree": true})).await?;
        assert_eq!((status, &done["document_status"]), (200, &json!("signed")), "{done}");
        let (status, _) = cell.get(&format!("/api/v1/documents/review/{token}"), None).await?;
        assert_eq!(status, 200, "the link still reads");
        let (status, _) = cell.post(&format!("/api/v1/documents/review/{token}/suggest"), None,
            json!({"original_text": "Services", "suggested_text": "x"})).await?;
        assert_eq!(status, 409, "a signed document takes no suggestions");
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert!(d["signed_file_id"].is_string());
        let statuses: Vec<String> = cell.events("documents.document.status_changed").await?.iter()
            .filter(|e| e["document_id"] == json!(doc)).filter_map(|e| e["to"].as_str().map(str::to_owned)).collect();
        assert_eq!(statuses, ["internal_review", "draft", "internal_review", "approved", "sent", "client_review", "out_for_signature", "signed"]);

        // Deliverables: progress, and the daily check. Two blog posts a week for 60 days: nine
        // weeks begin before the due date (the last is cut short), 18 posts; 30 days in, four
        // weeks are over, 8 posts were due.
        let now = chrono::Utc::now();
        let (status, behind) = cell.post(&at("/deliverables"), Some(&mia), json!({
            "title": "Blog posts", "quantity": 2, "frequency": "weekly", "platform": "blog",
            "start_date": (now - chrono::Duration::days(30)).to_rfc3339(),
            "due_date": (now + chrono::Duration::days(30)).to_rfc3339()})).await?;
        assert_eq!(
            (status, &behind["is_on_track"], &behind["expected_count"], &behind["target_count"]),
            (201, &json!(true), &json!(8), &json!(18)),
            "{behind}"
        );
        let (status, fine) = cell.post(&at("/deliverables"), Some(&mia), json!({
            "title": "Launch video", "quantity": 1, "due_date": (now + chrono::Duration::days(60)).to_rfc3339()})).await?;
        assert_eq!(status, 201, "{fine}");
        let (status, e) = cell.post(&at("/deliverables"), Some(&mia), json!({"title": "x", "quantity": 0, "due_date": now.to_rfc3339()})).await?;
        assert_eq!((status, field(&e)), (422, vec!["quantity".to_owned()]));
        let (status, p) = cell.patch(&format!("/api/v1/deliverables/{}", id(&behind)), Some(&mia), json!({"currentCount": 2})).await?;
        assert_eq!((status, &p["progress"], &p["is_on_track"]), (200, &json!(11), &json!(false)), "{p}");
        let (status, p) = cell.patch(&format!("/api/v1/deliverables/{}", id(&behind)), Some(&mia), json!({"current_count": 9})).await?;
        assert_eq!((status, &p["is_on_track"], &p["status"]), (200, &json!(true), &json!("active")), "back on track: {p}");
        // Twenty days on, seven weeks are over: nine of fourteen is behind; the video (one, due
        // in 60 days) is not.
        let later = now + chrono::Duration::days(20);
        let db = cell.ctx.db().system();
        cell.ctx.jobs().enqueue(db.conn(), "documents.deliverables", None, json!({"tick": later.to_rfc3339()})).await?;
        settle(&cell).await?;
        let late = cell.events("documents.deliverable.behind").await?;
        assert_eq!((late.len(), &late[0]["title"]), (1, &json!("Blog posts")), "{late:?}");
        let (_, list) = cell.get(&at("/deliverables"), Some(&mia)).await?;
        let track: Vec<bool> = list.as_array().into_iter().flatten().filter_map(|d| d["is_on_track"].as_bool()).collect();
        assert_eq!(track, [false, true], "by due date: the posts, then the video");
        let (_, inbox) = cell.get("/api/v1/notifications?filter[event]=documents.deliverable.behind", Some(&mia)).await?;
        assert_eq!(inbox["data"].as_array().map(Vec::len), Some(1), "the owner is told");
        cell.ctx.jobs().enqueue(db.conn(), "documents.deliverables", None, json!({"tick": later.to_rfc3339()})).await?;
        settle(&cell).await?;
        assert_eq!(cell.events("documents.deliverable.behind").await?.len(), 1, "told once");
        Ok(())
    }
);
