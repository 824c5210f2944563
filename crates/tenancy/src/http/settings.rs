//! Settings of the active organization. `user` settings are the caller's own (any member,
//! viewers included, may set their preferences; nobody sees another user's); `org` and `module`
//! settings are read by every member and written by admins and owners.

use actix_web::{HttpResponse, delete, get, put, web};
use kernel::http::{ListQuery, ListSpec, Read, Role, Scoped, ValidJson, Write};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext};
use serde::Deserialize;
use uuid::Uuid;

use super::not_found;
use crate::access::{self, Access, InActiveOrg, Settings};
use crate::entity::setting;
use crate::settings::{Setting, SettingScope, set_setting, validate};

const TAG: &str = "settings";

fn scope_of(access: &Access, kind: &str, module: Option<String>) -> Result<SettingScope, ApiError> {
    match (kind, module) {
        ("org", None) => Ok(SettingScope::org(access.org)),
        ("user", None) => Ok(SettingScope::user(access.org, access.user)),
        ("module", Some(m)) => Ok(SettingScope::module(access.org, m)),
        ("module", None) => Err(ApiError::validation(
            "module",
            "required for the module scope",
        )),
        ("org" | "user", Some(_)) => {
            Err(ApiError::validation("module", "only for the module scope"))
        }
        _ => Err(ApiError::validation(
            "scope",
            "must be `org`, `user` or `module`",
        )),
    }
}

/// Who may write settings of `scope`: the user their own, admins the org's and modules'.
fn may_write(access: &Access, scope: &str) -> Result<(), ApiError> {
    match scope {
        "user" => Ok(()),
        _ => access.require(Role::Admin),
    }
}

/// Whether the caller may see a stored setting (another user's is 404 to everyone).
fn visible(access: &Access, row: &setting::Model) -> bool {
    row.scope != "user" || row.scope_id == access.user.to_string()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SettingsQuery {
    /// `org`, `user` (the caller's own) or `module`.
    #[param(pattern = r"^(org|user|module)$")]
    pub scope: String,
    /// The module, for the module scope.
    pub module: Option<String>,
    pub namespace: Option<String>,
    pub key: Option<String>,
    /// The list keys, read by `ListQuery` and documented by [`SettingListParams`]; named here
    /// so unknown keys can be refused.
    #[expect(dead_code, reason = "read through ListQuery")]
    #[param(ignore)]
    pub page: Option<String>,
    #[expect(dead_code, reason = "read through ListQuery")]
    #[param(ignore)]
    pub limit: Option<String>,
    #[expect(dead_code, reason = "read through ListQuery")]
    #[param(ignore)]
    pub sort: Option<String>,
}

/// What `list` exposes: its order.
fn setting_list() -> ListSpec<setting::Entity> {
    ListSpec::new()
        .sortable("namespace", setting::Column::Namespace)
        .sortable("key", setting::Column::Key)
        .sortable("updated_at", setting::Column::UpdatedAt)
        .default_sort(setting::Column::Namespace, false)
        .default_sort(setting::Column::Key, false)
        .tiebreak(setting::Column::Id)
}

kernel::list_params!(SettingListParams, setting_list);

/// Settings of one scope, optionally one namespace or one key, paginated.
#[utoipa::path(tag = TAG, params(SettingsQuery, SettingListParams), responses((status = 200, body = kernel::http::Page<Setting>), (status = 422)))]
#[get("/settings")]
pub(crate) async fn list(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Read<Settings>>,
    q: web::Query<SettingsQuery>,
    query: ListQuery,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let q = q.into_inner();
    let scope = scope_of(&access, &q.scope, q.module)?;
    let spec = setting_list();
    let mut select = tx
        .repo::<setting::Entity>()
        .find()
        .filter(setting::Column::Scope.eq(scope.kind()))
        .filter(setting::Column::ScopeId.eq(scope.scope_id()));
    if let Some(ns) = q.namespace {
        select = select.filter(setting::Column::Namespace.eq(ns));
    }
    if let Some(key) = q.key {
        select = select.filter(setting::Column::Key.eq(key));
    }
    let page = tx.page(spec.apply(&query, select)?, &query).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(Setting::from)))
}

#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSetting {
    /// `org`, `user` (the caller's own) or `module`.
    #[garde(skip)]
    #[schema(pattern = r"^(org|user|module)$")]
    pub scope: String,
    /// The module, for the module scope.
    #[garde(skip)]
    pub module: Option<String>,
    #[garde(skip)]
    pub namespace: String,
    #[garde(skip)]
    pub key: String,
    /// Any JSON value (up to 64 KiB).
    #[garde(skip)]
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

/// Creates or replaces one setting.
#[utoipa::path(tag = TAG, request_body = PutSetting, responses(
    (status = 200, body = Setting), (status = 403), (status = 422)))]
#[put("/settings")]
pub(crate) async fn put(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Settings>>,
    body: ValidJson<PutSetting>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let body = body.0;
    let scope = scope_of(&access, &body.scope, body.module)?;
    validate(&scope, &body.namespace, &body.key)?;
    may_write(&access, scope.kind())?;
    let saved = set_setting(
        &tx,
        &scope,
        &body.namespace,
        &body.key,
        body.value,
        Some(access.user),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// One setting by id.
#[utoipa::path(tag = TAG, responses((status = 200, body = Setting), (status = 404)))]
#[get("/settings/{id}")]
pub(crate) async fn get_one(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Read<Settings>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let row = tx
        .repo::<setting::Entity>()
        .get(id.into_inner())
        .await?
        .filter(|r| visible(&access, r))
        .ok_or_else(|| not_found("setting"))?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Setting::from(row)))
}

/// Deletes one setting (readers then get their default).
#[utoipa::path(tag = TAG, responses((status = 204, description = "deleted"), (status = 403), (status = 404)))]
#[delete("/settings/{id}")]
pub(crate) async fn delete_one(
    ctx: CellContext,
    tx: Scoped<InActiveOrg, Write<Settings>>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let access = access::of(&ctx, &tx).await?;
    let repo = tx.repo::<setting::Entity>();
    let row = repo
        .get(id.into_inner())
        .await?
        .filter(|r| visible(&access, r))
        .ok_or_else(|| not_found("setting"))?;
    may_write(&access, &row.scope)?;
    repo.delete(row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
