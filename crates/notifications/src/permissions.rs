//! Who may call what. A notification is its user's alone: every route works on the caller's
//! own inbox and preferences in their active org (the handlers filter by the caller); org
//! defaults are the admins'.

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, Write};

kernel::api_scope!(
    /// A user's notifications and preferences, for API keys: `notifications:read`,
    /// `notifications:write`.
    pub(crate) NotificationsScope = "notifications"
);

/// Reads one's own inbox and preferences: every member, viewers included.
pub(crate) type ReadOwn = Scoped<InOrg, Read<NotificationsScope>>;
/// Marks one's own notifications read, sets one's own preferences: every member.
pub(crate) type WriteOwn = Scoped<InOrg, Write<NotificationsScope>>;
/// Sets the org's default preferences: admins and owners.
pub(crate) type WriteOrgDefaults = Scoped<AdministerOrg, Write<NotificationsScope>>;
