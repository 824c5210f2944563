//! Who may call what: every route of the module takes one of these (the kernel's one way in,
//! `kernel::http::Scoped`), so the checks are listed here, in one place, and a handler without
//! one does not get a transaction at all.
//!
//! These use the platform's org permissions (`org#viewer_access`, `member_access`,
//! `admin_access`). A module whose records have their own sharing declares a namespace in
//! `PlatformModule::permission_schema` (`definition template_item { relation org: org … }`) and
//! a `kernel::http::Permission` with `OBJECT = Object::Path("id")` to check on the record.

//!
//! Each alias also names the API-key scope its routes need (`Read<Items>`: an API key needs
//! `items:read`; `Write<Items>`: `items:write`). A module declares one scope per resource its
//! routes expose.

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// The module's items, for API keys: `items:read`, `items:write`.
    pub(crate) Items = "items"
);

/// Reads items: every member of the org, viewers included.
pub(crate) type ReadItems = Scoped<InOrg, Read<Items>>;
/// Creates and changes items: members, admins and owners.
pub(crate) type WriteItems = Scoped<WorkInOrg, Write<Items>>;
/// Deletes items: admins and owners.
pub(crate) type DeleteItems = Scoped<AdministerOrg, Write<Items>>;
