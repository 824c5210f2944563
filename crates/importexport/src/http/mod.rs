//! The module's routes.

mod analytics;
mod export;
mod import;

pub(crate) use import::row_errors;

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    import::configure(cfg);
    export::configure(cfg);
    analytics::configure(cfg);
}

/// `202 Accepted` for a job that was queued.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub job_id: uuid::Uuid,
}
