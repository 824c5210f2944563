//! The module's HTTP routes.

pub(crate) mod keys;
pub(crate) mod me;
pub(crate) mod mfa;
pub(crate) mod session;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse};

use crate::state::State;

/// The module's state, as a handler takes it.
pub(crate) type AuthState = kernel::http::State<State>;

pub(crate) const REFRESH_COOKIE: &str = "refresh_token";

/// The cookie path: the auth routes' scope (`…/auth`), so the browser sends the refresh token
/// nowhere else.
fn cookie_path(req: &HttpRequest) -> String {
    match req.path().find("/auth/") {
        Some(i) => req.path()[..i + "/auth".len()].to_owned(),
        None => "/".into(),
    }
}

/// The refresh token as an HttpOnly, SameSite=Strict cookie scoped to the auth routes.
pub(crate) fn set_refresh_cookie(
    res: &mut HttpResponse,
    req: &HttpRequest,
    state: &State,
    token: &str,
) {
    let cookie = Cookie::build(REFRESH_COOKIE, token.to_owned())
        .http_only(true)
        .secure(state.settings.cookie_secure)
        .same_site(SameSite::Strict)
        .path(cookie_path(req))
        .max_age(actix_web::cookie::time::Duration::days(
            state.settings.refresh_ttl_days as i64,
        ))
        .finish();
    let _ = res.add_cookie(&cookie);
}

pub(crate) fn clear_refresh_cookie(res: &mut HttpResponse, req: &HttpRequest, state: &State) {
    let mut cookie = Cookie::build(REFRESH_COOKIE, "")
        .http_only(true)
        .secure(state.settings.cookie_secure)
        .same_site(SameSite::Strict)
        .path(cookie_path(req))
        .finish();
    cookie.make_removal();
    let _ = res.add_cookie(&cookie);
}

pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(session::register)
        .service(session::login)
        .service(session::refresh)
        .service(session::logout)
        .service(session::logout_all)
        .service(session::switch_org)
        .service(session::forgot_password)
        .service(session::reset_password)
        .service(session::verify_email)
        .service(session::resend_verification)
        .service(mfa::enroll)
        .service(mfa::verify)
        .service(mfa::challenge)
        .service(mfa::disable)
        .service(me::get_me)
        .service(me::update_me)
        .service(me::change_password)
        .service(me::deactivate)
        .service(me::my_organizations)
        .service(keys::create_key)
        .service(keys::list_keys)
        .service(keys::revoke_key);
}
