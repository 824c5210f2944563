//! The two zones of the cell (the spec's `requireInternalUser` / `requireCustomerUser`), as
//! extractors. Membership is checked against iam's graph on every request (a role change or a
//! removal applies at once, not at the access token's next refresh).
//!
//! - [`Internal`]: the caller's active org is the operator org and they are at least a member
//!   there (`internal_sales`; `internal_admin` = admin, see [`Internal::admin_tx`]), checked in
//!   the transaction the handler then works in.
//! - [`Customer`]: the caller's active org is a customer org (it has an `abm_customers` row) and
//!   they are a member of it; the extractor carries that org, and the portal's handlers open
//!   their transactions in it only (row-level security on PostgreSQL).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, web};
use kernel::http::Caller;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::module::Inner;
use crate::store::entity::customer_account;

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A transaction of the caller's active org, once `P` is checked in it (`read`: a transaction
/// that only reads, see `kernel::Db::begin_read`); a refusal is `refused`.
async fn begin<P: iam::Permission>(
    ctx: &CellContext,
    caller: &Caller,
    read: bool,
    refused: impl FnOnce() -> ApiError,
) -> Result<TenantTx, ApiError> {
    let begun = match read {
        true => iam::Authorized::<P>::begin_read(ctx, caller.clone(), None).await,
        false => iam::Authorized::<P>::begin(ctx, caller.clone(), None).await,
    };
    match begun {
        Ok((_, tx)) => Ok(tx),
        Err(e) if e.code() == kernel::ErrorCode::Forbidden => Err(refused()),
        Err(e) => Err(e),
    }
}

fn parts(req: &HttpRequest) -> Result<(web::Data<Inner>, Caller), ApiError> {
    let abm = req
        .app_data::<web::Data<Inner>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("abm is not registered")))?;
    Ok((abm, Caller::extract(req).into_inner()?))
}

/// The account of a customer org (`None`: not a customer org), read in `tx`, a transaction of
/// that org.
pub(crate) async fn customer_of(
    tx: &TenantTx,
) -> Result<Option<customer_account::Model>, ApiError> {
    Ok(tx
        .repo::<customer_account::Entity>()
        .get(tx.org_id())
        .await?)
}

/// A caller whose active org is the operator org. Whether they work there (`internal_sales`) or
/// administer it (`internal_admin`) is checked when the handler opens its transaction, inside
/// that transaction ([`Internal::tx`], [`Internal::admin_tx`]): one transaction a request, and
/// no way to reach the operator's rows without the check.
#[derive(Debug, Clone)]
pub(crate) struct Internal {
    /// Its active org is the operator org: the transactions below are the operator's.
    pub caller: Caller,
}

impl Internal {
    /// A transaction of the operator org, where every abm table but `abm_customers` lives, once
    /// the caller is found to be at least a member there.
    pub async fn tx(&self, ctx: &CellContext) -> Result<TenantTx, ApiError> {
        begin::<iam::WorkInOrg>(ctx, &self.caller, false, not_internal).await
    }

    /// [`Internal::tx`] for a handler that only reads (on SQLite it reads beside the writer).
    pub async fn read_tx(&self, ctx: &CellContext) -> Result<TenantTx, ApiError> {
        begin::<iam::WorkInOrg>(ctx, &self.caller, true, not_internal).await
    }

    /// [`Internal::tx`] for internal admins (admins and owners of the operator org).
    pub async fn admin_tx(&self, ctx: &CellContext) -> Result<TenantTx, ApiError> {
        begin::<iam::AdministerOrg>(ctx, &self.caller, false, || {
            ApiError::forbidden("this needs an internal admin")
        })
        .await
    }
}

fn not_internal() -> ApiError {
    ApiError::forbidden("the ABM dashboard is for internal users")
}

impl FromRequest for Internal {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let parts = parts(req);
        Box::pin(async move {
            let (abm, caller) = parts?;
            let operator = abm.state()?.operator;
            if caller.org()? != operator {
                return Err(ApiError::forbidden(
                    "the ABM dashboard is for internal users: switch to the operator organization",
                ));
            }
            Ok(Internal { caller })
        })
    }
}

/// A member of a customer org acting in it: the portal's user. `org_id` is the tenant every
/// portal query is scoped to.
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub caller: Caller,
    pub org_id: Uuid,
    pub account: customer_account::Model,
}

impl FromRequest for Customer {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (ctx, parts) = (CellContext::extract(req).into_inner(), parts(req));
        Box::pin(async move {
            let (ctx, (abm, caller)) = (ctx?, parts?);
            let org_id = caller.org()?;
            let refused = || {
                ApiError::forbidden("the customer portal is for users of a customer organization")
            };
            if org_id == abm.state()?.operator {
                return Err(refused());
            }
            // The membership check and the account read share one transaction of the org.
            let tx = begin::<iam::InOrg>(&ctx, &caller, true, refused).await?;
            let account = customer_of(&tx).await?;
            tx.commit().await?;
            let account = account.ok_or_else(refused)?;
            Ok(Customer {
                caller,
                org_id,
                account,
            })
        })
    }
}
