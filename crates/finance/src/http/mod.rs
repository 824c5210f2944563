//! The module's routes: one file per resource.

mod invoices;
mod payments;
mod reports;
mod webhooks;

const TAG: &str = "finance";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    invoices::configure(cfg);
    payments::configure(cfg);
    reports::configure(cfg);
    webhooks::configure(cfg);
}
