//! Notes on entities of any module: writing, pinning, editing with history, who may change
//! them, and that a note is as unseen as its entity.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, user};

db_test!(
    async fn notes_keep_their_history_and_their_authors_rules(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let widget = cell.widgets.add(acme);
        let notes = format!("/api/v1/widgets/{widget}/notes");

        let (status, first) = cell.post(&notes, Some(&ann), json!({"body": "Called them.\n\n- *interested*"})).await?;
        assert_eq!(status, 201, "{first}");
        assert_eq!((&first["entity_type"], &first["edited_at"]), (&json!("widget"), &json!(null)));
        let (status, pinned) = cell.post(&notes, Some(&bob), json!({"body": "Decision maker: Dana", "pinned": true})).await?;
        assert_eq!(status, 201, "{pinned}");
        let (_, later) = cell.post(&notes, Some(&ann), json!({"body": "Follow up Monday"})).await?;
        for bad in [json!({"body": "   "}), json!({"body": ""}), json!({"pinned": true})] {
            let (status, body) = cell.post(&notes, Some(&ann), bad.clone()).await?;
            assert!(status == 422 || status == 400, "{bad}: {body}");
        }
        let (status, body) = cell.post(&notes, Some(&ann), json!({"body": "x", "extra": 1})).await?;
        assert_eq!(status, 400, "unknown fields are refused: {body}");
        let (status, _) = cell.post(&notes, Some(&viewer), json!({"body": "Nope"})).await?;
        assert_eq!(status, 403);
        assert_eq!(cell.events("note.added").await?.len(), 3);

        // Pinned first, then newest first; viewers read.
        let (status, page) = cell.get(&notes, Some(&viewer)).await?;
        assert_eq!((status, &page["meta"]["total"]), (200, &json!(3)), "{page}");
        let order: Vec<String> = page["data"].as_array().into_iter().flatten().map(id).collect();
        assert_eq!(order, vec![id(&pinned), id(&later), id(&first)]);
        let (status, _) = cell.get(&format!("{notes}?sort=body"), Some(&viewer)).await?;
        assert_eq!(status, 400, "notes have one order (an invalid query)");

        // Only the author (or an admin) edits; the replaced text is kept.
        let note = format!("/api/v1/notes/{}", id(&first));
        let (status, _) = cell.patch(&note, Some(&bob), json!({"body": "Mine now"})).await?;
        assert_eq!(status, 403);
        let (status, edited) = cell.patch(&note, Some(&ann), json!({"body": "Called them twice."})).await?;
        assert_eq!(status, 200, "{edited}");
        assert!(edited["edited_at"].is_string(), "{edited}");
        let (status, _) = cell.patch(&note, Some(&owner), json!({"pinned": true})).await?;
        assert_eq!(status, 200, "admins may");
        let (_, history) = cell.get(&format!("{note}/history"), Some(&viewer)).await?;
        assert_eq!(history.as_array().map(Vec::len), Some(1), "a pin is not an edit: {history}");
        assert_eq!(history[0]["body"], "Called them.\n\n- *interested*");

        // Deleting takes the history with it.
        let (status, _) = cell.delete(&note, Some(&bob)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&note, Some(&ann)).await?;
        assert_eq!(status, 204);
        let (status, _) = cell.get(&note, Some(&ann)).await?;
        assert_eq!(status, 404);
        let (_, page) = cell.get(&notes, Some(&ann)).await?;
        assert_eq!(page["meta"]["total"], 2);
        Ok(())
    }
);

db_test!(
    async fn a_note_is_as_unseen_as_its_entity(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let (_, secret) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Board", "visibility": "private"})).await?;
        let secret = id(&secret);
        let (status, note) = cell.post(&format!("/api/v1/teams/{secret}/notes"), Some(&owner), json!({"body": "Quarterly numbers"})).await?;
        assert_eq!(status, 201, "{note}");
        let note = format!("/api/v1/notes/{}", id(&note));
        for who in [&member, &outsider] {
            let (status, _) = cell.get(&note, Some(who)).await?;
            assert_eq!(status, 404);
            let (status, _) = cell.get(&format!("{note}/history"), Some(who)).await?;
            assert_eq!(status, 404);
            let (status, _) = cell.get(&format!("/api/v1/teams/{secret}/notes"), Some(who)).await?;
            assert_eq!(status, 404);
        }
        let (status, _) = cell.patch(&note, Some(&outsider), json!({"body": "x"})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get(&note, Some(&owner)).await?;
        assert_eq!(status, 200);
        Ok(())
    }
);
