//! The inbox: an event reaches whom its module names (never the one who acted), once, in their
//! org only; unread count, read, read-all.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, inbox, item, mailed, org, settle, user};

db_test!(
    async fn an_items_creator_hears_of_what_others_do_to_it(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let carol = user(&cell, "carol@globex.test", globex, "admin").await?;
        let dan = user(&cell, "dan@acme.test", acme, "admin").await?;

        let id = item(&cell, &ann, "Launch plan").await?;
        settle(&cell).await?;
        assert!(inbox(&cell, &ann).await?.is_empty(), "nobody hears of their own doing");

        let (status, _) = cell.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        assert_eq!(status, 200);
        settle(&cell).await?;
        let got = inbox(&cell, &ann).await?;
        assert_eq!(got.len(), 1, "{got:?}");
        let n = &got[0];
        assert_eq!((&n["event"], &n["title"], &n["reason"], &n["status"]), (&json!("template.item.completed"), &json!("An item was marked done."), &json!("creator"), &json!("unread")), "{n}");
        assert_eq!(n["entity"], json!({"type": "template_item", "id": id}));
        assert!(inbox(&cell, &bob).await?.is_empty(), "bob acted");
        assert_eq!(mailed(&cell).await?, ["ann@acme.test"], "every channel by default");
        let (_, count) = cell.get("/api/v1/notifications/unread-count", Some(&ann)).await?;
        assert_eq!(count["count"], 1);

        // Delivered twice, written once.
        let db = cell.ctx.db().system();
        kernel::sea_orm::ConnectionTrait::execute_unprepared(
            db.conn(),
            "UPDATE kernel_event_deliveries SET status = 'pending', next_attempt_ms = 0, attempts = 0 WHERE subscriber = 'notifications.notify'",
        )
        .await?;
        settle(&cell).await?;
        assert_eq!(inbox(&cell, &ann).await?.len(), 1);
        assert_eq!(mailed(&cell).await?.len(), 1);

        // Only its user reads it; another org does not see it at all.
        let nid = n["id"].as_str().unwrap_or_default().to_owned();
        for token in [&bob, &carol] {
            let (status, _) = cell.patch(&format!("/api/v1/notifications/{nid}/read"), Some(token), json!({})).await?;
            assert_eq!(status, 404);
        }
        assert!(inbox(&cell, &carol).await?.is_empty());
        let (status, read) = cell.patch(&format!("/api/v1/notifications/{nid}/read"), Some(&ann), json!({})).await?;
        assert_eq!((status, &read["status"]), (200, &json!("read")), "{read}");
        assert!(read["read_at"].is_string());
        let (_, count) = cell.get("/api/v1/notifications/unread-count", Some(&ann)).await?;
        assert_eq!(count["count"], 0);

        // Two more; read-all marks them; newest first.
        let (status, _) = cell.delete(&format!("/api/v1/items/{id}"), Some(&dan)).await?;
        assert_eq!(status, 204);
        settle(&cell).await?;
        let other = item(&cell, &ann, "Budget").await?;
        cell.patch(&format!("/api/v1/items/{other}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        let got = inbox(&cell, &ann).await?;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0]["entity"]["id"], json!(other));
        assert_eq!(got[1]["event"], "template.item.deleted", "a trashed item's creator still hears");
        let (_, unread) = cell.get("/api/v1/notifications?filter[status]=unread", Some(&ann)).await?;
        assert_eq!(unread["meta"]["total"], 2);
        let (status, marked) = cell.patch("/api/v1/notifications/read-all", Some(&ann), json!({})).await?;
        assert_eq!((status, &marked["marked"]), (200, &json!(2)), "{marked}");
        let (_, count) = cell.get("/api/v1/notifications/unread-count", Some(&ann)).await?;
        assert_eq!(count["count"], 0);
        Ok(())
    }
);
