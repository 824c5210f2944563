//! Companies: domains, matching persons by their email's domain, merge.

use serde_json::json;
use testkit::db_test;

use crate::support::*;

db_test!(
    async fn persons_are_matched_to_companies_by_email_domain_and_merges_move_them(db) {
        let cell = cell(&db).await?;
        let acme = org(&cell, "Acme").await?;
        let boss = user(&cell, "boss@acme.test", acme, "admin").await?;
        let mia = user(&cell, "mia@acme.test", acme, "member").await?;

        let initech = id(&company(&cell, &mia, "Initech", &["Initech.com", "www.initech.io"]).await?);
        let (_, got) = cell.get(&format!("/api/v1/companies/{initech}"), Some(&mia)).await?;
        assert_eq!(got["domains"], json!(["initech.com", "initech.io"]));

        let peter = person(&cell, &mia, json!({"name": "Peter", "email": "peter@initech.com"})).await?;
        assert_eq!(peter["company_id"], json!(initech));
        let free = person(&cell, &mia, json!({"name": "Free", "email": "someone@gmail.com"})).await?;
        assert_eq!(free["company_id"], json!(null), "free mail names no company");
        // A person made before their company is matched when the company gets the domain.
        let carl = id(&person(&cell, &mia, json!({"name": "Carl", "email": "carl@globex.io"})).await?);
        let globex = company(&cell, &mia, "Globex", &["globex.io"]).await?;
        assert_eq!(globex["contacts"], 1);
        let globex = id(&globex);
        let (_, c) = cell.get(&format!("/api/v1/contacts/{carl}"), Some(&mia)).await?;
        assert_eq!(c["company_id"], json!(globex));
        // A person whose first email arrives later is matched then.
        let late = id(&person(&cell, &mia, json!({"name": "Late"})).await?);
        cell.post(&format!("/api/v1/contacts/{late}/channels"), Some(&mia), json!({"kind": "email", "value": "late@initech.io"})).await?;
        let (_, c) = cell.get(&format!("/api/v1/contacts/{late}"), Some(&mia)).await?;
        assert_eq!(c["company_id"], json!(initech));

        // Domains: one company each; never a free-mail one.
        let (status, e) = cell.post("/api/v1/companies", Some(&mia), json!({"name": "Copy", "domains": ["initech.com"]})).await?;
        assert_eq!((status, &e["error"]["details"]["existing_company_id"]), (409, &json!(initech)), "{e}");
        let (status, _) = cell.post("/api/v1/companies", Some(&mia), json!({"name": "G", "domains": ["gmail.com"]})).await?;
        assert_eq!(status, 422);
        let (status, _) = cell.post("/api/v1/companies", Some(&mia), json!({"name": "G", "domains": ["not a domain"]})).await?;
        assert_eq!(status, 422);

        // Merge Globex into Initech (admins only): Carl and globex.io move; Globex is trashed.
        let (status, _) = cell.post(&format!("/api/v1/companies/{initech}/merge"), Some(&mia), json!({"from_id": globex})).await?;
        assert_eq!(status, 403);
        let (status, merged) = cell.post(&format!("/api/v1/companies/{initech}/merge"), Some(&boss), json!({"from_id": globex})).await?;
        assert_eq!(status, 200, "{merged}");
        assert_eq!(merged["domains"], json!(["globex.io", "initech.com", "initech.io"]));
        assert_eq!(merged["contacts"], 3);
        let (_, c) = cell.get(&format!("/api/v1/contacts/{carl}"), Some(&mia)).await?;
        assert_eq!(c["company_id"], json!(initech));
        assert_eq!(cell.get(&format!("/api/v1/companies/{globex}"), Some(&mia)).await?.0, 404);
        let (status, _) = cell.post(&format!("/api/v1/companies/{initech}/merge"), Some(&boss), json!({"from_id": initech})).await?;
        assert_eq!(status, 422);
        assert_eq!(cell.events("crm.company.merged").await?[0]["contacts_moved"], 1);

        // Domains replaced by PATCH; the company's list and search.
        let (status, c) = cell.patch(&format!("/api/v1/companies/{initech}"), Some(&mia), json!({"domains": ["initech.com"], "industry": "Software"})).await?;
        assert_eq!((status, &c["domains"]), (200, &json!(["initech.com"])), "{c}");
        let (_, page) = cell.get("/api/v1/companies?search=init", Some(&mia)).await?;
        assert_eq!(page["meta"]["total"], 1);
        assert_eq!(cell.delete(&format!("/api/v1/companies/{initech}"), Some(&mia)).await?.0, 403);
        assert_eq!(cell.delete(&format!("/api/v1/companies/{initech}"), Some(&boss)).await?.0, 204);
        Ok(())
    }
);
