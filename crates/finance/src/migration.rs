//! Forward-only migrations, named `finance_m<date>_<seq>_<what>`. Journal entries and their lines
//! are append-only: triggers on both backends refuse to change or delete them (a correction is
//! a reversing entry).

use kernel::migration::{
    OnDelete, bigint, boolean, create_indexes as indexes, create_tenant_table as table, date,
    date_null, int, text, text_null, ts, ts_null, uuid, uuid_null,
};
use kernel::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateFinance),
        Box::new(MilestoneInvoices),
        Box::new(InvoiceBillTo),
    ]
}

/// Who an invoice is for, as it was sent: the contact's (or deal's) name then, shown on its PDF
/// however the contact changes later.
struct InvoiceBillTo;

impl MigrationName for InvoiceBillTo {
    fn name(&self) -> &str {
        "finance_m20261207_000002_invoice_bill_to"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for InvoiceBillTo {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(INVOICES)
                .add_column(text_null("bill_to"))
                .to_owned(),
        )
        .await
    }
}

/// An invoice may bill a project milestone (tasks' `tasks.milestone.reached`): at most one
/// invoice per milestone, however often the event is delivered.
struct MilestoneInvoices;

impl MigrationName for MilestoneInvoices {
    fn name(&self) -> &str {
        "finance_m20261207_000001_milestone_invoices"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for MilestoneInvoices {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(INVOICES)
                .add_column(uuid_null("milestone_id"))
                .to_owned(),
        )
        .await?;
        indexes(
            m,
            INVOICES,
            &[(
                "finance_invoices_org_milestone",
                &["org_id", "milestone_id"],
                true,
            )],
        )
        .await?;
        // A customer's credit (applied to another invoice, checked before a refund).
        indexes(
            m,
            LINES,
            &[(
                "finance_lines_org_account_contact",
                &["org_id", "account", "contact_id", "currency"],
                false,
            )],
        )
        .await
    }
}

struct CreateFinance;

impl MigrationName for CreateFinance {
    fn name(&self) -> &str {
        "finance_m20261206_000001_invoices_payments_ledger"
    }
}

const INVOICES: &str = "finance_invoices";
const ENTRIES: &str = "finance_journal_entries";
const LINES: &str = "finance_journal_lines";

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateFinance {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use OnDelete::{Cascade, Restrict};
        let conn = m.get_connection();
        table(
            m,
            INVOICES,
            vec![
                text("number"),
                uuid_null("contact_id"),
                uuid_null("deal_id"),
                text("status"),
                date("issue_date"),
                date("due_date"),
                text("currency"),
                bigint("subtotal"),
                bigint("discount_amount"),
                bigint("tax_amount"),
                bigint("total"),
                bigint("amount_paid"),
                bigint("amount_refunded"),
                bigint("receivable"),
                text_null("notes"),
                text_null("terms"),
                text_null("pay_token_hash"),
                ts_null("pay_expires_at"),
                uuid_null("source_id"),
                ts_null("sent_at"),
                ts_null("viewed_at"),
                ts_null("paid_at"),
                ts_null("voided_at"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            INVOICES,
            &[
                ("finance_invoices_org_number", &["org_id", "number"], true),
                (
                    "finance_invoices_org_status_due",
                    &["org_id", "status", "due_date"],
                    false,
                ),
                (
                    "finance_invoices_org_created",
                    &["org_id", "created_at"],
                    false,
                ),
                (
                    "finance_invoices_org_contact",
                    &["org_id", "contact_id"],
                    false,
                ),
                (
                    "finance_invoices_org_pay_token",
                    &["org_id", "pay_token_hash"],
                    true,
                ),
            ],
        )
        .await?;

        table(
            m,
            "finance_invoice_lines",
            vec![
                uuid("invoice_id"),
                text("description"),
                bigint("quantity"),
                bigint("unit_price"),
                bigint("discount"),
                bigint("tax_rate"),
                bigint("amount"),
                bigint("tax"),
                bigint("total"),
                int("position"),
                ts("created_at"),
            ],
            &[("invoice_id", INVOICES, Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_invoice_lines",
            &[(
                "finance_invoice_lines_org_invoice",
                &["org_id", "invoice_id", "position"],
                false,
            )],
        )
        .await?;

        table(
            m,
            "finance_payments",
            vec![
                uuid_null("invoice_id"),
                uuid_null("contact_id"),
                text("kind"),
                text("method"),
                text("status"),
                bigint("amount"),
                bigint("applied"),
                bigint("credited"),
                bigint("refunded"),
                text("currency"),
                text("provider"),
                text_null("provider_payment_id"),
                text_null("reference"),
                uuid_null("refund_of"),
                ts_null("paid_at"),
                uuid_null("created_by"),
                ts("created_at"),
            ],
            &[("invoice_id", INVOICES, Restrict)],
            true,
        )
        .await?;
        indexes(
            m,
            "finance_payments",
            &[
                (
                    "finance_payments_org_invoice",
                    &["org_id", "invoice_id"],
                    false,
                ),
                (
                    "finance_payments_org_created",
                    &["org_id", "created_at"],
                    false,
                ),
                (
                    "finance_payments_org_provider_id",
                    &["org_id", "provider", "provider_payment_id"],
                    true,
                ),
            ],
        )
        .await?;

        table(
            m,
            ENTRIES,
            vec![
                date("posted_on"),
                text("kind"),
                text("currency"),
                uuid_null("invoice_id"),
                uuid_null("source_id"),
                uuid_null("reverses_id"),
                text("memo"),
                uuid_null("created_by"),
                ts("created_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            ENTRIES,
            &[
                (
                    "finance_entries_org_posted",
                    &["org_id", "posted_on"],
                    false,
                ),
                (
                    "finance_entries_org_invoice",
                    &["org_id", "invoice_id"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            LINES,
            vec![
                uuid("entry_id"),
                text("account"),
                text("currency"),
                bigint("debit"),
                bigint("credit"),
                date("posted_on"),
                uuid_null("invoice_id"),
                uuid_null("contact_id"),
                text_null("category"),
            ],
            &[("entry_id", ENTRIES, Restrict)],
            false,
        )
        .await?;
        indexes(
            m,
            LINES,
            &[
                // Reports: one account of one currency over a range of days.
                (
                    "finance_lines_org_account_day",
                    &["org_id", "account", "currency", "posted_on"],
                    false,
                ),
                (
                    "finance_lines_org_account_invoice",
                    &["org_id", "account", "invoice_id"],
                    false,
                ),
                ("finance_lines_org_entry", &["org_id", "entry_id"], false),
            ],
        )
        .await?;

        table(
            m,
            "finance_counters",
            vec![
                text("kind"),
                ColumnDef::new("year").integer().not_null().to_owned(),
                bigint("last"),
            ],
            &[],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_counters",
            &[(
                "finance_counters_org_kind_year",
                &["org_id", "kind", "year"],
                true,
            )],
        )
        .await?;

        table(
            m,
            "finance_provider_events",
            vec![text("provider"), text("event_id"), ts("received_at")],
            &[],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_provider_events",
            &[(
                "finance_provider_events_org_event",
                &["org_id", "provider", "event_id"],
                true,
            )],
        )
        .await?;

        table(
            m,
            "finance_recurring",
            vec![
                uuid("template_invoice_id"),
                text("frequency"),
                date("next_issue_date"),
                date_null("end_date"),
                boolean("auto_send"),
                text_null("send_to"),
                boolean("enabled"),
                uuid_null("last_invoice_id"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[("template_invoice_id", INVOICES, Restrict)],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_recurring",
            &[
                (
                    "finance_recurring_org_template",
                    &["org_id", "template_invoice_id"],
                    true,
                ),
                (
                    "finance_recurring_due",
                    &["enabled", "next_issue_date"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            "finance_expenses",
            vec![
                text("category"),
                text_null("description"),
                bigint("amount"),
                text("currency"),
                text_null("vendor"),
                date("expense_date"),
                text("status"),
                uuid("submitted_by"),
                uuid_null("decided_by"),
                ts_null("decided_at"),
                text_null("reason"),
                ts_null("reimbursed_at"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            "finance_expenses",
            &[
                (
                    "finance_expenses_org_status",
                    &["org_id", "status", "expense_date"],
                    false,
                ),
                (
                    "finance_expenses_org_submitter",
                    &["org_id", "submitted_by"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            "finance_vendors",
            vec![
                text("name"),
                text_null("email"),
                text_null("phone"),
                text_null("notes"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            "finance_vendors",
            &[("finance_vendors_org_name", &["org_id", "name"], true)],
        )
        .await?;
        table(
            m,
            "finance_bills",
            vec![
                uuid_null("vendor_id"),
                text_null("reference"),
                text("category"),
                text_null("description"),
                bigint("amount"),
                text("currency"),
                date("bill_date"),
                date("due_date"),
                text("status"),
                uuid_null("decided_by"),
                ts_null("decided_at"),
                ts_null("paid_at"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[("vendor_id", "finance_vendors", Restrict)],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_bills",
            &[
                (
                    "finance_bills_org_status",
                    &["org_id", "status", "due_date"],
                    false,
                ),
                ("finance_bills_org_vendor", &["org_id", "vendor_id"], false),
            ],
        )
        .await?;

        table(
            m,
            "finance_daily_totals",
            vec![
                text("account"),
                text("currency"),
                text("category"),
                date("day"),
                bigint("debit"),
                bigint("credit"),
            ],
            &[],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_daily_totals",
            &[(
                "finance_daily_totals_key",
                &["org_id", "account", "currency", "category", "day"],
                true,
            )],
        )
        .await?;
        table(
            m,
            "finance_receivables",
            vec![
                text("currency"),
                date("due_date"),
                bigint("amount"),
                bigint("invoices"),
            ],
            &[],
            false,
        )
        .await?;
        indexes(
            m,
            "finance_receivables",
            &[(
                "finance_receivables_key",
                &["org_id", "currency", "due_date"],
                true,
            )],
        )
        .await?;

        for t in [
            "finance_daily_totals",
            "finance_receivables",
            "finance_vendors",
            "finance_bills",
            "finance_expenses",
            "finance_invoice_lines",
            ENTRIES,
            LINES,
            "finance_counters",
            "finance_provider_events",
        ] {
            kernel::db::enable_tenant_rls(conn, t).await?;
        }
        // The overdue sweep finds due invoices across orgs; a provider's refund names a payment
        // and no org.
        for t in [INVOICES, "finance_payments", "finance_recurring"] {
            kernel::db::enable_system_rls(conn, t, false).await?;
        }
        for t in [ENTRIES, LINES] {
            append_only(conn, t).await?;
        }
        Ok(())
    }
}

/// Triggers that refuse an `UPDATE` or `DELETE` of `table`'s rows.
async fn append_only<C: ConnectionTrait>(conn: &C, table: &str) -> Result<(), DbErr> {
    let message = format!("{table} is append-only: post a reversing entry");
    let statements = match conn.get_database_backend() {
        DbBackend::Postgres => vec![
            format!(
                "CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN RAISE EXCEPTION '{message}'; END $$"
            ),
            format!(
                "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            ),
        ],
        _ => ["UPDATE", "DELETE"]
            .iter()
            .map(|op| {
                format!(
                    "CREATE TRIGGER {table}_no_{} BEFORE {op} ON {table} \
                     BEGIN SELECT RAISE(ABORT, '{message}'); END",
                    op.to_ascii_lowercase()
                )
            })
            .collect(),
    };
    for sql in statements {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}
