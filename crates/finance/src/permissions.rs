//! Who may call what. Invoices and payments are the org's books: members and up draft, send,
//! record payments and submit expenses; voids and refunds undo money movements and expenses are
//! approved and paid out, so those are for admins and owners; everyone in the org (viewers too)
//! reads. The pay link is a `Public` route with its token; Stripe's webhook a `Signed` one.

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Invoices, payments and reports, for API keys: `finance:read`, `finance:write`.
    pub(crate) Finance = "finance"
);

/// Reads invoices, payments, the ledger and the reports: everyone in the org.
pub(crate) type ReadFinance = Scoped<InOrg, Read<Finance>>;
/// Drafts, changes and sends invoices, records payments: members, admins and owners.
pub(crate) type WriteFinance = Scoped<WorkInOrg, Write<Finance>>;
/// Voids invoices, refunds payments, decides and reimburses expenses: admins and owners.
pub(crate) type AdministerFinance = Scoped<AdministerOrg, Write<Finance>>;
