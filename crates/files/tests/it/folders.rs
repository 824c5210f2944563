//! Folders: a tree (never a cycle), names unique among siblings, contents, moving files, and
//! another org's folders out of reach.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{Store, cell, org, upload, user};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

db_test!(
    async fn folders_nest_without_cycles_and_hold_files(db) {
        let cell = cell(&db, Store::Local).await?;
        let acme = org(&cell, "Acme").await?;
        let other = org(&cell, "Other").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "owner@other.test", other, "owner").await?;

        let (status, clients) = cell.post("/api/v1/folders", Some(&member), json!({"name": " Clients "})).await?;
        assert_eq!((status, &clients["name"]), (201, &json!("Clients")), "{clients}");
        // Spaces at either end are trimmed; a control character anywhere is refused.
        for name in ["\nClients", "Clients\t", "Cli\u{7}ents"] {
            let (status, body) = cell.post("/api/v1/folders", Some(&member), json!({"name": name})).await?;
            assert_eq!(status, 422, "{name:?}: {body}");
        }
        let (status, body) = cell.post("/api/v1/folders", Some(&member), json!({"name": "clients"})).await?;
        assert_eq!(status, 409, "a sibling of the same name in any case: {body}");
        let (_, acme_co) = cell.post("/api/v1/folders", Some(&member), json!({"name": "Acme Co", "parent_id": id(&clients)})).await?;
        let (status, deep) = cell.post("/api/v1/folders", Some(&member), json!({"name": "2026", "parent_id": id(&acme_co)})).await?;
        assert_eq!(status, 201, "{deep}");
        let (status, _) = cell.post("/api/v1/folders", Some(&viewer), json!({"name": "Nope"})).await?;
        assert_eq!(status, 403);

        // A folder never goes inside itself or its own folders.
        for (target, path) in [(id(&clients), json!([])), (id(&deep), json!(["2026", "Acme Co"]))] {
            let (status, body) = cell
                .patch(&format!("/api/v1/folders/{}", id(&clients)), Some(&member), json!({"parent_id": target}))
                .await?;
            assert_eq!(status, 409, "{body}");
            assert_eq!(body["error"]["details"]["field"], "parent_id", "{body}");
            assert_eq!(body["error"]["details"]["path"], path, "the folders between: {body}");
        }
        // Moving the deepest to the top is fine.
        let (status, moved) = cell
            .patch(&format!("/api/v1/folders/{}", id(&deep)), Some(&member), json!({"parent_id": null}))
            .await?;
        assert_eq!((status, &moved["parent_id"]), (200, &Value::Null), "{moved}");

        // A library file moves into a folder; the folder's contents show it.
        let file = upload(&cell, &member, "brief.txt", "text/plain", b"the brief", json!({})).await?;
        let (status, moved) = cell
            .patch(&format!("/api/v1/files/{}", id(&file)), Some(&member), json!({"folder_id": id(&acme_co), "name": "Brief.txt"}))
            .await?;
        assert_eq!(status, 200, "{moved}");
        assert_eq!((&moved["folder_id"], &moved["name"]), (&json!(id(&acme_co)), &json!("Brief.txt")));
        assert_eq!(cell.events("file.updated").await?.len(), 1);
        let (status, contents) = cell.get(&format!("/api/v1/folders/{}/contents", id(&acme_co)), Some(&viewer)).await?;
        assert_eq!(status, 200, "{contents}");
        assert_eq!(contents["files"][0]["name"], "Brief.txt", "{contents}");
        assert_eq!(contents["folders"], json!([]), "{contents}");
        assert_eq!(contents["complete"], true);
        let (_, top) = cell.get("/api/v1/folders/root/contents", Some(&viewer)).await?;
        let names: Vec<&Value> = top["folders"].as_array().into_iter().flatten().map(|f| &f["name"]).collect();
        assert_eq!(names, vec![&json!("2026"), &json!("Clients")], "{top}");
        assert_eq!(top["files"], json!([]), "the file moved out of the top: {top}");
        let (_, listed) = cell.get(&format!("/api/v1/files?filter[folder_id]={}", id(&acme_co)), Some(&viewer)).await?;
        assert_eq!(listed["meta"]["total"], 1, "{listed}");

        // A folder that holds something is not deleted; an empty one is.
        let (status, _) = cell.delete(&format!("/api/v1/folders/{}", id(&acme_co)), Some(&member)).await?;
        assert_eq!(status, 409);
        let (status, _) = cell.delete(&format!("/api/v1/folders/{}", id(&clients)), Some(&member)).await?;
        assert_eq!(status, 409, "it holds Acme Co");
        let (status, _) = cell.delete(&format!("/api/v1/folders/{}", id(&deep)), Some(&member)).await?;
        assert_eq!(status, 204);

        // Another org sees none of it, and cannot move its files into it.
        for path in [format!("/api/v1/folders/{}", id(&clients)), format!("/api/v1/folders/{}/contents", id(&clients))] {
            let (status, _) = cell.get(&path, Some(&outsider)).await?;
            assert_eq!(status, 404, "{path}");
        }
        let (status, _) = cell.patch(&format!("/api/v1/folders/{}", id(&clients)), Some(&outsider), json!({"name": "Mine"})).await?;
        assert_eq!(status, 404);
        let theirs = upload(&cell, &outsider, "x.txt", "text/plain", b"x", json!({})).await?;
        let (status, body) = cell
            .patch(&format!("/api/v1/files/{}", id(&theirs)), Some(&outsider), json!({"folder_id": id(&clients)}))
            .await?;
        assert_eq!(status, 404, "{body}");
        let (status, _) = cell.post("/api/v1/folders", Some(&outsider), json!({"name": "In yours", "parent_id": id(&clients)})).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);
