//! `/notification-preferences`: what the caller is told, on which channels, how often by email;
//! and the org's defaults for its members.

use actix_web::{HttpResponse, get, patch};
use kernel::http::ValidJson;
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::preference;
use crate::permissions::{ReadOwn, WriteOrgDefaults, WriteOwn};
use crate::service::{self, Choice};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(get_own).service(set_own).service(set_org);
}

/// One preference: what the caller gets for the events `event_type` names.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preference {
    /// An event name or a pattern (`document.*`, `*`); the most specific one that names an
    /// event decides.
    pub event_type: String,
    /// `in_app`, `email`.
    pub channels: Vec<String>,
    pub muted: bool,
}

impl From<preference::Model> for Preference {
    fn from(m: preference::Model) -> Self {
        Self {
            event_type: m.event_type,
            channels: serde_json::from_value(m.channels).unwrap_or_default(),
            muted: m.muted,
        }
    }
}

/// The caller's preferences in their active org.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// How often emails go out: `instant` (one per notification), or one digest `hourly`,
    /// `daily` (at 08:00 in the time zone of the caller's profile, UTC without one), `weekly`
    /// (Mondays at 08:00).
    pub digest: String,
    /// The caller's own, by event type.
    pub preferences: Vec<Preference>,
    /// The org's defaults, for event types the caller has no preference of their own for
    /// (without either, every channel).
    pub org_defaults: Vec<Preference>,
}

async fn answer(tx: &TenantTx, user: Uuid) -> Result<Preferences, ApiError> {
    let (digest, own, org) = service::preferences(tx, user).await?;
    Ok(Preferences {
        digest,
        preferences: own.into_iter().map(Preference::from).collect(),
        org_defaults: org.into_iter().map(Preference::from).collect(),
    })
}

/// The caller's notification preferences and digest frequency.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Preferences), (status = 401), (status = 403)))]
#[get("/notification-preferences")]
pub(crate) async fn get_own(tx: ReadOwn) -> ApiResult<HttpResponse> {
    let body = answer(&tx, tx.caller().user_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A change to the preference for one event type; absent fields keep their value (or the
/// default: every channel, not muted).
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChange {
    #[schema(min_length = 1, max_length = 100, example = "document.*")]
    #[garde(length(chars, min = 1, max = 100))]
    pub event_type: String,
    #[schema(max_items = 2, example = json!(["in_app"]))]
    #[garde(inner(length(max = 2), inner(length(chars, max = 20))))]
    pub channels: Option<Vec<String>>,
    #[garde(skip)]
    pub muted: Option<bool>,
    /// `true` removes the preference (the org's default applies again).
    #[serde(default)]
    #[garde(skip)]
    pub reset: bool,
}

/// `PATCH /notification-preferences`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesPatch {
    /// `instant`, `hourly`, `daily` or `weekly`.
    #[schema(pattern = "^(instant|hourly|daily|weekly)$")]
    #[garde(inner(length(max = 10)))]
    pub digest: Option<String>,
    #[schema(max_items = 100)]
    #[garde(length(max = 100), dive)]
    pub preferences: Option<Vec<PreferenceChange>>,
}

/// The checked choice a change asks for, given what is there now.
fn checked(
    ctx: &CellContext,
    i: usize,
    change: &PreferenceChange,
    now: Option<&Preference>,
) -> Result<Choice, ApiError> {
    let field = |name: &str| format!("preferences[{i}].{name}");
    let pattern = change.event_type.trim();
    if !kernel::events::valid_pattern(pattern) {
        return Err(ApiError::validation(
            &field("event_type"),
            "must be an event name (`task.assigned`) or a pattern (`task.*`, `*`)",
        ));
    }
    if !ctx.events().declares(pattern) {
        return Err(ApiError::validation(
            &field("event_type"),
            format!("no event of this cell matches `{pattern}`"),
        ));
    }
    let channels = match &change.channels {
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for c in list {
                if !service::CHANNELS.contains(&c.as_str()) {
                    return Err(ApiError::validation(
                        &field("channels"),
                        format!("`{c}` is not a channel (in_app, email)"),
                    ));
                }
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
            out
        }
        None => now.map_or_else(|| Choice::default().channels, |p| p.channels.clone()),
    };
    Ok(Choice {
        channels,
        muted: change.muted.unwrap_or_else(|| now.is_some_and(|p| p.muted)),
    })
}

async fn apply(
    ctx: &CellContext,
    tx: &TenantTx,
    user: Option<Uuid>,
    changes: &[PreferenceChange],
    now: &[Preference],
) -> Result<(), ApiError> {
    for (i, change) in changes.iter().enumerate() {
        let pattern = change.event_type.trim();
        let current = now.iter().find(|p| p.event_type == pattern);
        if change.reset {
            if let Some(user) = user {
                service::clear_preference(tx, user, pattern).await?;
            }
            continue;
        }
        let choice = checked(ctx, i, change, current)?;
        service::set_preference(tx, user, pattern, &choice).await?;
    }
    Ok(())
}

/// Changes the caller's preferences and digest frequency; answers them all.
#[utoipa::path(tag = TAG, request_body = PreferencesPatch, responses(
    (status = 200, body = Preferences), (status = 401), (status = 403), (status = 422)))]
#[patch("/notification-preferences")]
pub(crate) async fn set_own(
    tx: WriteOwn,
    ctx: CellContext,
    body: ValidJson<PreferencesPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let user = tx.caller().user_id;
    if let Some(digest) = &body.digest {
        if !service::FREQUENCIES.contains(&digest.as_str()) {
            return Err(ApiError::validation(
                "digest",
                "must be instant, hourly, daily or weekly",
            ));
        }
        let zone = kernel::identity::zone(&ctx, user).await?;
        service::set_digest(&tx, user, digest, zone.name()).await?;
    }
    if let Some(changes) = &body.preferences {
        let now = answer(&tx, user).await?.preferences;
        apply(&ctx, &tx, Some(user), changes, &now).await?;
    }
    let answer = answer(&tx, user).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `PATCH /notification-preferences/org-defaults`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDefaultsPatch {
    #[schema(max_items = 100)]
    #[garde(length(max = 100), dive)]
    pub preferences: Vec<PreferenceChange>,
}

/// Sets the org's default preferences, for members without their own (admins and owners).
#[utoipa::path(tag = TAG, request_body = OrgDefaultsPatch, responses(
    (status = 200, body = Preferences), (status = 401), (status = 403), (status = 422)))]
#[patch("/notification-preferences/org-defaults")]
pub(crate) async fn set_org(
    tx: WriteOrgDefaults,
    ctx: CellContext,
    body: ValidJson<OrgDefaultsPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(body) = body;
    let user = tx.caller().user_id;
    let now = answer(&tx, user).await?.org_defaults;
    if body.preferences.iter().any(|p| p.reset) {
        return Err(ApiError::validation(
            "preferences",
            "reset applies to one's own preferences; set the org's default instead",
        ));
    }
    apply(&ctx, &tx, None, &body.preferences, &now).await?;
    let answer = answer(&tx, user).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(answer))
}
