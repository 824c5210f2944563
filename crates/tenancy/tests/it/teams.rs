//! Teams over HTTP: create, list, visibility, update, members with a team role, delete.

use serde_json::json;
use testkit::db_test;

use crate::support::{Cell, fields, id, tok};

db_test!(async fn teams_and_their_members(db) {
    let cell = Cell::start(&db).await?;
    let owner = cell.user("owner@example.com");
    let org = cell.org(owner, "Acme").await?;
    let (member, other, viewer) = (cell.user("m@example.com"), cell.user("o@example.com"), cell.user("v@example.com"));
    cell.join(org, member, "member").await?;
    cell.join(org, other, "member").await?;
    cell.join(org, viewer, "viewer").await?;
    let outsider = cell.user("x@example.com");
    let (m, o, v, a) = (tok(member, org), tok(other, org), tok(viewer, org), tok(owner, org));

    // A member creates a team and leads it.
    let (status, body) = cell.post("/api/v1/teams", &m, json!({"name": " Platform ", "description": "Infra", "visibility": "public"})).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["name"].as_str(), body["members"][0]["user_id"].as_str(), body["members"][0]["role"].as_str()),
        (Some("Platform"), Some(member.to_string().as_str()), Some("lead")));
    let platform = id(&body)?;
    let (status, _) = cell.post("/api/v1/teams", &o, json!({"name": "Platform"})).await?;
    assert_eq!(status, 409, "names are unique in the org");
    let (status, body) = cell.post("/api/v1/teams", &o, json!({"name": "X", "visibility": "secret"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["visibility".to_owned()]));
    let (status, body) = cell.post("/api/v1/teams", &o, json!({"name": "  "})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["name".to_owned()]));
    let (status, _) = cell.post("/api/v1/teams", &v, json!({"name": "Viewers"})).await?;
    assert_eq!(status, 403);
    let (status, body) = cell.post("/api/v1/teams", &o, json!({"name": "Secret", "visibility": "private"})).await?;
    assert_eq!(status, 201);
    let secret = id(&body)?;
    for n in ["Alpha", "Beta", "Gamma"] {
        let (status, _) = cell.post("/api/v1/teams", &a, json!({"name": n})).await?;
        assert_eq!(status, 201);
    }

    // Lists: paginated, searchable; private teams only for their members and admins.
    let names = |b: &serde_json::Value| -> Vec<String> {
        b["data"].as_array().map(|d| d.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let (_, body) = cell.get("/api/v1/teams", &m).await?;
    assert_eq!(names(&body), vec!["Alpha", "Beta", "Gamma", "Platform"]);
    let (_, body) = cell.get("/api/v1/teams", &o).await?;
    assert_eq!(names(&body), vec!["Alpha", "Beta", "Gamma", "Platform", "Secret"]);
    let (_, body) = cell.get("/api/v1/teams?limit=2&page=2&sort=name:desc", &a).await?;
    assert_eq!((names(&body), body["meta"]["total"].as_u64()), (vec!["Gamma".to_owned(), "Beta".to_owned()], Some(5)));
    // This cell has no tagging module: no team carries a tag, so a tag filter keeps none.
    let (status, body) = cell.get("/api/v1/teams?tags=platform", &a).await?;
    assert_eq!((status, &body["meta"]["total"]), (200, &serde_json::json!(0)), "{body}");
    let (_, body) = cell.get("/api/v1/teams?search=PLAT", &v).await?;
    assert_eq!(names(&body), vec!["Platform"]);
    let (_, body) = cell.get("/api/v1/teams?filter[visibility]=private", &a).await?;
    assert_eq!(names(&body), vec!["Secret"]);
    let (status, _) = cell.get(&format!("/api/v1/teams/{secret}"), &m).await?;
    assert_eq!(status, 404, "a private team is invisible to non-members");
    let (status, _) = cell.get(&format!("/api/v1/teams/{secret}"), &a).await?;
    assert_eq!(status, 200);

    // Members: org members only, team roles lead/member, events per new member.
    let members = format!("/api/v1/teams/{platform}/members");
    let (status, body) = cell.post(&members, &m, json!({"userIds": [other, outsider]})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["user_ids".to_owned()]));
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains(&outsider.to_string()), "{body}");
    let (status, body) = cell.post(&members, &m, json!({"user_ids": [other], "role": "boss"})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["role".to_owned()]));
    let (status, body) = cell.post(&members, &m, json!({"user_ids": []})).await?;
    assert_eq!((status, fields(&body)), (422, vec!["user_ids".to_owned()]));
    let (status, _) = cell.post(&members, &o, json!({"user_ids": [viewer]})).await?;
    assert_eq!(status, 403, "a plain team-less member does not manage the team");
    let (status, body) = cell.post(&members, &m, json!({"user_ids": [other, viewer, other]})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"].as_array().map(Vec::len), Some(3));
    let (status, body) = cell.post(&members, &a, json!({"user_ids": [viewer], "role": "lead"})).await?;
    assert_eq!(status, 200);
    let viewer_role = body["members"].as_array().and_then(|ms| ms.iter().find(|x| x["user_id"] == json!(viewer))).map(|x| x["role"].clone());
    assert_eq!(viewer_role, Some(json!("lead")));
    let (status, _) = cell.patch(&format!("/api/v1/teams/{platform}"), &v, json!({"name": "Viewer's"})).await?;
    assert_eq!(status, 403, "a viewer leading a team still cannot write");
    let added = cell.events("tenancy.team.member_added").await?;
    let for_platform: Vec<&serde_json::Value> = added.iter().filter(|e| e["team_id"] == json!(platform)).collect();
    assert_eq!(for_platform.len(), 3, "creator, other, viewer: {added:?}");

    // Removing: managers remove anyone; a member removes themselves.
    let (status, _) = cell.delete(&format!("{members}/{owner}"), &m).await?;
    assert_eq!(status, 404, "not on the team");
    let (status, _) = cell.delete(&format!("{members}/{other}"), &v).await?;
    assert_eq!(status, 403);
    let (status, _) = cell.delete(&format!("{members}/{viewer}"), &v).await?;
    assert_eq!(status, 204, "leaving a team");
    let (status, _) = cell.delete(&format!("{members}/{other}"), &m).await?;
    assert_eq!(status, 204);
    assert_eq!(cell.events("tenancy.team.member_removed").await?.len(), 2);

    // Update and delete.
    let (status, body) = cell.patch(&format!("/api/v1/teams/{platform}"), &m, json!({"name": "Platform Eng", "description": null, "visibility": "private"})).await?;
    assert_eq!((status, body["name"].as_str(), body["description"].is_null(), body["visibility"].as_str()), (200, Some("Platform Eng"), true, Some("private")));
    let (status, _) = cell.patch(&format!("/api/v1/teams/{platform}"), &m, json!({"name": "Alpha"})).await?;
    assert_eq!(status, 409);
    let (status, _) = cell.delete(&format!("/api/v1/teams/{platform}"), &o).await?;
    assert_eq!(status, 404, "now private and `other` left it");
    let (status, _) = cell.delete(&format!("/api/v1/teams/{platform}"), &m).await?;
    assert_eq!(status, 204);
    let (status, _) = cell.get(&format!("/api/v1/teams/{platform}"), &a).await?;
    assert_eq!(status, 404);
    // A segment that cannot be an id names nothing: 404, like an id that exists nowhere.
    let (status, _) = cell.get("/api/v1/teams/not-a-uuid", &a).await?;
    assert_eq!(status, 404);
    cell.finish(db).await
});
