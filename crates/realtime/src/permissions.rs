//! Who may call what. Every member of an org (viewers included) may listen: what reaches them is
//! their own notifications and the events of entities they may view, checked at each push.

use kernel::http::{Connect, InOrg, Read, Scoped};

kernel::api_scope!(
    /// Live pushes, for API keys: `realtime:read`.
    pub(crate) RealtimeScope = "realtime"
);

/// Opens a WebSocket or an event stream: every member of the active org.
pub(crate) type Listen = Connect<InOrg, Read<RealtimeScope>>;
/// Buys a connection ticket: the same callers, with their credentials.
pub(crate) type BuyTicket = Scoped<InOrg, Read<RealtimeScope>>;
