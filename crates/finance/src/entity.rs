//! The module's tables, private to the crate. Amounts are `i64` minor units of the row's
//! `currency`; quantities are hundredths; tax rates hundredths of a percent.

kernel::tenant_table!(invoice, "finance_invoices", {
    /// `INV-YYYY-NNNN`, gapless per org and year.
    number: String,
    contact_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    /// draft, sent, viewed, partially_paid, paid, overdue, void, refunded.
    status: String,
    issue_date: Date,
    due_date: Date,
    currency: String,
    subtotal: i64,
    discount_amount: i64,
    tax_amount: i64,
    total: i64,
    /// Received and applied to this invoice, less what was refunded of it.
    amount_paid: i64,
    /// Refunded of what was applied (each a credit note: it is no longer owed).
    amount_refunded: i64,
    /// Its balance on the ledger's receivables account (kept by every posting on it).
    receivable: i64,
    notes: Option<String>,
    terms: Option<String>,
    /// The keyed hash of the pay link's secret (the link itself is only in the email).
    pay_token_hash: Option<String>,
    pay_expires_at: Option<DateTimeUtc>,
    /// The invoice this one was duplicated from.
    source_id: Option<Uuid>,
    sent_at: Option<DateTimeUtc>,
    viewed_at: Option<DateTimeUtc>,
    paid_at: Option<DateTimeUtc>,
    voided_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    /// The project milestone (tasks) it bills: one invoice per milestone.
    milestone_id: Option<Uuid>,
    /// Who it is for, as it was sent (the contact's or deal's name then); `None` for a draft.
    bill_to: Option<String>,
});

kernel::tenant_table!(line, "finance_invoice_lines", {
    invoice_id: Uuid,
    description: String,
    /// Hundredths (150 = 1.5).
    quantity: i64,
    unit_price: i64,
    discount: i64,
    /// Hundredths of a percent (825 = 8.25 %).
    tax_rate: i64,
    /// quantity × unit price, rounded half away from zero.
    amount: i64,
    tax: i64,
    total: i64,
    position: i32,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(payment, "finance_payments", {
    invoice_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    /// `payment` (money in) or `refund` (money back out, of `refund_of`).
    kind: String,
    /// credit_card, bank_transfer, ach, check, cash, other.
    method: String,
    /// pending, completed, failed.
    status: String,
    amount: i64,
    /// Of a payment: what went to its invoice; the rest (`credited`) is the customer's credit.
    applied: i64,
    credited: i64,
    /// Of a payment: how much of it has been refunded.
    refunded: i64,
    currency: String,
    /// `manual` or `stripe`.
    provider: String,
    provider_payment_id: Option<String>,
    reference: Option<String>,
    refund_of: Option<Uuid>,
    paid_at: Option<DateTimeUtc>,
    created_by: Option<Uuid>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(entry, "finance_journal_entries", {
    /// The day the movement counts on in reports.
    posted_on: Date,
    /// invoice_issued, invoice_voided, payment, refund.
    kind: String,
    currency: String,
    invoice_id: Option<Uuid>,
    /// The payment, refund, expense or bill it records.
    source_id: Option<Uuid>,
    /// The entry this one reverses (a correction never edits an entry).
    reverses_id: Option<Uuid>,
    memo: String,
    created_by: Option<Uuid>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(ledger_line, "finance_journal_lines", {
    entry_id: Uuid,
    /// An account of the chart (`crate::ledger::Account`).
    account: String,
    currency: String,
    debit: i64,
    credit: i64,
    /// The entry's day, repeated so reports read lines by one index.
    posted_on: Date,
    invoice_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    category: Option<String>,
});

kernel::tenant_table!(daily_total, "finance_daily_totals", {
    /// Each account's debits and credits of a day (and category), added to by every posting in
    /// its transaction: what the reports sum.
    account: String,
    currency: String,
    /// An expense's category; empty for none.
    category: String,
    day: Date,
    debit: i64,
    credit: i64,
});

kernel::tenant_table!(receivable, "finance_receivables", {
    /// What is owed on the invoices due on a day, and how many of them owe something.
    currency: String,
    due_date: Date,
    amount: i64,
    invoices: i64,
});

kernel::tenant_table!(counter, "finance_counters", {
    /// `invoice`.
    kind: String,
    year: i32,
    /// The last number given.
    last: i64,
});

kernel::tenant_table!(provider_event, "finance_provider_events", {
    /// `stripe`.
    provider: String,
    /// The provider's event id: a second delivery of it changes nothing.
    event_id: String,
    received_at: DateTimeUtc,
});

kernel::tenant_table!(schedule, "finance_recurring", {
    /// The invoice each issue copies.
    template_invoice_id: Uuid,
    /// weekly, monthly, quarterly or annually.
    frequency: String,
    next_issue_date: Date,
    end_date: Option<Date>,
    /// Send each copy when it is made (to `send_to` when set).
    auto_send: bool,
    send_to: Option<String>,
    enabled: bool,
    last_invoice_id: Option<Uuid>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(expense, "finance_expenses", {
    /// Lower case, such as software, travel, office, payroll, other.
    category: String,
    description: Option<String>,
    amount: i64,
    currency: String,
    vendor: Option<String>,
    expense_date: Date,
    /// pending, approved, rejected or reimbursed.
    status: String,
    submitted_by: Uuid,
    decided_by: Option<Uuid>,
    decided_at: Option<DateTimeUtc>,
    /// Why it was rejected.
    reason: Option<String>,
    reimbursed_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(vendor, "finance_vendors", {
    /// Unique in the org.
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(bill, "finance_bills", {
    vendor_id: Option<Uuid>,
    /// The vendor's own number for it.
    reference: Option<String>,
    category: String,
    description: Option<String>,
    amount: i64,
    currency: String,
    bill_date: Date,
    due_date: Date,
    /// pending, approved, rejected, paid or cancelled.
    status: String,
    decided_by: Option<Uuid>,
    decided_at: Option<DateTimeUtc>,
    paid_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_entity!(
    daily_total,
    receivable,
    vendor,
    bill,
    expense,
    invoice,
    line,
    payment,
    entry,
    ledger_line,
    counter,
    provider_event,
    schedule
);
