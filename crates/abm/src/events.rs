//! The events abm publishes (its entry in the cell's event catalogue).

use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every event abm publishes.
pub(crate) fn catalogue() -> Vec<EventDef> {
    vec![
        EventDef::of::<CompanyEngaged>(),
        EventDef::of::<CompanyConverted>(),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CompanyEngaged {
    pub prospect_company_id: Uuid,
    pub intent_score: i64,
}
kernel::event!(
    CompanyEngaged,
    "abm.company.engaged",
    "A new prospect company's intent score reached the engagement threshold.",
    "prospect_company",
    prospect_company_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CompanyConverted {
    pub prospect_company_id: Uuid,
    /// The customer organization it became.
    pub customer_company_id: Uuid,
    pub converted_by: Uuid,
}
kernel::event!(
    CompanyConverted,
    "abm.company.converted",
    "A prospect company became a customer organization.",
    "prospect_company",
    prospect_company_id
);
