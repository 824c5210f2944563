//! The events tenancy publishes (its entry in the cell's event catalogue), each in the
//! transaction of the change, acted by the user who made it.

use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every event tenancy publishes.
pub(crate) fn catalogue() -> Vec<EventDef> {
    vec![
        EventDef::of::<OrganizationCreated>(),
        EventDef::of::<OrganizationUpdated>(),
        EventDef::of::<OwnershipTransferred>(),
        EventDef::of::<MemberAdded>(),
        EventDef::of::<MemberRoleChanged>(),
        EventDef::of::<MemberRemoved>(),
        EventDef::of::<InvitationSent>(),
        EventDef::of::<InvitationAccepted>(),
        EventDef::of::<InvitationRevoked>(),
        EventDef::of::<TeamCreated>(),
        EventDef::of::<TeamUpdated>(),
        EventDef::of::<TeamDeleted>(),
        EventDef::of::<TeamMemberAdded>(),
        EventDef::of::<TeamMemberRemoved>(),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationCreated {
    pub organization_id: Uuid,
    pub owner_id: Uuid,
}
kernel::event!(
    OrganizationCreated,
    "tenancy.organization.created",
    "An organization was created; its creator owns it.",
    "organization",
    organization_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationUpdated {
    pub organization_id: Uuid,
}
kernel::event!(
    OrganizationUpdated,
    "tenancy.organization.updated",
    "An organization's name, slug or settings changed.",
    "organization",
    organization_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OwnershipTransferred {
    pub organization_id: Uuid,
    pub from: Uuid,
    pub to: Uuid,
}
kernel::event!(
    OwnershipTransferred,
    "tenancy.ownership.transferred",
    "The owner handed the organization to another member.",
    "organization",
    organization_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberAdded {
    pub user_id: Uuid,
    pub role: String,
    pub invitation_id: Uuid,
}
kernel::event!(
    MemberAdded,
    "tenancy.member.added",
    "A user joined the organization (by invitation).",
    "user",
    user_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberRoleChanged {
    pub user_id: Uuid,
    pub from: String,
    pub to: String,
}
kernel::event!(
    MemberRoleChanged,
    "tenancy.member.role_changed",
    "A member's role changed.",
    "user",
    user_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberRemoved {
    pub user_id: Uuid,
    pub role: String,
    /// `removed` (by an admin) or `left` (by themselves).
    pub reason: String,
    pub removed_by: Uuid,
    /// How many teams they were taken out of.
    pub teams_left: u64,
}
kernel::event!(
    MemberRemoved,
    "tenancy.member.removed",
    "A member left or was removed; their teams and roles went with them.",
    "user",
    user_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationSent {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: String,
    pub resend: bool,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}
kernel::event!(
    InvitationSent,
    "tenancy.invitation.sent",
    "An invitation was mailed (or mailed again).",
    "invitation",
    invitation_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationAccepted {
    pub invitation_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    pub team_ids: Vec<Uuid>,
    pub invited_by: Uuid,
}
kernel::event!(
    InvitationAccepted,
    "tenancy.invitation.accepted",
    "An invitation was accepted.",
    "invitation",
    invitation_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvitationRevoked {
    pub invitation_id: Uuid,
    pub email: String,
}
kernel::event!(
    InvitationRevoked,
    "tenancy.invitation.revoked",
    "A pending invitation was revoked.",
    "invitation",
    invitation_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamCreated {
    pub team_id: Uuid,
    pub name: String,
}
kernel::event!(
    TeamCreated,
    "tenancy.team.created",
    "A team was created (its creator leads it).",
    "team",
    team_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamUpdated {
    pub team_id: Uuid,
}
kernel::event!(
    TeamUpdated,
    "tenancy.team.updated",
    "A team's name or description changed.",
    "team",
    team_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamDeleted {
    pub team_id: Uuid,
    pub name: String,
}
kernel::event!(
    TeamDeleted,
    "tenancy.team.deleted",
    "A team was deleted.",
    "team",
    team_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamMemberAdded {
    pub team_id: Uuid,
    pub user_id: Uuid,
    /// `lead` or `member`.
    pub role: String,
}
kernel::event!(
    TeamMemberAdded,
    "tenancy.team.member_added",
    "A member joined a team (or changed role in it).",
    "team",
    team_id
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamMemberRemoved {
    pub team_id: Uuid,
    pub user_id: Uuid,
}
kernel::event!(
    TeamMemberRemoved,
    "tenancy.team.member_removed",
    "A member left a team.",
    "team",
    team_id
);
