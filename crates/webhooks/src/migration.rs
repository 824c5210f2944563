//! Forward-only migrations, `webhooks_m<date>_<seq>_<what>`.

use kernel::migration::{
    ForeignKey, OnDelete, index, org_id, tenant_parent_key, text, text_null, ts, ts_null, uuid_pk,
};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateWebhooks), Box::new(FieldFilters)]
}

/// Field filters per subscription: an update event is delivered only when one of the fields
/// named for it changed.
struct FieldFilters;

impl MigrationName for FieldFilters {
    fn name(&self) -> &str {
        "webhooks_m20261207_000001_field_filters"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for FieldFilters {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("webhooks_subscriptions")
                .add_column(ColumnDef::new("fields").json_binary().to_owned())
                .to_owned(),
        )
        .await
    }
}

struct CreateWebhooks;

impl MigrationName for CreateWebhooks {
    fn name(&self) -> &str {
        "webhooks_m20261205_000001_create_webhooks"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateWebhooks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhooks_subscriptions")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("url"))
                .col(text("description"))
                .col(ColumnDef::new("events").json_binary().not_null().to_owned())
                .col(text("secret"))
                .col(text_null("previous_secret"))
                .col(ts_null("previous_until"))
                .col(ColumnDef::new("active").boolean().not_null().to_owned())
                .col(
                    ColumnDef::new("consecutive_failures")
                        .integer()
                        .not_null()
                        .to_owned(),
                )
                .col(ts_null("disabled_at"))
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(tenant_parent_key("webhooks_subscriptions"))
            .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "webhooks_subscriptions").await?;

        m.create_table(
            Table::create()
                .table("webhooks_deliveries")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(
                    ColumnDef::new("subscription_id")
                        .uuid()
                        .not_null()
                        .to_owned(),
                )
                .col(ColumnDef::new("event_id").uuid().to_owned())
                .col(text("event"))
                .col(text("body"))
                .col(text("status"))
                .col(ColumnDef::new("attempts").integer().not_null().to_owned())
                .col(ColumnDef::new("last_status_code").integer().to_owned())
                .col(text_null("last_error"))
                .col(ts_null("next_attempt_at"))
                .col(ts("created_at"))
                .col(ts_null("delivered_at"))
                .foreign_key(
                    &mut ForeignKey::tenant(
                        "subscription_id",
                        "webhooks_subscriptions",
                        OnDelete::Cascade,
                    )
                    .create("webhooks_deliveries"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(tenant_parent_key("webhooks_deliveries"))
            .await?;
        // One delivery per event and subscription: the fan-out is idempotent on the event id.
        m.create_index(
            index(
                "webhooks_deliveries_event",
                "webhooks_deliveries",
                &["org_id", "subscription_id", "event_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "webhooks_deliveries_log",
            "webhooks_deliveries",
            &["org_id", "subscription_id", "created_at"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "webhooks_deliveries").await?;

        m.create_table(
            Table::create()
                .table("webhooks_attempts")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("delivery_id").uuid().not_null().to_owned())
                .col(ColumnDef::new("attempt").integer().not_null().to_owned())
                .col(text("url"))
                .col(
                    ColumnDef::new("request_headers")
                        .json_binary()
                        .not_null()
                        .to_owned(),
                )
                .col(ColumnDef::new("status_code").integer().to_owned())
                .col(text_null("response_body"))
                .col(text_null("error"))
                .col(
                    ColumnDef::new("latency_ms")
                        .big_integer()
                        .not_null()
                        .to_owned(),
                )
                .col(ts("at"))
                .foreign_key(
                    &mut ForeignKey::tenant(
                        "delivery_id",
                        "webhooks_deliveries",
                        OnDelete::Cascade,
                    )
                    .create("webhooks_attempts"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "webhooks_attempts_delivery",
            "webhooks_attempts",
            &["org_id", "delivery_id", "attempt"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "webhooks_attempts").await
    }
}
