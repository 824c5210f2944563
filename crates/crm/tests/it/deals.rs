//! Deals: the seeded pipeline, moves with probabilities and history, the board, the forecast
//! checked by hand, stage configuration, ownership, other orgs.

use serde_json::{Value, json};
use testkit::db_test;

use crate::support::*;

async fn deal(cell: &Cell, token: &str, body: Value) -> anyhow::Result<Value> {
    let (status, out) = cell.post("/api/v1/deals", Some(token), body).await?;
    anyhow::ensure!(status == 201, "deal: {status} {out}");
    Ok(out)
}

fn stage<'a>(pipeline: &'a Value, name: &str) -> &'a Value {
    pipeline["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

db_test!(
    async fn deals_move_through_the_pipeline_and_the_forecast_adds_up(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let globex = org(&cell, "Globex").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;
        let max = user(&cell, "max@acme.test", acme, "member").await?;
        let gus = user(&cell, "gus@globex.test", globex, "owner").await?;
        let ann = id(&person(&cell, &mia, json!({"name": "Ann", "email": "ann@initech.com"})).await?);

        // No pipeline until the first deal brings the cell's seed.
        let (_, none) = cell.get("/api/v1/pipelines", Some(&mia)).await?;
        assert_eq!(none, json!([]));
        let d1 = deal(&cell, &mia, json!({"title": "Big", "contact_id": ann, "value": 100_000, "currency": "usd"})).await?;
        let (_, pipes) = cell.get("/api/v1/pipelines", Some(&mia)).await?;
        let sales = pipes[0].clone();
        let names: Vec<&str> = sales["stages"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["Lead", "Qualified", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]);
        assert_eq!((&d1["stage_id"], &d1["probability"], &d1["currency"], &d1["owner_id"].is_string()),
                   (&stage(&sales, "Lead")["id"], &json!(10), &json!("USD"), &true), "{d1}");
        let d1 = id(&d1);

        let month_end = {
            use chrono::Datelike;
            let t = chrono::Utc::now().date_naive();
            chrono::NaiveDate::from_ymd_opt(t.year(), t.month(), 1).unwrap_or(t)
        };
        let d2 = id(&deal(&cell, &mia, json!({"title": "Mid", "contact_id": ann, "value": 50_000, "stage_id": stage(&sales, "Proposal")["id"], "expected_close_date": month_end})).await?);
        let d3 = id(&deal(&cell, &mia, json!({"title": "Euro", "contact_id": ann, "value": 20_000, "currency": "EUR", "stage_id": stage(&sales, "Negotiation")["id"]})).await?);
        let d4 = id(&deal(&cell, &mia, json!({"title": "Done", "contact_id": ann, "value": 7_000})).await?);

        // Moves: the stage's probability, or the one given; closing sets the date.
        let (status, moved) = cell.patch(&format!("/api/v1/deals/{d1}/move"), Some(&mia), json!({"stage_id": stage(&sales, "Qualified")["id"]})).await?;
        assert_eq!((status, &moved["probability"]), (200, &json!(25)), "{moved}");
        let (_, moved) = cell.patch(&format!("/api/v1/deals/{d1}/move"), Some(&mia), json!({"stage_id": stage(&sales, "Qualified")["id"], "probability": 40})).await?;
        assert_eq!(moved["probability"], 40);
        let (_, won) = cell.patch(&format!("/api/v1/deals/{d4}/move"), Some(&mia), json!({"stage_id": stage(&sales, "Closed Won")["id"]})).await?;
        assert_eq!((&won["probability"], won["actual_close_date"].is_string(), &won["stage_duration_days"]), (&json!(100), true, &json!(0)), "{won}");
        let changed = cell.events("crm.deal.stage_changed").await?;
        assert_eq!(changed.len(), 2, "a move to the same stage is not a change: {changed:?}");
        assert_eq!((&changed[1]["won"], &changed[1]["lost"]), (&json!(true), &json!(false)));

        // Forecast by hand (open deals only; USD and EUR apart):
        // USD: d1 100 000 x 40 % + d2 50 000 x 50 % = 40 000 + 25 000; this month: d2 only.
        let (status, f) = cell.get("/api/v1/deals/forecast", Some(&mia)).await?;
        assert_eq!(status, 200, "{f}");
        let usd = f.as_array().into_iter().flatten().find(|x| x["currency"] == "USD").cloned().unwrap_or_default();
        assert_eq!((&usd["total_pipeline_value"], &usd["weighted_value"], &usd["expected_revenue_this_month"]),
                   (&json!(150_000), &json!(65_000), &json!(25_000)), "{f}");
        let by_stage: Vec<(String, u64, i64)> = usd["deals_by_stage"].as_array().into_iter().flatten()
            .map(|s| (s["name"].as_str().unwrap_or_default().to_owned(), s["count"].as_u64().unwrap_or(9), s["value"].as_i64().unwrap_or(-1))).collect();
        assert_eq!(by_stage, [("Lead".to_owned(), 0, 0), ("Qualified".into(), 1, 100_000), ("Proposal".into(), 1, 50_000), ("Negotiation".into(), 0, 0)]);
        let eur = f.as_array().into_iter().flatten().find(|x| x["currency"] == "EUR").cloned().unwrap_or_default();
        assert_eq!((&eur["total_pipeline_value"], &eur["weighted_value"]), (&json!(20_000), &json!(15_000)));

        // The board: every stage in order, each deal in its column.
        let (_, board) = cell.get("/api/v1/deals/board", Some(&mia)).await?;
        let columns: Vec<(&str, usize)> = board["columns"].as_array().into_iter().flatten()
            .map(|c| (c["stage"]["name"].as_str().unwrap_or_default(), c["deals"].as_array().map_or(0, Vec::len))).collect();
        assert_eq!(columns, [("Lead", 0), ("Qualified", 1), ("Proposal", 1), ("Negotiation", 1), ("Closed Won", 1), ("Closed Lost", 0)]);

        // Stages are the admins' to configure; a stage holding deals cannot go; probabilities
        // flow to the deals that follow their stage (d2), not to those set by hand (d1).
        let sid = |n: &str| stage(&sales, n)["id"].clone();
        let keep = |n: &str, p: i32, closed: bool, won: bool| json!({"id": sid(n), "name": n, "probability": p, "is_closed": closed, "is_won": won});
        let (status, _) = cell.patch(&format!("/api/v1/pipelines/{}/stages", sales["id"].as_str().unwrap_or_default()), Some(&mia), json!({"stages": [keep("Lead", 10, false, false)]})).await?;
        assert_eq!(status, 403);
        let path = format!("/api/v1/pipelines/{}/stages", sales["id"].as_str().unwrap_or_default());
        let (status, e) = cell.patch(&path, Some(&boss), json!({"stages": [keep("Lead", 10, false, false)]})).await?;
        assert_eq!(status, 409, "{e}");
        let (status, p) = cell.patch(&path, Some(&boss), json!({"stages": [
            keep("Lead", 10, false, false), keep("Qualified", 30, false, false), keep("Proposal", 60, false, false),
            {"name": "Contract", "probability": 90, "color": "#00aa00"},
            keep("Negotiation", 75, false, false), keep("Closed Won", 100, true, true), keep("Closed Lost", 0, true, false)]})).await?;
        assert_eq!(status, 200, "{p}");
        assert_eq!(stage(&p, "Contract")["position"], 3.0);
        assert_eq!(cell.get(&format!("/api/v1/deals/{d2}"), Some(&mia)).await?.1["probability"], 60);
        assert_eq!(cell.get(&format!("/api/v1/deals/{d1}"), Some(&mia)).await?.1["probability"], 40);
        let (status, _) = cell.patch(&path, Some(&boss), json!({"stages": [{"name": "Won", "probability": 100, "is_won": true}]})).await?;
        assert_eq!(status, 422, "a won stage is closed");

        // A second pipeline; its stages are not the first one's.
        let (status, other) = cell.post("/api/v1/pipelines", Some(&boss), json!({"name": "Renewals", "stages": [{"name": "Open", "probability": 50}, {"name": "Renewed", "probability": 100, "is_closed": true, "is_won": true}]})).await?;
        assert_eq!(status, 201, "{other}");
        let (status, e) = cell.patch(&format!("/api/v1/deals/{d1}/move"), Some(&mia), json!({"stage_id": other["stages"][0]["id"]})).await?;
        assert_eq!(status, 422, "{e}");

        // Ownership: Max reads Mia's deals, cannot move or change them.
        assert_eq!(cell.get(&format!("/api/v1/deals/{d3}"), Some(&max)).await?.0, 200);
        assert_eq!(cell.patch(&format!("/api/v1/deals/{d3}/move"), Some(&max), json!({"stage_id": sid("Lead")})).await?.0, 403);
        assert_eq!(cell.patch(&format!("/api/v1/deals/{d3}"), Some(&max), json!({"value": 1})).await?.0, 403);

        // Bad input.
        for body in [json!({"title": "x", "contact_id": ann, "currency": "US"}), json!({"title": "x", "contact_id": ann, "value": -1}),
                     json!({"title": "x", "contact_id": uuid::Uuid::now_v7()}), json!({"title": "", "contact_id": ann})] {
            let (status, e) = cell.post("/api/v1/deals", Some(&mia), body.clone()).await?;
            assert_eq!(status, 422, "{body}: {e}");
        }

        // Another org: nothing is found; its own person is not a contact here.
        for (status, what) in [
            (cell.get(&format!("/api/v1/deals/{d1}"), Some(&gus)).await?.0, "read"),
            (cell.patch(&format!("/api/v1/deals/{d1}"), Some(&gus), json!({"value": 1})).await?.0, "update"),
            (cell.patch(&format!("/api/v1/deals/{d1}/move"), Some(&gus), json!({"stage_id": sid("Lead")})).await?.0, "move"),
            (cell.delete(&format!("/api/v1/deals/{d1}"), Some(&gus)).await?.0, "delete"),
            (cell.patch(&path, Some(&gus), json!({"stages": [keep("Lead", 10, false, false)]})).await?.0, "stages"),
            (cell.get(&format!("/api/v1/deals/forecast?pipeline_id={}", sales["id"].as_str().unwrap_or_default()), Some(&gus)).await?.0, "forecast"),
            (cell.get(&format!("/api/v1/deals/board?pipeline_id={}", sales["id"].as_str().unwrap_or_default()), Some(&gus)).await?.0, "board"),
        ] {
            assert_eq!(status, 404, "{what}");
        }
        let (status, _) = cell.post("/api/v1/deals", Some(&gus), json!({"title": "x", "contact_id": ann})).await?;
        assert_eq!(status, 422);
        let (_, list) = cell.get("/api/v1/deals", Some(&gus)).await?;
        assert_eq!(list["meta"]["total"], 0);
        let (_, list) = cell.get("/api/v1/deals?filter[currency]=USD&sort=value:desc", Some(&mia)).await?;
        let titles: Vec<&str> = list["data"].as_array().into_iter().flatten().filter_map(|d| d["title"].as_str()).collect();
        assert_eq!(titles, ["Big", "Mid", "Done"]);

        // The forecast follows every change (it is kept as running totals): the stages' new
        // probabilities (d2 at 60 %, d1 set by hand at 40 %), a value changed, a deal deleted, a
        // close date cleared.
        let usd_of = |f: &Value| f.as_array().into_iter().flatten().find(|x| x["currency"] == "USD")
            .map(|u| (u["total_pipeline_value"].clone(), u["weighted_value"].clone(), u["expected_revenue_this_month"].clone()));
        let (_, f) = cell.get("/api/v1/deals/forecast", Some(&mia)).await?;
        assert_eq!(usd_of(&f), Some((json!(150_000), json!(70_000), json!(30_000))), "{f}");
        assert_eq!(cell.patch(&format!("/api/v1/deals/{d2}"), Some(&mia), json!({"value": 80_000})).await?.0, 200);
        assert_eq!(cell.delete(&format!("/api/v1/deals/{d1}"), Some(&mia)).await?.0, 204);
        let (_, f) = cell.get("/api/v1/deals/forecast", Some(&mia)).await?;
        assert_eq!(usd_of(&f), Some((json!(80_000), json!(48_000), json!(48_000))), "{f}");
        assert_eq!(cell.patch(&format!("/api/v1/deals/{d2}"), Some(&mia), json!({"expected_close_date": null})).await?.0, 200);
        let (_, f) = cell.get("/api/v1/deals/forecast", Some(&mia)).await?;
        assert_eq!(usd_of(&f), Some((json!(80_000), json!(48_000), json!(0))), "{f}");
        // Moved to a closed stage, it leaves the forecast: USD has no open deal left.
        cell.patch(&format!("/api/v1/deals/{d2}/move"), Some(&mia), json!({"stage_id": sid("Closed Lost")})).await?;
        let (_, f) = cell.get("/api/v1/deals/forecast", Some(&mia)).await?;
        assert_eq!(usd_of(&f), None, "{f}");
        Ok(())
    }
);
