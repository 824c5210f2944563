//! The events the module publishes.

use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A subscription failed `disable_after` deliveries in a row and was turned off: nothing more is
/// sent to it until an admin turns it back on (`PATCH /webhooks/{id} {"active": true}`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookDisabled {
    pub subscription_id: Uuid,
    pub url: String,
    /// Failed attempts in a row when it was disabled.
    pub consecutive_failures: i32,
    /// The last failure: a status code or the transport's error.
    pub last_error: String,
}
kernel::event!(
    WebhookDisabled,
    "webhook.disabled",
    "A webhook subscription was disabled after failing too many deliveries in a row.",
    "webhook_subscription",
    subscription_id
);

pub(crate) fn catalogue() -> Vec<EventDef> {
    vec![EventDef::of::<WebhookDisabled>()]
}
