//! The module's routes: one file per resource.

mod companies;
mod contacts;
mod deals;
mod pipelines;

const TAG: &str = "crm";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    contacts::configure(cfg);
    companies::configure(cfg);
    pipelines::configure(cfg);
    deals::configure(cfg);
}
