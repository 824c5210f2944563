//! The cell's Redis connection pool (deadpool-redis), shared by the Redis backends of the cache
//! and the rate limiter. Every call is bounded by `redis.timeout_ms`: a stopped or stuck Redis
//! turns into an error, never a hang.

use std::time::Duration;

use deadpool_redis::{Pool, Runtime};
use secrecy::ExposeSecret;

use crate::config::RedisSection;
use crate::context::HealthCheck;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
}

#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Redis {
    /// Builds the pool; connections are opened on first use.
    pub fn new(cfg: &RedisSection) -> Result<Self, String> {
        let url = cfg
            .url
            .as_ref()
            .ok_or("redis.url is unset: set CELL__REDIS__URL")?;
        let timeout = Duration::from_millis(cfg.timeout_ms);
        // `rediss://`: the Redis client builds its TLS configuration on rustls's process-wide
        // provider, which the build cannot pick on its own (two are linked): aws-lc-rs, as the
        // kernel's other TLS clients use. Refused only when another one is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pool = deadpool_redis::Config::from_url(url.expose_secret())
            .builder()
            .map_err(|e| format!("redis.url: {e}"))?
            .max_size(cfg.pool_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| format!("redis pool: {e}"))?;
        Ok(Self { pool, timeout })
    }

    async fn bounded<T, F>(&self, fut: F) -> Result<T, RedisError>
    where
        F: std::future::Future<Output = Result<T, RedisError>>,
    {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| RedisError::Timeout(self.timeout.as_millis() as u64))?
    }

    /// Runs one command.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        self.bounded(async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| RedisError::Redis(e.to_string()))?;
            cmd.query_async(&mut conn)
                .await
                .map_err(|e| RedisError::Redis(e.to_string()))
        })
        .await
    }

    /// Runs a Lua script (cached server-side by its hash).
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[i64],
    ) -> Result<T, RedisError> {
        self.bounded(async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| RedisError::Redis(e.to_string()))?;
            let mut invocation = script.prepare_invoke();
            for k in keys {
                invocation.key(*k);
            }
            for a in args {
                invocation.arg(*a);
            }
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| RedisError::Redis(e.to_string()))
        })
        .await
    }
}

/// `/health/ready` check: PING.
/// What readiness says while Redis does not answer.
const DEGRADED: &str = "unreachable: cache, rate limits and sign-in lockouts count in each \
instance's memory; revoked sessions are checked in the database";

pub(crate) struct RedisCheck(pub Redis);

#[async_trait::async_trait(?Send)]
impl HealthCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.0
            .query::<String>(&redis::cmd("PING"))
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::warn!(error = %e, "redis readiness check failed");
                DEGRADED.to_owned()
            })
    }

    /// The cell serves on without Redis: see [`DEGRADED`].
    fn critical(&self) -> bool {
        false
    }
}
