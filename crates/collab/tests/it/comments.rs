//! Comments on entities of any module: threads, markdown rendered safe, mentions that reach
//! only users who may see the entity, edits with history, soft deletes.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, user};

/// The id of the user a token signs in.
async fn user_id(cell: &testkit::TestApp, token: &str) -> anyhow::Result<String> {
    let (_, me) = cell.get("/api/v1/users/me", Some(token)).await?;
    Ok(id(&me))
}

db_test!(
    async fn comments_thread_render_safely_and_mention_only_who_may_see(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "out@globex.test", globex, "owner").await?;
        let (bob_id, out_id, owner_id) = (user_id(&cell, &bob).await?, user_id(&cell, &outsider).await?, user_id(&cell, &owner).await?);

        let widget = cell.widgets.add(acme);
        let comments = format!("/api/v1/widgets/{widget}/comments");
        let body = format!("**Ship it** @[Bob](user:{bob_id}) @[Eve](user:{out_id}) <script>alert(1)</script>");
        let (status, first) = cell.post(&comments, Some(&ann), json!({"body": body})).await?;
        assert_eq!(status, 201, "{first}");
        let html = first["html"].as_str().unwrap_or_default();
        assert!(html.contains("<strong>Ship it</strong>") && html.contains("@Bob") && !html.contains("<script"), "{html}");
        // Bob (a member who sees widgets) is told; the outsider is not, whatever the text says.
        let mentioned = cell.events("user.mentioned").await?;
        assert_eq!(mentioned.len(), 1, "{mentioned:?}");
        assert_eq!(mentioned[0]["user_id"], json!(bob_id));

        let (status, reply) = cell.post(&comments, Some(&bob), json!({"body": "On it", "parent_id": id(&first)})).await?;
        assert_eq!(status, 201, "{reply}");
        let (status, nested) = cell.post(&comments, Some(&ann), json!({"body": "Thanks", "parent_id": id(&reply)})).await?;
        assert_eq!(status, 201, "{nested}");
        let (status, body) = cell.post(&comments, Some(&ann), json!({"body": "x", "parent_id": uuid::Uuid::now_v7()})).await?;
        assert_eq!(status, 422, "{body}");
        let (status, _) = cell.post(&comments, Some(&viewer), json!({"body": "Nope"})).await?;
        assert_eq!(status, 403);
        assert_eq!(cell.events("comment.added").await?.len(), 3);

        let (status, thread) = cell.get(&comments, Some(&viewer)).await?;
        assert_eq!(status, 200, "{thread}");
        assert_eq!(thread.as_array().map(Vec::len), Some(1));
        assert_eq!(thread[0]["replies"][0]["replies"][0]["body"], "Thanks");

        // Edits: the author only; the old text kept; a newly mentioned user is told.
        let first_path = format!("/api/v1/comments/{}", id(&first));
        let (status, _) = cell.patch(&first_path, Some(&bob), json!({"body": "mine"})).await?;
        assert_eq!(status, 403);
        let edit = format!("Ship it today, @[Owner](user:{owner_id}) @[Bob](user:{bob_id})");
        let (status, edited) = cell.patch(&first_path, Some(&ann), json!({"body": edit})).await?;
        assert_eq!(status, 200, "{edited}");
        assert!(edited["edited_at"].is_string());
        let mentioned = cell.events("user.mentioned").await?;
        assert_eq!(mentioned.len(), 2, "only the owner is new: {mentioned:?}");
        let (_, history) = cell.get(&format!("{first_path}/history"), Some(&viewer)).await?;
        assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");

        // Deletes are soft: the thread keeps its place and replies.
        let (status, _) = cell.delete(&first_path, Some(&bob)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&first_path, Some(&owner)).await?;
        assert_eq!(status, 204, "admins may");
        let (_, thread) = cell.get(&comments, Some(&viewer)).await?;
        assert_eq!((&thread[0]["body"], &thread[0]["deleted"]), (&json!("[deleted]"), &json!(true)), "{thread}");
        assert_eq!(thread[0]["replies"][0]["body"], "On it");
        let (status, _) = cell.patch(&first_path, Some(&ann), json!({"body": "back"})).await?;
        assert_eq!(status, 409);
        let (_, history) = cell.get(&format!("{first_path}/history"), Some(&viewer)).await?;
        assert_eq!(history, json!([]), "a deleted comment's words are gone");

        // Another org sees nothing of it.
        let (status, _) = cell.get(&comments, Some(&outsider)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.get(&format!("/api/v1/comments/{}/history", id(&reply)), Some(&outsider)).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);
