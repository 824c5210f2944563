//! `GET /onboarding/status`: the first-hour steps every enabled module declares
//! (`PlatformModule::onboarding_steps`), each checked for the caller's org.

use actix_web::{HttpResponse, get};
use kernel::{ApiResult, CellContext};
use serde::Serialize;

use crate::permissions::ReadOnboarding;

/// One step and whether the org has done it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepStatus {
    /// `<module>.<step>`.
    pub key: String,
    pub title: String,
    pub module: String,
    pub required: bool,
    pub done: bool,
}

/// Where the org stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnboardingStatus {
    pub steps: Vec<StepStatus>,
    /// Every required step is done.
    pub complete: bool,
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(status);
}

/// The org's onboarding: each module's steps in module order, done or not.
#[utoipa::path(tag = "onboarding", responses(
    (status = 200, body = OnboardingStatus), (status = 401), (status = 403)))]
#[get("/onboarding/status")]
pub(crate) async fn status(ctx: CellContext, tx: ReadOnboarding) -> ApiResult<HttpResponse> {
    let mut steps = Vec::new();
    for m in ctx.modules() {
        for step in m.module.onboarding_steps() {
            steps.push(StepStatus {
                done: step.check.done(&ctx, &tx).await?,
                key: step.key.to_owned(),
                title: step.title.to_owned(),
                module: m.module.name().to_owned(),
                required: step.required,
            });
        }
    }
    tx.commit().await?;
    let complete = steps.iter().all(|s| s.done || !s.required);
    Ok(HttpResponse::Ok().json(OnboardingStatus { steps, complete }))
}
