//! Who the caller is in the organization a request works on.
//!
//! Every tenant route works on the caller's **active** organization (the token's org): its
//! handler takes `Scoped<P, Read<S> | Write<S>>` with one of the permissions below (checked in
//! iam's graph, in the org's transaction): [`InActiveOrg`] or [`InPathOrg`] for every member,
//! [`WorkInActiveOrg`] for members and up, [`AdministerActiveOrg`] or [`AdministerPathOrg`] for
//! admins and owners. [`of`] reads the caller's role from the membership row for the rules that
//! depend on the request (only an owner makes or removes an owner). Neither comes from the
//! token, so a demotion or removal takes effect on the next request rather than when the access
//! token expires. Not a member (or a path org other than the active one) answers 404: another
//! org's ids are indistinguishable from ids that do not exist; a member without the role, 403.

use kernel::http::{Mode, Object, Permission, Role, Scoped};
use kernel::sea_orm::sea_query::Expr;
use kernel::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::{membership, organization};

/// The caller inside their active organization.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub org: Uuid,
    pub user: Uuid,
    /// The platform role; `None` for a role name the cell no longer defines (reads only).
    pub role: Option<Role>,
}

impl Access {
    /// 403 unless the caller's role is at least `min`.
    pub fn require(&self, min: Role) -> Result<(), ApiError> {
        match self.role {
            Some(r) if r >= min => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "this needs the {min} role or higher in the organization"
            ))),
        }
    }

    pub fn at_least(&self, min: Role) -> bool {
        self.role.is_some_and(|r| r >= min)
    }
}

kernel::api_scope!(
    /// Organizations and their members: `organizations:read|write` for API keys.
    pub(crate) Organizations = "organizations"
);
kernel::api_scope!(pub(crate) Teams = "teams");
kernel::api_scope!(pub(crate) Invitations = "invitations");
kernel::api_scope!(pub(crate) Settings = "settings");
kernel::api_scope!(pub(crate) Features = "features");

pub(crate) fn not_found_org() -> ApiError {
    ApiError::not_found("no such organization")
}

/// Belongs to the caller's active organization (`org#viewer_access`); anyone else is told it
/// does not exist (404), so another org's ids look like ids that do not exist.
pub(crate) struct InActiveOrg;
impl Permission for InActiveOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: Object = Object::CallerOrg;

    fn refused() -> ApiError {
        not_found_org()
    }
}

/// [`InActiveOrg`] for the organization the path names (`/organizations/{org_id}/…`), which must be
/// the caller's active one: the check looks for `org:<org_id>` in the active org's graph, so
/// any other org answers 404.
pub(crate) struct InPathOrg;
impl Permission for InPathOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "viewer_access";
    const OBJECT: Object = Object::Path("org_id");

    /// Without an active org, the path's org is as unknown as any other.
    fn admit(_ctx: &CellContext, caller: &kernel::http::Caller) -> Result<(), ApiError> {
        caller.org_id.map(|_| ()).ok_or_else(not_found_org)
    }

    fn refused() -> ApiError {
        not_found_org()
    }
}

/// What a member without the role is told.
fn needs(role: &str) -> ApiError {
    ApiError::forbidden(format!(
        "this needs the {role} role or higher in the organization"
    ))
}

/// Works in the caller's active organization (`org#member_access`: members, admins and
/// owners); a viewer is told 403, anyone else 404.
pub(crate) struct WorkInActiveOrg;
impl Permission for WorkInActiveOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "member_access";
    const OBJECT: Object = Object::CallerOrg;
    const VISIBLE_WITH: Option<&'static str> = Some("viewer_access");

    fn refused() -> ApiError {
        needs("member")
    }

    fn hidden() -> ApiError {
        not_found_org()
    }
}

/// Administers the caller's active organization (`org#admin_access`: admins and owners); a
/// member without the role is told 403, anyone else 404.
pub(crate) struct AdministerActiveOrg;
impl Permission for AdministerActiveOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: Object = Object::CallerOrg;
    const VISIBLE_WITH: Option<&'static str> = Some("viewer_access");

    fn refused() -> ApiError {
        needs("admin")
    }

    fn hidden() -> ApiError {
        not_found_org()
    }
}

/// [`AdministerActiveOrg`] for the organization the path names (`/organizations/{org_id}/…`),
/// which must be the caller's active one: any other org answers 404, as for [`InPathOrg`].
pub(crate) struct AdministerPathOrg;
impl Permission for AdministerPathOrg {
    const NAMESPACE: &'static str = "org";
    const PERMISSION: &'static str = "admin_access";
    const OBJECT: Object = Object::Path("org_id");
    const VISIBLE_WITH: Option<&'static str> = Some("viewer_access");

    fn admit(ctx: &CellContext, caller: &kernel::http::Caller) -> Result<(), ApiError> {
        InPathOrg::admit(ctx, caller)
    }

    fn refused() -> ApiError {
        needs("admin")
    }

    fn hidden() -> ApiError {
        not_found_org()
    }
}

/// The caller's membership in the org of `tx` (checked by the extractor): their role, for the
/// rules that depend on it. In a write transaction it first takes the org's row lock (see
/// [`begin_write`]), so rules that read and then write hold under concurrency.
pub(crate) async fn of<P: Permission, M: Mode>(
    ctx: &CellContext,
    tx: &Scoped<P, M>,
) -> Result<Access, ApiError> {
    if M::WRITE {
        lock_org(tx).await?;
    }
    let (org, user) = (tx.org_id(), tx.caller().user_id);
    let member = tx
        .repo::<membership::Entity>()
        .get((org, user))
        .await?
        .ok_or_else(not_found_org)?;
    Ok(Access {
        org,
        user,
        role: role_of(ctx, &member.role),
    })
}

/// Begins `org`'s transaction for a change: its first statement is a no-op update of the org's
/// row, which takes that row's lock on PostgreSQL, so tenancy's changes within one org are
/// serialised and rules that read and then write (the last owner, one live invitation per
/// address) hold under concurrency. (On SQLite the kernel's `BEGIN IMMEDIATE` already holds the
/// write lock.)
pub(crate) async fn begin_write(ctx: &CellContext, org: Uuid) -> Result<TenantTx, ApiError> {
    let tx = ctx.db().tenant(org).await?;
    lock_org(&tx).await?;
    Ok(tx)
}

/// The platform role a cell role name maps onto.
pub(crate) fn role_of(ctx: &CellContext, name: &str) -> Option<Role> {
    Role::resolve(name, &ctx.config().cell.roles)
}

/// A role name given by a client: a platform role or one of the cell's aliases; 422 on `field`
/// otherwise.
pub(crate) fn parse_role(ctx: &CellContext, field: &str, name: &str) -> Result<Role, ApiError> {
    role_of(ctx, name).ok_or_else(|| {
        let mut names: Vec<&str> = vec!["owner", "admin", "member", "viewer"];
        names.extend(ctx.config().cell.roles.keys().map(String::as_str));
        ApiError::validation(
            field,
            format!("unknown role `{name}`; roles: {}", names.join(", ")),
        )
    })
}

/// Every name (platform role and aliases) that maps onto `role`.
pub(crate) fn names_of(ctx: &CellContext, role: Role) -> Vec<String> {
    let mut names = vec![role.as_str().to_owned()];
    names.extend(
        ctx.config()
            .cell
            .roles
            .iter()
            .filter(|(_, target)| Role::parse(target) == Some(role))
            .map(|(alias, _)| alias.clone()),
    );
    names
}

/// How many owners the organization of `tx` has.
pub(crate) async fn owner_count(ctx: &CellContext, tx: &TenantTx) -> Result<u64, ApiError> {
    let repo = tx.repo::<membership::Entity>();
    Ok(repo
        .find()
        .filter(membership::Column::Role.is_in(names_of(ctx, Role::Owner)))
        .count(repo.conn())
        .await?)
}

/// The no-op update of [`begin_write`]; the public functions other modules call with their own
/// transaction (`invite`, `accept_invitation`) take it too.
pub(crate) async fn lock_org(tx: &TenantTx) -> Result<(), ApiError> {
    organization::Entity::update_many()
        .col_expr(
            organization::Column::UpdatedAt,
            Expr::col(organization::Column::UpdatedAt),
        )
        .filter(organization::Column::Id.eq(tx.org_id()))
        // unscoped: organizations are keyed by their id, not an org_id column: the row of tx's org
        .exec(tx.unscoped())
        .await?;
    Ok(())
}

/// Publishes a tenancy event in the change's transaction, acted by `actor`.
pub(crate) async fn publish<E: kernel::events::Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    actor: Uuid,
    event: E,
) -> Result<(), ApiError> {
    let actor = kernel::module::EntityRef::user(actor);
    ctx.events().emit(tx, Some(actor), &event).await?;
    Ok(())
}
