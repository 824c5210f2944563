//! Tenancy's HTTP routes: one file per resource, mounted here.

pub(crate) mod features;
pub(crate) mod invitations;
pub(crate) mod orgs;
pub(crate) mod settings;
pub(crate) mod teams;

use utoipa_actix_web::service_config::ServiceConfig;

pub(crate) fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(orgs::create_org)
        .service(orgs::list_orgs)
        .service(orgs::get_org)
        .service(orgs::update_org)
        .service(orgs::list_members)
        .service(orgs::get_member)
        .service(orgs::change_role)
        .service(orgs::remove_member)
        .service(orgs::leave)
        .service(orgs::transfer)
        .service(teams::create_team)
        .service(teams::list_teams)
        .service(teams::get_team)
        .service(teams::update_team)
        .service(teams::delete_team)
        .service(teams::add_members)
        .service(teams::remove_member)
        // Static segments before `{id}`: `accept` is not an invitation id.
        .service(invitations::preview)
        .service(invitations::accept)
        .service(invitations::invite)
        .service(invitations::list)
        .service(invitations::get_one)
        .service(invitations::resend)
        .service(invitations::revoke)
        .service(settings::list)
        .service(settings::put)
        .service(settings::get_one)
        .service(settings::delete_one)
        .service(features::resolved)
        .service(features::list_overrides)
        .service(features::put_override)
        .service(features::get_override)
        .service(features::delete_override)
        .service(features::list_flags)
        .service(features::get_flag)
        .service(features::put_flag)
        .service(features::patch_flag);
}

/// The error a handler answers for an id of another org, or one that does not exist.
pub(crate) fn not_found(what: &str) -> kernel::ApiError {
    kernel::ApiError::not_found(format!("no such {what}"))
}
