//! Expenses: submitted by members, approved (not by their submitter) or rejected by admins,
//! reimbursed; posted to the ledger on approval and payment; the reports by category and the
//! profit and loss read them; events published for the approvers and the submitter.

use chrono::{Duration, Utc};
use serde_json::json;
use testkit::db_test;

use crate::support::{balance_of, cell, id, org, user};

db_test!(
    async fn expenses_are_submitted_decided_reimbursed_and_reported(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let admin = user(&cell, "admin@acme.test", acme, "admin").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let today = Utc::now().date_naive();

        let (status, travel) = cell
            .post("/api/v1/expenses", Some(&member), json!({"category": " Travel ", "amount": 45000, "vendor": "Rail Co", "description": "Client visit"}))
            .await?;
        assert_eq!(status, 201, "{travel}");
        assert_eq!((&travel["category"], &travel["status"], &travel["currency"]), (&json!("travel"), &json!("pending"), &json!("USD")));
        let (_, software) = cell
            .post("/api/v1/expenses", Some(&member), json!({"category": "software", "amount": 12000, "expense_date": (today - Duration::days(3)).to_string()}))
            .await?;
        let (_, rejected) = cell
            .post("/api/v1/expenses", Some(&member), json!({"amount": 999}))
            .await?;
        assert_eq!(rejected["category"], "other");

        // Refused: viewers, a future day, a bad category, nothing spent.
        let (status, _) = cell.post("/api/v1/expenses", Some(&viewer), json!({"amount": 1})).await?;
        assert_eq!(status, 403);
        for (body, field) in [
            (json!({"amount": 1, "expense_date": (today + Duration::days(1)).to_string()}), "expense_date"),
            (json!({"amount": 1, "category": "a/b"}), "category"),
            (json!({"amount": 0}), "amount"),
        ] {
            let (status, out) = cell.post("/api/v1/expenses", Some(&member), body).await?;
            assert_eq!((status, out["error"]["details"]["fields"][field].is_string()), (422, true), "{out}");
        }

        // Decisions are for admins, and not on their own expenses.
        let approve = |e: &serde_json::Value| format!("/api/v1/expenses/{}/approve", id(e));
        let (status, _) = cell.post(&approve(&travel), Some(&member), json!({})).await?;
        assert_eq!(status, 403);
        let (_, own) = cell.post("/api/v1/expenses", Some(&admin), json!({"amount": 500})).await?;
        let (status, out) = cell.post(&approve(&own), Some(&admin), json!({})).await?;
        assert_eq!(status, 403, "not one's own: {out}");
        let (status, ok) = cell.post(&approve(&travel), Some(&admin), json!({})).await?;
        assert_eq!((status, &ok["status"]), (200, &json!("approved")), "{ok}");
        let (status, _) = cell.post(&approve(&travel), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "approved once");
        cell.post(&approve(&software), Some(&owner), json!({})).await?;
        let (status, no) = cell
            .post(&format!("/api/v1/expenses/{}/reject", id(&rejected)), Some(&owner), json!({"reason": "No receipt"}))
            .await?;
        assert_eq!((status, &no["status"], &no["reason"]), (200, &json!("rejected"), &json!("No receipt")), "{no}");
        let (status, _) = cell.post(&approve(&rejected), Some(&owner), json!({})).await?;
        assert_eq!(status, 409);

        // Approved: owed to the submitter; reimbursed: paid.
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&viewer)).await?;
        assert_eq!(
            (balance_of(&tb, "expenses", "USD"), balance_of(&tb, "reimbursements_payable", "USD"), &tb["balanced"]),
            (57000, -57000, &json!(true)),
            "{tb}"
        );
        let (status, paid) = cell.post(&format!("/api/v1/expenses/{}/reimburse", id(&travel)), Some(&owner), json!({})).await?;
        assert_eq!((status, &paid["status"]), (200, &json!("reimbursed")), "{paid}");
        let (status, _) = cell.post(&format!("/api/v1/expenses/{}/reimburse", id(&rejected)), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "only an approved expense is paid");
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&viewer)).await?;
        assert_eq!(
            (balance_of(&tb, "cash", "USD"), balance_of(&tb, "reimbursements_payable", "USD")),
            (-45000, -12000),
            "{tb}"
        );

        crate::support::totals_match_lines(&db).await?;
        // Reports: by category, the largest first; the profit and loss counts them.
        let period = format!("from={}&to={}", today - Duration::days(30), today);
        let (status, by) = cell.get(&format!("/api/v1/finance/expenses-by-category?{period}"), Some(&viewer)).await?;
        assert_eq!(status, 200, "{by}");
        assert_eq!(by["categories"], json!([
            {"currency": "USD", "category": "travel", "amount": 45000},
            {"currency": "USD", "category": "software", "amount": 12000},
        ]));
        let (_, pl) = cell.get(&format!("/api/v1/finance/profit-loss?{period}"), Some(&viewer)).await?;
        assert_eq!(pl["currencies"], json!([{"currency": "USD", "revenue": 0, "returns": 0, "net_revenue": 0, "expenses": 57000, "net_profit": -57000}]), "{pl}");

        // Lists and events.
        let (_, pending) = cell.get("/api/v1/expenses?filter[status]=pending", Some(&viewer)).await?;
        assert_eq!(pending["meta"]["total"], 1, "the admin's own: {pending}");
        assert_eq!(cell.events("finance.expense.submitted").await?.len(), 4);
        assert_eq!(cell.events("finance.expense.approved").await?.len(), 2);
        assert_eq!(cell.events("finance.expense.rejected").await?.len(), 1);

        // Another org sees none of it.
        let globex = org(&cell, "Globex").await?;
        let mallory = user(&cell, "mallory@globex.test", globex, "owner").await?;
        let (status, _) = cell.get(&format!("/api/v1/expenses/{}", id(&travel)), Some(&mallory)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&approve(&own), Some(&mallory), json!({})).await?;
        assert_eq!(status, 404);
        let (_, theirs) = cell.get("/api/v1/expenses", Some(&mallory)).await?;
        assert_eq!(theirs["meta"]["total"], 0);
        Ok(())
    }
);

db_test!(
    async fn a_receipt_is_a_file_attached_to_its_expense(db) {
        let toml = format!("{}[modules.files]\n", crate::support::TOML);
        let cell = testcell::start(&db, &toml, vec![Box::new(files::Files::default()), Box::new(finance::Finance::default())]).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let globex = org(&cell, "Globex").await?;
        let mallory = user(&cell, "mallory@globex.test", globex, "owner").await?;
        let (_, e) = cell.post("/api/v1/expenses", Some(&member), json!({"category": "travel", "amount": 4200})).await?;
        let receipt = json!({
            "filename": "receipt.pdf", "content_type": "application/pdf", "size": 2048,
            "entity_type": "finance_expense", "entity_id": e["id"],
        });
        let (status, upload) = cell.post("/api/v1/files/upload-url", Some(&member), receipt.clone()).await?;
        assert!(status == 200 || status == 201, "{status} {upload}");
        let (status, _) = cell.post("/api/v1/files/upload-url", Some(&mallory), receipt).await?;
        assert_eq!(status, 404, "another org's expense takes no receipt");
        let (status, files) = cell.get(&format!("/api/v1/expenses/{}/files", id(&e)), Some(&member)).await?;
        assert_eq!(status, 200, "{files}");
        Ok(())
    }
);
