//! The module's routes: one file per resource. Static paths (`/documents/templates`,
//! `/documents/from-template/{id}`, `/documents/review/{token}`) are registered before
//! `/documents/{id}`.

mod approvals;
mod clauses;
mod deliverables;
mod documents;
mod review;
mod revisions;
mod signatures;

const TAG: &str = "documents";

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    documents::configure_static(cfg);
    review::configure(cfg);
    documents::configure(cfg);
    revisions::configure(cfg);
    clauses::configure(cfg);
    approvals::configure(cfg);
    signatures::configure(cfg);
    deliverables::configure(cfg);
}
