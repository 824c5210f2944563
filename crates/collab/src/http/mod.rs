//! The module's routes, one file per operation group.

pub(crate) mod activity;
mod comments;
mod links;
mod notes;
mod onboarding;
mod search;
pub(crate) mod tags;
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

/// A page's `limit` query parameter: `default` when absent, 400 outside `1..=max`.
fn limit(given: Option<u64>, default: u64, max: u64) -> Result<u64, kernel::ApiError> {
    let limit = given.unwrap_or(default);
    match (1..=max).contains(&limit) {
        true => Ok(limit),
        false => Err(kernel::ApiError::invalid_query(format!(
            "`limit` is from 1 to {max}"
        ))),
    }
}

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
