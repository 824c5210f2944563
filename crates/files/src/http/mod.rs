//! The module's routes: one file per operation group.

mod files;
mod folders;

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    files::configure(cfg);
    folders::configure(cfg);
}
