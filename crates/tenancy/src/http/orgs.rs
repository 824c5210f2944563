//! Organizations and their members.
//!
//! Routes with `{org_id}` work only on the caller's active organization (the token's org):
//! another org, even one the caller belongs to, answers 404, as do orgs they do not belong to.
//! Switching is the auth module's `POST /auth/switch-org`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Read, Role, Scoped, SignedIn, ValidJson, Write};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_found;
use crate::access::{
    self, Access, AdministerPathOrg, InPathOrg, Organizations, begin_write, owner_count,
    parse_role, role_of,
};
use crate::entity::{membership, organization, team_member};
use crate::orgs::{MyOrganization, NewOrganization, Organization, set_membership, valid_plan};

const TAG: &str = "organizations";
const MAX_SETTINGS_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Derived from the name when absent; 409 when taken.
    #[garde(skip)]
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    pub slug: Option<String>,
    /// `free` when absent.
    #[garde(skip)]
    #[schema(pattern = r"^[a-z0-9_-]{1,50}$")]
    pub plan: Option<String>,
}

/// Creates an organization with the caller as its owner. It does not become the active org:
/// switch to it with `POST /auth/switch-org`.
#[utoipa::path(tag = TAG, request_body = NewOrg, responses(
    (status = 201, body = MyOrganization), (status = 409, description = "slug taken"), (status = 422)))]
#[post("/organizations")]
pub(crate) async fn create_org(
    ctx: CellContext,
    caller: SignedIn,
    body: ValidJson<NewOrg>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let body = body.0;
    let tx = begin_write(&ctx, Uuid::now_v7()).await?;
    let org = crate::orgs::create_organization(
        &ctx,
        &tx,
        NewOrganization {
            name: body.name,
            slug: body.slug,
            plan: body.plan,
            personal: false,
        },
        caller.user_id,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(MyOrganization {
        organization: org,
        role: Role::Owner.as_str().into(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyOrganizations {
    pub data: Vec<MyOrganization>,
}

/// The caller's organizations with their role in each, oldest membership first. An API key sees
/// only its own organization.
#[utoipa::path(tag = TAG, responses((status = 200, body = MyOrganizations)))]
#[get("/organizations")]
pub(crate) async fn list_orgs(ctx: CellContext, caller: SignedIn) -> ApiResult<HttpResponse> {
    let mut data = crate::orgs::organizations_of(ctx.db(), caller.user_id).await?;
    if caller.api_key_id.is_some() {
        data.retain(|o| Some(o.organization.id) == caller.org_id);
    }
    Ok(HttpResponse::Ok().json(MyOrganizations { data }))
}

async fn load_org(tx: &TenantTx) -> Result<organization::Model, ApiError> {
    organization::Entity::find_by_id(tx.org_id())
        // unscoped: organizations are keyed by their id: the row of tx's org
        .one(tx.unscoped())
        .await?
        .ok_or_else(access::not_found_org)
}

/// The active organization, with the caller's role.
#[utoipa::path(tag = TAG, responses((status = 200, body = MyOrganization), (status = 404)))]
#[get("/organizations/{org_id}")]
pub(crate) async fn get_org(
    ctx: CellContext,
    tx: Scoped<InPathOrg, Read<Organizations>>,
    _org_id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let org = load_org(&tx).await?;
    let role = member_row(&tx, access.user)
        .await?
        .map(|m| m.role)
        .unwrap_or_default();
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(MyOrganization {
        organization: org.into(),
        role,
    }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[garde(skip)]
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    pub slug: Option<String>,
    /// Owners only.
    #[garde(skip)]
    #[schema(pattern = r"^[a-z0-9_-]{1,50}$")]
    pub plan: Option<String>,
    #[serde(
        default,
        alias = "logoUrl",
        deserialize_with = "kernel::http::nullable"
    )]
    #[garde(skip)]
    #[schema(value_type = Option<String>, max_length = 2048, pattern = r"^https?://\S*$")]
    pub logo_url: Option<Option<String>>,
    #[serde(alias = "defaultTimezone")]
    #[garde(skip)]
    #[schema(pattern = r"^[A-Za-z][A-Za-z0-9/_+-]{0,63}$")]
    pub default_timezone: Option<String>,
    /// Merged into the org's settings object: a key set to `null` is removed.
    #[garde(skip)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `Area/City`, `UTC` or `Etc/GMT+5`-like names; not checked against the tz database.
fn valid_timezone(tz: &str) -> bool {
    (1..=64).contains(&tz.len())
        && tz.starts_with(|c: char| c.is_ascii_alphabetic())
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
}

fn valid_url(url: &str) -> bool {
    url.len() <= 2048
        && (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
}

/// Updates the active organization: admins and owners; the plan, owners only.
#[utoipa::path(tag = TAG, request_body = OrgPatch, responses(
    (status = 200, body = Organization), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/organizations/{org_id}")]
pub(crate) async fn update_org(
    ctx: CellContext,
    tx: Scoped<AdministerPathOrg, Write<Organizations>>,
    _org_id: web::Path<Uuid>,
    body: ValidJson<OrgPatch>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let patch = body.0;
    let org = load_org(&tx).await?;
    let mut m: organization::ActiveModel = org.clone().into();
    if let Some(name) = patch.name {
        m.name = Set(kernel::http::trimmed("name", &name, crate::orgs::MAX_NAME)?);
    }
    if let Some(slug) = patch.slug
        && slug != org.slug
    {
        // unscoped: slugs are unique across organizations
        crate::orgs::check_new_slug(tx.unscoped(), &slug).await?;
        m.slug = Set(slug);
    }
    if let Some(plan) = patch.plan
        && plan != org.plan
    {
        access.require(Role::Owner)?;
        if !valid_plan(&plan) {
            return Err(ApiError::validation(
                "plan",
                "a plan is 1 to 50 characters of a-z, 0-9, - and _",
            ));
        }
        m.plan = Set(plan);
    }
    if let Some(logo) = patch.logo_url {
        if logo.as_deref().is_some_and(|u| !valid_url(u)) {
            return Err(ApiError::validation("logo_url", "must be an http(s) URL"));
        }
        m.logo_url = Set(logo);
    }
    if let Some(tz) = patch.default_timezone {
        if !valid_timezone(&tz) {
            return Err(ApiError::validation(
                "default_timezone",
                "must be a time zone name such as `UTC` or `Europe/Paris`",
            ));
        }
        m.default_timezone = Set(tz);
    }
    if let Some(changes) = patch.settings {
        let mut settings = match org.settings {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        for (k, v) in changes {
            match v {
                serde_json::Value::Null => settings.remove(&k),
                v => settings.insert(k, v),
            };
        }
        let settings = serde_json::Value::Object(settings);
        if settings.to_string().len() > MAX_SETTINGS_BYTES {
            return Err(ApiError::validation(
                "settings",
                format!("the settings must stay under {MAX_SETTINGS_BYTES} bytes"),
            ));
        }
        m.settings = Set(settings);
    }
    m.updated_at = Set(Utc::now());
    // unscoped: organizations are keyed by their id: the row of tx's org
    let updated = organization::Entity::update(m).exec(tx.unscoped()).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::OrganizationUpdated {
            organization_id: updated.id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Organization::from(updated)))
}

/// A member as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    /// The role as the cell names it (`sales_rep`).
    pub role: String,
    /// The platform role it maps onto (`member`); absent for a name the cell no longer defines.
    pub platform_role: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn member_view(ctx: &CellContext, m: membership::Model) -> Member {
    Member {
        user_id: m.user_id,
        platform_role: role_of(ctx, &m.role).map(|r| r.as_str().to_owned()),
        role: m.role,
        joined_at: m.created_at,
        updated_at: m.updated_at,
    }
}

async fn member_row(tx: &TenantTx, user: Uuid) -> Result<Option<membership::Model>, ApiError> {
    Ok(tx
        .repo::<membership::Entity>()
        .get((tx.org_id(), user))
        .await?)
}

/// What `list_members` exposes: its fields, search and order.
fn member_list() -> ListSpec<membership::Entity> {
    ListSpec::new()
        .field("role", membership::Column::Role)
        .sortable("joined_at", membership::Column::CreatedAt)
        .filterable("user_id", membership::Column::UserId)
        .default_sort(membership::Column::CreatedAt, false)
        .tiebreak(membership::Column::UserId)
}

kernel::list_params!(MemberListParams, member_list);

/// The members of the active organization, paginated (`sort`: `joined_at`, `role`;
/// `filter[role]`).
#[utoipa::path(tag = TAG, params(MemberListParams), responses((status = 200, body = kernel::http::Page<Member>), (status = 404)))]
#[get("/organizations/{org_id}/members")]
pub(crate) async fn list_members(
    ctx: CellContext,
    tx: Scoped<InPathOrg, Read<Organizations>>,
    _org_id: web::Path<Uuid>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = member_list();
    let select = spec.apply(&query, tx.repo::<membership::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(|m| member_view(&ctx, m))))
}

/// One member of the active organization.
#[utoipa::path(tag = TAG, responses((status = 200, body = Member), (status = 404)))]
#[get("/organizations/{org_id}/members/{user_id}")]
pub(crate) async fn get_member(
    ctx: CellContext,
    tx: Scoped<InPathOrg, Read<Organizations>>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (_, user) = path.into_inner();
    let m = member_row(&tx, user)
        .await?
        .ok_or_else(|| not_found("member"))?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(member_view(&ctx, m)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// A platform role or one of the cell's aliases.
    #[schema(min_length = 1, max_length = 50)]
    #[garde(length(chars, min = 1, max = 50))]
    pub role: String,
}

/// Changes a member's role: admins and owners; granting or taking away `owner` needs an owner,
/// and the last owner cannot be demoted (transfer ownership instead).
#[utoipa::path(tag = TAG, request_body = RoleChange, responses(
    (status = 200, body = Member), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/organizations/{org_id}/members/{user_id}")]
pub(crate) async fn change_role(
    ctx: CellContext,
    tx: Scoped<AdministerPathOrg, Write<Organizations>>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<RoleChange>,
) -> ApiResult<HttpResponse> {
    let (_, user) = path.into_inner();
    let access = access::of(&ctx, &tx).await?;
    let new_role = parse_role(&ctx, "role", &body.0.role)?;
    let target = member_row(&tx, user)
        .await?
        .ok_or_else(|| not_found("member"))?;
    let old_role = role_of(&ctx, &target.role);
    if (new_role == Role::Owner || old_role == Some(Role::Owner)) && !access.at_least(Role::Owner) {
        return Err(ApiError::forbidden(
            "only an owner may grant or take away the owner role",
        ));
    }
    if old_role == Some(Role::Owner)
        && new_role != Role::Owner
        && owner_count(&ctx, &tx).await? <= 1
    {
        return Err(ApiError::conflict(
            "the last owner cannot be demoted; transfer ownership first",
        ));
    }
    let old_name = target.role;
    let updated = set_membership(&tx, user, &body.0.role, new_role).await?;
    if old_name != updated.role {
        access::publish(
            &ctx,
            &tx,
            access.user,
            crate::events::MemberRoleChanged {
                user_id: user,
                from: old_name.clone(),
                to: updated.role.clone(),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(member_view(&ctx, updated)))
}

/// Deletes the membership and the member's team memberships, and publishes
/// `tenancy.member.removed` so modules reassign what the member owned.
async fn remove(
    ctx: &CellContext,
    tx: &TenantTx,
    access: &Access,
    target: membership::Model,
    reason: &str,
) -> Result<(), ApiError> {
    let user = target.user_id;
    if role_of(ctx, &target.role) == Some(Role::Owner) && owner_count(ctx, tx).await? <= 1 {
        return Err(ApiError::conflict(
            "the last owner cannot leave or be removed; transfer ownership first",
        ));
    }
    tx.repo::<membership::Entity>()
        .delete((tx.org_id(), user))
        .await?;
    let teams = tx
        .repo::<team_member::Entity>()
        .delete_many(team_member::Column::UserId.eq(user))
        .await?;
    iam::platform::remove_member(tx, user).await?;
    access::publish(
        ctx,
        tx,
        access.user,
        crate::events::MemberRemoved {
            user_id: user,
            role: target.role.clone(),
            reason: reason.to_owned(),
            removed_by: access.user,
            teams_left: teams,
        },
    )
    .await
}

/// Removes a member: admins and owners; removing an owner needs an owner; the last owner
/// cannot be removed; nobody removes themselves here (that is `POST …/leave`).
#[utoipa::path(tag = TAG, responses(
    (status = 204, description = "removed"), (status = 403), (status = 404), (status = 409)))]
#[delete("/organizations/{org_id}/members/{user_id}")]
pub(crate) async fn remove_member(
    ctx: CellContext,
    tx: Scoped<AdministerPathOrg, Write<Organizations>>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (_, user) = path.into_inner();
    let access = access::of(&ctx, &tx).await?;
    let target = member_row(&tx, user)
        .await?
        .ok_or_else(|| not_found("member"))?;
    if user == access.user {
        return Err(ApiError::forbidden(
            "you cannot remove yourself; leave with POST /organizations/{org_id}/leave",
        ));
    }
    if role_of(&ctx, &target.role) == Some(Role::Owner) && !access.at_least(Role::Owner) {
        return Err(ApiError::forbidden("only an owner may remove an owner"));
    }
    remove(&ctx, &tx, &access, target, "removed").await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Leaves the active organization; the last owner cannot (transfer ownership first).
#[utoipa::path(tag = TAG, responses((status = 204, description = "left"), (status = 404), (status = 409)))]
#[post("/organizations/{org_id}/leave")]
pub(crate) async fn leave(
    ctx: CellContext,
    tx: Scoped<InPathOrg, Write<Organizations>>,
    _org_id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    tx.caller().require_session()?;
    let access = access::of(&ctx, &tx).await?;
    let me = member_row(&tx, access.user)
        .await?
        .ok_or_else(access::not_found_org)?;
    remove(&ctx, &tx, &access, me, "left").await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    #[serde(alias = "newOwnerId")]
    #[garde(skip)]
    pub new_owner_id: Uuid,
    /// The caller's password, re-checked.
    #[schema(min_length = 1, max_length = 1024)]
    #[garde(length(chars, min = 1, max = 1024))]
    pub password: String,
}

/// Transfers ownership to another member: owners only, signed in (not an API key), with their
/// password. The new owner becomes `owner`, the caller `admin`.
#[utoipa::path(tag = TAG, request_body = Transfer, responses(
    (status = 200, body = Member, description = "the new owner"), (status = 403), (status = 404), (status = 422)))]
#[post("/organizations/{org_id}/transfer")]
pub(crate) async fn transfer(
    ctx: CellContext,
    first: Scoped<InPathOrg, Read<Organizations>>,
    _org_id: web::Path<Uuid>,
    body: ValidJson<Transfer>,
) -> ApiResult<HttpResponse> {
    first.caller().require_session()?;
    let body = body.0;
    // Checked twice: before the password (so a wrong id costs no attempt and nobody but an
    // owner gets to try a password here), and again under the org's lock, which is not held
    // while the password hash is verified.
    let check = async |tx: &TenantTx, access: &Access| -> Result<membership::Model, ApiError> {
        access.require(Role::Owner)?;
        if body.new_owner_id == access.user {
            return Err(ApiError::validation(
                "new_owner_id",
                "you already own this organization",
            ));
        }
        member_row(tx, body.new_owner_id).await?.ok_or_else(|| {
            ApiError::validation("new_owner_id", "not a member of this organization")
        })
    };
    let access = access::of(&ctx, &first).await?;
    check(&first, &access).await?;
    let (caller, tx) = first.into_parts();
    tx.commit().await?;
    if !kernel::identity::confirm_password(&ctx, caller.user_id, &body.password).await? {
        return Err(ApiError::forbidden("the password is not correct"));
    }
    let org = access.org.to_string();
    let tx = Scoped::<InPathOrg, Write<Organizations>>::begin(&ctx, caller, Some(org)).await?;
    let access = access::of(&ctx, &tx).await?;
    let target = check(&tx, &access).await?;
    set_membership(&tx, access.user, Role::Admin.as_str(), Role::Admin).await?;
    let new_owner = set_membership(&tx, target.user_id, Role::Owner.as_str(), Role::Owner).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::OwnershipTransferred {
            organization_id: access.org,
            from: access.user,
            to: body.new_owner_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(member_view(&ctx, new_owner)))
}
