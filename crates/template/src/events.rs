//! The events the module publishes: one payload type per event, declared once. The cell's
//! catalogue (`<cell> events catalogue`) prints their JSON schemas for webhook consumers.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An item was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemCreated {
    pub item_id: Uuid,
    pub name: String,
}
kernel::event!(
    ItemCreated,
    "template.item.created",
    "An item was created.",
    "template_item",
    item_id
);

/// An item was marked done.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemCompleted {
    pub item_id: Uuid,
}
kernel::event!(
    ItemCompleted,
    "template.item.completed",
    "An item was marked done.",
    "template_item",
    item_id
);

/// An item went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemDeleted {
    pub item_id: Uuid,
}
kernel::event!(
    ItemDeleted,
    "template.item.deleted",
    "An item went to the trash.",
    "template_item",
    item_id
);

/// An item came back from the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemRestored {
    pub item_id: Uuid,
}
kernel::event!(
    ItemRestored,
    "template.item.restored",
    "An item came back from the trash.",
    "template_item",
    item_id
);

pub(crate) fn catalogue() -> Vec<kernel::events::EventDef> {
    use kernel::events::EventDef;
    vec![
        EventDef::of::<ItemCreated>(),
        EventDef::of::<ItemCompleted>(),
        EventDef::of::<ItemDeleted>(),
        EventDef::of::<ItemRestored>(),
    ]
}
