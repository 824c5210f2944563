//! Forward-only migrations, `importexport_m<date>_<seq>_<what>`.

use kernel::migration::{ForeignKey, OnDelete, index, org_id, text, ts, ts_null, uuid_pk};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateJobs)]
}

struct CreateJobs;

impl MigrationName for CreateJobs {
    fn name(&self) -> &str {
        "importexport_m20261205_000001_create_jobs"
    }
}

fn count(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().to_owned()
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateJobs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("importexport_jobs")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(text("kind"))
                .col(text("entity_type"))
                .col(text("format"))
                .col(text("status"))
                .col(ColumnDef::new("requested_by").uuid().not_null().to_owned())
                .col(text_null("headers"))
                .col(text_null("mapping"))
                .col(text_null("query"))
                .col(
                    ColumnDef::new("skip_errors")
                        .boolean()
                        .not_null()
                        .default(false)
                        .to_owned(),
                )
                .col(count("total_rows"))
                .col(count("processed"))
                .col(count("succeeded"))
                .col(count("failed"))
                .col(text_null("result_key"))
                .col(text_null("message"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .col(ts_null("started_at"))
                .col(ts_null("finished_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "importexport_jobs_org_created",
            "importexport_jobs",
            &["org_id", "created_at"],
        ))
        .await?;
        m.create_index(kernel::migration::tenant_parent_key("importexport_jobs"))
            .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "importexport_jobs").await?;
        m.create_table(
            Table::create()
                .table("importexport_errors")
                .col(uuid_pk("id"))
                .col(org_id())
                .col(ColumnDef::new("job_id").uuid().not_null().to_owned())
                .col(ColumnDef::new("line").big_integer().not_null().to_owned())
                .col(text_null("field"))
                .col(text("message"))
                // A job's refused rows go with it.
                .foreign_key(
                    &mut ForeignKey::tenant("job_id", "importexport_jobs", OnDelete::Cascade)
                        .create("importexport_errors"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "importexport_errors_job",
            "importexport_errors",
            &["org_id", "job_id", "line"],
        ))
        .await?;
        kernel::db::enable_tenant_rls(m.get_connection(), "importexport_errors").await
    }
}
