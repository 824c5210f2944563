//! The module's routes: one file per operation group.

mod deliveries;
mod subscriptions;

const TAG: &str = "webhooks";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    // `/webhooks/deliveries/…` before `/webhooks/{id}…`.
    deliveries::configure(cfg);
    subscriptions::configure(cfg);
}
