//! The abm module as the kernel sees it.

use std::sync::{Arc, OnceLock};

use kernel::module::{JobDefinition, ModuleSettings, ScheduledJob};
use kernel::{ApiError, CellContext, PlatformModule};
use secrecy::SecretString;
use uuid::Uuid;

use crate::enrich::{HttpEnricher, HttpEnricherConfig};
use crate::ingest::Enrichers;
use crate::settings::{EnrichmentKind, HookAuth, Settings};
use crate::webhook::Verifier;

pub const SCORE_JOB: &str = "abm.score";

/// Owns prospects, their domains, contacts, identities, anonymous visitors and intent signals
/// (all in the cell's operator organization), and the PostHog hook.
#[derive(Default)]
pub struct Abm {
    inner: Arc<Inner>,
}

/// Shared with the handlers (`State<Inner>`, provided in `on_ready`).
#[derive(Default)]
pub(crate) struct Inner {
    pub settings: Settings,
    pub verifier: Option<Verifier>,
    pub enrichers: Enrichers,
    pub state: OnceLock<State>,
}

impl std::fmt::Debug for Abm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Abm")
            .field("operator_org", &self.inner.settings.operator_org)
            .finish_non_exhaustive()
    }
}

/// What exists once the cell is ready.
pub(crate) struct State {
    pub operator: Uuid,
    pub salt: Vec<u8>,
}

/// The operator organization's id, once abm is ready in this cell.
pub fn operator_org(ctx: &CellContext) -> Option<Uuid> {
    ctx.service::<OperatorOrg>().map(|o| o.0)
}

/// Shared with the cell so jobs and other modules find the operator org.
pub struct OperatorOrg(pub Uuid);

impl Inner {
    pub(crate) fn state(&self) -> Result<&State, ApiError> {
        self.state
            .get()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("abm is not ready")))
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Abm {
    fn name(&self) -> &'static str {
        "abm"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Customer orgs and invitations are tenancy's; the zones check membership in iam's graph.
    fn dependencies(&self) -> &'static [&'static str] {
        &["tenancy", "iam"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let settings: Settings = kernel::module::parse_settings(settings)?;
        settings.validate()?;
        let secrets: Vec<SecretString> = settings
            .hook_secrets
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        let verifier = match (secrets.is_empty(), settings.hook_auth) {
            (true, _) => None,
            (false, HookAuth::StandardWebhooks) => Some(
                Verifier::standard_webhooks(&secrets).map_err(|e| format!("hook_secrets: {e}"))?,
            ),
            (false, HookAuth::SharedSecret) => Some(
                Verifier::shared_secret(&settings.hook_header, secrets)
                    .map_err(|e| format!("hook_secrets: {e}"))?,
            ),
        };
        let enrichers = match settings.enrichment {
            EnrichmentKind::None => Enrichers::None,
            EnrichmentKind::Offline => Enrichers::Offline(tokio::sync::OnceCell::new()),
            EnrichmentKind::Http => {
                let mut config =
                    HttpEnricherConfig::new(settings.enrichment_url.clone().unwrap_or_default());
                config.api_key = settings.enrichment_key.clone().map(SecretString::from);
                if let Some(h) = &settings.enrichment_key_header {
                    config.api_key_header = h.clone();
                }
                config.pointers = settings.enrichment_fields.clone();
                let client =
                    HttpEnricher::new(config).map_err(|e| format!("enrichment_url: {e}"))?;
                Enrichers::Http(Arc::new(client))
            }
        };
        self.inner = Arc::new(Inner {
            settings,
            verifier,
            enrichers,
            state: OnceLock::new(),
        });
        Ok(())
    }

    fn secret_settings(&self) -> &'static [&'static str] {
        &["hook_secrets", "ip_salt", "enrichment_key"]
    }

    fn production_settings(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "hook_secrets",
            "without one, POST /hooks/posthog refuses every PostHog event with 401",
        )]
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }
    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::store::migration::migrations()
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    fn jobs(&self) -> Vec<JobDefinition> {
        vec![JobDefinition {
            name: "score",
            handler: Arc::new(crate::score::ScoreJob {
                threshold: self.inner.settings.engaged_threshold,
                daily: false,
            }),
            max_attempts: None,
            retry_schedule: None,
        }]
    }

    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        let threshold = self.inner.settings.engaged_threshold;
        vec![
            ScheduledJob {
                name: "score_daily",
                cron: "17 3 * * *",
                handler: Arc::new(crate::score::ScoreJob {
                    threshold,
                    daily: true,
                }),
            },
            // Deliveries enqueue `abm.score` only when none waits; one that committed after
            // the waiting job was claimed leaves its weights for this sweep.
            ScheduledJob {
                name: "score_sweep",
                cron: "* * * * *",
                handler: Arc::new(crate::score::ScoreJob {
                    threshold,
                    daily: false,
                }),
            },
        ]
    }

    async fn on_ready(&self, ctx: &CellContext) -> anyhow::Result<()> {
        let slug = &self.inner.settings.operator_org;
        let operator = match tenancy::organization_by_slug(ctx.db(), slug)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?
        {
            Some(org) => org.id,
            None => {
                let tx = ctx.db().tenant(Uuid::now_v7()).await?;
                let org = tenancy::create_organization_without_members(
                    &tx,
                    tenancy::NewOrganization {
                        name: slug.clone(),
                        slug: Some(slug.clone()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("operator organization: {}", e.message()))?;
                tx.commit().await?;
                tracing::info!(slug = %slug, "operator organization created; add its first owner with `users create --org {slug} --role owner`");
                org.id
            }
        };
        let salt = match &self.inner.settings.ip_salt {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                kernel::opaque::keyed_hash(&ctx.config().secret_key(), "abm.ip_salt").into_bytes()
            }
        };
        ctx.provide(OperatorOrg(operator));
        let _ = self.inner.state.set(State { operator, salt });
        ctx.provide_shared(self.inner.clone());
        Ok(())
    }
}
