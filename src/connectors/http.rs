//! Talking HTTP to a platform politely, the same way for every connector.
//!
//! - every request has a timeout;
//! - network errors, timeouts and 5xx answers are retried with exponential
//!   backoff and jitter (so several servers do not retry in step);
//! - a 429 whose `Retry-After` is short is waited out in place; a longer one
//!   is handed back, and the connector turns it into a pause of its source;
//! - any other answer goes back to the connector, which knows its platform's
//!   error bodies;
//! - no error message carries a URL: query strings hold API keys.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{ConnectorError, ConnectorResult, SourceKind};

/// How hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPolicy {
    /// Per request, connection included.
    pub timeout: Duration,
    /// Retries after the first attempt, for network errors, timeouts and 5xx.
    pub retries: u32,
    /// The first retry waits about this long; each next one twice as long...
    pub backoff: Duration,
    /// ...up to this.
    pub max_backoff: Duration,
    /// A 429 asking to wait up to this long is waited out in place.
    pub max_wait: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl HttpPolicy {
    /// The wait before retry number `attempt` (1 = the first retry): half the
    /// exponential step for sure, the other half at random.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let step = self
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// An answer that was not retried away: its status, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`, or a `BadResponse` naming what was wrong
    /// (malformed, truncated, a field missing or of the wrong type).
    pub fn json<T: serde::de::DeserializeOwned>(&self, kind: SourceKind) -> ConnectorResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| ConnectorError::BadResponse {
            kind,
            detail: format!("HTTP {}: {e}", self.status),
        })
    }

    /// When `Retry-After` (seconds or an HTTP date) says to come back, as
    /// milliseconds since the epoch, relative to `now_ms`.
    pub fn retry_after_ms(&self, now_ms: i64) -> Option<i64> {
        retry_after_ms(&self.headers, now_ms)
    }
}

pub fn retry_after_ms(headers: &HeaderMap, now_ms: i64) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        let ms = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        return Some(now_ms.saturating_add(ms));
    }
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| at.timestamp_millis().max(now_ms))
}

/// One platform's HTTP client and policy.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    pub policy: HttpPolicy,
    kind: SourceKind,
}

pub const USER_AGENT: &str = concat!(
    "MarketScout/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted trend intelligence; contact: the operator of this server)"
);

impl Http {
    pub fn new(kind: SourceKind, policy: HttpPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(USER_AGENT)
            .build()
            .expect("a client with a timeout and a user agent builds");
        Http {
            client,
            policy,
            kind,
        }
    }

    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Sends the request `build` makes (again for each retry) and answers with
    /// the first response that is neither a 5xx nor a short 429, or
    /// `Unavailable` once the retries are spent.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> ConnectorResult<Response> {
        let mut attempt = 0;
        loop {
            let failure = match build(&self.client).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => {
                            let answer = Response {
                                status,
                                headers,
                                body,
                            };
                            if status == 429 && attempt < self.policy.retries {
                                let now = crate::time::now_ms();
                                let wait = answer.retry_after_ms(now).map(|at| at - now);
                                if let Some(wait) = wait.filter(|w| {
                                    *w >= 0 && (*w as u128) <= self.policy.max_wait.as_millis()
                                }) {
                                    attempt += 1;
                                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                                    continue;
                                }
                            }
                            if status < 500 {
                                return Ok(answer);
                            }
                            format!("HTTP {status}")
                        }
                        Err(e) => describe(&e),
                    }
                }
                Err(e) => describe(&e),
            };
            if attempt >= self.policy.retries {
                let tries = attempt + 1;
                return Err(ConnectorError::Unavailable {
                    kind: self.kind,
                    detail: format!(
                        "{failure} ({tries} {})",
                        if tries == 1 { "try" } else { "tries" }
                    ),
                });
            }
            attempt += 1;
            tracing::debug!(kind = %self.kind, attempt, %failure, "retrying");
            tokio::time::sleep(self.policy.backoff_for(attempt)).await;
        }
    }
}

/// What went wrong, without the URL reqwest would otherwise print.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer".to_owned()
    } else {
        "request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_its_cap() {
        let p = HttpPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..HttpPolicy::default()
        };
        for _ in 0..50 {
            let first = p.backoff_for(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let second = p.backoff_for(2);
            assert!((100..=200).contains(&second.as_millis()), "{second:?}");
            let capped = p.backoff_for(10);
            assert!((175..=350).contains(&capped.as_millis()), "{capped:?}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(retry_after_ms(&h, 1_000), Some(31_000));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_ms(&h, 0), Some(1_445_412_480_000));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after_ms(&h, 0), None);
    }
}
