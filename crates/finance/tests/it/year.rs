//! A year of activity through the API, and the reports against figures computed by hand: twelve
//! monthly invoices (every other one paid), twelve monthly expenses and a bill.

use chrono::{Duration, Utc};
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, totals_match_lines, user};

db_test!(
    async fn a_seeded_year_reports_what_was_computed_by_hand(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let today = Utc::now().date_naive();
        for k in 0..12i64 {
            let issued = today - Duration::days(30 * k);
            // 100.00 + 10.00 k, at 10 % tax; due 30 days after issue (the default terms).
            let (status, inv) = cell
                .post("/api/v1/invoices", Some(&member), json!({
                    "issue_date": issued.to_string(),
                    "line_items": [{"description": format!("Month {k}"), "unit_price": 10000 + 1000 * k, "tax_rate": 10}],
                }))
                .await?;
            assert_eq!(status, 201, "{inv}");
            let (status, _) = cell.post(&format!("/api/v1/invoices/{}/send", id(&inv)), Some(&member), json!({})).await?;
            assert_eq!(status, 200);
            if k % 2 == 0 {
                let (status, paid) = cell
                    .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 11000 + 1100 * k, "method": "ach"}))
                    .await?;
                assert_eq!((status, &paid["invoice"]["status"]), (201, &json!("paid")), "{paid}");
            }
            let (_, rent) = cell
                .post("/api/v1/expenses", Some(&member), json!({"category": "rent", "amount": 5000, "expense_date": issued.to_string()}))
                .await?;
            let (status, _) = cell.post(&format!("/api/v1/expenses/{}/approve", id(&rent)), Some(&owner), json!({})).await?;
            assert_eq!(status, 200);
        }
        let (_, bill) = cell
            .post("/api/v1/bills", Some(&member), json!({"category": "software", "amount": 1200, "bill_date": (today - Duration::days(10)).to_string()}))
            .await?;
        cell.post(&format!("/api/v1/bills/{}/approve", id(&bill)), Some(&owner), json!({})).await?;

        // The year: revenue Σ(100 + 10k) = 1 860.00; expenses 12 × 50.00 + 12.00 = 612.00.
        let year = format!("from={}&to={today}", today - Duration::days(364));
        let (_, pl) = cell.get(&format!("/api/v1/finance/profit-loss?{year}"), Some(&member)).await?;
        assert_eq!(pl["currencies"], json!([{"currency": "USD", "revenue": 186000, "returns": 0, "net_revenue": 186000, "expenses": 61200, "net_profit": 124800}]), "{pl}");
        let (_, by) = cell.get(&format!("/api/v1/finance/expenses-by-category?{year}"), Some(&member)).await?;
        assert_eq!(by["categories"], json!([
            {"currency": "USD", "category": "rent", "amount": 60000},
            {"currency": "USD", "category": "software", "amount": 1200},
        ]), "{by}");
        // The last quarter (89 days): months 0–2, 330.00; three rents and the bill, 162.00.
        let quarter = format!("from={}&to={today}", today - Duration::days(89));
        let (_, q) = cell.get(&format!("/api/v1/finance/revenue?{quarter}"), Some(&member)).await?;
        assert_eq!(q["currencies"][0]["net_revenue"], 33000, "{q}");
        let (_, qpl) = cell.get(&format!("/api/v1/finance/profit-loss?{quarter}"), Some(&member)).await?;
        assert_eq!((&qpl["currencies"][0]["expenses"], &qpl["currencies"][0]["net_profit"]), (&json!(16200), &json!(16800)), "{qpl}");

        // Owed: the odd months. Month 1 is due today (current); month 3 sixty days ago (31–60);
        // months 5, 7, 9, 11 over ninety days ago. Totals with tax.
        let (_, aging) = cell.get("/api/v1/finance/ar-aging", Some(&member)).await?;
        assert_eq!(aging["currencies"], json!([{"currency": "USD", "current": 12100, "days_1_30": 0, "days_31_60": 14300,
            "days_61_90": 0, "days_90_plus": 79200, "total": 105600, "invoices": 6}]), "{aging}");
        // As of yesterday, read from the lines: the payments (made today) had not come, and
        // month 0 was not issued yet: months 1–11 owed, Σ 1.1 × (100 + 10k) = 1 936.00.
        let (_, before) = cell.get(&format!("/api/v1/finance/ar-aging?as_of={}", today - Duration::days(1)), Some(&member)).await?;
        assert_eq!(
            (&before["currencies"][0]["total"], &before["currencies"][0]["current"], &before["currencies"][0]["invoices"]),
            (&json!(193600), &json!(12100), &json!(11)),
            "{before}"
        );

        // Cash: the even months' payments, 6 × 110.00 + 11.00 × (0 + 2 + … + 10) = 990.00.
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&member)).await?;
        assert_eq!(crate::support::balance_of(&tb, "cash", "USD"), 99000, "{tb}");
        assert_eq!(tb["balanced"], true);
        totals_match_lines(&db).await?;
        Ok(())
    }
);
