//! The domain rules on a transaction of the org: invoices (gapless numbers, lines and totals, the
//! status machine, send with a pay link, void, duplicate, overdue), payments (applied, the rest
//! credited) and refunds; each money movement posts its ledger entry in the same transaction.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use kernel::events::Event;
use kernel::http::Caller;
use kernel::module::EntityRef;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use kernel::{ApiError, CellContext, ErrorCode, TenantTx};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{invoice, ledger_line, line, payment};
use crate::events::{
    CreditApplied, InvoiceCreated, InvoiceSent, InvoiceStatusChanged, PaymentReceived,
    PaymentRefunded,
};
use crate::ledger::{self, Account, Leg, Posting};
use crate::module::Settings;
use crate::money::{LineAmounts, Totals};

pub(crate) const METHODS: [&str; 6] = [
    "credit_card",
    "bank_transfer",
    "ach",
    "check",
    "cash",
    "other",
];

/// Statuses a payment may be recorded against.
const PAYABLE: [&str; 4] = ["sent", "viewed", "overdue", "partially_paid"];

pub(crate) fn mail_templates() -> Vec<kernel::mail::EmailTemplate> {
    vec![kernel::mail::EmailTemplate {
        name: "invoice",
        subject: "Invoice {{ number }}: {{ total }} due {{ due_date }}",
        text: "Hello,\n\n{{ sender }} has sent you invoice {{ number }} for {{ total }}, due {{ due_date }}. See it and pay here:\n\n{{ link }}\n\nIf you did not expect it, you can ignore this email.\n",
        html: Some(
            "<p>Hello,</p><p>{{ sender }} has sent you invoice <b>{{ number }}</b> for <b>{{ total }}</b>, due {{ due_date }}.</p><p><a href=\"{{ link }}\">See it and pay</a></p><p>If you did not expect it, you can ignore this email.</p>",
        ),
    }]
}

/// Whether an invoice may go from `from` to `to`.
pub(crate) fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("draft", "sent" | "void")
            | (
                "sent",
                "viewed" | "partially_paid" | "paid" | "overdue" | "void"
            )
            | ("viewed", "partially_paid" | "paid" | "overdue" | "void")
            | ("overdue", "partially_paid" | "paid" | "void")
            | ("partially_paid", "paid" | "overdue" | "refunded")
            | ("paid", "refunded")
    )
}

pub(crate) fn no_invoice() -> ApiError {
    ApiError::not_found("no such invoice in this organization")
}

fn no_payment() -> ApiError {
    ApiError::not_found("no such payment in this organization")
}

/// What is still owed on an invoice.
pub(crate) fn balance(inv: &invoice::Model) -> i64 {
    (inv.total - inv.amount_paid - inv.amount_refunded).max(0)
}

/// What a payment may go to now: the balance of an invoice that is owed (sent, viewed, overdue,
/// partially paid); nothing on a draft, a void or a settled one.
pub(crate) fn owed(inv: &invoice::Model) -> i64 {
    match PAYABLE.contains(&inv.status.as_str()) {
        true => balance(inv),
        false => 0,
    }
}

async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events()
        .emit(tx, by.map(EntityRef::user), event)
        .await?;
    Ok(())
}

pub(crate) async fn get(tx: &TenantTx, id: Uuid) -> Result<invoice::Model, ApiError> {
    tx.repo::<invoice::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_invoice)
}

pub(crate) async fn lines_of(
    tx: &TenantTx,
    invoice_id: Uuid,
) -> Result<Vec<line::Model>, ApiError> {
    let repo = tx.repo::<line::Entity>();
    Ok(repo
        .find()
        .filter(line::Column::InvoiceId.eq(invoice_id))
        .order_by_asc(line::Column::Position)
        .order_by_asc(line::Column::Id)
        .all(repo.conn())
        .await?)
}

pub(crate) async fn payments_of(
    tx: &TenantTx,
    invoice_id: Uuid,
) -> Result<Vec<payment::Model>, ApiError> {
    let repo = tx.repo::<payment::Entity>();
    Ok(repo
        .find()
        .filter(payment::Column::InvoiceId.eq(invoice_id))
        .order_by_asc(payment::Column::CreatedAt)
        .order_by_asc(payment::Column::Id)
        .all(repo.conn())
        .await?)
}

/// The next invoice number of the org for `year`: `INV-YYYY-NNNN`. One counter row per org and
/// year, bumped in the creating transaction, so numbers are gapless (a rolled-back creation
/// gives its number back) and unique under concurrency (the row's lock orders the creators;
/// SQLite has one writer).
async fn next_number(tx: &TenantTx, year: i32) -> Result<String, ApiError> {
    use kernel::sea_orm::ConnectionTrait;
    // unscoped: an upsert with RETURNING the repository cannot say; it names tx's org itself.
    let conn = tx.unscoped();
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO finance_counters (id, org_id, kind, year, last) VALUES ($1, $2, 'invoice', $3, 1) \
             ON CONFLICT (org_id, kind, year) DO UPDATE SET last = finance_counters.last + 1 \
             RETURNING last",
            [Uuid::now_v7().into(), tx.org_id().into(), year.into()],
        ))
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the invoice counter answered nothing")))?;
    let last: i64 = row.try_get("", "last")?;
    Ok(format!("INV-{year}-{last:04}"))
}

/// A line as it is written: what the caller gave, in integers.
#[derive(Debug, Clone)]
pub(crate) struct NewLine {
    pub description: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
    pub tax_rate: i64,
}

impl NewLine {
    fn amounts(&self, at: &str) -> Result<LineAmounts, ApiError> {
        crate::money::line(
            at,
            self.quantity,
            self.unit_price,
            self.discount,
            self.tax_rate,
        )
    }
}

pub(crate) struct NewInvoice {
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub currency: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<NewLine>,
    /// The milestone it bills (at most one invoice each).
    pub milestone_id: Option<Uuid>,
}

/// 422 unless `contact_id` names a contact the caller sees (through the cell's `contact`
/// loader; a cell without one has no contacts to name).
async fn contact(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Option<Uuid>,
) -> Result<(), ApiError> {
    match id {
        Some(id) if !kernel::module::sees(ctx, tx, caller, "contact", id).await? => Err(
            ApiError::validation("contact_id", "no such contact in this organization"),
        ),
        _ => Ok(()),
    }
}

fn dates(
    settings: &Settings,
    issue: Option<NaiveDate>,
    due: Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let issue = issue.unwrap_or_else(|| Utc::now().date_naive());
    let due = due.unwrap_or(issue + Duration::days(i64::from(settings.payment_terms_days)));
    if due < issue {
        return Err(ApiError::validation(
            "due_date",
            "on or after the issue date",
        ));
    }
    Ok((issue, due))
}

/// Creates a draft with its next number and its lines, totals computed. `caller`: who asks,
/// whose view of the contact is checked; `None` for a job copying an invoice (its contact was
/// checked when it was written), acting as `by`.
pub(crate) async fn create(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    caller: Option<&Caller>,
    settings: &Settings,
    new: NewInvoice,
    source_id: Option<Uuid>,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    if new.lines.len() > settings.max_lines as usize {
        return Err(ApiError::validation(
            "line_items",
            format!("at most {} line items", settings.max_lines),
        ));
    }
    let amounts = new
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| l.amounts(&format!("line_items[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    let totals = Totals::of(amounts.iter().copied())?;
    if let Some(caller) = caller {
        contact(ctx, tx, caller, new.contact_id).await?;
    }
    let currency = match &new.currency {
        Some(c) => kernel::money::currency("currency", c)?,
        None => settings.default_currency.clone(),
    };
    let (issue, due) = dates(settings, new.issue_date, new.due_date)?;
    let now = Utc::now();
    let number = next_number(tx, now.year()).await?;
    let inv = tx
        .repo::<invoice::Entity>()
        .insert(invoice::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            number: Set(number),
            contact_id: Set(new.contact_id),
            deal_id: Set(new.deal_id),
            status: Set("draft".into()),
            issue_date: Set(issue),
            due_date: Set(due),
            currency: Set(currency),
            subtotal: Set(totals.subtotal),
            discount_amount: Set(totals.discount),
            tax_amount: Set(totals.tax),
            total: Set(totals.total),
            amount_paid: Set(0),
            amount_refunded: Set(0),
            receivable: Set(0),
            notes: Set(new.notes),
            terms: Set(new.terms),
            pay_token_hash: Set(None),
            pay_expires_at: Set(None),
            source_id: Set(source_id),
            sent_at: Set(None),
            viewed_at: Set(None),
            paid_at: Set(None),
            voided_at: Set(None),
            created_by: Set(by),
            created_at: Set(now),
            updated_at: Set(now),
            milestone_id: Set(new.milestone_id),
            bill_to: Set(None),
        })
        .await?;
    let rows: Vec<line::Model> = new
        .lines
        .into_iter()
        .zip(amounts)
        .enumerate()
        .map(|(i, (l, a))| line::Model {
            id: Uuid::now_v7(),
            org_id: tx.org_id(),
            invoice_id: inv.id,
            description: l.description,
            quantity: l.quantity,
            unit_price: l.unit_price,
            discount: a.discount,
            tax_rate: l.tax_rate,
            amount: a.gross,
            tax: a.tax,
            total: a.total,
            position: i32::try_from(i).unwrap_or(i32::MAX),
            created_at: now,
        })
        .collect();
    let repo = tx.repo::<line::Entity>();
    for chunk in rows.chunks(200) {
        repo.insert_many(chunk.iter().cloned().map(line::ActiveModel::from))
            .await?;
    }
    publish(
        ctx,
        tx,
        Some(by),
        &InvoiceCreated {
            invoice_id: inv.id,
            number: inv.number.clone(),
            contact_id: inv.contact_id,
        },
    )
    .await?;
    Ok((inv, rows))
}

/// 409 unless the invoice is a draft (lines, amounts and dates change only then).
fn draft(inv: &invoice::Model) -> Result<(), ApiError> {
    match inv.status.as_str() {
        "draft" => Ok(()),
        s => Err(ApiError::conflict(format!(
            "invoice {} is {s}: only a draft changes (void it, or duplicate it into a new draft)",
            inv.number
        ))),
    }
}

/// What a PATCH of a draft may change; `Some(None)` clears.
pub(crate) struct Change {
    pub contact_id: Option<Option<Uuid>>,
    pub deal_id: Option<Option<Uuid>>,
    pub currency: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub notes: Option<Option<String>>,
    pub terms: Option<Option<String>>,
}

pub(crate) async fn update(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    id: Uuid,
    change: Change,
) -> Result<invoice::Model, ApiError> {
    let inv = get(tx, id).await?;
    draft(&inv)?;
    if let Some(c) = change.contact_id {
        contact(ctx, tx, caller, c).await?;
    }
    let issue = change.issue_date.unwrap_or(inv.issue_date);
    let due = change.due_date.unwrap_or(inv.due_date);
    if due < issue {
        return Err(ApiError::validation(
            "due_date",
            "on or after the issue date",
        ));
    }
    let mut row: invoice::ActiveModel = inv.into();
    if let Some(c) = change.contact_id {
        row.contact_id = Set(c);
    }
    if let Some(d) = change.deal_id {
        row.deal_id = Set(d);
    }
    if let Some(c) = change.currency {
        row.currency = Set(kernel::money::currency("currency", &c)?);
    }
    row.issue_date = Set(issue);
    row.due_date = Set(due);
    if let Some(n) = change.notes {
        row.notes = Set(n);
    }
    if let Some(t) = change.terms {
        row.terms = Set(t);
    }
    row.updated_at = Set(Utc::now());
    Ok(tx.repo::<invoice::Entity>().update(row).await?)
}

/// Recomputes a draft's totals from its lines.
async fn retotal(
    tx: &TenantTx,
    inv: invoice::Model,
    lines: Vec<line::Model>,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let totals = Totals::of(lines.iter().map(|l| LineAmounts {
        gross: l.amount,
        discount: l.discount,
        tax: l.tax,
        total: l.total,
    }))?;
    let mut row: invoice::ActiveModel = inv.into();
    row.subtotal = Set(totals.subtotal);
    row.discount_amount = Set(totals.discount);
    row.tax_amount = Set(totals.tax);
    row.total = Set(totals.total);
    row.updated_at = Set(Utc::now());
    Ok((tx.repo::<invoice::Entity>().update(row).await?, lines))
}

/// A draft and its lines (409 unless it is a draft): what a change of lines starts from.
async fn draft_with_lines(
    tx: &TenantTx,
    id: Uuid,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let inv = get(tx, id).await?;
    draft(&inv)?;
    let lines = lines_of(tx, id).await?;
    Ok((inv, lines))
}

/// The position of `line_id` among a draft's `lines` (404 when it is not one of them).
fn line_at(lines: &[line::Model], line_id: Uuid) -> Result<usize, ApiError> {
    lines
        .iter()
        .position(|l| l.id == line_id)
        .ok_or_else(|| ApiError::not_found("no such line item on this invoice"))
}

/// Adds a line at the end of a draft; the draft retotalled, with its lines.
pub(crate) async fn add_line(
    tx: &TenantTx,
    settings: &Settings,
    id: Uuid,
    new: NewLine,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let (inv, mut lines) = draft_with_lines(tx, id).await?;
    let a = new.amounts("")?;
    if lines.len() >= settings.max_lines as usize {
        return Err(ApiError::conflict(format!(
            "an invoice holds at most {} line items",
            settings.max_lines
        )));
    }
    let position = lines.last().map_or(0, |l| l.position.saturating_add(1));
    let row = tx
        .repo::<line::Entity>()
        .insert(line::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            invoice_id: Set(id),
            description: Set(new.description),
            quantity: Set(new.quantity),
            unit_price: Set(new.unit_price),
            discount: Set(a.discount),
            tax_rate: Set(new.tax_rate),
            amount: Set(a.gross),
            tax: Set(a.tax),
            total: Set(a.total),
            position: Set(position),
            created_at: Set(Utc::now()),
        })
        .await?;
    lines.push(row);
    retotal(tx, inv, lines).await
}

/// What a line's PATCH changes.
pub(crate) struct LineChange {
    pub description: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price: Option<i64>,
    pub discount: Option<i64>,
    pub tax_rate: Option<i64>,
}

pub(crate) async fn update_line(
    tx: &TenantTx,
    id: Uuid,
    line_id: Uuid,
    change: LineChange,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let (inv, mut lines) = draft_with_lines(tx, id).await?;
    let at = line_at(&lines, line_id)?;
    let l = lines.swap_remove(at);
    let next = NewLine {
        description: change.description.unwrap_or_else(|| l.description.clone()),
        quantity: change.quantity.unwrap_or(l.quantity),
        unit_price: change.unit_price.unwrap_or(l.unit_price),
        discount: change.discount.unwrap_or(l.discount),
        tax_rate: change.tax_rate.unwrap_or(l.tax_rate),
    };
    let a = next.amounts("")?;
    let mut row: line::ActiveModel = l.into();
    row.description = Set(next.description);
    row.quantity = Set(next.quantity);
    row.unit_price = Set(next.unit_price);
    row.discount = Set(a.discount);
    row.tax_rate = Set(next.tax_rate);
    row.amount = Set(a.gross);
    row.tax = Set(a.tax);
    row.total = Set(a.total);
    lines.push(tx.repo::<line::Entity>().update(row).await?);
    lines.sort_by_key(|l| (l.position, l.id));
    retotal(tx, inv, lines).await
}

pub(crate) async fn remove_line(
    tx: &TenantTx,
    id: Uuid,
    line_id: Uuid,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let (inv, mut lines) = draft_with_lines(tx, id).await?;
    lines.remove(line_at(&lines, line_id)?);
    tx.repo::<line::Entity>().delete(line_id).await?;
    retotal(tx, inv, lines).await
}

/// Moves an invoice to `to` (409 when the status machine does not allow it), publishing
/// `finance.invoice.status_changed`. The row as changed by `edit` and the move.
async fn move_to(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    inv: invoice::Model,
    to: &str,
    edit: impl FnOnce(&mut invoice::ActiveModel),
) -> Result<invoice::Model, ApiError> {
    let from = inv.status.clone();
    if from != to && !may_move(&from, to) {
        return Err(ApiError::conflict(format!(
            "invoice {} is {from}: it cannot become {to}",
            inv.number
        )));
    }
    let mut row: invoice::ActiveModel = inv.into();
    row.status = Set(to.to_owned());
    row.updated_at = Set(Utc::now());
    edit(&mut row);
    let inv = tx.repo::<invoice::Entity>().update(row).await?;
    if from != to {
        publish(
            ctx,
            tx,
            by,
            &InvoiceStatusChanged {
                invoice_id: inv.id,
                number: inv.number.clone(),
                from,
                to: to.to_owned(),
            },
        )
        .await?;
    }
    Ok(inv)
}

/// The status the money on an invoice says (paid, partially paid, refunded), or its own.
/// Refunded: settled, and all that was paid given back; paid: settled with money kept; partly
/// settled (by payments or credit notes) and still owed: partially paid, unless it is overdue.
fn money_status(inv: &invoice::Model) -> String {
    let settled = inv.amount_paid + inv.amount_refunded;
    match (inv.amount_paid, inv.amount_refunded, balance(inv)) {
        (0, r, 0) if r > 0 => "refunded".into(),
        (p, _, 0) if p > 0 => "paid".into(),
        _ if settled > 0 && inv.status != "overdue" => "partially_paid".into(),
        _ => inv.status.clone(),
    }
}

/// Sends a draft: it is owed from now on (accounts receivable debited, revenue and tax
/// credited), a pay link is made, and with `to`, emailed there.
pub(crate) async fn send(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    caller: &Caller,
    id: Uuid,
    to: Option<String>,
) -> Result<(invoice::Model, String), ApiError> {
    let by = caller.user_id;
    let inv = get(tx, id).await?;
    draft(&inv)?;
    if inv.total <= 0 {
        return Err(ApiError::conflict(format!(
            "invoice {} comes to nothing: add line items before sending it",
            inv.number
        )));
    }
    let today = Utc::now().date_naive();
    ledger::post(
        tx,
        Posting {
            kind: "invoice_issued",
            posted_on: inv.issue_date.min(today),
            currency: &inv.currency,
            invoice_id: Some(inv.id),
            source_id: Some(inv.id),
            memo: format!("Invoice {}", inv.number),
            by: Some(by),
            legs: vec![
                Leg::debit(Account::AccountsReceivable, inv.total)
                    .invoice(inv.id)
                    .contact(inv.contact_id),
                Leg::credit(Account::Revenue, inv.subtotal - inv.discount_amount)
                    .contact(inv.contact_id),
                Leg::credit(Account::TaxPayable, inv.tax_amount),
            ],
        },
    )
    .await?;
    let (token, hash) = kernel::opaque::org_token(&ctx.config().secret_key(), tx.org_id())?;
    let expires = Utc::now() + Duration::days(i64::from(settings.pay_link_days));
    let now = Utc::now();
    let bill_to = bill_to(ctx, tx, caller, &inv).await?;
    let inv = move_to(ctx, tx, Some(by), inv, "sent", |row| {
        row.bill_to = Set(bill_to);
        row.sent_at = Set(Some(now));
        row.pay_token_hash = Set(Some(hash));
        row.pay_expires_at = Set(Some(expires));
    })
    .await?;
    let link = pay_link(ctx, settings, &token);
    if let Some(to) = &to {
        let sender = kernel::identity::email(ctx, by)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "A supplier".into());
        // The PDF as sent goes with the mail (typeset here, in the transaction: a send is rare,
        // and the mail must not leave without it).
        let lines = lines_of(tx, inv.id).await?;
        let statement = crate::pdf::statement(&inv, &lines, inv.bill_to.clone());
        let pdf = crate::pdf::stored(ctx, tx.org_id(), inv.id, statement).await?;
        let attachment = kernel::mail::Attachment::new(
            &format!("invoice-{}.pdf", inv.number),
            "application/pdf",
            &pdf,
        );
        ctx.mail()
            .queue_in_attaching(
                tx,
                to,
                "finance.invoice",
                &json!({
                    "number": inv.number, "sender": sender, "link": link,
                    "total": kernel::money::display(inv.total, &inv.currency),
                    "due_date": inv.due_date.to_string(),
                }),
                &[attachment],
            )
            .await
            .map_err(|e| ApiError::validation("to", e.to_string()))?;
    }
    publish(
        ctx,
        tx,
        Some(by),
        &InvoiceSent {
            invoice_id: inv.id,
            number: inv.number.clone(),
            total: inv.total,
            currency: inv.currency.clone(),
            recipient_email: to,
        },
    )
    .await?;
    Ok((inv, link))
}

/// Who an invoice is for, as `caller` sees them: its contact's name (else its deal's), when the
/// cell has a module that knows them; what was stored when it was sent, once it was.
pub(crate) async fn bill_to(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    inv: &invoice::Model,
) -> Result<Option<String>, ApiError> {
    if inv.bill_to.is_some() {
        return Ok(inv.bill_to.clone());
    }
    let (kind, id) = match (inv.contact_id, inv.deal_id) {
        (Some(contact), _) => ("contact", contact),
        (None, Some(deal)) => ("deal", deal),
        (None, None) => return Ok(None),
    };
    let Some(loader) = ctx.entity_loader(kind) else {
        return Ok(None);
    };
    Ok(loader
        .resolve(ctx, tx, caller, &[id])
        .await?
        .into_iter()
        .next()
        .map(|s| s.title))
}

fn pay_link(ctx: &CellContext, settings: &Settings, token: &str) -> String {
    ctx.config().token_link(
        settings.pay_link.as_deref(),
        "finance",
        "invoices/view",
        token,
    )
}

/// The invoice a pay link shows (its org's transaction): 404 for an unknown link, 410 for an
/// expired one or a void invoice.
pub(crate) async fn by_link(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<invoice::Model, ApiError> {
    let unknown = || ApiError::not_found("no such invoice link");
    let (_, hash) =
        kernel::opaque::org_token_hash(&ctx.config().secret_key(), token).ok_or_else(unknown)?;
    let repo = tx.repo::<invoice::Entity>();
    let inv = repo
        .find()
        .filter(invoice::Column::PayTokenHash.eq(hash))
        .one(repo.conn())
        .await?
        .ok_or_else(unknown)?;
    if inv.status == "void" || inv.pay_expires_at.is_none_or(|t| t < Utc::now()) {
        return Err(ApiError::new(
            ErrorCode::Gone,
            "this invoice link is no longer valid",
        ));
    }
    Ok(inv)
}

/// [`by_link`], and the first view of a sent invoice makes it `viewed`.
pub(crate) async fn view(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<invoice::Model, ApiError> {
    let inv = by_link(ctx, tx, token).await?;
    match inv.status.as_str() {
        "sent" => {
            let now = Utc::now();
            move_to(ctx, tx, None, inv, "viewed", |row| {
                row.viewed_at = Set(Some(now));
            })
            .await
        }
        _ => Ok(inv),
    }
}

/// Voids an invoice: a draft simply; a sent one without money on it by reversing its issue
/// entry (what was owed is no longer). One with payments is refunded first (409).
pub(crate) async fn void(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    id: Uuid,
) -> Result<invoice::Model, ApiError> {
    let inv = get(tx, id).await?;
    if inv.amount_paid != 0 || inv.amount_refunded != 0 {
        return Err(ApiError::conflict(format!(
            "invoice {} has payments: refund them before voiding it",
            inv.number
        )));
    }
    if inv.status != "draft" && may_move(&inv.status, "void") {
        ledger::reverse(
            tx,
            "invoice_issued",
            inv.id,
            "invoice_voided",
            format!("Invoice {} voided", inv.number),
            Some(by),
        )
        .await?;
    }
    let now = Utc::now();
    move_to(ctx, tx, Some(by), inv, "void", |row| {
        row.voided_at = Set(Some(now));
        row.pay_token_hash = Set(None);
    })
    .await
}

/// An invoice like `inv` issued on `issue`: the same customer, currency, lines, notes and terms,
/// due after as many days as the original.
pub(crate) async fn copy_of(
    tx: &TenantTx,
    inv: &invoice::Model,
    issue: NaiveDate,
) -> Result<NewInvoice, ApiError> {
    let lines = lines_of(tx, inv.id).await?;
    Ok(NewInvoice {
        contact_id: inv.contact_id,
        deal_id: inv.deal_id,
        currency: Some(inv.currency.clone()),
        issue_date: Some(issue),
        due_date: Some(issue + (inv.due_date - inv.issue_date)),
        notes: inv.notes.clone(),
        terms: inv.terms.clone(),
        lines: lines
            .into_iter()
            .map(|l| NewLine {
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: l.discount,
                tax_rate: l.tax_rate,
            })
            .collect(),
        milestone_id: None,
    })
}

/// A new draft like invoice `id` ([`copy_of`]), issued today, with the next number.
pub(crate) async fn duplicate(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    settings: &Settings,
    id: Uuid,
) -> Result<(invoice::Model, Vec<line::Model>), ApiError> {
    let inv = get(tx, id).await?;
    let new = copy_of(tx, &inv, Utc::now().date_naive()).await?;
    create(
        ctx,
        tx,
        caller.user_id,
        Some(caller),
        settings,
        new,
        Some(inv.id),
    )
    .await
}

/// A payment received.
pub(crate) struct NewPayment {
    pub invoice_id: Uuid,
    pub amount: i64,
    pub method: String,
    pub reference: Option<String>,
    pub provider: &'static str,
    pub provider_payment_id: Option<String>,
}

/// Records a payment on an invoice: what the invoice still owes is applied, the rest becomes
/// the customer's credit (never a negative balance); cash debited, receivables and credit
/// credited; the invoice `paid` or `partially_paid`; `finance.payment.received`. A manual
/// payment is refused on an invoice that owes nothing (409); money the provider collected is
/// always recorded (all of it credit when the invoice was settled or voided meanwhile).
pub(crate) async fn receive(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    new: NewPayment,
) -> Result<(payment::Model, invoice::Model), ApiError> {
    let inv = tx
        .repo::<invoice::Entity>()
        .get(new.invoice_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation("invoice_id", "no such invoice in this organization")
        })?;
    if new.provider == "manual" && !PAYABLE.contains(&inv.status.as_str()) {
        return Err(ApiError::conflict(match inv.status.as_str() {
            "draft" => format!(
                "invoice {} is a draft: send it before recording payments",
                inv.number
            ),
            s => format!("invoice {} is {s}: nothing is owed on it", inv.number),
        }));
    }
    let applied = new.amount.min(owed(&inv));
    let credited = new.amount - applied;
    let now = Utc::now();
    let p = tx
        .repo::<payment::Entity>()
        .insert(payment::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            invoice_id: Set(Some(inv.id)),
            contact_id: Set(inv.contact_id),
            kind: Set("payment".into()),
            method: Set(new.method),
            status: Set("completed".into()),
            amount: Set(new.amount),
            applied: Set(applied),
            credited: Set(credited),
            refunded: Set(0),
            currency: Set(inv.currency.clone()),
            provider: Set(new.provider.into()),
            provider_payment_id: Set(new.provider_payment_id),
            reference: Set(new.reference),
            refund_of: Set(None),
            paid_at: Set(Some(now)),
            created_by: Set(by),
            created_at: Set(now),
        })
        .await?;
    ledger::post(
        tx,
        Posting {
            kind: "payment",
            posted_on: now.date_naive(),
            currency: &inv.currency,
            invoice_id: Some(inv.id),
            source_id: Some(p.id),
            memo: format!("Payment on invoice {}", inv.number),
            by,
            legs: vec![
                Leg::debit(Account::Cash, p.amount),
                Leg::credit(Account::AccountsReceivable, applied)
                    .invoice(inv.id)
                    .contact(inv.contact_id),
                Leg::credit(Account::CustomerCredit, credited).contact(inv.contact_id),
            ],
        },
    )
    .await?;
    let inv = settle(ctx, tx, by, inv, applied).await?;
    publish(
        ctx,
        tx,
        by,
        &PaymentReceived {
            payment_id: p.id,
            invoice_id: Some(inv.id),
            amount: p.amount,
            applied,
            credited,
            currency: p.currency.clone(),
        },
    )
    .await?;
    Ok((p, inv))
}

/// `applied` more is paid on `inv`: its `amount_paid` and the status that says (`paid` at once).
async fn settle(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    inv: invoice::Model,
    applied: i64,
) -> Result<invoice::Model, ApiError> {
    let mut next = inv.clone();
    next.amount_paid += applied;
    let to = money_status(&next);
    let paid = next.amount_paid;
    move_to(ctx, tx, by, inv, &to, |row| {
        row.amount_paid = Set(paid);
        if to == "paid" {
            row.paid_at = Set(Some(Utc::now()));
        }
    })
    .await
}

/// What serializes the transactions that spend a customer's credit (apply it, refund it), so
/// two at once cannot both spend the same credit.
fn credit_key(contact: Uuid) -> String {
    format!("finance.credit:{contact}")
}

/// The credit a customer holds in `currency`: the balance of their customer credit account,
/// summed by the database.
async fn credit_of(tx: &TenantTx, contact: Uuid, currency: &str) -> Result<i64, ApiError> {
    let repo = tx.repo::<ledger_line::Entity>();
    let balance = repo
        .find()
        .select_only()
        .expr(Expr::cust(
            "CAST(COALESCE(SUM(credit - debit), 0) AS BIGINT)",
        ))
        .filter(ledger_line::Column::Account.eq(Account::CustomerCredit.key()))
        .filter(ledger_line::Column::ContactId.eq(contact))
        .filter(ledger_line::Column::Currency.eq(currency))
        .into_tuple::<i64>()
        .one(repo.conn())
        .await?;
    Ok(balance.unwrap_or(0))
}

/// Pays `amount` (default: as much as both allow) of an invoice from its customer's credit:
/// customer credit debited, receivables credited; a payment of kind `credit` (not refundable:
/// the payment that made the credit is); the invoice `paid` or `partially_paid`;
/// `finance.credit.applied`.
pub(crate) async fn apply_credit(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    invoice_id: Uuid,
    amount: Option<i64>,
) -> Result<(payment::Model, invoice::Model), ApiError> {
    let inv = get(tx, invoice_id).await?;
    if !PAYABLE.contains(&inv.status.as_str()) {
        return Err(ApiError::conflict(format!(
            "invoice {} is {}: credit applies to a sent invoice that is owed",
            inv.number, inv.status
        )));
    }
    let Some(contact) = inv.contact_id else {
        return Err(ApiError::conflict(format!(
            "invoice {} names no contact: there is no customer's credit to apply",
            inv.number
        )));
    };
    tx.serialize(&credit_key(contact)).await?;
    let available = credit_of(tx, contact, &inv.currency).await?;
    let most = available.min(balance(&inv));
    if most <= 0 {
        return Err(ApiError::conflict(format!(
            "the customer holds no credit in {}",
            inv.currency
        )));
    }
    let amount = amount.unwrap_or(most);
    if !(1..=most).contains(&amount) {
        return Err(ApiError::validation(
            "amount",
            format!("from 1 to {most}: the customer's credit ({available}) and what is owed"),
        ));
    }
    let now = Utc::now();
    let p = tx
        .repo::<payment::Entity>()
        .insert(payment::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            invoice_id: Set(Some(inv.id)),
            contact_id: Set(Some(contact)),
            kind: Set("credit".into()),
            method: Set("credit".into()),
            status: Set("completed".into()),
            amount: Set(amount),
            applied: Set(amount),
            credited: Set(0),
            refunded: Set(0),
            currency: Set(inv.currency.clone()),
            provider: Set("credit".into()),
            provider_payment_id: Set(None),
            reference: Set(None),
            refund_of: Set(None),
            paid_at: Set(Some(now)),
            created_by: Set(Some(by)),
            created_at: Set(now),
        })
        .await?;
    ledger::post(
        tx,
        Posting {
            kind: "credit_applied",
            posted_on: now.date_naive(),
            currency: &inv.currency,
            invoice_id: Some(inv.id),
            source_id: Some(p.id),
            memo: format!("Credit applied to invoice {}", inv.number),
            by: Some(by),
            legs: vec![
                Leg::debit(Account::CustomerCredit, amount).contact(Some(contact)),
                Leg::credit(Account::AccountsReceivable, amount)
                    .invoice(inv.id)
                    .contact(Some(contact)),
            ],
        },
    )
    .await?;
    let inv = settle(ctx, tx, Some(by), inv, amount).await?;
    publish(
        ctx,
        tx,
        Some(by),
        &CreditApplied {
            payment_id: p.id,
            invoice_id: inv.id,
            contact_id: contact,
            amount,
            currency: p.currency.clone(),
        },
    )
    .await?;
    Ok((p, inv))
}

/// How a refund of `amount` of payment `p` divides: first the credit it made that the customer
/// still holds, then what went to its invoice, and only then (a refund the provider made
/// regardless) credit the customer has spent since, which leaves them owing it.
struct Split {
    from_credit: i64,
    from_applied: i64,
    /// The most the cell itself refunds now.
    most: i64,
}

async fn split(tx: &TenantTx, p: &payment::Model, amount: i64) -> Result<Split, ApiError> {
    let repo = tx.repo::<payment::Entity>();
    let credit_refunded = repo
        .find()
        .select_only()
        .expr(Expr::cust("CAST(COALESCE(SUM(credited), 0) AS BIGINT)"))
        .filter(payment::Column::RefundOf.eq(p.id))
        .into_tuple::<i64>()
        .one(repo.conn())
        .await?
        .unwrap_or(0);
    let credit_left = p.credited - credit_refunded;
    let applied_left = p.applied - (p.refunded - credit_refunded);
    // Credit of no contact cannot be applied elsewhere: all of it is still held.
    let held = match (credit_left > 0, p.contact_id) {
        (false, _) => 0,
        (true, None) => credit_left,
        (true, Some(contact)) => {
            tx.serialize(&credit_key(contact)).await?;
            credit_of(tx, contact, &p.currency).await?.max(0)
        }
    };
    let first = amount.min(credit_left).min(held);
    let from_applied = (amount - first).min(applied_left);
    Ok(Split {
        from_credit: amount - from_applied,
        from_applied,
        most: applied_left + credit_left.min(held),
    })
}

/// [`refundable`], and within what the cell refunds now: credit of this payment that was
/// applied to other invoices since is not paid out again (409).
pub(crate) async fn refundable_now(
    tx: &TenantTx,
    p: &payment::Model,
    amount: i64,
) -> Result<(), ApiError> {
    refundable(p, amount)?;
    let s = split(tx, p, amount).await?;
    if amount > s.most {
        return Err(ApiError::conflict(format!(
            "{} of this payment's credit was applied to other invoices since: at most {} can be refunded",
            amount - s.most,
            s.most
        )));
    }
    Ok(())
}

pub(crate) async fn payment(tx: &TenantTx, id: Uuid) -> Result<payment::Model, ApiError> {
    tx.repo::<payment::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_payment)
}

/// 409 unless `p` is a completed payment with something left to refund; 422 unless `amount` is
/// within what is left.
pub(crate) fn refundable(p: &payment::Model, amount: i64) -> Result<(), ApiError> {
    if p.kind != "payment" || p.status != "completed" {
        return Err(ApiError::conflict(format!(
            "only a completed payment is refunded; this is a {} {}",
            p.status, p.kind
        )));
    }
    let left = p.amount - p.refunded;
    if left == 0 {
        return Err(ApiError::conflict(
            "this payment is refunded in full already",
        ));
    }
    if !(1..=left).contains(&amount) {
        return Err(ApiError::validation(
            "amount",
            format!("from 1 to {left}, what is left of the payment"),
        ));
    }
    Ok(())
}

/// The latest refund of a payment.
pub(crate) async fn last_refund(tx: &TenantTx, id: Uuid) -> Result<payment::Model, ApiError> {
    let repo = tx.repo::<payment::Entity>();
    repo.find()
        .filter(payment::Column::RefundOf.eq(id))
        .order_by_desc(payment::Column::CreatedAt)
        .order_by_desc(payment::Column::Id)
        .one(repo.conn())
        .await?
        .ok_or_else(no_payment)
}

/// Refunds `amount` (default: all that is left) of a payment. The customer's credit from it goes
/// back first; the rest is a credit note on the invoice (it is not owed again): cash credited,
/// customer credit and sales returns debited. The invoice is `refunded` once nothing paid is
/// left on it.
pub(crate) async fn refund(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Option<Uuid>,
    payment_id: Uuid,
    amount: Option<i64>,
) -> Result<(payment::Model, payment::Model), ApiError> {
    let p = payment(tx, payment_id).await?;
    let amount = amount.unwrap_or(p.amount - p.refunded);
    refundable(&p, amount)?;
    let Split {
        from_credit,
        from_applied,
        ..
    } = split(tx, &p, amount).await?;
    // What went to the invoice comes back out of its revenue and its tax, in the invoice's
    // proportion, counted on the running total so a full refund returns the tax exactly.
    let inv = match p.invoice_id {
        Some(id) if from_applied > 0 => Some(get(tx, id).await?),
        _ => None,
    };
    let tax_back = inv.as_ref().map_or(0, |i| {
        let share = |x: i64| {
            if i.total == 0 {
                return 0;
            }
            ((2 * i128::from(x) * i128::from(i.tax_amount) + i128::from(i.total))
                / (2 * i128::from(i.total))) as i64
        };
        share(i.amount_refunded + from_applied) - share(i.amount_refunded)
    });
    let now = Utc::now();
    let r = tx
        .repo::<payment::Entity>()
        .insert(payment::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            invoice_id: Set(p.invoice_id),
            contact_id: Set(p.contact_id),
            kind: Set("refund".into()),
            method: Set(p.method.clone()),
            status: Set("completed".into()),
            amount: Set(amount),
            applied: Set(from_applied),
            credited: Set(from_credit),
            refunded: Set(0),
            currency: Set(p.currency.clone()),
            provider: Set(p.provider.clone()),
            provider_payment_id: Set(None),
            reference: Set(None),
            refund_of: Set(Some(p.id)),
            paid_at: Set(Some(now)),
            created_by: Set(by),
            created_at: Set(now),
        })
        .await?;
    let mut row: payment::ActiveModel = p.clone().into();
    row.refunded = Set(p.refunded + amount);
    let p = tx.repo::<payment::Entity>().update(row).await?;
    ledger::post(
        tx,
        Posting {
            kind: "refund",
            posted_on: now.date_naive(),
            currency: &p.currency,
            invoice_id: p.invoice_id,
            source_id: Some(r.id),
            memo: "Refund".into(),
            by,
            legs: vec![
                Leg::debit(Account::CustomerCredit, from_credit).contact(p.contact_id),
                Leg::debit(Account::SalesReturns, from_applied - tax_back).contact(p.contact_id),
                Leg::debit(Account::TaxPayable, tax_back),
                Leg::credit(Account::Cash, amount),
            ],
        },
    )
    .await?;
    if let Some(inv) = inv {
        let mut next = inv.clone();
        next.amount_paid -= from_applied;
        next.amount_refunded += from_applied;
        let to = money_status(&next);
        move_to(ctx, tx, by, inv, &to, |row| {
            row.amount_paid = Set(next.amount_paid);
            row.amount_refunded = Set(next.amount_refunded);
        })
        .await?;
    }
    publish(
        ctx,
        tx,
        by,
        &PaymentRefunded {
            payment_id: p.id,
            refund_id: r.id,
            invoice_id: p.invoice_id,
            amount,
            currency: p.currency.clone(),
        },
    )
    .await?;
    Ok((p, r))
}

/// Invoices owed past their due date become `overdue` (`today` is the job's day), in every
/// org. The number that did.
pub(crate) async fn mark_overdue(ctx: &CellContext, today: NaiveDate) -> anyhow::Result<usize> {
    use kernel::sea_orm::ExprTrait;
    let owed = move || {
        invoice::Column::Status
            .is_in(["sent", "viewed", "partially_paid"])
            .and(invoice::Column::DueDate.lt(today))
    };
    let orgs = kernel::db::orgs_with::<invoice::Entity>(ctx.db(), owed()).await?;
    let mut n = 0;
    for org in orgs {
        let ctx = ctx.clone();
        n += kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(org).await?;
            let repo = tx.repo::<invoice::Entity>();
            let due = repo.find().filter(owed()).all(repo.conn()).await?;
            let n = due.len();
            for inv in due {
                move_to(&ctx, &tx, None, inv, "overdue", |_| {})
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            }
            tx.commit().await?;
            Ok(n)
        })
        .await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine_has_no_way_out_of_void_or_refunded() {
        for to in ["draft", "sent", "paid", "void", "refunded"] {
            assert!(!may_move("void", to));
            assert!(!may_move("refunded", to));
        }
        assert!(may_move("draft", "sent"));
        assert!(
            !may_move("draft", "paid"),
            "a draft is sent before it is paid"
        );
        assert!(
            !may_move("paid", "void"),
            "a paid invoice is refunded, not voided"
        );
    }
}
