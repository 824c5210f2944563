//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

use crate::ownership::Policy;

/// The CRM: persons and their channels, companies.
#[derive(Debug, Default)]
pub struct Crm {
    settings: Settings,
}

/// `[modules.crm]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// What members (and viewers) may read and write of the persons others own; admins and
    /// owners always read and write everything.
    pub ownership: Policy,
    /// The most persons an organization may hold.
    pub max_contacts: u64,
    /// Channels one person may have.
    pub max_channels: usize,
    /// Domains one company may have.
    pub max_domains: usize,
    /// The pipeline each org starts with (made when it first needs one).
    pub pipeline: PipelineSeed,
    /// Persons a bulk operation acts on in one transaction: a request acts on up to this many
    /// at once; a filter that matches more becomes a job that acts on this many at a time.
    pub bulk_batch: u64,
}

/// `[modules.crm.pipeline]`: the org's first pipeline, as the cell's spec names its stages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineSeed {
    pub name: String,
    pub stages: Vec<StageSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageSeed {
    pub name: String,
    pub probability: i32,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub is_closed: bool,
    #[serde(default)]
    pub is_won: bool,
}

impl Default for PipelineSeed {
    /// The suite's: weighted 10, 25, 50, 75, 100.
    fn default() -> Self {
        let stage = |name: &str, probability, is_closed, is_won| StageSeed {
            name: name.into(),
            probability,
            color: None,
            is_closed,
            is_won,
        };
        Self {
            name: "Sales".into(),
            stages: vec![
                stage("Lead", 10, false, false),
                stage("Qualified", 25, false, false),
                stage("Proposal", 50, false, false),
                stage("Negotiation", 75, false, false),
                stage("Closed Won", 100, true, true),
                stage("Closed Lost", 0, true, false),
            ],
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ownership: Policy::default(),
            max_contacts: 5_000_000,
            max_channels: 50,
            max_domains: 20,
            pipeline: PipelineSeed::default(),
            bulk_batch: 1_000,
        }
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Crm {
    fn name(&self) -> &'static str {
        "crm"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// A person's timeline merges collab's activity feed.
    fn dependencies(&self) -> &'static [&'static str] {
        &["collab"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        let s = &self.settings;
        if s.max_contacts == 0 || s.max_channels == 0 || s.max_domains == 0 {
            return Err("max_contacts, max_channels and max_domains must be at least 1".into());
        }
        if !(1..=10_000).contains(&s.bulk_batch) {
            return Err("bulk_batch: 1 to 10 000".into());
        }
        if s.pipeline.stages.is_empty()
            || s.pipeline
                .stages
                .iter()
                .any(|st| !(0..=100).contains(&st.probability) || (st.is_won && !st.is_closed))
        {
            return Err(
                "pipeline.stages: at least one; probabilities 0 to 100; a won stage is closed"
                    .into(),
            );
        }
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    /// A new organization gets the cell's seed pipeline; a person who changed (their details,
    /// owner, tags, trash) is checked against the dynamic segments.
    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        let segments = |name, pattern| kernel::module::EventSubscription {
            name,
            pattern,
            handler: Arc::new(SegmentsOfPerson),
        };
        vec![
            kernel::module::EventSubscription {
                name: "seed_pipeline",
                pattern: "tenancy.organization.created",
                handler: Arc::new(SeedPipeline),
            },
            segments("segments_on_change", "crm.contact.*"),
            // Rules may name the last activity: an interaction changes who matches.
            segments("segments_on_interaction", "crm.interaction.logged"),
            segments("segments_on_tag_added", "tag.added"),
            segments("segments_on_tag_removed", "tag.removed"),
        ]
    }

    /// Dynamic segments whose rule is relative to now are evaluated again every hour (at :07).
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![kernel::module::ScheduledJob {
            name: "relative_segments",
            cron: "7 * * * *",
            handler: Arc::new(RelativeSegments),
        }]
    }

    fn jobs(&self) -> Vec<kernel::module::JobDefinition> {
        vec![
            kernel::module::JobDefinition {
                name: crate::service::segments::EVALUATE,
                handler: Arc::new(EvaluateSegment),
                max_attempts: None,
                retry_schedule: None,
            },
            kernel::module::JobDefinition {
                name: crate::service::bulk::JOB,
                handler: Arc::new(Bulk),
                max_attempts: None,
                retry_schedule: None,
            },
        ]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Persons and companies as other modules see them (tags, notes, links, search, trash).
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![
            Arc::new(crate::loader::Contacts),
            Arc::new(crate::loader::Companies),
            Arc::new(crate::loader::Deals),
        ]
    }

    /// A person's and a deal's events concern their owner.
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![
            kernel::module::NotifyOn {
                pattern: "crm.contact.*",
                recipients: Arc::new(crate::loader::Contacts),
            },
            kernel::module::NotifyOn {
                pattern: "crm.deal.*",
                recipients: Arc::new(crate::loader::Deals),
            },
        ]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}

/// Re-evaluates the dynamic segments for the person an event is about (idempotent: it sets
/// memberships to what the rules say now).
struct SegmentsOfPerson;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for SegmentsOfPerson {
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        if event.entity.kind != crate::loader::CONTACT {
            return Ok(());
        }
        let by = event
            .actor
            .as_ref()
            .filter(|a| a.kind == "user")
            .map(|a| a.id);
        let tx = ctx.db().tenant(event.org_id).await?;
        crate::service::segments::evaluate_person(ctx, &tx, by, event.entity.id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        tx.commit().await?;
        Ok(())
    }
}

/// Evaluates one dynamic segment whole (made, or its rule changed).
struct EvaluateSegment;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for EvaluateSegment {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let org = job
            .org_id
            .ok_or_else(|| anyhow::anyhow!("{} needs an org", job.name))?;
        let id: uuid::Uuid = serde_json::from_value(job.payload["segment_id"].clone())?;
        let tx = ctx.db().tenant(org).await?;
        match crate::service::segments::evaluate(ctx, &tx, None, id).await {
            Ok(_) => {}
            // Deleted since: nothing to do.
            Err(e) if e.code() == kernel::ErrorCode::NotFound => {}
            Err(e) => anyhow::bail!("{}", e.message()),
        }
        tx.commit().await?;
        Ok(())
    }
}

struct RelativeSegments;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for RelativeSegments {
    async fn run(&self, ctx: &kernel::CellContext, _job: &kernel::jobs::Job) -> anyhow::Result<()> {
        crate::service::segments::sweep_relative(ctx)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        Ok(())
    }
}

/// A bulk operation too large for one request, batch by batch (a retry resumes where it was).
struct Bulk;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Bulk {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let org = job
            .org_id
            .ok_or_else(|| anyhow::anyhow!("{} needs an org", job.name))?;
        let id: uuid::Uuid = serde_json::from_value(job.payload["bulk_id"].clone())?;
        let batch = ctx.service::<Settings>().map_or(1_000, |s| s.bulk_batch);
        // The permission checks it runs as its creator hold futures that are not `Send`.
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move {
            crate::service::bulk::run(&ctx, org, id, batch).await
        })
        .await
    }
}

struct SeedPipeline;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for SeedPipeline {
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let Some(settings) = ctx.service::<Settings>() else {
            anyhow::bail!("the crm module is not ready");
        };
        let tx = ctx.db().tenant(event.org_id).await?;
        crate::service::deals::pipelines(&tx, &settings.pipeline)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        tx.commit().await?;
        Ok(())
    }
}
