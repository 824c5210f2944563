//! An invoice's life over HTTP: lines and totals, send and the pay link, partial payment,
//! overpayment into credit, refunds (credit first, then credit notes with their tax), void,
//! overdue, duplicate; the ledger balanced after every step and the reports read from it.

use chrono::{Datelike, Duration, Utc};
use serde_json::{Value, json};
use testkit::db_test;

use crate::support::{balance_of, balanced, cell, id, org, settle, user};

db_test!(
    async fn an_invoice_is_drafted_sent_paid_refunded_and_the_ledger_balances(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;
        let year = Utc::now().year();

        // A draft: 2 × 100.00 at 10 % tax, 1.5 × 33.33 (49.995 → 50.00).
        let (status, inv) = cell
            .post("/api/v1/invoices", Some(&member), json!({
                "currency": "usd",
                "line_items": [
                    {"description": "Design", "quantity": 2, "unit_price": 10000, "tax_rate": 10},
                    {"description": "Hosting", "quantity": 1.5, "unit_price": 3333},
                ],
            }))
            .await?;
        assert_eq!(status, 201, "{inv}");
        assert_eq!(inv["number"], format!("INV-{year}-0001"));
        assert_eq!((&inv["status"], &inv["currency"]), (&json!("draft"), &json!("USD")));
        assert_eq!(
            (&inv["subtotal"], &inv["tax_amount"], &inv["total"], &inv["amount_due"]),
            (&json!(25000), &json!(2000), &json!(27000), &json!(27000)),
            "{inv}"
        );
        assert_eq!(inv["line_items"][1]["amount"], 5000, "half away from zero: {inv}");
        let path = format!("/api/v1/invoices/{}", id(&inv));

        // Lines change the totals, while it is a draft.
        let (status, with_c) = cell
            .post(&format!("{path}/line-items"), Some(&member), json!({"description": "Setup", "unit_price": 1000, "discount": 100}))
            .await?;
        assert_eq!((status, &with_c["total"]), (201, &json!(27900)), "{with_c}");
        let line_c = id(&with_c["line_items"][2]);
        let (status, patched) = cell
            .patch(&format!("{path}/line-items/{line_c}"), Some(&member), json!({"unit_price": 2000}))
            .await?;
        assert_eq!((status, &patched["total"], &patched["discount_amount"]), (200, &json!(28900), &json!(100)), "{patched}");
        let (status, removed) = cell.delete(&format!("{path}/line-items/{line_c}"), Some(&member)).await?;
        assert_eq!((status, &removed["total"]), (200, &json!(27000)), "{removed}");

        // Nothing is owed, nor posted, before it is sent.
        let (status, early) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 100, "method": "cash"}))
            .await?;
        assert_eq!(status, 409, "a draft is not paid: {early}");
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(tb["accounts"], json!([]), "{tb}");

        // Sent: receivable 270.00 against revenue 250.00 and tax 20.00.
        let (status, sent) = cell
            .post(&format!("{path}/send"), Some(&member), json!({"to": "billing@customer.test"}))
            .await?;
        assert_eq!((status, &sent["status"]), (200, &json!("sent")), "{sent}");
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(balance_of(&tb, "accounts_receivable", "USD"), 27000);
        assert_eq!(balance_of(&tb, "revenue", "USD"), -25000);
        assert_eq!(balance_of(&tb, "tax_payable", "USD"), -2000);
        let (status, again) = cell.patch(&path, Some(&member), json!({"notes": "late edit"})).await?;
        assert_eq!(status, 409, "a sent invoice does not change: {again}");
        assert_eq!(cell.events("finance.invoice.sent").await?.len(), 1);
        // The mail carries the invoice as a PDF.
        while cell.ctx.jobs().run_once(&cell.ctx).await? > 0 {}
        let mail = std::fs::read_dir(db.data_dir().join("mail"))?
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .find(|m| m.contains("To: billing@customer.test"))
            .unwrap_or_default();
        let number = sent["number"].as_str().unwrap_or_default();
        assert!(mail.contains(&format!("filename=\"invoice-{number}.pdf\"")), "{mail}");
        // base64 of `%PDF-`, the file's first bytes.
        assert!(mail.contains("Content-Type: application/pdf") && mail.contains("JVBERi0"), "{mail}");

        // The pay link shows it to the customer and makes it viewed; a forged one is unknown.
        let link = sent["pay_link"].as_str().unwrap_or_default();
        let token = link.rsplit('/').next().unwrap_or_default();
        let (status, seen) = cell.get(&format!("/api/v1/invoices/view/{token}"), None).await?;
        assert_eq!((status, &seen["amount_due"], &seen["line_items"][0]["description"]), (200, &json!(27000), &json!("Design")), "{seen}");
        assert!(seen.get("id").is_none(), "the customer's view names no internal ids: {seen}");
        let (_, now) = cell.get(&path, Some(&member)).await?;
        assert_eq!(now["status"], "viewed");
        let forged = format!("{}{}", &token[..token.len() - 4], "AAAA");
        let (status, _) = cell.get(&format!("/api/v1/invoices/view/{forged}"), None).await?;
        assert_eq!(status, 404);

        // 100.00 paid: partially (sent twice with its Idempotency-Key: paid once). Then 200.00:
        // 170.00 settles it, 30.00 is credit.
        let wire = json!({"invoice_id": id(&inv), "amount": 10000, "method": "bank_transfer", "reference": "WIRE-1"});
        let send = || reqwest::Client::new().post(cell.url("/api/v1/payments")).bearer_auth(&member).header("Idempotency-Key", "wire-1").json(&wire).send();
        let res = send().await?;
        assert_eq!(res.status(), 201);
        let first: Value = res.json().await?;
        assert_eq!((&first["invoice"]["status"], &first["invoice"]["amount_due"]), (&json!("partially_paid"), &json!(17000)), "{first}");
        let again = send().await?;
        assert_eq!((again.status(), again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok())), (reqwest::StatusCode::CREATED, Some("true")));
        assert_eq!(again.json::<Value>().await?, first, "the first payment's answer");
        let (status, second) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 20000, "method": "check"}))
            .await?;
        assert_eq!(status, 201, "{second}");
        assert_eq!((&second["payment"]["applied"], &second["payment"]["credited"]), (&json!(17000), &json!(3000)));
        assert_eq!((&second["invoice"]["status"], &second["invoice"]["amount_due"]), (&json!("paid"), &json!(0)), "never negative: {second}");
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(
            [balance_of(&tb, "cash", "USD"), balance_of(&tb, "accounts_receivable", "USD"), balance_of(&tb, "customer_credit", "USD")],
            [30000, 0, -3000],
            "{tb}"
        );
        let (status, more) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv), "amount": 1, "method": "cash"}))
            .await?;
        assert_eq!(status, 409, "a paid invoice owes nothing: {more}");
        let received = cell.events("finance.payment.received").await?;
        assert_eq!(received.len(), 2);

        // Refunds are for admins; the credit goes back first, then a credit note with its tax
        // share (20.00 of 270.00: 1.48 of 20.00).
        let pay2 = format!("/api/v1/payments/{}/refund", id(&second["payment"]));
        let (status, _) = cell.post(&pay2, Some(&member), json!({"amount": 5000})).await?;
        assert_eq!(status, 403);
        let (status, r1) = cell.post(&pay2, Some(&owner), json!({"amount": 5000})).await?;
        assert_eq!(status, 201, "{r1}");
        assert_eq!((&r1["refund"]["credited"], &r1["refund"]["applied"], &r1["payment"]["refunded"]), (&json!(3000), &json!(2000), &json!(5000)));
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(
            [balance_of(&tb, "cash", "USD"), balance_of(&tb, "customer_credit", "USD"), balance_of(&tb, "sales_returns", "USD"), balance_of(&tb, "tax_payable", "USD")],
            [25000, 0, 1852, -1852],
            "{tb}"
        );
        let (_, after) = cell.get(&path, Some(&member)).await?;
        assert_eq!((&after["status"], &after["amount_paid"], &after["amount_refunded"], &after["amount_due"]), (&json!("paid"), &json!(25000), &json!(2000), &json!(0)), "a credit note is not owed again: {after}");
        let (status, too_much) = cell.post(&pay2, Some(&owner), json!({"amount": 15001})).await?;
        assert_eq!(status, 422, "{too_much}");
        assert!(too_much["error"]["details"]["fields"]["amount"].is_string(), "{too_much}");

        // The rest of both payments: the invoice is refunded, the tax all given back.
        let (status, _) = cell.post(&pay2, Some(&owner), json!({})).await?;
        assert_eq!(status, 201);
        let pay1 = format!("/api/v1/payments/{}/refund", id(&first["payment"]));
        let (status, r3) = cell.post(&pay1, Some(&owner), json!({})).await?;
        assert_eq!(status, 201, "{r3}");
        let (_, refunded) = cell.get(&path, Some(&member)).await?;
        assert_eq!(refunded["status"], "refunded", "{refunded}");
        assert_eq!(refunded["payments"].as_array().map(Vec::len), Some(5), "two payments, three refunds");
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(
            [balance_of(&tb, "cash", "USD"), balance_of(&tb, "tax_payable", "USD"), balance_of(&tb, "sales_returns", "USD"), balance_of(&tb, "revenue", "USD")],
            [0, 0, 25000, -25000],
            "{tb}"
        );
        let (status, _) = cell.post(&pay1, Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "nothing left to refund");
        let (status, _) = cell.post(&format!("{path}/void"), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "an invoice with payments is not voided");

        // Revenue and profit read from the ledger: 250.00 invoiced, 250.00 given back.
        let today = Utc::now().date_naive();
        let period = format!("from={}&to={}", today - Duration::days(1), today + Duration::days(1));
        let (status, revenue) = cell.get(&format!("/api/v1/finance/revenue?{period}"), Some(&member)).await?;
        assert_eq!(status, 200, "{revenue}");
        assert_eq!(revenue["currencies"], json!([{"currency": "USD", "revenue": 25000, "returns": 25000, "net_revenue": 0}]));

        // Another: sent, then voided: what it posted is reversed.
        let (_, inv2) = cell
            .post("/api/v1/invoices", Some(&member), json!({"currency": "EUR", "line_items": [{"description": "Audit", "unit_price": 50000, "tax_rate": 20}]}))
            .await?;
        assert_eq!(inv2["number"], format!("INV-{year}-0002"));
        let path2 = format!("/api/v1/invoices/{}", id(&inv2));
        cell.post(&format!("{path2}/send"), Some(&member), json!({})).await?;
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!(balance_of(&tb, "accounts_receivable", "EUR"), 60000);
        let (status, _) = cell.post(&format!("{path2}/void"), Some(&member), json!({})).await?;
        assert_eq!(status, 403, "members do not void");
        let (status, voided) = cell.post(&format!("{path2}/void"), Some(&owner), json!({})).await?;
        assert_eq!((status, &voided["status"]), (200, &json!("void")), "{voided}");
        let tb = balanced(&cell, &db, &member).await?;
        assert_eq!([balance_of(&tb, "accounts_receivable", "EUR"), balance_of(&tb, "revenue", "EUR")], [0, 0], "{tb}");
        let (status, _) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv2), "amount": 100, "method": "cash"}))
            .await?;
        assert_eq!(status, 409, "a void invoice owes nothing");

        // Overdue by the daily job; aged 1–30 days as of today.
        let (_, inv3) = cell
            .post("/api/v1/invoices", Some(&member), json!({
                "issue_date": (today - Duration::days(40)).to_string(),
                "due_date": (today - Duration::days(10)).to_string(),
                "line_items": [{"description": "Retainer", "unit_price": 7500}],
            }))
            .await?;
        let path3 = format!("/api/v1/invoices/{}", id(&inv3));
        cell.post(&format!("{path3}/send"), Some(&member), json!({})).await?;
        let system = cell.ctx.db().system();
        cell.ctx.jobs().enqueue(system.conn(), "finance.overdue", None, json!({"tick": Utc::now().to_rfc3339()})).await?;
        settle(&cell).await?;
        let (_, late) = cell.get(&path3, Some(&member)).await?;
        assert_eq!(late["status"], "overdue", "{late}");
        let (_, aging) = cell.get("/api/v1/finance/ar-aging", Some(&member)).await?;
        assert_eq!(
            aging["currencies"],
            json!([{"currency": "USD", "current": 0, "days_1_30": 7500, "days_31_60": 0, "days_61_90": 0, "days_90_plus": 0, "total": 7500, "invoices": 1}]),
            "{aging}"
        );
        let (_, aged_later) = cell
            .get(&format!("/api/v1/finance/ar-aging?as_of={}", today + Duration::days(45)), Some(&member))
            .await?;
        assert_eq!(aged_later["currencies"][0]["days_31_60"], 7500, "{aged_later}");
        // As of yesterday (read from the lines): the overdue invoice was 1–30 days late too.
        let (_, yesterday) = cell
            .get(&format!("/api/v1/finance/ar-aging?as_of={}", today - Duration::days(1)), Some(&member))
            .await?;
        assert_eq!((&yesterday["currencies"][0]["days_1_30"], &yesterday["currencies"][0]["invoices"]), (&json!(7500), &json!(1)), "{yesterday}");
        let (_, partly) = cell
            .post("/api/v1/payments", Some(&member), json!({"invoice_id": id(&inv3), "amount": 2500, "method": "cash"}))
            .await?;
        assert_eq!((&partly["invoice"]["status"], &partly["invoice"]["amount_due"]), (&json!("overdue"), &json!(5000)), "still late: {partly}");

        // Duplicate: a new draft with the next number and the same lines.
        let (status, copy) = cell.post(&format!("{path}/duplicate"), Some(&member), json!({})).await?;
        assert_eq!(status, 201, "{copy}");
        assert_eq!((&copy["number"], &copy["status"], &copy["total"]), (&json!(format!("INV-{year}-0004")), &json!("draft"), &json!(27000)));
        assert_eq!(copy["source_id"], inv["id"]);

        // Lists filter.
        let (_, drafts) = cell.get("/api/v1/invoices?filter[status]=draft", Some(&member)).await?;
        assert_eq!(drafts["meta"]["total"], 1, "{drafts}");
        let (_, refunds) = cell.get("/api/v1/payments?filter[type]=refund", Some(&member)).await?;
        assert_eq!(refunds["meta"]["total"], 3, "{refunds}");
        let changes = cell.events("finance.invoice.status_changed").await?;
        assert!(changes.iter().any(|e| e["to"] == "overdue"), "{changes:?}");
        Ok(())
    }
);

db_test!(
    async fn a_refunded_part_payment_leaves_the_rest_owed(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (_, inv) = cell
            .post("/api/v1/invoices", Some(&owner), json!({"line_items": [{"description": "Work", "unit_price": 10000}]}))
            .await?;
        let path = format!("/api/v1/invoices/{}", id(&inv));
        cell.post(&format!("{path}/send"), Some(&owner), json!({})).await?;
        let (_, part) = cell
            .post("/api/v1/payments", Some(&owner), json!({"invoice_id": id(&inv), "amount": 4000, "method": "cash"}))
            .await?;
        let (status, _) = cell
            .post(&format!("/api/v1/payments/{}/refund", id(&part["payment"])), Some(&owner), json!({}))
            .await?;
        assert_eq!(status, 201);
        // The 40.00 given back is a credit note: 60.00 is still owed, and can be paid.
        let (_, now) = cell.get(&path, Some(&owner)).await?;
        assert_eq!((&now["status"], &now["amount_due"]), (&json!("partially_paid"), &json!(6000)), "{now}");
        let (status, rest) = cell
            .post("/api/v1/payments", Some(&owner), json!({"invoice_id": id(&inv), "amount": 6000, "method": "cash"}))
            .await?;
        assert_eq!((status, &rest["invoice"]["status"]), (201, &json!("paid")), "{rest}");
        balanced(&cell, &db, &owner).await?;
        Ok(())
    }
);
