//! The two zones of the cell (the spec's `requireInternalUser` / `requireCustomerUser`), as
//! permissions behind the kernel's one way in (`kernel::http::Scoped`). Membership is checked
//! against iam's graph on every request, in the transaction the handler then works in (a role
//! change or a removal applies at once, not at the access token's next refresh).
//!
//! - [`Internal`]: the caller's active org is the operator org and they are at least a member
//!   there (`internal_sales`); [`InternalAdmin`]: an admin or owner there (`internal_admin`).
//! - [`Customer`]: the caller's active org is a customer org (it has an `abm_customers` row) and
//!   they are a member of it; the portal's handlers work in that org's transaction only
//!   (row-level security on PostgreSQL).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest};
use kernel::http::{Caller, Object, Permission, Read, Scoped, Write};
use kernel::{ApiError, CellContext, TenantTx};

use crate::store::entity::customer_account;

kernel::api_scope!(
    /// The dashboard's data (prospects, contacts, companies, signals): `abm:read`, `abm:write`.
    pub(crate) Abm = "abm"
);
kernel::api_scope!(
    /// The customer portal: `portal:read`.
    pub(crate) Portal = "portal"
);

/// Works in the operator org (a member there): the dashboard.
pub(crate) struct Sales;
impl Permission for Sales {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "member_access";
    const OBJECT: Object = Object::CallerOrg;

    fn admit(ctx: &CellContext, caller: &Caller) -> Result<(), ApiError> {
        in_operator_org(ctx, caller)
    }

    fn refused() -> ApiError {
        ApiError::forbidden("the ABM dashboard is for internal users")
    }
}

/// Administers the operator org (an admin or owner there): deletions, mappings, customers.
pub(crate) struct SalesAdmin;
impl Permission for SalesAdmin {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: Object = Object::CallerOrg;

    fn admit(ctx: &CellContext, caller: &Caller) -> Result<(), ApiError> {
        in_operator_org(ctx, caller)
    }

    fn refused() -> ApiError {
        ApiError::forbidden("this needs an internal admin")
    }
}

/// Belongs to a customer org (any member of an org other than the operator's): the portal.
pub(crate) struct PortalUser;
impl Permission for PortalUser {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: Object = Object::CallerOrg;

    fn admit(ctx: &CellContext, caller: &Caller) -> Result<(), ApiError> {
        match caller.org()? == operator(ctx)? {
            true => Err(Self::refused()),
            false => Ok(()),
        }
    }

    fn refused() -> ApiError {
        ApiError::forbidden("the customer portal is for users of a customer organization")
    }
}

/// An internal user in a transaction of the operator org (read-only for `Read`).
pub(crate) type Internal<M = Read<Abm>> = Scoped<Sales, M>;
/// An internal admin in a write transaction of the operator org.
pub(crate) type InternalAdmin = Scoped<SalesAdmin, Write<Abm>>;

fn operator(ctx: &CellContext) -> Result<uuid::Uuid, ApiError> {
    crate::operator_org(ctx).ok_or_else(|| ApiError::internal(anyhow::anyhow!("abm is not ready")))
}

fn in_operator_org(ctx: &CellContext, caller: &Caller) -> Result<(), ApiError> {
    match caller.org()? == operator(ctx)? {
        true => Ok(()),
        false => Err(ApiError::forbidden(
            "the ABM dashboard is for internal users: switch to the operator organization",
        )),
    }
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

/// A member of a customer org acting in it, in a read transaction of that org: the portal's
/// user.
#[derive(Debug)]
pub(crate) struct Customer {
    pub tx: Scoped<PortalUser, Read<Portal>>,
    pub account: customer_account::Model,
}

impl FromRequest for Customer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let scoped = Scoped::<PortalUser, Read<Portal>>::from_request(req, payload);
        Box::pin(async move {
            let tx = scoped.await?;
            let account = customer_of(&tx).await?.ok_or_else(PortalUser::refused)?;
            Ok(Customer { tx, account })
        })
    }
}
