//! Tags on entities of any module: the library's rules, tagging one entity and many, who may
//! do what, and that an entity the caller cannot see (another org's, a private team) is 404.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, user};

db_test!(
    async fn tags_go_on_any_entity_by_the_rules(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;

        // The library: unique in any case, no `bot:` by hand, colours checked, members create.
        let (status, urgent) = cell.post("/api/v1/tags", Some(&member), json!({"name": " Urgent ", "color": "#EF4444"})).await?;
        assert_eq!(status, 201, "{urgent}");
        assert_eq!((&urgent["name"], &urgent["system"]), (&json!("Urgent"), &json!(false)));
        let (status, body) = cell.post("/api/v1/tags", Some(&member), json!({"name": "URGENT"})).await?;
        assert_eq!((status, &body["error"]["details"]["field"]), (409, &json!("name")), "{body}");
        for bad in [json!({"name": "bot:autoreply"}), json!({"name": "x", "color": "red"}), json!({"name": "   "})] {
            let (status, body) = cell.post("/api/v1/tags", Some(&member), bad.clone()).await?;
            assert_eq!(status, 422, "{bad}: {body}");
        }
        let (status, _) = cell.post("/api/v1/tags", Some(&viewer), json!({"name": "Nope"})).await?;
        assert_eq!(status, 403);
        let (_, vip) = cell.post("/api/v1/tags", Some(&member), json!({"name": "VIP", "category": "customer"})).await?;
        let (urgent, vip) = (id(&urgent), id(&vip));

        // One entity of tenancy (a team) and one of a module declared in the test (a widget).
        let (status, team) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Sales"})).await?;
        assert_eq!(status, 201, "{team}");
        let team = id(&team);
        let widget = cell.widgets.add(acme);
        let (status, tags) = cell.post(&format!("/api/v1/teams/{team}/tags"), Some(&member), json!({"tag_id": urgent})).await?;
        assert_eq!(status, 201, "{tags}");
        assert_eq!(tags[0]["name"], "Urgent");
        let (status, _) = cell.post(&format!("/api/v1/teams/{team}/tags"), Some(&member), json!({"tag_id": urgent})).await?;
        assert_eq!(status, 200, "tagging twice changes nothing");
        let (status, tags) = cell.post(&format!("/api/v1/widgets/{widget}/tags"), Some(&member), json!({"tag_id": urgent})).await?;
        assert_eq!(status, 201, "{tags}");
        let (status, tags) = cell.get(&format!("/api/v1/teams/{team}/tags"), Some(&viewer)).await?;
        assert_eq!((status, tags.as_array().map(Vec::len)), (200, Some(1)), "{tags}");
        let (status, _) = cell.post(&format!("/api/v1/teams/{team}/tags"), Some(&viewer), json!({"tag_id": urgent})).await?;
        assert_eq!(status, 403, "viewers do not tag");
        for path in [format!("/api/v1/widgets/{}/tags", uuid::Uuid::now_v7()), format!("/api/v1/gadgets/{widget}/tags")] {
            let (status, body) = cell.post(&path, Some(&member), json!({"tag_id": urgent})).await?;
            assert_eq!(status, 404, "{path}: {body}");
        }
        let (status, body) = cell.post(&format!("/api/v1/teams/{team}/tags"), Some(&member), json!({"tag_id": uuid::Uuid::now_v7()})).await?;
        assert_eq!((status, &body["error"]["details"]["fields"]["tag_id"]), (422, &json!("no such tag")), "{body}");

        // Bulk: all or nothing, naming what the caller cannot see.
        let missing = uuid::Uuid::now_v7();
        let entities = json!([{"type": "team", "id": team}, {"type": "widget", "id": widget}, {"type": "widget", "id": missing}]);
        let (status, body) = cell.post(&format!("/api/v1/tags/{vip}/apply"), Some(&member), json!({"entities": entities})).await?;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["details"]["missing"], json!([{"type": "widget", "id": missing}]), "{body}");
        let (_, tags) = cell.get(&format!("/api/v1/teams/{team}/tags"), Some(&member)).await?;
        assert_eq!(tags.as_array().map(Vec::len), Some(1), "nothing applied: {tags}");
        let entities = json!([{"type": "team", "id": team}, {"type": "widget", "id": widget}]);
        let (status, body) = cell.post(&format!("/api/v1/tags/{vip}/apply"), Some(&member), json!({"entities": entities.clone()})).await?;
        assert_eq!((status, body), (200, json!({"applied": 2, "already": 0})));
        let (_, body) = cell.post(&format!("/api/v1/tags/{vip}/apply"), Some(&member), json!({"entities": entities})).await?;
        assert_eq!(body, json!({"applied": 0, "already": 2}));
        assert_eq!(cell.events("tag.added").await?.len(), 4);

        // Off one entity; deleting a tag (admins) takes it off every entity.
        let (status, _) = cell.delete(&format!("/api/v1/teams/{team}/tags/{urgent}"), Some(&member)).await?;
        assert_eq!(status, 204);
        let (status, _) = cell.delete(&format!("/api/v1/teams/{team}/tags/{urgent}"), Some(&member)).await?;
        assert_eq!(status, 404, "it is no longer there");
        let removed = cell.events("tag.removed").await?;
        assert_eq!((removed.len(), &removed[0]["entity_type"]), (1, &json!("team")));
        let (status, _) = cell.delete(&format!("/api/v1/tags/{vip}"), Some(&member)).await?;
        assert_eq!(status, 403, "members do not delete tags");
        let (status, _) = cell.delete(&format!("/api/v1/tags/{vip}"), Some(&owner)).await?;
        assert_eq!(status, 204);
        let (_, tags) = cell.get(&format!("/api/v1/widgets/{widget}/tags"), Some(&member)).await?;
        assert_eq!(tags, json!([{"id": urgent, "name": "Urgent", "color": "#EF4444", "category": null, "system": false, "created_by": tags[0]["created_by"], "created_at": tags[0]["created_at"], "updated_at": tags[0]["updated_at"]}]));
        let deleted = cell.events("tag.deleted").await?;
        assert_eq!(deleted[0]["entities"], 2, "{deleted:?}");

        // Renames are the admins', and keep names unique.
        let (_, other) = cell.post("/api/v1/tags", Some(&member), json!({"name": "Later"})).await?;
        let (status, _) = cell.patch(&format!("/api/v1/tags/{}", id(&other)), Some(&owner), json!({"name": "urgent"})).await?;
        assert_eq!(status, 409);
        let (status, renamed) = cell.patch(&format!("/api/v1/tags/{}", id(&other)), Some(&owner), json!({"name": "Someday", "color": null})).await?;
        assert_eq!((status, &renamed["name"]), (200, &json!("Someday")), "{renamed}");
        let (_, list) = cell.get("/api/v1/tags?search=some", Some(&viewer)).await?;
        assert_eq!(list["meta"]["total"], 1, "{list}");
        Ok(())
    }
);

db_test!(
    async fn an_entity_the_caller_cannot_see_is_not_found(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let (_, tag) = cell.post("/api/v1/tags", Some(&member), json!({"name": "Urgent"})).await?;
        let tag = id(&tag);

        // A private team the member is not in: to them it does not exist.
        let (status, secret) = cell.post("/api/v1/teams", Some(&owner), json!({"name": "Board", "visibility": "private"})).await?;
        assert_eq!(status, 201, "{secret}");
        let secret = id(&secret);
        let (status, _) = cell.post(&format!("/api/v1/teams/{secret}/tags"), Some(&member), json!({"tag_id": tag})).await?;
        assert_eq!(status, 404);
        let (status, body) = cell.post(&format!("/api/v1/tags/{tag}/apply"), Some(&member), json!({"entities": [{"type": "team", "id": secret}]})).await?;
        assert_eq!(status, 404, "{body}");
        let (status, _) = cell.post(&format!("/api/v1/teams/{secret}/tags"), Some(&owner), json!({"tag_id": tag})).await?;
        assert_eq!(status, 201, "its owner sees it");

        // Another org sees neither the tag nor the entities.
        let widget = cell.widgets.add(acme);
        let (_, list) = cell.get("/api/v1/tags", Some(&outsider)).await?;
        assert_eq!(list["meta"]["total"], 0, "{list}");
        let (_, mine) = cell.post("/api/v1/tags", Some(&outsider), json!({"name": "Urgent"})).await?;
        for path in [format!("/api/v1/teams/{secret}/tags"), format!("/api/v1/widgets/{widget}/tags")] {
            let (status, _) = cell.get(&path, Some(&outsider)).await?;
            assert_eq!(status, 404, "{path}");
            let (status, _) = cell.post(&path, Some(&outsider), json!({"tag_id": id(&mine)})).await?;
            assert_eq!(status, 404, "{path}");
        }
        let (status, _) = cell.post(&format!("/api/v1/widgets/{widget}/tags"), Some(&member), json!({"tag_id": id(&mine)})).await?;
        assert_eq!(status, 422, "another org's tag is no tag here");
        Ok(())
    }
);

db_test!(
    async fn lists_of_other_modules_filter_by_tags(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let outsider = user(&cell, "owner@globex.test", globex, "owner").await?;
        let mut teams = Vec::new();
        for name in ["Sales", "Support", "Ops"] {
            let (_, team) = cell.post("/api/v1/teams", Some(&owner), json!({"name": name})).await?;
            teams.push(id(&team));
        }
        let (_, east) = cell.post("/api/v1/tags", Some(&owner), json!({"name": "East"})).await?;
        let (_, key) = cell.post("/api/v1/tags", Some(&owner), json!({"name": "Key"})).await?;
        let apply = |tag: String, teams: &[&String]| {
            let entities: Vec<_> = teams.iter().map(|t| json!({"type": "team", "id": t})).collect();
            (format!("/api/v1/tags/{tag}/apply"), json!({"entities": entities}))
        };
        let (path, body) = apply(id(&east), &[&teams[0], &teams[1]]);
        assert_eq!(cell.post(&path, Some(&owner), body).await?.0, 200);
        let (path, body) = apply(id(&key), &[&teams[1], &teams[2]]);
        assert_eq!(cell.post(&path, Some(&owner), body).await?.0, 200);

        let names = |page: &serde_json::Value| -> Vec<String> {
            page["data"].as_array().into_iter().flatten().map(|t| t["name"].as_str().unwrap_or_default().to_owned()).collect()
        };
        let (status, page) = cell.get("/api/v1/teams?tags=east", Some(&owner)).await?;
        assert_eq!((status, names(&page)), (200, vec!["Sales".to_owned(), "Support".to_owned()]), "{page}");
        let (_, page) = cell.get("/api/v1/teams?tags=EAST,key", Some(&owner)).await?;
        assert_eq!(names(&page), vec!["Support".to_owned()], "every tag named, any case");
        let (_, page) = cell.get("/api/v1/teams?tags=east,nowhere", Some(&owner)).await?;
        assert_eq!(page["meta"]["total"], 0);
        let (_, page) = cell.get("/api/v1/teams?tags=key&search=op", Some(&owner)).await?;
        assert_eq!(names(&page), vec!["Ops".to_owned()], "with the other list keys");
        // Another org's tags of the same name match nothing here.
        let (_, theirs) = cell.post("/api/v1/tags", Some(&outsider), json!({"name": "East"})).await?;
        assert!(theirs["id"].is_string());
        let (_, page) = cell.get("/api/v1/teams?tags=east", Some(&outsider)).await?;
        assert_eq!(page["meta"]["total"], 0, "{page}");
        // A list that is not tagged says so.
        let (status, body) = cell.get("/api/v1/invitations?tags=east", Some(&owner)).await?;
        assert_eq!(status, 400, "{body}");
        Ok(())
    }
);
