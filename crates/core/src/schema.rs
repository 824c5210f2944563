//! The kernel's own tables, migrated before every module (pseudo-module `kernel`).
//!
//! Kernel tables carry `org_id` where their rows belong to a tenant, but have no row-level
//! security: only kernel code reads them, across orgs (the dispatcher, admin routes), and no
//! module query ever touches them. Times the kernel schedules on are epoch milliseconds
//! (`*_ms BIGINT`) so that comparisons are exact and identical on SQLite and PostgreSQL.

use sea_orm::DbErr;
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(Events), Box::new(Jobs), Box::new(Mail)]
}

struct Jobs;

impl MigrationName for Jobs {
    fn name(&self) -> &str {
        "kernel_m20261121_000002_jobs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Jobs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kernel_jobs")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("org_id").uuid())
                .col(ColumnDef::new("payload").text().not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("attempts").integer().not_null().default(0))
                .col(ColumnDef::new("max_attempts").integer().not_null())
                .col(ColumnDef::new("next_attempt_ms").big_integer().not_null())
                .col(
                    ColumnDef::new("locked_until_ms")
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new("last_error").text())
                .col(ColumnDef::new("created_at_ms").big_integer().not_null())
                .col(ColumnDef::new("finished_at_ms").big_integer())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_jobs_due")
                .table("kernel_jobs")
                .col("status")
                .col("next_attempt_ms")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kernel_job_runs")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("job_id").uuid().not_null())
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("attempt").integer().not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("error").text())
                .col(ColumnDef::new("started_at_ms").big_integer().not_null())
                .col(ColumnDef::new("finished_at_ms").big_integer().not_null())
                .col(ColumnDef::new("duration_ms").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_job_runs_name_started")
                .table("kernel_job_runs")
                .col("name")
                .col("started_at_ms")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kernel_schedule_ticks")
                .col(ColumnDef::new("schedule").string().not_null())
                .col(ColumnDef::new("tick_ms").big_integer().not_null())
                .col(ColumnDef::new("fired_at_ms").big_integer().not_null())
                .primary_key(Index::create().col("schedule").col("tick_ms"))
                .to_owned(),
        )
        .await
    }
}

struct Events;

impl MigrationName for Events {
    fn name(&self) -> &str {
        "kernel_m20261121_000001_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Events {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kernel_events")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("version").integer().not_null())
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("actor_type").string())
                .col(ColumnDef::new("actor_id").uuid())
                .col(ColumnDef::new("entity_type").string().not_null())
                .col(ColumnDef::new("entity_id").uuid().not_null())
                .col(ColumnDef::new("payload").text().not_null())
                .col(ColumnDef::new("occurred_at_ms").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_events_org_time")
                .table("kernel_events")
                .col("org_id")
                .col("occurred_at_ms")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kernel_event_deliveries")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("event_id").uuid().not_null())
                .col(ColumnDef::new("subscriber").string().not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("attempts").integer().not_null().default(0))
                .col(ColumnDef::new("next_attempt_ms").big_integer().not_null())
                .col(
                    ColumnDef::new("locked_until_ms")
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new("last_error").text())
                .col(ColumnDef::new("finished_at_ms").big_integer())
                .foreign_key(
                    sea_orm_migration::sea_query::ForeignKey::create()
                        .from("kernel_event_deliveries", "event_id")
                        .to("kernel_events", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_event_deliveries_event_subscriber")
                .table("kernel_event_deliveries")
                .col("event_id")
                .col("subscriber")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_event_deliveries_due")
                .table("kernel_event_deliveries")
                .col("status")
                .col("next_attempt_ms")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kernel_event_receipts")
                .col(ColumnDef::new("subscriber").string().not_null())
                .col(ColumnDef::new("event_id").uuid().not_null())
                .col(ColumnDef::new("received_at_ms").big_integer().not_null())
                .primary_key(Index::create().col("subscriber").col("event_id"))
                .to_owned(),
        )
        .await
    }
}

struct Mail;

impl MigrationName for Mail {
    fn name(&self) -> &str {
        "kernel_m20261121_000003_mail"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Mail {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kernel_emails")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid())
                .col(ColumnDef::new("to_addr").string().not_null())
                .col(ColumnDef::new("template").string().not_null())
                .col(ColumnDef::new("subject").text().not_null())
                .col(ColumnDef::new("text_body").text().not_null())
                .col(ColumnDef::new("html_body").text())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("provider_id").string())
                .col(ColumnDef::new("error").text())
                .col(ColumnDef::new("created_at_ms").big_integer().not_null())
                .col(ColumnDef::new("sent_at_ms").big_integer())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_emails_org_created")
                .table("kernel_emails")
                .col("org_id")
                .col("created_at_ms")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("kernel_email_templates")
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("subject").text().not_null())
                .col(ColumnDef::new("text_body").text().not_null())
                .col(ColumnDef::new("html_body").text())
                .col(ColumnDef::new("updated_at_ms").big_integer().not_null())
                .primary_key(Index::create().col("org_id").col("name"))
                .to_owned(),
        )
        .await
    }
}
