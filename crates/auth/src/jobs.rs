//! Background work: anonymizing deactivated accounts, password-reset mails.

use chrono::Utc;
use kernel::CellContext;
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::{backup_code, one_time_token, session, user};
use crate::service::{STATUS_ANONYMIZED, STATUS_DEACTIVATED};
use crate::state::Shared;

/// The job a forgot-password request enqueues (`auth.forgot_password`), payload `{"email"}`.
pub(crate) const FORGOT_PASSWORD_JOB: &str = "auth.forgot_password";

/// Mails a reset link if the address belongs to an active account; does nothing otherwise.
pub(crate) struct ForgotPassword(pub Shared);

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for ForgotPassword {
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let state = self
            .0
            .get()
            .ok_or_else(|| anyhow::anyhow!("the auth module is not ready"))?;
        let email = job.payload["email"].as_str().unwrap_or_default();
        let user = crate::service::user_by_email(ctx.db().conn(), email)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(user) = user else {
            return Ok(());
        };
        if user.status != crate::service::STATUS_ACTIVE {
            return Ok(());
        }
        let txn = ctx.db().begin().await?;
        crate::service::mail_link(
            ctx,
            &txn,
            state,
            user.id,
            &user.email,
            None,
            crate::service::Link::Reset,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        txn.commit().await?;
        Ok(())
    }
}

/// Daily: accounts deactivated more than `anonymize_after_days` ago lose their personal data
/// (email replaced, names, avatar, locale, time zone, password and MFA cleared, sessions and
/// tokens deleted). The user id stays, so records that name it keep their meaning.
pub(crate) struct Anonymize(pub Shared);

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for Anonymize {
    async fn run(&self, ctx: &CellContext, _job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let days = self.0.get().map_or(30, |s| s.settings.anonymize_after_days);
        let n = anonymize_due(ctx, days).await?;
        if n > 0 {
            tracing::info!(users = n, "deactivated accounts anonymized");
        }
        Ok(())
    }
}

/// Anonymizes every account deactivated at least `days` days ago; returns how many.
pub async fn anonymize_due(ctx: &CellContext, days: i64) -> anyhow::Result<u64> {
    let cutoff = Utc::now() - chrono::Duration::days(days);
    let due = user::Entity::find()
        .filter(user::Column::Status.eq(STATUS_DEACTIVATED))
        .filter(user::Column::DeactivatedAt.lte(cutoff))
        .all(ctx.db().conn())
        .await?;
    for u in &due {
        let txn = ctx.db().begin().await?;
        let none = kernel::sea_orm::Value::String(None);
        user::Entity::update_many()
            .col_expr(
                user::Column::Email,
                Expr::value(format!("anonymized-{}@invalid", u.id.simple())),
            )
            .col_expr(user::Column::PasswordHash, Expr::value(""))
            .col_expr(user::Column::FirstName, Expr::value(none.clone()))
            .col_expr(user::Column::LastName, Expr::value(none.clone()))
            .col_expr(user::Column::AvatarUrl, Expr::value(none.clone()))
            .col_expr(user::Column::Timezone, Expr::value(none.clone()))
            .col_expr(user::Column::Locale, Expr::value(none.clone()))
            .col_expr(user::Column::MfaSecret, Expr::value(none))
            .col_expr(user::Column::MfaEnabled, Expr::value(false))
            .col_expr(user::Column::Status, Expr::value(STATUS_ANONYMIZED))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(u.id))
            .filter(user::Column::Status.eq(STATUS_DEACTIVATED))
            .exec(&txn)
            .await?;
        backup_code::Entity::delete_many()
            .filter(backup_code::Column::UserId.eq(u.id))
            .exec(&txn)
            .await?;
        one_time_token::Entity::delete_many()
            .filter(one_time_token::Column::UserId.eq(u.id))
            .exec(&txn)
            .await?;
        // Their refresh tokens go with the sessions (a cascading foreign key).
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(u.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(due.len() as u64)
}
