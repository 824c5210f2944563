//! Who may call what. Every member of the org reaches the CRM's routes (viewers read); which
//! persons each one reads and writes is the cell's ownership policy (`crate::ownership`),
//! applied in the handlers' queries.

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Persons and their channels, for API keys: `contacts:read`, `contacts:write`.
    pub(crate) Contacts = "contacts"
);
kernel::api_scope!(
    /// Companies and their domains, for API keys: `companies:read`, `companies:write`.
    pub(crate) Companies = "companies"
);

kernel::api_scope!(
    /// Deals and pipelines, for API keys: `deals:read`, `deals:write`.
    pub(crate) Deals = "deals"
);

/// Reads deals (those the policy shows), boards, the forecast and pipelines: every member.
pub(crate) type ReadDeals = Scoped<InOrg, Read<Deals>>;
/// Creates, changes and moves deals (those the policy lets them write): members and up.
pub(crate) type WriteDeals = Scoped<WorkInOrg, Write<Deals>>;
/// Creates pipelines and configures their stages: admins and owners.
pub(crate) type ConfigurePipelines = Scoped<AdministerOrg, Write<Deals>>;

/// Reads persons (those the policy shows): every member, viewers included.
pub(crate) type ReadContacts = Scoped<InOrg, Read<Contacts>>;
/// Creates and changes persons (those the policy lets them write): members and up.
pub(crate) type WriteContacts = Scoped<WorkInOrg, Write<Contacts>>;
/// Reads companies: every member.
pub(crate) type ReadCompanies = Scoped<InOrg, Read<Companies>>;
/// Creates and changes companies: members and up.
pub(crate) type WriteCompanies = Scoped<WorkInOrg, Write<Companies>>;
/// Sets the fit criteria of products: admins and owners.
pub(crate) type ConfigureScoring = Scoped<AdministerOrg, Write<Contacts>>;
/// Merges and deletes companies: admins and owners.
pub(crate) type AdministerCompanies = Scoped<AdministerOrg, Write<Companies>>;
