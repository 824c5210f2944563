//! Forward-only migrations, `crm_m<date>_<seq>_<what>`. Every table leads its keys with
//! `org_id` and gets row-level security; persons and companies go to the trash first, and the
//! daily purge finds expired ones across orgs in the system context.

use kernel::migration::{index, org_id, text, text_null, ts, ts_null, uuid, uuid_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreatePersonsAndCompanies),
        Box::new(CreateDeals),
        Box::new(CreateInteractions),
        Box::new(CreateSegments),
        Box::new(PersonsByName),
        Box::new(CreateFitScoring),
        Box::new(CreateDealTotals),
        Box::new(CreateBulkJobs),
        Box::new(SegmentsSweptAcrossOrgs),
        Box::new(PersonsActivityAndFit),
    ]
}

/// A person's last activity and best fit, kept on the person so lists and segment rules filter
/// and sort by them ("not contacted for 30 days", "fit at least 70"); filled from the
/// interactions and fit scores already there, one org at a time (each in its own scope).
struct PersonsActivityAndFit;

impl MigrationName for PersonsActivityAndFit {
    fn name(&self) -> &str {
        "crm_m20261208_000002_persons_activity_and_fit"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for PersonsActivityAndFit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
        const T: &str = "crm_contacts";
        for mut column in [
            ts_null("last_activity_at"),
            ColumnDef::new("fit_score").integer().null().to_owned(),
        ] {
            m.alter_table(Table::alter().table(T).add_column(&mut column).to_owned())
                .await?;
        }
        for (name, column) in [
            ("crm_contacts_org_last_activity", "last_activity_at"),
            ("crm_contacts_org_fit", "fit_score"),
        ] {
            m.create_index(index(name, T, &["org_id", column])).await?;
        }
        let conn = m.get_connection();
        let backfill = "UPDATE crm_contacts SET \
             last_activity_at = (SELECT MAX(i.occurred_at) FROM crm_interactions i \
                                 WHERE i.contact_id = crm_contacts.id), \
             fit_score = (SELECT MAX(s.score) FROM crm_fit_scores s \
                          WHERE s.contact_id = crm_contacts.id)";
        if conn.get_database_backend() != DbBackend::Postgres {
            conn.execute_unprepared(backfill).await?;
            return Ok(());
        }
        // Row-level security binds the owner too: the orgs are read in the system context,
        // each org's rows in its own (this migration's transaction only).
        conn.execute_unprepared("SELECT set_config('app.system', 'on', true)")
            .await?;
        let orgs = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT DISTINCT org_id FROM crm_contacts",
            ))
            .await?;
        conn.execute_unprepared("SELECT set_config('app.system', 'off', true)")
            .await?;
        for row in orgs {
            let org: uuid::Uuid = row.try_get_by_index(0)?;
            conn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('app.current_org_id', $1, true)",
                [org.to_string().into()],
            ))
            .await?;
            // The org's rows only, also for an owner that bypasses row-level security.
            conn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("{backfill} WHERE crm_contacts.org_id = $1"),
                [org.into()],
            ))
            .await?;
        }
        Ok(())
    }
}

/// The hourly sweep re-evaluates relative dynamic segments across orgs: segments admit the
/// system context's reads.
struct SegmentsSweptAcrossOrgs;

impl MigrationName for SegmentsSweptAcrossOrgs {
    fn name(&self) -> &str {
        "crm_m20261208_000001_segments_swept_across_orgs"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for SegmentsSweptAcrossOrgs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        kernel::db::enable_system_rls(m.get_connection(), "crm_segments", false).await
    }
}

/// Bulk operations run by a job, batch by batch, with their progress.
struct CreateBulkJobs;

impl MigrationName for CreateBulkJobs {
    fn name(&self) -> &str {
        "crm_m20261207_000008_bulk_jobs"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateBulkJobs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{bigint, create_tenant_table, json};
        const T: &str = "crm_bulk_jobs";
        create_tenant_table(
            m,
            T,
            vec![
                text("action"),
                text("filter"),
                json("params"),
                text("status"),
                bigint("total"),
                bigint("done"),
                uuid_null("cursor"),
                text_null("error"),
                uuid_null("failed_contact_id"),
                uuid("created_by"),
                ts("created_at"),
                ts_null("started_at"),
                ts_null("finished_at"),
            ],
            &[],
            false,
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), T).await
    }
}

/// The forecast's running totals (`crate::service::totals`), counted once here from the deals
/// there are; from then on every change to a deal adds to them.
struct CreateDealTotals;

impl MigrationName for CreateDealTotals {
    fn name(&self) -> &str {
        "crm_m20261207_000007_deal_totals"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateDealTotals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{bigint, create_indexes, create_tenant_table, date};
        use sea_orm_migration::sea_orm::{
            ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
        };
        const T: &str = "crm_deal_totals";
        create_tenant_table(
            m,
            T,
            vec![
                uuid("pipeline_id"),
                uuid("stage_id"),
                text("currency"),
                uuid("owner_id"),
                date("close_month"),
                bigint("deals"),
                bigint("value"),
                bigint("weighted"),
            ],
            &[],
            false,
        )
        .await?;
        create_indexes(
            m,
            T,
            &[(
                "crm_deal_totals_key",
                &[
                    "org_id",
                    "pipeline_id",
                    "stage_id",
                    "currency",
                    "owner_id",
                    "close_month",
                ],
                true,
            )],
        )
        .await?;
        let conn = m.get_connection();
        // Counted across orgs in the system context (this migration's transaction only).
        kernel::db::enable_system_rls(conn, T, false).await?;
        if conn.get_database_backend() == DbBackend::Postgres {
            conn.execute_unprepared("SELECT set_config('app.system', 'on', true)")
                .await?;
        }
        use crate::entity::{deal, deal_total};
        let live = deal::Entity::find().filter(deal::Column::DeletedAt.is_null());
        let all: Vec<deal_total::ActiveModel> = crate::service::totals::count(conn, live)
            .await?
            .into_iter()
            .map(|((org, key), sums)| crate::service::totals::row(org, key, sums))
            .collect();
        for chunk in all.chunks(500) {
            deal_total::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }
}

/// Fit scoring: criteria per product, every assessment kept (a re-score adds rows), and each
/// person's current fit per product with its review (the leads).
struct CreateFitScoring;

impl MigrationName for CreateFitScoring {
    fn name(&self) -> &str {
        "crm_m20261207_000006_fit_scoring"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateFitScoring {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{OnDelete, create_indexes, create_tenant_table, int};
        const C: &str = "crm_fit_criteria";
        const A: &str = "crm_fit_assessments";
        const S: &str = "crm_fit_scores";
        let person = [("contact_id", "crm_contacts", OnDelete::Cascade)];
        create_tenant_table(
            m,
            C,
            vec![
                text("product"),
                text("name"),
                text_null("description"),
                int("weight"),
                text_null("rule"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            false,
        )
        .await?;
        create_indexes(
            m,
            C,
            &[(
                "crm_fit_criteria_org_product_name",
                &["org_id", "product", "name"],
                true,
            )],
        )
        .await?;
        // No key to the criterion: its history stays when it is deleted.
        create_tenant_table(
            m,
            A,
            vec![
                uuid("contact_id"),
                text("product"),
                uuid("criterion_id"),
                text("criterion_name"),
                int("weight"),
                int("score"),
                text_null("note"),
                text("source"),
                uuid("scoring_id"),
                uuid("assessed_by"),
                ts("assessed_at"),
            ],
            &person,
            false,
        )
        .await?;
        create_indexes(
            m,
            A,
            &[(
                "crm_fit_assessments_org_contact_product",
                &["org_id", "contact_id", "product", "assessed_at"],
                false,
            )],
        )
        .await?;
        create_tenant_table(
            m,
            S,
            vec![
                uuid("contact_id"),
                text("product"),
                int("score"),
                ts("scored_at"),
                uuid("scored_by"),
                text("review_state"),
                uuid_null("reviewed_by"),
                ts_null("reviewed_at"),
                text_null("review_note"),
            ],
            &person,
            false,
        )
        .await?;
        create_indexes(
            m,
            S,
            &[
                (
                    "crm_fit_scores_org_contact_product",
                    &["org_id", "contact_id", "product"],
                    true,
                ),
                // The leads of a product, best first.
                (
                    "crm_fit_scores_org_product_score",
                    &["org_id", "product", "score", "id"],
                    false,
                ),
            ],
        )
        .await?;
        let conn = m.get_connection();
        for table in [C, A, S] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        Ok(())
    }
}

/// `(org_id, name)`: a person list sorted by name (filtered or not) reads its first page from
/// the index instead of sorting every match.
struct PersonsByName;

impl MigrationName for PersonsByName {
    fn name(&self) -> &str {
        "crm_m20261207_000005_persons_by_name"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for PersonsByName {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(
            "crm_contacts_org_name",
            "crm_contacts",
            &["org_id", "name"],
        ))
        .await
    }
}

/// Segments and their members (materialized: a dynamic segment's members are those its rule
/// matched when last evaluated, so joins and leaves are seen and logged).
struct CreateSegments;

impl MigrationName for CreateSegments {
    fn name(&self) -> &str {
        "crm_m20261207_000004_segments"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateSegments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{OnDelete, bigint, create_indexes, create_tenant_table};
        const S: &str = "crm_segments";
        const M: &str = "crm_segment_members";
        create_tenant_table(
            m,
            S,
            vec![
                text("name"),
                text("kind"),
                text_null("rule"),
                bigint("member_count"),
                ts_null("evaluated_at"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            true,
        )
        .await?;
        create_indexes(
            m,
            S,
            &[("crm_segments_org_name", &["org_id", "name"], true)],
        )
        .await?;
        create_tenant_table(
            m,
            M,
            vec![uuid("segment_id"), uuid("contact_id"), ts("joined_at")],
            &[
                ("segment_id", S, OnDelete::Cascade),
                ("contact_id", "crm_contacts", OnDelete::Cascade),
            ],
            false,
        )
        .await?;
        create_indexes(
            m,
            M,
            &[
                (
                    "crm_segment_members_org_segment_contact",
                    &["org_id", "segment_id", "contact_id"],
                    true,
                ),
                // `filter[segment_id]` on the person list reads members by segment alone.
                (
                    "crm_segment_members_segment_contact",
                    &["segment_id", "contact_id"],
                    false,
                ),
                (
                    "crm_segment_members_org_contact",
                    &["org_id", "contact_id"],
                    false,
                ),
            ],
        )
        .await?;
        let conn = m.get_connection();
        kernel::db::enable_tenant_rls(conn, S).await?;
        kernel::db::enable_tenant_rls(conn, M).await
    }
}

/// Emails, calls, meetings and channel events logged against a person (deleted with them when
/// they are purged from the trash).
struct CreateInteractions;

impl MigrationName for CreateInteractions {
    fn name(&self) -> &str {
        "crm_m20261207_000003_interactions"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateInteractions {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use kernel::migration::{OnDelete, create_indexes, create_tenant_table, int_null, json};
        const T: &str = "crm_interactions";
        create_tenant_table(
            m,
            T,
            vec![
                uuid("contact_id"),
                uuid_null("deal_id"),
                uuid_null("channel_id"),
                text("kind"),
                text_null("direction"),
                text_null("event"),
                text_null("subject"),
                text_null("body"),
                int_null("duration_seconds"),
                ts("occurred_at"),
                uuid("logged_by"),
                json("metadata"),
                ts("created_at"),
            ],
            &[("contact_id", "crm_contacts", OnDelete::Cascade)],
            false,
        )
        .await?;
        create_indexes(
            m,
            T,
            &[(
                "crm_interactions_org_contact_at",
                &["org_id", "contact_id", "occurred_at"],
                false,
            )],
        )
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), T).await
    }
}

struct CreatePersonsAndCompanies;

impl MigrationName for CreatePersonsAndCompanies {
    fn name(&self) -> &str {
        "crm_m20261205_000001_persons_and_companies"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreatePersonsAndCompanies {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        m.create_table(
            Table::create()
                .table("crm_companies")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(text_null("industry"))
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("deleted_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "crm_companies_org_name",
            "crm_companies",
            &["org_id", "name"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("crm_companies"))
            .await?;

        m.create_table(
            Table::create()
                .table("crm_company_domains")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("company_id").uuid().not_null().to_owned())
                .col(text("domain"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "crm_company_domains_org_domain",
                "crm_company_domains",
                &["org_id", "domain"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "crm_company_domains_org_company",
            "crm_company_domains",
            &["org_id", "company_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("crm_contacts")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("kind"))
                .col(text("status"))
                .col(text("name"))
                .col(text_null("first_name"))
                .col(text_null("last_name"))
                .col(text_null("email"))
                .col(text_null("phone"))
                .col(uuid_null("company_id"))
                .col(text_null("job_title"))
                .col(text_null("source"))
                .col(uuid_null("owner_id"))
                .col(ColumnDef::new("created_by").uuid().not_null().to_owned())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("deleted_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("crm_contacts_org_kind", &["org_id", "kind"][..]),
            ("crm_contacts_org_email", &["org_id", "email"][..]),
            ("crm_contacts_org_company", &["org_id", "company_id"][..]),
            ("crm_contacts_org_owner", &["org_id", "owner_id"][..]),
            ("crm_contacts_org_created", &["org_id", "created_at"][..]),
        ] {
            m.create_index(index(name, "crm_contacts", cols)).await?;
        }
        m.create_index(kernel::migration::tenant_parent_key("crm_contacts"))
            .await?;

        m.create_table(
            Table::create()
                .table("crm_channels")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("contact_id").uuid().not_null().to_owned())
                .col(text("kind"))
                .col(text("value"))
                .col(
                    ColumnDef::new("is_primary")
                        .boolean()
                        .not_null()
                        .default(false)
                        .to_owned(),
                )
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        // The same email or phone twice in an org is one person: a second is refused (409).
        m.create_index(
            index(
                "crm_channels_org_kind_value",
                "crm_channels",
                &["org_id", "kind", "value"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "crm_channels_org_contact",
            "crm_channels",
            &["org_id", "contact_id"],
        ))
        .await?;

        for table in [
            "crm_companies",
            "crm_company_domains",
            "crm_contacts",
            "crm_channels",
        ] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        for table in ["crm_companies", "crm_contacts"] {
            kernel::db::enable_system_rls(conn, table, false).await?;
        }
        Ok(())
    }
}

struct CreateDeals;

impl MigrationName for CreateDeals {
    fn name(&self) -> &str {
        "crm_m20261205_000002_pipelines_and_deals"
    }
}

fn flag(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateDeals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        m.create_table(
            Table::create()
                .table("crm_pipelines")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("name"))
                .col(flag("is_default"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("crm_stages")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("pipeline_id"))
                .col(text("name"))
                .col(ColumnDef::new("position").double().not_null().to_owned())
                .col(text_null("color"))
                .col(
                    ColumnDef::new("probability")
                        .integer()
                        .not_null()
                        .to_owned(),
                )
                .col(flag("is_closed"))
                .col(flag("is_won"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "crm_stages_org_pipeline",
            "crm_stages",
            &["org_id", "pipeline_id"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table("crm_deals")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("title"))
                .col(uuid("contact_id"))
                .col(uuid_null("company_id"))
                .col(uuid("pipeline_id"))
                .col(uuid("stage_id"))
                .col(ColumnDef::new("value").big_integer().not_null().to_owned())
                .col(text("currency"))
                .col(
                    ColumnDef::new("probability")
                        .integer()
                        .not_null()
                        .to_owned(),
                )
                .col(flag("probability_set"))
                .col(ColumnDef::new("expected_close_date").date().to_owned())
                .col(ColumnDef::new("actual_close_date").date().to_owned())
                .col(text_null("lost_reason"))
                .col(uuid_null("owner_id"))
                .col(ts("stage_entered_at"))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("deleted_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "crm_deals_org_pipeline_stage",
                &["org_id", "pipeline_id", "stage_id"][..],
            ),
            ("crm_deals_org_contact", &["org_id", "contact_id"][..]),
            ("crm_deals_org_created", &["org_id", "created_at"][..]),
        ] {
            m.create_index(index(name, "crm_deals", cols)).await?;
        }
        m.create_index(kernel::migration::tenant_parent_key("crm_deals"))
            .await?;
        m.create_table(
            Table::create()
                .table("crm_deal_stage_changes")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(uuid("deal_id"))
                .col(uuid_null("from_stage_id"))
                .col(uuid("to_stage_id"))
                .col(uuid("by"))
                .col(ts("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "crm_deal_stage_changes_org_deal",
            "crm_deal_stage_changes",
            &["org_id", "deal_id", "at"],
        ))
        .await?;
        for table in [
            "crm_pipelines",
            "crm_stages",
            "crm_deals",
            "crm_deal_stage_changes",
        ] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        kernel::db::enable_system_rls(conn, "crm_deals", false).await
    }
}
