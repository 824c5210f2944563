//! Invoices as PDFs (`typeset`'s statement layout), stored by content under
//! `<org>/finance/invoices/<id>/<hash>.pdf` and handed out as presigned URLs: an unchanged invoice
//! is typeset once, a changed one (a line edited, a payment received) gets a new object, and a
//! read never writes to the database.

use chrono::{DateTime, Utc};
use kernel::storage::ObjectKey;
use kernel::{ApiError, CellContext};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::{invoice, line};
use crate::service;

/// How long a PDF's URL works.
const URL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A PDF to download.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pdf {
    /// A presigned GET of the PDF (absolute; for the local storage backend, on the cell).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// `150` hundredths as `1.5`; `825` hundredths of a percent as `8.25`.
fn hundredths(v: i64) -> String {
    let s = format!("{}.{:02}", v / 100, (v % 100).abs());
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn badge(status: &str) -> Option<String> {
    match status {
        "sent" | "viewed" => None,
        other => Some(other.replace('_', " ").to_uppercase()),
    }
}

/// The statement an invoice typesets as.
pub(crate) fn statement(
    inv: &invoice::Model,
    lines: &[line::Model],
    bill_to: Option<String>,
) -> typeset::Statement {
    let money = |minor: i64| kernel::money::display(minor, &inv.currency);
    let mut facts = vec![
        ("Issued".to_owned(), inv.issue_date.to_string()),
        ("Due".to_owned(), inv.due_date.to_string()),
    ];
    if let Some(who) = bill_to {
        facts.push(("Bill to".into(), who));
    }
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                l.description.clone(),
                hundredths(l.quantity),
                money(l.unit_price),
                format!("{} %", hundredths(l.tax_rate)),
                money(l.amount),
            ]
        })
        .collect();
    let mut totals = vec![("Subtotal".to_owned(), money(inv.subtotal))];
    if inv.discount_amount != 0 {
        totals.push(("Discount".into(), money(-inv.discount_amount)));
    }
    totals.push(("Tax".into(), money(inv.tax_amount)));
    totals.push(("Total".into(), money(inv.total)));
    if inv.amount_paid != 0 {
        totals.push(("Paid".into(), money(-inv.amount_paid)));
    }
    if inv.amount_refunded != 0 {
        totals.push((
            "Refunded (credit notes)".into(),
            money(-inv.amount_refunded),
        ));
    }
    totals.push(("Amount due".into(), money(service::balance(inv))));
    let notes = [("Notes", &inv.notes), ("Terms", &inv.terms)]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect();
    typeset::Statement {
        title: format!("Invoice {}", inv.number),
        badge: badge(&inv.status),
        facts,
        columns: ["Description", "Qty", "Unit price", "Tax", "Amount"]
            .map(String::from)
            .into(),
        rows,
        totals,
        notes,
    }
}

/// The stored PDF of this version of the invoice: typeset and stored first if it has not been.
/// Typesetting takes a while: call it outside a transaction when one can (the sending of an
/// invoice, whose mail attaches it, is the exception).
pub(crate) async fn stored(
    ctx: &CellContext,
    org: Uuid,
    invoice: Uuid,
    statement: typeset::Statement,
) -> Result<ObjectKey, ApiError> {
    let data =
        serde_json::to_vec(&statement).map_err(|e| ApiError::internal(anyhow::Error::from(e)))?;
    let digest = Sha256::digest(&data);
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let key = ObjectKey::new(org, "finance", &format!("invoices/{invoice}/{hash}.pdf"))?;
    let storage = ctx.storage();
    if storage.head(&key).await?.is_none() {
        let pdf = typeset::statement(statement)
            .await
            .map_err(ApiError::internal)?;
        storage
            .put_made(&key, "application/pdf", pdf.pdf.into())
            .await?;
    }
    Ok(key)
}

/// A presigned URL of the invoice's PDF ([`stored`] first). Call it after the request's
/// transaction ends.
pub(crate) async fn url(
    ctx: &CellContext,
    org: Uuid,
    invoice: Uuid,
    statement: typeset::Statement,
) -> Result<Pdf, ApiError> {
    let key = stored(ctx, org, invoice, statement).await?;
    let signed = ctx.storage().presign_get(&key, Some(URL_TTL)).await?;
    Ok(Pdf {
        url: signed.url,
        expires_at: signed.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_rates_read_as_people_write_them() {
        let got: Vec<String> = [150, 100, 125, 5, 0, 825, 2000].map(hundredths).into();
        assert_eq!(got, ["1.5", "1", "1.25", "0.05", "0", "8.25", "20"]);
        assert_eq!(badge("partially_paid").as_deref(), Some("PARTIALLY PAID"));
        assert_eq!(badge("viewed"), None);
    }
}
