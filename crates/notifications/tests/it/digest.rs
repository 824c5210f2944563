//! Digests: one email per period with everything held for it, sent once however often the
//! period's job runs; daily ones at 08:00 in the user's time zone, which follows their profile.

use chrono::{DateTime, Utc};
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, item, mailed, mailed_with, org, settle, user};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

db_test!(
    async fn a_digest_goes_once_per_period_with_everything_held_for_it(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let ann = user(&cell, "ann@acme.test", acme, "member").await?;
        let bob = user(&cell, "bob@acme.test", acme, "member").await?;
        let cid = user(&cell, "cid@acme.test", acme, "member").await?;
        // Ann lives in Tokyo (UTC+9): her daily digest goes at 23:00 UTC.
        let (status, _) = cell.patch("/api/v1/users/me", Some(&ann), json!({"timezone": "Asia/Tokyo"})).await?;
        assert_eq!(status, 200);
        for (token, digest) in [(&ann, "daily"), (&cid, "hourly")] {
            let (status, _) = cell.patch("/api/v1/notification-preferences", Some(token), json!({"digest": digest})).await?;
            assert_eq!(status, 200);
        }
        for (owner, name) in [(&ann, "One"), (&ann, "Two"), (&cid, "Three")] {
            let id = item(&cell, owner, name).await?;
            cell.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        }
        settle(&cell).await?;
        assert!(mailed(&cell).await?.is_empty(), "held for the digests");

        // 08:00 UTC, then 09:00: the hourly digest only (it is 17:00 and 18:00 in Tokyo).
        let jobs = cell.ctx.jobs();
        jobs.tick_schedules(cell.ctx.db(), at("2026-12-05T07:59:00Z")).await?;
        jobs.tick_schedules(cell.ctx.db(), at("2026-12-05T08:01:00Z")).await?;
        jobs.tick_schedules(cell.ctx.db(), at("2026-12-05T09:01:00Z")).await?;
        settle(&cell).await?;
        assert_eq!(mailed_with(&cell, "notifications.digest").await?, ["cid@acme.test"]);

        // 23:00 UTC is 08:00 the next morning in Tokyo: ann's daily one, both items in it; cid
        // has nothing new.
        jobs.tick_schedules(cell.ctx.db(), at("2026-12-05T22:59:00Z")).await?;
        jobs.tick_schedules(cell.ctx.db(), at("2026-12-05T23:01:00Z")).await?;
        settle(&cell).await?;
        assert_eq!(mailed_with(&cell, "notifications.digest").await?, ["cid@acme.test", "ann@acme.test"]);

        // The same tick's job again (another instance, a retry): nothing more is sent.
        let db = cell.ctx.db().system();
        jobs.enqueue(db.conn(), "notifications.send_digests", None, json!({"tick": "2026-12-05T23:00:00Z"})).await?;
        settle(&cell).await?;
        assert_eq!(mailed_with(&cell, "notifications.digest").await?.len(), 2);

        // Ann moves to Paris (UTC+1) and has news. Tokyo's 08:00 no longer sends her digest;
        // Paris's does, eight hours later.
        let (status, _) = cell.patch("/api/v1/users/me", Some(&ann), json!({"timezone": "Europe/Paris"})).await?;
        assert_eq!(status, 200);
        let id = item(&cell, &ann, "Four").await?;
        cell.patch(&format!("/api/v1/items/{id}"), Some(&bob), json!({"status": "done"})).await?;
        settle(&cell).await?;
        for job_tick in ["2026-12-06T23:00:00Z", "2026-12-07T06:00:00Z"] {
            jobs.enqueue(db.conn(), "notifications.send_digests", None, json!({ "tick": job_tick })).await?;
            settle(&cell).await?;
        }
        assert_eq!(mailed_with(&cell, "notifications.digest").await?.len(), 2, "not at Tokyo's 08:00");
        jobs.enqueue(db.conn(), "notifications.send_digests", None, json!({"tick": "2026-12-07T07:00:00Z"})).await?;
        settle(&cell).await?;
        assert_eq!(mailed_with(&cell, "notifications.digest").await?, ["cid@acme.test", "ann@acme.test", "ann@acme.test"]);
        Ok(())
    }
);
