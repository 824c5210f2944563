//! A customer's credit (an overpayment) pays another of their invoices; a refund of the payment
//! that made it no longer pays that credit out; the ledger balances after each step.

use serde_json::{Value, json};
use testkit::db_test;

use crate::milestones::{TOML, cell};
use crate::support::{balance_of, balanced, id, org, user};

db_test!(
    async fn a_customers_credit_pays_their_next_invoice(db) {
        let cell = cell(&db, TOML).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let viewer = user(&cell, "viewer@acme.test", acme, "viewer").await?;
        let (status, client) = cell.post("/api/v1/contacts", Some(&owner), json!({"name": "Client", "email": "client@initech.com"})).await?;
        assert_eq!(status, 201, "{client}");
        let invoice = |total: i64, contact: Option<&Value>| {
            let body = json!({"contact_id": contact.map(|c| &c["id"]), "line_items": [{"description": "Work", "unit_price": total}]});
            let (cell, owner) = (&cell, &owner);
            async move {
                let (status, inv) = cell.post("/api/v1/invoices", Some(owner), body).await?;
                anyhow::ensure!(status == 201, "{inv}");
                Ok::<Value, anyhow::Error>(inv)
            }
        };
        let send = |inv: &Value| format!("/api/v1/invoices/{}/send", id(inv));
        let apply = |inv: &Value| format!("/api/v1/invoices/{}/apply-credit", id(inv));

        // The first invoice is overpaid by 50.00: the client's credit.
        let first = invoice(10000, Some(&client)).await?;
        cell.post(&send(&first), Some(&owner), json!({})).await?;
        let (status, paid) = cell.post("/api/v1/payments", Some(&owner), json!({"invoice_id": id(&first), "amount": 15000, "method": "check"})).await?;
        assert_eq!((status, &paid["payment"]["credited"]), (201, &json!(5000)), "{paid}");
        let tb = balanced(&cell, &db, &owner).await?;
        assert_eq!(balance_of(&tb, "customer_credit", "USD"), -5000, "a liability: debit less credit");

        // Not yet: a draft, and an invoice of no contact.
        let second = invoice(8000, Some(&client)).await?;
        let (status, e) = cell.post(&apply(&second), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "a draft: {e}");
        cell.post(&send(&second), Some(&owner), json!({})).await?;
        let nobody = invoice(500, None).await?;
        cell.post(&send(&nobody), Some(&owner), json!({})).await?;
        assert_eq!(cell.post(&apply(&nobody), Some(&owner), json!({})).await?.0, 409);
        // Refused: a viewer, beyond the credit, nothing, another org.
        assert_eq!(cell.post(&apply(&second), Some(&viewer), json!({})).await?.0, 403);
        for amount in [5001, 0, -1] {
            let (status, e) = cell.post(&apply(&second), Some(&owner), json!({"amount": amount})).await?;
            assert_eq!((status, e["error"]["details"]["fields"]["amount"].is_string()), (422, true), "{amount}: {e}");
        }
        let other = org(&cell, "Other").await?;
        let stranger = user(&cell, "owner@other.test", other, "owner").await?;
        assert_eq!(cell.post(&apply(&second), Some(&stranger), json!({})).await?.0, 404);

        // All of the credit goes to the second invoice, which still owes 30.00.
        let (status, out) = cell.post(&apply(&second), Some(&owner), json!({})).await?;
        assert_eq!(status, 201, "{out}");
        assert_eq!((&out["payment"]["type"], &out["payment"]["amount"]), (&json!("credit"), &json!(5000)), "{out}");
        assert_eq!((&out["invoice"]["status"], &out["invoice"]["amount_due"]), (&json!("partially_paid"), &json!(3000)), "{out}");
        assert_eq!(cell.events("finance.credit.applied").await?.len(), 1);
        let tb = balanced(&cell, &db, &owner).await?;
        assert_eq!(balance_of(&tb, "customer_credit", "USD"), 0);
        assert_eq!(balance_of(&tb, "accounts_receivable", "USD"), 3000 + 500);
        let (status, _) = cell.post(&apply(&second), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "no credit left");
        // What credit paid is not refunded as such.
        let (status, _) = cell.post(&format!("/api/v1/payments/{}/refund", id(&out["payment"])), Some(&owner), json!({})).await?;
        assert_eq!(status, 409);

        // The overpayment's credit is spent: refunding all of the payment would pay it out twice.
        let refund = format!("/api/v1/payments/{}/refund", id(&paid["payment"]));
        let (status, e) = cell.post(&refund, Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "{e}");
        assert!(e["error"]["message"].as_str().unwrap_or_default().contains("at most 10000"), "{e}");
        let (status, r) = cell.post(&refund, Some(&owner), json!({"amount": 10000})).await?;
        assert_eq!(status, 201, "{r}");
        assert_eq!((&r["refund"]["applied"], &r["refund"]["credited"]), (&json!(10000), &json!(0)), "{r}");
        let (_, first) = cell.get(&format!("/api/v1/invoices/{}", id(&first)), Some(&owner)).await?;
        assert_eq!(first["status"], "refunded", "{first}");
        let tb = balanced(&cell, &db, &owner).await?;
        assert_eq!(balance_of(&tb, "customer_credit", "USD"), 0, "never negative");
        assert_eq!(balance_of(&tb, "cash", "USD"), 5000, "15000 in, 10000 back");

        // Two invoices paid from one credit of 20.00 at once: the credit is spent once.
        let (a, b) = (invoice(1500, Some(&client)).await?, invoice(1500, Some(&client)).await?);
        for inv in [&a, &b] {
            cell.post(&send(inv), Some(&owner), json!({})).await?;
        }
        let (_, over) = cell.post("/api/v1/payments", Some(&owner), json!({"invoice_id": id(&second), "amount": 5000, "method": "cash"})).await?;
        assert_eq!(over["payment"]["credited"], 2000, "{over}");
        let (pa, pb) = (apply(&a), apply(&b));
        let (ra, rb) = tokio::join!(cell.post(&pa, Some(&owner), json!({})), cell.post(&pb, Some(&owner), json!({})));
        let applied: i64 = [ra?, rb?]
            .iter()
            .filter(|(status, _)| *status == 201)
            .map(|(_, out)| out["payment"]["amount"].as_i64().unwrap_or_default())
            .sum();
        assert_eq!(applied, 2000, "all of the credit, once");
        let tb = balanced(&cell, &db, &owner).await?;
        assert_eq!(balance_of(&tb, "customer_credit", "USD"), 0);
        Ok(())
    }
);
