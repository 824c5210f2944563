//! Who may do what, another org's books out of reach, bad input refused with the field named and
//! nothing stored, and a ledger that cannot be edited behind the API.

use kernel::sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::db_test;

use crate::support::{cell, id, org, owner, user};

db_test!(
    async fn roles_and_other_orgs(db) {
        let cell = cell(&db).await?;
        let (acme, globex) = (org(&cell, "Acme").await?, org(&cell, "Globex").await?);
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let mallory = user(&cell, "mallory@globex.test", globex, "owner").await?;

        let (status, inv) = cell
            .post("/api/v1/invoices", Some(&member), json!({"line_items": [{"description": "Work", "unit_price": 1000}]}))
            .await?;
        assert_eq!(status, 201, "{inv}");
        let path = format!("/api/v1/invoices/{}", id(&inv));
        cell.post(&format!("{path}/send"), Some(&member), json!({})).await?;
        let (_, paid) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 400, "method": "cash"}))
            .await?;
        let payment = id(&paid["payment"]);

        // Viewers read and do not write.
        let (status, _) = cell.get(&path, Some(&viewer)).await?;
        assert_eq!(status, 200);
        let (status, _) = cell.get("/api/v1/finance/trial-balance", Some(&viewer)).await?;
        assert_eq!(status, 200);
        let (status, _) = cell
            .post("/api/v1/invoices", Some(&viewer), json!({"line_items": []}))
            .await?;
        assert_eq!(status, 403);
        let (status, _) = cell
            .post("/api/v1/payments", Some(&viewer), json!({"invoice_id": id(&inv), "amount": 1, "method": "cash"}))
            .await?;
        assert_eq!(status, 403);

        // Another org sees none of it and cannot touch it.
        let (status, _) = cell.get(&path, Some(&mallory)).await?;
        assert_eq!(status, 404);
        let (_, list) = cell.get("/api/v1/invoices", Some(&mallory)).await?;
        assert_eq!(list["meta"]["total"], 0, "{list}");
        let (_, payments) = cell.get("/api/v1/payments", Some(&mallory)).await?;
        assert_eq!(payments["meta"]["total"], 0, "{payments}");
        let (status, body) = cell
            .post("/api/v1/payments", Some(&mallory), json!({"invoice_id": id(&inv), "amount": 1, "method": "cash"}))
            .await?;
        assert_eq!(status, 422, "another org's invoice is no invoice: {body}");
        let (status, _) = cell.post(&format!("/api/v1/payments/{payment}/refund"), Some(&mallory), json!({})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&format!("{path}/void"), Some(&mallory), json!({})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&format!("{path}/duplicate"), Some(&mallory), json!({})).await?;
        assert_eq!(status, 404);
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&mallory)).await?;
        assert_eq!(tb["accounts"], json!([]), "{tb}");
        let (_, aging) = cell.get("/api/v1/finance/ar-aging", Some(&mallory)).await?;
        assert_eq!(aging["currencies"], json!([]), "{aging}");

        // Untouched by all that.
        let (_, mine) = cell.get(&path, Some(&member)).await?;
        assert_eq!((&mine["status"], &mine["amount_paid"]), (&json!("partially_paid"), &json!(400)), "{mine}");
        Ok(())
    }
);

db_test!(
    async fn bad_input_is_refused_with_the_field_named_and_nothing_stored(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let refused = [
            (json!({"line_items": [{"description": "x", "unit_price": 100, "quantity": 1.234}]}), "line_items[0].quantity"),
            (json!({"line_items": [{"description": "x", "unit_price": -1}]}), "line_items[0].unit_price"),
            (json!({"line_items": [{"description": "x", "unit_price": 100, "discount": 101}]}), "line_items[0].discount"),
            (json!({"line_items": [{"description": "x", "unit_price": 100, "tax_rate": 100.5}]}), "line_items[0].tax_rate"),
            (json!({"line_items": [{"description": "x", "unit_price": 10_000_000_000_000_i64, "quantity": 2}]}), "line_items[0].unit_price"),
            (json!({"currency": "US"}), "currency"),
            (json!({"issue_date": "2026-05-02", "due_date": "2026-05-01"}), "due_date"),
            (json!({"contact_id": "0190a5e4-0000-7000-8000-000000000000"}), "contact_id"),
        ];
        for (body, field) in refused {
            let (status, out) = cell.post("/api/v1/invoices", Some(&member), body.clone()).await?;
            assert_eq!(status, 422, "{body} → {out}");
            assert!(out["error"]["details"]["fields"][field].is_string(), "{field} named: {out}");
        }
        let (status, out) = cell.post("/api/v1/invoices", Some(&member), json!({"colour": "red"})).await?;
        assert_eq!(status, 400, "unknown fields are refused: {out}");
        let (_, list) = cell.get("/api/v1/invoices", Some(&member)).await?;
        assert_eq!(list["meta"]["total"], 0, "nothing stored: {list}");

        // The first good one still gets the first number: refusals used none.
        let (_, inv) = cell
            .post("/api/v1/invoices", Some(&member), json!({"line_items": [{"description": "Work", "unit_price": 1000}]}))
            .await?;
        assert!(inv["number"].as_str().is_some_and(|n| n.ends_with("-0001")), "{inv}");
        let (status, out) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 10, "method": "barter"}))
            .await?;
        assert_eq!((status, out["error"]["details"]["fields"]["method"].is_string()), (422, true), "{out}");
        let (status, out) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 0, "method": "cash"}))
            .await?;
        assert_eq!((status, out["error"]["details"]["fields"]["amount"].is_string()), (422, true), "{out}");
        let (status, out) = cell.get("/api/v1/finance/revenue?from=2026-02-01&to=2026-01-01", Some(&member)).await?;
        assert_eq!(status, 422, "{out}");
        let (status, out) = cell.get("/api/v1/finance/revenue?from=yesterday&to=2026-01-01", Some(&member)).await?;
        assert!(status == 400 || status == 422, "{status} {out}");
        let (status, out) = cell.post(&format!("/api/v1/invoices/{}/send", id(&inv)), Some(&member), json!({"to": "not an address"})).await?;
        assert_eq!((status, out["error"]["details"]["fields"]["to"].is_string()), (422, true), "{out}");
        let (_, still) = cell.get(&format!("/api/v1/invoices/{}", id(&inv)), Some(&member)).await?;
        assert_eq!(still["status"], "draft", "{still}");
        Ok(())
    }
);

db_test!(
    async fn the_ledger_is_append_only(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let (_, inv) = cell
            .post("/api/v1/invoices", Some(&member), json!({"line_items": [{"description": "Work", "unit_price": 1000}]}))
            .await?;
        cell.post(&format!("/api/v1/invoices/{}/send", id(&inv)), Some(&member), json!({})).await?;
        let conn = owner(&db).await?;
        let backend = conn.get_database_backend();
        for sql in [
            "UPDATE finance_journal_lines SET debit = debit + 1",
            "DELETE FROM finance_journal_lines",
            "UPDATE finance_journal_entries SET memo = 'edited'",
            "DELETE FROM finance_journal_entries",
        ] {
            let refused = conn.execute_raw(Statement::from_string(backend, sql)).await;
            assert!(
                refused.as_ref().is_err_and(|e| e.to_string().contains("append-only")),
                "{sql}: {refused:?}"
            );
        }
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&member)).await?;
        assert_eq!((&tb["balanced"], &tb["totals"][0]["debit"]), (&json!(true), &json!(1000)), "{tb}");
        Ok(())
    }
);
