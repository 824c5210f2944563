//! The events the module publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An import was confirmed and queued.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportStarted {
    pub job_id: Uuid,
    pub entity_type: String,
    pub total_rows: i64,
}
kernel::event!(
    ImportStarted,
    "import.started",
    "An import was confirmed and queued.",
    "import_job",
    job_id
);

/// An import finished: how many rows were stored and how many refused.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportCompleted {
    pub job_id: Uuid,
    pub entity_type: String,
    pub total_rows: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// For people: "2,430 of 2,450 imported (20 skipped)".
    pub summary: String,
}
kernel::event!(
    ImportCompleted,
    "import.completed",
    "An import finished.",
    "import_job",
    job_id
);

/// An export's file is ready to download.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportCompleted {
    pub job_id: Uuid,
    pub entity_type: String,
    pub format: String,
    pub rows: i64,
}
kernel::event!(
    ExportCompleted,
    "export.completed",
    "An export's file is ready.",
    "export_job",
    job_id
);

pub(crate) fn catalogue() -> Vec<kernel::events::EventDef> {
    use kernel::events::EventDef;
    vec![
        EventDef::of::<ImportStarted>(),
        EventDef::of::<ImportCompleted>(),
        EventDef::of::<ExportCompleted>(),
    ]
}

/// `2430` → `2,430`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    match n < 0 {
        true => format!("-{out}"),
        false => out,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(super::thousands(2430), "2,430");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands(0), "0");
    }
}
