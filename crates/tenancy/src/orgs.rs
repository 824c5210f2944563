//! Organizations and memberships: the public API other modules (auth) call, and the queries
//! behind tenancy's own routes.

use chrono::Utc;
use kernel::http::Role;
use kernel::sea_orm::sea_query::{Expr, ExprTrait, Func};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use kernel::{ApiError, Db, TenantTx};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{membership, organization};

/// An organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, kernel::utoipa::ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: String,
    pub personal: bool,
    pub settings: serde_json::Value,
    pub logo_url: Option<String>,
    pub default_timezone: String,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

impl From<organization::Model> for Organization {
    fn from(m: organization::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            slug: m.slug,
            plan: m.plan,
            personal: m.personal,
            settings: m.settings,
            logo_url: m.logo_url,
            default_timezone: m.default_timezone,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What creating an organization needs.
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    /// Derived from the name (made unique) when absent; refused with 409 when given and taken.
    pub slug: Option<String>,
    pub plan: Option<String>,
    pub personal: bool,
}

pub const MAX_NAME: usize = 200;

/// A valid plan name: 1–50 of `a-z`, `0-9`, `-`, `_` (`free`, `pro`, `enterprise`; billing owns
/// what each means).
pub fn valid_plan(plan: &str) -> bool {
    (1..=50).contains(&plan.len())
        && plan
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A valid slug: 3–63 of `a-z`, `0-9` and inner `-`.
pub fn valid_slug(slug: &str) -> bool {
    (3..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// `"Acme Corp."` → `acme-corp`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 50 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.len() < 3 {
        format!("org-{out}").trim_end_matches('-').to_owned()
    } else {
        out
    }
}

/// Creates the organization `tx` is scoped to (its id is `tx.org_id()`), with `owner` as its
/// owner, in the caller's transaction (registration creates the user in the same one), and
/// publishes `tenancy.organization.created` there: however an org is made (the API, sign-up,
/// `users create`), the modules that set up each new org (crm's first pipeline) hear of it.
pub async fn create_organization(
    ctx: &kernel::CellContext,
    tx: &TenantTx,
    new: NewOrganization,
    owner: Uuid,
) -> Result<Organization, ApiError> {
    let org = insert_organization(tx, new).await?;
    set_membership(tx, owner, Role::Owner.as_str(), Role::Owner).await?;
    crate::access::publish(
        ctx,
        tx,
        owner,
        crate::events::OrganizationCreated {
            organization_id: org.id,
            owner_id: owner,
        },
    )
    .await?;
    Ok(org)
}

/// Creates the organization `tx` is scoped to with no members yet: for an organization a cell
/// sets up for itself at first start (fullorbit's operator org), whose first owner is added
/// later (`users create --org <slug> --role owner`).
pub async fn create_organization_without_members(
    tx: &TenantTx,
    new: NewOrganization,
) -> Result<Organization, ApiError> {
    insert_organization(tx, new).await
}

async fn insert_organization(
    tx: &TenantTx,
    new: NewOrganization,
) -> Result<Organization, ApiError> {
    let name = kernel::http::trimmed("name", &new.name, MAX_NAME)?;
    let slug = match new.slug {
        Some(slug) => {
            // unscoped: slugs are unique across organizations
            check_new_slug(tx.unscoped(), &slug).await?;
            slug
        }
        None => {
            let base = slugify(&name);
            let mut slug = base.clone();
            // Personal orgs are named after people, so collisions are common: add a suffix.
            // unscoped: slugs are unique across organizations
            while slug_taken(tx.unscoped(), &slug).await? {
                let suffix = Uuid::now_v7().simple().to_string();
                slug = format!("{base}-{}", &suffix[suffix.len() - 6..]);
            }
            slug
        }
    };
    let plan = new.plan.unwrap_or_else(|| "free".into());
    if !valid_plan(&plan) {
        return Err(ApiError::validation(
            "plan",
            "a plan is 1 to 50 characters of a-z, 0-9, - and _",
        ));
    }
    let now = Utc::now();
    let org = organization::ActiveModel {
        id: Set(tx.org_id()),
        name: Set(name),
        slug: Set(slug),
        plan: Set(plan),
        personal: Set(new.personal),
        settings: Set(serde_json::json!({})),
        logo_url: Set(None),
        default_timezone: Set("UTC".into()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // A slug taken concurrently is a unique violation: 409 through `From<DbErr>`.
    let org = organization::Entity::insert(org)
        // unscoped: organizations are keyed by their id: the new org's row
        .exec_with_returning(tx.unscoped())
        .await?;
    Ok(org.into())
}

/// A slug someone chose: valid (422) and free (409).
pub(crate) async fn check_new_slug<C: ConnectionTrait>(
    conn: &C,
    slug: &str,
) -> Result<(), ApiError> {
    if !valid_slug(slug) {
        return Err(ApiError::validation(
            "slug",
            "a slug is 3 to 63 characters of a-z, 0-9 and inner hyphens",
        ));
    }
    if slug_taken(conn, slug).await? {
        return Err(ApiError::conflict(format!("the slug `{slug}` is taken")));
    }
    Ok(())
}

async fn slug_taken<C: ConnectionTrait>(conn: &C, slug: &str) -> Result<bool, ApiError> {
    Ok(organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(conn)
        .await
        .map_err(ApiError::internal)?
        .is_some())
}

/// The role (as the cell names it) of `user` in `org`, if they are a member.
pub async fn role_in(db: &Db, user: Uuid, org: Uuid) -> Result<Option<String>, ApiError> {
    let tx = db.tenant_read(org).await.map_err(ApiError::internal)?;
    let role = member_role(&tx, user).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(role)
}

/// The role (as the cell names it) of `user` in the organization of `tx`, if they are a member.
pub async fn member_role(tx: &TenantTx, user: Uuid) -> Result<Option<String>, ApiError> {
    let row = tx
        .repo::<membership::Entity>()
        .get((tx.org_id(), user))
        .await
        .map_err(ApiError::internal)?;
    Ok(row.map(|m| m.role))
}

/// The organization `tx` is scoped to, if it exists (another module's view of it).
pub async fn organization(tx: &TenantTx) -> Result<Option<Organization>, ApiError> {
    Ok(organization::Entity::find_by_id(tx.org_id())
        // unscoped: organizations are keyed by their id: the row of tx's org
        .one(tx.unscoped())
        .await
        .map_err(ApiError::internal)?
        .map(Into::into))
}

/// An organization by its slug.
pub async fn organization_by_slug(db: &Db, slug: &str) -> Result<Option<Organization>, ApiError> {
    Ok(organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db.conn())
        .await
        .map_err(ApiError::internal)?
        .map(Into::into))
}

/// The organization whose slug is `key`, else the ones named `key` (case-insensitive; at most
/// 10, oldest first): for commands that take either.
pub async fn organizations_by_slug_or_name(
    db: &Db,
    key: &str,
) -> Result<Vec<Organization>, ApiError> {
    if let Some(org) = organization_by_slug(db, key).await? {
        return Ok(vec![org]);
    }
    Ok(organization::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(organization::Column::Name))).eq(key.to_lowercase()),
        )
        .order_by_asc(organization::Column::CreatedAt)
        .limit(10)
        .all(db.conn())
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Adds `user` to the organization of `tx` with `role` (as the cell names it: 422 for a role
/// the cell does not know), or changes the role of an existing member. The caller checks who
/// may grant it.
pub async fn add_member(
    ctx: &kernel::CellContext,
    tx: &TenantTx,
    user: Uuid,
    role: &str,
) -> Result<(), ApiError> {
    let platform_role = crate::access::parse_role(ctx, "role", role)?;
    set_membership(tx, user, role, platform_role).await?;
    Ok(())
}

/// Writes `user`'s membership of the org of `tx` with `role_name` (as the cell names it) and,
/// in the same transaction, its platform `role` into iam's graph. Every membership insert or
/// role change goes through here, so the graph never disagrees with the table.
pub(crate) async fn set_membership(
    tx: &TenantTx,
    user: Uuid,
    role_name: &str,
    role: Role,
) -> Result<membership::Model, ApiError> {
    let repo = tx.repo::<membership::Entity>();
    let now = Utc::now();
    let row = match repo.get((tx.org_id(), user)).await? {
        Some(existing) => {
            let mut m: membership::ActiveModel = existing.into();
            m.role = Set(role_name.to_owned());
            m.updated_at = Set(now);
            repo.update(m).await?
        }
        None => {
            repo.insert(membership::ActiveModel {
                org_id: Set(tx.org_id()),
                user_id: Set(user),
                role: Set(role_name.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?
        }
    };
    iam::platform::set_member_role(tx, user, role).await?;
    Ok(row)
}

/// One of a user's organizations, with their role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, kernel::utoipa::ToSchema)]
pub struct MyOrganization {
    #[serde(flatten)]
    pub organization: Organization,
    pub role: String,
}

/// Every organization `user` belongs to, oldest membership first (the first is the default
/// active org at login).
pub async fn organizations_of(db: &Db, user: Uuid) -> Result<Vec<MyOrganization>, ApiError> {
    let tx = db.for_user(user).await.map_err(ApiError::internal)?;
    let members = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user))
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::OrgId)
        .all(&tx)
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<Uuid> = members.iter().map(|m| m.org_id).collect();
    let orgs = organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids))
        .all(&tx)
        .await
        .map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(members
        .into_iter()
        .filter_map(|m| {
            let org = orgs.iter().find(|o| o.id == m.org_id)?.clone();
            Some(MyOrganization {
                organization: org.into(),
                role: m.role,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  Élan  Vital "), "lan-vital");
        assert_eq!(slugify("X"), "org-x");
        assert_eq!(slugify("!!"), "org");
        assert!(valid_slug("acme-corp"));
        assert!(!valid_slug("Acme"));
        assert!(!valid_slug("-acme"));
        assert!(!valid_slug("ab"));
        assert!(valid_slug(&slugify("Jane Doe's workspace")));
    }
}
