//! The upload flow against real presigned URLs (the cell's own on local storage, moto's S3),
//! and every refusal: size, type, content that is not what it says, confirm before upload,
//! another org's file.

use serde_json::json;
use testkit::db_test;

use crate::support::{ELF, PDF, Store, cell, fetch, org, put, user};

db_test!(
    async fn a_file_is_uploaded_confirmed_and_downloaded_on_both_storages(db) {
        for store in [Store::Local, Store::S3] {
            let cell = cell(&db, store).await?;
            let acme = org(&cell, "Acme").await?;
            let other = org(&cell, "Other").await?;
            let tag = format!("{store:?}").to_lowercase();
            let member = user(&cell, &format!("member-{tag}@acme.test"), acme, "member").await?;
            let viewer = user(&cell, &format!("viewer-{tag}@acme.test"), acme, "viewer").await?;
            let outsider = user(&cell, &format!("out-{tag}@other.test"), other, "owner").await?;

            let (status, ticket) = cell
                .post("/api/v1/files/upload-url", Some(&member), json!({
                    "filename": " Contract.pdf ", "content_type": "application/pdf", "size": PDF.len()
                }))
                .await?;
            assert_eq!(status, 201, "{store:?}: {ticket}");
            assert_eq!(ticket["file"]["status"], "pending");
            assert_eq!(ticket["file"]["name"], "Contract.pdf");
            assert_eq!(ticket["upload"]["method"], "PUT");
            let expires = chrono::DateTime::parse_from_rfc3339(
                ticket["upload"]["expires_at"].as_str().unwrap_or_default(),
            )?;
            let ttl = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
            assert!((14 * 60..=15 * 60).contains(&ttl), "{store:?}: the PUT lasts 15 min: {ttl}");
            let id = ticket["file"]["id"].as_str().unwrap_or_default().to_owned();
            let confirm = format!("/api/v1/files/{id}/confirm");

            // Nothing is stored yet: confirm is refused, and nothing can be downloaded.
            let (status, body) = cell.post(&confirm, Some(&member), json!({})).await?;
            assert_eq!(status, 409, "{store:?}: confirm before upload: {body}");
            let (status, _) = cell.get(&format!("/api/v1/files/{id}/download"), Some(&member)).await?;
            assert_eq!(status, 409);

            assert!((200..300).contains(&put(&ticket, PDF).await?), "{store:?}");
            // Another org's caller sees no such file, whatever they try.
            for path in [format!("/api/v1/files/{id}"), format!("/api/v1/files/{id}/download")] {
                let (status, _) = cell.get(&path, Some(&outsider)).await?;
                assert_eq!(status, 404, "{store:?} {path}");
            }
            let (status, _) = cell.post(&confirm, Some(&outsider), json!({})).await?;
            assert_eq!(status, 404);
            // Only the uploader (or an admin) confirms.
            let (status, _) = cell.post(&confirm, Some(&viewer), json!({})).await?;
            assert_eq!(status, 403, "viewers do not write");

            let (status, file) = cell.post(&confirm, Some(&member), json!({})).await?;
            assert_eq!(status, 200, "{store:?}: {file}");
            assert_eq!(file["status"], "active");
            assert!(file["confirmed_at"].is_string());
            let (status, again) = cell.post(&confirm, Some(&member), json!({})).await?;
            assert_eq!(status, 409, "{again}");
            // (Both storages' cells share the database: events are told apart by file.)
            let uploaded: Vec<_> = cell.events("file.uploaded").await?.into_iter()
                .filter(|e| e["file_id"] == json!(id)).collect();
            assert_eq!(uploaded.len(), 1, "{store:?}: {uploaded:?}");
            assert_eq!(uploaded[0]["size"], json!(PDF.len()));

            // Viewers download through a presigned GET valid an hour; the bytes are the upload's.
            let (status, url) = cell.get(&format!("/api/v1/files/{id}/download"), Some(&viewer)).await?;
            assert_eq!(status, 200, "{url}");
            let expires = chrono::DateTime::parse_from_rfc3339(url["expires_at"].as_str().unwrap_or_default())?;
            let ttl = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
            assert!((59 * 60..=60 * 60).contains(&ttl), "the GET lasts an hour: {ttl}");
            let (status, bytes) = fetch(&url).await?;
            assert_eq!((status, bytes.as_slice()), (200, PDF), "{store:?}");

            let (_, page) = cell.get("/api/v1/files?search=contract", Some(&viewer)).await?;
            assert_eq!(page["meta"]["total"], 1, "{page}");
            let (_, theirs) = cell.get("/api/v1/files", Some(&outsider)).await?;
            assert_eq!(theirs["meta"]["total"], 0, "{theirs}");

            // A "PDF" that is a program: refused on confirm, and its bytes deleted.
            let (_, ticket) = cell
                .post("/api/v1/files/upload-url", Some(&member), json!({
                    "filename": "invoice.pdf", "content_type": "application/pdf", "size": ELF.len()
                }))
                .await?;
            put(&ticket, ELF).await?;
            let bad = ticket["file"]["id"].as_str().unwrap_or_default().to_owned();
            let (status, body) = cell
                .post(&format!("/api/v1/files/{bad}/confirm"), Some(&member), json!({}))
                .await?;
            assert_eq!(status, 422, "{store:?}: {body}");
            assert!(body["error"]["details"]["fields"]["content_type"].is_string(), "{body}");
            assert!(body["error"]["message"].as_str().unwrap_or_default().contains("program"), "{body}");
            let key = kernel::storage::ObjectKey::new(acme, "files", &bad)?;
            assert_eq!(cell.ctx.storage().head(&key).await?, None, "{store:?}: the program is deleted");
            let (_, row) = cell.get(&format!("/api/v1/files/{bad}"), Some(&member)).await?;
            assert_eq!(row["status"], "pending", "{row}");

            // Fewer bytes than declared.
            let (_, ticket) = cell
                .post("/api/v1/files/upload-url", Some(&member), json!({
                    "filename": "short.pdf", "content_type": "application/pdf", "size": PDF.len() + 10
                }))
                .await?;
            put(&ticket, PDF).await?;
            let short = ticket["file"]["id"].as_str().unwrap_or_default().to_owned();
            let (status, body) = cell
                .post(&format!("/api/v1/files/{short}/confirm"), Some(&member), json!({}))
                .await?;
            assert_eq!(status, 422, "{body}");
            assert!(body["error"]["details"]["fields"]["size"].is_string(), "{body}");
            let refused: Vec<_> = cell.events("file.uploaded").await?.into_iter()
                .filter(|e| e["file_id"] == json!(bad) || e["file_id"] == json!(short)).collect();
            assert_eq!(refused, Vec::<serde_json::Value>::new(), "refused uploads publish nothing");
        }
        Ok(())
    }
);

db_test!(
    async fn uploads_are_refused_by_size_type_quota_and_role(db) {
        let cell = cell(&db, Store::Local).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let ask = |body: serde_json::Value, token: String| {
            let cell = &cell;
            async move { cell.post("/api/v1/files/upload-url", Some(&token), body).await }
        };
        let (status, body) = ask(json!({"filename": "big.zip", "content_type": "application/zip", "size": 100u64 * 1024 * 1024}), member.clone()).await?;
        assert_eq!(status, 422, "100 MiB is refused: {body}");
        assert!(body["error"]["details"]["fields"]["size"].is_string(), "{body}");
        let (status, body) = ask(json!({"filename": "page.html", "content_type": "text/html", "size": 10}), member.clone()).await?;
        assert_eq!(status, 422, "a type the cell does not accept: {body}");
        assert!(body["error"]["details"]["fields"]["content_type"].is_string(), "{body}");
        for (bad, field) in [
            (json!({"filename": "", "content_type": "text/plain", "size": 1}), "filename"),
            (json!({"filename": "a/b.txt", "content_type": "text/plain", "size": 1}), "filename"),
            (json!({"filename": "a.txt", "content_type": "text", "size": 1}), "content_type"),
            (json!({"filename": "a.txt", "content_type": "text/plain", "size": -1}), ""),
            (json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "path": "../etc"}), ""),
        ] {
            let (status, body) = ask(bad.clone(), member.clone()).await?;
            // A body that does not parse (a negative size, an unknown field) is the kernel's
            // invalid-JSON answer; a field that breaks a rule, 422 naming it.
            let expected: &[u16] = if field.is_empty() { &[400, 422] } else { &[422] };
            assert!(expected.contains(&status), "{bad}: {status} {body}");
            if !field.is_empty() {
                assert!(body.to_string().contains(field), "{bad} names {field}: {body}");
            }
        }
        let (status, body) = ask(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "entity_type": "team", "entity_id": uuid::Uuid::now_v7()}), member.clone()).await?;
        assert_eq!(status, 404, "no such team: {body}");
        let (status, body) = ask(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "entity_type": "spaceship", "entity_id": uuid::Uuid::now_v7()}), member.clone()).await?;
        assert_eq!(status, 404, "no such entity type: {body}");
        let (status, body) = ask(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1, "entity_type": "team"}), member.clone()).await?;
        assert_eq!(status, 404, "half a name finds no entity: {body}");
        let (status, body) = ask(json!({"filename": "a.txt", "content_type": "text/plain", "size": 2.0}), member.clone()).await?;
        assert_eq!(status, 201, "2.0 is a whole number: {body}");
        let (status, _) = ask(json!({"filename": "a.txt", "content_type": "text/plain", "size": 1}), viewer.clone()).await?;
        assert_eq!(status, 403, "viewers do not upload");

        // The org's quota (1 000 000 bytes here) counts pending uploads too.
        let (status, _) = ask(json!({"filename": "a.bin", "content_type": "application/zip", "size": 600_000}), member.clone()).await?;
        assert_eq!(status, 201);
        let (status, body) = ask(json!({"filename": "b.bin", "content_type": "application/zip", "size": 500_000}), member.clone()).await?;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["details"]["used"], 600_002, "with the 2 bytes above: {body}");
        let (status, _) = ask(json!({"filename": "c.bin", "content_type": "application/zip", "size": 399_998}), member.clone()).await?;
        assert_eq!(status, 201, "what fits is accepted");
        Ok(())
    }
);
