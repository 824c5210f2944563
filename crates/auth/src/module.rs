//! The auth module as the kernel sees it.

use std::sync::{Arc, OnceLock};

use kernel::module::{CommandHandler, JobHandler, ModuleCommand, ModuleSettings, ScheduledJob};

use crate::settings::Settings;
use crate::state::{Shared, State};

/// Owns users, credentials, sessions, MFA and API keys; identifies every caller of the cell.
#[derive(Default)]
pub struct Auth {
    settings: Settings,
    shared: Shared,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("ready", &self.shared.get().is_some())
            .finish()
    }
}

#[kernel::async_trait::async_trait]
impl kernel::PlatformModule for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn dependencies(&self) -> &'static [&'static str] {
        &["tenancy"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let settings: Settings = kernel::module::parse_settings(settings)?;
        settings.validate()?;
        self.settings = settings;
        // A module value may be configured more than once (tests); keys follow the settings.
        self.shared = Arc::new(OnceLock::new());
        Ok(())
    }

    fn secret_settings(&self) -> &'static [&'static str] {
        &["jwt_secret"]
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::routes::configure(cfg);
    }

    fn authenticator(&self) -> Option<Arc<dyn kernel::http::Authenticator>> {
        Some(Arc::new(crate::authn::AuthN(self.shared.clone())))
    }

    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        vec![kernel::module::EventSubscription {
            name: "revoke_keys_of_removed_member",
            pattern: <tenancy::events::MemberRemoved as kernel::events::Event>::NAME,
            handler: Arc::new(crate::routes::keys::RevokeKeysOfRemovedMember),
        }]
    }

    fn email_templates(&self) -> Vec<kernel::mail::EmailTemplate> {
        crate::templates::all()
    }

    fn jobs(&self) -> Vec<kernel::module::JobDefinition> {
        vec![kernel::module::JobDefinition {
            name: "forgot_password",
            handler: Arc::new(crate::jobs::ForgotPassword(self.shared.clone())),
            max_attempts: None,
            retry_schedule: None,
        }]
    }

    fn scheduled_jobs(&self) -> Vec<ScheduledJob> {
        let handler: Arc<dyn JobHandler> = Arc::new(crate::jobs::Anonymize(self.shared.clone()));
        vec![ScheduledJob {
            name: "anonymize_deactivated",
            cron: "17 3 * * *",
            handler,
        }]
    }

    fn commands(&self) -> Vec<ModuleCommand> {
        let handler: Arc<dyn CommandHandler> =
            Arc::new(crate::cli::CreateUser(self.shared.clone()));
        vec![ModuleCommand {
            path: &["users", "create"],
            about: "create a user (password from stdin) and add them to an organization",
            handler,
        }]
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        let state = State::new(ctx.config(), self.settings.clone()).map_err(anyhow::Error::msg)?;
        tracing::info!(kids = ?self.settings.jwt_kids, "auth signing keys ready");
        // A second on_ready of the same value (tests) keeps the first keys.
        let state = self.shared.get_or_init(|| Arc::new(state)).clone();
        ctx.provide_shared(state);
        ctx.provide(kernel::identity::Users(Arc::new(crate::authn::Directory(
            self.shared.clone(),
        ))));
        Ok(())
    }
}
