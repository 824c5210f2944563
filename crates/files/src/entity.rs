//! The module's tables. Private to the crate: other modules reach files through the entity
//! contract (`file`) and the module's events.

/// A file's bytes are under `<org>/files/<id>` (`service::key`), derived, never stored.
pub(crate) mod file {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "files_objects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        /// The name users see (never part of the storage key).
        pub name: String,
        pub content_type: String,
        /// Declared at upload, checked against the stored object on confirm.
        pub size: i64,
        /// `pending` until confirmed, then `active`.
        pub status: String,
        /// Library files only (those attached to no entity).
        pub folder_id: Option<Uuid>,
        pub attached_type: Option<String>,
        pub attached_id: Option<Uuid>,
        pub uploaded_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub confirmed_at: Option<DateTimeUtc>,
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod folder {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "files_folders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        /// `None` at the top of the library.
        pub parent_id: Option<Uuid>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// Files go to the trash first (their object stays until the purge).
kernel::tenant_entity!(soft_delete: file);
kernel::tenant_entity!(folder);
