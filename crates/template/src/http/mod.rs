//! The module's routes, one file per operation group.

mod items;

pub(crate) use items::item_list;

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    items::configure(cfg);
}
