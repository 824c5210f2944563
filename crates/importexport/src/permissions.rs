//! Who may call what. Importing also needs what the entity's module asks to create its records
//! (`Records::may_import`); an export holds only what the caller sees.

use kernel::http::{InOrg, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Imports and exports, for API keys: `data:write` (starting one, reading its status).
    pub(crate) DataScope = "data"
);

/// Imports: members and up (and the entity module's own rule).
pub(crate) type ImportData = Scoped<WorkInOrg, Write<DataScope>>;
/// Exports and job status: every member (an export holds only what they see).
pub(crate) type ExportData = Scoped<InOrg, Write<DataScope>>;
/// Counting for dashboards: every member (counts hold only what they see).
pub(crate) type ReadAnalytics = Scoped<InOrg, kernel::http::Read<AnalyticsScope>>;

kernel::api_scope!(
    /// Counts for dashboards, for API keys: `analytics:read`.
    pub(crate) AnalyticsScope = "analytics"
);

/// Reading a job's status.
pub(crate) type ReadJobs = Scoped<InOrg, kernel::http::Read<DataScope>>;
