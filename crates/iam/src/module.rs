//! The iam module as the kernel sees it: its migrations, and at start-up the composition and
//! validation of the permission schemas every enabled module declares.

use std::collections::BTreeMap;

use crate::engine::{CacheConfig, Engine};
use crate::schema::{Schema, spicedb, validate};

/// Owns `permission_tuples`, `permission_revisions` and `iam_roles`; at start-up composes the
/// enabled modules' permission schemas (with its own `user`, `org`, `team`, `role` and the
/// custom roles woven in) into one engine, refusing to start on any schema error, and shares
/// the engine with the cell (`iam::engine(&ctx)`).
#[derive(Debug, Default)]
pub struct Iam {
    settings: Settings,
}

/// `[modules.iam]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Sub-problem results the engine's cache keeps (default 100 000; 0 disables it).
    cache_entries: Option<u64>,
}

#[kernel::async_trait::async_trait]
impl kernel::PlatformModule for Iam {
    fn name(&self) -> &'static str {
        "iam"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn configure(&mut self, settings: &kernel::module::ModuleSettings) -> Result<(), String> {
        self.settings = kernel::module::parse_settings(settings)?;
        Ok(())
    }

    /// Expired relationships are already absent from every answer; every hour (at :17) they are
    /// deleted.
    fn scheduled_jobs(&self) -> Vec<kernel::module::ScheduledJob> {
        vec![kernel::module::ScheduledJob {
            name: "expired_relationships",
            cron: "17 * * * *",
            handler: std::sync::Arc::new(PurgeExpired),
        }]
    }

    fn migrations(&self) -> Vec<Box<dyn kernel::sea_orm_migration::MigrationTrait>> {
        vec![
            Box::new(crate::store::CreatePermissionTuples),
            Box::new(crate::platform::roles::CreateRoles),
            Box::new(crate::store::RevisionSignal),
            Box::new(crate::store::CaveatsAndExpiry),
        ]
    }

    fn permission_schema(&self) -> &'static str {
        crate::platform::BASE_SCHEMA
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        crate::platform::http::configure(cfg);
    }

    fn authorizer(&self) -> Option<std::sync::Arc<dyn kernel::http::Authorizer>> {
        Some(std::sync::Arc::new(
            crate::platform::extract::GraphAuthorizer,
        ))
    }

    async fn on_ready(&self, ctx: &kernel::CellContext) -> anyhow::Result<()> {
        let declared: Vec<(&'static str, &'static str)> = ctx
            .modules()
            .iter()
            .map(|m| (m.module.name(), m.module.permission_schema()))
            .collect();
        let schema = compose_schema(declared)
            .and_then(crate::platform::with_custom_roles)
            .map_err(anyhow::Error::msg)?;
        let cache = self
            .settings
            .cache_entries
            .map_or_else(CacheConfig::default, CacheConfig::max_entries);
        tracing::info!(
            types = schema.types.len(),
            cache_entries = cache.max_entries,
            "permission schema ready"
        );
        let engine = Engine::with_cache(ctx.db().clone(), schema, cache);
        engine.follow(ctx.signals());
        ctx.provide(engine);
        Ok(())
    }
}

struct PurgeExpired;

#[kernel::async_trait::async_trait]
impl kernel::module::JobHandler for PurgeExpired {
    async fn run(&self, ctx: &kernel::CellContext, _job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let purged = crate::store::purge_expired(ctx.db(), chrono::Utc::now()).await?;
        if purged > 0 {
            tracing::info!(purged, "expired relationships deleted");
        }
        Ok(())
    }
}

/// Parses each module's permission schema (SpiceDB syntax), merges them, and validates the
/// whole: modules may refer to each other's types. Every error names the module it is in.
pub fn compose_schema<'a>(
    declared: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Schema, String> {
    let mut schema = Schema::default();
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    let mut errors = Vec::new();
    for (module, src) in declared {
        if src.trim().is_empty() {
            continue;
        }
        match spicedb::parse(src) {
            Ok(part) => {
                for (name, def) in part.types {
                    if let Some(first) = owner.get(&name) {
                        errors.push(format!(
                            "module `{module}`: type `{name}` is already defined by module `{first}`"
                        ));
                        continue;
                    }
                    owner.insert(name.clone(), module);
                    schema.types.insert(name, def);
                }
                for (name, caveat) in part.caveats {
                    if schema.caveats.contains_key(&name) {
                        errors.push(format!(
                            "module `{module}`: caveat `{name}` is already defined by another module"
                        ));
                        continue;
                    }
                    schema.caveats.insert(name, caveat);
                }
            }
            Err(e) => errors.extend(e.0.iter().map(|e| format!("module `{module}`: {e}"))),
        }
    }
    if errors.is_empty()
        && let Err(e) = validate(&schema)
    {
        for err in e.0 {
            // Messages start with the `type#relation` they are about.
            let module = err
                .message
                .strip_prefix('`')
                .and_then(|m| m.split(['#', '`']).next())
                .and_then(|t| owner.get(t));
            errors.push(match module {
                Some(m) => format!("module `{m}`: {err}"),
                None => err.to_string(),
            });
        }
    }
    if errors.is_empty() {
        Ok(schema)
    } else {
        Err(format!("invalid permission schema: {}", errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use kernel::PlatformModule as _;

    use super::{Iam, compose_schema};

    #[test]
    fn the_cache_size_is_a_setting() -> anyhow::Result<()> {
        let mut iam = Iam::default();
        let settings = |v: serde_json::Value| -> anyhow::Result<kernel::module::ModuleSettings> {
            Ok(serde_json::from_value(v)?)
        };
        iam.configure(&settings(serde_json::json!({ "cache_entries": 0 }))?)
            .map_err(anyhow::Error::msg)?;
        assert_eq!(iam.settings.cache_entries, Some(0));
        let unknown = iam.configure(&settings(serde_json::json!({ "cache": 1 }))?);
        assert!(unknown.is_err_and(|e| e.contains("unknown field `cache`")));
        Ok(())
    }

    #[test]
    fn modules_may_refer_to_each_others_types() -> anyhow::Result<()> {
        let schema = compose_schema([
            ("identity", "definition user {}\ndefinition team { relation member: user }"),
            ("tasks", "definition task { relation assignee: user | team#member\n permission view = assignee }"),
            ("empty", ""),
            ("docs", "caveat open(x int) { x > 0 }\ndefinition doc { relation viewer: user with open }"),
        ])
        .map_err(anyhow::Error::msg)?;
        assert_eq!(schema.types.len(), 4);
        assert!(
            schema.caveats.contains_key("open"),
            "caveats of every module are kept"
        );
        Ok(())
    }

    #[test]
    fn errors_name_the_module() {
        let dup = compose_schema([("a", "definition user {}"), ("b", "definition user {}")]);
        assert_eq!(
            dup.err().as_deref(),
            Some(
                "invalid permission schema: module `b`: type `user` is already defined by module `a`"
            )
        );
        let undefined = compose_schema([
            ("a", "definition user {}"),
            (
                "b",
                "definition doc { relation viewer: user\n permission view = viewr }",
            ),
        ]);
        assert!(
            undefined
                .err()
                .is_some_and(|e| e.contains("module `b`: `doc#view` refers to `viewr`"))
        );
        let syntax = compose_schema([("c", "definition doc {\n relation viewer user }")]);
        assert!(
            syntax
                .err()
                .is_some_and(|e| e.contains("module `c`: line 2: expected `:`"))
        );
    }
}
