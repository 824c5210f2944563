//! Invitations: the public API the auth module calls when a new user registers with an
//! invitation token, and the work shared with the HTTP routes.

use chrono::Utc;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Serialize;
use uuid::Uuid;

use crate::access;
use crate::entity::{invitation, membership, organization, team};

pub(crate) const PENDING: &str = "pending";
pub(crate) const ACCEPTED: &str = "accepted";
pub(crate) const REVOKED: &str = "revoked";
pub(crate) const EXPIRED: &str = "expired";

/// A valid, pending, unexpired invitation, found by its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PendingInvitation {
    pub id: Uuid,
    pub org_id: Uuid,
    /// Lowercased.
    pub email: String,
    /// The role as the cell names it.
    pub role: String,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AcceptedInvitation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    /// The teams joined (those of the invitation that still exist).
    pub team_ids: Vec<Uuid>,
}

/// The status a client sees: a pending invitation past its expiry is `expired`.
pub(crate) fn status_of(m: &invitation::Model, now: chrono::DateTime<Utc>) -> &str {
    if m.status == PENDING && m.expires_at <= now {
        EXPIRED
    } else {
        &m.status
    }
}

pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The invitation a token names, in the transaction of the token's org (`None` for a token of
/// another org, a malformed one, or one whose secret matches nothing, e.g. replaced by a resend).
async fn by_token(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<Option<invitation::Model>, ApiError> {
    let Some((org, secret)) = crate::token::parse(token) else {
        return Ok(None);
    };
    if org != tx.org_id() {
        return Ok(None);
    }
    let hash = crate::token::keyed_hash(&ctx.config().secret_key(), secret);
    let repo = tx.repo::<invitation::Entity>();
    Ok(repo
        .find()
        .filter(invitation::Column::TokenHash.eq(hash))
        .one(repo.conn())
        .await?)
}

/// The pending, unexpired invitation `token` names, if any. Needs no org context: the token
/// carries its org, and the lookup runs in that org's transaction (so it works under
/// row-level security). Takes the cell context because the stored hash is keyed with the cell
/// secret.
pub async fn find_invitation(
    ctx: &CellContext,
    token: &str,
) -> Result<Option<PendingInvitation>, ApiError> {
    let Some((org, _)) = crate::token::parse(token) else {
        return Ok(None);
    };
    let tx = ctx.db().tenant(org).await?;
    let found = by_token(ctx, &tx, token).await?;
    tx.commit().await?;
    Ok(found
        .filter(|m| status_of(m, Utc::now()) == PENDING)
        .map(|m| PendingInvitation {
            id: m.id,
            org_id: m.org_id,
            email: m.email,
            role: m.role,
        }))
}

/// Accepts the invitation `token` names for `user_id`, whose address is `email`, in the
/// caller's transaction `tx`, which must be scoped to the invitation's org (the token's org:
/// [`find_invitation`] gives it). Checks the token, its status and expiry and that `email` is
/// the invited address; marks it accepted, makes the user a member with the invitation's role,
/// adds them to the invitation's teams that still exist, and publishes
/// `tenancy.invitation.accepted` (and `tenancy.member.added`). Nothing is written unless `tx`
/// commits.
///
/// Errors: 404 for an unknown or replaced token, 409 when it was revoked, accepted or expired
/// or the user is already a member, 403 when `email` is not the invited address.
pub async fn accept_invitation(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
    user_id: Uuid,
    email: &str,
) -> Result<AcceptedInvitation, ApiError> {
    // Callers bring their own transaction (auth's registration): lock the org here, so a revoke
    // or resend committing meanwhile cannot be overwritten by the acceptance.
    access::lock_org(tx).await?;
    let inv = by_token(ctx, tx, token)
        .await?
        .ok_or_else(|| ApiError::not_found("no such invitation"))?;
    let now = Utc::now();
    match status_of(&inv, now) {
        PENDING => {}
        ACCEPTED => return Err(ApiError::conflict("this invitation was already accepted")),
        REVOKED => return Err(ApiError::conflict("this invitation was revoked")),
        _ => {
            return Err(ApiError::conflict(
                "this invitation has expired; ask for a new one",
            ));
        }
    }
    if normalize_email(email) != inv.email {
        return Err(ApiError::forbidden(
            "this invitation was sent to another email address",
        ));
    }
    if tx
        .repo::<membership::Entity>()
        .get((tx.org_id(), user_id))
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "you are already a member of this organization",
        ));
    }
    let wanted: Vec<Uuid> = serde_json::from_value(inv.team_ids.clone()).unwrap_or_default();
    let teams: Vec<Uuid> = if wanted.is_empty() {
        Vec::new()
    } else {
        let repo = tx.repo::<team::Entity>();
        let existing: Vec<Uuid> = repo
            .find()
            .filter(team::Column::Id.is_in(wanted.clone()))
            .all(repo.conn())
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        wanted
            .into_iter()
            .filter(|t| existing.contains(t))
            .collect()
    };
    let mut m: invitation::ActiveModel = inv.clone().into();
    m.status = Set(ACCEPTED.into());
    m.accepted_at = Set(Some(now));
    m.accepted_by = Set(Some(user_id));
    m.updated_at = Set(now);
    tx.repo::<invitation::Entity>().update(m).await?;
    crate::orgs::add_member(ctx, tx, user_id, &inv.role).await?;
    for team in &teams {
        crate::http::teams::add_to_team(ctx, tx, user_id, *team, &[user_id], "member").await?;
    }
    access::publish(
        ctx,
        tx,
        user_id,
        crate::events::MemberAdded {
            user_id,
            role: inv.role.clone(),
            invitation_id: inv.id,
        },
    )
    .await?;
    access::publish(
        ctx,
        tx,
        user_id,
        crate::events::InvitationAccepted {
            invitation_id: inv.id,
            user_id,
            email: inv.email.clone(),
            role: inv.role.clone(),
            team_ids: teams.clone(),
            invited_by: inv.invited_by,
        },
    )
    .await?;
    Ok(AcceptedInvitation {
        id: inv.id,
        org_id: inv.org_id,
        user_id,
        email: inv.email,
        role: inv.role,
        team_ids: teams,
    })
}

/// Issues a new token for `inv` (new or resent), stores its hash and expiry, and queues the
/// invitation email, all in `tx`. Returns the saved row.
pub(crate) async fn send(
    ctx: &CellContext,
    tx: &TenantTx,
    inv: invitation::ActiveModel,
    ttl_days: u32,
    inviter: Uuid,
) -> Result<invitation::Model, ApiError> {
    let (token, hash) = crate::token::issue(&ctx.config().secret_key(), tx.org_id())?;
    let now = Utc::now();
    let expires_at = now + chrono::Duration::days(i64::from(ttl_days));
    let mut inv = inv;
    inv.token_hash = Set(hash);
    inv.expires_at = Set(expires_at);
    inv.updated_at = Set(now);
    let repo = tx.repo::<invitation::Entity>();
    let saved = match inv.id.is_unchanged() {
        true => repo.update(inv).await?,
        false => repo.insert(inv).await?,
    };
    let org = organization::Entity::find_by_id(tx.org_id())
        // unscoped: organizations are keyed by their id: the row of tx's org
        .one(tx.unscoped())
        .await?
        .ok_or_else(access::not_found_org)?;
    let inviter_email = kernel::identity::email(ctx, inviter).await?;
    let prefix = ctx.config().route_prefix("tenancy");
    let link = format!(
        "{}{}/invitations/accept?token={token}",
        ctx.config().public_base(),
        prefix.trim_end_matches('/')
    );
    ctx.mail()
        .queue_in(
            tx,
            &saved.email,
            "tenancy.invitation",
            &serde_json::json!({
                "org_name": org.name,
                "email": saved.email,
                "role": saved.role,
                "inviter": inviter_email,
                "link": link,
                "token": token,
                "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            }),
        )
        .await?;
    Ok(saved)
}

/// The invitation email (`tenancy.invitation`; orgs may override it).
pub(crate) fn email_template() -> kernel::mail::EmailTemplate {
    kernel::mail::EmailTemplate {
        name: "invitation",
        subject: "You are invited to join {{ org_name }}",
        text: "Hello,\n\n{% if inviter %}{{ inviter }} has invited you{% else %}You have been invited{% endif %} to join {{ org_name }} as {{ role }}.\n\nAccept the invitation: {{ link }}\n\nThe invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.\n",
        html: Some(
            "<p>Hello,</p><p>{% if inviter %}{{ inviter }} has invited you{% else %}You have been invited{% endif %} to join <b>{{ org_name }}</b> as {{ role }}.</p><p><a href=\"{{ link }}\">Accept the invitation</a></p><p>The invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.</p>",
        ),
    }
}

/// Invites `email` to the organization of `tx` with `role` (as the cell names it; 422 when the
/// cell does not know it), joining `teams` on acceptance. The token goes out in the
/// `tenancy.invitation` email only, valid `invitation_ttl_days`. A live pending invitation for
/// the same address is a conflict (resend it instead); an expired one is superseded. The caller
/// decides who may invite (tenancy's route: admins; abm's convert: internal users) and checks
/// that `teams` are the org's.
pub async fn invite(
    ctx: &CellContext,
    tx: &TenantTx,
    email: &str,
    role: &str,
    teams: &[Uuid],
    invited_by: Uuid,
) -> Result<invitation::Model, ApiError> {
    access::parse_role(ctx, "role", role)?;
    // One live invitation per address holds only under the org's lock (abm's conversion calls
    // this with its own transaction).
    access::lock_org(tx).await?;
    invite_locked(ctx, tx, email, role, teams, invited_by).await
}

/// [`invite`] for a caller that holds the org's lock and has checked `role` (tenancy's route).
pub(crate) async fn invite_locked(
    ctx: &CellContext,
    tx: &TenantTx,
    email: &str,
    role: &str,
    teams: &[Uuid],
    invited_by: Uuid,
) -> Result<invitation::Model, ApiError> {
    let email = normalize_email(email);
    let repo = tx.repo::<invitation::Entity>();
    let now = Utc::now();
    let pending = repo
        .find()
        .filter(invitation::Column::Status.eq(PENDING))
        .filter(invitation::Column::Email.eq(email.clone()))
        .all(repo.conn())
        .await?;
    for old in pending {
        if old.expires_at > now {
            return Err(ApiError::conflict(format!(
                "{email} already has a pending invitation ({}); resend or revoke it",
                old.id
            )));
        }
        let mut m: invitation::ActiveModel = old.into();
        m.status = Set(EXPIRED.into());
        m.updated_at = Set(now);
        repo.update(m).await?;
    }
    let new = invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        email: Set(email),
        role: Set(role.to_owned()),
        team_ids: Set(serde_json::json!(teams)),
        token_hash: Set(String::new()),
        invited_by: Set(invited_by),
        status: Set(PENDING.into()),
        expires_at: Set(now),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
        sent_count: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let ttl = ctx.service::<crate::TenancySettings>().map_or_else(
        || crate::TenancySettings::default().invitation_ttl_days,
        |s| s.invitation_ttl_days,
    );
    let saved = send(ctx, tx, new, ttl, invited_by).await?;
    publish_sent(ctx, tx, invited_by, &saved, false).await?;
    Ok(saved)
}

pub(crate) async fn publish_sent(
    ctx: &CellContext,
    tx: &TenantTx,
    actor: Uuid,
    inv: &invitation::Model,
    is_resend: bool,
) -> Result<(), ApiError> {
    access::publish(
        ctx,
        tx,
        actor,
        crate::events::InvitationSent {
            invitation_id: inv.id,
            email: inv.email.clone(),
            role: inv.role.clone(),
            resend: is_resend,
            expires_at: inv.expires_at,
        },
    )
    .await
}
