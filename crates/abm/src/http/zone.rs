//! The two zones of the cell (the spec's `requireInternalUser` / `requireCustomerUser`), as
//! extractors. Membership is checked against iam's graph on every request (a role change or a
//! removal applies at once, not at the access token's next refresh).
//!
//! - [`Internal`]: the caller's active org is the operator org and they are at least a member
//!   there (`internal_sales`; `internal_admin` = admin, see [`Internal::require_admin`]).
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

/// Checks `P` in the caller's active org against iam's graph; a refusal is `refused`.
async fn require<P: iam::Permission>(
    ctx: &CellContext,
    caller: &Caller,
    refused: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    match iam::Authorized::<P>::check(ctx, caller.clone(), None).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == kernel::ErrorCode::Forbidden => Err(refused()),
        Err(e) => Err(e),
    }
}

fn parts(req: &HttpRequest) -> Result<(CellContext, web::Data<Inner>, Caller), ApiError> {
    let ctx = CellContext::extract(req).into_inner()?;
    let abm = req
        .app_data::<web::Data<Inner>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("abm is not registered")))?;
    Ok((ctx, abm, Caller::extract(req).into_inner()?))
}

/// The account of a customer org (`None`: not a customer org), read in that org's own
/// transaction.
pub(crate) async fn customer_of(
    ctx: &CellContext,
    org: Uuid,
) -> Result<Option<customer_account::Model>, ApiError> {
    let tx = ctx.db().tenant(org).await?;
    let account = tx.repo::<customer_account::Entity>().get(org).await?;
    tx.commit().await?;
    Ok(account)
}

#[derive(Debug, Clone)]
pub(crate) struct Internal {
    pub caller: Caller,
    pub operator: Uuid,
}

impl Internal {
    /// A transaction of the operator org, where every abm table but `abm_customers` lives.
    pub async fn tx(&self, ctx: &CellContext) -> Result<TenantTx, ApiError> {
        Ok(ctx.db().tenant(self.operator).await?)
    }

    /// 403 unless the caller is an admin (or owner) of the operator org (`internal_admin`).
    pub async fn require_admin(&self, ctx: &CellContext) -> Result<(), ApiError> {
        require::<iam::AdministerOrg>(ctx, &self.caller, || {
            ApiError::forbidden("this needs an internal admin")
        })
        .await
    }
}

impl FromRequest for Internal {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let parts = parts(req);
        Box::pin(async move {
            let (ctx, abm, caller) = parts?;
            let operator = abm.state()?.operator;
            if caller.org()? != operator {
                return Err(ApiError::forbidden(
                    "the ABM dashboard is for internal users: switch to the operator organization",
                ));
            }
            require::<iam::WorkInOrg>(&ctx, &caller, || {
                ApiError::forbidden("the ABM dashboard is for internal users")
            })
            .await?;
            Ok(Internal { caller, operator })
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
        let parts = parts(req);
        Box::pin(async move {
            let (ctx, abm, caller) = parts?;
            let org_id = caller.org()?;
            let refused = || {
                ApiError::forbidden("the customer portal is for users of a customer organization")
            };
            if org_id == abm.state()?.operator {
                return Err(refused());
            }
            require::<iam::InOrg>(&ctx, &caller, refused).await?;
            let account = customer_of(&ctx, org_id).await?.ok_or_else(refused)?;
            Ok(Customer {
                caller,
                org_id,
                account,
            })
        })
    }
}
