//! Google Trends: search interest in each query term, over time and by place.
//!
//! There is no public API yet (the 2025 alpha is by invitation), so this
//! talks to the endpoints the Trends web page uses, as pytrends does:
//!
//! 1. a warm-up `GET /trends/explore/?geo=US` whose only use is the `NID`
//!    cookie it sets (it usually answers 404; requests without the cookie
//!    are rate limited far sooner);
//! 2. `POST /trends/api/explore?hl&tz&req` for one term and place, which
//!    answers widgets, each with a short-lived token tied to its `request`;
//! 3. `GET /trends/api/widgetdata/multiline` (interest over time) and
//!    `GET /trends/api/widgetdata/comparedgeo` (interest by region) with the
//!    widget's `request` sent back verbatim and its token.
//!
//! Every answer starts with an anti-JSON line (`)]}'` or `)]}',`), dropped
//! before parsing. Values are Google's 0-100 scale, relative to the highest
//! point of the request, so they become [`InterestPoint`]s, never
//! observations (they are not counts of anything).
//!
//! One term per request, on purpose: Google scales all compared terms (up to
//! five) to the largest of them, so a niche term next to a big one is crushed
//! to zeros and its values would change with whatever it was paired with.
//! Alone, a term is always measured against its own peak, which is what a
//! trend needs. The cost is three requests per term instead of three per five.
//!
//! Paging: one step per term, or per term and country when the source lists
//! countries (then each step is the term's interest in that country, and its
//! breakdown by the country's regions); the cursor is the next step's number.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, InterestPoint, Page, PageFuture, ScanRequest,
    Secrets, SourceConfig, SourceKind,
};

const KIND: SourceKind = SourceKind::GoogleTrends;

pub const NOT_COVERED: &[&str] = &[
    "Numbers of searches: Google Trends gives interest from 0 to 100, relative to the term's own \
     busiest day in the period, not a count",
    "Comparing terms with each other: each term is measured on its own scale, so 50 for one term \
     and 50 for another are not the same amount of searching",
    "Exact values: Google computes Trends from a sample of searches, so the same term can read a \
     few points differently from one day to the next",
    "Terms with little search volume: Google shows no data for them",
    "Today: its value is incomplete (and always looks low) until the day is over, so it is left \
     out until the next scan",
    "Posts, videos, ads, views or likes: Google Trends measures searches only",
];

/// The interface language; it only changes labels and place names.
const HL: &str = "en-US";
/// Minutes from UTC, as JavaScript's `getTimezoneOffset`: 0 keeps Google's
/// buckets on UTC days, the days MarketScout counts in.
const TZ: &str = "0";
/// A rate limit without `Retry-After` (Google never sends one): pytrends users
/// found 60 s enough for a short burst, but blocks last from minutes to a day
/// and each new request during a block prolongs it, so the source rests an hour.
pub const RATE_LIMIT_PAUSE_MS: i64 = 3_600_000;
/// Daily values need a window of at most about 270 days; shorter than 90 and
/// the 0-100 scale is set by too few days to mean much.
const MIN_WINDOW_DAYS: i64 = 90;
const MAX_WINDOW_DAYS: i64 = 269;
const DAY_MS: i64 = 86_400_000;

pub fn build(
    config: &SourceConfig,
    _secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let base = config.base_url();
    // The reference's base is `https://trends.google.com/trends`, the framework's
    // default `https://trends.google.com`: accept either.
    let root = if base.ends_with("/trends") {
        base.to_owned()
    } else {
        format!("{base}/trends")
    };
    Ok(Box::new(GoogleTrends {
        http: Http::new(KIND, policy.clone()),
        root,
        // Google asks for a request every few seconds at most; the gap scales
        // with the policy's backoff (2 s by default) so tests stay fast.
        gap: policy.backoff.saturating_mul(4),
        cookie: tokio::sync::Mutex::new(None),
        last_request: tokio::sync::Mutex::new(None),
    }))
}

struct GoogleTrends {
    http: Http,
    root: String,
    gap: Duration,
    /// `None`: not warmed up yet; `Some(None)`: tried, Google set no cookie.
    cookie: tokio::sync::Mutex<Option<Option<String>>>,
    last_request: tokio::sync::Mutex<Option<Instant>>,
}

/// One step of a scan: a term, in one place ("" = worldwide).
struct Step<'a> {
    term: &'a str,
    geo: &'a str,
}

impl Step<'_> {
    fn describe(&self) -> String {
        if self.geo.is_empty() {
            format!("{:?} (worldwide)", self.term)
        } else {
            format!("{:?} in {}", self.term, self.geo)
        }
    }
}

#[derive(Deserialize)]
struct Explore {
    widgets: Vec<Widget>,
}

#[derive(Deserialize)]
struct Widget {
    #[serde(default)]
    id: String,
    token: Option<String>,
    request: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Timeline {
    default: TimelineData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimelineData {
    timeline_data: Vec<Value>,
}

#[derive(Deserialize)]
struct GeoMap {
    default: GeoMapData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeoMapData {
    geo_map_data: Vec<Value>,
}

impl Connector for GoogleTrends {
    fn kind(&self) -> SourceKind {
        KIND
    }

    fn not_covered(&self) -> &'static [&'static str] {
        NOT_COVERED
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(async move {
            let terms: Vec<&str> = request
                .query
                .iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .collect();
            if terms.is_empty() {
                return Err(ConnectorError::Config {
                    kind: KIND,
                    detail: "the query names no search term".into(),
                });
            }
            let countries: Vec<String> = request
                .countries
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .collect();
            let geos: Vec<&str> = if countries.is_empty() {
                vec![""]
            } else {
                countries.iter().map(String::as_str).collect()
            };
            let steps = terms.len() * geos.len();
            let index = match cursor {
                None => 0,
                Some(c) => c
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < steps)
                    .ok_or_else(|| ConnectorError::Config {
                        kind: KIND,
                        detail: format!("the scan cursor {c:?} is not a step of this source"),
                    })?,
            };
            let step = Step {
                term: terms[index / geos.len()],
                geo: geos[index % geos.len()],
            };
            let mut page = self.fetch_step(request, &step).await?;
            page.next = (index + 1 < steps).then(|| (index + 1).to_string());
            Ok(page)
        })
    }
}

impl GoogleTrends {
    async fn fetch_step(&self, request: &ScanRequest, step: &Step<'_>) -> ConnectorResult<Page> {
        let (time, end_day) = window(request);
        let cookie = self.cookie().await;
        let comparison = serde_json::json!({
            "comparisonItem": [{"keyword": step.term, "time": time, "geo": step.geo}],
            "category": 0,
            "property": "",
        })
        .to_string();
        let url = format!("{}/api/explore", self.root);
        let query = [("hl", HL), ("tz", TZ), ("req", comparison.as_str())];
        // pytrends 4.9 POSTs with everything in the query string; older
        // versions (and Google at times) used GET: fall back when POST is refused.
        let mut answer = self
            .send(cookie.as_deref(), |c| c.post(&url).query(&query))
            .await?;
        if answer.status == 405 {
            answer = self
                .send(cookie.as_deref(), |c| c.get(&url).query(&query))
                .await?;
        }
        let explore: Explore = parse(&answer, "explore", step, request.now_ms)?;
        let mut page = Page::default();
        let timeseries = explore
            .widgets
            .iter()
            .find(|w| w.id == "TIMESERIES")
            .ok_or_else(|| {
                bad(format!(
                    "explore for {} has no TIMESERIES widget",
                    step.describe()
                ))
            })?;
        let body = self
            .widget_data("multiline", timeseries, cookie.as_deref(), step)
            .await?;
        let timeline: Timeline = parse(&body, "interest over time", step, request.now_ms)?;
        for (i, point) in timeline.default.timeline_data.iter().enumerate() {
            match time_point(point) {
                Ok(Some((day, value))) => page.interest.push(InterestPoint {
                    term: step.term.to_owned(),
                    geo: step.geo.to_owned(),
                    day,
                    value,
                }),
                Ok(None) => {}
                Err(why) => page.skipped.push(format!(
                    "{}: interest over time, point {}: {why}",
                    step.describe(),
                    i + 1
                )),
            }
        }
        // The map is the whole window's interest by place: it is dated on the
        // window's last day, so each scan adds that day's view of it.
        if let Some(map) = explore.widgets.iter().find(|w| w.id == "GEO_MAP") {
            let body = self
                .widget_data("comparedgeo", map, cookie.as_deref(), step)
                .await?;
            let regions: GeoMap = parse(&body, "interest by region", step, request.now_ms)?;
            for (i, row) in regions.default.geo_map_data.iter().enumerate() {
                match region_point(row) {
                    Ok(Some((geo, value))) => page.interest.push(InterestPoint {
                        term: step.term.to_owned(),
                        geo,
                        day: end_day,
                        value,
                    }),
                    Ok(None) => {}
                    Err(why) => page.skipped.push(format!(
                        "{}: interest by region, row {}: {why}",
                        step.describe(),
                        i + 1
                    )),
                }
            }
        }
        if page.interest.is_empty() && page.skipped.is_empty() {
            // Said rather than left blank: a scan stops at an empty page, and
            // the user should know why this term has no line.
            page.skipped.push(format!(
                "{}: Google Trends has too little search volume for this term to show data",
                step.describe()
            ));
        }
        Ok(page)
    }

    async fn widget_data(
        &self,
        endpoint: &str,
        widget: &Widget,
        cookie: Option<&str>,
        step: &Step<'_>,
    ) -> ConnectorResult<Response> {
        let (Some(token), Some(req)) = (widget.token.as_deref(), widget.request.as_deref()) else {
            return Err(bad(format!(
                "explore for {}: the {} widget has no token or request",
                step.describe(),
                widget.id
            )));
        };
        let url = format!("{}/api/widgetdata/{endpoint}", self.root);
        // The token is tied to the request exactly as Google wrote it.
        let query = [("hl", HL), ("tz", TZ), ("req", req.get()), ("token", token)];
        self.send(cookie, |c| c.get(&url).query(&query)).await
    }

    /// The `NID` cookie of the warm-up page, fetched once per connector.
    async fn cookie(&self) -> Option<String> {
        let mut cookie = self.cookie.lock().await;
        if let Some(known) = cookie.as_ref() {
            return known.clone();
        }
        let url = format!("{}/explore/", self.root);
        let geo = HL.rsplit('-').next().unwrap_or("US");
        // Best effort: whatever the status (404 is usual), only the cookie counts;
        // without it the next requests still go, and may be limited sooner.
        let found = match self
            .send(None, |c| c.get(&url).query(&[("geo", geo)]))
            .await
        {
            Ok(answer) => nid_cookie(&answer),
            Err(e) => {
                tracing::debug!("Google Trends warm-up failed: {e}");
                None
            }
        };
        *cookie = Some(found.clone());
        found
    }

    /// Sends one request, no sooner than `gap` (jittered) after the previous one.
    async fn send(
        &self,
        cookie: Option<&str>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> ConnectorResult<Response> {
        {
            let mut last = self.last_request.lock().await;
            if let Some(at) = *last {
                let gap = self.gap + self.gap.mul_f64(rand::random::<f64>());
                let since = at.elapsed();
                if since < gap {
                    tokio::time::sleep(gap - since).await;
                }
            }
            *last = Some(Instant::now());
        }
        self.http
            .send(|c| {
                let r = build(c).header(reqwest::header::ACCEPT_LANGUAGE, HL);
                match cookie {
                    Some(cookie) => r.header(reqwest::header::COOKIE, cookie),
                    None => r,
                }
            })
            .await
    }
}

/// The `time` of the explore request (`YYYY-MM-DD YYYY-MM-DD`) and its last day.
fn window(request: &ScanRequest) -> (String, i64) {
    let end = request.until_ms.div_euclid(DAY_MS);
    let since = request.since_ms.div_euclid(DAY_MS);
    let start = since
        .min(end - MIN_WINDOW_DAYS + 1)
        .max(end - MAX_WINDOW_DAYS);
    (format!("{} {}", date(start), date(end)), end)
}

fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn nid_cookie(answer: &Response) -> Option<String> {
    answer
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|pair| pair.starts_with("NID="))
        .map(str::to_owned)
}

fn bad(detail: String) -> ConnectorError {
    ConnectorError::BadResponse { kind: KIND, detail }
}

/// Checks the status and reads the JSON after the anti-JSON prefix line.
/// Google's error pages are HTML: they are named, never shown.
fn parse<T: serde::de::DeserializeOwned>(
    answer: &Response,
    what: &str,
    step: &Step<'_>,
    now_ms: i64,
) -> ConnectorResult<T> {
    let status = answer.status;
    let html = looks_like_html(&answer.body);
    match status {
        429 => {
            let resume_at_ms = answer
                .retry_after_ms(now_ms)
                .unwrap_or(now_ms + RATE_LIMIT_PAUSE_MS);
            return Err(ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms,
                detail: format!(
                    "Google answered {what} for {} with HTTP 429 (too many requests from this \
                     server); it lifts such blocks after minutes to hours",
                    step.describe()
                ),
            });
        }
        400 => {
            return Err(ConnectorError::BadQuery {
                kind: KIND,
                detail: format!(
                    "Google refused {what} for {} (HTTP 400): check the term and the country code",
                    step.describe()
                ),
            });
        }
        s if !(200..300).contains(&s) => {
            return Err(bad(format!(
                "{what} for {}: HTTP {s}{}",
                step.describe(),
                if html {
                    ", an HTML error page instead of JSON"
                } else {
                    ""
                }
            )));
        }
        _ => {}
    }
    if html {
        return Err(bad(format!(
            "{what} for {}: an HTML page instead of JSON (Google shows one for consent or \
             unusual traffic)",
            step.describe()
        )));
    }
    serde_json::from_slice(strip_prefix(&answer.body)).map_err(|e| {
        bad(format!(
            "{what} for {}: not the JSON Google Trends sends ({e})",
            step.describe()
        ))
    })
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| body[i] == b'<')
}

/// Drops the anti-JSON line: `)]}'` then a newline for explore, `)]}',` then a
/// newline for widget data. The robust rule (everything up to the first
/// newline) covers both, and a body without the prefix is read as it is.
pub fn strip_prefix(body: &[u8]) -> &[u8] {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let body = &body[start..];
    if !body.starts_with(b")]}'") {
        return body;
    }
    match body.iter().position(|&b| b == b'\n') {
        Some(newline) => &body[newline + 1..],
        None => {
            let rest = &body[4..];
            rest.strip_prefix(b",").unwrap_or(rest)
        }
    }
}

/// One point of the timeline: `Some((day, value))`, or `None` for a point that
/// says nothing (no data, or the incomplete last bucket).
fn time_point(point: &Value) -> Result<Option<(i64, f64)>, String> {
    // The last bucket is incomplete and always low: stored, it would read as a
    // fall. It is dropped; the next scan stores the finished day (values are
    // replaced per day).
    if point.get("isPartial").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let seconds = match point.get("time") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or("time is missing or not epoch seconds")?;
    let Some(value) = first_value(point)? else {
        return Ok(None);
    };
    Ok(Some((seconds.div_euclid(86_400), value)))
}

/// One row of the region map: `Some((geo code, value))`, or `None` for a place
/// without data or without a code (city rows carry coordinates only).
fn region_point(row: &Value) -> Result<Option<(String, f64)>, String> {
    let Some(geo) = row.get("geoCode").and_then(Value::as_str) else {
        return Ok(None);
    };
    if geo.trim().is_empty() {
        return Ok(None);
    }
    Ok(first_value(row)?.map(|v| (geo.trim().to_ascii_uppercase(), v)))
}

/// The first (only) item's value. `hasData: false` means too little volume
/// for Google to say: unknown, so no point (never a 0). `"<1"` is interest
/// above zero but under one: stored as 0.5, the middle of what Google says,
/// whether `value` reads 0 or 1 beside it (the reference is unsure which).
fn first_value(point: &Value) -> Result<Option<f64>, String> {
    if let Some(has) = point.get("hasData") {
        match has.get(0).and_then(Value::as_bool) {
            Some(false) => return Ok(None),
            Some(true) => {}
            None => return Err("hasData is not a list of booleans".into()),
        }
    }
    let formatted = point
        .get("formattedValue")
        .and_then(|f| f.get(0))
        .and_then(Value::as_str)
        .map(str::trim);
    if formatted == Some("<1") {
        return Ok(Some(0.5));
    }
    let value = point
        .get("value")
        .and_then(|v| v.get(0))
        .and_then(Value::as_f64)
        .ok_or("value is missing or not a list of numbers")?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("value {value} is outside 0-100"));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_prefix_lines_and_no_prefix_are_read() {
        assert_eq!(strip_prefix(b")]}'\n{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(strip_prefix(b")]}',\n{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(strip_prefix(b")]}',{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(strip_prefix(b"{\"a\":1}"), b"{\"a\":1}");
    }

    #[test]
    fn the_window_is_daily_and_long_enough_to_scale() {
        let day = |d: &str| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        let r = |since: &str, until: &str| ScanRequest {
            query: vec!["x".into()],
            countries: vec![],
            since_ms: day(since),
            until_ms: day(until),
            now_ms: day(until),
        };
        assert_eq!(
            window(&r("2026-11-19", "2026-11-20")).0,
            "2026-08-23 2026-11-20"
        );
        assert_eq!(
            window(&r("2026-01-01", "2026-11-20")).0,
            "2026-02-24 2026-11-20"
        );
        assert_eq!(
            window(&r("2026-06-01", "2026-11-20")).0,
            "2026-06-01 2026-11-20"
        );
    }

    #[test]
    fn less_than_one_is_half_and_no_data_is_no_point() {
        let p = |v: Value| time_point(&v);
        assert_eq!(
            p(
                serde_json::json!({"time":"86400","value":[0],"formattedValue":["<1"],"hasData":[true]})
            ),
            Ok(Some((1, 0.5)))
        );
        assert_eq!(
            p(
                serde_json::json!({"time":"86400","value":[0],"formattedValue":["0"],"hasData":[false]})
            ),
            Ok(None)
        );
        assert_eq!(
            p(serde_json::json!({"time":"86400","value":[40],"isPartial":true})),
            Ok(None)
        );
        assert!(p(serde_json::json!({"time":"x","value":[40]})).is_err());
    }
}
