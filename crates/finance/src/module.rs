//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::module::ModuleSettings;
use serde::Deserialize;

/// Finance: invoices, payments, refunds and credits on a double-entry ledger, and the reports
/// read from it.
#[derive(Debug, Default)]
pub struct Finance {
    settings: Settings,
}

/// `[modules.finance]` in the product's TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Settings {
    /// The currency of an invoice that names none (ISO 4217).
    pub default_currency: String,
    /// Days from the issue date to the due date when an invoice names none.
    pub payment_terms_days: u32,
    /// The most line items one invoice may hold.
    pub max_lines: u32,
    /// Days a pay link stays valid.
    pub pay_link_days: u32,
    /// Where the pay link in an invoice email points, given the token as its last path segment.
    /// Default: the cell's own `<http.public_url><prefix>/invoices/view/`.
    pub pay_link: Option<String>,
    /// Stripe: the secret key the cell calls its API with and the signing secret of its
    /// webhook endpoint (`POST <prefix>/finance/webhooks/stripe`), both from the environment
    /// only; set both or neither.
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    /// Where Stripe's API is (tests point it at a local stand-in).
    pub stripe_api_url: String,
    /// How old (or early) a webhook's signature time may be, in seconds.
    pub stripe_tolerance_secs: u64,
    /// Whether an admin may approve an expense they submitted (default false: someone else
    /// approves).
    pub allow_self_approval: bool,
    /// Whether a project milestone reached with an amount (`tasks.milestone.reached`) becomes a
    /// draft invoice (default true).
    pub invoice_milestones: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_currency: "USD".into(),
            payment_terms_days: 30,
            max_lines: 500,
            pay_link_days: 90,
            pay_link: None,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_url: "https://api.stripe.com".into(),
            stripe_tolerance_secs: 300,
            allow_self_approval: false,
            invoice_milestones: true,
        }
    }
}

impl Settings {
    fn validate(&mut self) -> Result<(), String> {
        self.default_currency = kernel::money::currency("default_currency", &self.default_currency)
            .map_err(|_| "default_currency: an ISO 4217 code of three letters".to_owned())?;
        if self.payment_terms_days > 3650 {
            return Err("payment_terms_days: at most 3650".into());
        }
        if !(1..=5000).contains(&self.max_lines) {
            return Err("max_lines: from 1 to 5000".into());
        }
        if !(1..=365).contains(&self.pay_link_days) {
            return Err("pay_link_days: from 1 to 365".into());
        }
        for (key, link) in [
            ("pay_link", self.pay_link.as_ref()),
            ("stripe_api_url", Some(&self.stripe_api_url)),
        ] {
            if let Some(l) = link
                && url::Url::parse(l).is_err()
            {
                return Err(format!("{key}: `{l}` is not an absolute URL"));
            }
        }
        if self.stripe_secret_key.is_some() != self.stripe_webhook_secret.is_some() {
            return Err(
                "stripe_secret_key and stripe_webhook_secret (environment) go together".into(),
            );
        }
        if !(1..=3600).contains(&self.stripe_tolerance_secs) {
            return Err("stripe_tolerance_secs: from 1 to 3600".into());
        }
        Ok(())
    }
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Finance {
    fn name(&self) -> &'static str {
        "finance"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let mut settings: Settings = kernel::module::parse_settings(settings)?;
        settings.validate()?;
        self.settings = settings;
        Ok(())
    }

    fn secret_settings(&self) -> &'static [&'static str] {
        &["stripe_secret_key", "stripe_webhook_secret"]
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }

    fn email_templates(&self) -> Vec<kernel::mail::EmailTemplate> {
        crate::service::mail_templates()
    }

    /// Invoices past their due date become `overdue`, every day at 00:15 UTC (each tick once
    /// across instances).
    /// Recurring invoices are issued at 00:30 UTC, after the overdue sweep.
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![
            kernel::module::ScheduledJob {
                name: "overdue",
                cron: "15 0 * * *",
                handler: Arc::new(Overdue),
            },
            kernel::module::ScheduledJob {
                name: "recurring",
                cron: "30 0 * * *",
                handler: Arc::new(Recurring),
            },
        ]
    }

    /// A reached milestone with an amount is drafted as an invoice (agency invoicing).
    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        vec![kernel::module::EventSubscription {
            name: "milestone_invoices",
            pattern: "tasks.milestone.reached",
            handler: Arc::new(MilestoneInvoices),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Expenses as other modules see them: receipts are files attached to them.
    fn entity_loaders(&self) -> Vec<Arc<dyn kernel::module::EntityLoader>> {
        vec![Arc::new(crate::loader::Expenses)]
    }

    /// A submitted expense concerns the org's admins; a decided or paid one its submitter.
    fn notify_on(&self) -> Vec<kernel::module::NotifyOn> {
        vec![kernel::module::NotifyOn {
            pattern: "finance.expense.*",
            recipients: Arc::new(crate::loader::Expenses),
        }]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }
}

struct Recurring;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Recurring {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let n = crate::recurring::run_due(ctx, job.tick().date_naive()).await?;
        if n > 0 {
            tracing::info!(issued = n, "recurring invoices issued");
        }
        Ok(())
    }
}

struct MilestoneInvoices;

#[kernel::async_trait::async_trait]
impl kernel::module::EventHandler for MilestoneInvoices {
    async fn handle(
        &self,
        ctx: &kernel::CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        let Some(settings) = ctx.service::<Settings>() else {
            anyhow::bail!("the finance module is not ready");
        };
        if !settings.invoice_milestones {
            return Ok(());
        }
        let reached: crate::milestones::Reached = serde_json::from_value(event.payload.clone())?;
        let milestone = reached.milestone_id;
        let by = event.actor.as_ref().map_or(uuid::Uuid::nil(), |a| a.id);
        let org = event.org_id;
        let ctx = ctx.clone();
        kernel::module::run_unsend(move || async move {
            let tx = ctx.db().tenant(org).await?;
            match crate::milestones::invoice(&ctx, &tx, &settings, by, reached).await {
                Ok(Some(inv)) => {
                    tx.commit().await?;
                    tracing::info!(invoice = %inv.number, %milestone, "milestone invoiced");
                    Ok(())
                }
                Ok(None) => Ok(()),
                // What cannot be invoiced (an amount beyond an invoice's limits) stays so: said
                // once, not retried.
                Err(e) if e.code().status().is_client_error() => {
                    tracing::warn!(%milestone, error = %e.message(), "milestone not invoiced");
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("{}", e.message())),
            }
        })
        .await
    }
}

struct Overdue;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Overdue {
    async fn run(&self, ctx: &kernel::CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let n = crate::service::mark_overdue(ctx, job.tick().date_naive()).await?;
        if n > 0 {
            tracing::info!(overdue = n, "invoices became overdue");
        }
        Ok(())
    }
}
