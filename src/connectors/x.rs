//! X API v2 recent search (`GET /2/tweets/search/recent`): posts of the last
//! seven days, with app-only auth (`Authorization: Bearer`, setting
//! `X_BEARER_TOKEN`).
//!
//! The source's terms become one query: terms of several words quoted as
//! phrases, all ORed, retweets left out (`-is:retweet`: their text is a
//! truncated copy and their metrics the original's). Countries are not sent:
//! the reference could not confirm that `place_country:` is open to every
//! plan, and it would keep only the rare geotagged posts anyway; a post's
//! country comes from its place when it has one.
//!
//! X answers 429 both when the 15-minute window is spent (problem type
//! `about:blank`: resume at `x-rate-limit-reset`) and when the monthly
//! usage cap is (`…/problems/usage-capped`): the body's `type` tells them apart.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::observation::{Observation, parse_observation};

pub const NOT_COVERED: &[&str] = &[
    "posts older than 7 days (X's recent search sees only the last week)",
    "reposts (left out on purpose: they copy the original's text and counts)",
    "where posters are: X gives a country only for the few geotagged posts, and a country filter is not applied",
    "posts from protected accounts",
];

const KIND: SourceKind = SourceKind::X;
const TOKEN_SETTING: &str = "X_BEARER_TOKEN";
const MAX_QUERY_CHARS: usize = 512;
const DAY_MS: i64 = 86_400_000;
/// `start_time` must lie within the last 7 days of X's clock when each page
/// is asked for; a margin keeps the later pages of a long scan inside it.
const START_MARGIN_MS: i64 = 10 * 60_000;
/// `end_time` must be at least 10 s before X's now.
const END_MARGIN_MS: i64 = 10_000;
const TWEET_FIELDS: &str = "created_at,public_metrics,lang,author_id,entities,geo";
/// `lang` values that name no language.
const NOT_LANGUAGES: &[&str] = &["und", "qme", "zxx"];

pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let token = secrets.require(KIND, TOKEN_SETTING)?.to_owned();
    Ok(Box::new(X {
        http: Http::new(KIND, policy.clone()),
        base_url: config.base_url().to_owned(),
        token,
        window_spent_until: Mutex::new(None),
    }))
}

struct X {
    http: Http,
    base_url: String,
    token: String,
    /// Set when an answer said no request is left in the current window:
    /// the next page is not asked for before then.
    window_spent_until: Mutex<Option<i64>>,
}

impl Connector for X {
    fn kind(&self) -> SourceKind {
        KIND
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch_page(request, cursor))
    }

    fn not_covered(&self) -> &'static [&'static str] {
        NOT_COVERED
    }
}

#[derive(Deserialize)]
struct SearchAnswer {
    /// Absent when nothing matched.
    #[serde(default)]
    data: Vec<Value>,
    #[serde(default)]
    includes: Includes,
    meta: Meta,
}

#[derive(Deserialize, Default)]
struct Includes {
    #[serde(default)]
    users: Vec<Value>,
    #[serde(default)]
    places: Vec<Value>,
}

#[derive(Deserialize)]
struct Meta {
    next_token: Option<String>,
}

impl X {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        if let Some(until) = *self.window_spent_until.lock().expect("not poisoned") {
            return Err(ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: until,
                detail: "no request left in this 15-minute window (x-rate-limit-remaining: 0)"
                    .into(),
            });
        }
        let query = build_query(&request.query)?;
        let Some((start, end)) = search_window(request) else {
            // The window lies wholly outside the last 7 days.
            return Ok(Page::default());
        };
        let mut params: Vec<(&str, String)> = vec![
            ("query", query),
            ("start_time", x_time(start)),
            ("end_time", x_time(end)),
            ("max_results", "100".into()),
            ("sort_order", "recency".into()),
            ("tweet.fields", TWEET_FIELDS.into()),
            ("expansions", "author_id,geo.place_id".into()),
            ("user.fields", "username".into()),
            ("place.fields", "country_code".into()),
        ];
        if let Some(token) = cursor {
            params.push(("next_token", token.to_owned()));
        }
        let url = format!("{}/tweets/search/recent", self.base_url);
        let response = self
            .http
            .send(|c| c.get(&url).bearer_auth(&self.token).query(&params))
            .await?;
        self.check(&response, request.now_ms)?;
        let answer: SearchAnswer = response.json(KIND)?;
        let next = answer.meta.next_token.clone().filter(|t| !t.is_empty());
        if next.is_some()
            && header_number(&response, "x-rate-limit-remaining") == Some(0.0)
            && let Some(reset) = header_number(&response, "x-rate-limit-reset")
        {
            *self.window_spent_until.lock().expect("not poisoned") =
                Some((reset as i64 * 1000).max(request.now_ms));
        }
        let mut page = map_page(&answer, request.now_ms);
        page.next = next;
        Ok(page)
    }

    fn check(&self, response: &Response, now_ms: i64) -> ConnectorResult<()> {
        if response.is_success() {
            return Ok(());
        }
        let status = response.status;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
        let problem_type = text("type");
        let mut detail = format!("HTTP {status}");
        for part in [text("title"), text("reason"), text("detail")] {
            if !part.is_empty() {
                detail.push_str(": ");
                detail.push_str(part);
            }
        }
        let detail = detail.replace(&self.token, "<X_BEARER_TOKEN>");
        let usage_capped =
            problem_type.ends_with("/usage-capped") || text("title") == "UsageCapExceeded";
        Err(match status {
            // Whether spent pay-per-use credits answer 402 or a usage-capped
            // 429 is not settled (reference §11): both pause the source.
            402 => ConnectorError::QuotaExhausted {
                kind: KIND,
                resume_at_ms: next_utc_midnight(now_ms),
                detail: format!("{detail} (add credits in the X developer console)"),
            },
            429 if usage_capped => ConnectorError::QuotaExhausted {
                kind: KIND,
                // The cap's renewal date is not in the answer (and
                // x-rate-limit-reset is about the 15-minute window): try again
                // when the period can have turned.
                resume_at_ms: if text("period").eq_ignore_ascii_case("monthly") {
                    next_utc_month(now_ms)
                } else {
                    next_utc_midnight(now_ms)
                },
                detail,
            },
            429 => ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: header_number(response, "x-rate-limit-reset")
                    .map(|s| s as i64 * 1000)
                    .filter(|at| *at > now_ms)
                    .or_else(|| response.retry_after_ms(now_ms))
                    .unwrap_or(now_ms + 15 * 60_000),
                detail,
            },
            401 => ConnectorError::Credentials {
                kind: KIND,
                detail: format!("{detail}; check {TOKEN_SETTING} (the app's bearer token)"),
            },
            403 if text("reason") == "client-not-enrolled"
                || problem_type.ends_with("/client-forbidden") =>
            {
                ConnectorError::Credentials {
                    kind: KIND,
                    detail: format!(
                        "{detail}; the app behind {TOKEN_SETTING} is not attached to a Project \
                         or its plan lacks recent search (the Free tier cannot search)"
                    ),
                }
            }
            403 => ConnectorError::Credentials {
                kind: KIND,
                detail: format!("{detail}; {TOKEN_SETTING} is not allowed to search"),
            },
            400 => ConnectorError::BadQuery {
                kind: KIND,
                detail: invalid_request_detail(&body, detail),
            },
            _ => ConnectorError::BadResponse { kind: KIND, detail },
        })
    }
}

/// A 400 names each refused parameter in `errors[].message`.
fn invalid_request_detail(body: &Value, mut detail: String) -> String {
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for message in errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
        {
            detail.push_str("; ");
            detail.push_str(message);
        }
    }
    detail
}

/// The terms as one recent-search query: phrases quoted, terms ORed,
/// retweets excluded. Language and country operators are not added (see the
/// module notes).
pub fn build_query(terms: &[String]) -> ConnectorResult<String> {
    let parts: Vec<String> = terms
        .iter()
        .map(|t| t.trim().replace('"', ""))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.contains(char::is_whitespace) {
                format!("\"{t}\"")
            } else {
                t
            }
        })
        .collect();
    if parts.is_empty() {
        return Err(ConnectorError::Config {
            kind: KIND,
            detail: "the query has no search terms".into(),
        });
    }
    let core = if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", parts.join(" OR "))
    };
    let query = format!("{core} -is:retweet");
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(ConnectorError::Config {
            kind: KIND,
            detail: format!(
                "the search query is {chars} characters; X allows {MAX_QUERY_CHARS}: split the terms over several sources"
            ),
        });
    }
    Ok(query)
}

/// `[start, end)` for X: no older than 7 days (less a margin) and ending at
/// least 10 s before now; `None` when nothing of the window is left.
fn search_window(request: &ScanRequest) -> Option<(i64, i64)> {
    let start = request
        .since_ms
        .max(request.now_ms - 7 * DAY_MS + START_MARGIN_MS);
    let end = request.until_ms.min(request.now_ms - END_MARGIN_MS);
    // Times go out in whole seconds.
    (start.div_euclid(1000) < end.div_euclid(1000)).then_some((start, end))
}

/// `YYYY-MM-DDTHH:mm:ssZ`, the format the reference gives.
fn x_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn header_number(response: &Response, name: &str) -> Option<f64> {
    response
        .headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

fn next_utc_midnight(now_ms: i64) -> i64 {
    (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS
}

fn next_utc_month(now_ms: i64) -> i64 {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let first = NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    Utc.from_utc_datetime(&first).timestamp_millis()
}

fn map_page(answer: &SearchAnswer, now_ms: i64) -> Page {
    // Each author and place appears once in `includes`, however many posts
    // name it.
    let usernames: HashMap<&str, &str> = answer
        .includes
        .users
        .iter()
        .filter_map(|u| Some((u.get("id")?.as_str()?, u.get("username")?.as_str()?)))
        .collect();
    let countries: HashMap<&str, &str> = answer
        .includes
        .places
        .iter()
        .filter_map(|p| Some((p.get("id")?.as_str()?, p.get("country_code")?.as_str()?)))
        .collect();
    let mut page = Page::default();
    page.observations.reserve(answer.data.len());
    for (i, post) in answer.data.iter().enumerate() {
        match observation(post, &usernames, &countries, now_ms) {
            Ok(o) => page.observations.push(o),
            Err(reason) => {
                let name = match post.get("id").and_then(Value::as_str) {
                    Some(id) => format!("post {id}"),
                    None => format!("post {} of the page", i + 1),
                };
                page.skipped.push(format!("{name}: {reason}"));
            }
        }
    }
    page
}

fn observation(
    post: &Value,
    usernames: &HashMap<&str, &str>,
    countries: &HashMap<&str, &str>,
    now_ms: i64,
) -> Result<Observation, String> {
    let id = match post.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.as_str(),
        Some(_) => return Err("id is not a string".into()),
        None => return Err("no id".into()),
    };
    let username = post
        .get("author_id")
        .and_then(Value::as_str)
        .and_then(|a| usernames.get(a).copied());
    let url = match username {
        Some(user) => format!("https://x.com/{user}/status/{id}"),
        None => format!("https://x.com/i/web/status/{id}"),
    };
    let metrics = match post.get("public_metrics") {
        None | Some(Value::Null) => None,
        Some(m @ Value::Object(_)) => Some(m),
        Some(_) => return Err("public_metrics is not an object".into()),
    };
    let metric = |name: &str| -> Result<Option<i64>, String> {
        match metrics.and_then(|m| m.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| i64::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("public_metrics.{name} is {v}, not a count")),
        }
    };
    // The reference maps impression_count to views (an exact count, not a range).
    let views = metric("impression_count")?;
    let likes = metric("like_count")?;
    let comments = metric("reply_count")?;
    let shares = match (metric("retweet_count")?, metric("quote_count")?) {
        (None, None) => None,
        (r, q) => Some(r.unwrap_or(0) + q.unwrap_or(0)),
    };
    let hashtags: Vec<&str> = post
        .pointer("/entities/hashtags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.get("tag").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let country = post
        .pointer("/geo/place_id")
        .and_then(Value::as_str)
        .and_then(|p| countries.get(p).copied());
    let language = post
        .get("lang")
        .and_then(Value::as_str)
        .filter(|l| !NOT_LANGUAGES.contains(l));
    let value = json!({
        "platform": "x",
        "kind": "post",
        "platform_id": id,
        "url": url,
        "author": username,
        "text": post.get("text"),
        "hashtags": hashtags,
        "country": country,
        "language": language,
        "published_at": post.get("created_at"),
        "observed_at": now_ms,
        "views": views,
        "likes": likes,
        "comments": comments,
        "shares": shares,
    });
    parse_observation(&value, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn phrases_are_quoted_terms_ored_and_retweets_left_out() {
        assert_eq!(
            build_query(&terms(&[
                "magnetic phone mount",
                "#tiktokmademebuyit",
                "\"cloud slippers\""
            ]))
            .unwrap(),
            "(\"magnetic phone mount\" OR #tiktokmademebuyit OR \"cloud slippers\") -is:retweet"
        );
        assert_eq!(
            build_query(&terms(&["blender"])).unwrap(),
            "blender -is:retweet"
        );
    }

    #[test]
    fn a_query_over_512_characters_is_refused_before_asking() {
        let long: Vec<String> = (0..60).map(|i| format!("product number {i}")).collect();
        let err = build_query(&long).unwrap_err();
        assert!(matches!(err, ConnectorError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("512"), "{err}");
    }

    #[test]
    fn the_window_is_clipped_to_the_last_seven_days_and_ten_seconds_before_now() {
        let now = 1_763_640_000_000;
        let req = |since, until| ScanRequest {
            query: terms(&["x"]),
            countries: vec![],
            since_ms: since,
            until_ms: until,
            now_ms: now,
        };
        assert_eq!(
            search_window(&req(now - DAY_MS, now)),
            Some((now - DAY_MS, now - 10_000))
        );
        assert_eq!(
            search_window(&req(now - 30 * DAY_MS, now - DAY_MS)),
            Some((now - 7 * DAY_MS + START_MARGIN_MS, now - DAY_MS))
        );
        assert_eq!(
            search_window(&req(now - 30 * DAY_MS, now - 8 * DAY_MS)),
            None
        );
        assert_eq!(x_time(now), "2025-11-20T12:00:00Z");
    }

    #[test]
    fn usage_caps_resume_at_the_turn_of_the_day_or_month() {
        let now = 1_763_640_000_000; // 2025-11-20T12:00:00Z
        assert_eq!(next_utc_midnight(now), 1_763_683_200_000); // 2025-11-21
        assert_eq!(next_utc_month(now), 1_764_547_200_000); // 2025-12-01
        assert_eq!(next_utc_month(1_765_000_000_000), 1_767_225_600_000); // 2026-01-01
    }
}
