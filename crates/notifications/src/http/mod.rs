//! The module's routes: one file per operation group.

pub(crate) mod inbox;
mod preferences;

const TAG: &str = "notifications";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    inbox::configure(cfg);
    preferences::configure(cfg);
}
