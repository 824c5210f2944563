//! Teams of the active organization and their members.
//!
//! Visibility: a `public` team is seen by every member of the org, a `private` one by its own
//! members and the org's admins (others get 404). Members and above create teams (the creator
//! becomes its `lead`); a team is managed (renamed, deleted, members added or removed) by the
//! org's admins and by its leads, as long as they can write in the org (not viewers).

use std::collections::BTreeSet;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{ListQuery, ListSpec, Read, Role, Scoped, ValidJson, Write};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect,
};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_found;
use crate::access::{self, Access, InActiveOrg, Teams, WorkInActiveOrg};
use crate::entity::{membership, team, team_member};

const TAG: &str = "teams";
pub(crate) const TEAM_ROLES: [&str; 2] = ["lead", "member"];
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 2000;
const MAX_BATCH: usize = 100;

/// A team as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<team::Model> for Team {
    fn from(t: team::Model) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            visibility: t.visibility,
            created_by: t.created_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamMember {
    pub user_id: Uuid,
    /// `lead` or `member`.
    pub role: String,
    pub added_at: DateTime<Utc>,
}

/// A team with its members.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamDetail {
    #[serde(flatten)]
    pub team: Team,
    pub members: Vec<TeamMember>,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    kernel::http::trimmed("name", name, MAX_NAME)
}

fn check_description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::validation(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        )),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn check_visibility(v: &str) -> Result<(), ApiError> {
    match v {
        "public" | "private" => Ok(()),
        _ => Err(ApiError::validation(
            "visibility",
            "must be `public` or `private`",
        )),
    }
}

async fn name_taken(tx: &TenantTx, name: &str, except: Option<Uuid>) -> Result<bool, ApiError> {
    let repo = tx.repo::<team::Entity>();
    let mut q = repo.find().filter(team::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(team::Column::Id.ne(id));
    }
    Ok(q.one(repo.conn()).await?.is_some())
}

async fn members_of(tx: &TenantTx, team: Uuid) -> Result<Vec<team_member::Model>, ApiError> {
    let repo = tx.repo::<team_member::Entity>();
    Ok(repo
        .find()
        .filter(team_member::Column::TeamId.eq(team))
        .order_by_asc(team_member::Column::CreatedAt)
        .order_by_asc(team_member::Column::UserId)
        .all(repo.conn())
        .await?)
}

async fn my_team_role(tx: &TenantTx, team: Uuid, user: Uuid) -> Result<Option<String>, ApiError> {
    Ok(tx
        .repo::<team_member::Entity>()
        .get((tx.org_id(), team, user))
        .await?
        .map(|m| m.role))
}

/// Which teams `user` may see: all for admins (`None`), else the public ones and their own.
pub(crate) async fn visible_to(
    tx: &TenantTx,
    user: Uuid,
    admin: bool,
) -> Result<Option<Condition>, ApiError> {
    if admin {
        return Ok(None);
    }
    let repo = tx.repo::<team_member::Entity>();
    let mine: Vec<Uuid> = repo
        .find()
        .select_only()
        .column(team_member::Column::TeamId)
        .filter(team_member::Column::UserId.eq(user))
        .into_tuple()
        .all(repo.conn())
        .await?;
    Ok(Some(
        Condition::any()
            .add(team::Column::Visibility.eq("public"))
            .add(team::Column::Id.is_in(mine)),
    ))
}

/// The team if the caller may see it (404 otherwise), and whether they may manage it.
async fn visible_team(
    tx: &TenantTx,
    access: &Access,
    id: Uuid,
) -> Result<(team::Model, bool), ApiError> {
    let team = tx
        .repo::<team::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| not_found("team"))?;
    let mine = my_team_role(tx, id, access.user).await?;
    if team.visibility == "private" && mine.is_none() && !access.at_least(Role::Admin) {
        return Err(not_found("team"));
    }
    let manage = access.at_least(Role::Admin)
        || (access.at_least(Role::Member) && mine.as_deref() == Some("lead"));
    Ok((team, manage))
}

fn forbid_manage() -> ApiError {
    ApiError::forbidden(
        "managing a team needs the admin role in the organization or being its lead",
    )
}

async fn detail(tx: &TenantTx, team: team::Model) -> Result<TeamDetail, ApiError> {
    let members = members_of(tx, team.id)
        .await?
        .into_iter()
        .map(|m| TeamMember {
            user_id: m.user_id,
            role: m.role,
            added_at: m.created_at,
        })
        .collect();
    Ok(TeamDetail {
        team: team.into(),
        members,
    })
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[garde(skip)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `public` (default) or `private`.
    #[garde(skip)]
    #[schema(value_type = Option<String>, pattern = r"^(public|private)$")]
    pub visibility: Option<String>,
}

/// Creates a team in the active organization; the caller becomes its lead.
#[utoipa::path(tag = TAG, request_body = NewTeam, responses(
    (status = 201, body = TeamDetail), (status = 403), (status = 409), (status = 422)))]
#[post("/teams")]
pub(crate) async fn create_team(
    ctx: CellContext,
    tx: Scoped<WorkInActiveOrg, Write<Teams>>,
    body: ValidJson<NewTeam>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let body = body.0;
    let name = check_name(&body.name)?;
    let description = check_description(body.description)?;
    let visibility = body.visibility.unwrap_or_else(|| "public".into());
    check_visibility(&visibility)?;
    if name_taken(&tx, &name, None).await? {
        return Err(ApiError::conflict(format!("a team named `{name}` exists")));
    }
    let now = Utc::now();
    let team = tx
        .repo::<team::Entity>()
        .insert(team::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(access.org),
            name: Set(name),
            description: Set(description),
            visibility: Set(visibility),
            created_by: Set(access.user),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    tx.repo::<team_member::Entity>()
        .insert(team_member::ActiveModel {
            org_id: Set(access.org),
            team_id: Set(team.id),
            user_id: Set(access.user),
            role: Set("lead".into()),
            created_at: Set(now),
        })
        .await?;
    iam::platform::set_team(&tx, team.id, true).await?;
    iam::platform::set_team_member(&tx, team.id, access.user, Some("lead")).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::TeamCreated {
            team_id: team.id,
            name: team.name.clone(),
        },
    )
    .await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::TeamMemberAdded {
            team_id: team.id,
            user_id: access.user,
            role: "lead".into(),
        },
    )
    .await?;
    let out = detail(&tx, team).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// What `list_teams` exposes: its fields, search and order.
fn team_list() -> ListSpec<team::Entity> {
    ListSpec::new()
        .field("name", team::Column::Name)
        .field("created_at", team::Column::CreatedAt)
        .filterable("visibility", team::Column::Visibility)
        .search([team::Column::Name])
        .tagged("team", team::Column::Id)
        .default_sort(team::Column::Name, false)
        .tiebreak(team::Column::Id)
}

kernel::list_params!(TeamListParams, team_list);

/// The teams of the active organization the caller can see, paginated (`sort`: `name`,
/// `created_at`; `filter[visibility]`; `search` in names).
#[utoipa::path(tag = TAG, params(TeamListParams), responses((status = 200, body = kernel::http::Page<Team>)))]
#[get("/teams")]
pub(crate) async fn list_teams(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Read<Teams>>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let spec = team_list();
    let mut select = tx.repo::<team::Entity>().find();
    if let Some(visible) = visible_to(&tx, access.user, access.at_least(Role::Admin)).await? {
        select = select.filter(visible);
    }
    let page = tx.page(spec.apply(&query, select)?, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Team::from)))
}

/// A team with its members.
#[utoipa::path(tag = TAG, responses((status = 200, body = TeamDetail), (status = 404)))]
#[get("/teams/{id}")]
pub(crate) async fn get_team(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Read<Teams>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let (team, _) = visible_team(&tx, &access, id.into_inner()).await?;
    let out = detail(&tx, team).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    #[garde(skip)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[garde(skip)]
    #[schema(value_type = Option<String>, pattern = r"^(public|private)$")]
    pub visibility: Option<String>,
}

/// Renames a team, changes its description or visibility.
#[utoipa::path(tag = TAG, request_body = TeamPatch, responses(
    (status = 200, body = TeamDetail), (status = 403), (status = 404), (status = 409), (status = 422)))]
#[patch("/teams/{id}")]
pub(crate) async fn update_team(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Teams>>,
    id: web::Path<Uuid>,
    body: ValidJson<TeamPatch>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let (team, manage) = visible_team(&tx, &access, id.into_inner()).await?;
    if !manage {
        return Err(forbid_manage());
    }
    let patch = body.0;
    let mut m: team::ActiveModel = team.clone().into();
    if let Some(name) = patch.name {
        let name = check_name(&name)?;
        if name_taken(&tx, &name, Some(team.id)).await? {
            return Err(ApiError::conflict(format!("a team named `{name}` exists")));
        }
        m.name = Set(name);
    }
    if let Some(d) = patch.description {
        m.description = Set(check_description(d)?);
    }
    if let Some(v) = patch.visibility {
        check_visibility(&v)?;
        m.visibility = Set(v);
    }
    m.updated_at = Set(Utc::now());
    let team = tx.repo::<team::Entity>().update(m).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::TeamUpdated { team_id: team.id },
    )
    .await?;
    let out = detail(&tx, team).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Deletes a team and its memberships.
#[utoipa::path(tag = TAG, responses((status = 204, description = "deleted"), (status = 403), (status = 404)))]
#[delete("/teams/{id}")]
pub(crate) async fn delete_team(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Teams>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let (team, manage) = visible_team(&tx, &access, id.into_inner()).await?;
    if !manage {
        return Err(forbid_manage());
    }
    // Its members go with it (a cascading foreign key).
    tx.repo::<team::Entity>().delete(team.id).await?;
    iam::platform::set_team(&tx, team.id, false).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::TeamDeleted {
            team_id: team.id,
            name: team.name.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    /// Members of the organization, 1 to 100.
    #[serde(alias = "userIds")]
    #[schema(min_items = 1, max_items = 100)]
    #[garde(length(min = 1, max = MAX_BATCH))]
    pub user_ids: Vec<Uuid>,
    /// `member` (default) or `lead`.
    #[garde(skip)]
    pub role: Option<String>,
}

/// Members of the org among `users`; 422 on `field` naming the others.
pub(crate) async fn require_org_members(
    tx: &TenantTx,
    field: &str,
    users: &[Uuid],
) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let repo = tx.repo::<membership::Entity>();
    let found: BTreeSet<Uuid> = repo
        .find()
        .filter(membership::Column::UserId.is_in(users.to_vec()))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let missing: Vec<String> = users
        .iter()
        .filter(|u| !found.contains(u))
        .map(Uuid::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(
        field,
        format!("not members of this organization: {}", missing.join(", ")),
    ))
}

/// Adds org members to a team (or changes their team role): `tenancy.team.member_added` for
/// each new one.
#[utoipa::path(tag = TAG, request_body = AddMembers, responses(
    (status = 200, body = TeamDetail), (status = 403), (status = 404), (status = 422)))]
#[post("/teams/{id}/members")]
pub(crate) async fn add_members(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Teams>>,
    id: web::Path<Uuid>,
    body: ValidJson<AddMembers>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let (team, manage) = visible_team(&tx, &access, id.into_inner()).await?;
    if !manage {
        return Err(forbid_manage());
    }
    let body = body.0;
    let role = body.role.unwrap_or_else(|| "member".into());
    if !TEAM_ROLES.contains(&role.as_str()) {
        return Err(ApiError::validation(
            "role",
            "a team role is `lead` or `member`",
        ));
    }
    let users: Vec<Uuid> = body
        .user_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    require_org_members(&tx, "user_ids", &users).await?;
    add_to_team(&ctx, &tx, access.user, team.id, &users, &role).await?;
    let out = detail(&tx, team).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Adds `users` (org members) to `team` with `role`, or sets the role of those already in it.
pub(crate) async fn add_to_team(
    ctx: &CellContext,
    tx: &TenantTx,
    actor: Uuid,
    team: Uuid,
    users: &[Uuid],
    role: &str,
) -> Result<(), ApiError> {
    let repo = tx.repo::<team_member::Entity>();
    let now = Utc::now();
    for user in users {
        match repo.get((tx.org_id(), team, *user)).await? {
            Some(existing) if existing.role == role => continue,
            Some(existing) => {
                let mut m: team_member::ActiveModel = existing.into();
                m.role = Set(role.to_owned());
                repo.update(m).await?;
            }
            None => {
                repo.insert(team_member::ActiveModel {
                    org_id: Set(tx.org_id()),
                    team_id: Set(team),
                    user_id: Set(*user),
                    role: Set(role.to_owned()),
                    created_at: Set(now),
                })
                .await?;
                access::publish(
                    ctx,
                    tx,
                    actor,
                    crate::events::TeamMemberAdded {
                        team_id: team,
                        user_id: *user,
                        role: role.to_owned(),
                    },
                )
                .await?;
            }
        }
        iam::platform::set_team_member(tx, team, *user, Some(role)).await?;
    }
    Ok(())
}

/// Removes a member from a team: its managers, or the member themselves.
#[utoipa::path(tag = TAG, responses((status = 204, description = "removed"), (status = 403), (status = 404)))]
#[delete("/teams/{id}/members/{user_id}")]
pub(crate) async fn remove_member(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Teams>>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, user) = path.into_inner();
    let access = access::of(&ctx, &tx).await?;
    let (team, manage) = visible_team(&tx, &access, id).await?;
    let repo = tx.repo::<team_member::Entity>();
    if repo.get((access.org, team.id, user)).await?.is_none() {
        return Err(not_found("team member"));
    }
    if !manage && user != access.user {
        return Err(forbid_manage());
    }
    repo.delete((access.org, team.id, user)).await?;
    iam::platform::set_team_member(&tx, team.id, user, None).await?;
    access::publish(
        &ctx,
        &tx,
        access.user,
        crate::events::TeamMemberRemoved {
            team_id: team.id,
            user_id: user,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
