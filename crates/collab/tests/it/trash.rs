//! The trash of every module that declares one: listed per org and type, restored by those who
//! may, deleted for good by admins or by the daily purge, with nothing of collab's left
//! pointing at a purged entity.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, deliver, id, org, rows_about, user};

db_test!(
    async fn the_trash_lists_restores_and_purges_any_modules_entities(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let (w1, w2) = (cell.widgets.add(acme), cell.widgets.add(acme));
        let theirs = cell.widgets.add(globex);
        let (_, tag) = cell.post("/api/v1/tags", Some(&member), json!({"name": "Hot"})).await?;
        cell.post(&format!("/api/v1/widgets/{w1}/tags"), Some(&member), json!({"tag_id": id(&tag)})).await?;
        cell.post(&format!("/api/v1/widgets/{w1}/notes"), Some(&member), json!({"body": "Call back"})).await?;
        let (_, c) = cell.post(&format!("/api/v1/widgets/{w1}/comments"), Some(&member), json!({"body": "First"})).await?;
        cell.post(&format!("/api/v1/widgets/{w1}/comments"), Some(&member), json!({"body": "Reply", "parent_id": id(&c)})).await?;
        let (status, _) = cell.post("/api/v1/links", Some(&member), json!({"source": {"type": "widget", "id": w2}, "target": {"type": "widget", "id": w1}})).await?;
        assert_eq!(status, 201);

        // Its module moves w1 to the trash: it drops out of links, and shows in the trash.
        cell.widgets.trash(acme, w1, 0);
        cell.widgets.trash(globex, theirs, 0);
        let (_, linked) = cell.get(&format!("/api/v1/widgets/{w2}/linked"), Some(&member)).await?;
        assert_eq!(linked, json!([]), "a link to an entity in the trash is not shown");
        let (status, page) = cell.get("/api/v1/trash?type=widget", Some(&viewer)).await?;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "only the org's own: {page}");
        assert_eq!((&page["data"][0]["id"], &page["data"][0]["type"]), (&json!(w1), &json!("widget")));
        assert!(page["data"][0]["deleted_at"].is_string(), "{page}");
        let (_, none) = cell.get("/api/v1/trash?type=team", Some(&viewer)).await?;
        assert_eq!(none["data"], json!([]));
        let (status, body) = cell.get("/api/v1/trash?type=Widget", Some(&viewer)).await?;
        assert_eq!(status, 400, "{body}");

        // Restoring: not viewers, not another org; members may, and the link is back.
        let restore = format!("/api/v1/trash/{w1}/restore");
        let (status, _) = cell.post(&restore, Some(&viewer), json!({})).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.post(&restore, Some(&outsider), json!({})).await?;
        assert_eq!(status, 404, "another org's trash holds no such entity");
        let (status, back) = cell.post(&restore, Some(&member), json!({})).await?;
        assert_eq!((status, &back["id"]), (200, &json!(w1)), "{back}");
        let (status, _) = cell.post(&restore, Some(&member), json!({})).await?;
        assert_eq!(status, 404, "no longer in the trash");
        let restored = cell.events("entity.restored").await?;
        assert_eq!(restored.len(), 1);
        assert_eq!(restored[0]["entity_id"], json!(w1));
        let (_, linked) = cell.get(&format!("/api/v1/widgets/{w2}/linked"), Some(&member)).await?;
        assert_eq!(linked.as_array().map(Vec::len), Some(1), "the link is back: {linked}");

        // Deleting for good is for admins, and leaves nothing of collab's about it.
        deliver(&cell).await?;
        assert_eq!(rows_about(&cell, acme, "collab_search", "entity_id", w1).await?, 1, "w1 is indexed");
        cell.widgets.trash(acme, w1, 0);
        let permanent = format!("/api/v1/trash/{w1}/permanent");
        let (status, _) = cell.delete(&permanent, Some(&member)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&format!("/api/v1/trash/{theirs}/permanent"), Some(&owner)).await?;
        assert_eq!(status, 404);
        assert!(cell.widgets.exists(globex, theirs));
        let (status, _) = cell.delete(&permanent, Some(&owner)).await?;
        assert_eq!(status, 204);
        assert!(!cell.widgets.exists(acme, w1), "its module deleted it");
        for (table, column) in [("collab_entity_tags", "entity_id"), ("collab_notes", "entity_id"), ("collab_comments", "entity_id"), ("collab_links", "target_id"), ("collab_search", "entity_id")] {
            assert_eq!(rows_about(&cell, acme, table, column, w1).await?, 0, "{table} keeps nothing of it");
        }
        assert_eq!(rows_about(&cell, acme, "collab_links", "source_id", w2).await?, 0);
        let purged = cell.events("entity.purged").await?;
        assert_eq!((purged.len(), &purged[0]["reason"]), (1, &json!("by_hand")));
        let (status, _) = cell.delete(&permanent, Some(&owner)).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);

db_test!(
    async fn the_daily_purge_deletes_what_has_been_in_the_trash_too_long(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let (old, recent, live) = (cell.widgets.add(acme), cell.widgets.add(acme), cell.widgets.add(acme));
        let theirs = cell.widgets.add(globex);
        cell.post(&format!("/api/v1/widgets/{old}/notes"), Some(&member), json!({"body": "Old"})).await?;
        cell.widgets.trash(acme, old, 31);
        cell.widgets.trash(acme, recent, 29);
        cell.widgets.trash(globex, theirs, 45);

        let tx = cell.ctx.db().tenant(acme).await?;
        cell.ctx.jobs().enqueue(tx.unscoped(), "collab.purge_trash", Some(acme), json!({})).await?;
        tx.commit().await?;
        assert_eq!(cell.ctx.jobs().run_once(&cell.ctx).await?, 1);
        assert!(!cell.widgets.exists(acme, old), "31 days in the trash: purged");
        assert!(!cell.widgets.exists(globex, theirs), "in every org");
        assert!(cell.widgets.exists(acme, recent) && cell.widgets.exists(acme, live));
        assert_eq!(rows_about(&cell, acme, "collab_notes", "entity_id", old).await?, 0);
        let purged = cell.events("entity.purged").await?;
        assert_eq!(purged.len(), 2, "{purged:?}");
        assert!(purged.iter().all(|p| p["reason"] == "expired"));
        Ok(())
    }
);
