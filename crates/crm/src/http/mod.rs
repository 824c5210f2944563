//! The module's routes: one file per resource.

mod companies;
pub(crate) mod contacts;
mod deals;
mod interactions;
mod pipelines;
mod scoring;
mod segments;

const TAG: &str = "crm";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    contacts::configure(cfg);
    companies::configure(cfg);
    pipelines::configure(cfg);
    deals::configure(cfg);
    interactions::configure(cfg);
    segments::configure(cfg);
    scoring::configure(cfg);
}
