//! The module's tables, as sea-orm entities. Private to the crate: other modules reach items
//! through the module's events and public functions, never its rows.

pub(crate) mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "template_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        /// `open` or `done`.
        pub status: String,
        pub notes: Option<String>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// When it went to the trash; `None` while it is live.
        pub deleted_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// Items go to the trash before they are deleted for good: the repository hides trashed rows.
kernel::tenant_entity!(soft_delete: item);

// How many live items an org holds, so the `max_items` check costs one row, not a count of the
// org's items (which made an import quadratic). Made by the first check that needs it.
kernel::tenant_table!(item_count, "template_item_counts", {
    /// Items not in the trash.
    items: i64,
});
kernel::tenant_entity!(item_count);
