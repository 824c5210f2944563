//! Agency invoicing by milestone: a project milestone reached with an amount (tasks'
//! `tasks.milestone.reached`) becomes a draft invoice of one line, for the contact or deal the
//! project is anchored to. Read as JSON, so finance does not depend on the tasks crate.
//!
//! Delivery is at least once: the invoice's `milestone_id` is unique per org, and a milestone
//! already invoiced is left alone, so each milestone is billed once.

use kernel::sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::invoice;
use crate::module::Settings;
use crate::service::{self, NewInvoice, NewLine};

/// What finance reads of the event's payload (tasks documents it in its event catalogue).
#[derive(Debug, Deserialize)]
pub(crate) struct Reached {
    pub milestone_id: Uuid,
    pub name: String,
    #[serde(default)]
    pub project_name: String,
    #[serde(default)]
    pub anchor_type: Option<String>,
    #[serde(default)]
    pub anchor_id: Option<Uuid>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
}

/// Drafts the milestone's invoice unless it has no amount or is invoiced already. `by`: who
/// reached it (the invoice's creator). `Ok(None)` when nothing was to be done.
pub(crate) async fn invoice(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    m: Reached,
) -> Result<Option<invoice::Model>, ApiError> {
    let Some(amount) = m.amount.filter(|a| *a > 0) else {
        return Ok(None);
    };
    let repo = tx.repo::<invoice::Entity>();
    let invoiced = repo
        .find()
        .filter(invoice::Column::MilestoneId.eq(m.milestone_id))
        .count(repo.conn())
        .await?;
    if invoiced > 0 {
        return Ok(None);
    }
    let anchor = |kind: &str| {
        m.anchor_id
            .filter(|_| m.anchor_type.as_deref() == Some(kind))
    };
    let description = match m.project_name.is_empty() {
        true => format!("Milestone: {}", m.name),
        false => format!("{}: {}", m.project_name, m.name),
    };
    let description = description.chars().take(500).collect();
    let new = NewInvoice {
        contact_id: anchor("contact"),
        deal_id: anchor("deal"),
        currency: m.currency,
        issue_date: None,
        due_date: None,
        notes: None,
        terms: None,
        lines: vec![NewLine {
            description,
            quantity: 100,
            unit_price: amount,
            discount: 0,
            tax_rate: 0,
        }],
        milestone_id: Some(m.milestone_id),
    };
    let (inv, _) = service::create(ctx, tx, by, None, settings, new, None).await?;
    Ok(Some(inv))
}
