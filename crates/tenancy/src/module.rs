//! The tenancy module as the kernel sees it.

use std::sync::Arc;

use kernel::http::{Caller, Role};
use kernel::module::{
    Documents, EntityLoader, EntitySummary, ModuleSettings, OnboardingStep, SearchDocument,
    StepCheck,
};
use kernel::sea_orm::{ColumnTrait, Condition, QueryFilter};
use kernel::{ApiError, CellContext, PlatformModule, TenantTx};
use serde::Deserialize;
use uuid::Uuid;

use crate::entity::{invitation, membership, team};

/// `[modules.tenancy]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySettings {
    /// How long an invitation token is valid, in days (1–90; 7 by default).
    #[serde(default = "default_ttl")]
    pub invitation_ttl_days: u32,
}

fn default_ttl() -> u32 {
    7
}

impl Default for TenancySettings {
    fn default() -> Self {
        Self {
            invitation_ttl_days: default_ttl(),
        }
    }
}

/// Owns organizations, memberships, teams, invitations, settings and feature flags.
#[derive(Debug, Default)]
pub struct Tenancy {
    settings: TenancySettings,
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Tenancy {
    fn name(&self) -> &'static str {
        "tenancy"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Memberships and teams are written into iam's graph in the same transaction.
    fn dependencies(&self) -> &'static [&'static str] {
        &["iam"]
    }

    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        let settings: TenancySettings = kernel::module::parse_settings(settings)?;
        if !(1..=90).contains(&settings.invitation_ttl_days) {
            return Err("invitation_ttl_days must be from 1 to 90".into());
        }
        self.settings = settings;
        Ok(())
    }

    fn events(&self) -> Vec<kernel::events::EventDef> {
        crate::events::catalogue()
    }
    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        crate::migration::migrations()
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::http::configure(cfg);
    }

    /// Shares its settings with its handlers and the public functions other modules call
    /// (`invite`).
    async fn on_ready(&self, ctx: &CellContext) -> anyhow::Result<()> {
        ctx.provide(self.settings.clone());
        Ok(())
    }

    fn email_templates(&self) -> Vec<kernel::mail::EmailTemplate> {
        vec![crate::invitations::email_template()]
    }

    fn entity_loaders(&self) -> Vec<Arc<dyn EntityLoader>> {
        vec![Arc::new(Teams)]
    }

    fn onboarding_steps(&self) -> Vec<OnboardingStep> {
        vec![
            OnboardingStep {
                key: "tenancy.invite_teammate",
                title: "Invite a teammate",
                required: true,
                check: Arc::new(Invited),
            },
            OnboardingStep {
                key: "tenancy.create_team",
                title: "Create a team",
                required: false,
                check: Arc::new(HasTeam),
            },
        ]
    }
}

/// Someone was invited, or the org has a second member.
struct Invited;

#[kernel::async_trait::async_trait(?Send)]
impl StepCheck for Invited {
    async fn done(&self, _ctx: &CellContext, tx: &TenantTx) -> Result<bool, ApiError> {
        Ok(tx.repo::<invitation::Entity>().count().await? > 0
            || tx.repo::<membership::Entity>().count().await? > 1)
    }
}

/// The org has a team.
struct HasTeam;

#[kernel::async_trait::async_trait(?Send)]
impl StepCheck for HasTeam {
    async fn done(&self, _ctx: &CellContext, tx: &TenantTx) -> Result<bool, ApiError> {
        Ok(tx.repo::<team::Entity>().count().await? > 0)
    }
}

/// Shows teams wherever other modules refer to them (links, search, activity).
struct Teams;

fn summary(t: team::Model) -> EntitySummary {
    EntitySummary {
        entity: kernel::module::EntityRef {
            kind: "team".into(),
            id: t.id,
        },
        title: t.name,
        subtitle: t.description,
        url: None,
    }
}

/// The teams `caller` may see (see [`crate::http::teams::visible_to`]), as a condition.
async fn visible(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
) -> Result<Option<Condition>, ApiError> {
    let role = crate::orgs::member_role(tx, caller.user_id).await?;
    let admin = role.and_then(|r| crate::access::role_of(ctx, &r)) >= Some(Role::Admin);
    crate::http::teams::visible_to(tx, caller.user_id, admin).await
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Teams {
    fn entity_type(&self) -> &'static str {
        "team"
    }

    fn collection(&self) -> &'static str {
        "teams"
    }

    async fn resolve(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<team::Entity>();
        let mut select = repo.find().filter(team::Column::Id.is_in(ids.to_vec()));
        if let Some(visible) = visible(ctx, tx, caller).await? {
            select = select.filter(visible);
        }
        Ok(select
            .all(repo.conn())
            .await?
            .into_iter()
            .map(summary)
            .collect())
    }

    /// Teams are found by their name and description; search shows a private one only to
    /// those who see it (through `resolve`).
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<team::Entity>();
        let select = repo.find_documents(which)?;
        Ok(select
            .all(repo.conn())
            .await?
            .into_iter()
            .map(|t| SearchDocument {
                id: t.id,
                title: t.name,
                body: t.description.unwrap_or_default(),
            })
            .collect())
    }

    /// Private teams count only for those who see them.
    async fn count(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
    ) -> Result<u64, ApiError> {
        let repo = tx.repo::<team::Entity>();
        let mut select = repo.find();
        if let Some(visible) = visible(ctx, tx, caller).await? {
            select = select.filter(visible);
        }
        Ok(kernel::sea_orm::PaginatorTrait::count(select, repo.conn()).await?)
    }
}
