//! Files attached to an entity are seen by exactly those who see the entity (a private team
//! here); deleting goes to the trash; purging deletes the bytes too, as does the purge of the
//! entity they are attached to; uploads never confirmed are swept.

use kernel::sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::db_test;

use crate::support::{PDF, Store, cell, org, put, upload, user};

db_test!(
    async fn attached_files_follow_their_entity(db) {
        let cell = cell(&db, Store::Local).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let (status, team) = cell
            .post("/api/v1/teams", Some(&owner), json!({"name": "Board", "visibility": "private"}))
            .await?;
        assert_eq!(status, 201, "{team}");
        let team_id = team["id"].as_str().unwrap_or_default().to_owned();
        let file = upload(&cell, &owner, "minutes.pdf", "application/pdf", PDF,
            json!({"entity_type": "team", "entity_id": team_id})).await?;
        let id = file["id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(file["attached_to"], json!({"type": "team", "id": team_id}), "{file}");
        let uploaded = cell.events("file.uploaded").await?;
        assert_eq!(uploaded[0]["attached_to"]["id"], json!(team_id));

        // The owner sees the team, so its files; the member does not see it, so not its files.
        let (status, page) = cell.get(&format!("/api/v1/teams/{team_id}/files"), Some(&owner)).await?;
        assert_eq!((status, &page["meta"]["total"]), (200, &json!(1)), "{page}");
        for path in [
            format!("/api/v1/teams/{team_id}/files"),
            format!("/api/v1/files/{id}"),
            format!("/api/v1/files/{id}/download"),
        ] {
            let (status, body) = cell.get(&path, Some(&member)).await?;
            assert_eq!(status, 404, "{path}: {body}");
        }
        let (status, _) = cell.patch(&format!("/api/v1/files/{id}"), Some(&member), json!({"name": "x.pdf"})).await?;
        assert_eq!(status, 404);
        // Attached files are not in the library, and cannot be put in a folder.
        let (_, library) = cell.get("/api/v1/files", Some(&owner)).await?;
        assert_eq!(library["meta"]["total"], 0, "{library}");
        let (_, folder) = cell.post("/api/v1/folders", Some(&owner), json!({"name": "Misc"})).await?;
        let (status, body) = cell
            .patch(&format!("/api/v1/files/{id}"), Some(&owner), json!({"folder_id": folder["id"]}))
            .await?;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["details"]["fields"]["folder_id"].is_string(), "{body}");
        // Nor may the member attach a file to a team they do not see.
        let (status, _) = cell
            .post("/api/v1/files/upload-url", Some(&member), json!({
                "filename": "x.txt", "content_type": "text/plain", "size": 1,
                "entity_type": "team", "entity_id": team_id
            }))
            .await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get("/api/v1/nothings/0196f2a0-0000-7000-8000-000000000000/files", Some(&owner)).await?;
        assert_eq!(status, 404, "an unknown collection");

        // Collab's services work on files, for those who see them: a tag on the file.
        let (_, tag) = cell.post("/api/v1/tags", Some(&owner), json!({"name": "board"})).await?;
        let tagging = format!("/api/v1/files/{id}/tags");
        let (status, body) = cell.post(&tagging, Some(&member), json!({"tag_id": tag["id"]})).await?;
        assert_eq!(status, 404, "{body}");
        let (status, body) = cell.post(&tagging, Some(&owner), json!({"tag_id": tag["id"]})).await?;
        assert!(status == 200 || status == 201, "{status} {body}");
        let (_, tags) = cell.get(&tagging, Some(&owner)).await?;
        assert_eq!(tags[0]["name"], "board", "{tags}");
        Ok(())
    }
);

db_test!(
    async fn deleted_files_wait_in_the_trash_then_their_bytes_go(db) {
        let cell = cell(&db, Store::Local).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let other = user(&cell, "other@acme.test", acme, "member").await?;
        let file = upload(&cell, &member, "notes.txt", "text/plain", b"hello", json!({})).await?;
        let id = file["id"].as_str().unwrap_or_default().to_owned();
        let key = kernel::storage::ObjectKey::new(acme, "files", &id)?;

        let (status, _) = cell.delete(&format!("/api/v1/files/{id}"), Some(&other)).await?;
        assert_eq!(status, 403, "only the uploader or an admin deletes");
        let (status, _) = cell.delete(&format!("/api/v1/files/{id}"), Some(&member)).await?;
        assert_eq!(status, 204);
        let (status, _) = cell.get(&format!("/api/v1/files/{id}"), Some(&member)).await?;
        assert_eq!(status, 404, "a trashed file is gone from reads");
        assert!(cell.ctx.storage().head(&key).await?.is_some(), "its bytes are kept");
        let (_, trash) = cell.get("/api/v1/trash?type=file", Some(&member)).await?;
        assert_eq!(trash["data"][0]["title"], "notes.txt", "{trash}");
        let (status, back) = cell.post(&format!("/api/v1/trash/{id}/restore"), Some(&member), json!({})).await?;
        assert_eq!(status, 200, "{back}");
        assert_eq!(cell.events("file.restored").await?.len(), 1);
        let (status, _) = cell.get(&format!("/api/v1/files/{id}"), Some(&member)).await?;
        assert_eq!(status, 200);

        // Deleted for good from the trash: the row at once, the bytes by the job that follows.
        cell.delete(&format!("/api/v1/files/{id}"), Some(&member)).await?;
        let (status, body) = cell.delete(&format!("/api/v1/trash/{id}/permanent"), Some(&owner)).await?;
        assert_eq!(status, 204, "{body}");
        while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
        assert_eq!(cell.ctx.storage().head(&key).await?, None, "the bytes are deleted");

        // An upload never confirmed is swept after a day, with whatever was stored for it.
        let (_, ticket) = cell
            .post("/api/v1/files/upload-url", Some(&member), json!({
                "filename": "left.pdf", "content_type": "application/pdf", "size": PDF.len()
            }))
            .await?;
        put(&ticket, PDF).await?;
        let left = ticket["file"]["id"].as_str().unwrap_or_default().to_owned();
        let kept = upload(&cell, &member, "kept.pdf", "application/pdf", PDF, json!({})).await?;
        let left_key = kernel::storage::ObjectKey::new(acme, "files", &left)?;
        let tx = cell.ctx.db().tenant(acme).await?;
        let conn = tx.unscoped();
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE files_objects SET created_at = $1 WHERE org_id = $2",
            [(chrono::Utc::now() - chrono::Duration::hours(25)).into(), acme.into()],
        ))
        .await?;
        cell.ctx.jobs().enqueue(conn, "files.sweep_abandoned", None, json!({})).await?;
        tx.commit().await?;
        while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
        let (status, _) = cell.get(&format!("/api/v1/files/{left}"), Some(&member)).await?;
        assert_eq!(status, 404, "the abandoned upload is gone");
        assert_eq!(cell.ctx.storage().head(&left_key).await?, None);
        let (status, _) = cell.get(&format!("/api/v1/files/{}", kept["id"].as_str().unwrap_or_default()), Some(&member)).await?;
        assert_eq!(status, 200, "a confirmed file stays, however old");
        Ok(())
    }
);

db_test!(
    async fn the_files_of_an_entity_deleted_for_good_go_with_it(db) {
        let cell = cell(&db, Store::Local).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (_, team) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Ops"})).await?;
        let team_id = team["id"].as_str().unwrap_or_default().to_owned();
        let file = upload(&cell, &owner, "runbook.pdf", "application/pdf", PDF,
            json!({"entity_type": "team", "entity_id": team_id})).await?;
        let id = file["id"].as_str().unwrap_or_default().to_owned();
        let key = kernel::storage::ObjectKey::new(acme, "files", &id)?;
        let library = upload(&cell, &owner, "other.pdf", "application/pdf", PDF, json!({})).await?;

        // What collab publishes when it purges an entity; the files module takes its files.
        let tx = cell.ctx.db().tenant(acme).await?;
        cell.ctx.events().emit(&tx, None, &collab::events::EntityPurged {
            entity_type: "team".into(),
            entity_id: team_id.parse()?,
            reason: "by_hand".into(),
        }).await?;
        tx.commit().await?;
        while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
        while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
        let (status, _) = cell.get(&format!("/api/v1/files/{id}"), Some(&owner)).await?;
        assert_eq!(status, 404);
        assert_eq!(cell.ctx.storage().head(&key).await?, None, "its bytes are deleted");
        let (status, _) = cell.get(&format!("/api/v1/files/{}", library["id"].as_str().unwrap_or_default()), Some(&owner)).await?;
        assert_eq!(status, 200, "other files stay");
        Ok(())
    }
);
