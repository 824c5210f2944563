//! Forward-only migrations, `files_m<date>_<seq>_<what>`.

use kernel::migration::{ForeignKey, OnDelete, index, org_id, text, ts, ts_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateFiles)]
}

struct CreateFiles;

impl MigrationName for CreateFiles {
    fn name(&self) -> &str {
        "files_m20261205_000001_create_files"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateFiles {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("files_folders")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(ColumnDef::new("parent_id").uuid().to_owned())
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                // A folder with folders in it is not deleted (the service says so first).
                .foreign_key(
                    &mut ForeignKey::by_id("parent_id", "files_folders", OnDelete::Restrict)
                        .create("files_folders"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "files_folders_parent",
            "files_folders",
            &["org_id", "parent_id", "name"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "files_folders").await?;

        m.create_table(
            Table::create()
                .table("files_objects")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text("content_type"))
                .col(ColumnDef::new("size").big_integer().not_null().to_owned())
                .col(text("status"))
                .col(ColumnDef::new("folder_id").uuid().to_owned())
                .col(ColumnDef::new("attached_type").text().to_owned())
                .col(ColumnDef::new("attached_id").uuid().to_owned())
                .col(ColumnDef::new("uploaded_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("confirmed_at"))
                .col(ts_null("deleted_at"))
                // Deleting a folder leaves the trashed files that were in it at the top.
                .foreign_key(
                    &mut ForeignKey::by_id("folder_id", "files_folders", OnDelete::SetNull)
                        .create("files_objects"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "files_objects_folder",
            "files_objects",
            &["org_id", "folder_id", "created_at"],
        ))
        .await?;
        m.create_index(index(
            "files_objects_attached",
            "files_objects",
            &["org_id", "attached_type", "attached_id", "created_at"],
        ))
        .await?;
        m.create_index(index(
            "files_objects_status",
            "files_objects",
            &["org_id", "status", "created_at"],
        ))
        .await?;
        // The daily purge and the sweep of abandoned uploads read across orgs (system context).
        kernel::db::enable_system_rls(m.get_connection(), "files_objects", false).await
    }
}
