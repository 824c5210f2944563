//! Forward-only migrations, `crm_m<date>_<seq>_<what>`. Every table leads its keys with
//! `org_id` and gets row-level security; persons and companies go to the trash first, and the
//! daily purge finds expired ones across orgs in the system context.

use kernel::migration::{index, org_id, text, text_null, ts, ts_null, uuid, uuid_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreatePersonsAndCompanies), Box::new(CreateDeals)]
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
