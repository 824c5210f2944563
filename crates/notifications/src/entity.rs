//! The module's tables. Private to the crate: other modules reach notifications through their
//! events and `PlatformModule::notify_on`.

/// One channel's copy of one event for one user: `in_app` rows are the inbox, `email` rows
/// record what was mailed (or waits for the digest).
pub(crate) mod notification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        pub channel: String,
        pub event_id: Uuid,
        pub event: String,
        pub entity_type: String,
        pub entity_id: Uuid,
        pub actor_id: Option<Uuid>,
        /// What happened, in a line (the event catalogue's summary).
        pub title: String,
        /// Why this user hears of it (`creator`, `assignee`…).
        pub reason: String,
        /// `in_app`: `unread` | `read`; `email`: `queued` (mailed) | `digest` (waits for the
        /// user's digest) | `no_address`.
        pub status: String,
        pub read_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What a user (or, with no user, the org by default) wants for the events a pattern names.
pub(crate) mod preference {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications_preferences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// `None`: the org's default for its members.
        pub user_id: Option<Uuid>,
        /// An event name or pattern (`document.*`, `*`).
        pub event_type: String,
        /// JSON array of `in_app`, `email`.
        pub channels: Json,
        pub muted: bool,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user's digest frequency in an org.
pub(crate) mod digest {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications_digests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub user_id: Uuid,
        /// `instant` | `hourly` | `daily` | `weekly`.
        pub frequency: String,
        /// The IANA zone the user's 08:00 is counted in: theirs when the row was last counted.
        pub timezone: String,
        pub last_sent_at: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

kernel::tenant_entity!(notification);
kernel::tenant_entity!(preference);
kernel::tenant_entity!(digest);
