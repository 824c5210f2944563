//! Payables: vendors (unique names), bills approved, paid, rejected or cancelled by admins, each
//! move posted (a cancelled approval reversed); other orgs and bad moves refused.

use serde_json::json;
use testkit::db_test;

use crate::support::{balance_of, cell, id, org, user};

db_test!(
    async fn bills_go_from_pending_to_paid_on_the_ledger(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let member = user(&cell, "member@acme.test", acme, "member").await?;

        let (status, vendor) = cell
            .post("/api/v1/vendors", Some(&member), json!({"name": " Hosting Ltd ", "email": "ar@hosting.test"}))
            .await?;
        assert_eq!((status, &vendor["name"]), (201, &json!("Hosting Ltd")), "{vendor}");
        let (status, _) = cell.post("/api/v1/vendors", Some(&member), json!({"name": "Hosting Ltd"})).await?;
        assert_eq!(status, 409, "one name an org");
        let (status, out) = cell.post("/api/v1/vendors", Some(&member), json!({"name": "   ", "email": "x@y.test"})).await?;
        assert_eq!((status, out["error"]["details"]["fields"]["name"].is_string()), (422, true), "{out}");

        let bill = |amount: i64| json!({"vendor_id": vendor["id"], "reference": "H-77", "category": "software", "amount": amount});
        let (status, b1) = cell.post("/api/v1/bills", Some(&member), bill(30000)).await?;
        assert_eq!((status, &b1["status"]), (201, &json!("pending")), "{b1}");
        let (_, b2) = cell.post("/api/v1/bills", Some(&member), bill(5000)).await?;
        let (_, b3) = cell.post("/api/v1/bills", Some(&member), bill(700)).await?;
        let at = |b: &serde_json::Value, what: &str| format!("/api/v1/bills/{}/{what}", id(b));

        let (status, _) = cell.post(&at(&b1, "approve"), Some(&member), json!({})).await?;
        assert_eq!(status, 403, "admins decide");
        let (status, _) = cell.post(&at(&b1, "pay"), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "approved before paid");
        for b in [&b1, &b2] {
            let (status, ok) = cell.post(&at(b, "approve"), Some(&owner), json!({})).await?;
            assert_eq!((status, &ok["status"]), (200, &json!("approved")), "{ok}");
        }
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&member)).await?;
        assert_eq!((balance_of(&tb, "accounts_payable", "USD"), balance_of(&tb, "expenses", "USD")), (-35000, 35000), "{tb}");

        let (status, paid) = cell.post(&at(&b1, "pay"), Some(&owner), json!({})).await?;
        assert_eq!((status, &paid["status"]), (200, &json!("paid")), "{paid}");
        let (status, _) = cell.post(&at(&b1, "cancel"), Some(&owner), json!({})).await?;
        assert_eq!(status, 409, "a paid bill stays paid");
        let (status, cancelled) = cell.post(&at(&b2, "cancel"), Some(&owner), json!({})).await?;
        assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")), "{cancelled}");
        let (status, rejected) = cell.post(&at(&b3, "reject"), Some(&owner), json!({})).await?;
        assert_eq!((status, &rejected["status"]), (200, &json!("rejected")));
        let (_, tb) = cell.get("/api/v1/finance/trial-balance", Some(&member)).await?;
        assert_eq!(
            (balance_of(&tb, "accounts_payable", "USD"), balance_of(&tb, "expenses", "USD"), balance_of(&tb, "cash", "USD"), &tb["balanced"]),
            (0, 30000, -30000, &json!(true)),
            "the cancelled approval reversed: {tb}"
        );
        let (_, open) = cell.get("/api/v1/bills?filter[status]=paid", Some(&member)).await?;
        assert_eq!(open["meta"]["total"], 1, "{open}");
        assert_eq!(cell.events("finance.bill.paid").await?.len(), 1);
        crate::support::totals_match_lines(&db).await?;

        // Another org: no vendor to name, no bill to reach.
        let globex = org(&cell, "Globex").await?;
        let mallory = user(&cell, "mallory@globex.test", globex, "owner").await?;
        let (status, out) = cell.post("/api/v1/bills", Some(&mallory), bill(1)).await?;
        assert_eq!((status, out["error"]["details"]["fields"]["vendor_id"].is_string()), (422, true), "{out}");
        let (status, _) = cell.get(&format!("/api/v1/bills/{}", id(&b1)), Some(&mallory)).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.post(&at(&b3, "cancel"), Some(&mallory), json!({})).await?;
        assert_eq!(status, 404);
        let (status, _) = cell.patch(&format!("/api/v1/vendors/{}", id(&vendor)), Some(&mallory), json!({"name": "Mine"})).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);
