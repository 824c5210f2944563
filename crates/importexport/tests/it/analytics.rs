//! Counts for dashboards: a total, per status, per day/week/month, with the list filters, per
//! org, and refusals for what cannot be counted.

use serde_json::json;
use testkit::db_test;

use crate::support::{cell, org, user};

db_test!(
    async fn counts_follow_the_list_filters_and_stay_in_the_org(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let other = org(&cell, "Other").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let outsider = user(&cell, "owner@other.test", other, "owner").await?;
        for (i, done) in [(1, true), (2, true), (3, false), (4, false), (5, false)] {
            let (_, item) = cell.post("/api/v1/items", Some(&member), json!({"name": format!("Item {i}")})).await?;
            if done {
                let id = item["id"].as_str().unwrap_or_default();
                cell.patch(&format!("/api/v1/items/{id}"), Some(&member), json!({"status": "done"})).await?;
            }
        }
        cell.post("/api/v1/items", Some(&outsider), json!({"name": "Theirs"})).await?;

        let (status, total) = cell.get("/api/v1/analytics/count?entity=template_item", Some(&viewer)).await?;
        assert_eq!((status, &total["total"]), (200, &json!(5)), "{total}");
        let (_, done) = cell.get("/api/v1/analytics/count?entity=template_item&filter[status]=done", Some(&viewer)).await?;
        assert_eq!(done["total"], 2, "{done}");
        let (_, groups) = cell.get("/api/v1/analytics/group?entity=template_item&field=status", Some(&viewer)).await?;
        assert_eq!(groups["buckets"], json!([{"key": "done", "count": 2}, {"key": "open", "count": 3}]), "{groups}");
        let (_, searched) = cell.get("/api/v1/analytics/group?entity=template_item&field=status&search=item 1", Some(&viewer)).await?;
        assert_eq!(searched["buckets"], json!([{"key": "done", "count": 1}]), "{searched}");

        let today = chrono::Utc::now().date_naive();
        let monday = today - chrono::Duration::days(i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
        let first = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1);
        for (interval, key) in [("day", today.to_string()), ("week", monday.to_string()), ("month", first.map(|d| d.to_string()).unwrap_or_default())] {
            let (status, series) = cell
                .get(&format!("/api/v1/analytics/timeseries?entity=template_item&interval={interval}"), Some(&viewer))
                .await?;
            assert_eq!(status, 200, "{series}");
            assert_eq!(series["buckets"], json!([{"key": key, "count": 5}]), "{interval}: {series}");
        }

        let (_, theirs) = cell.get("/api/v1/analytics/count?entity=template_item", Some(&outsider)).await?;
        assert_eq!(theirs["total"], 1, "another org counts its own: {theirs}");
        for path in [
            "/api/v1/analytics/count?entity=spaceship",
            "/api/v1/analytics/group?entity=template_item&field=notes",
            "/api/v1/analytics/timeseries?entity=template_item&date=name",
        ] {
            let (status, body) = cell.get(path, Some(&viewer)).await?;
            assert_eq!(status, 404, "{path}: {body}");
        }
        let (status, _) = cell.get("/api/v1/analytics/timeseries?entity=template_item&interval=year", Some(&viewer)).await?;
        assert_eq!(status, 400);
        let (status, _) = cell.get("/api/v1/analytics/count?entity=template_item", None).await?;
        assert_eq!(status, 401);
        Ok(())
    }
);
