//! The module's routes, one file per operation group.

mod activity;
mod comments;
mod links;
mod notes;
mod onboarding;
mod tags;

pub(crate) use activity::Record;
pub(crate) use tags::ByTags;

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    tags::configure(cfg);
    notes::configure(cfg);
    links::configure(cfg);
    comments::configure(cfg);
    onboarding::configure(cfg);
    activity::configure(cfg);
}
