//! Settings: per org, per user (inside an org) and per module (inside an org), each a
//! `namespace`/`key` → JSON value, read by modules with a typed default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, Condition, QueryFilter, QueryOrder};
use kernel::{ApiError, Db, TenantTx};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::entity::setting;

/// Largest stored value, serialized.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Whose setting it is. Every scope lives inside one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingScope {
    /// The organization's own configuration (`branding`, `billing`).
    Org { org_id: Uuid },
    /// One user's preferences in the organization (`timezone`).
    User { org_id: Uuid, user_id: Uuid },
    /// A module's configuration in the organization (`crm`).
    Module { org_id: Uuid, module: String },
}

impl SettingScope {
    pub fn org(org_id: Uuid) -> Self {
        Self::Org { org_id }
    }

    pub fn user(org_id: Uuid, user_id: Uuid) -> Self {
        Self::User { org_id, user_id }
    }

    pub fn module(org_id: Uuid, module: impl Into<String>) -> Self {
        Self::Module {
            org_id,
            module: module.into(),
        }
    }

    pub fn org_id(&self) -> Uuid {
        match self {
            Self::Org { org_id } | Self::User { org_id, .. } | Self::Module { org_id, .. } => {
                *org_id
            }
        }
    }

    /// `org`, `user` or `module`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Org { .. } => "org",
            Self::User { .. } => "user",
            Self::Module { .. } => "module",
        }
    }

    /// The org id, the user id, or the module name, as stored.
    pub fn scope_id(&self) -> String {
        match self {
            Self::Org { org_id } => org_id.to_string(),
            Self::User { user_id, .. } => user_id.to_string(),
            Self::Module { module, .. } => module.clone(),
        }
    }
}

/// A stored setting as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Setting {
    pub id: Uuid,
    /// `org`, `user` or `module`.
    pub scope: String,
    /// The org id, the user id, or the module name.
    pub scope_id: String,
    pub namespace: String,
    pub key: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

impl From<setting::Model> for Setting {
    fn from(m: setting::Model) -> Self {
        Self {
            id: m.id,
            scope: m.scope,
            scope_id: m.scope_id,
            namespace: m.namespace,
            key: m.key,
            value: m.value,
            updated_by: m.updated_by,
            updated_at: m.updated_at,
        }
    }
}

fn token_ok(s: &str, max: usize, upper: bool) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'.')
                || (upper && b.is_ascii_uppercase())
        })
}

/// 422 unless the namespace, key and module name are well-formed.
pub(crate) fn validate(scope: &SettingScope, namespace: &str, key: &str) -> Result<(), ApiError> {
    if !token_ok(namespace, 100, false) {
        return Err(ApiError::validation(
            "namespace",
            "1 to 100 characters of a-z, 0-9, _, - and .",
        ));
    }
    if !token_ok(key, 200, true) {
        return Err(ApiError::validation(
            "key",
            "1 to 200 characters of letters, digits, _, - and .",
        ));
    }
    if let SettingScope::Module { module, .. } = scope
        && !token_ok(module, 64, false)
    {
        return Err(ApiError::validation(
            "module",
            "a module name: 1 to 64 characters of a-z, 0-9 and _",
        ));
    }
    Ok(())
}

fn scoped(scope: &SettingScope) -> Condition {
    Condition::all()
        .add(setting::Column::Scope.eq(scope.kind()))
        .add(setting::Column::ScopeId.eq(scope.scope_id()))
}

/// The stored row of one setting, in `tx` (the scope's org).
pub(crate) async fn find(
    tx: &TenantTx,
    scope: &SettingScope,
    namespace: &str,
    key: &str,
) -> Result<Option<setting::Model>, ApiError> {
    let repo = tx.repo::<setting::Entity>();
    Ok(repo
        .find()
        .filter(scoped(scope))
        .filter(setting::Column::Namespace.eq(namespace))
        .filter(setting::Column::Key.eq(key))
        .one(repo.conn())
        .await?)
}

/// A setting's value as `T`, or `default` when it is not set. A stored value that is not a
/// `T` (settings are written by clients) also gives `default`, with a warning in the log, so a
/// bad value never breaks the module reading it.
pub async fn get_setting<T: DeserializeOwned>(
    db: &Db,
    scope: &SettingScope,
    namespace: &str,
    key: &str,
    default: T,
) -> Result<T, ApiError> {
    let tx = db.tenant(scope.org_id()).await?;
    let row = find(&tx, scope, namespace, key).await?;
    tx.commit().await?;
    let Some(row) = row else {
        return Ok(default);
    };
    match serde_json::from_value(row.value) {
        Ok(v) => Ok(v),
        Err(e) => {
            tracing::warn!(setting = %row.id, namespace, key, error = %e, "stored setting has an unexpected type; using the default");
            Ok(default)
        }
    }
}

/// Every setting of `namespace` in `scope`, by key.
pub async fn settings_in(
    db: &Db,
    scope: &SettingScope,
    namespace: &str,
) -> Result<BTreeMap<String, serde_json::Value>, ApiError> {
    let tx = db.tenant(scope.org_id()).await?;
    let repo = tx.repo::<setting::Entity>();
    let rows = repo
        .find()
        .filter(scoped(scope))
        .filter(setting::Column::Namespace.eq(namespace))
        .order_by_asc(setting::Column::Key)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|r| (r.key, r.value)).collect())
}

/// Sets (creates or replaces) one setting in `tx`, which must be scoped to the scope's org.
pub async fn set_setting(
    tx: &TenantTx,
    scope: &SettingScope,
    namespace: &str,
    key: &str,
    value: serde_json::Value,
    updated_by: Option<Uuid>,
) -> Result<Setting, ApiError> {
    if tx.org_id() != scope.org_id() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "set_setting: the transaction's org is not the scope's org"
        )));
    }
    validate(scope, namespace, key)?;
    if value.to_string().len() > MAX_VALUE_BYTES {
        return Err(ApiError::validation(
            "value",
            format!("at most {MAX_VALUE_BYTES} bytes of JSON"),
        ));
    }
    let repo = tx.repo::<setting::Entity>();
    let now = Utc::now();
    let saved = match find(tx, scope, namespace, key).await? {
        Some(existing) => {
            let mut m: setting::ActiveModel = existing.into();
            m.value = Set(value);
            m.updated_by = Set(updated_by);
            m.updated_at = Set(now);
            repo.update(m).await?
        }
        None => {
            repo.insert(setting::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                scope: Set(scope.kind().into()),
                scope_id: Set(scope.scope_id()),
                namespace: Set(namespace.to_owned()),
                key: Set(key.to_owned()),
                value: Set(value),
                updated_by: Set(updated_by),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await?
        }
    };
    Ok(saved.into())
}
