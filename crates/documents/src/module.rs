//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

/// Documents: templates, clauses, revisions and redlines, approvals, external review,
/// signatures, PDFs, deliverables.
#[derive(Debug, Default)]
pub struct Documents {
    settings: Settings,
}

/// `[modules.documents]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// Days a review link stays valid when `send` does not say (at most 90).
    pub review_days: u32,
    /// Days a signing link of the built-in provider stays valid.
    pub signing_days: u32,
    /// Where the links in review and signing emails point: the page that shows a document to
    /// someone without an account, given the token as its last path segment. Default: the
    /// cell's own routes (`<http.public_url><prefix>/documents/review/` and `…/sign/`).
    pub review_link: Option<String>,
    pub signing_link: Option<String>,
    /// An external e-sign service (the HTTP provider): its name in `send-for-signature` and in
    /// its webhook's path (`/webhooks/<name>`), and the base URL envelopes are created at
    /// (`POST <url>/envelopes`).
    pub esign_name: Option<String>,
    pub esign_url: Option<String>,
    /// The key its webhooks are signed with (environment only).
    pub esign_secret: Option<String>,
    /// The bearer key the cell calls it with (environment only).
    pub esign_api_key: Option<String>,
    /// How old a webhook's timestamp may be, in seconds.
    pub esign_tolerance_secs: u64,
    /// The largest webhook body the provider may send, in bytes (its completion message
    /// carries the signed PDF inline, base64: a 25 MB document is ~34 MB). Default 40 MiB;
    /// every other route keeps `http.body_limit`.
    pub esign_body_limit: usize,
    /// The most documents an organization may hold.
    pub max_documents: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            review_days: 14,
            signing_days: 30,
            review_link: None,
            signing_link: None,
            esign_name: None,
            esign_url: None,
            esign_secret: None,
            esign_api_key: None,
            esign_tolerance_secs: 300,
            esign_body_limit: 40 * 1024 * 1024,
            max_documents: 1_000_000,
        }
    }
}

impl Settings {
    fn validate(&self) -> Result<(), String> {
        if !(1..=90).contains(&self.review_days) {
            return Err("review_days: from 1 to 90".into());
        }
        if !(1..=90).contains(&self.signing_days) {
            return Err("signing_days: from 1 to 90".into());
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.esign_body_limit) {
            return Err("esign_body_limit: from 1 KiB to 256 MiB".into());
        }
        if self.max_documents == 0 {
            return Err("max_documents: must be at least 1".into());
        }
        for (key, link) in [
            ("review_link", &self.review_link),
            ("signing_link", &self.signing_link),
            ("esign_url", &self.esign_url),
        ] {
            if let Some(l) = link
                && url::Url::parse(l).is_err()
            {
                return Err(format!("{key}: `{l}` is not an absolute URL"));
            }
        }
        match (&self.esign_name, &self.esign_url, &self.esign_secret) {
            (None, None, None) => Ok(()),
            (Some(name), Some(_), Some(secret)) => {
                if name == crate::service::signatures::BUILTIN
                    || name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "esign_name: `{name}` must be lowercase letters, digits and `_`, not `builtin`"
                    ));
                }
                if secret.len() < 16 {
                    return Err("esign_secret: at least 16 characters".into());
                }
                Ok(())
            }
            _ => Err(
                "esign_name, esign_url and esign_secret (environment) go together: set all three or none"
                    .into(),
            ),
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Documents {
    fn name(&self) -> &'static str {
        "documents"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Signed PDFs are stored as files attached to their document.
    fn dependencies(&self) -> &'static [&'static str] {
        &["files"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let settings: Settings = kernel::module::parse_settings(settings)?;
        settings.validate()?;
        self.settings = settings;
        Ok(())
    }

    fn secret_settings(&self) -> &'static [&'static str] {
        &["esign_secret", "esign_api_key"]
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// The external provider's envelopes are created after the request commits.
    fn jobs(&self) -> Vec<kernel::module::JobDefinition> {
        vec![kernel::module::JobDefinition {
            name: crate::service::signatures::ENVELOPE_JOB,
            handler: Arc::new(SendEnvelope),
            max_attempts: None,
            retry_schedule: None,
        }]
    }

    fn email_templates(&self) -> Vec<kernel::mail::EmailTemplate> {
        crate::service::mail::templates()
    }

    /// Deliverables behind their pace, every day at 06:00 UTC (each tick once across
    /// instances).
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![kernel::module::ScheduledJob {
            name: "deliverables",
            cron: "0 6 * * *",
            handler: Arc::new(Deliverables),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Documents as other modules see them (comments, tags, links, activity, search, trash,
    /// files).
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![Arc::new(crate::loader::DocumentLoader)]
    }

    /// A document's events concern its owner; an approval request, the step's reviewers.
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![kernel::module::NotifyOn {
            pattern: "documents.*",
            recipients: Arc::new(crate::loader::DocumentLoader),
        }]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}

struct SendEnvelope;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for SendEnvelope {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let (Some(org), Some(request)) = (
            job.org_id,
            job.payload["request_id"]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok()),
        ) else {
            anyhow::bail!("a send_envelope job without its org or request");
        };
        let Some(settings) = ctx.service::<Settings>() else {
            anyhow::bail!("the documents module is not ready");
        };
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move {
            crate::service::signatures::create_envelope(ctx.db(), org, &settings, request).await
        })
        .await
    }
}

struct Deliverables;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Deliverables {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let behind = crate::service::deliverables::sweep(ctx, job.tick()).await?;
        if behind > 0 {
            tracing::info!(behind, "deliverables fell behind");
        }
        Ok(())
    }
}
