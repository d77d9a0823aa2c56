//! Caching of hot reads. A cached value is served only while no change has
//! been seen since it was computed (`Store::data_version`: this instance's
//! commits at once, other instances' and processes' through the change feed
//! in `store/changes.rs`) and it is younger than the configured maximum age.
//! While the change feed is down, values live at most `BLIND_MAX_AGE`. A
//! maximum age of zero turns caching off.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use moka::sync::Cache;
use serde::Serialize;

use crate::error::ApiError;
use crate::store::User;

/// How long a value may be served while changes made elsewhere cannot be seen.
const BLIND_MAX_AGE: Duration = Duration::from_secs(1);

/// What a cached value was computed from: the data version and the time.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub version: u64,
    pub at: Instant,
    /// Whether changes made elsewhere were being seen at that moment.
    pub watching: bool,
}

impl Stamp {
    pub fn now(version: u64, watching: bool) -> Self {
        Self {
            version,
            at: Instant::now(),
            watching,
        }
    }

    /// Whether a value stamped `self` may still be served at `now`.
    fn serves(&self, now: &Stamp) -> bool {
        self.version == now.version
            && (now.watching || now.at.duration_since(self.at) < BLIND_MAX_AGE)
    }
}

/// (user id, token id) -> (stamp, user, revoked).
type SessionCache = Cache<(i64, String), (Stamp, User, bool)>;

/// Any value a page computes, shared between requests.
type Shared = std::sync::Arc<dyn std::any::Any + Send + Sync>;

pub struct Caches {
    responses: Option<Cache<String, (Stamp, Bytes)>>,
    sessions: Option<SessionCache>,
    values: Option<Cache<String, (Stamp, Shared)>>,
}

impl Caches {
    pub fn new(max_age: Duration) -> Self {
        if max_age.is_zero() {
            return Self {
                responses: None,
                sessions: None,
                values: None,
            };
        }
        Self {
            responses: Some(
                Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(max_age)
                    .build(),
            ),
            sessions: Some(
                Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(max_age)
                    .build(),
            ),
            values: Some(
                Cache::builder()
                    .max_capacity(1_000)
                    .time_to_live(max_age)
                    .build(),
            ),
        }
    }

    /// The value for `key` (of type `T`), from the cache when fresh, else
    /// computed and kept: what the dashboard's pages read from the store
    /// (a ranking, the places of the hottest products), on the same terms
    /// as the API's JSON responses. `now` must be taken before `compute`.
    pub async fn value<T, E, F>(
        &self,
        now: Stamp,
        key: String,
        compute: F,
    ) -> Result<std::sync::Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: Future<Output = Result<T, E>>,
    {
        if let Some(cache) = &self.values
            && let Some((stamp, value)) = cache.get(&key)
            && stamp.serves(&now)
            && let Ok(value) = value.downcast::<T>()
        {
            return Ok(value);
        }
        let value = std::sync::Arc::new(compute.await?);
        if let Some(cache) = &self.values {
            cache.insert(key, (now, value.clone() as Shared));
        }
        Ok(value)
    }

    /// The JSON response for `key`, from the cache when fresh, else computed and
    /// kept. `now` must be taken before `compute` starts, so that a change
    /// committed while it runs leaves the result stamped stale.
    pub async fn json<T, F>(
        &self,
        now: Stamp,
        key: String,
        compute: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize,
        F: Future<Output = Result<T, ApiError>>,
    {
        if let Some(cache) = &self.responses
            && let Some((stamp, body)) = cache.get(&key)
            && stamp.serves(&now)
        {
            return Ok(json_response(body));
        }
        let value = compute.await?;
        let body = Bytes::from(serde_json::to_vec(&value).map_err(anyhow::Error::from)?);
        if let Some(cache) = &self.responses {
            cache.insert(key, (now, body.clone()));
        }
        Ok(json_response(body))
    }

    /// The user behind a token id, and whether it was revoked, when known and fresh.
    pub fn session(&self, now: &Stamp, user_id: i64, jti: &str) -> Option<(User, bool)> {
        let cache = self.sessions.as_ref()?;
        let (stamp, user, revoked) = cache.get(&(user_id, jti.to_owned()))?;
        stamp.serves(now).then_some((user, revoked))
    }

    pub fn keep_session(&self, stamp: Stamp, user: &User, jti: &str, revoked: bool) {
        if let Some(cache) = &self.sessions {
            cache.insert((user.id, jti.to_owned()), (stamp, user.clone(), revoked));
        }
    }
}

fn json_response(body: Bytes) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_served_until_the_data_changes() {
        let then = Stamp::now(7, true);
        assert!(then.serves(&Stamp::now(7, true)));
        assert!(!then.serves(&Stamp::now(8, true)));
    }

    #[test]
    fn without_the_change_feed_values_expire_quickly() {
        let then = Stamp::now(7, false);
        let mut later = Stamp::now(7, false);
        assert!(then.serves(&later));
        later.at = then.at + BLIND_MAX_AGE;
        assert!(!then.serves(&later));
    }
}
