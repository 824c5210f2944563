//! Links between entities of any modules: both ends must be seen, lookups in both directions
//! drop links whose other end the caller cannot see, events; resolve and counts.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, user};

db_test!(
    async fn links_join_any_two_entities_the_caller_sees(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let (_, sales) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Sales"})).await?;
        let (_, board) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Board", "visibility": "private"})).await?;
        let (sales, board) = (id(&sales), id(&board));
        let (w1, w2) = (cell.widgets.add(acme), cell.widgets.add(acme));

        let link = |source: (&str, &str), target: (&str, &str)| json!({"source": {"type": source.0, "id": source.1}, "target": {"type": target.0, "id": target.1}});
        let (w1s, w2s) = (w1.to_string(), w2.to_string());
        let (status, made) = cell.post("/api/v1/links", Some(&member), link(("team", &sales), ("widget", &w1s))).await?;
        assert_eq!(status, 201, "{made}");
        assert_eq!((&made["relationship"], &made["target"]["title"]), (&json!("associated"), &json!(format!("Widget {w1}"))));
        let (status, again) = cell.post("/api/v1/links", Some(&member), link(("team", &sales), ("widget", &w1s))).await?;
        assert_eq!((status, id(&again)), (200, id(&made)), "linking twice changes nothing");
        let (status, _) = cell.post("/api/v1/links", Some(&member), link(("widget", &w2s), ("team", &sales))).await?;
        assert_eq!(status, 201);
        let (status, _) = cell.post("/api/v1/links", Some(&viewer), link(("team", &sales), ("widget", &w2s))).await?;
        assert_eq!(status, 403, "viewers do not link");
        let (status, body) = cell.post("/api/v1/links", Some(&member), link(("team", &sales), ("team", &sales))).await?;
        assert_eq!(status, 422, "{body}");
        // An end the caller cannot see (a private team, another org's widget) is 404.
        let (status, body) = cell.post("/api/v1/links", Some(&member), link(("team", &board), ("widget", &w1s))).await?;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["details"]["missing"], json!([{"type": "team", "id": board}]));
        let theirs = cell.widgets.add(globex).to_string();
        let (status, _) = cell.post("/api/v1/links", Some(&member), link(("team", &sales), ("widget", &theirs))).await?;
        assert_eq!(status, 404);
        // The owner links the private team; the member never sees that link.
        let (status, _) = cell.post("/api/v1/links", Some(&owner), json!({"source": {"type": "team", "id": board}, "target": {"type": "widget", "id": w1}, "relationship": "owns"})).await?;
        assert_eq!(status, 201);
        assert_eq!(cell.events("entity.linked").await?.len(), 3);

        // Both directions, by route and by query.
        let (status, all) = cell.get(&format!("/api/v1/teams/{sales}/linked"), Some(&viewer)).await?;
        assert_eq!(status, 200, "{all}");
        let mut directions: Vec<String> = all.as_array().into_iter().flatten().map(|l| l["direction"].as_str().unwrap_or_default().to_owned()).collect();
        directions.sort();
        assert_eq!(directions, vec!["incoming".to_owned(), "outgoing".to_owned()], "{all}");
        let (_, of_widgets) = cell.get(&format!("/api/v1/teams/{sales}/linked/widgets"), Some(&viewer)).await?;
        assert_eq!(of_widgets.as_array().map(Vec::len), Some(2));
        let (_, of_teams) = cell.get(&format!("/api/v1/widgets/{w1}/linked/teams"), Some(&member)).await?;
        assert_eq!(of_teams.as_array().map(Vec::len), Some(1), "the private team's link is unseen: {of_teams}");
        let (_, of_teams) = cell.get(&format!("/api/v1/widgets/{w1}/linked/teams"), Some(&owner)).await?;
        assert_eq!(of_teams.as_array().map(Vec::len), Some(2));
        let (_, from) = cell.get(&format!("/api/v1/links?source_type=team&source_id={sales}"), Some(&viewer)).await?;
        assert_eq!(from.as_array().map(Vec::len), Some(1), "{from}");
        let (_, to) = cell.get(&format!("/api/v1/links?target_type=widget&target_id={w1}"), Some(&member)).await?;
        assert_eq!(to.as_array().map(Vec::len), Some(1), "{to}");
        let (status, _) = cell.get("/api/v1/links?target_type=0.5", Some(&member)).await?;
        assert_eq!(status, 400, "an entity type the document forbids");
        let (status, _) = cell.post("/api/v1/resolve", Some(&member), json!({"type": "", "ids": []})).await?;
        assert_eq!(status, 422);
        let (status, _) = cell.post("/api/v1/links", Some(&member), json!({"source": {"type": "Team", "id": sales}, "target": {"type": "widget", "id": w1}})).await?;
        assert_eq!(status, 422);
        let (status, any) = cell.get("/api/v1/links", Some(&member)).await?;
        assert_eq!((status, any.as_array().map(Vec::len)), (200, Some(2)), "the private team's link is left out: {any}");
        let (status, _) = cell.get(&format!("/api/v1/teams/{sales}/linked"), Some(&outsider)).await?;
        assert_eq!(status, 404);

        // Unlinking: members, only links they see.
        let (status, _) = cell.delete(&format!("/api/v1/links/{}", id(&made)), Some(&viewer)).await?;
        assert_eq!(status, 403);
        let (status, _) = cell.delete(&format!("/api/v1/links/{}", id(&made)), Some(&outsider)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.delete(&format!("/api/v1/links/{}", id(&made)), Some(&member)).await?;
        assert_eq!(status, 204);
        assert_eq!(cell.events("entity.unlinked").await?.len(), 1);
        let (_, of_widgets) = cell.get(&format!("/api/v1/teams/{sales}/linked/widgets"), Some(&viewer)).await?;
        assert_eq!(of_widgets.as_array().map(Vec::len), Some(1));

        // Summaries of what the caller sees, and counts per collection.
        let (status, found) = cell.post("/api/v1/resolve", Some(&member), json!({"type": "team", "ids": [sales, board]})).await?;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found.as_array().map(Vec::len), Some(1), "the private team is left out: {found}");
        assert_eq!(found[0]["title"], "Sales");
        let (status, none) = cell.post("/api/v1/resolve", Some(&member), json!({"type": "gadget", "ids": [sales]})).await?;
        assert_eq!((status, none), (200, json!([])));
        let (status, counts) = cell.get("/api/v1/counts", Some(&viewer)).await?;
        assert_eq!((status, &counts["widgets"], &counts["teams"]), (200, &json!(2), &json!(1)), "the private team is not counted for them: {counts}");
        let (_, counts) = cell.get("/api/v1/counts", Some(&owner)).await?;
        assert_eq!(counts["teams"], json!(2), "{counts}");

        // A module may refuse a link to an entity the caller sees (its `link` rule): 403.
        let locked = uuid::Uuid::now_v7();
        cell.widgets.add_named(acme, locked, "Locked safe");
        let (status, body) = cell.post("/api/v1/links", Some(&member), link(("team", &sales), ("widget", &locked.to_string()))).await?;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["details"]["entity"]["id"], json!(locked), "{body}");
        Ok(())
    }
);
