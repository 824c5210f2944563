//! Rate limits: fixed-window counters per route group, in process (moka) or in Redis, with the
//! same semantics on both so one set of limits means the same thing everywhere.
//!
//! Each request is counted against its group's limit under its caller (API key, else user, else
//! client IP) and, when the group sets `org_limit`, under its org too. Every limited response
//! carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; a refusal is a 429 `rate_limited`
//! envelope with `Retry-After`. If Redis is unreachable the limiter counts in this instance's
//! memory instead (logged, and `/health/ready` says so): each instance then enforces the limits
//! on its own share of the traffic, which is looser than one shared count but never open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::redis::Redis;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBackend {
    #[default]
    Memory,
    Redis,
}

/// The limit of one route group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLimit {
    /// Requests per window for one caller.
    pub limit: u64,
    pub window_secs: u64,
    /// Requests per window for a whole org (all its callers together); none by default.
    #[serde(default)]
    pub org_limit: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    pub enabled: bool,
    pub backend: RateLimitBackend,
    /// Limits by group name. The defaults are the specs': `general` 100/min, `ai` 20/min,
    /// `uploads` 10/min, `login` 10 per 15 min (keyed by email by the auth module), `login_ip`
    /// 100 per 15 min (credential endpoints per client address). Groups a cell names are added
    /// to these or replace them one by one: naming one never drops the others (a cell setting
    /// `general` alone would otherwise lift the sign-in limits).
    #[serde(deserialize_with = "over_default_groups")]
    pub groups: BTreeMap<String, GroupLimit>,
    /// Path prefix → group (`"/api/v1/ai" = "ai"`); the longest matching prefix wins, other
    /// requests use `general`. Health, metrics and docs are never limited.
    pub routes: BTreeMap<String, String>,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        let g = |limit, window_secs| GroupLimit {
            limit,
            window_secs,
            org_limit: None,
        };
        Self {
            enabled: true,
            backend: RateLimitBackend::Memory,
            groups: BTreeMap::from([
                ("general".to_owned(), g(100, 60)),
                ("ai".to_owned(), g(20, 60)),
                ("uploads".to_owned(), g(10, 60)),
                ("login".to_owned(), g(10, 900)),
                ("login_ip".to_owned(), g(100, 900)),
            ]),
            routes: BTreeMap::new(),
        }
    }
}

fn over_default_groups<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, GroupLimit>, D::Error> {
    let mut groups = RateLimitSection::default().groups;
    groups.extend(BTreeMap::<String, GroupLimit>::deserialize(d)?);
    Ok(groups)
}

impl RateLimitSection {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.groups.contains_key("general") {
            return Err(
                "rate_limit.groups.general is required (it applies to unmapped routes)".into(),
            );
        }
        for (name, g) in &self.groups {
            if g.limit == 0 || g.window_secs == 0 || g.org_limit == Some(0) {
                return Err(format!(
                    "rate_limit.groups.{name}: limit, window_secs and org_limit must be at least 1"
                ));
            }
        }
        for (prefix, group) in &self.routes {
            if !self.groups.contains_key(group) {
                return Err(format!(
                    "rate_limit.routes.\"{prefix}\" names unknown group `{group}`"
                ));
            }
        }
        Ok(())
    }

    /// The group of a request path, or `None` for paths that are never limited.
    pub fn group_of(&self, path: &str) -> Option<&str> {
        if path.starts_with("/health/") || path == "/metrics" || path.starts_with("/api-docs") {
            return None;
        }
        self.routes
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, g)| g.as_str())
            .or(Some("general"))
    }
}

/// The outcome of counting one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the window resets.
    pub reset_after: Duration,
}

#[async_trait::async_trait]
trait Counter: Send + Sync {
    /// Adds one hit to `key` in the current window of `window`; returns the count so far.
    async fn hit(&self, key: &str, window: Duration, window_index: u64) -> Result<u64, String>;
}

struct WindowTtl;

impl moka::Expiry<String, (Arc<AtomicU64>, Duration)> for WindowTtl {
    fn expire_after_create(
        &self,
        _: &String,
        value: &(Arc<AtomicU64>, Duration),
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

struct MemoryCounter(moka::future::Cache<String, (Arc<AtomicU64>, Duration)>);

impl MemoryCounter {
    fn new() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(WindowTtl)
                .build(),
        )
    }
}

#[async_trait::async_trait]
impl Counter for MemoryCounter {
    async fn hit(&self, key: &str, window: Duration, window_index: u64) -> Result<u64, String> {
        let entry = self
            .0
            .get_with(format!("{key}:{window_index}"), async {
                (Arc::new(AtomicU64::new(0)), window)
            })
            .await;
        Ok(entry.0.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

struct RedisCounter {
    redis: Redis,
    script: redis::Script,
}

#[async_trait::async_trait]
impl Counter for RedisCounter {
    async fn hit(&self, key: &str, window: Duration, window_index: u64) -> Result<u64, String> {
        let key = format!("{key}:{window_index}");
        let count: i64 = self
            .redis
            .script(&self.script, &[&key], &[window.as_millis() as i64])
            .await
            .map_err(|e| e.to_string())?;
        Ok(count.max(0) as u64)
    }
}

/// Counts hits. Reach it with `ctx.rate_limiter()`; the HTTP middleware uses it for every
/// request, and modules use [`RateLimiter::hit`] for limits on other keys (login per email).
#[derive(Clone)]
pub struct RateLimiter {
    counter: Arc<dyn Counter>,
    /// Counts here while the shared counter (Redis) fails.
    fallback: Option<Arc<MemoryCounter>>,
    cfg: Arc<RateLimitSection>,
    prefix: Arc<str>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl RateLimiter {
    pub fn memory(cell: &str, cfg: RateLimitSection) -> Self {
        Self {
            counter: Arc::new(MemoryCounter::new()),
            fallback: None,
            cfg: Arc::new(cfg),
            prefix: format!("{cell}:rl").into(),
        }
    }

    pub fn redis(cell: &str, cfg: RateLimitSection, redis: Redis) -> Self {
        let script = redis::Script::new(
            "local c = redis.call('INCR', KEYS[1]) \
             if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
             return c",
        );
        Self {
            counter: Arc::new(RedisCounter { redis, script }),
            fallback: Some(Arc::new(MemoryCounter::new())),
            cfg: Arc::new(cfg),
            prefix: format!("{cell}:rl").into(),
        }
    }

    pub fn config(&self) -> &RateLimitSection {
        &self.cfg
    }

    /// Counts one hit of `subject` (`user:<id>`, `email:<address>`, …) against `group`'s limit;
    /// `org_wide` uses the group's `org_limit` instead. Unknown groups are never limited.
    pub async fn hit(&self, group: &str, subject: &str, org_wide: bool) -> Option<Decision> {
        let g = self.cfg.groups.get(group)?;
        let limit = if org_wide { g.org_limit? } else { g.limit };
        let window = Duration::from_secs(g.window_secs);
        let window_ms = window.as_millis().max(1) as u64;
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let index = now_ms / window_ms;
        let reset_after = Duration::from_millis((index + 1) * window_ms - now_ms);
        let key = format!("{}:{group}:{subject}", self.prefix);
        let count = match self.counter.hit(&key, window, index).await {
            Ok(count) => count,
            Err(e) => {
                let fallback = self.fallback.as_ref()?;
                tracing::warn!(error = %e, group, "shared rate limiter unavailable; counting in this instance");
                metrics::counter!("rate_limit_fallback_total").increment(1);
                fallback.hit(&key, window, index).await.ok()?
            }
        };
        Some(Decision {
            allowed: count <= limit,
            limit,
            remaining: limit.saturating_sub(count),
            reset_after,
        })
    }
}
