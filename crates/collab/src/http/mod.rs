//! The module's routes, one file per operation group.

mod activity;
mod comments;
mod links;
mod notes;
mod onboarding;
mod search;
mod tags;
mod trash;

pub(crate) use activity::Record;
pub(crate) use trash::PurgeExpired;

/// Publishes `event` in the request's transaction, acted by its caller.
async fn publish<E: kernel::events::Event>(
    ctx: &kernel::CellContext,
    tx: &kernel::http::Scoped<impl kernel::http::Permission, impl kernel::http::Mode>,
    event: &E,
) -> Result<(), kernel::ApiError> {
    let actor = kernel::module::EntityRef::user(tx.caller().user_id);
    ctx.events().emit(tx, Some(actor), event).await?;
    Ok(())
}
pub(crate) use tags::ByTags;

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    tags::configure(cfg);
    notes::configure(cfg);
    links::configure(cfg);
    comments::configure(cfg);
    onboarding::configure(cfg);
    activity::configure(cfg);
    trash::configure(cfg);
    search::configure(cfg);
}
