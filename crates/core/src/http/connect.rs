//! The way into a long-lived connection (a WebSocket, an event stream): [`Connect<P, M>`].
//!
//! Browsers cannot put an `Authorization` header on a WebSocket or an `EventSource`, and a
//! token in a URL ends up in logs. So a client either sends its credentials as on any request
//! (non-browser clients), or first buys a ticket with them ([`tickets::issue`], a module's
//! `POST` route) and connects with `?ticket=`: random, single use (taken from the cache, shared
//! by every instance when it is Redis), valid [`tickets::TTL`], and worth nothing once used.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::access::{Access, Mode, Permission, Scoped, mark};
use super::caller::Caller;
use crate::context::CellContext;
use crate::error::{ApiError, ErrorCode};

/// A caller holding `P` (an API key: the scope `M` names) in their active org, checked once
/// when the connection opens; no transaction is kept. Authenticated by the request's
/// credentials or a ticket (`?ticket=`). What the connection shows afterwards is the handler's
/// to check, each time (an entity's events only while the caller may view it).
pub struct Connect<P: Permission, M: Mode> {
    caller: Caller,
    mode: PhantomData<fn() -> (P, M)>,
}

impl<P: Permission, M: Mode> Connect<P, M> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's active organization, checked at connect.
    pub fn org_id(&self) -> uuid::Uuid {
        // `Scoped::begin` refused a caller without one.
        self.caller.org_id.unwrap_or_default()
    }

    pub fn into_caller(self) -> Caller {
        self.caller
    }
}

impl<P: Permission, M: Mode> std::fmt::Debug for Connect<P, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field(
                "access",
                &format_args!("{}#{}", P::NAMESPACE, P::PERMISSION),
            )
            .field("user", &self.caller.user_id)
            .field("org", &self.caller.org_id)
            .finish()
    }
}

impl<P: Permission, M: Mode> FromRequest for Connect<P, M> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        mark(
            req,
            Access::Scoped {
                namespace: P::NAMESPACE,
                permission: P::PERMISSION,
                write: M::WRITE,
                scope: M::SCOPE,
            },
        );
        let caller = Caller::extract(req).into_inner();
        let ctx = CellContext::extract(req).into_inner();
        let ticket = tickets::in_query(req.query_string());
        Box::pin(async move {
            let ctx = ctx?;
            let caller = match (caller, ticket) {
                (Ok(caller), _) => caller,
                (Err(_), Some(ticket)) => tickets::redeem(&ctx, &ticket).await?,
                (Err(e), None) => return Err(e),
            };
            let (caller, tx) = Scoped::<P, M>::begin(&ctx, caller, None)
                .await?
                .into_parts();
            tx.commit().await?;
            Ok(Self {
                caller,
                mode: PhantomData,
            })
        })
    }
}

/// Single-use connection tickets.
pub mod tickets {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::*;
    use crate::http::Role;

    /// How long a ticket may wait to be used.
    pub const TTL: Duration = Duration::from_secs(30);

    /// A ticket as it is handed to the client.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Ticket {
        /// Pass as `?ticket=` when connecting; once.
        pub ticket: String,
        /// Seconds it stays valid.
        pub expires_in: u64,
    }

    /// The caller, as the cache keeps it until the ticket is used.
    #[derive(Serialize, Deserialize)]
    struct Held {
        user_id: Uuid,
        org_id: Option<Uuid>,
        role_name: Option<String>,
        role: Option<String>,
        api_key_id: Option<Uuid>,
        scopes: Option<Vec<String>>,
        session_id: Option<Uuid>,
    }

    fn key(ctx: &CellContext, ticket: &str) -> String {
        format!(
            "ticket:{}",
            crate::opaque::keyed_hash(&ctx.config().secret_key(), ticket)
        )
    }

    /// A ticket worth `caller`'s credentials for one connection within [`TTL`].
    pub async fn issue(ctx: &CellContext, caller: &Caller) -> Result<Ticket, ApiError> {
        let ticket = crate::opaque::generate(32)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("no randomness for a ticket")))?;
        let held = Held {
            user_id: caller.user_id,
            org_id: caller.org_id,
            role_name: caller.role_name.clone(),
            role: caller.role.map(|r| r.as_str().to_owned()),
            api_key_id: caller.api_key_id,
            scopes: caller.scopes.clone(),
            session_id: caller.session_id,
        };
        ctx.cache()
            .global()
            .set(&key(ctx, &ticket), &held, Some(TTL))
            .await;
        Ok(Ticket {
            ticket,
            expires_in: TTL.as_secs(),
        })
    }

    /// The caller a ticket was issued to; 401 for an unknown, used or expired one.
    pub(super) async fn redeem(ctx: &CellContext, ticket: &str) -> Result<Caller, ApiError> {
        let held: Held = ctx
            .cache()
            .global()
            .take(&key(ctx, ticket))
            .await
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "the ticket is unknown, expired or already used: ask for a new one",
                )
            })?;
        Ok(Caller {
            user_id: held.user_id,
            org_id: held.org_id,
            role_name: held.role_name,
            role: held.role.as_deref().and_then(Role::parse),
            api_key_id: held.api_key_id,
            scopes: held.scopes,
            session_id: held.session_id,
        })
    }

    /// The `ticket` parameter of a query string.
    pub(super) fn in_query(query: &str) -> Option<String> {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty() && v.len() <= 128)
    }
}
