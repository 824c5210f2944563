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
