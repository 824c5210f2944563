//! Persons: normalized channels, duplicates, conversion, the ownership policy, other orgs.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn persons_keep_normalized_channels_and_a_duplicate_names_the_existing_person(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;

        let p = person(&cell, &ann, json!({"first_name": "Ann", "last_name": "Lee", "email": "  Ann.Lee@Example.COM ", "phone": "+1 (415) 555-0100",
            "channels": [{"kind": "linkedin", "value": "linkedin.com/in/Ann-Lee/"}], "source": "website"})).await?;
        assert_eq!((&p["name"], &p["type"], &p["status"]), (&json!("Ann Lee"), &json!("lead"), &json!("active")), "{p}");
        assert_eq!((&p["email"], &p["phone"]), (&json!("ann.lee@example.com"), &json!("+14155550100")));
        assert_eq!(p["owner_id"], json!(null), "unclaimed by default");
        let kinds: Vec<(&str, &str, bool)> = p["channels"].as_array().into_iter().flatten()
            .map(|c| (c["kind"].as_str().unwrap_or_default(), c["value"].as_str().unwrap_or_default(), c["is_primary"] == true)).collect();
        assert_eq!(kinds.len(), 3, "{p}");
        assert!(kinds.contains(&("linkedin", "https://www.linkedin.com/in/ann-lee", true)), "{kinds:?}");
        let first = id(&p);

        // Another spelling of the same email, or the same phone: refused, naming Ann.
        for body in [json!({"name": "Dup", "email": "ANN.LEE@example.com"}), json!({"name": "Dup", "phone": "+1 415 555 0100"})] {
            let (status, e) = cell.post("/api/v1/contacts", Some(&ann), body).await?;
            assert_eq!((status, &e["error"]["details"]["existing_contact_id"]), (409, &json!(first)), "{e}");
        }
        let other = person(&cell, &ann, json!({"name": "Bo"})).await?;
        let (status, e) = cell.post(&format!("/api/v1/contacts/{}/channels", id(&other)), Some(&ann), json!({"kind": "email", "value": "ann.lee@example.com"})).await?;
        assert_eq!((status, &e["error"]["details"]["existing_contact_id"]), (409, &json!(first)), "{e}");

        // Bad input: a clear 422 each, nothing stored.
        for body in [json!({}), json!({"name": "X", "email": "not-an-email"}), json!({"name": "X", "phone": "12"}),
                     json!({"name": "X", "type": "alien"}), json!({"name": "X", "channels": [{"kind": "fax", "value": "1"}]}),
                     json!({"name": "X", "channels": [{"kind": "email", "value": "a@b.co"}, {"kind": "email", "value": "A@B.co"}]})] {
            let (status, e) = cell.post("/api/v1/contacts", Some(&ann), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
        }
        let (_, page) = cell.get("/api/v1/contacts", Some(&ann)).await?;
        assert_eq!(page["meta"]["total"], 2);

        // A new primary email takes over `email`; removing it hands primary back.
        let (status, added) = cell.post(&format!("/api/v1/contacts/{first}/channels"), Some(&ann), json!({"kind": "email", "value": "ann@lee.family", "primary": true})).await?;
        assert_eq!(status, 201, "{added}");
        let (_, got) = cell.get(&format!("/api/v1/contacts/{first}"), Some(&ann)).await?;
        assert_eq!(got["email"], "ann@lee.family");
        let primaries = got["channels"].as_array().into_iter().flatten().filter(|c| c["kind"] == "email" && c["is_primary"] == true).count();
        assert_eq!(primaries, 1, "{got}");
        let (status, _) = cell.delete(&format!("/api/v1/contacts/{first}/channels/{}", id(&added)), Some(&ann)).await?;
        assert_eq!(status, 204);
        let (_, got) = cell.get(&format!("/api/v1/contacts/{first}"), Some(&ann)).await?;
        assert_eq!(got["email"], "ann.lee@example.com");

        // Lead -> client, once.
        let (status, c) = cell.post(&format!("/api/v1/contacts/{first}/convert"), Some(&ann), json!({"new_type": "client"})).await?;
        assert_eq!((status, &c["type"]), (200, &json!("client")), "{c}");
        let (status, _) = cell.post(&format!("/api/v1/contacts/{first}/convert"), Some(&ann), json!({})).await?;
        assert_eq!(status, 409);
        let converted = cell.events("crm.contact.converted").await?;
        assert_eq!(converted, [json!({"contact_id": first, "from": "lead", "to": "client"})]);

        // The trash keeps it: gone from lists and reads, restored by collab's /trash.
        let (status, _) = cell.delete(&format!("/api/v1/contacts/{first}"), Some(&ann)).await?;
        assert_eq!(status, 204);
        assert_eq!(cell.get(&format!("/api/v1/contacts/{first}"), Some(&ann)).await?.0, 404);
        let (status, _) = cell.post(&format!("/api/v1/trash/{first}/restore?type=contact"), Some(&ann), json!({})).await?;
        assert_eq!(status, 200);
        assert_eq!(cell.get(&format!("/api/v1/contacts/{first}"), Some(&ann)).await?.0, 200);
        Ok(())
    }
);

db_test!(
    async fn members_read_everyone_and_write_their_own_or_unclaimed_persons(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let vic = user(&cell, "vic@acme.test", acme, "viewer").await?;

        let mine = id(&person(&cell, &mia, json!({"name": "Claimed by Mia", "claim": true})).await?);
        let pool = id(&person(&cell, &mia, json!({"name": "In the pool"})).await?);

        // Max reads both, writes the pool only.
        let (_, page) = cell.get("/api/v1/contacts", Some(&max)).await?;
        assert_eq!(page["meta"]["total"], 2);
        assert_eq!(cell.get(&format!("/api/v1/contacts/{mine}"), Some(&max)).await?.0, 200);
        let (status, e) = cell.patch(&format!("/api/v1/contacts/{mine}"), Some(&max), json!({"job_title": "CEO"})).await?;
        assert_eq!(status, 403, "{e}");
        for path in [format!("/api/v1/contacts/{mine}/channels")] {
            let (status, _) = cell.post(&path, Some(&max), json!({"kind": "email", "value": "x@y.io"})).await?;
            assert_eq!(status, 403);
        }
        assert_eq!(cell.delete(&format!("/api/v1/contacts/{mine}"), Some(&max)).await?.0, 403);
        let (status, _) = cell.patch(&format!("/api/v1/contacts/{pool}"), Some(&max), json!({"job_title": "CTO"})).await?;
        assert_eq!(status, 200);

        // Claims: Mia's is hers; the pool's goes to whoever claims it first.
        let (status, e) = cell.post(&format!("/api/v1/contacts/{mine}/claim"), Some(&max), json!({})).await?;
        assert_eq!((status, &e["error"]["details"]["owner_id"].is_string()), (409, &true), "{e}");
        let (status, c) = cell.post(&format!("/api/v1/contacts/{pool}/claim"), Some(&max), json!({})).await?;
        assert_eq!((status, c["owner_id"].is_string()), (200, true), "{c}");
        assert_eq!(cell.patch(&format!("/api/v1/contacts/{pool}"), Some(&mia), json!({"job_title": "x"})).await?.0, 403, "now Max's");
        assert_eq!(cell.post(&format!("/api/v1/contacts/{pool}/release"), Some(&mia), json!({})).await?.0, 403);
        let (status, c) = cell.post(&format!("/api/v1/contacts/{pool}/release"), Some(&max), json!({})).await?;
        assert_eq!((status, &c["owner_id"]), (200, &json!(null)));
        assert_eq!(cell.post(&format!("/api/v1/contacts/{pool}/release"), Some(&max), json!({})).await?.0, 409);

        // Admins write and take anything; viewers only read.
        assert_eq!(cell.patch(&format!("/api/v1/contacts/{mine}"), Some(&boss), json!({"job_title": "CEO"})).await?.0, 200);
        let (status, c) = cell.post(&format!("/api/v1/contacts/{mine}/claim"), Some(&boss), json!({})).await?;
        assert_eq!(status, 200, "{c}");
        assert_eq!(cell.get(&format!("/api/v1/contacts/{mine}"), Some(&vic)).await?.0, 200);
        assert_eq!(cell.post(&format!("/api/v1/contacts/{pool}/claim"), Some(&vic), json!({})).await?.0, 403);
        assert_eq!(cell.post("/api/v1/contacts", Some(&vic), json!({"name": "V"})).await?.0, 403);

        let claimed = cell.events("crm.contact.claimed").await?;
        assert_eq!(claimed.len(), 3, "{claimed:?}");
        assert_eq!(claimed[2]["previous_owner_id"], claimed[0]["owner_id"], "the admin took Mia's");
        assert_eq!(cell.events("crm.contact.released").await?.len(), 1);
        Ok(())
    }
);

db_test!(
    async fn under_a_read_own_policy_a_member_sees_only_their_own_persons(db) {
        let cell = cell_with(&db, OWN_ONLY).await?;
        let acme = org(&cell, "Acme").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let mine = id(&person(&cell, &mia, json!({"name": "Mia's", "claim": true})).await?);
        let maxs = id(&person(&cell, &max, json!({"name": "Max's", "claim": true})).await?);
        person(&cell, &boss, json!({"name": "Nobody's"})).await?;

        let (_, page) = cell.get("/api/v1/contacts", Some(&mia)).await?;
        let names: Vec<&str> = page["data"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!((names, &page["meta"]["total"]), (vec!["Mia's"], &json!(1)));
        assert_eq!(cell.get(&format!("/api/v1/contacts/{maxs}"), Some(&mia)).await?.0, 404);
        assert_eq!(cell.patch(&format!("/api/v1/contacts/{maxs}"), Some(&mia), json!({"name": "x"})).await?.0, 404);
        assert_eq!(cell.get(&format!("/api/v1/contacts/{mine}"), Some(&mia)).await?.0, 200);
        // Search (collab) goes through the same rule: the admin finds Max's person, Mia does not.
        settle(&cell).await?;
        let (_, found) = cell.get("/api/v1/search?q=Max", Some(&boss)).await?;
        assert_eq!(found["total"], 1, "{found}");
        let (_, found) = cell.get("/api/v1/search?q=Max", Some(&mia)).await?;
        assert_eq!(found["total"], 0, "{found}");
        let (_, page) = cell.get("/api/v1/contacts", Some(&boss)).await?;
        assert_eq!(page["meta"]["total"], 3);
        Ok(())
    }
);

db_test!(
    async fn another_orgs_persons_are_not_found_on_any_route(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let ann = user(&cell, "ann@acme.test", acme, "owner").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let p = person(&cell, &ann, json!({"name": "Ann's", "email": "p@acme.io"})).await?;
        let pid = id(&p);
        let cid = p["channels"][0]["id"].as_str().unwrap_or_default().to_owned();
        let co = id(&company(&cell, &ann, "Acme Inc", &["acme.io"]).await?);
        let gco = id(&company(&cell, &gus, "Globex", &[]).await?);
        let (_, seg) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Acme's", "kind": "static"})).await?;
        let sid = id(&seg);
        let (_, gseg) = cell.post("/api/v1/segments", Some(&gus), json!({"name": "Globex's", "kind": "static"})).await?;
        let gsid = id(&gseg);

        for (status, path) in [
            (cell.get(&format!("/api/v1/contacts/{pid}"), Some(&gus)).await?.0, "read"),
            (cell.patch(&format!("/api/v1/contacts/{pid}"), Some(&gus), json!({"name": "x"})).await?.0, "update"),
            (cell.delete(&format!("/api/v1/contacts/{pid}"), Some(&gus)).await?.0, "delete"),
            (cell.post(&format!("/api/v1/contacts/{pid}/convert"), Some(&gus), json!({})).await?.0, "convert"),
            (cell.post(&format!("/api/v1/contacts/{pid}/claim"), Some(&gus), json!({})).await?.0, "claim"),
            (cell.post(&format!("/api/v1/contacts/{pid}/release"), Some(&gus), json!({})).await?.0, "release"),
            (cell.get(&format!("/api/v1/contacts/{pid}/channels"), Some(&gus)).await?.0, "channels"),
            (cell.post(&format!("/api/v1/contacts/{pid}/channels"), Some(&gus), json!({"kind": "phone", "value": "+15550001111"})).await?.0, "add channel"),
            (cell.delete(&format!("/api/v1/contacts/{pid}/channels/{cid}"), Some(&gus)).await?.0, "remove channel"),
            (cell.get(&format!("/api/v1/companies/{co}"), Some(&gus)).await?.0, "company"),
            (cell.patch(&format!("/api/v1/companies/{co}"), Some(&gus), json!({"name": "x"})).await?.0, "company update"),
            (cell.delete(&format!("/api/v1/companies/{co}"), Some(&gus)).await?.0, "company delete"),
            (cell.post(&format!("/api/v1/companies/{gco}/merge"), Some(&gus), json!({"from_id": co})).await?.0, "merge"),
            (cell.get(&format!("/api/v1/contacts/{pid}/interactions"), Some(&gus)).await?.0, "interactions"),
            (cell.post(&format!("/api/v1/contacts/{pid}/interactions"), Some(&gus), json!({"type": "call"})).await?.0, "log"),
            (cell.get(&format!("/api/v1/contacts/{pid}/timeline"), Some(&gus)).await?.0, "timeline"),
            (cell.get(&format!("/api/v1/segments/{sid}"), Some(&gus)).await?.0, "segment"),
            (cell.patch(&format!("/api/v1/segments/{sid}"), Some(&gus), json!({"name": "x"})).await?.0, "segment update"),
            (cell.delete(&format!("/api/v1/segments/{sid}"), Some(&gus)).await?.0, "segment delete"),
            (cell.post(&format!("/api/v1/segments/{sid}/members"), Some(&gus), json!({"contact_ids": [pid]})).await?.0, "segment add"),
            (cell.post(&format!("/api/v1/segments/{gsid}/members"), Some(&gus), json!({"contact_ids": [pid]})).await?.0, "add to own"),
            (cell.delete(&format!("/api/v1/segments/{sid}/members/{pid}"), Some(&gus)).await?.0, "segment remove"),
            (cell.post("/api/v1/contacts/bulk", Some(&gus), json!({"action": "claim", "ids": [pid]})).await?.0, "bulk"),
        ] {
            let named_elsewhere = matches!(path, "merge" | "add to own");
            assert!(status == 404 || (named_elsewhere && status == 422), "{path}: {status}");
        }
        // The same email in another org is another person.
        person(&cell, &gus, json!({"name": "Globex's", "email": "p@acme.io"})).await?;
        let (_, page) = cell.get("/api/v1/contacts", Some(&gus)).await?;
        assert_eq!(page["meta"]["total"], 1);
        let (_, got) = cell.get(&format!("/api/v1/contacts/{pid}"), Some(&ann)).await?;
        assert_eq!((&got["name"], &got["company_id"]), (&json!("Ann's"), &json!(co)), "untouched; matched to its own org's company");
        Ok(())
    }
);
