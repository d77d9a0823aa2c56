//! Per-client rate limits in fixed windows aligned to the clock, so every
//! instance agrees on when a window starts. Each path has its own budget, as
//! the brief's SlowAPI limits have, except the sign-in routes, which share
//! one ([`scope_of`]). Counts live in memory, or in
//! Redis when several instances must share one limit; if Redis fails the
//! limiter falls back to local counts and says so in the log, and the API
//! stays up.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use crate::config::RateLimitConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Auth,
    General,
    Heavy,
}

impl Tier {
    fn key(self) -> &'static str {
        match self {
            Tier::Auth => "auth",
            Tier::General => "general",
            Tier::Heavy => "heavy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix time (seconds) at which the window resets.
    pub reset_at: u64,
    /// Seconds until then, rounded up (for `Retry-After`).
    pub retry_after: u64,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    memory: MemoryCounts,
    redis: Option<RedisCounts>,
}

impl RateLimiter {
    pub fn new(
        config: RateLimitConfig,
        redis_url: Option<&str>,
        key_prefix: &str,
    ) -> anyhow::Result<Self> {
        let redis = match redis_url {
            Some(url) => Some(RedisCounts::new(url, key_prefix)?),
            None => None,
        };
        Ok(Self {
            config,
            memory: MemoryCounts::default(),
            redis,
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn limit(&self, tier: Tier) -> u32 {
        match tier {
            Tier::Auth => self.config.auth,
            Tier::General => self.config.general,
            Tier::Heavy => self.config.heavy,
        }
    }

    /// Counts one request from `client` against `tier` at `now_ms`, in the
    /// budget named `scope` (see [`scope_of`]).
    pub async fn check(&self, tier: Tier, client: IpAddr, scope: &str, now_ms: u64) -> Decision {
        let window_ms = self.config.window.as_millis().max(1) as u64;
        let window_index = now_ms / window_ms;
        let scope = bounded(scope);
        let count = match &self.redis {
            Some(redis) => match redis
                .incr(tier, client, &scope, window_index, window_ms)
                .await
            {
                Some(count) => count,
                None => self.memory.incr(tier, client, &scope, window_index),
            },
            None => self.memory.incr(tier, client, &scope, window_index),
        };
        let limit = self.limit(tier);
        let reset_ms = (window_index + 1) * window_ms;
        Decision {
            allowed: count <= u64::from(limit),
            limit,
            remaining: u64::from(limit).saturating_sub(count) as u32,
            reset_at: reset_ms.div_ceil(1000),
            retry_after: (reset_ms - now_ms).div_ceil(1000).max(1),
        }
    }
}

/// The budget a request counts in, as the brief's SlowAPI limits count: each
/// path has its own (`/products` and `/ads` do not eat into each other, and
/// both mounts of the API are one), except that the sign-in routes share one
/// budget, so that the API's and the dashboard's forms together allow a
/// client no more password guesses than the limit.
pub fn scope_of(tier: Tier, path: &str) -> &str {
    match tier {
        Tier::Auth => "sign-in",
        _ => path.strip_prefix("/api/v1").unwrap_or(path),
    }
}

/// A scope short enough for a key: a very long path by its hash.
fn bounded(scope: &str) -> std::borrow::Cow<'_, str> {
    use sha2::{Digest, Sha256};
    if scope.len() <= 200 {
        scope.into()
    } else {
        hex::encode(Sha256::digest(scope.as_bytes())).into()
    }
}

#[derive(Default)]
struct MemoryCounts {
    counts: DashMap<(Tier, IpAddr, String), (u64, u64)>,
    inserts: AtomicU64,
}

impl MemoryCounts {
    fn incr(&self, tier: Tier, client: IpAddr, scope: &str, window: u64) -> u64 {
        let count = {
            let mut entry = self
                .counts
                .entry((tier, client, scope.to_owned()))
                .or_insert((window, 0));
            if entry.0 != window {
                *entry = (window, 0);
            }
            entry.1 += 1;
            entry.1
        };
        // Forget clients of past windows now and then, so memory follows active clients.
        if self.inserts.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.counts.retain(|_, (w, _)| *w >= window);
        }
        count
    }
}

/// INCR the window's key and give it a lifetime on first use, atomically.
const INCR_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
";

/// After a Redis failure, local counts are used for this long before Redis is tried again.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

struct RedisCounts {
    client: redis::Client,
    prefix: String,
    script: redis::Script,
    connection: Mutex<Option<ConnectionManager>>,
    down_until_ms: AtomicU64,
    down: AtomicBool,
}

impl RedisCounts {
    fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL"))?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            script: redis::Script::new(INCR_SCRIPT),
            connection: Mutex::new(None),
            down_until_ms: AtomicU64::new(0),
            down: AtomicBool::new(false),
        })
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// The shared count, or `None` when Redis cannot answer (the caller counts locally).
    async fn incr(
        &self,
        tier: Tier,
        client: IpAddr,
        scope: &str,
        window: u64,
        window_ms: u64,
    ) -> Option<u64> {
        let now = now_ms();
        if now < self.down_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let key = format!(
            "{}:ratelimit:{}:{}:{}:{}",
            self.prefix,
            tier.key(),
            client,
            scope,
            window
        );
        let attempt = async {
            let mut conn = self.connection().await?;
            self.script
                .key(&key)
                .arg(window_ms + 1000)
                .invoke_async::<u64>(&mut conn)
                .await
        };
        match tokio::time::timeout(REDIS_TIMEOUT * 2, attempt).await {
            Ok(Ok(count)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is back: rate limits are shared again");
                }
                Some(count)
            }
            failure => {
                let reason = match failure {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%reason, "Redis unavailable: rate limits fall back to this instance's own counts");
                }
                self.down_until_ms.store(
                    now + REDIS_RETRY_AFTER.as_millis() as u64,
                    Ordering::Relaxed,
                );
                None
            }
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub type SharedLimiter = Arc<RateLimiter>;

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(general: u32) -> RateLimiter {
        RateLimiter::new(
            RateLimitConfig {
                enabled: true,
                window: Duration::from_secs(60),
                general,
                auth: 5,
                heavy: 10,
            },
            None,
            "t",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn counts_per_client_tier_and_scope_within_a_window() {
        let l = limiter(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t = 120_000; // the start of a window
        let p = "/products";
        assert_eq!(l.check(Tier::General, a, p, t).await.remaining, 1);
        assert!(l.check(Tier::General, a, p, t + 1).await.allowed);
        let third = l.check(Tier::General, a, p, t + 1_000).await;
        assert!(!third.allowed);
        assert_eq!(third.retry_after, 59);
        assert_eq!(third.reset_at, 180);
        assert!(l.check(Tier::General, b, p, t + 1_000).await.allowed);
        assert!(l.check(Tier::Auth, a, p, t + 1_000).await.allowed);
        assert!(
            l.check(Tier::General, a, "/ads", t + 1_000).await.allowed,
            "another path has its own budget"
        );
        assert!(
            l.check(Tier::General, a, p, t + 60_000).await.allowed,
            "a new window starts afresh"
        );
    }

    #[test]
    fn each_path_is_its_own_budget_but_signing_in_is_one() {
        assert_eq!(scope_of(Tier::General, "/api/v1/products"), "/products");
        assert_eq!(scope_of(Tier::Heavy, "/heat-map"), "/heat-map");
        assert_eq!(
            scope_of(Tier::Auth, "/token"),
            scope_of(Tier::Auth, "/app/login")
        );
        assert_eq!(bounded(&"x".repeat(5000)).len(), 64);
    }

    #[tokio::test]
    async fn an_unreachable_redis_falls_back_to_local_counts() {
        let mut l = limiter(1);
        l.redis = Some(RedisCounts::new("redis://127.0.0.1:1/", "t").unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check(Tier::General, a, "/ads", 0).await.allowed);
        assert!(!l.check(Tier::General, a, "/ads", 1).await.allowed);
    }
}
