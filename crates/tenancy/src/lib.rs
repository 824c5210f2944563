#![doc = include_str!("../README.md")]

mod access;
pub mod entity;
pub mod events;
pub mod flags;
mod http;
pub mod invitations;
mod migration;
mod module;
pub mod orgs;
pub mod settings;
mod token;

pub use flags::{FeatureFlag, FlagRule, feature_enabled, resolved_flags};
pub use invitations::{
    AcceptedInvitation, PendingInvitation, accept_invitation, find_invitation, invite,
};
pub use module::{Tenancy, TenancySettings};
pub use orgs::{
    MyOrganization, NewOrganization, Organization, add_member, create_organization,
    create_organization_without_members, member_role, organization, organization_by_slug,
    organizations_by_slug_or_name, organizations_of, role_in, valid_slug,
};
pub use settings::{Setting, SettingScope, get_setting, set_setting, settings_in};

kernel::register_module!(Tenancy::default());
