//! Search over every module's entities: ranked full-text matches with type-ahead prefixes,
//! never an entity of another org or one the caller may not see, grouped by type; the index
//! kept by events and rebuilt by a command; recent and saved searches.

use kernel::PlatformModule;
use serde_json::{Value, json};
use testkit::db_test;
use uuid::Uuid;

use crate::support::{cell, deliver, id, org, user};

/// The (type, title) of every result, in order.
fn found(results: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in results["groups"].as_array().into_iter().flatten() {
        for r in group["results"].as_array().into_iter().flatten() {
            let title = r["title"].as_str().unwrap_or_default().to_owned();
            out.push((group["type"].as_str().unwrap_or_default().to_owned(), title));
        }
    }
    out
}

fn pair(kind: &str, title: &str) -> (String, String) {
    (kind.to_owned(), title.to_owned())
}

db_test!(
    async fn search_finds_only_what_the_caller_may_see(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let (_, office) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Budget office", "description": "Spending"})).await?;
        cell.post("/api/v1/teams", Some(&owner), json!({"name": "Budget board", "visibility": "private"})).await?;
        cell.post("/api/v1/teams", Some(&outsider), json!({"name": "Budget of Globex"})).await?;
        cell.widgets.add_named(acme, Uuid::now_v7(), "Quarterly budget report");
        cell.widgets.add_named(acme, Uuid::now_v7(), "Spending plan");
        cell.widgets.add_named(globex, Uuid::now_v7(), "Budget secret");
        deliver(&cell).await?;
        // Widgets publish no events (their module is a stub): the rebuild command indexes them.
        let commands = collab::Collab::default().commands();
        let rebuild = commands.iter().find(|c| c.path == ["search", "rebuild"]).ok_or_else(|| anyhow::anyhow!("no rebuild command"))?;
        rebuild.handler.run(&cell.ctx, &[acme.to_string(), globex.to_string()]).await?;
        assert!(rebuild.handler.run(&cell.ctx, &["acme".into()]).await.is_err(), "an org is named by id");

        let (status, results) = cell.get("/api/v1/search?q=budget", Some(&member)).await?;
        assert_eq!(status, 200, "{results}");
        let mut seen = found(&results);
        seen.sort();
        assert_eq!(seen, vec![pair("team", "Budget office"), pair("widget", "Quarterly budget report")], "never the private team, never Globex's: {results}");
        assert_eq!(results["total"], 2);
        let (_, results) = cell.get("/api/v1/search?q=budget", Some(&owner)).await?;
        assert_eq!(found(&results).len(), 3, "the owner sees the private team: {results}");
        let (_, results) = cell.get("/api/v1/search?q=budget", Some(&outsider)).await?;
        let mut seen = found(&results);
        seen.sort();
        assert_eq!(seen, vec![pair("team", "Budget of Globex"), pair("widget", "Budget secret")]);

        // Type-ahead: every word is a prefix, and all must match; the body counts too.
        let (_, results) = cell.get("/api/v1/search?q=QUART%20bud", Some(&member)).await?;
        assert_eq!(found(&results), vec![pair("widget", "Quarterly budget report")]);
        let (_, results) = cell.get("/api/v1/search?q=spend", Some(&member)).await?;
        assert_eq!(found(&results), vec![pair("widget", "Spending plan"), pair("team", "Budget office")], "a title ranks above a body: {results}");
        let (_, results) = cell.get("/api/v1/search?q=budget&type=widget", Some(&member)).await?;
        assert_eq!(found(&results), vec![pair("widget", "Quarterly budget report")]);
        let (_, results) = cell.get("/api/v1/search?q=budget&limit=1", Some(&member)).await?;
        assert_eq!(results["total"], 1);
        let (status, results) = cell.get("/api/v1/search?q=%21%3F", Some(&member)).await?;
        assert_eq!((status, &results["total"]), (200, &json!(0)), "no word, nothing found: {results}");
        for bad in ["q=budget&limit=0", "q=budget&type=Team", "q=", "nothing=1"] {
            let (status, body) = cell.get(&format!("/api/v1/search?{bad}"), Some(&member)).await?;
            assert!(status == 400 || status == 422, "{bad}: {status} {body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }

        // Events keep the index current: a renamed team is found by its new name only.
        let (status, _) = cell.patch(&format!("/api/v1/teams/{}", id(&office)), Some(&owner), json!({"name": "Finance office"})).await?;
        assert_eq!(status, 200);
        deliver(&cell).await?;
        let (_, results) = cell.get("/api/v1/search?q=finance", Some(&member)).await?;
        assert_eq!(found(&results), vec![pair("team", "Finance office")]);
        let (_, results) = cell.get("/api/v1/search?q=budget%20office", Some(&member)).await?;
        assert_eq!(found(&results), vec![], "{results}");
        Ok(())
    }
);

db_test!(
    async fn recent_and_saved_searches_are_each_users_own(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        cell.widgets.add_named(acme, Uuid::now_v7(), "Alpha widget");
        let commands = collab::Collab::default().commands();
        let rebuild = commands.iter().find(|c| c.path == ["search", "rebuild"]).ok_or_else(|| anyhow::anyhow!("no rebuild command"))?;
        rebuild.handler.run(&cell.ctx, &[acme.to_string()]).await?;

        for n in 0..11 {
            let (status, _) = cell.get(&format!("/api/v1/search?q=query{n}"), Some(&member)).await?;
            assert_eq!(status, 200);
        }
        cell.get("/api/v1/search?q=query3", Some(&member)).await?;
        let (status, recent) = cell.get("/api/v1/search/recent", Some(&member)).await?;
        assert_eq!(status, 200, "{recent}");
        let queries: Vec<&str> = recent.as_array().into_iter().flatten().filter_map(|r| r["q"].as_str()).collect();
        assert_eq!(queries.len(), 10, "the last 10: {recent}");
        assert_eq!(&queries[..3], ["query3", "query10", "query9"], "newest first, a repeat moves up once");
        assert!(!queries.contains(&"query0") && queries.contains(&"query1"), "the oldest goes: {recent}");
        let (_, theirs) = cell.get("/api/v1/search/recent", Some(&viewer)).await?;
        assert_eq!(theirs, json!([]), "each user's own");

        let (status, saved) = cell.post("/api/v1/search/saved", Some(&viewer), json!({"name": " Alphas ", "q": "alpha", "type": "widget"})).await?;
        assert_eq!(status, 201, "{saved}");
        assert_eq!(saved["name"], "Alphas");
        let (status, body) = cell.post("/api/v1/search/saved", Some(&viewer), json!({"name": " ", "q": "alpha"})).await?;
        assert_eq!(status, 422, "{body}");
        let run = format!("/api/v1/search/saved/{}/run", id(&saved));
        let (status, results) = cell.get(&run, Some(&viewer)).await?;
        assert_eq!(status, 200, "{results}");
        assert_eq!(found(&results), vec![pair("widget", "Alpha widget")]);
        // Run again on current data: a new match is there at once.
        let beta = Uuid::now_v7();
        cell.widgets.add_named(acme, beta, "Alpha beta");
        rebuild.handler.run(&cell.ctx, &[acme.to_string()]).await?;
        let (_, results) = cell.get(&run, Some(&viewer)).await?;
        assert_eq!(results["total"], 2, "{results}");
        let (status, _) = cell.get(&run, Some(&member)).await?;
        assert_eq!(status, 404, "another user's saved search");
        let (_, list) = cell.get("/api/v1/search/saved", Some(&member)).await?;
        assert_eq!(list, json!([]));
        let (status, _) = cell.delete(&format!("/api/v1/search/saved/{}", id(&saved)), Some(&member)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.delete(&format!("/api/v1/search/saved/{}", id(&saved)), Some(&viewer)).await?;
        assert_eq!(status, 204);
        let (_, list) = cell.get("/api/v1/search/saved", Some(&viewer)).await?;
        assert_eq!(list, json!([]));
        Ok(())
    }
);
