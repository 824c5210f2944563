//! abm's routes, mounted under the module's prefix (`/api` in the fullorbit cell):
//! - `/hooks/posthog`: public, authenticated by the webhook signature;
//! - `/abm/*`: the internal ABM dashboard, for members of the operator org ([`zone::Internal`]);
//! - `/app/*`: the customer portal, for members of a customer org ([`zone::Customer`]), every
//!   query scoped to that org.

use utoipa_actix_web::service_config::ServiceConfig;

mod companies;
mod hook;
mod manage;
mod portal;
pub(crate) mod zone;

pub(crate) fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(hook::posthog_hook);
    companies::configure(cfg);
    manage::configure(cfg);
    portal::configure(cfg);
}

/// 404 in the envelope for a missing (or another org's) `what`.
pub(crate) fn not_found(what: &str) -> kernel::ApiError {
    kernel::ApiError::not_found(format!("no such {what}"))
}

/// A domain a client gave (`NASA.gov`, `https://www.nasa.gov/x`), normalized to its host name;
/// 422 on `field` otherwise.
pub(crate) fn domain_input(field: &str, text: &str) -> Result<String, kernel::ApiError> {
    crate::enrich::normalize_domain(text)
        .filter(|d| d.len() <= 253)
        .ok_or_else(|| {
            kernel::ApiError::validation(field, format!("`{text}` is not a domain name"))
        })
}

/// 422 on `owner_user_id` unless `user` is an internal user (a member of the operator org `tx`
/// is scoped to).
pub(crate) async fn require_internal_user(
    tx: &kernel::TenantTx,
    user: uuid::Uuid,
) -> Result<(), kernel::ApiError> {
    match tenancy::member_role(tx, user).await? {
        Some(_) => Ok(()),
        None => Err(kernel::ApiError::validation(
            "owner_user_id",
            "the owner must be an internal user (a member of the operator organization)",
        )),
    }
}

/// A row of the operator org by primary key; 404 naming `what` otherwise.
pub(crate) async fn row<E>(
    tx: &kernel::TenantTx,
    id: uuid::Uuid,
    what: &str,
) -> Result<E::Model, kernel::ApiError>
where
    E: kernel::TenantEntity,
    uuid::Uuid: Into<<E::PrimaryKey as kernel::sea_orm::PrimaryKeyTrait>::ValueType>,
{
    tx.repo::<E>().get(id).await?.ok_or_else(|| not_found(what))
}

/// `text` trimmed; 422 on `field` when blank or longer than `max` characters.
pub(crate) fn required(field: &str, text: &str, max: usize) -> Result<String, kernel::ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(kernel::ApiError::validation(field, "it is blank"));
    }
    if text.chars().count() > max {
        return Err(kernel::ApiError::validation(
            field,
            format!("it is longer than {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Like [`required`], but blank (or absent) is no value.
pub(crate) fn optional(
    field: &str,
    text: Option<&str>,
    max: usize,
) -> Result<Option<String>, kernel::ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => required(field, t, max).map(Some),
        None => Ok(None),
    }
}

/// 422 on `field` unless `value` is one of `allowed`.
pub(crate) fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), kernel::ApiError> {
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(kernel::ApiError::validation(
            field,
            format!("unknown {field} `{value}`; one of: {}", allowed.join(", ")),
        )),
    }
}
