//! Segments and bulk operations: a dynamic segment follows its rule as persons change (joined
//! and left logged), a static one is kept by hand, both are list filters; bulk claims are all or
//! nothing under the ownership policy.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

async fn run_jobs(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
    settle(cell).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(id)
        .collect()
}

db_test!(
    async fn dynamic_segments_follow_their_rule_and_log_who_joins_and_leaves(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mut leads = Vec::new();
        for i in 0..5 {
            leads.push(id(&person(&cell, &ann, json!({"name": format!("Lead {i}"), "source": "webinar"})).await?));
        }
        let client = id(&person(&cell, &ann, json!({"name": "Client", "type": "client", "source": "webinar"})).await?);

        // Made, then evaluated by its job: the five webinar leads.
        let (status, seg) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Webinar leads", "kind": "dynamic", "rule": "filter[type]=lead&filter[source]=webinar"})).await?;
        assert_eq!((status, &seg["member_count"]), (201, &json!(0)), "{seg}");
        let sid = id(&seg);
        run_jobs(&cell).await?;
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 5, "{seg}");
        assert!(seg["evaluated_at"].is_string());
        assert_eq!(cell.events("crm.segment.joined").await?.len(), 5);
        let members = format!("/api/v1/contacts?filter[segment_id]={sid}&limit=100");
        let (_, page) = cell.get(&members, Some(&ann)).await?;
        let mut got = ids(&page);
        got.sort();
        let mut want = leads.clone();
        want.sort();
        assert_eq!(got, want);

        // A lead converted leaves; a new webinar lead joins; the client's source change does
        // nothing; each in the person's own activity.
        let (status, _) = cell.post(&format!("/api/v1/contacts/{}/convert", leads[0]), Some(&ann), json!({})).await?;
        assert_eq!(status, 200);
        let late = id(&person(&cell, &ann, json!({"name": "Late", "source": "webinar"})).await?);
        cell.patch(&format!("/api/v1/contacts/{client}"), Some(&ann), json!({"source": "ads"})).await?;
        settle(&cell).await?;
        let left = cell.events("crm.segment.left").await?;
        assert_eq!(left, [json!({"segment_id": sid, "segment_name": "Webinar leads", "contact_id": leads[0]})]);
        let joined = cell.events("crm.segment.joined").await?;
        assert_eq!(joined.last().map(|j| j["contact_id"].clone()), Some(json!(late)));
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 5, "{seg}");
        let (_, feed) = cell.get(&format!("/api/v1/contacts/{}/activity", leads[0]), Some(&ann)).await?;
        assert!(feed["data"].as_array().into_iter().flatten().any(|e| e["name"] == "crm.segment.left"), "{feed}");

        // Tags are rules too: a tag added moves a person in, removed moves them out.
        let (status, tagged) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "VIP", "kind": "dynamic", "rule": "tags=vip"})).await?;
        assert_eq!(status, 201, "{tagged}");
        let vip_seg = id(&tagged);
        run_jobs(&cell).await?;
        let (_, tag) = cell.post("/api/v1/tags", Some(&boss), json!({"name": "VIP"})).await?;
        let (status, _) = cell.post(&format!("/api/v1/contacts/{client}/tags"), Some(&ann), json!({"tag_id": id(&tag)})).await?;
        assert_eq!(status, 201);
        settle(&cell).await?;
        let (_, page) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={vip_seg}"), Some(&ann)).await?;
        assert_eq!(ids(&page), std::slice::from_ref(&client));
        let (status, _) = cell.delete(&format!("/api/v1/contacts/{client}/tags/{}", id(&tag)), Some(&ann)).await?;
        assert_eq!(status, 204);
        settle(&cell).await?;
        let (_, page) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={vip_seg}"), Some(&ann)).await?;
        assert_eq!(ids(&page), Vec::<String>::new());

        // A changed rule is evaluated again whole: the converted one is back as a client.
        let (status, _) = cell.patch(&format!("/api/v1/segments/{sid}"), Some(&ann), json!({"rule": "filter[source]=webinar"})).await?;
        assert_eq!(status, 200);
        run_jobs(&cell).await?;
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 6, "the five webinar leads (one now a client), the late one: {seg}");

        // Bad rules and names: 422 naming the field; a second of a name: 409.
        for (body, field) in [
            (json!({"name": "X", "kind": "dynamic", "rule": "filter[nope]=1"}), "rule"),
            (json!({"name": "X", "kind": "dynamic", "rule": "page=2"}), "rule"),
            (json!({"name": "X", "kind": "dynamic", "rule": format!("filter[segment_id]={sid}")}), "rule"),
            (json!({"name": "X", "kind": "dynamic"}), "rule"),
            (json!({"name": "X", "kind": "static", "rule": "tags=a"}), "rule"),
            (json!({"name": "X", "kind": "smart"}), "kind"),
            (json!({"name": " ", "kind": "static"}), "name"),
        ] {
            let (status, e) = cell.post("/api/v1/segments", Some(&ann), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
            assert!(e["error"]["details"].to_string().contains(field), "{body} -> {e}");
        }
        let (status, _) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "VIP", "kind": "static"})).await?;
        assert_eq!(status, 409);

        // Only its creator or an admin changes a segment; another org sees none of it.
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        assert_eq!(cell.delete(&format!("/api/v1/segments/{sid}"), Some(&bob)).await?.0, 403);
        let globex = org(&cell, "Globex").await?;
        let eve = user(&cell, "eve@globex.test", globex, "admin").await?;
        assert_eq!(cell.get(&format!("/api/v1/segments/{sid}"), Some(&eve)).await?.0, 404);
        let (_, theirs) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={sid}"), Some(&eve)).await?;
        assert_eq!(theirs["data"], json!([]));
        assert_eq!(cell.delete(&format!("/api/v1/segments/{sid}"), Some(&boss)).await?.0, 204);
        Ok(())
    }
);

db_test!(
    async fn static_segments_and_bulk_operations_are_all_or_nothing(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let mut pool = Vec::new();
        for i in 0..30 {
            pool.push(id(&person(&cell, &mia, json!({"name": format!("P{i}"), "source": if i < 20 { "fair" } else { "web" }})).await?));
        }
        let theirs = id(&person(&cell, &max, json!({"name": "Max's", "source": "fair", "claim": true})).await?);

        // Mia claims the fair's unclaimed twenty by filter... but Max's is among the matches:
        // refused whole, naming it, nothing claimed.
        let (status, e) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "claim", "filter": "filter[source]=fair"})).await?;
        assert_eq!((status, &e["error"]["details"]["contact_id"]), (409, &json!(theirs)), "{e}");
        let (_, mine) = cell.get("/api/v1/contacts?filter[owner_id.ne]=00000000-0000-0000-0000-000000000000&limit=100", Some(&mia)).await?;
        assert_eq!(mine["meta"]["total"], 1, "only Max's is claimed: {mine}");
        // By ids: done, each claim published.
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "claim", "ids": pool[..20]})).await?;
        assert_eq!((status, &done["count"]), (200, &json!(20)), "{done}");
        assert_eq!(cell.events("crm.contact.claimed").await?.len(), 21);

        // A static segment by hand and in bulk; a target for the person list.
        let (_, seg) = cell.post("/api/v1/segments", Some(&mia), json!({"name": "Fair follow-up", "kind": "static"})).await?;
        let sid = id(&seg);
        let (status, seg) = cell.post(&format!("/api/v1/segments/{sid}/members"), Some(&mia), json!({"contact_ids": [pool[0], pool[1], pool[0]]})).await?;
        assert_eq!((status, &seg["member_count"]), (200, &json!(2)), "{seg}");
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "add_to_segment", "segment_id": sid, "filter": "filter[source]=web"})).await?;
        assert_eq!((status, &done["count"]), (200, &json!(10)), "{done}");
        let (_, page) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={sid}&limit=100"), Some(&max)).await?;
        assert_eq!(page["meta"]["total"], 12);
        let (status, _) = cell.delete(&format!("/api/v1/segments/{sid}/members/{}", pool[0]), Some(&mia)).await?;
        assert_eq!(status, 204);
        assert_eq!(cell.delete(&format!("/api/v1/segments/{sid}/members/{}", pool[0]), Some(&mia)).await?.0, 404);
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&mia)).await?;
        assert_eq!(seg["member_count"], 11);
        assert_eq!(cell.events("crm.segment.left").await?.len(), 1);
        let (status, _) = cell.post(&format!("/api/v1/segments/{sid}/members"), Some(&mia), json!({"contact_ids": [uuid::Uuid::now_v7()]})).await?;
        assert_eq!(status, 422);

        // Bad bulk requests change nothing.
        for body in [json!({"action": "claim"}), json!({"action": "claim", "ids": [pool[25]], "filter": "filter[source]=web"}),
                     json!({"action": "explode", "ids": [pool[25]]}), json!({"action": "add_to_segment", "ids": [pool[25]]}),
                     json!({"action": "claim", "filter": "filter[nope]=1"}), json!({"action": "claim", "ids": []})] {
            let (status, e) = cell.post("/api/v1/contacts/bulk", Some(&mia), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
        }
        // Tags in bulk: any member who reads the persons (as on one); a missing tag is named.
        let (_, tag) = cell.post("/api/v1/tags", Some(&max), json!({"name": "fair26"})).await?;
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&max), json!({"action": "tag", "tag_id": id(&tag), "filter": "filter[source]=web"})).await?;
        assert_eq!((status, &done["count"]), (200, &json!(10)), "{done}");
        let (_, tagged) = cell.get("/api/v1/contacts?tags=fair26&limit=100", Some(&mia)).await?;
        assert_eq!(tagged["meta"]["total"], 10);
        assert_eq!(cell.events("tag.added").await?.len(), 10);
        for body in [json!({"action": "tag", "ids": [pool[0]]}), json!({"action": "tag", "tag_id": uuid::Uuid::now_v7(), "ids": [pool[0]]}),
                     json!({"action": "tag", "tag_id": id(&tag), "ids": [uuid::Uuid::now_v7()]})] {
            let (status, e) = cell.post("/api/v1/contacts/bulk", Some(&max), body.clone()).await?;
            assert_eq!(status, 422, "{body} -> {e}");
        }
        // Owners given in bulk: admins only, to a member of the org.
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let (_, me) = cell.get("/api/v1/users/me", Some(&max)).await?;
        let max_id = id(&me);
        let assign = json!({"action": "assign", "owner_id": max_id, "ids": pool[2..5]});
        assert_eq!(cell.post("/api/v1/contacts/bulk", Some(&mia), assign.clone()).await?.0, 403);
        let (status, _) = cell.post("/api/v1/contacts/bulk", Some(&boss), json!({"action": "assign", "owner_id": uuid::Uuid::now_v7(), "ids": [pool[2]]})).await?;
        assert_eq!(status, 422);
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&boss), assign).await?;
        assert_eq!((status, &done["count"]), (200, &json!(3)), "{done}");
        let (_, got) = cell.get(&format!("/api/v1/contacts/{}", pool[3]), Some(&mia)).await?;
        assert_eq!(got["owner_id"], json!(max_id));

        // Bulk delete to the trash: Max may not delete Mia's.
        let (status, _) = cell.post("/api/v1/contacts/bulk", Some(&max), json!({"action": "delete", "ids": [pool[1], pool[25]]})).await?;
        assert_eq!(status, 403);
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "delete", "ids": [pool[1], pool[25]]})).await?;
        assert_eq!((status, &done["count"]), (200, &json!(2)));
        assert_eq!(cell.get(&format!("/api/v1/contacts/{}", pool[1]), Some(&mia)).await?.0, 404);
        Ok(())
    }
);

db_test!(
    async fn a_filter_matching_more_than_a_batch_runs_as_a_job_batch_by_batch(db) {
        let toml = format!("{OUTREACH}bulk_batch = 4\n");
        let cell = cell_with(&db, &toml).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        // Ten from the fair, in id order; Max claims the seventh.
        let mut fair = Vec::new();
        for i in 0..10 {
            fair.push(id(&person(&cell, &mia, json!({"name": format!("F{i}"), "source": "fair"})).await?));
        }
        cell.post(&format!("/api/v1/contacts/{}/claim", fair[6]), Some(&max), json!({})).await?;

        // Ten match, more than a batch of 4: a job (202). Batch 1 (F0–F3) is claimed; batch 2
        // holds Max's and is refused whole (F4, F5 stay in the pool); the job says so.
        let (status, job) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "claim", "filter": "filter[source]=fair"})).await?;
        assert_eq!((status, &job["status"], &job["total"]), (202, &json!("queued"), &json!(10)), "{job}");
        let progress = format!("/api/v1/contacts/bulk/{}", id(&job));
        run_jobs(&cell).await?;
        let (status, job) = cell.get(&progress, Some(&mia)).await?;
        assert_eq!((status, &job["status"], &job["done"], &job["percent"]), (200, &json!("failed"), &json!(4), &json!(40)), "{job}");
        assert_eq!(job["failed_contact_id"], json!(fair[6]));
        assert!(job["error"].as_str().is_some_and(|e| e.contains("another member")), "{job}");
        let owner = |i: usize| {
            let (cell, mia, who) = (&cell, &mia, fair[i].clone());
            async move { Ok::<_, anyhow::Error>(cell.get(&format!("/api/v1/contacts/{who}"), Some(mia)).await?.1["owner_id"].clone()) }
        };
        assert!(owner(3).await?.is_string() && owner(4).await?.is_null() && owner(5).await?.is_null());

        // Only its creator or an admin follows it; another org does not find it.
        assert_eq!(cell.get(&progress, Some(&max)).await?.0, 403);
        assert_eq!(cell.get(&progress, Some(&boss)).await?.0, 200);
        assert_eq!(cell.get(&progress, Some(&gus)).await?.0, 404);

        // Max lets go; run again, every batch passes (those Mia holds already stay hers).
        cell.post(&format!("/api/v1/contacts/{}/release", fair[6]), Some(&max), json!({})).await?;
        let (_, job) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "claim", "filter": "filter[source]=fair"})).await?;
        let progress = format!("/api/v1/contacts/bulk/{}", id(&job));
        run_jobs(&cell).await?;
        let (_, job) = cell.get(&progress, Some(&mia)).await?;
        assert_eq!((&job["status"], &job["done"], &job["percent"]), (&json!("completed"), &json!(10), &json!(100)), "{job}");
        let (_, mine) = cell.get("/api/v1/contacts?filter[owner_id.ne]=00000000-0000-0000-0000-000000000000&limit=100", Some(&mia)).await?;
        assert_eq!(mine["meta"]["total"], 10);
        // Four or fewer: at once, as before.
        let (status, done) = cell.post("/api/v1/contacts/bulk", Some(&mia), json!({"action": "release", "filter": "search=F0"})).await?;
        assert_eq!((status, &done["count"]), (200, &json!(1)), "{done}");
        Ok(())
    }
);

db_test!(
    async fn a_rule_relative_to_now_is_evaluated_again_as_time_passes(db) {
        use sea_orm::{ConnectionTrait, Statement};
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let fresh = id(&person(&cell, &ann, json!({"name": "Fresh"})).await?);
        let old = id(&person(&cell, &ann, json!({"name": "Old"})).await?);

        // A time relative to now is a list filter too; an unknown unit is refused.
        let (status, page) = cell.get("/api/v1/contacts?filter[created_at.gte]=now-7d", Some(&ann)).await?;
        assert_eq!((status, ids(&page).len()), (200, 2), "{page}");
        let (status, _) = cell.get("/api/v1/contacts?filter[created_at.gte]=now-7y", Some(&ann)).await?;
        assert_eq!(status, 400);

        let rule = json!({"name": "Added this week", "kind": "dynamic", "rule": "filter[created_at.gte]=now-7d"});
        let (status, seg) = cell.post("/api/v1/segments", Some(&ann), rule).await?;
        assert_eq!(status, 201, "{seg}");
        let sid = id(&seg);
        let (_, still) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Leads", "kind": "dynamic", "rule": "filter[type]=lead"})).await?;
        run_jobs(&cell).await?;
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 2, "{seg}");
        let (_, still) = cell.get(&format!("/api/v1/segments/{}", id(&still)), Some(&ann)).await?;

        // Eight days pass for one of them: its row is backdated, and no event says so.
        let system = cell.ctx.db().system();
        let backdated = system
            .conn()
            .execute_raw(Statement::from_sql_and_values(
                system.backend(),
                "UPDATE crm_contacts SET created_at = $1 WHERE id = $2",
                [(chrono::Utc::now() - chrono::Duration::days(8)).into(), uuid::Uuid::parse_str(&old)?.into()],
            ))
            .await?;
        assert_eq!(backdated.rows_affected(), 1);
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 2, "nothing re-evaluates it before the sweep");

        // The hourly sweep evaluates relative rules again: Old leaves, Fresh stays; a rule that
        // is not relative is left alone.
        cell.ctx.jobs().enqueue(system.conn(), "crm.relative_segments", None, json!({"tick": chrono::Utc::now().to_rfc3339()})).await?;
        run_jobs(&cell).await?;
        let (_, seg) = cell.get(&format!("/api/v1/segments/{sid}"), Some(&ann)).await?;
        assert_eq!(seg["member_count"], 1, "{seg}");
        let left = cell.events("crm.segment.left").await?;
        assert_eq!(left, [json!({"segment_id": sid, "segment_name": "Added this week", "contact_id": old})]);
        let (_, page) = cell.get(&format!("/api/v1/contacts?filter[segment_id]={sid}"), Some(&ann)).await?;
        assert_eq!(ids(&page), [fresh]);
        let (_, leads) = cell.get(&format!("/api/v1/segments/{}", id(&still)), Some(&ann)).await?;
        assert_eq!(leads["evaluated_at"], still["evaluated_at"], "a rule not relative to now was swept");
        Ok(())
    }
);

db_test!(
    async fn rules_over_last_activity_and_fit_follow_interactions_and_scorings(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let cy = id(&person(&cell, &ann, json!({"name": "Cy", "claim": true})).await?);
        let dee = id(&person(&cell, &ann, json!({"name": "Dee", "claim": true})).await?);
        let eve = id(&person(&cell, &ann, json!({"name": "Eve"})).await?);
        let log = async |who: &str, ago: chrono::Duration| {
            let at = (chrono::Utc::now() - ago).to_rfc3339();
            cell.post(&format!("/api/v1/contacts/{who}/interactions"), Some(&ann), json!({"type": "call", "occurred_at": at})).await
        };

        // Cy last heard from 40 days ago (then an older call: the latest counts), Dee an hour
        // ago, Eve never.
        assert_eq!(log(&cy, chrono::Duration::days(40)).await?.0, 201);
        assert_eq!(log(&cy, chrono::Duration::days(90)).await?.0, 201);
        assert_eq!(log(&dee, chrono::Duration::hours(1)).await?.0, 201);
        let (_, person) = cell.get(&format!("/api/v1/contacts/{cy}"), Some(&ann)).await?;
        let last = person["last_activity_at"].as_str().map(chrono::DateTime::parse_from_rfc3339);
        let forty = chrono::Utc::now() - chrono::Duration::days(40);
        assert!(matches!(last, Some(Ok(t)) if (t.with_timezone(&chrono::Utc) - forty).num_minutes().abs() < 5), "{person}");
        let (_, person) = cell.get(&format!("/api/v1/contacts/{eve}"), Some(&ann)).await?;
        assert!(person["last_activity_at"].is_null() && person["fit_score"].is_null(), "{person}");
        let (status, page) = cell.get("/api/v1/contacts?filter[last_activity_at.gte]=now-60d&sort=last_activity_at:desc", Some(&ann)).await?;
        assert_eq!(status, 200, "{page}");
        assert_eq!(ids(&page), [dee.clone(), cy.clone()]);

        // "Gone quiet": contacted, but not for 30 days. Cy joins; a call today takes Cy out
        // again (the interaction's event re-evaluates the person).
        let (status, quiet) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Gone quiet", "kind": "dynamic", "rule": "filter[last_activity_at.lt]=now-30d"})).await?;
        assert_eq!(status, 201, "{quiet}");
        let quiet = id(&quiet);
        run_jobs(&cell).await?;
        let members = async |sid: &str| cell.get(&format!("/api/v1/contacts?filter[segment_id]={sid}"), Some(&ann)).await;
        assert_eq!(ids(&members(&quiet).await?.1), [cy.as_str()]);
        assert_eq!(log(&cy, chrono::Duration::zero()).await?.0, 201);
        run_jobs(&cell).await?;
        assert_eq!(ids(&members(&quiet).await?.1), Vec::<String>::new());

        // Fit: the best current score over products. Dee at 80 joins "Good fit"; re-scored at 20,
        // leaves; a better score for another product counts.
        let criteria = "/api/v1/scoring/criteria";
        let (_, size) = cell.post(criteria, Some(&boss), json!({"product": "enterprise", "name": "Size", "weight": 1})).await?;
        let (_, seats) = cell.post(criteria, Some(&boss), json!({"product": "starter", "name": "Seats", "weight": 1})).await?;
        let score = async |who: &str, product: &str, criterion: &Value, score: i32| {
            cell.post(&format!("/api/v1/contacts/{who}/fit"), Some(&ann), json!({"product": product, "scores": [{"criterion_id": id(criterion), "score": score}]})).await
        };
        let (status, fit) = score(&dee, "enterprise", &size, 80).await?;
        assert_eq!(status, 200, "{fit}");
        let (status, good) = cell.post("/api/v1/segments", Some(&ann), json!({"name": "Good fit", "kind": "dynamic", "rule": "filter[fit_score.gte]=70"})).await?;
        assert_eq!(status, 201, "{good}");
        let good = id(&good);
        run_jobs(&cell).await?;
        assert_eq!(ids(&members(&good).await?.1), [dee.as_str()]);
        score(&dee, "enterprise", &size, 20).await?;
        run_jobs(&cell).await?;
        assert_eq!(ids(&members(&good).await?.1), Vec::<String>::new());
        score(&dee, "starter", &seats, 90).await?;
        run_jobs(&cell).await?;
        assert_eq!(ids(&members(&good).await?.1), [dee.as_str()]);
        let (_, person) = cell.get(&format!("/api/v1/contacts/{dee}"), Some(&ann)).await?;
        assert_eq!(person["fit_score"], 90, "{person}");

        // Merged, the kept person carries the history of both: Eve takes Dee's activity and fit.
        let (status, merged) = cell.post(&format!("/api/v1/contacts/{eve}/merge"), Some(&ann), json!({"from_id": dee})).await?;
        assert_eq!(status, 200, "{merged}");
        assert_eq!(merged["fit_score"], 90, "{merged}");
        assert!(merged["last_activity_at"].is_string(), "{merged}");
        Ok(())
    }
);
