//! Forward-only migrations, `notifications_m<date>_<seq>_<what>`.

use kernel::migration::{index, org_id, text, ts, ts_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateNotifications), Box::new(DigestZones)]
}

struct CreateNotifications;

impl MigrationName for CreateNotifications {
    fn name(&self) -> &str {
        "notifications_m20261205_000001_create_notifications"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateNotifications {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("notifications_items")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("user_id").uuid().not_null().to_owned())
                .col(text("channel"))
                .col(ColumnDef::new("event_id").uuid().not_null().to_owned())
                .col(text("event"))
                .col(text("entity_type"))
                .col(ColumnDef::new("entity_id").uuid().not_null().to_owned())
                .col(ColumnDef::new("actor_id").uuid().to_owned())
                .col(text("title"))
                .col(text("reason"))
                .col(text("status"))
                .col(ts_null("read_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        // One row per event, user and channel: a redelivered event adds nothing.
        m.create_index(
            index(
                "notifications_items_event",
                "notifications_items",
                &["org_id", "event_id", "user_id", "channel"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        // The inbox, newest first, and its unread count.
        m.create_index(index(
            "notifications_items_inbox",
            "notifications_items",
            &["org_id", "user_id", "channel", "status", "created_at"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "notifications_items").await?;

        m.create_table(
            Table::create()
                .table("notifications_preferences")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("user_id").uuid().to_owned())
                .col(text("event_type"))
                .col(
                    ColumnDef::new("channels")
                        .json_binary()
                        .not_null()
                        .to_owned(),
                )
                .col(ColumnDef::new("muted").boolean().not_null().to_owned())
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "notifications_preferences_user",
            "notifications_preferences",
            &["org_id", "user_id", "event_type"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "notifications_preferences").await?;

        m.create_table(
            Table::create()
                .table("notifications_digests")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("user_id").uuid().not_null().to_owned())
                .col(text("frequency"))
                .col(ts_null("last_sent_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "notifications_digests_user",
                "notifications_digests",
                &["org_id", "user_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        // The hourly digest job finds due users across orgs (system context).
        kernel::db::enable_system_rls(m.get_connection(), "notifications_digests", false).await
    }
}

/// Daily and weekly digests go at 08:00 in the user's zone: the row keeps the zone it counts in.
struct DigestZones;

impl MigrationName for DigestZones {
    fn name(&self) -> &str {
        "notifications_m20261207_000001_digest_zones"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for DigestZones {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("notifications_digests")
                .add_column(
                    ColumnDef::new("timezone")
                        .text()
                        .not_null()
                        .default("UTC")
                        .to_owned(),
                )
                .to_owned(),
        )
        .await
    }
}
