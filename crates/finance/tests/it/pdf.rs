//! Invoices as PDFs: a presigned URL of a PDF typeset from the invoice as it is now; an unchanged
//! invoice is typeset once, a changed one again; the customer gets it through the pay link, with
//! the name it was sent to; another org and a forged link see nothing.

use serde_json::{Value, json};
use testkit::db_test;

use crate::milestones::{TOML, cell};
use crate::support::{Cell, id, org, user};

/// The PDF behind a `{url}` answer: its bytes. The link is absolute, on the cell's own address
/// (the local storage backend).
async fn fetch(cell: &Cell, answer: &Value) -> anyhow::Result<Vec<u8>> {
    let url = answer["url"].as_str().unwrap_or_default();
    anyhow::ensure!(url.starts_with(&cell.url("/storage/signed/")), "{url}");
    let res = reqwest::Client::new().get(url).send().await?;
    anyhow::ensure!(res.status() == 200, "GET of the PDF: {}", res.status());
    Ok(res.bytes().await?.to_vec())
}

db_test!(
    async fn an_invoice_is_a_pdf_for_its_team_and_its_customer(db) {
        let cell = cell(&db, TOML).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (status, client) = cell.post("/api/v1/contacts", Some(&owner), json!({"name": "Initech Ltd", "email": "billing@initech.com"})).await?;
        assert_eq!(status, 201, "{client}");
        let (status, inv) = cell
            .post("/api/v1/invoices", Some(&owner), json!({
                "currency": "EUR", "contact_id": id(&client), "terms": "Net 30 #panic(\"no\")",
                "line_items": [
                    {"description": "Design [phase *one*] $x$", "quantity": 1.5, "unit_price": 120000, "tax_rate": 20},
                    {"description": "Hosting", "quantity": 12, "unit_price": 2500},
                ],
            }))
            .await?;
        assert_eq!(status, 201, "{inv}");
        let path = format!("/api/v1/invoices/{}", id(&inv));

        // A draft: typeset once while it does not change.
        let (status, first) = cell.get(&format!("{path}/pdf"), Some(&owner)).await?;
        assert_eq!(status, 200, "{first}");
        assert!(first["expires_at"].is_string(), "{first}");
        let draft = fetch(&cell, &first).await?;
        assert!(draft.starts_with(b"%PDF-"), "a PDF");
        let (_, again) = cell.get(&format!("{path}/pdf"), Some(&owner)).await?;
        assert_eq!(fetch(&cell, &again).await?, draft, "the same invoice, the same PDF");

        // A line changes: a new PDF.
        let line = id(&inv["line_items"][1]);
        let (status, _) = cell.patch(&format!("{path}/line-items/{line}"), Some(&owner), json!({"quantity": 6})).await?;
        assert_eq!(status, 200);
        let (_, changed) = cell.get(&format!("{path}/pdf"), Some(&owner)).await?;
        assert_ne!(fetch(&cell, &changed).await?, draft, "the invoice changed");

        // Sent: the contact's name is kept with it, and the customer gets the PDF by the link.
        let (status, sent) = cell.post(&format!("{path}/send"), Some(&owner), json!({})).await?;
        assert_eq!((status, &sent["bill_to"]), (200, &json!("Initech Ltd")), "{sent}");
        let (status, _) = cell.patch(&format!("/api/v1/contacts/{}", id(&client)), Some(&owner), json!({"name": "Initrode"})).await?;
        assert_eq!(status, 200);
        let (_, read) = cell.get(&path, Some(&owner)).await?;
        assert_eq!(read["bill_to"], "Initech Ltd", "as it was sent");
        let token = sent["pay_link"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
        let (status, theirs) = cell.get(&format!("/api/v1/invoices/view/{token}/pdf"), None).await?;
        assert_eq!(status, 200, "{theirs}");
        let (_, ours) = cell.get(&format!("{path}/pdf"), Some(&owner)).await?;
        let pdf = fetch(&cell, &theirs).await?;
        assert!(pdf.starts_with(b"%PDF-"));
        assert_eq!(pdf, fetch(&cell, &ours).await?, "the customer's PDF is the team's");
        let (_, view) = cell.get(&format!("/api/v1/invoices/view/{token}"), None).await?;
        assert_eq!(view["bill_to"], "Initech Ltd", "{view}");

        // Another org's owner, no token, a forged link: nothing.
        let other = org(&cell, "Other").await?;
        let stranger = user(&cell, "owner@other.test", other, "owner").await?;
        let (status, _) = cell.get(&format!("{path}/pdf"), Some(&stranger)).await?;
        assert_eq!(status, 404, "another org's invoice does not exist");
        let (status, _) = cell.get(&format!("{path}/pdf"), None).await?;
        assert_eq!(status, 401);
        let forged = format!("{}{}", &token[..token.len() - 4], "AAAA");
        let (status, _) = cell.get(&format!("/api/v1/invoices/view/{forged}/pdf"), None).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);
