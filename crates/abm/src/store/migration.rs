//! abm's tables, each with `org_id` leading every index and unique key, and row-level security.

use kernel::migration::{index, org_id, text, text_null, ts, ts_null, uuid_pk};
use kernel::sea_orm::{ConnectionTrait, DbErr, Statement};
use kernel::sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use kernel::sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateAbm),
        Box::new(CreateCustomers),
        Box::new(CreateScoreQueue),
        Box::new(ScoreQueueWithoutConflicts),
        Box::new(ScoreQueueWeights),
        Box::new(ForeignKeys),
        Box::new(ContactEmails),
    ]
}

struct CreateAbm;

impl MigrationName for CreateAbm {
    fn name(&self) -> &str {
        "abm_m20261121_000001_create_abm"
    }
}

/// The tables of the first migration (it turns on their row-level security).
pub const TABLES: [&str; 8] = [
    "abm_prospect_companies",
    "abm_company_domains",
    "abm_contacts",
    "abm_contact_identities",
    "abm_anonymous_visitors",
    "abm_intent_signals",
    "abm_hook_deliveries",
    "abm_org_domains",
];

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateAbm {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("abm_prospect_companies")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text("domain"))
                .col(
                    ColumnDef::new("intent_score")
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(text("stage"))
                .col(ColumnDef::new("owner_user_id").uuid())
                .col(ColumnDef::new("customer_org_id").uuid())
                .col(ts_null("score_updated_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols, unique) in [
            ("abm_prospects_org_id", &["org_id", "id"][..], false),
            ("abm_prospects_domain", &["org_id", "domain"][..], true),
            (
                "abm_prospects_score",
                &["org_id", "intent_score", "id"][..],
                false,
            ),
            (
                "abm_prospects_stage",
                &["org_id", "stage", "intent_score"][..],
                false,
            ),
        ] {
            let mut i = index(name, "abm_prospect_companies", cols);
            if unique {
                i.unique();
            }
            m.create_index(i).await?;
        }

        m.create_table(
            Table::create()
                .table("abm_company_domains")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .col(text("domain"))
                .col(ColumnDef::new("is_primary").boolean().not_null())
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "abm_domains_domain",
                "abm_company_domains",
                &["org_id", "domain"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "abm_domains_company",
            "abm_company_domains",
            &["org_id", "prospect_company_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("abm_contacts")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .col(text("email"))
                .col(text_null("first_name"))
                .col(text_null("last_name"))
                .col(text_null("title"))
                .col(text("status"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "abm_contacts_company_email",
                "abm_contacts",
                &["org_id", "prospect_company_id", "email"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("abm_contact_identities")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("contact_id").uuid().not_null())
                .col(text("identity_type"))
                .col(text("identity_value"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "abm_identities_value",
                "abm_contact_identities",
                &["org_id", "identity_type", "identity_value"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "abm_identities_contact",
            "abm_contact_identities",
            &["org_id", "contact_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("abm_anonymous_visitors")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .col(text("posthog_distinct_id"))
                .col(text_null("ip_hash"))
                .col(text_null("ip_country"))
                .col(text_null("ip_org"))
                .col(ts("last_seen_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "abm_visitors_distinct_id",
                "abm_anonymous_visitors",
                &["org_id", "posthog_distinct_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("abm_intent_signals")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .col(ColumnDef::new("contact_id").uuid())
                .col(ColumnDef::new("visitor_id").uuid())
                .col(text("signal_type"))
                .col(text_null("service_lane"))
                .col(text_null("topic"))
                .col(ColumnDef::new("weight").integer().not_null())
                .col(ts("occurred_at"))
                .col(ColumnDef::new("event_uuid").uuid())
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "abm_signals_company",
            "abm_intent_signals",
            &["org_id", "prospect_company_id", "occurred_at"],
        ))
        .await?;
        m.create_index(index(
            "abm_signals_feed",
            "abm_intent_signals",
            &["org_id", "occurred_at", "id"],
        ))
        .await?;
        // NULLs are distinct on both backends: events without a uuid are not de-duplicated.
        m.create_index(
            index(
                "abm_signals_event",
                "abm_intent_signals",
                &["org_id", "event_uuid"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("abm_hook_deliveries")
                .col(org_id())
                .col(text("webhook_id"))
                .col(ts("received_at"))
                .primary_key(Index::create().col("org_id").col("webhook_id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("abm_org_domains")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("org_name"))
                .col(text("domain"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "abm_org_domains_name",
                "abm_org_domains",
                &["org_id", "org_name"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        let conn = m.get_connection();
        for t in TABLES {
            kernel::db::enable_tenant_rls(conn, t).await?;
        }
        Ok(())
    }
}

/// Customer accounts (plan tier, Stripe id, status), one per customer org and owned by it.
struct CreateCustomers;

impl MigrationName for CreateCustomers {
    fn name(&self) -> &str {
        "abm_m20261121_000002_create_customers"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateCustomers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("abm_customers")
                .col(
                    ColumnDef::new("org_id")
                        .uuid()
                        .not_null()
                        .primary_key()
                        .to_owned(),
                )
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .col(text("plan_tier"))
                .col(text_null("stripe_customer_id"))
                .col(text("status"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        // The lane filter of the companies list reads signals by lane and time.
        m.create_index(index(
            "abm_signals_lane",
            "abm_intent_signals",
            &["org_id", "service_lane", "occurred_at"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "abm_customers").await
    }
}

/// The companies waiting for a re-score (drained by the score job).
struct CreateScoreQueue;

impl MigrationName for CreateScoreQueue {
    fn name(&self) -> &str {
        "abm_m20261121_000003_create_score_queue"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateScoreQueue {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("abm_score_queue")
                .col(org_id())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .primary_key(Index::create().col("org_id").col("prospect_company_id"))
                .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "abm_score_queue").await
    }
}

/// The score queue keeps a row per delivery and company (key `(org_id, id)`), inserted without a
/// conflict check: with one row per company, a delivery's upsert waited for a score job that had
/// drained that company's row until the job committed (seconds with hot accounts). A job drains
/// only committed rows (`DELETE … RETURNING`), and a delivery that commits later leaves its row
/// for the next job, so no signal is left unscored. Existing rows move over with their company
/// id as their id (unique, as the old key was).
struct ScoreQueueWithoutConflicts;

impl MigrationName for ScoreQueueWithoutConflicts {
    fn name(&self) -> &str {
        "abm_m20261121_000004_score_queue_without_conflicts"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for ScoreQueueWithoutConflicts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("abm_score_queue_next")
                .col(org_id())
                .col(ColumnDef::new("id").uuid().not_null())
                .col(ColumnDef::new("prospect_company_id").uuid().not_null())
                .primary_key(Index::create().col("org_id").col("id"))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO abm_score_queue_next (org_id, id, prospect_company_id) \
                 SELECT org_id, prospect_company_id, prospect_company_id FROM abm_score_queue",
            )
            .await?;
        m.drop_table(Table::drop().table("abm_score_queue").to_owned())
            .await?;
        m.rename_table(
            Table::rename()
                .table("abm_score_queue_next", "abm_score_queue")
                .to_owned(),
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "abm_score_queue").await
    }
}

/// Queue rows carry the weight their delivery adds, so the score job adds it instead of
/// re-summing each company's window (see `crate::score`). Rows queued before this migration
/// carry none: their companies are re-summed here and the queue starts empty.
struct ScoreQueueWeights;

impl MigrationName for ScoreQueueWeights {
    fn name(&self) -> &str {
        "abm_m20261121_000005_score_queue_weights"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for ScoreQueueWeights {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        let since = crate::score::window_start(chrono::Utc::now());
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE abm_prospect_companies SET intent_score = ( \
               SELECT COALESCE(SUM(s.weight), 0) FROM abm_intent_signals s \
               WHERE s.org_id = abm_prospect_companies.org_id \
                 AND s.prospect_company_id = abm_prospect_companies.id AND s.occurred_at > $1) \
             WHERE id IN (SELECT prospect_company_id FROM abm_score_queue)",
            [since.into()],
        ))
        .await?;
        conn.execute_unprepared("DELETE FROM abm_score_queue")
            .await?;
        m.alter_table(
            Table::alter()
                .table("abm_score_queue")
                .add_column(ColumnDef::new("weight").big_integer().not_null().default(0))
                .to_owned(),
        )
        .await
    }
}

struct ForeignKeys;

impl MigrationName for ForeignKeys {
    fn name(&self) -> &str {
        "abm_m20261204_000001_foreign_keys"
    }
}

/// What a company's and a contact's deletion takes with them, said by the database: domains,
/// contacts (and their identities), visitors, signals and queued scores go with their company.
/// A child always names a parent of its own org. Signals keep their `contact_id` and
/// `visitor_id` as history (no key). `abm_customers` has none: its row lives in the customer's
/// org and its company in the operator's, and a converted company is kept by the handler (409).
#[kernel::async_trait::async_trait]
impl MigrationTrait for ForeignKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{ForeignKey, OnDelete, add_foreign_keys, tenant_parent_key};
        const COMPANIES: &str = "abm_prospect_companies";
        m.create_index(tenant_parent_key(COMPANIES)).await?;
        m.create_index(tenant_parent_key("abm_contacts")).await?;
        let company = || ForeignKey::tenant("prospect_company_id", COMPANIES, OnDelete::Cascade);
        // Parents before children: SQLite rebuilds each table, which a referenced one cannot be.
        add_foreign_keys(m, "abm_contacts", &[company()]).await?;
        add_foreign_keys(
            m,
            "abm_contact_identities",
            &[ForeignKey::tenant(
                "contact_id",
                "abm_contacts",
                OnDelete::Cascade,
            )],
        )
        .await?;
        for table in [
            "abm_company_domains",
            "abm_anonymous_visitors",
            "abm_intent_signals",
            "abm_score_queue",
        ] {
            add_foreign_keys(m, table, &[company()]).await?;
        }
        Ok(())
    }
}

struct ContactEmails;

impl MigrationName for ContactEmails {
    fn name(&self) -> &str {
        "abm_m20261207_000001_contact_emails"
    }
}

/// A contact's email is one of their identities: ingestion finds contacts by the emails of a
/// delivery's people, across companies.
#[kernel::async_trait::async_trait]
impl MigrationTrait for ContactEmails {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("abm_contacts_email", "abm_contacts", &["org_id", "email"]).to_owned())
            .await
    }
}
