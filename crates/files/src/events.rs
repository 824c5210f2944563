//! The events the module publishes.

use kernel::module::EntityRef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A file was uploaded and confirmed: it is stored and can be downloaded.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileUploaded {
    pub file_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// The entity it is attached to, if any.
    pub attached_to: Option<EntityRef>,
}
kernel::event!(
    FileUploaded,
    "file.uploaded",
    "A file was uploaded and confirmed.",
    "file",
    file_id
);

/// A file was renamed or moved to another folder.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileUpdated {
    pub file_id: Uuid,
    pub name: String,
    pub folder_id: Option<Uuid>,
}
kernel::event!(
    FileUpdated,
    "file.updated",
    "A file was renamed or moved.",
    "file",
    file_id
);

/// A file went to the trash (its object is kept until the trash is purged).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileDeleted {
    pub file_id: Uuid,
}
kernel::event!(
    FileDeleted,
    "file.deleted",
    "A file went to the trash.",
    "file",
    file_id
);

/// A file came back from the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileRestored {
    pub file_id: Uuid,
}
kernel::event!(
    FileRestored,
    "file.restored",
    "A file came back from the trash.",
    "file",
    file_id
);

pub(crate) fn catalogue() -> Vec<kernel::events::EventDef> {
    use kernel::events::EventDef;
    vec![
        EventDef::of::<FileUploaded>(),
        EventDef::of::<FileUpdated>(),
        EventDef::of::<FileDeleted>(),
        EventDef::of::<FileRestored>(),
    ]
}
