//! Who may call what. Every member reads tags and notes; members and up tag entities, create
//! tags and write notes; admins rename and delete tags. Seeing the entity itself is its module's
//! rule, asked through its loader (`crate::entities`).

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Tags and what they are applied to: `tags:read`, `tags:write`.
    pub(crate) Tags = "tags"
);
kernel::api_scope!(
    /// Notes on entities: `notes:read`, `notes:write`.
    pub(crate) Notes = "notes"
);

kernel::api_scope!(
    /// Links between entities: `links:read`, `links:write`.
    pub(crate) Links = "links"
);
kernel::api_scope!(
    /// Summaries and counts of any module's entities: `entities:read`.
    pub(crate) Entities = "entities"
);

kernel::api_scope!(
    /// Comments on entities: `comments:read`, `comments:write`.
    pub(crate) Comments = "comments"
);

kernel::api_scope!(
    /// The org's onboarding status: `onboarding:read`.
    pub(crate) Onboarding = "onboarding"
);

kernel::api_scope!(
    /// The activity feed: `activity:read`.
    pub(crate) Activity = "activity"
);

pub(crate) type ReadActivity = Scoped<InOrg, Read<Activity>>;
pub(crate) type ReadOnboarding = Scoped<InOrg, Read<Onboarding>>;
pub(crate) type ReadComments = Scoped<InOrg, Read<Comments>>;
pub(crate) type WriteComments = Scoped<WorkInOrg, Write<Comments>>;
pub(crate) type ReadLinks = Scoped<InOrg, Read<Links>>;
pub(crate) type WriteLinks = Scoped<WorkInOrg, Write<Links>>;
pub(crate) type ReadEntities = Scoped<InOrg, Read<Entities>>;
pub(crate) type ReadTags = Scoped<InOrg, Read<Tags>>;
pub(crate) type WriteTags = Scoped<WorkInOrg, Write<Tags>>;
pub(crate) type AdministerTags = Scoped<AdministerOrg, Write<Tags>>;
pub(crate) type ReadNotes = Scoped<InOrg, Read<Notes>>;
pub(crate) type WriteNotes = Scoped<WorkInOrg, Write<Notes>>;

kernel::api_scope!(
    /// The trash of every module: `trash:read`, `trash:write`.
    pub(crate) Trash = "trash"
);
kernel::api_scope!(
    /// Search, and the caller's recent and saved searches: `search:read`, `search:write`.
    pub(crate) Search = "search"
);

/// Every member sees the trash of what they may see.
pub(crate) type ReadTrash = Scoped<InOrg, Read<Trash>>;
/// Members restore (the entity's module also asks what deleting it asks).
pub(crate) type WriteTrash = Scoped<WorkInOrg, Write<Trash>>;
/// Deleting for good: admins and owners.
pub(crate) type PurgeTrash = Scoped<AdministerOrg, Write<Trash>>;
/// Every member searches (and sees only what they may see).
pub(crate) type ReadSearch = Scoped<InOrg, Read<Search>>;
/// Every member keeps their own saved searches.
pub(crate) type SaveSearch = Scoped<InOrg, Write<Search>>;
