//! The kernel's own tables, migrated before every module (pseudo-module `kernel`).
//!
//! Kernel tables carry `org_id` where their rows belong to a tenant, and those have row-level
//! security like every tenant table, with a policy that also admits the kernel's system context
//! ([`crate::Db::system`], `app.system = on`): request paths write them inside the org's
//! transaction, the dispatcher, job runner, mail sender and admin API read them across orgs.
//! Times the kernel schedules on are epoch milliseconds (`*_ms BIGINT`) so that comparisons
//! are exact and identical on SQLite and PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(Events),
        Box::new(Jobs),
        Box::new(Mail),
        Box::new(RowSecurity),
        Box::new(AuditLog),
        Box::new(Signals),
        Box::new(IdempotencyKeys),
        Box::new(MailAttachments),
    ]
}

struct MailAttachments;

impl MigrationName for MailAttachments {
    fn name(&self) -> &str {
        "kernel_m20261207_000001_mail_attachments"
    }
}

/// A message's attachments (a JSON list of files of the cell's storage; see
/// `mail::Attachment`), read when it is sent.
#[async_trait::async_trait]
impl MigrationTrait for MailAttachments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("kernel_emails")
                .add_column(ColumnDef::new("attachments").text())
                .to_owned(),
        )
        .await
    }
}

struct Signals;

impl MigrationName for Signals {
    fn name(&self) -> &str {
        "kernel_m20261203_000001_signals"
    }
}

/// New jobs and deliveries wake the runners of every instance when they commit.
#[async_trait::async_trait]
impl MigrationTrait for Signals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        use crate::signals::{SignalOn, signal_on};
        signal_on(conn, "kernel_jobs", crate::jobs::SIGNAL, SignalOn::Insert).await?;
        signal_on(
            conn,
            "kernel_event_deliveries",
            crate::events::SIGNAL,
            SignalOn::Insert,
        )
        .await
    }
}

struct RowSecurity;

impl MigrationName for RowSecurity {
    fn name(&self) -> &str {
        "kernel_m20261122_000001_row_security"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RowSecurity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        // (table, may rows without an org be written outside the system context)
        for (table, null_org) in [
            ("kernel_events", false),
            ("kernel_jobs", true),
            ("kernel_emails", true),
            ("kernel_email_templates", false),
        ] {
            crate::db::enable_system_rls(conn, table, null_org).await?;
        }
        Ok(())
    }
}

struct AuditLog;

impl MigrationName for AuditLog {
    fn name(&self) -> &str {
        "kernel_m20261122_000002_audit_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AuditLog {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("audit_log")
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("org_id").uuid())
                .col(ColumnDef::new("actor_user_id").uuid())
                .col(ColumnDef::new("actor_api_key_id").uuid())
                .col(ColumnDef::new("action").string().not_null())
                .col(ColumnDef::new("entity_type").string())
                .col(ColumnDef::new("entity_id").string())
                .col(ColumnDef::new("changes").json_binary())
                .col(ColumnDef::new("ip").string())
                .col(ColumnDef::new("user_agent").text())
                .col(ColumnDef::new("request_id").string())
                .col(ColumnDef::new("status").integer())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("audit_log_org_time", &["org_id", "created_at"][..]),
            (
                "audit_log_org_entity",
                &["org_id", "entity_type", "entity_id", "created_at"][..],
            ),
            (
                "audit_log_org_actor",
                &["org_id", "actor_user_id", "created_at"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table("audit_log");
            for col in cols {
                index.col(*col);
            }
            m.create_index(index.to_owned()).await?;
        }
        let conn = m.get_connection();
        crate::db::enable_system_rls(conn, "audit_log", true).await?;
        // Append-only for everyone, owners included (the application role is not even granted
        // UPDATE or DELETE); a retention job would have to disable these triggers explicitly.
        match conn.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege'; END $$;
                     CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log \
                       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
                     CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
                       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();",
                )
                .await?;
            }
            _ => {
                for (name, op) in [("no_update", "UPDATE"), ("no_delete", "DELETE")] {
                    conn.execute_unprepared(&format!(
                        "CREATE TRIGGER audit_log_{name} BEFORE {op} ON audit_log \
                         BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }
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

/// The answers kept for `Idempotency-Key` ([`crate::http::idempotency`]), per caller in an org.
struct IdempotencyKeys;

impl MigrationName for IdempotencyKeys {
    fn name(&self) -> &str {
        "kernel_m20261207_000001_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IdempotencyKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("kernel_idempotency_keys")
                .col(ColumnDef::new("org_id").uuid().not_null())
                .col(ColumnDef::new("actor_id").uuid().not_null())
                .col(ColumnDef::new("idem_key").string().not_null())
                .col(ColumnDef::new("fingerprint").string().not_null())
                .col(ColumnDef::new("status").integer())
                .col(ColumnDef::new("content_type").text())
                .col(ColumnDef::new("location").text())
                .col(ColumnDef::new("body").binary())
                .col(ColumnDef::new("created_at_ms").big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col("org_id")
                        .col("actor_id")
                        .col("idem_key"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("kernel_idempotency_keys_created")
                .table("kernel_idempotency_keys")
                .col("created_at_ms")
                .to_owned(),
        )
        .await?;
        crate::db::enable_system_rls(m.get_connection(), "kernel_idempotency_keys", false).await
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
