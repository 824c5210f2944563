//! The module's routes: one file per resource.

mod automations;
mod boards;
mod parts;
mod projects;
mod recurrence;
mod tasks;
mod time;

const TAG: &str = "tasks";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    boards::configure(cfg);
    automations::configure(cfg);
    tasks::configure(cfg);
    parts::configure(cfg);
    projects::configure(cfg);
    recurrence::configure(cfg);
    time::configure(cfg);
}

/// A checklist item's title in a list of them: 1 to 500 characters, not blank (the schema of
/// each string of `items`).
pub(crate) struct ItemTitle;

impl utoipa::PartialSchema for ItemTitle {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(tasks::MAX_TITLE))
            .pattern(Some(r"\S"))
            .into()
    }
}

impl utoipa::ToSchema for ItemTitle {
    fn name() -> std::borrow::Cow<'static, str> {
        "tasks.ItemTitle".into()
    }
}

/// A count a query parameter asks for: `default` when absent, 422 on `field` outside
/// `1..=max` (the range the document states).
pub(crate) fn count_param(
    field: &str,
    value: Option<u64>,
    default: u64,
    max: u64,
) -> Result<u64, kernel::ApiError> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(kernel::ApiError::validation(
            field,
            format!("from 1 to {max}"),
        )),
    }
}
