//! The cache: in-process (moka) or Redis, chosen by `cache.backend`. Keys are always
//! `<cell>:<org>:<key>` (`<cell>:_:<key>` for data of no org), so cells sharing a Redis and orgs
//! sharing a cell never read each other's entries.
//!
//! Reads and writes are best-effort: the cache never takes the cell down. While Redis fails,
//! reads and writes go to an in-process store instead (logged, and `/health/ready` says so), so
//! per-instance state such as sign-in lockouts keeps working; [`ScopedCache::try_get`] tells a
//! caller that must not guess (the logout deny-list) that the shared store did not answer.
//! Invalidation reports failure, because a silently failed invalidation serves stale data.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::redis::{Redis, RedisError};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Redis(#[from] RedisError),
}

#[async_trait::async_trait]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Reads and removes an entry in one step: two callers never both get it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError>;
    /// [`Store::get`] from the shared store only: an error when it fails, never a fallback.
    async fn get_shared(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.get(key).await
    }
}

#[derive(Clone)]
struct Entry {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Entry,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Entry,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

struct Memory(moka::future::Cache<String, Entry>);

impl Memory {
    fn new(max_entries: u64) -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .support_invalidation_closures()
                .build(),
        )
    }
}

#[async_trait::async_trait]
impl Store for Memory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.0.get(key).await.map(|e| e.bytes.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.0
            .insert(
                key.to_owned(),
                Entry {
                    bytes: value.into(),
                    ttl,
                },
            )
            .await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.0.invalidate(key).await;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.0.remove(key).await.map(|e| e.bytes.to_vec()))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        // Invalidated entries are never returned again, even before moka removes them.
        let prefix = prefix.to_owned();
        self.0
            .invalidate_entries_if(move |k, _| k.starts_with(&prefix))
            .map(|_| ())
            .map_err(|e| CacheError::Redis(RedisError::Redis(e.to_string())))
    }
}

struct RedisStore(Redis);

/// Escapes Redis glob characters so a prefix matches literally.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.0.query(redis::cmd("GET").arg(key)).await?)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let ms = ttl.as_millis().max(1) as u64;
        self.0
            .query::<()>(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ms))
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.0.query::<()>(redis::cmd("DEL").arg(key)).await?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.0.query(redis::cmd("GETDEL").arg(key)).await?)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .0
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            if !keys.is_empty() {
                self.0.query::<()>(redis::cmd("UNLINK").arg(keys)).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// Redis, with this instance's memory standing in while Redis fails.
struct WithFallback {
    shared: RedisStore,
    local: Memory,
}

#[async_trait::async_trait]
impl Store for WithFallback {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self.shared.get(key).await {
            Ok(hit) => Ok(hit),
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; using this instance's memory");
                self.local.get(key).await
            }
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self.shared.set(key, value, ttl).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "cache write failed; kept in this instance's memory");
                self.local.set(key, value, ttl).await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.local.delete(key).await?;
        self.shared.delete(key).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self.shared.take(key).await {
            Ok(Some(hit)) => Ok(Some(hit)),
            // What was kept here while Redis failed.
            Ok(None) => self.local.take(key).await,
            Err(e) => {
                tracing::warn!(error = %e, "cache take failed; using this instance's memory");
                self.local.take(key).await
            }
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        self.local.delete_prefix(prefix).await?;
        self.shared.delete_prefix(prefix).await
    }

    async fn get_shared(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.shared.get(key).await
    }
}

/// The cell's cache. Cheap to clone; reach it with `ctx.cache()`, then scope it to an org.
#[derive(Clone)]
pub struct Cache {
    store: Arc<dyn Store>,
    cell: Arc<str>,
    default_ttl: Duration,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("cell", &self.cell).finish()
    }
}

impl Cache {
    pub fn memory(cell: &str, max_entries: u64, default_ttl: Duration) -> Self {
        Self {
            store: Arc::new(Memory::new(max_entries)),
            cell: cell.into(),
            default_ttl,
        }
    }

    /// Redis, with an in-process store of at most `max_entries` standing in while it fails.
    pub fn redis(cell: &str, redis: Redis, max_entries: u64, default_ttl: Duration) -> Self {
        Self {
            store: Arc::new(WithFallback {
                shared: RedisStore(redis),
                local: Memory::new(max_entries),
            }),
            cell: cell.into(),
            default_ttl,
        }
    }

    /// Entries of one organization.
    pub fn org(&self, org_id: Uuid) -> ScopedCache {
        self.scope(&org_id.to_string())
    }

    /// Entries that belong to no organization.
    pub fn global(&self) -> ScopedCache {
        self.scope("_")
    }

    fn scope(&self, org: &str) -> ScopedCache {
        ScopedCache {
            store: self.store.clone(),
            prefix: format!("{}:{org}:", self.cell),
            default_ttl: self.default_ttl,
        }
    }
}

/// The cache seen by one org: every key is prefixed with the cell and the org.
#[derive(Clone)]
pub struct ScopedCache {
    store: Arc<dyn Store>,
    prefix: String,
    default_ttl: Duration,
}

impl std::fmt::Debug for ScopedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedCache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl ScopedCache {
    /// The full key stored in the backend.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A cached value, or `None` on a miss, an expired entry, an undecodable entry, or a backend
    /// failure (logged).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.store.get(&self.key(key)).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; treated as a miss");
                None
            }
        }
    }

    /// The value in the shared store, or an error when it did not answer: for callers that must
    /// not take a failure for a miss (is this session revoked?) and have a source of truth to
    /// ask instead. With the in-process backend it never fails.
    pub async fn try_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        Ok(self
            .store
            .get_shared(&self.key(key))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Stores a value for `ttl` (the cell's `cache.ttl` when `None`). Failures are logged.
    pub async fn set<T: Serialize>(&self, key: &str, value: &T, ttl: Option<Duration>) {
        let Ok(bytes) = serde_json::to_vec(value) else {
            tracing::warn!(key, "cache value does not serialize; not cached");
            return;
        };
        if let Err(e) = self
            .store
            .set(&self.key(key), &bytes, ttl.unwrap_or(self.default_ttl))
            .await
        {
            tracing::warn!(error = %e, "cache write failed");
        }
    }

    /// Reads and removes an entry in one step, so it is used once across instances (a
    /// single-use ticket): `None` on a miss, an expired or undecodable entry, or a backend
    /// failure (logged).
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.store.take(&self.key(key)).await {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "cache take failed; treated as a miss");
                None
            }
        }
    }

    /// Removes one entry.
    pub async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        self.store.delete(&self.key(key)).await
    }

    /// Removes every entry whose key starts with `prefix` (`""`: the whole scope).
    pub async fn invalidate_prefix(&self, prefix: &str) -> Result<(), CacheError> {
        self.store.delete_prefix(&self.key(prefix)).await
    }

    /// Cache-aside: the cached value, or `load()`'s, which is then cached. Errors of `load` are
    /// returned and nothing is cached.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        load: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.get(key).await {
            metrics::counter!("cache_requests_total", "result" => "hit").increment(1);
            return Ok(hit);
        }
        metrics::counter!("cache_requests_total", "result" => "miss").increment(1);
        let value = load().await?;
        self.set(key, &value, ttl).await;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
