//! Micro-caching of hot reads. A cached value is served only while it is
//! younger than the TTL *and* no write has been committed by this process
//! since it was computed (`Store::data_version`), so a client always reads its
//! own writes; writes made by another instance or process show up within the
//! TTL. A TTL of zero turns caching off.

use std::future::Future;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use moka::sync::Cache;
use serde::Serialize;

use crate::error::ApiError;
use crate::store::User;

/// (user id, token id) -> (data version, user, revoked).
type SessionCache = Cache<(i64, String), (u64, User, bool)>;

pub struct Caches {
    responses: Option<Cache<String, (u64, Bytes)>>,
    sessions: Option<SessionCache>,
}

impl Caches {
    pub fn new(ttl: Duration) -> Self {
        if ttl.is_zero() {
            return Self {
                responses: None,
                sessions: None,
            };
        }
        Self {
            responses: Some(
                Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(ttl)
                    .build(),
            ),
            sessions: Some(
                Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(ttl)
                    .build(),
            ),
        }
    }

    /// The JSON response for `key`, from the cache when fresh, else computed and kept.
    pub async fn json<T, F>(
        &self,
        version: u64,
        key: String,
        compute: F,
    ) -> Result<Response, ApiError>
    where
        T: Serialize,
        F: Future<Output = Result<T, ApiError>>,
    {
        if let Some(cache) = &self.responses
            && let Some((v, body)) = cache.get(&key)
            && v == version
        {
            return Ok(json_response(body));
        }
        let value = compute.await?;
        let body = Bytes::from(serde_json::to_vec(&value).map_err(anyhow::Error::from)?);
        if let Some(cache) = &self.responses {
            cache.insert(key, (version, body.clone()));
        }
        Ok(json_response(body))
    }

    /// The user behind a token id, and whether it was revoked, when known and fresh.
    pub fn session(&self, version: u64, user_id: i64, jti: &str) -> Option<(User, bool)> {
        let cache = self.sessions.as_ref()?;
        let (v, user, revoked) = cache.get(&(user_id, jti.to_owned()))?;
        (v == version).then_some((user, revoked))
    }

    pub fn keep_session(&self, version: u64, user: &User, jti: &str, revoked: bool) {
        if let Some(cache) = &self.sessions {
            cache.insert((user.id, jti.to_owned()), (version, user.clone(), revoked));
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
