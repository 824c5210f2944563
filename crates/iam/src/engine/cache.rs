//! The cross-query cache of sub-problem results, keyed by revision.
//!
//! A sub-problem is one `(object, relation, subject)` node of a check, as the checker memoises
//! it within a query. Its result depends only on the org's tuples at one revision (and on the
//! engine's schema, which is fixed per engine, and on the request's caveat context where a caveat
//! was met), so entries are keyed by `(org, revision, context, node)`: the context is the
//! request context's fingerprint for results that evaluated a caveat, 0 for the others (they
//! hold whatever the context). A query only reads entries of the revision it runs at. Every write bumps the org's
//! revision in its own transaction, so a query that starts after a write reads the new revision
//! and never sees an entry computed before it: nothing is ever invalidated, stale revisions just
//! stop being read and age out (least recently used first) once the cache is full.
//!
//! The cache also remembers the newest revision it has seen per org. A query that only asks for
//! an answer "at least as fresh as" a token can then be answered at that revision without a
//! database round trip when its result is cached.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::future::Cache;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use uuid::Uuid;

use super::check::{Key, Memo};

/// How many sub-problem results an engine keeps across queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Results kept, over all orgs and revisions together; `0` disables the cache (every query
    /// resolves everything from the database).
    pub max_entries: u64,
}

impl CacheConfig {
    /// The default bound: 100 000 results (a few tens of MB).
    pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

    pub fn disabled() -> Self {
        Self { max_entries: 0 }
    }

    pub fn max_entries(max_entries: u64) -> Self {
        Self { max_entries }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::max_entries(Self::DEFAULT_MAX_ENTRIES)
    }
}

/// Counters of an engine's cache (all zero when it is disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Results held now.
    pub entries: u64,
    /// Sub-problems answered from the cache.
    pub hits: u64,
    /// Sub-problems looked up and not found (or not usable at the depth they were needed).
    pub misses: u64,
    /// Queries answered entirely from the cache, without opening a transaction.
    pub answered_without_db: u64,
}

/// Orgs whose newest revision is remembered (for "at least as fresh as" reads).
const KNOWN_ORGS: u64 = 10_000;

/// The org, its revision, the request context's fingerprint (0: any context), the node.
type CacheKey = (Uuid, i64, u64, Key);

pub(crate) struct SubproblemCache {
    results: Cache<CacheKey, Memo>,
    latest: Cache<Uuid, i64>,
    max_entries: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    without_db: AtomicU64,
}

impl fmt::Debug for SubproblemCache {
    // moka's own Debug lists every entry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubproblemCache")
            .field("max_entries", &self.max_entries)
            .field("entries", &self.results.entry_count())
            .finish_non_exhaustive()
    }
}

impl SubproblemCache {
    /// `None` when the configuration disables caching.
    pub fn new(config: CacheConfig) -> Option<Self> {
        (config.max_entries > 0).then(|| Self {
            // LRU rather than TinyLFU: an entry of a superseded revision is never read again, so
            // recency is exactly what separates live entries from dead ones, and TinyLFU's
            // admission filter would keep refusing the new revision's entries while the old,
            // once popular ones fill the cache.
            results: Cache::builder()
                .max_capacity(config.max_entries)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            latest: Cache::builder()
                .max_capacity(KNOWN_ORGS)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            max_entries: config.max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            without_db: AtomicU64::new(0),
        })
    }

    /// The result of a node at one revision, if cached and valid at `depth`.
    /// Results that met no caveat are kept for every context (under 0); the others under the
    /// request context's fingerprint.
    pub async fn get(&self, at: &Scope<'_>, key: &Key, depth: u32) -> Option<Memo> {
        let mut hit = self
            .results
            .get(&(at.org, at.revision, 0, key.clone()))
            .await;
        if hit.is_none() && at.context != 0 {
            hit = self
                .results
                .get(&(at.org, at.revision, at.context, key.clone()))
                .await;
        }
        // A result that read a tuple since expired is stale.
        let now = chrono::Utc::now();
        let hit = hit.filter(|m| m.usable_at(depth) && m.valid_until.is_none_or(|v| v > now));
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    pub async fn put(&self, at: &Scope<'_>, key: Key, memo: Memo) {
        let context = if memo.contextual { at.context } else { 0 };
        self.results
            .insert((at.org, at.revision, context, key), memo)
            .await;
    }

    pub fn answered_without_db(&self) {
        self.without_db.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that `revision` of `org` is committed; the remembered value only grows.
    pub async fn observe(&self, org: Uuid, revision: i64) {
        self.latest
            .entry(org)
            .and_compute_with(|old| async move {
                match old {
                    Some(e) if *e.value() >= revision => Op::Nop,
                    _ => Op::Put(revision),
                }
            })
            .await;
    }

    /// The newest revision of `org` this cache has seen committed.
    pub async fn latest(&self, org: Uuid) -> Option<i64> {
        self.latest.get(&org).await
    }

    pub async fn stats(&self) -> CacheStats {
        self.results.run_pending_tasks().await;
        CacheStats {
            entries: self.results.entry_count(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            answered_without_db: self.without_db.load(Ordering::Relaxed),
        }
    }
}

/// The cache as one query sees it: its org and the revision it runs at.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'c> {
    pub cache: &'c SubproblemCache,
    pub org: Uuid,
    pub revision: i64,
    /// The fingerprint of the request's caveat context, which answers that went through a
    /// caveat depend on; 0 when the schema has no caveats (no answer depends on a context).
    pub context: u64,
}
