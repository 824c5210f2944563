//! Recurring invoices: a schedule copies its template on each issue date with the next number,
//! once however many runs or instances try; copies are sent when it says so; paused schedules
//! make nothing; bad input and other orgs are refused.

use chrono::{Duration, Months, Utc};
use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{cell, id, org, user};

/// Enqueues the daily run for `day` on `cell` (run with `run_once`).
async fn enqueue(cell: &testcell::Cell, day: chrono::NaiveDate) -> anyhow::Result<()> {
    let tick = day
        .and_hms_opt(0, 30, 0)
        .unwrap_or_default()
        .and_utc()
        .to_rfc3339();
    let system = cell.ctx.db().system();
    cell.ctx
        .jobs()
        .enqueue(
            system.conn(),
            "finance.recurring",
            None,
            json!({"tick": tick}),
        )
        .await?;
    Ok(())
}

/// The invoices copied from `template`, oldest first.
async fn copies(
    cell: &testcell::Cell,
    token: &str,
    template: &Value,
) -> anyhow::Result<Vec<Value>> {
    let (_, all) = cell
        .get("/api/v1/invoices?limit=100&sort=created_at", Some(token))
        .await?;
    Ok(all["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["source_id"] == *template)
        .cloned()
        .collect())
}

db_test!(
    async fn schedules_issue_each_copy_once(db) {
        let one = cell(&db).await?;
        let two = cell(&db).await?;
        let acme = org(&one, "Acme").await?;
        let member = user(&one, "member@acme.test", acme, "member").await?;
        let today = Utc::now().date_naive();
        let (_, template) = one
            .post("/api/v1/invoices", Some(&member), json!({
                "due_date": (today + Duration::days(14)).to_string(),
                "line_items": [{"description": "Retainer", "unit_price": 200000}],
            }))
            .await?;
        let path = format!("/api/v1/invoices/{}/make-recurring", id(&template));

        // Refused: a frequency we do not know, a first issue in the past.
        let (status, out) = one.post(&path, Some(&member), json!({"frequency": "daily"})).await?;
        assert_eq!((status, out["error"]["details"]["fields"]["frequency"].is_string()), (422, true), "{out}");
        let (status, out) = one
            .post(&path, Some(&member), json!({"frequency": "monthly", "start_date": (today - Duration::days(1)).to_string()}))
            .await?;
        assert_eq!(status, 422, "{out}");

        let (status, schedule) = one
            .post(&path, Some(&member), json!({"frequency": "monthly", "start_date": today.to_string()}))
            .await?;
        assert_eq!(status, 201, "{schedule}");
        assert_eq!((&schedule["next_issue_date"], &schedule["enabled"]), (&json!(today.to_string()), &json!(true)));
        let (status, _) = one.post(&path, Some(&member), json!({"frequency": "weekly"})).await?;
        assert_eq!(status, 409, "one schedule an invoice");

        // Today's issue: made once, however often the job runs.
        enqueue(&one, today).await?;
        enqueue(&one, today).await?;
        while one.ctx.jobs().run_once(&one.ctx).await? > 0 {}
        let made = copies(&one, &member, &template["id"]).await?;
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!((&made[0]["issue_date"], &made[0]["due_date"], &made[0]["total"], &made[0]["status"]),
            (&json!(today.to_string()), &json!((today + Duration::days(14)).to_string()), &json!(200000), &json!("draft")));
        assert_ne!(made[0]["number"], template["number"]);

        // A month on, on two instances at once: one more.
        let next = today.checked_add_months(Months::new(1)).unwrap_or(today);
        enqueue(&one, next).await?;
        enqueue(&two, next).await?;
        let (a, b) = tokio::join!(one.ctx.jobs().run_once(&one.ctx), two.ctx.jobs().run_once(&two.ctx));
        a?;
        b?;
        while one.ctx.jobs().run_once(&one.ctx).await? > 0 {}
        let made = copies(&one, &member, &template["id"]).await?;
        assert_eq!(made.len(), 2, "{made:?}");
        let (_, list) = one.get("/api/v1/invoices/recurring", Some(&member)).await?;
        assert_eq!(list["meta"]["total"], 1, "{list}");
        let after = next.checked_add_months(Months::new(1)).unwrap_or(next);
        assert_eq!(list["data"][0]["next_issue_date"], after.to_string(), "{list}");

        // Paused: nothing; resumed with auto_send: the copy is sent (and owed).
        let sched = format!("/api/v1/invoices/recurring/{}", id(&schedule));
        let (status, paused) = one.patch(&sched, Some(&member), json!({"enabled": false})).await?;
        assert_eq!((status, &paused["enabled"]), (200, &json!(false)), "{paused}");
        enqueue(&one, after).await?;
        while one.ctx.jobs().run_once(&one.ctx).await? > 0 {}
        assert_eq!(copies(&one, &member, &template["id"]).await?.len(), 2);
        one.patch(&sched, Some(&member), json!({"enabled": true, "auto_send": true, "send_to": "ap@customer.test"})).await?;
        enqueue(&one, after).await?;
        while one.ctx.jobs().run_once(&one.ctx).await? > 0 {}
        let made = copies(&one, &member, &template["id"]).await?;
        assert_eq!((made.len(), &made[2]["status"]), (3, &json!("sent")), "{made:?}");
        let (_, tb) = one.get("/api/v1/finance/trial-balance", Some(&member)).await?;
        assert_eq!(crate::support::balance_of(&tb, "accounts_receivable", "USD"), 200000, "{tb}");

        // Another org's schedules are out of reach.
        let globex = org(&one, "Globex").await?;
        let mallory = user(&one, "mallory@globex.test", globex, "owner").await?;
        let (status, _) = one.patch(&sched, Some(&mallory), json!({"enabled": false})).await?;
        assert_eq!(status, 404);
        let (status, _) = one.post(&path, Some(&mallory), json!({"frequency": "weekly"})).await?;
        assert_eq!(status, 404);
        let (_, theirs) = one.get("/api/v1/invoices/recurring", Some(&mallory)).await?;
        assert_eq!(theirs["meta"]["total"], 0);
        Ok(())
    }
);
