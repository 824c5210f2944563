//! Agency invoicing by milestone: a project milestone reached with an amount (tasks) becomes one
//! draft invoice for the contact the project is for, however often the event is delivered; a
//! milestone without an amount, or in a cell that turned it off, bills nothing.

use serde_json::{Value, json};
use testkit::{TestDb, db_test};

use crate::support::{Cell, id, org, user};

pub const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.crm]\n[modules.tasks]\n[modules.finance]\n";

/// A cell where finance has contacts (crm) and projects (tasks).
pub async fn cell(db: &TestDb, toml: &str) -> anyhow::Result<Cell> {
    testcell::start(
        db,
        toml,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(crm::Crm::default()),
            Box::new(tasks::Tasks::default()),
            Box::new(finance::Finance::default()),
        ],
    )
    .await
}

/// Delivers the published events to their subscribers until none is left.
async fn deliver(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
    Ok(())
}

async fn invoices(cell: &Cell, token: &str) -> anyhow::Result<Vec<Value>> {
    let (status, page) = cell.get("/api/v1/invoices", Some(token)).await?;
    anyhow::ensure!(status == 200, "{page}");
    Ok(page["data"].as_array().cloned().unwrap_or_default())
}

db_test!(
    async fn a_reached_milestone_is_invoiced_once(db) {
        let cell = cell(&db, TOML).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (status, client) = cell.post("/api/v1/contacts", Some(&owner), json!({"name": "Client", "email": "client@initech.com"})).await?;
        assert_eq!(status, 201, "{client}");
        let (status, project) = cell
            .post("/api/v1/projects", Some(&owner), json!({"name": "Website", "anchor_type": "contact", "anchor_id": id(&client)}))
            .await?;
        assert_eq!(status, 201, "{project}");
        let milestones = format!("/api/v1/projects/{}/milestones", id(&project));
        let (status, design) = cell.post(&milestones, Some(&owner), json!({"name": "Design", "amount": 250000, "currency": "EUR"})).await?;
        assert_eq!(status, 201, "{design}");
        let (_, unpaid) = cell.post(&milestones, Some(&owner), json!({"name": "Kick-off"})).await?;

        // Reached: a draft of one line, for the project's contact, in the milestone's currency.
        for m in [&design, &unpaid] {
            let (status, out) = cell.patch(&format!("/api/v1/milestones/{}", id(m)), Some(&owner), json!({"reached": true})).await?;
            assert_eq!(status, 200, "{out}");
        }
        deliver(&cell).await?;
        let all = invoices(&cell, &owner).await?;
        assert_eq!(all.len(), 1, "the milestone without an amount bills nothing: {all:?}");
        let inv = &all[0];
        assert_eq!(
            (&inv["status"], &inv["currency"], &inv["total"], &inv["contact_id"], &inv["milestone_id"]),
            (&json!("draft"), &json!("EUR"), &json!(250000), &client["id"], &design["id"]),
            "{inv}"
        );
        let (_, full) = cell.get(&format!("/api/v1/invoices/{}", id(inv)), Some(&owner)).await?;
        assert_eq!(full["line_items"][0]["description"], "Website: Design", "{full}");
        assert_eq!(full["line_items"][0]["quantity"], 1.0);

        // Delivered again (at least once): still one invoice.
        let reached = cell.events("tasks.milestone.reached").await?;
        assert_eq!(reached.len(), 2);
        let conn = crate::support::owner(&db).await?;
        use kernel::sea_orm::ConnectionTrait;
        let again = conn
            .execute_unprepared("UPDATE kernel_event_deliveries SET status = 'pending', attempts = 0, next_attempt_ms = 0, locked_until_ms = 0 WHERE subscriber LIKE 'finance.%'")
            .await?;
        assert_eq!(again.rows_affected(), 2, "finance's two deliveries, sent again");
        deliver(&cell).await?;
        assert_eq!(invoices(&cell, &owner).await?.len(), 1, "one invoice per milestone");

        // Another org sees none of it.
        let other = org(&cell, "Other").await?;
        let stranger = user(&cell, "owner@other.test", other, "owner").await?;
        assert!(invoices(&cell, &stranger).await?.is_empty());
        let (status, _) = cell.get(&format!("/api/v1/invoices/{}", id(inv)), Some(&stranger)).await?;
        assert_eq!(status, 404);
        Ok(())
    }
);

db_test!(
    async fn a_cell_may_leave_milestones_unbilled(db) {
        let toml = TOML.replace("[modules.finance]\n", "[modules.finance]\ninvoice_milestones = false\n");
        let cell = cell(&db, &toml).await?;
        let acme = org(&cell, "Acme").await?;
        let owner = user(&cell, "owner@acme.test", acme, "owner").await?;
        let (_, project) = cell.post("/api/v1/projects", Some(&owner), json!({"name": "Website"})).await?;
        let (_, m) = cell
            .post(&format!("/api/v1/projects/{}/milestones", id(&project)), Some(&owner), json!({"name": "Design", "amount": 100, "currency": "USD"}))
            .await?;
        let (status, _) = cell.patch(&format!("/api/v1/milestones/{}", id(&m)), Some(&owner), json!({"reached": true})).await?;
        assert_eq!(status, 200);
        deliver(&cell).await?;
        assert_eq!(cell.events("tasks.milestone.reached").await?.len(), 1);
        assert!(invoices(&cell, &owner).await?.is_empty());
        Ok(())
    }
);
