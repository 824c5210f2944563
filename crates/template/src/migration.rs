//! Forward-only migrations, named `template_m<date>_<seq>_<what>`. Every tenant table leads
//! its keys with `org_id` and gets row-level security.

use kernel::migration::{index, org_id, text, ts, ts_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateItems),
        Box::new(ItemsTrash),
        Box::new(ItemsByOrgAndId),
        Box::new(ItemCounts),
    ]
}

/// Each org's count of live items (see `entity::item_count`). No backfill: an org's row is
/// counted from its items the first time a check needs it.
struct ItemCounts;

impl MigrationName for ItemCounts {
    fn name(&self) -> &str {
        "template_m20261207_000001_item_counts"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for ItemCounts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("template_item_counts")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("items").big_integer().not_null().to_owned())
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "template_item_counts_org",
                "template_item_counts",
                &["org_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "template_item_counts").await
    }
}

struct CreateItems;

impl MigrationName for CreateItems {
    fn name(&self) -> &str {
        "template_m20261203_000001_create_items"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateItems {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("template_items")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text("status"))
                .col(ColumnDef::new("notes").text().to_owned())
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        // A name is unique in its org: a second one is a 409 naming the field.
        m.create_index(
            index(
                "template_items_org_name",
                "template_items",
                &["org_id", "name"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "template_items_org_created",
            "template_items",
            &["org_id", "created_at"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "template_items").await
    }
}

/// `(org_id, id)`: an export pages through an org's items in id order (`id > after ORDER BY id
/// LIMIT n`), one index range per page whatever the org's size.
struct ItemsByOrgAndId;

impl MigrationName for ItemsByOrgAndId {
    fn name(&self) -> &str {
        "template_m20261205_000002_items_org_id"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for ItemsByOrgAndId {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(kernel::migration::tenant_parent_key("template_items"))
            .await
    }
}

/// Items go to the trash first (`deleted_at`). The daily purge finds expired ones across orgs in
/// the system context, so the policy admits it (reads of another org stay impossible for requests).
struct ItemsTrash;

impl MigrationName for ItemsTrash {
    fn name(&self) -> &str {
        "template_m20261205_000001_items_trash"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for ItemsTrash {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("template_items")
                .add_column(ts_null("deleted_at"))
                .to_owned(),
        )
        .await?;
        kernel::db::enable_system_rls(m.get_connection(), "template_items", false).await
    }
}
