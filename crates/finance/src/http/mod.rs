//! The module's routes: one file per resource.

mod expenses;
mod invoices;
mod payables;
mod payments;
mod recurring;
mod reports;
mod webhooks;

const TAG: &str = "finance";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    recurring::configure(cfg);
    invoices::configure(cfg);
    payments::configure(cfg);
    expenses::configure(cfg);
    payables::configure(cfg);
    reports::configure(cfg);
    webhooks::configure(cfg);
}
