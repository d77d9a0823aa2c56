//! YouTube Data API v3: `search.list` finds the videos of the window,
//! `videos.list` adds their statistics (search results carry none).
//!
//! One page of a scan is one search call (up to 50 results) plus one
//! `videos.list` call for those ids. With countries, each country is its own
//! search (`regionCode`), paged to its end before the next country starts;
//! the cursor is `<country index>:<pageToken>`. A video found in several
//! countries is observed once per country.
//!
//! The API key travels in the `key` query parameter, so no URL ever goes
//! into an error, and every detail taken from an error body has the key
//! scrubbed out as well.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::observation::parse_observation;

pub const NOT_COVERED: &[&str] = &[
    "where viewers are: a country filter means a video can be watched there, not that it was made there or is popular there",
    "likes on videos whose owners hide them, and comments where they are turned off",
    "dislikes (YouTube stopped publishing them in 2021)",
    "private, unlisted and deleted videos",
    "more than a few hundred results per search and country (YouTube stops paging early)",
];

const KIND: SourceKind = SourceKind::Youtube;
const KEY_SETTING: &str = "YOUTUBE_API_KEY";
/// The most `search.list` returns per page and `videos.list` accepts per call.
const PAGE_SIZE: usize = 50;
const MAX_TEXT_CHARS: usize = 10_000;
/// Searches of countries that find nothing are skipped within one fetch (a
/// scan stops at an empty page), up to this many calls.
const MAX_CALLS_PER_FETCH: usize = 8;

pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let key = secrets.require(KIND, KEY_SETTING)?.to_owned();
    Ok(Box::new(YouTube {
        http: Http::new(KIND, policy.clone()),
        base_url: config.base_url().to_owned(),
        key,
    }))
}

struct YouTube {
    http: Http,
    base_url: String,
    key: String,
}

impl Connector for YouTube {
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
struct SearchList {
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
    items: Vec<Value>,
}

#[derive(Deserialize)]
struct VideoList {
    items: Vec<Value>,
}

impl YouTube {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        let regions: Vec<Option<String>> = if request.countries.is_empty() {
            vec![None]
        } else {
            request
                .countries
                .iter()
                .map(|c| Some(c.trim().to_ascii_uppercase()))
                .collect()
        };
        let (mut region, mut token) = parse_cursor(cursor, regions.len())?;
        let q = search_terms(&request.query);
        let mut calls = 0;
        loop {
            calls += 1;
            let search = self
                .search(request, &q, regions[region].as_deref(), token.as_deref())
                .await?;
            let next = match search.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if !search.items.is_empty() => Some((region, Some(t))),
                _ if region + 1 < regions.len() => Some((region + 1, None)),
                _ => None,
            };
            let mut page = self
                .details(request, regions[region].as_deref(), &search.items)
                .await?;
            match next {
                Some((r, t))
                    if page.observations.is_empty()
                        && page.skipped.is_empty()
                        && calls < MAX_CALLS_PER_FETCH =>
                {
                    region = r;
                    token = t;
                }
                next => {
                    page.next = next.map(|(r, t)| format!("{r}:{}", t.unwrap_or_default()));
                    return Ok(page);
                }
            }
        }
    }

    async fn search(
        &self,
        request: &ScanRequest,
        q: &str,
        region: Option<&str>,
        token: Option<&str>,
    ) -> ConnectorResult<SearchList> {
        let mut params: Vec<(&str, String)> = vec![
            ("part", "snippet".into()),
            ("type", "video".into()),
            ("q", q.to_owned()),
            ("order", "date".into()),
            ("publishedAfter", rfc3339(request.since_ms)),
            ("publishedBefore", rfc3339(request.until_ms)),
            ("maxResults", PAGE_SIZE.to_string()),
        ];
        if let Some(region) = region {
            params.push(("regionCode", region.to_owned()));
        }
        if let Some(token) = token {
            params.push(("pageToken", token.to_owned()));
        }
        params.push(("key", self.key.clone()));
        let url = format!("{}/search", self.base_url);
        let response = self.http.send(|c| c.get(&url).query(&params)).await?;
        self.check(&response, request.now_ms)?;
        response.json(KIND)
    }

    /// The search results of one page with their statistics, in search order.
    async fn details(
        &self,
        request: &ScanRequest,
        region: Option<&str>,
        results: &[Value],
    ) -> ConnectorResult<Page> {
        let mut page = Page::default();
        let mut ids: Vec<&str> = Vec::with_capacity(results.len());
        for (i, result) in results.iter().enumerate() {
            match result.pointer("/id/videoId").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => ids.push(id),
                _ => page
                    .skipped
                    .push(format!("search result {}: no id.videoId", i + 1)),
            }
        }
        if ids.is_empty() {
            return Ok(page);
        }
        // `type=video` keeps to one result per video; a repeat would only be
        // observed twice.
        ids.truncate(PAGE_SIZE);
        let params = [
            ("part", "snippet,statistics".to_owned()),
            ("id", ids.join(",")),
            ("key", self.key.clone()),
        ];
        let url = format!("{}/videos", self.base_url);
        let response = self.http.send(|c| c.get(&url).query(&params)).await?;
        self.check(&response, request.now_ms)?;
        let videos: VideoList = response.json(KIND)?;
        let by_id: HashMap<&str, &Value> = videos
            .items
            .iter()
            .filter_map(|v| Some((v.get("id")?.as_str()?, v)))
            .collect();
        page.observations.reserve(ids.len());
        for id in ids {
            let Some(video) = by_id.get(id) else {
                // videos.list silently drops private and deleted videos.
                page.skipped.push(format!(
                    "video {id}: no longer available (private or deleted since the search)"
                ));
                continue;
            };
            match observation(video, id, region, request.now_ms) {
                Ok(o) => page.observations.push(o),
                Err(reason) => page.skipped.push(format!("video {id}: {reason}")),
            }
        }
        Ok(page)
    }

    /// Turns an error answer into the error that tells the scan what to do.
    fn check(&self, response: &Response, now_ms: i64) -> ConnectorResult<()> {
        if response.is_success() {
            return Ok(());
        }
        let status = response.status;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let error = body.get("error");
        let reason = error
            .and_then(|e| e.pointer("/errors/0/reason"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let detail_reason = error
            .and_then(|e| e.get("details"))
            .and_then(Value::as_array)
            .and_then(|ds| {
                ds.iter()
                    .find_map(|d| d.get("reason").and_then(Value::as_str))
            })
            .unwrap_or_default();
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(|m| self.scrub(&strip_tags(m)))
            .unwrap_or_default();
        let detail = |what: &str| {
            let mut d = format!("HTTP {status}");
            for part in [reason, detail_reason, what] {
                if !part.is_empty() {
                    d.push_str(": ");
                    d.push_str(part);
                }
            }
            if !message.is_empty() {
                d.push_str(" (");
                d.push_str(&message);
                d.push(')');
            }
            d
        };
        let key_refused = matches!(reason, "keyInvalid" | "keyExpired" | "forbidden")
            || matches!(reason, "accessNotConfigured" | "ipRefererBlocked")
            || detail_reason.starts_with("API_KEY")
            // A bad key also comes back as a plain `badRequest` whose message
            // names the key; any other `badRequest` is about the query.
            || (reason == "badRequest" && message.contains("API key"))
            || status == 401;
        Err(match reason {
            "quotaExceeded" | "dailyLimitExceeded" => ConnectorError::QuotaExhausted {
                kind: KIND,
                resume_at_ms: next_pacific_midnight_ms(now_ms),
                detail: detail("the daily quota resets at midnight Pacific time"),
            },
            "rateLimitExceeded" | "userRateLimitExceeded" => ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: response.retry_after_ms(now_ms).unwrap_or(now_ms + 60_000),
                detail: detail(""),
            },
            _ if key_refused => ConnectorError::Credentials {
                kind: KIND,
                detail: detail(&format!(
                    "check {KEY_SETTING} and that the YouTube Data API v3 is enabled for its project"
                )),
            },
            _ if status == 429 => ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: response.retry_after_ms(now_ms).unwrap_or(now_ms + 60_000),
                detail: detail(""),
            },
            _ if status == 400 => ConnectorError::BadQuery {
                kind: KIND,
                detail: detail(""),
            },
            _ => ConnectorError::BadResponse {
                kind: KIND,
                detail: detail(""),
            },
        })
    }

    fn scrub(&self, text: &str) -> String {
        if self.key.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.key, "<YOUTUBE_API_KEY>")
        }
    }
}

/// The source's terms as one `q`: YouTube reads `|` as OR. A term of several
/// words is quoted so it stays one phrase next to the `|` (the reference
/// documents `|` and `-` only; quotes are ordinary YouTube search syntax).
fn search_terms(terms: &[String]) -> String {
    let mut q = String::new();
    for term in terms {
        let term = term.trim().replace('"', "");
        if term.is_empty() {
            continue;
        }
        if !q.is_empty() {
            q.push('|');
        }
        if term.contains(char::is_whitespace) {
            q.push('"');
            q.push_str(&term);
            q.push('"');
        } else {
            q.push_str(&term);
        }
    }
    q
}

fn parse_cursor(cursor: Option<&str>, regions: usize) -> ConnectorResult<(usize, Option<String>)> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    let parsed = cursor
        .split_once(':')
        .and_then(|(r, t)| Some((r.parse::<usize>().ok()?, t)))
        .filter(|(r, _)| *r < regions);
    match parsed {
        Some((r, t)) => Ok((r, (!t.is_empty()).then(|| t.to_owned()))),
        None => Err(ConnectorError::Config {
            kind: KIND,
            detail: "the saved paging position does not fit this source (its countries changed?)"
                .into(),
        }),
    }
}

/// One video as an observation. `region` is the `regionCode` searched: it
/// means "viewable in" that country (not made or popular there), the only
/// country YouTube gives; videos carry no channel country in these calls.
fn observation(
    video: &Value,
    id: &str,
    region: Option<&str>,
    now_ms: i64,
) -> Result<crate::engine::observation::Observation, String> {
    let snippet = video.get("snippet").ok_or("no snippet")?;
    let stats = video
        .get("statistics")
        .filter(|s| s.is_object())
        .ok_or("no statistics")?;
    let views = count(stats, "viewCount")?;
    // A missing likeCount means hidden likes and a missing commentCount
    // disabled comments: unknown, never zero.
    let likes = count(stats, "likeCount")?;
    let comments = count(stats, "commentCount")?;
    let title = text_field(snippet, "title")?;
    let description = text_field(snippet, "description")?;
    let text = match (title, description) {
        (Some(t), Some(d)) if !d.trim().is_empty() => Some(clip(format!("{t}\n\n{d}"))),
        (Some(t), _) => Some(clip(t.to_owned())),
        (None, d) => d.map(|d| clip(d.to_owned())),
    };
    let language = ["defaultAudioLanguage", "defaultLanguage"]
        .iter()
        .find_map(|f| snippet.get(*f).and_then(Value::as_str))
        .filter(|l| !matches!(*l, "und" | "zxx"));
    let value = json!({
        "platform": "youtube",
        "kind": "video",
        "platform_id": id,
        "url": format!("https://www.youtube.com/watch?v={id}"),
        "author": text_field(snippet, "channelTitle")?,
        "text": text,
        "country": region,
        "language": language,
        "published_at": text_field(snippet, "publishedAt")?,
        "observed_at": now_ms,
        "views": views,
        "likes": likes,
        "comments": comments,
    });
    parse_observation(&value, now_ms)
}

/// A statistics count: YouTube sends uint64 values as JSON strings.
fn count(stats: &Value, name: &str) -> Result<Option<i64>, String> {
    match stats.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("statistics.{name} {s:?} is not a count")),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| i64::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("statistics.{name} {n} is not a count")),
        Some(other) => Err(format!("statistics.{name} is {other}, not a count")),
    }
}

fn text_field<'v>(object: &'v Value, name: &str) -> Result<Option<&'v str>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("snippet.{name} is not a string")),
    }
}

fn clip(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
        text.truncate(cut);
    }
    text
}

/// Error messages carry HTML links; the text is enough.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first midnight in US Pacific time after `now_ms`: YouTube's daily
/// quota resets then. Pacific time is UTC-7 from 02:00 on the second Sunday
/// of March to 02:00 on the first Sunday of November, else UTC-8.
pub fn next_pacific_midnight_ms(now_ms: i64) -> i64 {
    const HOUR: i64 = 3_600_000;
    let offset_hours = |at_ms: i64| {
        if in_pacific_daylight_time(at_ms) {
            7
        } else {
            8
        }
    };
    let local_ms = now_ms - offset_hours(now_ms) * HOUR;
    let local_day = local_ms.div_euclid(24 * HOUR);
    let midnight_utc_as_if_local = (local_day + 1) * 24 * HOUR;
    // Midnight in daylight time is 07:00 UTC; whether that instant is in
    // daylight time decides (the switches happen at 02:00 local, never at
    // midnight).
    let daylight = midnight_utc_as_if_local + 7 * HOUR;
    if in_pacific_daylight_time(daylight) {
        daylight
    } else {
        midnight_utc_as_if_local + 8 * HOUR
    }
}

fn in_pacific_daylight_time(at_ms: i64) -> bool {
    let Some(at) = DateTime::<Utc>::from_timestamp_millis(at_ms) else {
        return false;
    };
    let year = at.year();
    let utc_ms = |date: NaiveDate, hour: u32| {
        Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).unwrap_or_default())
            .timestamp_millis()
    };
    // 02:00 PST = 10:00 UTC; 02:00 PDT = 09:00 UTC.
    let start = utc_ms(nth_sunday(year, 3, 2), 10);
    let end = utc_ms(nth_sunday(year, 11, 1), 9);
    (start..end).contains(&at_ms)
}

/// The `n`th Sunday of `month` in `year`.
fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
    first + chrono::Duration::days(i64::from(to_sunday + 7 * (n - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn the_quota_resets_at_the_next_pacific_midnight_in_standard_and_daylight_time() {
        // Winter: UTC-8.
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-11-20T12:00:00Z")),
            ms("2026-11-21T08:00:00Z")
        );
        // Summer: UTC-7.
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-07-01T06:59:59Z")),
            ms("2026-07-01T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-07-01T07:00:00Z")),
            ms("2026-07-02T07:00:00Z")
        );
        // The evening before the spring switch (2026-03-08) is still UTC-8,
        // the next midnight too; the one after is in daylight time.
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-03-08T07:30:00Z")),
            ms("2026-03-08T08:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-03-08T12:00:00Z")),
            ms("2026-03-09T07:00:00Z")
        );
        // Autumn switch (2026-11-01): that day starts in daylight time and
        // the following midnight is in standard time.
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-11-01T06:00:00Z")),
            ms("2026-11-01T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight_ms(ms("2026-11-01T12:00:00Z")),
            ms("2026-11-02T08:00:00Z")
        );
        assert_eq!(nth_sunday(2026, 3, 2).weekday(), Weekday::Sun);
    }

    #[test]
    fn terms_are_ored_with_phrases_quoted() {
        let terms = ["magnetic phone mount", "cloud\"slippers", " ", "#gadgets"].map(String::from);
        assert_eq!(
            search_terms(&terms),
            "\"magnetic phone mount\"|cloudslippers|#gadgets"
        );
    }
}
