//! External review by link: the email, what the link opens (that document only), suggestions,
//! the owner's decisions, and the refusals (unknown, revoked and expired links, a link that is
//! not a credential, a document that no longer takes suggestions).

use kernel::sea_orm::ConnectionTrait;
use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn reviewers_suggest_through_their_link_and_owners_decide(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let t = template(&cell, &mia).await?;
        let doc = id(&draft(&cell, &mia, &t, "100").await?);
        let other = id(&draft(&cell, &mia, &t, "999").await?);
        let at = |p: &str| format!("/api/v1/documents/{doc}{p}");

        let (status, e) = cell.post(&at("/send"), Some(&mia), json!({"recipient_email": "not an email"})).await?;
        assert_eq!((status, field(&e)), (422, vec!["recipient_email".to_owned()]));
        let (status, _) = cell.post(&at("/send"), Some(&vic), json!({"recipient_email": "c@client.test"})).await?;
        assert_eq!(status, 403);
        let (status, link) = cell.post(&at("/send"), Some(&mia), json!({"recipientEmail": "C@Client.test"})).await?;
        assert_eq!(status, 201, "{link}");
        assert!(link.get("token").is_none(), "the token goes by email only: {link}");
        assert_eq!((&link["recipient_email"], &link["active"]), (&json!("c@client.test"), &json!(true)));
        let (_, d) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!(d["status"], "sent");
        assert_eq!(cell.events("documents.document.sent").await?.len(), 1);
        let token = mailed_token(&cell, "c@client.test", "documents.review_request").await?;

        // The link opens its document, without an account; the document is in client review.
        let review = format!("/api/v1/documents/review/{token}");
        let (status, view) = cell.get(&review, None).await?;
        assert_eq!(status, 200, "{view}");
        assert_eq!((&view["document_id"], &view["status"]), (&json!(doc), &json!("client_review")));
        assert!(view["content"].as_str().unwrap_or_default().contains(">100<"));
        // Nowhere else: not as a credential, not for another document.
        let (status, _) = cell.get(&format!("/api/v1/documents/{other}"), Some(&token)).await?;
        assert_eq!(status, 401);
        let (status, _) = cell.get(&at(""), Some(&token)).await?;
        assert_eq!(status, 401);

        // Suggestions: on a field, on text; bad ones refused.
        let suggest = format!("{review}/suggest");
        let (status, e) = cell.post(&suggest, None, json!({"original_text": " ", "suggested_text": "x"})).await?;
        assert_eq!((status, field(&e)), (422, vec!["original_text".to_owned()]));
        let (status, s1) = cell.post(&suggest, None, json!({"section": "Fees", "fieldKey": "fee", "originalText": "100", "suggestedText": "80", "creatorRequest": "Our budget is 80"})).await?;
        assert_eq!((status, &s1["status"]), (201, &json!("PENDING")), "{s1}");
        let (status, s2) = cell.post(&suggest, None, json!({"original_text": "Services", "suggested_text": "Consulting services"})).await?;
        assert_eq!(status, 201, "{s2}");
        let (status, s3) = cell.post(&suggest, None, json!({"field_key": "law", "original_text": "New York", "suggested_text": "Texas"})).await?;
        assert_eq!(status, 201, "{s3}");
        let received = cell.events("documents.suggestion.received").await?;
        assert_eq!(received.len(), 3);
        settle(&cell).await?;
        let (_, inbox) = cell.get("/api/v1/notifications?filter[event]=documents.suggestion.received", Some(&mia)).await?;
        assert_eq!(inbox["data"].as_array().map(Vec::len), Some(3), "the owner is told: {inbox}");

        // The owner approves the field suggestion (a revision) and the text one; rejects one.
        let dec = |s: &serde_json::Value| format!("/api/v1/documents/{doc}/suggestions/{}", id(s));
        let (status, a1) = cell.patch(&dec(&s1), Some(&mia), json!({"status": "APPROVED"})).await?;
        assert_eq!((status, &a1["status"], a1["revision_id"].is_string()), (200, &json!("APPROVED"), true), "{a1}");
        let (status, a2) = cell.patch(&dec(&s2), Some(&mia), json!({"status": "APPROVED"})).await?;
        assert_eq!(status, 200, "{a2}");
        let (status, r3) = cell.patch(&dec(&s3), Some(&mia), json!({"status": "REJECTED", "reviewNotes": "We stay in New York"})).await?;
        assert_eq!((status, &r3["review_notes"]), (200, &json!("We stay in New York")), "{r3}");
        let (status, _) = cell.patch(&dec(&s3), Some(&mia), json!({"status": "APPROVED"})).await?;
        assert_eq!(status, 409, "decided already");
        let (status, _) = cell.patch(&format!("/api/v1/documents/{other}/suggestions/{}", id(&s1)), Some(&mia), json!({"status": "REJECTED"})).await?;
        assert_eq!(status, 404, "a suggestion of another document");
        let (_, now) = cell.get(&at(""), Some(&mia)).await?;
        assert_eq!((&now["fields"]["fee"], &now["fields"]["law"]), (&json!("80"), &json!("New York")));
        let content = now["content"].as_str().unwrap_or_default();
        assert!(content.contains("<h1>Consulting services</h1>"), "{content}");
        let (_, hist) = cell.get(&at("/revisions"), Some(&mia)).await?;
        assert_eq!(hist.as_array().map(Vec::len), Some(3), "baseline and two revisions");
        assert_eq!(hist[1]["suggestion_id"], json!(id(&s1)));
        let (_, red) = cell.get(&at("/redline"), Some(&mia)).await?;
        assert!(red["html"].as_str().unwrap_or_default().contains(">80</span></span>"));
        // What the reviewer sees of it.
        let (_, view) = cell.get(&review, None).await?;
        let statuses: Vec<&str> = view["suggestions"].as_array().into_iter().flatten().filter_map(|s| s["status"].as_str()).collect();
        assert_eq!(statuses.len(), 3);
        assert!(statuses.contains(&"REJECTED"));

        // Unknown, revoked and expired links.
        let (status, _) = cell.get("/api/v1/documents/review/nonsense", None).await?;
        assert_eq!(status, 404);
        let forged = format!("{}.{}", acme.simple(), "A".repeat(43));
        let (status, _) = cell.get(&format!("/api/v1/documents/review/{forged}"), None).await?;
        assert_eq!(status, 404);
        let (_, links) = cell.get(&at("/review-links"), Some(&vic)).await?;
        let link_id = id(&links[0]);
        let (status, revoked) = cell.delete(&format!("{}/{link_id}", at("/review-links")), Some(&mia)).await?;
        assert_eq!((status, &revoked["active"]), (200, &json!(false)));
        let (status, e) = cell.get(&review, None).await?;
        assert_eq!((status, &e["error"]["code"]), (410, &json!("gone")), "{e}");
        let (status, _) = cell.post(&suggest, None, json!({"original_text": "a", "suggested_text": "b"})).await?;
        assert_eq!(status, 410);

        let (status, _) = cell.post(&at("/send"), Some(&mia), json!({"recipient_email": "d@client.test", "expires_in_days": 1})).await?;
        assert_eq!(status, 201);
        let second = mailed_token(&cell, "d@client.test", "documents.review_request").await?;
        let tx = cell.ctx.db().tenant(acme).await?;
        let backend = tx.unscoped().get_database_backend();
        tx.unscoped().execute_raw(kernel::sea_orm::Statement::from_sql_and_values(backend,
            "UPDATE documents_review_tokens SET expires_at = $1 WHERE recipient_email = 'd@client.test'",
            [chrono::Utc::now().checked_sub_signed(chrono::Duration::days(2)).unwrap_or_default().into()])).await?;
        tx.commit().await?;
        let (status, _) = cell.get(&format!("/api/v1/documents/review/{second}"), None).await?;
        assert_eq!(status, 410, "expired");
        let suggestions = cell.events("documents.suggestion.received").await?;
        assert_eq!(suggestions.len(), 3, "nothing stored through a dead link");
        Ok(())
    }
);
