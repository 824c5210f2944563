//! Templates with typed fields, documents made from them, the clause library and its versions,
//! details, roles, other orgs, the trash and the PDF.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn templates_make_drafts_with_typed_fields_and_default_clauses(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;

        // The library: a default clause and another one.
        let (status, net30) = cell.post("/api/v1/clauses", Some(&mia), json!({
            "title": "Net-30 payment", "category": "payment", "is_default": true,
            "content": "<p>Invoices are paid within 30 days.</p><script>x()</script>"})).await?;
        assert_eq!(status, 201, "{net30}");
        assert_eq!(net30["content"], "<p>Invoices are paid within 30 days.</p>", "sanitized");
        let (_, nda) = cell.post("/api/v1/clauses", Some(&mia), json!({
            "title": "Confidentiality", "category": "confidentiality", "content": "<p>Keep it secret.</p>"})).await?;

        let t = template(&cell, &mia).await?;
        let (status, templates) = cell.get("/api/v1/documents/templates", Some(&mia)).await?;
        assert_eq!((status, templates["data"].as_array().map(Vec::len)), (200, Some(1)), "{templates}");

        // A required field without a value, a value of the wrong type, an unknown field.
        let from = format!("/api/v1/documents/from-template/{t}");
        for (fields, bad) in [
            (json!({}), "fields.fee"),
            (json!({"fee": "a lot"}), "fields.fee"),
            (json!({"fee": "100", "term": "long"}), "fields.term"),
            (json!({"fee": "100", "color": "red"}), "fields.color"),
        ] {
            let (status, e) = cell.post(&from, Some(&mia), json!({"title": "x", "fields": fields})).await?;
            assert_eq!((status, field(&e)), (422, vec![bad.to_owned()]), "{e}");
        }
        let (status, _) = cell.get("/api/v1/documents?filter[type]=contract", Some(&mia)).await?;
        assert_eq!(status, 200);

        let d = draft(&cell, &mia, &t, "500000").await?;
        assert_eq!((&d["status"], &d["type"], &d["template_id"]), (&json!("draft"), &json!("contract"), &json!(t)));
        assert_eq!(d["fields"], json!({"fee": "500000", "term": "12", "law": "New York"}));
        let content = d["content"].as_str().unwrap_or_default();
        assert!(content.contains(r#"<span data-field="fee">500000</span>"#), "{content}");
        assert!(content.contains(r#"<span data-field="law">New York</span>"#), "{content}");
        let clauses: Vec<&str> = d["clauses"].as_array().into_iter().flatten().filter_map(|c| c["title"].as_str()).collect();
        assert_eq!(clauses, ["Net-30 payment"], "the default clause only");
        assert_eq!(cell.events("documents.document.created").await?.len(), 2);

        // Inserting a clause copies its current version; a later version leaves the copy.
        let doc = id(&d);
        let (status, with) = cell.post(&format!("/api/v1/documents/{doc}/clauses"), Some(&mia),
            json!({"clause_id": id(&nda), "position": 0})).await?;
        assert_eq!(status, 201, "{with}");
        assert_eq!(with["clauses"][0]["title"], "Confidentiality");
        assert_eq!(with["clauses"][1]["title"], "Net-30 payment");
        let (status, _) = cell.post(&format!("/api/v1/documents/{doc}/clauses"), Some(&mia),
            json!({"clause_id": id(&nda)})).await?;
        assert_eq!(status, 409, "once per document");
        let (status, v2) = cell.patch(&format!("/api/v1/clauses/{}", id(&nda)), Some(&mia),
            json!({"content": "<p>Keep it secret for five years.</p>"})).await?;
        assert_eq!((status, &v2["version"]), (200, &json!(2)), "{v2}");
        let (_, detail) = cell.get(&format!("/api/v1/clauses/{}", id(&nda)), Some(&mia)).await?;
        assert_eq!(detail["versions"].as_array().map(Vec::len), Some(2));
        assert_eq!(detail["used_by"], 1);
        let (_, again) = cell.get(&format!("/api/v1/documents/{doc}"), Some(&mia)).await?;
        assert_eq!((&again["clauses"][0]["version"], &again["clauses"][0]["content"]),
            (&json!(1), &json!("<p>Keep it secret.</p>")), "the copy keeps its version");
        let (status, _) = cell.patch(&format!("/api/v1/clauses/{}", id(&nda)), Some(&mia), json!({"category": null})).await?;
        assert_eq!(status, 200);
        let (_, same) = cell.get(&format!("/api/v1/clauses/{}", id(&nda)), Some(&mia)).await?;
        assert_eq!(same["version"], 2, "a category is not a version");

        // A retired clause leaves the library, not the documents.
        let (status, _) = cell.delete(&format!("/api/v1/clauses/{}", id(&nda)), Some(&mia)).await?;
        assert_eq!(status, 204);
        let (_, lib) = cell.get("/api/v1/clauses", Some(&mia)).await?;
        assert_eq!(lib["data"].as_array().map(Vec::len), Some(1));
        let (_, still) = cell.get(&format!("/api/v1/documents/{doc}"), Some(&mia)).await?;
        assert_eq!(still["clauses"].as_array().map(Vec::len), Some(2));
        Ok(())
    }
);

db_test!(
    async fn documents_answer_their_org_and_roles_only(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;
        let ada = user(&cell, "ada@acme.test", acme, "admin").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;

        let (status, d) = cell.post("/api/v1/documents", Some(&mia), json!({
            "title": "Memo", "type": "note", "content": "<p onclick=\"x\">Hello <b>there</b></p><img src=x>"})).await?;
        assert_eq!(status, 201, "{d}");
        assert_eq!(d["content"], "<p>Hello <b>there</b></p>");
        let doc = id(&d);
        let path = format!("/api/v1/documents/{doc}");

        // Bad input: named fields, nothing stored.
        for (body, bad) in [
            (json!({"title": " "}), "title"),
            (json!({"title": "x", "type": "poem"}), "type"),
            (json!({"title": "x", "field_defs": [{"name": "a"}]}), "field_defs"),
            (json!({"title": "x", "type": "template", "field_defs": [{"name": "a b"}]}), "field_defs[0].name"),
            (json!({"title": "x", "type": "template", "field_defs": [{"name": "a", "type": "date", "default": "soon"}]}), "field_defs[0].default"),
            (json!({"title": "x", "fields": {"bad key": "v"}}), "fields.bad key"),
        ] {
            let (status, e) = cell.post("/api/v1/documents", Some(&mia), body).await?;
            assert_eq!((status, field(&e)), (422, vec![bad.to_owned()]), "{e}");
        }
        let (_, list) = cell.get("/api/v1/documents", Some(&vic)).await?;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");

        // A viewer reads and writes nothing; another org sees nothing.
        let (status, _) = cell.get(&path, Some(&vic)).await?;
        assert_eq!(status, 200);
        let (status, _) = cell.post("/api/v1/documents", Some(&vic), json!({"title": "x"})).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.patch(&path, Some(&vic), json!({"title": "x"})).await?;
        assert_eq!(status, 403);
        for p in [path.clone(), format!("{path}/revisions"), format!("{path}/redline"), format!("{path}/pdf")] {
            let (status, _) = cell.get(&p, Some(&gus)).await?;
            assert_eq!(status, 404, "{p}");
        }
        let (status, _) = cell.patch(&path, Some(&gus), json!({"title": "mine"})).await?;
        assert_eq!(status, 404);
        let (_, theirs) = cell.get("/api/v1/documents", Some(&gus)).await?;
        assert_eq!(theirs["data"], json!([]));

        // Content changes by PATCH until the first revision.
        let (status, p) = cell.patch(&path, Some(&mia), json!({"title": "Memo 2", "content": "<p>Bye</p>", "expires_at": "2030-01-01T00:00:00Z"})).await?;
        assert_eq!((status, &p["content"], &p["title"]), (200, &json!("<p>Bye</p>"), &json!("Memo 2")), "{p}");
        let (status, e) = cell.patch(&path, Some(&mia), json!({"status": "signed"})).await?;
        assert_eq!((status, field(&e)), (422, vec!["status".to_owned()]));

        // The PDF.
        let res = reqwest::Client::new().get(cell.url(&format!("{path}/pdf"))).bearer_auth(&vic).send().await?;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/pdf"));
        assert!(res.bytes().await?.starts_with(b"%PDF-"));

        // The trash: by its creator or an admin.
        let (status, _) = cell.delete(&path, Some(&max)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&path, Some(&ada)).await?;
        assert_eq!(status, 204);
        let (status, _) = cell.get(&path, Some(&mia)).await?;
        assert_eq!(status, 404);
        let (status, back) = cell.post(&format!("/api/v1/trash/{doc}/restore?type=document"), Some(&mia), json!({})).await?;
        assert_eq!(status, 200, "{back}");
        let (status, _) = cell.get(&path, Some(&mia)).await?;
        assert_eq!(status, 200);
        assert_eq!(cell.events("documents.document.restored").await?.len(), 1);

        // Collab works on documents through the entity loader.
        let (status, c) = cell.post(&format!("{path}/comments"), Some(&max), json!({"body": "Looks good"})).await?;
        assert_eq!(status, 201, "{c}");
        Ok(())
    }
);
