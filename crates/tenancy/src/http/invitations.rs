//! Invitations of the active organization: invite by email (admins; only owners invite owners),
//! list, resend (new token, new expiry: the old link stops working), revoke; and acceptance
//! by a signed-in user whose email is the invited address. New users accept by registering
//! with the token (the auth module calls [`crate::accept_invitation`]).

use std::collections::BTreeSet;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::list::{Filter, FilterOp};
use kernel::http::{
    ListQuery, ListSpec, Public, Read, Role, Scoped, SignedIn, State, ValidJson, Write,
};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_found;
use crate::access::{self, AdministerActiveOrg, InActiveOrg, Invitations, parse_role};
use crate::entity::{invitation, organization, team};
use crate::invitations::{EXPIRED, PENDING, REVOKED, status_of};
use crate::module::TenancySettings;

const TAG: &str = "invitations";
const MAX_TEAMS: usize = 50;

/// An invitation as the API shows it (never its token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub team_ids: Vec<Uuid>,
    pub invited_by: Uuid,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// How many times it was sent (1 + resends).
    pub sent_count: i32,
    pub created_at: DateTime<Utc>,
}

impl From<invitation::Model> for Invitation {
    fn from(m: invitation::Model) -> Self {
        Self {
            status: status_of(&m, Utc::now()).to_owned(),
            id: m.id,
            email: m.email,
            role: m.role,
            team_ids: serde_json::from_value(m.team_ids).unwrap_or_default(),
            invited_by: m.invited_by,
            expires_at: m.expires_at,
            accepted_at: m.accepted_at,
            accepted_by: m.accepted_by,
            revoked_at: m.revoked_at,
            sent_count: m.sent_count,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    #[schema(max_length = 254, format = Email)]
    #[garde(email, length(chars, max = 254))]
    pub email: String,
    /// `member` when absent; a platform role or one of the cell's aliases.
    #[garde(skip)]
    pub role: Option<String>,
    /// Teams of the organization joined on acceptance.
    #[serde(default, alias = "teamIds")]
    #[schema(max_items = 50)]
    #[garde(length(max = MAX_TEAMS))]
    pub team_ids: Vec<Uuid>,
}

async fn require_teams(tx: &TenantTx, ids: &[Uuid]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let repo = tx.repo::<team::Entity>();
    let found: BTreeSet<Uuid> = repo
        .find()
        .filter(team::Column::Id.is_in(ids.to_vec()))
        .all(repo.conn())
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|t| !found.contains(t))
        .map(Uuid::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(
        "team_ids",
        format!("no such teams in this organization: {}", missing.join(", ")),
    ))
}

/// Invites someone by email: the token (valid `invitation_ttl_days`, 7 by default) goes out in
/// the `tenancy.invitation` email only. A live pending invitation for the same address is a
/// conflict (resend it instead); an expired one is superseded.
#[utoipa::path(tag = TAG, request_body = NewInvitation, responses(
    (status = 201, body = Invitation), (status = 403), (status = 409), (status = 422)))]
#[post("/invitations")]
pub(crate) async fn invite(
    ctx: CellContext,
    tx: Scoped<AdministerActiveOrg, Write<Invitations>>,
    body: ValidJson<NewInvitation>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let body = body.0;
    let role = body.role.unwrap_or_else(|| Role::Member.as_str().into());
    if parse_role(&ctx, "role", &role)? == Role::Owner {
        access.require(Role::Owner)?;
    }
    let teams: Vec<Uuid> = body
        .team_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    require_teams(&tx, &teams).await?;
    // enter_write took the org's lock.
    let saved =
        crate::invitations::invite_locked(&ctx, &tx, &body.email, &role, &teams, access.user)
            .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Invitation::from(saved)))
}

/// What `list` exposes: its fields, search and order.
fn invitation_list() -> ListSpec<invitation::Entity> {
    ListSpec::new()
        .field("email", invitation::Column::Email)
        .field("created_at", invitation::Column::CreatedAt)
        .field("expires_at", invitation::Column::ExpiresAt)
        .filterable("status", invitation::Column::Status)
        .filterable("role", invitation::Column::Role)
        .search([invitation::Column::Email])
        .default_sort(invitation::Column::CreatedAt, true)
        .tiebreak(invitation::Column::Id)
}

kernel::list_params!(InvitationListParams, invitation_list);

/// The organization's invitations, paginated: pending ones (including those past their expiry,
/// shown as `expired`, which can be resent) unless `filter[status]` asks for others (`accepted`,
/// `revoked`, `expired` = superseded). `sort`: `created_at`, `expires_at`, `email`; `search` in
/// emails.
#[utoipa::path(tag = TAG, params(InvitationListParams), responses((status = 200, body = kernel::http::Page<Invitation>)))]
#[get("/invitations")]
pub(crate) async fn list(
    tx: Scoped<InActiveOrg, Read<Invitations>>,
    mut query: ListQuery,
) -> ApiResult<HttpResponse> {
    if !query.filters.iter().any(|f| f.field == "status") {
        query.filters.push(Filter {
            field: "status".into(),
            op: FilterOp::Eq,
            values: vec![PENDING.into()],
        });
    }
    let spec = invitation_list();
    let select = spec.apply(&query, tx.repo::<invitation::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Invitation::from)))
}

async fn load(tx: &TenantTx, id: Uuid) -> Result<invitation::Model, ApiError> {
    tx.repo::<invitation::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| not_found("invitation"))
}

/// One invitation of the organization.
#[utoipa::path(tag = TAG, responses((status = 200, body = Invitation), (status = 404)))]
#[get("/invitations/{id}")]
pub(crate) async fn get_one(
    tx: Scoped<InActiveOrg, Read<Invitations>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let inv = load(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invitation::from(inv)))
}

/// Sends a pending invitation again with a new token and a new expiry; the previous token
/// stops working.
#[utoipa::path(tag = TAG, responses((status = 200, body = Invitation), (status = 403), (status = 404), (status = 409)))]
#[post("/invitations/{id}/resend")]
pub(crate) async fn resend(
    ctx: CellContext,
    tx: Scoped<AdministerActiveOrg, Write<Invitations>>,
    settings: State<TenancySettings>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let inv = load(&tx, id.into_inner()).await?;
    if inv.status != PENDING {
        return Err(ApiError::conflict(format!(
            "only pending invitations can be resent; this one is {}",
            inv.status
        )));
    }
    if access::role_of(&ctx, &inv.role) == Some(Role::Owner) {
        access.require(Role::Owner)?;
    }
    let count = inv.sent_count;
    let mut m: invitation::ActiveModel = inv.into();
    m.sent_count = Set(count.saturating_add(1));
    let saved =
        crate::invitations::send(&ctx, &tx, m, settings.invitation_ttl_days, access.user).await?;
    crate::invitations::publish_sent(&ctx, &tx, access.user, &saved, true).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invitation::from(saved)))
}

/// Revokes a pending invitation (status `revoked`; its token stops working). Revoking a revoked
/// one changes nothing; an accepted one is a conflict.
#[utoipa::path(tag = TAG, responses((status = 200, body = Invitation), (status = 403), (status = 404), (status = 409)))]
#[delete("/invitations/{id}")]
pub(crate) async fn revoke(
    ctx: CellContext,
    tx: Scoped<AdministerActiveOrg, Write<Invitations>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let inv = load(&tx, id.into_inner()).await?;
    let inv = match inv.status.as_str() {
        REVOKED => inv,
        PENDING | EXPIRED => {
            let now = Utc::now();
            let mut m: invitation::ActiveModel = inv.into();
            m.status = Set(REVOKED.into());
            m.revoked_at = Set(Some(now));
            m.updated_at = Set(now);
            let saved = tx.repo::<invitation::Entity>().update(m).await?;
            access::publish(
                &ctx,
                &tx,
                access.user,
                crate::events::InvitationRevoked {
                    invitation_id: saved.id,
                    email: saved.email.clone(),
                },
            )
            .await?;
            saved
        }
        other => {
            return Err(ApiError::conflict(format!(
                "this invitation is {other} and cannot be revoked"
            )));
        }
    };
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Invitation::from(inv)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    pub token: String,
}

/// What an invitation link shows before anyone acts on it (no sign-in needed: the token is the
/// credential). Changes nothing: accepting is `POST /invitations/accept`, or registering with
/// the token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationPreview {
    pub org_id: Uuid,
    pub org_name: String,
    pub email: String,
    pub role: String,
}

/// Looks an invitation up by its token: 404 unless it is pending and unexpired.
#[utoipa::path(tag = TAG, security(()), params(TokenQuery), responses((status = 200, body = InvitationPreview), (status = 404)))]
#[get("/invitations/accept")]
pub(crate) async fn preview(
    _: Public,
    ctx: CellContext,
    q: web::Query<TokenQuery>,
) -> ApiResult<HttpResponse> {
    let inv = crate::find_invitation(&ctx, &q.token)
        .await?
        .ok_or_else(|| not_found("invitation"))?;
    let org = organization::Entity::find_by_id(inv.org_id)
        .one(ctx.db().conn())
        .await?
        .ok_or_else(|| not_found("invitation"))?;
    Ok(HttpResponse::Ok().json(InvitationPreview {
        org_id: inv.org_id,
        org_name: org.name,
        email: inv.email,
        role: inv.role,
    }))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    #[schema(min_length = 1, max_length = 200)]
    #[garde(length(chars, min = 1, max = 200))]
    pub token: String,
}

/// Accepts an invitation as the signed-in user: their email must be the invited address. They
/// join the organization (switch to it with `POST /auth/switch-org`) and its teams.
#[utoipa::path(tag = TAG, request_body = AcceptBody, responses(
    (status = 200, body = crate::AcceptedInvitation), (status = 403), (status = 404), (status = 409)))]
#[post("/invitations/accept")]
pub(crate) async fn accept(
    ctx: CellContext,
    caller: SignedIn,
    body: ValidJson<AcceptBody>,
) -> ApiResult<HttpResponse> {
    caller.require_session()?;
    let token = body.0.token;
    let Some((org, _)) = crate::token::parse(&token) else {
        return Err(not_found("invitation"));
    };
    let email = kernel::identity::email(&ctx, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::forbidden("your account has no active email address"))?;
    // accept_invitation takes the org's lock itself.
    let tx = ctx.db().tenant(org).await?;
    let accepted = crate::accept_invitation(&ctx, &tx, &token, caller.user_id, &email).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(accepted))
}
