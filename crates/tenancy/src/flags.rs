//! Feature flags: a global flag (the cell operator's: default, rules, percentage rollout) and
//! per-organization overrides (the org's admins: for the whole org or one of its users).
//!
//! Resolution for a user in an org, first match wins:
//! 1. the org's override for this user, 2. a global `user` rule naming the user,
//! 3. the org's override for the org, 4. a global `org` rule naming the org,
//! 5. a global `percentage` rule whose bucket the user falls in (stable per flag and user; the
//!    org when there is no user), 6. the global default.
//!
//! Overrides count only while the flag is `overridable`, so the operator can pin a flag
//! (a kill switch). A flag that does not exist is off.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kernel::sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, Db};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{feature_flag, flag_override};

/// A rule of a global flag, in the spec's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FlagRule {
    /// These users get `enabled`.
    User { ids: Vec<Uuid>, enabled: bool },
    /// These organizations get `enabled`.
    Org { ids: Vec<Uuid>, enabled: bool },
    /// `value` percent of users (0–100) get `enabled`.
    Percentage { value: u8, enabled: bool },
}

/// A global feature flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeatureFlag {
    pub key: String,
    pub description: Option<String>,
    /// The global default.
    pub enabled: bool,
    /// Whether organizations may override it.
    pub overridable: bool,
    pub rules: Vec<FlagRule>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<feature_flag::Model> for FeatureFlag {
    type Error = ApiError;

    fn try_from(m: feature_flag::Model) -> Result<Self, ApiError> {
        Ok(Self {
            rules: serde_json::from_value(m.rules).map_err(ApiError::internal)?,
            key: m.key,
            description: m.description,
            enabled: m.enabled,
            overridable: m.overridable,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// An organization's overrides of one flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    pub org: Option<bool>,
    pub user: Option<bool>,
}

/// Resolves `flag` for `user` (or nobody) in `org`.
pub(crate) fn evaluate(
    flag: &FeatureFlag,
    org: Uuid,
    user: Option<Uuid>,
    overrides: Overrides,
) -> bool {
    let overrides = if flag.overridable {
        overrides
    } else {
        Overrides::default()
    };
    if let Some(v) = overrides.user {
        return v;
    }
    if let Some(user) = user {
        for rule in &flag.rules {
            if let FlagRule::User { ids, enabled } = rule
                && ids.contains(&user)
            {
                return *enabled;
            }
        }
    }
    if let Some(v) = overrides.org {
        return v;
    }
    for rule in &flag.rules {
        if let FlagRule::Org { ids, enabled } = rule
            && ids.contains(&org)
        {
            return *enabled;
        }
    }
    for rule in &flag.rules {
        if let FlagRule::Percentage { value, enabled } = rule
            && crate::token::bucket(&flag.key, user.unwrap_or(org)) < *value
        {
            return *enabled;
        }
    }
    flag.enabled
}

/// The overrides of `org` relevant to `user`, by flag.
async fn overrides_of(
    db: &Db,
    org: Uuid,
    user: Option<Uuid>,
    flag: Option<&str>,
) -> Result<BTreeMap<String, Overrides>, ApiError> {
    let tx = db.tenant(org).await?;
    let repo = tx.repo::<flag_override::Entity>();
    let mut who = Condition::any().add(
        Condition::all()
            .add(flag_override::Column::Scope.eq("org"))
            .add(flag_override::Column::SubjectId.eq(org)),
    );
    if let Some(user) = user {
        who = who.add(
            Condition::all()
                .add(flag_override::Column::Scope.eq("user"))
                .add(flag_override::Column::SubjectId.eq(user)),
        );
    }
    let mut q = repo.find().filter(who);
    if let Some(flag) = flag {
        q = q.filter(flag_override::Column::FlagKey.eq(flag));
    }
    let rows = q.all(repo.conn()).await?;
    tx.commit().await?;
    let mut out: BTreeMap<String, Overrides> = BTreeMap::new();
    for r in rows {
        let entry = out.entry(r.flag_key).or_default();
        match r.scope.as_str() {
            "user" => entry.user = Some(r.enabled),
            _ => entry.org = Some(r.enabled),
        }
    }
    Ok(out)
}

/// Whether `flag` is on for `user` (or, for work done on nobody's behalf, `None`) in `org`.
/// A flag the cell does not define is off.
pub async fn feature_enabled(
    db: &Db,
    flag: &str,
    org: Uuid,
    user: Option<Uuid>,
) -> Result<bool, ApiError> {
    let Some(row) = feature_flag::Entity::find_by_id(flag.to_owned())
        .one(db.conn())
        .await?
    else {
        return Ok(false);
    };
    let flag = FeatureFlag::try_from(row)?;
    let overrides = overrides_of(db, org, user, Some(&flag.key)).await?;
    Ok(evaluate(
        &flag,
        org,
        user,
        overrides.get(&flag.key).copied().unwrap_or_default(),
    ))
}

/// Every flag of the cell, resolved for `user` in `org`.
pub async fn resolved_flags(
    db: &Db,
    org: Uuid,
    user: Option<Uuid>,
) -> Result<BTreeMap<String, bool>, ApiError> {
    let flags = feature_flag::Entity::find()
        .order_by_asc(feature_flag::Column::Key)
        .all(db.conn())
        .await?;
    let overrides = overrides_of(db, org, user, None).await?;
    flags
        .into_iter()
        .map(|row| {
            let flag = FeatureFlag::try_from(row)?;
            let o = overrides.get(&flag.key).copied().unwrap_or_default();
            let on = evaluate(&flag, org, user, o);
            Ok((flag.key, on))
        })
        .collect()
}

/// A valid flag key: 1–100 of `a-z`, `0-9`, `_`, `-`, `.`.
pub(crate) fn valid_key(key: &str) -> bool {
    (1..=100).contains(&key.len())
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// 422 unless the rules are sane (percentages 0–100, at most 1000 ids per rule, 50 rules).
pub(crate) fn validate_rules(rules: &[FlagRule]) -> Result<(), ApiError> {
    if rules.len() > 50 {
        return Err(ApiError::validation("rules", "at most 50 rules"));
    }
    for (i, rule) in rules.iter().enumerate() {
        match rule {
            FlagRule::Percentage { value, .. } if *value > 100 => {
                return Err(ApiError::validation(
                    &format!("rules[{i}].value"),
                    "a percentage from 0 to 100",
                ));
            }
            FlagRule::User { ids, .. } | FlagRule::Org { ids, .. } if ids.len() > 1000 => {
                return Err(ApiError::validation(
                    &format!("rules[{i}].ids"),
                    "at most 1000 ids per rule",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(enabled: bool, rules: Vec<FlagRule>) -> FeatureFlag {
        FeatureFlag {
            key: "kanban_view".into(),
            description: None,
            enabled,
            overridable: true,
            rules,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn user_then_org_then_percentage_then_default() {
        let (org, other_org, user, other_user) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let none = Overrides::default();
        assert!(!evaluate(&flag(false, vec![]), org, Some(user), none));
        assert!(evaluate(&flag(true, vec![]), org, Some(user), none));

        let rules = vec![
            FlagRule::Org {
                ids: vec![org],
                enabled: true,
            },
            FlagRule::User {
                ids: vec![user],
                enabled: false,
            },
        ];
        let f = flag(false, rules);
        assert!(
            !evaluate(&f, org, Some(user), none),
            "the user rule beats the org rule"
        );
        assert!(evaluate(&f, org, Some(other_user), none), "the org rule");
        assert!(
            !evaluate(&f, other_org, Some(other_user), none),
            "the default"
        );
        // Org overrides beat global org rules but not global user rules; user overrides win.
        let org_off = Overrides {
            org: Some(false),
            user: None,
        };
        assert!(!evaluate(&f, org, Some(other_user), org_off));
        let user_on = Overrides {
            org: Some(false),
            user: Some(true),
        };
        assert!(evaluate(&f, org, Some(user), user_on));
        // A pinned flag ignores overrides.
        let pinned = FeatureFlag {
            overridable: false,
            ..f.clone()
        };
        assert!(!evaluate(&pinned, org, Some(user), user_on));

        let all = flag(
            false,
            vec![FlagRule::Percentage {
                value: 100,
                enabled: true,
            }],
        );
        let nobody = flag(
            true,
            vec![FlagRule::Percentage {
                value: 0,
                enabled: false,
            }],
        );
        assert!(evaluate(&all, org, Some(user), none));
        assert!(
            evaluate(&nobody, org, Some(user), none),
            "0 % matches nobody: the default"
        );
        let half = flag(
            false,
            vec![FlagRule::Percentage {
                value: 50,
                enabled: true,
            }],
        );
        let on = (0..1000)
            .filter(|_| evaluate(&half, org, Some(Uuid::now_v7()), none))
            .count();
        assert!((400..600).contains(&on), "{on}");
    }

    #[test]
    fn rules_have_the_spec_shape() -> Result<(), serde_json::Error> {
        let json = serde_json::json!([
            {"type": "org", "ids": [Uuid::nil()], "enabled": true},
            {"type": "percentage", "value": 25, "enabled": true}
        ]);
        let rules: Vec<FlagRule> = serde_json::from_value(json.clone())?;
        assert_eq!(serde_json::to_value(&rules)?, json);
        assert!(
            validate_rules(&[FlagRule::Percentage {
                value: 101,
                enabled: true
            }])
            .is_err()
        );
        assert!(valid_key("new_billing") && !valid_key("New Billing"));
        Ok(())
    }
}
