//! Timers (one per user: starting another stops the first), stops that compute durations,
//! manual entries, the report by task and user, other orgs.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn one_timer_per_user_and_the_report_adds_up(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let (mia_id, max_id) = (me(&cell, &mia).await?, me(&cell, &max).await?);
        let t1 = task(&cell, &mia, json!({"title": "one"})).await?;
        let t2 = task(&cell, &mia, json!({"title": "two"})).await?;
        let timer = |t: &str, what: &str| format!("/api/v1/tasks/{t}/timer/{what}");

        let (status, first) = cell.post(&timer(&t1, "start"), Some(&mia), json!({})).await?;
        assert_eq!((status, &first["stopped"]), (201, &json!(null)), "{first}");
        let (status, again) = cell.post(&timer(&t1, "start"), Some(&mia), json!({})).await?;
        assert_eq!((status, &again["running"]["id"]), (201, &first["running"]["id"]), "the same timer runs on");
        let (status, second) = cell.post(&timer(&t2, "start"), Some(&mia), json!({})).await?;
        assert_eq!(status, 201, "{second}");
        assert_eq!(second["stopped"]["id"], first["running"]["id"], "starting another stopped the first");
        assert!(second["stopped"]["duration_seconds"].as_i64().is_some_and(|s| s >= 0));
        let (status, e) = cell.post(&timer(&t1, "stop"), Some(&mia), json!({})).await?;
        assert_eq!(status, 409, "{e}");
        // Max has his own timer.
        assert_eq!(cell.post(&timer(&t1, "start"), Some(&max), json!({})).await?.0, 201);
        let (status, stopped) = cell.post(&timer(&t2, "stop"), Some(&mia), json!({})).await?;
        assert_eq!((status, stopped["ended_at"].is_string()), (200, true), "{stopped}");

        // Manual entries: two hours on t1 yesterday, 30 minutes not billable.
        let y = chrono::Utc::now() - chrono::Duration::days(1);
        let at = |h: i64| (y + chrono::Duration::hours(h)).to_rfc3339();
        let (status, m) = cell.post("/api/v1/time-entries", Some(&mia), json!({"task_id": t1, "started_at": at(0), "ended_at": at(2), "description": "pairing"})).await?;
        assert_eq!((status, &m["duration_seconds"]), (201, &json!(7200)), "{m}");
        let (status, _) = cell.post("/api/v1/time-entries", Some(&max), json!({"task_id": t1, "started_at": at(3), "ended_at": (y + chrono::Duration::minutes(210)).to_rfc3339(), "billable": false})).await?;
        assert_eq!(status, 201);
        for bad in [
            json!({"task_id": t1, "started_at": at(2), "ended_at": at(1)}),
            json!({"task_id": t1, "started_at": at(0), "ended_at": (y + chrono::Duration::days(9)).to_rfc3339()}),
            json!({"task_id": uuid::Uuid::now_v7(), "started_at": at(0), "ended_at": at(1)}),
        ] {
            let (status, e) = cell.post("/api/v1/time-entries", Some(&mia), bad.clone()).await?;
            assert_eq!(status, 422, "{bad}: {e}");
        }

        let (status, r) = cell.get(&format!("/api/v1/time-entries?task={t1}&from={}", urlencode(&at(-1))), Some(&mia)).await?;
        assert_eq!(status, 200, "{r}");
        assert_eq!((&r["total_seconds"], &r["billable_seconds"]), (&json!(9000), &json!(7200)), "{r}");
        let by_user: Vec<(String, i64)> = r["by_user"].as_array().into_iter().flatten()
            .map(|u| (u["id"].as_str().unwrap_or_default().to_owned(), u["seconds"].as_i64().unwrap_or(-1))).collect();
        let mut expected = vec![(mia_id.clone(), 7200), (max_id.clone(), 1800)];
        expected.sort();
        assert_eq!(by_user, expected);
        // Max's running timer is listed, not counted.
        let (_, r) = cell.get(&format!("/api/v1/time-entries?user={max_id}"), Some(&mia)).await?;
        assert_eq!(r["entries"].as_array().map(Vec::len), Some(2));
        assert_eq!(r["total_seconds"], 1800);
        let (_, r) = cell.get("/api/v1/time-entries?limit=1", Some(&mia)).await?;
        assert_eq!((r["entries"].as_array().map(Vec::len), &r["more"]), (Some(1), &json!(true)));
        let (status, _) = cell.get(&format!("/api/v1/time-entries?from={}&to={}", urlencode(&at(1)), urlencode(&at(0))), Some(&mia)).await?;
        assert_eq!(status, 422, "a range backwards");
        assert_eq!(cell.get("/api/v1/time-entries?limit=0", Some(&mia)).await?.0, 422, "the document's minimum");
        let (status, r) = cell.get(&format!("/api/v1/time-entries?from={0}&to={0}", urlencode(&at(0))), Some(&mia)).await?;
        assert_eq!((status, &r["entries"]), (200, &json!([])), "an empty range holds nothing");

        // Another org sees none of it and cannot time these tasks.
        let (_, r) = cell.get("/api/v1/time-entries", Some(&gus)).await?;
        assert_eq!((&r["total_seconds"], &r["entries"]), (&json!(0), &json!([])));
        assert_eq!(cell.post(&timer(&t1, "start"), Some(&gus), json!({})).await?.0, 404);
        assert_eq!(cell.post("/api/v1/time-entries", Some(&gus), json!({"task_id": t1, "started_at": at(0), "ended_at": at(1)})).await?.0, 422);
        Ok(())
    }
);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
