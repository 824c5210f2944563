//! What modules may ask of the cell's identity module about its users without depending on it:
//! tenancy confirms an owner's password before a transfer, invitations and abm's portal need a
//! user's address, tasks and notifications a user's time zone. The identity module (auth)
//! provides a [`UserDirectory`] in `on_ready` (`ctx.provide(Users(…))`); the functions here
//! answer for a cell without one as each says.
//! Authentication itself is the [`Authenticator`](crate::http::Authenticator)'s.

use std::sync::Arc;

pub use chrono_tz::{TZ_VARIANTS, Tz};
use uuid::Uuid;

use crate::context::CellContext;
use crate::error::ApiError;

/// The identity module's answers about its users. Futures run on the request's worker.
#[async_trait::async_trait(?Send)]
pub trait UserDirectory: Send + Sync {
    /// A user's email address, if the user exists and is active.
    async fn email(&self, ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError>;

    /// The IANA time zone a user set in their profile (`Europe/Paris`), if any.
    async fn timezone(&self, ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError>;

    /// Re-checks a user's password before a sensitive action (ownership transfer). Failures
    /// count towards the account's lockout.
    async fn confirm_password(
        &self,
        ctx: &CellContext,
        user_id: Uuid,
        password: &str,
    ) -> Result<bool, ApiError>;
}

/// The directory the identity module provided (`ctx.provide(Users(Arc::new(…)))`).
pub struct Users(pub Arc<dyn UserDirectory>);

/// A user's email address; `None` as well in a cell without an identity module.
pub async fn email(ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError> {
    match ctx.service::<Users>() {
        Some(users) => users.0.email(ctx, user_id).await,
        None => Ok(None),
    }
}

/// The time zone a user set (IANA name, as they wrote it: check it before use); `None` as well
/// in a cell without an identity module.
pub async fn timezone(ctx: &CellContext, user_id: Uuid) -> Result<Option<String>, ApiError> {
    match ctx.service::<Users>() {
        Some(users) => users.0.timezone(ctx, user_id).await,
        None => Ok(None),
    }
}

/// The user's time zone to count their days in: the one they set, or UTC when they set none
/// (or one this build's time zone database does not know, or the cell has no identity module).
pub async fn zone(ctx: &CellContext, user_id: Uuid) -> Result<Tz, ApiError> {
    Ok(timezone(ctx, user_id)
        .await?
        .and_then(|name| parse_zone(&name))
        .unwrap_or(Tz::UTC))
}

/// An IANA time zone by name (`Europe/Paris`), if the time zone database knows it.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// Whether `password` is the user's; a 500 in a cell without an identity module (a route that
/// needs it belongs to a cell that has one).
pub async fn confirm_password(
    ctx: &CellContext,
    user_id: Uuid,
    password: &str,
) -> Result<bool, ApiError> {
    let users = ctx.service::<Users>().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "this cell has no identity module to confirm passwords"
        ))
    })?;
    users.0.confirm_password(ctx, user_id, password).await
}
