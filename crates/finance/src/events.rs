//! The events the module publishes (the cell's catalogue prints their schemas).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An invoice was created (a draft, with its number).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceCreated {
    pub invoice_id: Uuid,
    pub number: String,
    pub contact_id: Option<Uuid>,
}
kernel::event!(
    InvoiceCreated,
    "finance.invoice.created",
    "An invoice was created as a draft.",
    "finance_invoice",
    invoice_id
);

/// An invoice was sent: it is owed from now on (posted to accounts receivable).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceSent {
    pub invoice_id: Uuid,
    pub number: String,
    pub total: i64,
    pub currency: String,
    pub recipient_email: Option<String>,
}
kernel::event!(
    InvoiceSent,
    "finance.invoice.sent",
    "An invoice was sent to its customer and is owed.",
    "finance_invoice",
    invoice_id
);

/// An invoice's status changed (sent, viewed, partially_paid, paid, overdue, void, refunded).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceStatusChanged {
    pub invoice_id: Uuid,
    pub number: String,
    pub from: String,
    pub to: String,
}
kernel::event!(
    InvoiceStatusChanged,
    "finance.invoice.status_changed",
    "An invoice moved to another status.",
    "finance_invoice",
    invoice_id
);

/// A payment was received (manual or through the payment provider).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentReceived {
    pub payment_id: Uuid,
    pub invoice_id: Option<Uuid>,
    pub amount: i64,
    /// What went to the invoice; the rest became the customer's credit.
    pub applied: i64,
    pub credited: i64,
    pub currency: String,
}
kernel::event!(
    PaymentReceived,
    "finance.payment.received",
    "A payment was received and applied to its invoice.",
    "finance_payment",
    payment_id
);

/// Part of an invoice was paid from its customer's credit (an earlier overpayment).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditApplied {
    /// The payment of kind `credit` that records it.
    pub payment_id: Uuid,
    pub invoice_id: Uuid,
    pub contact_id: Uuid,
    pub amount: i64,
    pub currency: String,
}
kernel::event!(
    CreditApplied,
    "finance.credit.applied",
    "A customer's credit paid part of an invoice.",
    "finance_payment",
    payment_id
);

/// Money was paid back.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentRefunded {
    pub payment_id: Uuid,
    pub refund_id: Uuid,
    pub invoice_id: Option<Uuid>,
    pub amount: i64,
    pub currency: String,
}
kernel::event!(
    PaymentRefunded,
    "finance.payment.refunded",
    "A payment was refunded, in part or in whole.",
    "finance_payment",
    payment_id
);

/// A payment through the provider failed (the customer may try again).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentFailed {
    pub invoice_id: Uuid,
    /// The provider's PaymentIntent.
    pub payment_intent: String,
    /// The provider's reason, when it gave one.
    pub message: Option<String>,
}
kernel::event!(
    PaymentFailed,
    "finance.payment.failed",
    "A payment through the payment provider failed.",
    "finance_invoice",
    invoice_id
);

/// An expense was submitted for approval.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpenseSubmitted {
    pub expense_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub category: String,
}
kernel::event!(
    ExpenseSubmitted,
    "finance.expense.submitted",
    "An expense was submitted for approval.",
    "finance_expense",
    expense_id
);

/// An expense was approved (and posted).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpenseApproved {
    pub expense_id: Uuid,
}
kernel::event!(
    ExpenseApproved,
    "finance.expense.approved",
    "An expense was approved.",
    "finance_expense",
    expense_id
);

/// An expense was rejected.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpenseRejected {
    pub expense_id: Uuid,
    pub reason: Option<String>,
}
kernel::event!(
    ExpenseRejected,
    "finance.expense.rejected",
    "An expense was rejected.",
    "finance_expense",
    expense_id
);

/// An approved expense was paid back to its submitter.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpenseReimbursed {
    pub expense_id: Uuid,
}
kernel::event!(
    ExpenseReimbursed,
    "finance.expense.reimbursed",
    "An approved expense was reimbursed.",
    "finance_expense",
    expense_id
);

/// A bill was approved: it is owed to its vendor (posted to accounts payable).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillApproved {
    pub bill_id: Uuid,
    pub amount: i64,
    pub currency: String,
}
kernel::event!(
    BillApproved,
    "finance.bill.approved",
    "A bill was approved for payment.",
    "finance_bill",
    bill_id
);

/// A bill was paid.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillPaid {
    pub bill_id: Uuid,
    pub amount: i64,
    pub currency: String,
}
kernel::event!(
    BillPaid,
    "finance.bill.paid",
    "A bill was paid.",
    "finance_bill",
    bill_id
);

pub(crate) fn catalogue() -> Vec<kernel::events::EventDef> {
    use kernel::events::EventDef;
    vec![
        EventDef::of::<InvoiceCreated>(),
        EventDef::of::<InvoiceSent>(),
        EventDef::of::<InvoiceStatusChanged>(),
        EventDef::of::<PaymentReceived>(),
        EventDef::of::<PaymentRefunded>(),
        EventDef::of::<CreditApplied>(),
        EventDef::of::<PaymentFailed>(),
        EventDef::of::<ExpenseSubmitted>(),
        EventDef::of::<ExpenseApproved>(),
        EventDef::of::<ExpenseRejected>(),
        EventDef::of::<ExpenseReimbursed>(),
        EventDef::of::<BillApproved>(),
        EventDef::of::<BillPaid>(),
    ]
}
