//! The activity feed: events of every module become entries of their entity, in time order,
//! redacted, paged by cursor, never shown about entities the caller cannot see.

use kernel::sea_orm::ConnectionTrait;
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, deliver, id, org, user};

db_test!(
    async fn activity_keeps_what_happened_to_each_entity(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let widget = cell.widgets.add(acme);
        let (_, tag) = cell.post("/api/v1/tags", Some(&member), json!({"name": "Hot"})).await?;
        cell.post(&format!("/api/v1/widgets/{widget}/tags"), Some(&member), json!({"tag_id": id(&tag)})).await?;
        cell.post(&format!("/api/v1/widgets/{widget}/notes"), Some(&owner), json!({"body": "Call back"})).await?;
        cell.post(&format!("/api/v1/widgets/{widget}/comments"), Some(&member), json!({"body": "Done"})).await?;
        let (_, secret) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Board", "visibility": "private"})).await?;
        cell.post(&format!("/api/v1/teams/{}/notes", id(&secret)), Some(&owner), json!({"body": "Numbers"})).await?;
        deliver(&cell).await?;
        // At least once: every delivery made again changes nothing (entries keyed by event id).
        let system = cell.ctx.db().system();
        system
            .conn()
            .execute_unprepared(
                "UPDATE kernel_event_deliveries SET status = 'pending', next_attempt_ms = 0, \
                 locked_until_ms = 0, finished_at_ms = NULL",
            )
            .await?;
        assert!(cell.ctx.events().dispatch_once(&cell.ctx).await? > 0, "the deliveries ran again");
        deliver(&cell).await?;

        let names = |feed: &serde_json::Value| -> Vec<String> {
            feed["data"].as_array().into_iter().flatten().map(|e| e["name"].as_str().unwrap_or_default().to_owned()).collect()
        };
        let path = format!("/api/v1/widgets/{widget}/activity");
        let (status, feed) = cell.get(&path, Some(&member)).await?;
        assert_eq!(status, 200, "{feed}");
        assert_eq!(names(&feed), vec!["comment.added", "note.added", "tag.added"], "newest first: {feed}");
        assert!(feed["next_before"].is_null());
        // By cursor, two at a time.
        let (_, first) = cell.get(&format!("{path}?limit=2"), Some(&member)).await?;
        assert_eq!(names(&first), vec!["comment.added", "note.added"]);
        let before = first["next_before"].as_str().unwrap_or_default().to_owned();
        let (_, rest) = cell.get(&format!("{path}?limit=2&before={before}"), Some(&member)).await?;
        assert_eq!(names(&rest), vec!["tag.added"]);
        let (status, _) = cell.get(&format!("{path}?limit=0"), Some(&member)).await?;
        assert_eq!(status, 400);

        // The org's feed: what the member did; the private team's note is not shown to them.
        let (_, mine) = cell.get("/api/v1/activity?actor=me", Some(&member)).await?;
        assert_eq!(names(&mine), vec!["comment.added", "tag.added"], "{mine}");
        let (_, all) = cell.get("/api/v1/activity", Some(&member)).await?;
        assert!(!all.to_string().contains(&id(&secret)), "{all}");
        let (_, all) = cell.get("/api/v1/activity", Some(&owner)).await?;
        assert!(all.to_string().contains(&id(&secret)), "its owner sees it: {all}");

        // Another org sees nothing of it.
        let (status, _) = cell.get(&path, Some(&outsider)).await?;
        assert_eq!(status, 404);
        let (_, theirs) = cell.get("/api/v1/activity", Some(&outsider)).await?;
        assert_eq!(theirs["data"], json!([]), "{theirs}");
        Ok(())
    }
);
