//! Items end to end: what each role may do, that another org's items are out of reach, that
//! bad input is refused with the field named, and that events are published.

use kernel::sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, org, user};

db_test!(
    async fn an_item_lives_and_dies_by_the_rules(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;

        let (status, item) = cell
            .post("/api/v1/items", Some(&member), json!({"name": " Ship it ", "notes": "soon"}))
            .await?;
        assert_eq!(status, 201, "{item}");
        assert_eq!(item["name"], "Ship it", "names are kept trimmed");
        assert_eq!(item["status"], "open");
        let id = item["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/v1/items/{id}");

        // Viewers read, but do not write.
        let (status, got) = cell.get(&path, Some(&viewer)).await?;
        assert_eq!((status, &got["notes"]), (200, &json!("soon")), "{got}");
        let (status, body) = cell
            .post("/api/v1/items", Some(&viewer), json!({"name": "Nope"}))
            .await?;
        assert_eq!(status, 403, "{body}");

        // Done, notes cleared; completing publishes template.item.completed once.
        let (status, done) = cell
            .patch(&path, Some(&member), json!({"status": "done", "notes": null}))
            .await?;
        assert_eq!(status, 200, "{done}");
        assert_eq!((&done["status"], &done["notes"]), (&json!("done"), &json!(null)));
        let (status, _) = cell.patch(&path, Some(&member), json!({"status": "done"})).await?;
        assert_eq!(status, 200);
        assert_eq!(cell.events("template.item.created").await?.len(), 1);
        let completed = cell.events("template.item.completed").await?;
        assert_eq!(completed.len(), 1, "{completed:?}");
        assert_eq!(completed[0]["item_id"], json!(id));

        // Lists filter and search.
        let (status, page) = cell
            .get("/api/v1/items?filter[status]=done&search=ship", Some(&viewer))
            .await?;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["meta"]["total"], 1, "{page}");
        let (_, open) = cell.get("/api/v1/items?filter[status]=open", Some(&viewer)).await?;
        assert_eq!(open["meta"]["total"], 0, "{open}");

        // Members may not delete; owners may, and then it is gone.
        let (status, _) = cell.delete(&path, Some(&member)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&path, Some(&owner)).await?;
        assert_eq!(status, 204);
        let (status, body) = cell.get(&path, Some(&owner)).await?;
        assert_eq!(status, 404, "{body}");
        let (status, _) = cell.delete(&path, Some(&owner)).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);

db_test!(
    async fn another_orgs_items_are_out_of_reach(db) {
        let cell = cell(&db).await?;
        let (acme, globex) = (org(&cell, "Acme").await?, org(&cell, "Globex").await?);
        let alice = user(&cell, "alice@acme.test", acme, "owner").await?;
        let mallory = user(&cell, "mallory@globex.test", globex, "owner").await?;
        let (_, item) = cell
            .post("/api/v1/items", Some(&alice), json!({"name": "Secret"}))
            .await?;
        let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap_or_default());

        let (status, _) = cell.get(&path, Some(&mallory)).await?;
        assert_eq!(status, 404, "another org's id looks like no id");
        let (status, _) = cell.patch(&path, Some(&mallory), json!({"name": "Mine"})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.delete(&path, Some(&mallory)).await?;
        assert_eq!(status, 404);
        let (_, page) = cell.get("/api/v1/items", Some(&mallory)).await?;
        assert_eq!(page["meta"]["total"], 0, "{page}");
        // The same name is free in another org, and Alice's item is untouched.
        let (status, _) = cell
            .post("/api/v1/items", Some(&mallory), json!({"name": "Secret"}))
            .await?;
        assert_eq!(status, 201);
        let (_, mine) = cell.get(&path, Some(&alice)).await?;
        assert_eq!(mine["name"], "Secret");
        // Without a token: 401.
        let (status, _) = cell.get("/api/v1/items", None).await?;
        assert_eq!(status, 401);
        Ok(())
    }
);

db_test!(
    async fn bad_input_is_refused_and_nothing_changes(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let post = |body| cell.post("/api/v1/items", Some(&member), body);

        for (body, expected, field) in [
            (json!({"name": ""}), 422, "name"),
            (json!({"name": "   "}), 422, "name"),
            (json!({"name": "x".repeat(201)}), 422, "name"),
            (json!({"name": 7}), 400, "name"),
            (json!({"name": "ok", "colour": "red"}), 400, "colour"),
        ] {
            let (status, err) = post(body.clone()).await?;
            assert_eq!(status, expected, "{body} → {err}");
            assert!(err["error"].to_string().contains(field), "{body} → {err}");
        }
        let (status, first) = post(json!({"name": "One"})).await?;
        assert_eq!(status, 201, "{first}");
        let (status, err) = post(json!({"name": "One"})).await?;
        assert_eq!(status, 409, "{err}");
        assert_eq!(err["error"]["details"]["field"], "name", "{err}");

        let path = format!("/api/v1/items/{}", first["id"].as_str().unwrap_or_default());
        let (status, err) = cell.patch(&path, Some(&member), json!({"status": "maybe"})).await?;
        assert_eq!(status, 422, "{err}");
        let (status, _) = cell.get("/api/v1/items/not-a-uuid", Some(&member)).await?;
        assert!(matches!(status, 400 | 404), "{status}");

        // The org's limit (max_items = 3 in this cell) is a 409, not a 500.
        post(json!({"name": "Two"})).await?;
        post(json!({"name": "Three"})).await?;
        let (status, err) = post(json!({"name": "Four"})).await?;
        assert_eq!(status, 409, "{err}");
        let (_, page) = cell.get("/api/v1/items", Some(&member)).await?;
        assert_eq!(page["meta"]["total"], 3, "{page}");
        let (_, one) = cell.get(&path, Some(&member)).await?;
        assert_eq!(one["status"], "open", "a refused change changed nothing");
        // An item in the trash does not count (the org's count follows deletions).
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let (status, _) = cell.delete(&path, Some(&admin)).await?;
        assert_eq!(status, 204);
        let (status, four) = post(json!({"name": "Four"})).await?;
        assert_eq!(status, 201, "{four}");
        let (status, err) = post(json!({"name": "Five"})).await?;
        assert_eq!(status, 409, "{err}");
        Ok(())
    }
);

db_test!(
    async fn items_get_tags_and_notes_by_declaring_their_loader(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let mut ids = Vec::new();
        for name in ["One", "Two"] {
            let (_, item) = cell.post("/api/v1/items", Some(&member), json!({"name": name})).await?;
            ids.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        let (_, tag) = cell.post("/api/v1/tags", Some(&member), json!({"name": "Hot"})).await?;
        let tag = tag["id"].as_str().unwrap_or_default().to_owned();
        let (status, tags) = cell
            .post(&format!("/api/v1/items/{}/tags", ids[1]), Some(&member), json!({"tag_id": tag}))
            .await?;
        assert_eq!(status, 201, "{tags}");
        let (_, page) = cell.get("/api/v1/items?tags=hot", Some(&member)).await?;
        assert_eq!(page["meta"]["total"], 1, "{page}");
        assert_eq!(page["data"][0]["name"], "Two");
        let (status, note) = cell
            .post(&format!("/api/v1/items/{}/notes", ids[0]), Some(&member), json!({"body": "First!"}))
            .await?;
        assert_eq!((status, &note["entity_type"]), (201, &json!("template_item")), "{note}");
        Ok(())
    }
);

db_test!(
    async fn a_deleted_item_waits_in_the_trash_and_search_follows_it(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let deliver = || async {
            while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
            anyhow::Ok(())
        };
        let (_, item) = cell
            .post("/api/v1/items", Some(&member), json!({"name": "Ship the rocket", "notes": "launch window"}))
            .await?;
        let id = item["id"].as_str().unwrap_or_default().to_owned();
        deliver().await?;
        let titles = |results: &serde_json::Value| results["groups"][0]["results"].as_array().into_iter().flatten().map(|r| r["title"].clone()).collect::<Vec<_>>();
        let (status, results) = cell.get("/api/v1/search?q=rocket", Some(&member)).await?;
        assert_eq!(status, 200, "{results}");
        assert_eq!(titles(&results), vec![json!("Ship the rocket")], "{results}");
        let (_, results) = cell.get("/api/v1/search?q=launch", Some(&member)).await?;
        assert_eq!(results["groups"][0]["type"], "template_item", "found by its notes: {results}");
        let (_, results) = cell.get("/api/v1/search?q=rocket", Some(&outsider)).await?;
        assert_eq!(results["total"], 0, "never another org's: {results}");

        // Deleted: gone from the list, the item, the counts and search; in the trash.
        let (status, _) = cell.delete(&format!("/api/v1/items/{id}"), Some(&owner)).await?;
        assert_eq!(status, 204);
        deliver().await?;
        let (_, page) = cell.get("/api/v1/items", Some(&member)).await?;
        assert_eq!(page["meta"]["total"], 0, "{page}");
        let (_, results) = cell.get("/api/v1/search?q=rock", Some(&member)).await?;
        assert_eq!(results["total"], 0, "{results}");
        let (_, trash) = cell.get("/api/v1/trash?type=template_item", Some(&member)).await?;
        assert_eq!(trash["data"][0]["id"], json!(id), "{trash}");
        let (_, theirs) = cell.get("/api/v1/trash", Some(&outsider)).await?;
        assert_eq!(theirs["data"], json!([]));
        assert_eq!(cell.events("template.item.deleted").await?.len(), 1);

        // Restoring asks what deleting asks (admins); then it is back everywhere.
        let restore = format!("/api/v1/trash/{id}/restore?type=template_item");
        let (status, body) = cell.post(&restore, Some(&member), json!({})).await?;
        assert_eq!(status, 403, "{body}");
        let (status, body) = cell.post(&restore, Some(&owner), json!({})).await?;
        assert_eq!((status, &body["title"]), (200, &json!("Ship the rocket")), "{body}");
        deliver().await?;
        let (_, page) = cell.get("/api/v1/items", Some(&member)).await?;
        assert_eq!(page["meta"]["total"], 1, "{page}");
        let (_, results) = cell.get("/api/v1/search?q=rocke", Some(&member)).await?;
        assert_eq!(titles(&results), vec![json!("Ship the rocket")], "{results}");
        assert_eq!(cell.events("template.item.restored").await?.len(), 1);

        // A month in the trash, and the daily purge deletes it for good (across orgs, as the
        // system context: the table's policy admits it).
        let (status, _) = cell.delete(&format!("/api/v1/items/{id}"), Some(&owner)).await?;
        assert_eq!(status, 204);
        let (_, keep) = cell.post("/api/v1/items", Some(&outsider), json!({"name": "Theirs"})).await?;
        cell.delete(&format!("/api/v1/items/{}", keep["id"].as_str().unwrap_or_default()), Some(&outsider)).await?;
        let tx = cell.ctx.db().tenant(acme).await?;
        let long_ago = chrono::Utc::now() - chrono::Duration::days(31);
        let conn = tx.unscoped();
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE template_items SET deleted_at = $1 WHERE org_id = $2",
            [long_ago.into(), acme.into()],
        ))
        .await?;
        cell.ctx.jobs().enqueue(conn, "collab.purge_trash", Some(acme), json!({})).await?;
        tx.commit().await?;
        assert_eq!(cell.ctx.jobs().run_once(&cell.ctx).await?, 1);
        let (_, trash) = cell.get("/api/v1/trash", Some(&owner)).await?;
        assert_eq!(trash["data"], json!([]), "purged: {trash}");
        let (status, _) = cell.post(&restore, Some(&owner), json!({})).await?;
        assert_eq!(status, 404);
        let (_, theirs) = cell.get("/api/v1/trash", Some(&outsider)).await?;
        assert_eq!(theirs["data"].as_array().map(Vec::len), Some(1), "a day in the trash: kept");
        let purged = cell.events("entity.purged").await?;
        assert_eq!(purged.len(), 1, "{purged:?}");
        assert_eq!(purged[0]["entity_id"], json!(id));
        Ok(())
    }
);
