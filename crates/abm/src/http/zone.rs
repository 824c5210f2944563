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

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use kernel::http::Caller;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::module::Inner;
use crate::store::entity::customer_account;

struct OrgMember;
impl iam::Permission for OrgMember {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "member_access";
    const OBJECT: iam::Object = iam::Object::CallerOrg;
}

struct OrgAdmin;
impl iam::Permission for OrgAdmin {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: iam::Object = iam::Object::CallerOrg;
}

struct OrgViewer;
impl iam::Permission for OrgViewer {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: iam::Object = iam::Object::CallerOrg;
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

fn parts(req: &HttpRequest) -> Result<(CellContext, web::Data<Inner>, Caller), ApiError> {
    let ctx = req
        .app_data::<CellContext>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("CellContext is not registered")))?;
    let abm = req
        .app_data::<web::Data<Inner>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("abm is not registered")))?;
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("sign in to use this route"))?;
    Ok((ctx, abm, caller))
}

/// A member of the operator org acting in it: the ABM dashboard's user.
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
        iam::Authorized::<OrgAdmin>::check(ctx, self.caller.clone(), None)
            .await
            .map(|_| ())
            .map_err(|e| match e.code() {
                kernel::ErrorCode::Forbidden => ApiError::forbidden("this needs an internal admin"),
                _ => e,
            })
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
            iam::Authorized::<OrgMember>::check(&ctx, caller.clone(), None)
                .await
                .map_err(|e| match e.code() {
                    kernel::ErrorCode::Forbidden => {
                        ApiError::forbidden("the ABM dashboard is for internal users")
                    }
                    _ => e,
                })?;
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
            iam::Authorized::<OrgViewer>::check(&ctx, caller.clone(), None)
                .await
                .map_err(|e| match e.code() {
                    kernel::ErrorCode::Forbidden => refused(),
                    _ => e,
                })?;
            let tx = ctx.db().tenant(org_id).await?;
            let account = tx.repo::<customer_account::Entity>().get(org_id).await?;
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
