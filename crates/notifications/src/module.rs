//! The module as the kernel sees it.

use std::sync::Arc;

use kernel::PlatformModule;
use kernel::mail::EmailTemplate;
use kernel::module::{EventSubscription, ModuleSettings};

/// Notifications: every event a module says concerns someone reaches them in the app and by
/// email, as their preferences say.
#[derive(Debug, Default)]
pub struct Notifications;

#[kernel::async_trait::async_trait]
impl PlatformModule for Notifications {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoSettings {}
        let _: NoSettings = kernel::module::parse_settings(settings)?;
        Ok(())
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    /// Every event is looked at; those a module's `notify_on` names become notifications.
    fn event_subscriptions(&self) -> Vec<EventSubscription> {
        vec![EventSubscription {
            name: "notify",
            pattern: "*",
            handler: Arc::new(crate::deliver::Notify),
        }]
    }

    fn email_templates(&self) -> Vec<EmailTemplate> {
        vec![
            EmailTemplate {
                name: "event",
                subject: "{{ title }}",
                text: "{{ title }}\n\nYou are told because you are its {{ reason }} ({{ entity_type }} {{ entity_id }}).\n\nChange what you are told in your notification preferences.\n",
                html: None,
            },
            EmailTemplate {
                name: "digest",
                subject: "{{ count }} notification{% if count != 1 %}s{% endif %}",
                text: "What happened since your last {{ frequency }} digest:\n\n{% for item in items %}- {{ item.title }} ({{ item.entity_type }} {{ item.entity_id }}, {{ item.at }})\n{% endfor %}{% if more %}… and {{ more }} more.\n{% endif %}\nChange how often you get these in your notification preferences.\n",
                html: None,
            },
        ]
    }

    /// Digests: every hour on the hour (daily ones at 08:00 UTC, weekly ones Mondays).
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![kernel::module::ScheduledJob {
            name: "send_digests",
            cron: "0 * * * *",
            handler: Arc::new(crate::digest::SendDigests),
        }]
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        let rules = ctx
            .modules()
            .iter()
            .flat_map(|m| m.module.notify_on())
            .collect();
        ctx.provide(crate::deliver::Rules(rules));
        kernel::realtime::Backlogs::register(ctx, std::sync::Arc::new(crate::deliver::Missed));
        Ok(())
    }
}
