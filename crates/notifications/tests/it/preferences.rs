//! Preferences: muted, channels, wildcards (the most specific wins), the org's defaults, the
//! digest frequency; bad input refused with the field named.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, inbox, item, mailed, org, settle, user};

db_test!(
    async fn preferences_mute_choose_channels_and_the_most_specific_wins(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let dave = user(&cell, "dave@acme.test", acme, "viewer").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;

        // Ann: in the app only, except deletions (muted) and restorations (both, by daily digest).
        let (status, prefs) = cell
            .patch("/api/v1/notification-preferences", Some(&ann), json!({
                "digest": "daily",
                "preferences": [
                    {"event_type": "*", "channels": ["in_app"]},
                    {"event_type": "template.item.deleted", "muted": true},
                    {"event_type": "template.item.restored", "channels": ["email", "in_app"]}
                ]
            }))
            .await?;
        assert_eq!(status, 200, "{prefs}");
        assert_eq!(prefs["digest"], "daily");
        assert_eq!(prefs["preferences"].as_array().map(Vec::len), Some(3));
        assert_eq!(prefs["preferences"][2], json!({"event_type": "template.item.restored", "channels": ["email", "in_app"], "muted": false}));

        let id = item(&cell, &ann, "Plan").await?;
        cell.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        assert_eq!(inbox(&cell, &ann).await?.len(), 1);
        assert!(mailed(&cell).await?.is_empty(), "in the app only");
        let (status, _) = cell.delete(&format!("/api/v1/items/{id}"), Some(&admin)).await?;
        assert_eq!(status, 204);
        settle(&cell).await?;
        assert_eq!(inbox(&cell, &ann).await?.len(), 1, "deletions are muted");
        // Restoring goes through collab's trash, not in this cell: the event is published as the
        // module would. The creator is told on both channels, the email by her daily digest.
        let tx = cell.ctx.db().tenant(acme).await?;
        let item_id: uuid::Uuid = id.parse()?;
        cell.ctx
            .events()
            .publish(&tx, kernel::events::NewEvent::new("template.item.restored", kernel::module::EntityRef { kind: "template_item".into(), id: item_id }).payload(json!({"item_id": item_id})))
            .await?;
        tx.commit().await?;
        settle(&cell).await?;
        assert_eq!(inbox(&cell, &ann).await?.len(), 2);
        assert!(mailed(&cell).await?.is_empty(), "ann's email waits for her daily digest");

        // The org's default for members without their own: email only.
        let (status, _) = cell
            .patch("/api/v1/notification-preferences/org-defaults", Some(&bob), json!({"preferences": [{"event_type": "template.*", "channels": ["email"]}]}))
            .await?;
        assert_eq!(status, 403, "members do not set the org's defaults");
        let (status, res) = cell
            .patch("/api/v1/notification-preferences/org-defaults", Some(&admin), json!({"preferences": [{"event_type": "template.*", "channels": ["email"]}]}))
            .await?;
        assert_eq!(status, 200, "{res}");
        let admins = item(&cell, &admin, "Admin's").await?;
        cell.patch(&format!("/api/v1/items/{admins}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        assert!(inbox(&cell, &admin).await?.is_empty(), "email only, by the org's default");
        assert_eq!(mailed(&cell).await?, ["admin@acme.test"]);
        let (_, own) = cell.get("/api/v1/notification-preferences", Some(&dave)).await?;
        assert_eq!((&own["digest"], &own["org_defaults"][0]["event_type"]), (&json!("instant"), &json!("template.*")), "{own}");

        // Reset: ann's `*` goes, deletions stay muted.
        let (_, prefs) = cell.patch("/api/v1/notification-preferences", Some(&ann), json!({"preferences": [{"event_type": "*", "reset": true}]})).await?;
        assert_eq!(prefs["preferences"].as_array().map(Vec::len), Some(2), "{prefs}");
        Ok(())
    }
);

db_test!(
    async fn bad_preferences_are_refused_and_change_nothing(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        for (body, field) in [
            (json!({"digest": "monthly"}), "digest"),
            (json!({"preferences": [{"event_type": "Not An Event"}]}), "preferences[0].event_type"),
            (json!({"preferences": [{"event_type": "nobody.*"}]}), "preferences[0].event_type"),
            (json!({"preferences": [{"event_type": "*", "channels": ["in_app"]}, {"event_type": "*", "channels": ["sms"]}]}), "preferences[1].channels"),
        ] {
            let (status, res) = cell.patch("/api/v1/notification-preferences", Some(&ann), body.clone()).await?;
            assert_eq!(status, 422, "{body}: {res}");
            assert!(res["error"]["details"]["fields"].get(field).is_some(), "{body}: {res}");
        }
        let (_, prefs) = cell.get("/api/v1/notification-preferences", Some(&ann)).await?;
        assert_eq!(prefs, json!({"digest": "instant", "preferences": [], "org_defaults": []}), "nothing was stored");
        let (status, _) = cell.get("/api/v1/notification-preferences", None).await?;
        assert_eq!(status, 401);
        Ok(())
    }
);
