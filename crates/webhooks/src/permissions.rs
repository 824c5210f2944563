//! Who may call what. Webhooks send the org's events to outside systems, so only the org's
//! admins and owners see or change them.

use kernel::http::{AdministerOrg, Read, Scoped, Write};

kernel::api_scope!(
    /// Webhook subscriptions and their delivery log, for API keys: `webhooks:read`,
    /// `webhooks:write`.
    pub(crate) WebhooksScope = "webhooks"
);

/// Lists subscriptions and the delivery log: admins and owners.
pub(crate) type ReadWebhooks = Scoped<AdministerOrg, Read<WebhooksScope>>;
/// Registers, changes, tests, rotates, retries and replays: admins and owners.
pub(crate) type WriteWebhooks = Scoped<AdministerOrg, Write<WebhooksScope>>;
