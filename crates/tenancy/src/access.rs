//! Who the caller is in the organization a request works on.
//!
//! Every tenant route works on the caller's **active** organization (the token's org): it opens
//! that org's transaction and reads the caller's membership there. The role comes from the
//! membership row, not from the token, so a demotion or removal takes effect on the next request
//! rather than when the access token expires. Not a member (or a path org other than the active
//! one) answers 404: another org's ids are indistinguishable from ids that do not exist.

use kernel::http::{Caller, Role};
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

pub(crate) fn not_found_org() -> ApiError {
    ApiError::not_found("no such organization")
}

/// Opens the caller's active org's read-only transaction and loads their membership: 403
/// without an active org, 404 when they are not a member of it. For handlers that only read
/// (a write in it can fail on SQLite); changes use [`enter_write`].
pub(crate) async fn enter(
    ctx: &CellContext,
    caller: &Caller,
) -> Result<(TenantTx, Access), ApiError> {
    let org = caller.org()?;
    open(ctx, caller, org, false).await
}

/// Like [`enter`], for a transaction that writes: see [`begin_write`].
pub(crate) async fn enter_write(
    ctx: &CellContext,
    caller: &Caller,
) -> Result<(TenantTx, Access), ApiError> {
    let org = caller.org()?;
    open(ctx, caller, org, true).await
}

/// Like [`enter`] for routes naming the org in their path: 404 unless it is the caller's
/// active org and they are a member.
pub(crate) async fn enter_org(
    ctx: &CellContext,
    caller: &Caller,
    org: Uuid,
) -> Result<(TenantTx, Access), ApiError> {
    open(ctx, caller, org, false).await
}

/// Like [`enter_org`], for a transaction that writes: see [`begin_write`].
pub(crate) async fn enter_org_write(
    ctx: &CellContext,
    caller: &Caller,
    org: Uuid,
) -> Result<(TenantTx, Access), ApiError> {
    open(ctx, caller, org, true).await
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

async fn open(
    ctx: &CellContext,
    caller: &Caller,
    org: Uuid,
    write: bool,
) -> Result<(TenantTx, Access), ApiError> {
    if caller.org_id != Some(org) {
        return Err(not_found_org());
    }
    let tx = match write {
        true => begin_write(ctx, org).await?,
        // Every caller of `enter`/`enter_org` only reads (checked route by route): on SQLite a
        // read transaction reads beside the writer instead of queueing for its lock.
        false => ctx.db().tenant_read(org).await?,
    };
    let member = tx
        .repo::<membership::Entity>()
        .get((org, caller.user_id))
        .await?
        .ok_or_else(not_found_org)?;
    let access = Access {
        org,
        user: caller.user_id,
        role: role_of(ctx, &member.role),
    };
    Ok((tx, access))
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
    let actor = kernel::module::EntityRef {
        kind: "user".into(),
        id: actor,
    };
    ctx.events().emit(tx, Some(actor), &event).await?;
    Ok(())
}
