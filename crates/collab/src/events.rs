//! The events the module publishes (the cell's catalogue prints their schemas).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A tag was applied to an entity (by hand or by a bulk apply).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagAdded {
    pub tag_id: Uuid,
    pub name: String,
    pub entity_type: String,
    pub entity_id: Uuid,
}
kernel::event!(
    TagAdded,
    "tag.added",
    "A tag was applied to an entity.",
    entity(entity_type, entity_id)
);

/// A tag was taken off an entity.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagRemoved {
    pub tag_id: Uuid,
    pub name: String,
    pub entity_type: String,
    pub entity_id: Uuid,
}
kernel::event!(
    TagRemoved,
    "tag.removed",
    "A tag was taken off an entity.",
    entity(entity_type, entity_id)
);

/// A tag was deleted, and with it from every entity it was on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagDeleted {
    pub tag_id: Uuid,
    pub name: String,
    /// How many entities carried it.
    pub entities: u64,
}
kernel::event!(
    TagDeleted,
    "tag.deleted",
    "A tag was deleted from the org and every entity.",
    "tag",
    tag_id
);

/// A note was added to an entity.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteAdded {
    pub note_id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub author_id: Uuid,
}
kernel::event!(
    NoteAdded,
    "note.added",
    "A note was added to an entity.",
    entity(entity_type, entity_id)
);

/// Two entities were linked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityLinked {
    pub link_id: Uuid,
    pub source_type: String,
    pub source_id: Uuid,
    pub target_type: String,
    pub target_id: Uuid,
    pub relationship: String,
}
kernel::event!(
    EntityLinked,
    "entity.linked",
    "Two entities were linked.",
    entity(source_type, source_id)
);

/// A link between two entities was removed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityUnlinked {
    pub link_id: Uuid,
    pub source_type: String,
    pub source_id: Uuid,
    pub target_type: String,
    pub target_id: Uuid,
    pub relationship: String,
}
kernel::event!(
    EntityUnlinked,
    "entity.unlinked",
    "A link between two entities was removed.",
    entity(source_type, source_id)
);

/// A comment (or a reply) was written on an entity.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommentAdded {
    pub comment_id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub author_id: Uuid,
}
kernel::event!(
    CommentAdded,
    "comment.added",
    "A comment was written on an entity.",
    entity(entity_type, entity_id)
);

/// A user was mentioned in a comment on an entity they may see.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserMentioned {
    pub user_id: Uuid,
    pub comment_id: Uuid,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub by: Uuid,
}
kernel::event!(
    UserMentioned,
    "user.mentioned",
    "A user was mentioned in a comment on an entity they may see.",
    "user",
    user_id
);

/// An entity was taken out of the trash (its module may publish its own event too).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityRestored {
    pub entity_type: String,
    pub entity_id: Uuid,
    pub title: String,
}
kernel::event!(
    EntityRestored,
    "entity.restored",
    "An entity was taken out of the trash.",
    entity(entity_type, entity_id)
);

/// An entity in the trash was deleted for good, with its tags, notes, comments and links.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityPurged {
    pub entity_type: String,
    pub entity_id: Uuid,
    /// `expired` (the daily purge) or `by_hand` (an admin's permanent delete).
    pub reason: String,
}
kernel::event!(
    EntityPurged,
    "entity.purged",
    "An entity in the trash was deleted for good.",
    entity(entity_type, entity_id)
);

/// Another entity of the same type was merged into this one (two persons found to be one):
/// its tags, notes, comments, links and activity are this one's now, and the module put it in
/// its trash. Modules that anchor rows on entities re-point them (tasks). The merging module's
/// own event (`crm.contact.merged`) is the activity entry; this one is not.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityMerged {
    pub entity_type: String,
    /// The entity kept.
    pub entity_id: Uuid,
    /// The entity merged into it (in the trash).
    pub merged_id: Uuid,
    /// The links it had that were kept (re-pointed; a repeat or a self-link is dropped).
    pub links_moved: u64,
}
kernel::event!(
    EntityMerged,
    "entity.merged",
    "Another entity was merged into this one.",
    entity(entity_type, entity_id)
);

pub(crate) fn catalogue() -> Vec<kernel::events::EventDef> {
    use kernel::events::EventDef;
    vec![
        EventDef::of::<TagAdded>(),
        EventDef::of::<TagRemoved>(),
        EventDef::of::<TagDeleted>(),
        EventDef::of::<NoteAdded>(),
        EventDef::of::<EntityLinked>(),
        EventDef::of::<EntityUnlinked>(),
        EventDef::of::<CommentAdded>(),
        EventDef::of::<UserMentioned>(),
        EventDef::of::<EntityRestored>(),
        EventDef::of::<EntityPurged>(),
        EventDef::of::<EntityMerged>(),
    ]
}

#[cfg(test)]
mod tests {
    use kernel::events::Event;

    use super::*;

    #[test]
    fn events_on_entities_are_about_the_entity_not_the_tag() {
        let (tag, team) = (Uuid::now_v7(), Uuid::now_v7());
        let added = TagAdded {
            tag_id: tag,
            name: "Hot".into(),
            entity_type: "team".into(),
            entity_id: team,
        };
        let about = added.entity();
        assert_eq!((about.kind.as_str(), about.id), ("team", team));
        let deleted = TagDeleted {
            tag_id: tag,
            name: "Hot".into(),
            entities: 0,
        };
        assert_eq!(deleted.entity().kind, "tag");
    }
}
