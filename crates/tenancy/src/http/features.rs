//! Feature flags over HTTP.
//!
//! - `GET /features`: every flag resolved for the caller in their active org (any member).
//! - `/features/overrides`: the active org's overrides, for the org or one of its members
//!   (admins and owners write; members read).
//! - `/admin/feature-flags`: the global flags, their default, rules and percentage rollout.
//!   They span every org of the cell, so they belong to the cell operator: these routes take
//!   the kernel's operator token (`cell.admin_token`, like `/admin/*`), not a user's token.

use actix_web::{HttpResponse, delete, get, patch, put, web};
use chrono::{DateTime, Utc};
use kernel::http::admin::Operator;
use kernel::http::{ListQuery, ListSpec, Page, Read, Scoped, ValidJson, Write, fetch_page};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_found;
use crate::access::{self, Access, AdministerActiveOrg, Features, InActiveOrg};
use crate::entity::{feature_flag, flag_override};
use crate::flags::{FeatureFlag, FlagRule, resolved_flags, valid_key, validate_rules};

const TAG: &str = "features";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResolvedFlags {
    /// Flag key → on/off for the caller.
    pub flags: std::collections::BTreeMap<String, bool>,
}

/// Every feature flag, resolved for the caller in their active organization.
#[utoipa::path(tag = TAG, responses((status = 200, body = ResolvedFlags)))]
#[get("/features")]
pub(crate) async fn resolved(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Read<Features>>,
) -> ApiResult<HttpResponse> {
    let (org, user) = (tx.org_id(), tx.caller().user_id);
    tx.commit().await?;
    let flags = resolved_flags(ctx.db(), org, Some(user)).await?;
    Ok(HttpResponse::Ok().json(ResolvedFlags { flags }))
}

/// An organization's override of a flag.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagOverride {
    pub id: Uuid,
    pub flag: String,
    /// `org` or `user`.
    pub scope: String,
    /// For the user scope.
    pub user_id: Option<Uuid>,
    pub enabled: bool,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

impl From<flag_override::Model> for FlagOverride {
    fn from(m: flag_override::Model) -> Self {
        Self {
            id: m.id,
            user_id: (m.scope == "user").then_some(m.subject_id),
            flag: m.flag_key,
            scope: m.scope,
            enabled: m.enabled,
            updated_by: m.updated_by,
            updated_at: m.updated_at,
        }
    }
}

/// What `list_overrides` exposes: its fields, search and order.
fn override_list() -> ListSpec<flag_override::Entity> {
    ListSpec::new()
        .field("flag", flag_override::Column::FlagKey)
        .field("scope", flag_override::Column::Scope)
        .sortable("updated_at", flag_override::Column::UpdatedAt)
        .default_sort(flag_override::Column::FlagKey, false)
        .tiebreak(flag_override::Column::Id)
}

kernel::list_params!(OverrideListParams, override_list);

/// The organization's overrides, paginated (`filter[flag]`, `filter[scope]`).
#[utoipa::path(tag = TAG, params(OverrideListParams), responses((status = 200, body = Page<FlagOverride>)))]
#[get("/features/overrides")]
pub(crate) async fn list_overrides(
    tx: Scoped<InActiveOrg, Read<Features>>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = override_list();
    let select = spec.apply(&query, tx.repo::<flag_override::Entity>().find())?;
    let page = tx.page(select, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(FlagOverride::from)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOverride {
    #[garde(skip)]
    pub flag: String,
    /// A member of the organization; absent for the whole organization.
    #[serde(default, alias = "userId")]
    #[garde(skip)]
    pub user_id: Option<Uuid>,
    #[garde(skip)]
    pub enabled: bool,
}

async fn load_override(tx: &TenantTx, id: Uuid) -> Result<flag_override::Model, ApiError> {
    tx.repo::<flag_override::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| not_found("flag override"))
}

/// Sets the organization's override of a flag, for the org or one of its members (admins and
/// owners). 409 when the operator pinned the flag.
#[utoipa::path(tag = TAG, request_body = PutOverride, responses(
    (status = 200, body = FlagOverride), (status = 403), (status = 409), (status = 422)))]
#[put("/features/overrides")]
pub(crate) async fn put_override(
    ctx: CellContext,
    tx: Scoped<AdministerActiveOrg, Write<Features>>,
    body: ValidJson<PutOverride>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let body = body.0;
    let flag = feature_flag::Entity::find_by_id(body.flag.clone())
        // unscoped: global feature flags belong to no org
        .one(tx.unscoped())
        .await?
        .ok_or_else(|| ApiError::validation("flag", format!("no feature flag `{}`", body.flag)))?;
    if !flag.overridable {
        return Err(ApiError::conflict(format!(
            "the flag `{}` is pinned by the cell operator and cannot be overridden",
            flag.key
        )));
    }
    if let Some(user) = body.user_id {
        super::teams::require_org_members(&tx, "user_id", &[user]).await?;
    }
    let saved = upsert_override(&tx, &access, &flag.key, body.user_id, body.enabled).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(FlagOverride::from(saved)))
}

async fn upsert_override(
    tx: &TenantTx,
    access: &Access,
    flag: &str,
    user: Option<Uuid>,
    enabled: bool,
) -> Result<flag_override::Model, ApiError> {
    let (scope, subject) = match user {
        Some(u) => ("user", u),
        None => ("org", access.org),
    };
    let repo = tx.repo::<flag_override::Entity>();
    let now = Utc::now();
    let existing = repo
        .find()
        .filter(flag_override::Column::FlagKey.eq(flag))
        .filter(flag_override::Column::Scope.eq(scope))
        .filter(flag_override::Column::SubjectId.eq(subject))
        .one(repo.conn())
        .await?;
    Ok(match existing {
        Some(row) => {
            let mut m: flag_override::ActiveModel = row.into();
            m.enabled = Set(enabled);
            m.updated_by = Set(access.user);
            m.updated_at = Set(now);
            repo.update(m).await?
        }
        None => {
            repo.insert(flag_override::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(access.org),
                flag_key: Set(flag.to_owned()),
                scope: Set(scope.into()),
                subject_id: Set(subject),
                enabled: Set(enabled),
                updated_by: Set(access.user),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?
        }
    })
}

/// One override of the organization.
#[utoipa::path(tag = TAG, responses((status = 200, body = FlagOverride), (status = 404)))]
#[get("/features/overrides/{id}")]
pub(crate) async fn get_override(
    tx: Scoped<InActiveOrg, Read<Features>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = load_override(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(FlagOverride::from(row)))
}

/// Removes an override: the flag resolves as if it had never been set.
#[utoipa::path(tag = TAG, responses((status = 204, description = "deleted"), (status = 403), (status = 404)))]
#[delete("/features/overrides/{id}")]
pub(crate) async fn delete_override(
    tx: Scoped<AdministerActiveOrg, Write<Features>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = load_override(&tx, id.into_inner()).await?;
    tx.repo::<flag_override::Entity>().delete(row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

const ADMIN_TAG: &str = "feature-flags (operator)";
/// What `list_flags` exposes: its fields, search and order.
fn flag_list() -> ListSpec<feature_flag::Entity> {
    ListSpec::new()
        .field("key", feature_flag::Column::Key)
        .field("enabled", feature_flag::Column::Enabled)
        .sortable("updated_at", feature_flag::Column::UpdatedAt)
        .search([feature_flag::Column::Key])
        .default_sort(feature_flag::Column::Key, false)
}

kernel::list_params!(FlagListParams, flag_list);

/// Every global flag (operator token).
#[utoipa::path(tag = ADMIN_TAG, params(FlagListParams), responses((status = 200, body = Page<FeatureFlag>), (status = 401), (status = 403)))]
#[get("/admin/feature-flags")]
pub(crate) async fn list_flags(
    ctx: CellContext,
    _op: Operator,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let spec = flag_list();
    let page = fetch_page(
        spec.apply(&query, feature_flag::Entity::find())?,
        &query,
        ctx.db().conn(),
    )
    .await?;
    let data = page
        .data
        .into_iter()
        .map(FeatureFlag::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page {
        data,
        meta: page.meta,
    }))
}

async fn load_flag(ctx: &CellContext, key: &str) -> Result<feature_flag::Model, ApiError> {
    feature_flag::Entity::find_by_id(key.to_owned())
        .one(ctx.db().conn())
        .await?
        .ok_or_else(|| not_found("feature flag"))
}

/// One global flag (operator token).
#[utoipa::path(tag = ADMIN_TAG, responses((status = 200, body = FeatureFlag), (status = 404)))]
#[get("/admin/feature-flags/{key}")]
pub(crate) async fn get_flag(
    ctx: CellContext,
    _op: Operator,
    key: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = load_flag(&ctx, &key).await?;
    Ok(HttpResponse::Ok().json(FeatureFlag::try_from(row)?))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutFlag {
    #[schema(max_length = 1000)]
    #[garde(length(chars, max = 1000))]
    pub description: Option<String>,
    /// The global default.
    #[garde(skip)]
    pub enabled: bool,
    /// Whether organizations may override it (default true).
    #[garde(skip)]
    pub overridable: Option<bool>,
    #[serde(default)]
    #[garde(skip)]
    pub rules: Vec<FlagRule>,
}

/// Creates or replaces a global flag (operator token).
#[utoipa::path(tag = ADMIN_TAG, request_body = PutFlag, responses(
    (status = 200, body = FeatureFlag), (status = 401), (status = 403), (status = 422)))]
#[put("/admin/feature-flags/{key}")]
pub(crate) async fn put_flag(
    ctx: CellContext,
    _op: Operator,
    key: web::Path<String>,
    body: ValidJson<PutFlag>,
) -> ApiResult<HttpResponse> {
    let key = key.into_inner();
    if !valid_key(&key) {
        return Err(ApiError::validation(
            "key",
            "1 to 100 characters of a-z, 0-9, _, - and .",
        ));
    }
    let body = body.0;
    validate_rules(&body.rules)?;
    let now = Utc::now();
    let rules = serde_json::to_value(&body.rules).map_err(ApiError::internal)?;
    let existing = feature_flag::Entity::find_by_id(key.clone())
        .one(ctx.db().conn())
        .await?;
    let saved = match existing {
        Some(row) => {
            let mut m: feature_flag::ActiveModel = row.into();
            m.description = Set(body.description);
            m.enabled = Set(body.enabled);
            m.overridable = Set(body.overridable.unwrap_or(true));
            m.rules = Set(rules);
            m.updated_at = Set(now);
            feature_flag::Entity::update(m)
                .exec(ctx.db().conn())
                .await?
        }
        None => {
            feature_flag::Entity::insert(feature_flag::ActiveModel {
                key: Set(key),
                description: Set(body.description),
                enabled: Set(body.enabled),
                overridable: Set(body.overridable.unwrap_or(true)),
                rules: Set(rules),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_with_returning(ctx.db().conn())
            .await?
        }
    };
    Ok(HttpResponse::Ok().json(FeatureFlag::try_from(saved)?))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagPatch {
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[garde(skip)]
    pub enabled: Option<bool>,
    #[garde(skip)]
    pub overridable: Option<bool>,
    #[garde(skip)]
    pub rules: Option<Vec<FlagRule>>,
}

/// Changes part of a global flag (operator token).
#[utoipa::path(tag = ADMIN_TAG, request_body = FlagPatch, responses(
    (status = 200, body = FeatureFlag), (status = 404), (status = 422)))]
#[patch("/admin/feature-flags/{key}")]
pub(crate) async fn patch_flag(
    ctx: CellContext,
    _op: Operator,
    key: web::Path<String>,
    body: ValidJson<FlagPatch>,
) -> ApiResult<HttpResponse> {
    let row = load_flag(&ctx, &key).await?;
    let patch = body.0;
    let mut m: feature_flag::ActiveModel = row.into();
    if let Some(d) = patch.description {
        if d.as_ref().is_some_and(|d| d.chars().count() > 1000) {
            return Err(ApiError::validation(
                "description",
                "at most 1000 characters",
            ));
        }
        m.description = Set(d);
    }
    if let Some(e) = patch.enabled {
        m.enabled = Set(e);
    }
    if let Some(o) = patch.overridable {
        m.overridable = Set(o);
    }
    if let Some(rules) = patch.rules {
        validate_rules(&rules)?;
        m.rules = Set(serde_json::to_value(&rules).map_err(ApiError::internal)?);
    }
    m.updated_at = Set(Utc::now());
    let saved = feature_flag::Entity::update(m)
        .exec(ctx.db().conn())
        .await?;
    Ok(HttpResponse::Ok().json(FeatureFlag::try_from(saved)?))
}
