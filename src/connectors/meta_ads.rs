//! The Meta Ad Library: `GET /ads_archive` of the Graph API.
//!
//! How a source's query is read: each entry made only of digits is a Facebook
//! page id (an advertiser), searched with `search_page_ids` (at most 10 per
//! request, so longer lists are split); every other entry is one keyword
//! search (`search_terms`; Meta ANDs the words of one entry, so separate
//! entries are separate searches, run one after the other). The source's
//! countries go to `ad_reached_countries` as a JSON array; with none, `["ALL"]`
//! (the reference allows `ALL`; ordinary commercial ads still only appear when
//! they reached the EU or the UK).
//!
//! One ad becomes one observation per MarketScout platform it ran on
//! (`publisher_platforms`): `facebook` with platform id `<library id>`,
//! `instagram` with `<library id>:instagram`, so both stay stable from scan to
//! scan and never collide. Placements MarketScout has no platform for
//! (Messenger, WhatsApp, Audience Network) count as Facebook when the ad ran
//! on neither Facebook nor Instagram. Impressions and spend are totals of the
//! ad over all its placements: they ride on the first observation only, so a
//! sum over platforms does not count them twice.
//!
//! The caller's access token travels in the query string and comes back
//! inside every `ad_snapshot_url` and `paging.next`: the snapshot URL is
//! stored without its `access_token`, `paging.next` is never followed (the
//! `after` cursor is), and every error message is scrubbed of the token.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::observation::parse_observation;

pub const NOT_COVERED: &[&str] = &[
    "Ordinary (non-political) ads that ran only outside the EU and the UK: Meta's Ad Library API lists them only when they reached the EU or the UK, and only for about a year",
    "How much an ordinary ad spent and how many times it was seen: Meta reports spend and impressions only for political and social-issue ads",
    "Likes, comments, shares and views of ads: the Ad Library does not report them",
];

const KIND: SourceKind = SourceKind::MetaAds;
const TOKEN: &str = "META_ACCESS_TOKEN";
/// Exactly the fields the mapping reads (the default answer holds only `id`).
pub const FIELDS: &str = "id,ad_creation_time,ad_delivery_start_time,ad_creative_bodies,ad_creative_link_titles,ad_creative_link_descriptions,ad_snapshot_url,page_name,publisher_platforms,languages,impressions,spend";
/// Large pages fail on Meta's side (observed with 5000); 100 is well inside.
pub const PAGE_SIZE: u32 = 100;
const MAX_PAGE_IDS: usize = 10;
const MAX_TEXT: usize = 10_000;
/// Meta publishes no wait for its throttles; its budgets are rolling hours.
const DEFAULT_PAUSE_MS: i64 = 3_600_000;

pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let token = secrets.require(KIND, TOKEN)?.to_owned();
    if searches(&config.query).is_empty() {
        return Err(ConnectorError::Config {
            kind: KIND,
            detail: "the query needs at least one search term or Facebook page id".into(),
        });
    }
    Ok(Box::new(MetaAds {
        http: Http::new(KIND, policy.clone()),
        endpoint: format!("{}/ads_archive", config.base_url()),
        token: Arc::from(token),
    }))
}

struct MetaAds {
    http: Http,
    endpoint: String,
    token: Arc<str>,
}

#[derive(Debug, Clone, PartialEq)]
enum Search {
    Terms(String),
    /// A JSON array of page ids, as `search_page_ids` takes them.
    Pages(String),
}

fn is_page_id(entry: &str) -> bool {
    !entry.is_empty() && entry.bytes().all(|b| b.is_ascii_digit())
}

fn searches(query: &[String]) -> Vec<Search> {
    let mut out: Vec<Search> = query
        .iter()
        .map(|q| q.trim())
        .filter(|q| !q.is_empty() && !is_page_id(q))
        .map(|q| Search::Terms(q.to_owned()))
        .collect();
    let pages: Vec<&str> = query
        .iter()
        .map(|q| q.trim())
        .filter(|q| is_page_id(q))
        .collect();
    for chunk in pages.chunks(MAX_PAGE_IDS) {
        out.push(Search::Pages(format!("[{}]", chunk.join(","))));
    }
    out
}

/// `["DE","FR"]`, or `["ALL"]` when the source names no country.
fn reached_countries(countries: &[String]) -> String {
    if countries.is_empty() {
        return r#"["ALL"]"#.to_owned();
    }
    let codes: Vec<String> = countries
        .iter()
        .map(|c| format!("\"{}\"", c.trim().to_ascii_uppercase()))
        .collect();
    format!("[{}]", codes.join(","))
}

fn day(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// Our cursor: `<search index>:<Meta's after cursor>` (empty: the search's
/// first page).
fn parse_cursor(cursor: Option<&str>) -> ConnectorResult<(usize, Option<String>)> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    let bad = || ConnectorError::Config {
        kind: KIND,
        detail: "the saved paging position is unreadable; start the scan again".into(),
    };
    let (index, after) = cursor.split_once(':').ok_or_else(bad)?;
    let index = index.parse().map_err(|_| bad())?;
    Ok((index, (!after.is_empty()).then(|| after.to_owned())))
}

#[derive(Deserialize)]
struct ArchivePage {
    data: Vec<Value>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl Connector for MetaAds {
    fn kind(&self) -> SourceKind {
        KIND
    }

    fn not_covered(&self) -> &'static [&'static str] {
        NOT_COVERED
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(async move {
            self.fetch_page(request, cursor)
                .await
                .map_err(|e| scrub(e, &self.token))
        })
    }
}

impl MetaAds {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        let searches = searches(&request.query);
        let (mut index, mut after) = parse_cursor(cursor)?;
        let countries = reached_countries(&request.countries);
        // The country of an observation is known only when one was asked.
        let country = match request.countries.as_slice() {
            [one] => Some(one.trim().to_ascii_uppercase()),
            _ => None,
        };
        loop {
            let Some(search) = searches.get(index) else {
                return Ok(Page::default());
            };
            let (mut page, more) = self
                .fetch_search(request, search, &countries, country.as_deref(), after)
                .await?;
            page.next = match &more {
                Some(after) => Some(format!("{index}:{after}")),
                None if index + 1 < searches.len() => Some(format!("{}:", index + 1)),
                None => None,
            };
            // A scan stops at an empty page, so a search without results
            // must not end the scan before the next search is asked.
            if page.observations.is_empty()
                && page.skipped.is_empty()
                && more.is_none()
                && index + 1 < searches.len()
            {
                index += 1;
                after = None;
                continue;
            }
            return Ok(page);
        }
    }

    /// One page of one search, and Meta's `after` cursor when there is more.
    async fn fetch_search(
        &self,
        request: &ScanRequest,
        search: &Search,
        countries: &str,
        country: Option<&str>,
        after: Option<String>,
    ) -> ConnectorResult<(Page, Option<String>)> {
        let limit = PAGE_SIZE.to_string();
        let since = day(request.since_ms);
        let until = day(request.until_ms);
        let mut params: Vec<(&str, &str)> = vec![
            ("access_token", &self.token),
            ("ad_type", "ALL"),
            ("ad_reached_countries", countries),
            // The window asks for ads delivered in it, stopped ones included.
            ("ad_active_status", "ALL"),
            ("ad_delivery_date_min", &since),
            ("ad_delivery_date_max", &until),
            ("fields", FIELDS),
            ("limit", &limit),
        ];
        match search {
            Search::Terms(terms) => params.push(("search_terms", terms)),
            Search::Pages(ids) => params.push(("search_page_ids", ids)),
        }
        if let Some(after) = after.as_deref() {
            params.push(("after", after));
        }
        let response = self
            .http
            .send(|client| client.get(&self.endpoint).query(&params))
            .await?;
        if !response.is_success() || looks_like_error(&response) {
            return Err(error_for(&response, request.now_ms));
        }
        let body: ArchivePage = response.json(KIND)?;
        let more = match body.paging {
            _ if body.data.is_empty() => None,
            None => None,
            Some(Paging { cursors, next }) => {
                let after = cursors.and_then(|c| c.after).filter(|a| !a.is_empty());
                match (next.is_some(), after) {
                    (true, None) => {
                        return Err(ConnectorError::BadResponse {
                            kind: KIND,
                            detail: "paging.next without paging.cursors.after".into(),
                        });
                    }
                    (true, Some(after)) => Some(after),
                    // Without `next`, Meta says this is the last page.
                    (false, _) => None,
                }
            }
        };
        let mut page = Page {
            observations: Vec::with_capacity(body.data.len() * 2),
            ..Page::default()
        };
        for item in &body.data {
            map_ad(item, country, request.now_ms, &mut page);
        }
        Ok((page, more))
    }
}

/// A 200 whose body is a Graph error envelope (the status is not to be
/// trusted; the envelope is).
fn looks_like_error(response: &Response) -> bool {
    response.body.starts_with(b"{\"error\"")
}

fn map_ad(item: &Value, country: Option<&str>, now_ms: i64, page: &mut Page) {
    let Some(ad) = item.as_object() else {
        page.skipped.push("an ad that is not a JSON object".into());
        return;
    };
    let id = match ad.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => {
            page.skipped.push("an ad without its Library id".into());
            return;
        }
    };
    match ad_observations(&id, ad, country, now_ms) {
        Err(problem) => page.skipped.push(format!("ad {id}: {problem}")),
        Ok(values) => {
            for value in values {
                match parse_observation(&value, now_ms) {
                    Ok(observation) => page.observations.push(observation),
                    Err(problem) => {
                        page.skipped.push(format!("ad {id}: {problem}"));
                        return;
                    }
                }
            }
        }
    }
}

fn ad_observations(
    id: &str,
    ad: &Map<String, Value>,
    country: Option<&str>,
    now_ms: i64,
) -> Result<Vec<Value>, String> {
    let (facebook, instagram) = match ad.get("publisher_platforms") {
        None | Some(Value::Null) => (true, false),
        Some(Value::Array(names)) => {
            let (mut facebook, mut instagram) = (false, false);
            for name in names {
                match name.as_str() {
                    Some(n) if n.eq_ignore_ascii_case("instagram") => instagram = true,
                    Some(n) if n.eq_ignore_ascii_case("facebook") => facebook = true,
                    Some(_) => {}
                    None => return Err("publisher_platforms must be a list of names".into()),
                }
            }
            (facebook || !instagram, instagram)
        }
        Some(_) => return Err("publisher_platforms must be a list of names".into()),
    };
    let mut text = String::new();
    for name in [
        "ad_creative_bodies",
        "ad_creative_link_titles",
        "ad_creative_link_descriptions",
    ] {
        append_texts(&mut text, ad.get(name), name)?;
    }
    let url = ad
        .get("ad_snapshot_url")
        .and_then(Value::as_str)
        .and_then(without_token)
        .unwrap_or_else(|| format!("https://www.facebook.com/ads/library/?id={id}"));
    let mut base = json!({
        "platform": if facebook { "facebook" } else { "instagram" },
        "kind": "ad",
        "platform_id": if facebook { id.to_owned() } else { format!("{id}:instagram") },
        "observed_at": now_ms,
        "url": url,
    });
    let obj = base.as_object_mut().expect("an object literal");
    if let Some(author) = ad.get("page_name") {
        obj.insert("author".into(), author.clone());
    }
    if !text.is_empty() {
        // Many long creative versions must not cost the whole ad.
        if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
            text.truncate(cut);
        }
        obj.insert("text".into(), Value::String(text));
    }
    let published = ad
        .get("ad_delivery_start_time")
        .filter(|v| !v.is_null())
        .or_else(|| ad.get("ad_creation_time"));
    if let Some(published) = published {
        let value = match published.as_str().and_then(meta_time_ms) {
            Some(ms) => Value::from(ms),
            // parse_observation names what is wrong with it.
            None => published.clone(),
        };
        obj.insert("published_at".into(), value);
    }
    if let Some(Value::Array(languages)) = ad.get("languages")
        && let Some(language) = languages.first()
    {
        obj.insert("language".into(), language.clone());
    }
    if let Some(country) = country {
        obj.insert("country".into(), Value::from(country));
    }
    let second = (facebook && instagram).then(|| {
        let mut second = base.clone();
        let obj = second.as_object_mut().expect("an object");
        obj.insert("platform".into(), Value::from("instagram"));
        obj.insert("platform_id".into(), Value::from(format!("{id}:instagram")));
        second
    });
    // Bounds go through as Meta sends them (strings; the top bucket without
    // an upper bound): parse_observation reads both and invents nothing.
    let obj = base.as_object_mut().expect("an object");
    for metric in ["impressions", "spend"] {
        if let Some(v) = ad.get(metric).filter(|v| !v.is_null()) {
            obj.insert(metric.into(), v.clone());
        }
    }
    Ok(std::iter::once(base).chain(second).collect())
}

fn append_texts(text: &mut String, value: Option<&Value>, name: &str) -> Result<(), String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{name} must be a list of texts")),
    };
    for item in items {
        let Some(s) = item.as_str() else {
            return Err(format!("{name} must be a list of texts"));
        };
        let s = s.trim();
        // Versions of one creative often repeat a line; keep it once.
        if s.is_empty() || text.split('\n').any(|line| line == s) {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(s);
    }
    Ok(())
}

/// Meta's times: `2026-11-18`, `2019-05-13T15:30:04+0000` (no colon in the
/// offset, so not RFC 3339) or RFC 3339.
fn meta_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .map(|t| t.timestamp_millis())
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
        })
}

/// The snapshot URL without the caller's `access_token`.
fn without_token(snapshot: &str) -> Option<String> {
    let mut url = url::Url::parse(snapshot).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    if url.query_pairs().any(|(k, _)| k == "access_token") {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_user_msg: Option<String>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

/// What an error answer means. Meta's `error.code` decides, never the HTTP
/// status (throttles come as 400 or 403).
fn error_for(response: &Response, now_ms: i64) -> ConnectorError {
    let status = response.status;
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&response.body) else {
        return match status {
            401 | 403 => ConnectorError::Credentials {
                kind: KIND,
                detail: format!("{TOKEN} was refused (HTTP {status})"),
            },
            429 => ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: resume_at(response, now_ms),
                detail: "HTTP 429".into(),
            },
            400 => ConnectorError::BadQuery {
                kind: KIND,
                detail: "HTTP 400".into(),
            },
            _ => ConnectorError::BadResponse {
                kind: KIND,
                detail: format!("HTTP {status} without a Graph error"),
            },
        };
    };
    let message = error
        .error_user_msg
        .as_deref()
        .or(error.message.as_deref())
        .unwrap_or("no message")
        .trim();
    let code = error.code.unwrap_or(-1);
    let mut reference = format!("code {code}");
    if let Some(sub) = error.error_subcode {
        reference.push_str(&format!("/{sub}"));
    }
    if let Some(trace) = error.fbtrace_id.as_deref() {
        reference.push_str(&format!(", fbtrace_id {trace}"));
    }
    let detail = format!("{message} ({reference})");
    match code {
        190 | 102 => ConnectorError::Credentials {
            kind: KIND,
            detail: format!(
                "{TOKEN} is expired or invalid: {detail}; mint a new long-lived token (they last about 60 days)"
            ),
        },
        10 | 200..=299 => ConnectorError::Credentials {
            kind: KIND,
            detail: format!(
                "{TOKEN} may not use the Ad Library API: {detail}; confirm your identity at facebook.com/ads/library/api"
            ),
        },
        341 => ConnectorError::QuotaExhausted {
            kind: KIND,
            resume_at_ms: resume_at(response, now_ms),
            detail: format!("the app's call budget is spent: {detail}"),
        },
        4 | 17 | 32 | 368 | 613 | 80_000..=80_014 => ConnectorError::RateLimited {
            kind: KIND,
            resume_at_ms: resume_at(response, now_ms),
            detail,
        },
        100 => ConnectorError::BadQuery { kind: KIND, detail },
        1 | 2 => ConnectorError::Unavailable { kind: KIND, detail },
        _ if matches!(status, 401 | 403) => ConnectorError::Credentials {
            kind: KIND,
            detail: format!("{TOKEN} was refused: {detail}"),
        },
        _ if status == 429 => ConnectorError::RateLimited {
            kind: KIND,
            resume_at_ms: resume_at(response, now_ms),
            detail,
        },
        _ => ConnectorError::BadQuery { kind: KIND, detail },
    }
}

/// `Retry-After` if Meta sends one, else the longest
/// `estimated_time_to_regain_access` (minutes) of the usage headers, else an
/// hour (Meta's budgets are rolling hours).
fn resume_at(response: &Response, now_ms: i64) -> i64 {
    if let Some(at) = response.retry_after_ms(now_ms) {
        return at;
    }
    let minutes = [
        "x-business-use-case-usage",
        "x-app-usage",
        "x-ad-account-usage",
    ]
    .iter()
    .filter_map(|h| response.headers.get(*h)?.to_str().ok())
    .filter_map(|text| serde_json::from_str::<Value>(text).ok())
    .filter_map(|usage| regain_minutes(&usage))
    .max()
    .filter(|m| *m > 0);
    match minutes {
        Some(m) => now_ms.saturating_add(m.saturating_mul(60_000)),
        None => now_ms + DEFAULT_PAUSE_MS,
    }
}

fn regain_minutes(usage: &Value) -> Option<i64> {
    match usage {
        Value::Object(map) => {
            let own = map
                .get("estimated_time_to_regain_access")
                .and_then(Value::as_i64);
            map.values().filter_map(regain_minutes).chain(own).max()
        }
        Value::Array(items) => items.iter().filter_map(regain_minutes).max(),
        _ => None,
    }
}

/// Meta's messages can quote what they were sent; the token never leaves.
fn scrub(error: ConnectorError, token: &str) -> ConnectorError {
    if token.is_empty() {
        return error;
    }
    let clean = |s: String| {
        if s.contains(token) {
            s.replace(token, "[token]")
        } else {
            s
        }
    };
    match error {
        ConnectorError::Credentials { kind, detail } => ConnectorError::Credentials {
            kind,
            detail: clean(detail),
        },
        ConnectorError::RateLimited {
            kind,
            resume_at_ms,
            detail,
        } => ConnectorError::RateLimited {
            kind,
            resume_at_ms,
            detail: clean(detail),
        },
        ConnectorError::QuotaExhausted {
            kind,
            resume_at_ms,
            detail,
        } => ConnectorError::QuotaExhausted {
            kind,
            resume_at_ms,
            detail: clean(detail),
        },
        ConnectorError::BadQuery { kind, detail } => ConnectorError::BadQuery {
            kind,
            detail: clean(detail),
        },
        ConnectorError::Unavailable { kind, detail } => ConnectorError::Unavailable {
            kind,
            detail: clean(detail),
        },
        ConnectorError::BadResponse { kind, detail } => ConnectorError::BadResponse {
            kind,
            detail: clean(detail),
        },
        ConnectorError::Config { kind, detail } => ConnectorError::Config {
            kind,
            detail: clean(detail),
        },
        other @ ConnectorError::MissingCredentials { .. } => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_only_entries_are_page_ids_in_groups_of_ten() {
        let mut query = vec!["phone mount".to_owned(), " ".to_owned()];
        query.extend((0..12).map(|i| format!("10495837123456{i}")));
        let s = searches(&query);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], Search::Terms("phone mount".into()));
        assert!(matches!(&s[1], Search::Pages(p) if p.matches(',').count() == 9));
        assert_eq!(
            s[2],
            Search::Pages("[1049583712345610,1049583712345611]".into())
        );
    }

    #[test]
    fn meta_times_in_all_three_shapes() {
        assert_eq!(meta_time_ms("2025-11-18"), Some(1_763_424_000_000));
        assert_eq!(
            meta_time_ms("2019-05-13T15:30:04+0000"),
            Some(1_557_761_404_000)
        );
        assert_eq!(
            meta_time_ms("2019-05-13T15:30:04Z"),
            Some(1_557_761_404_000)
        );
        assert_eq!(meta_time_ms("yesterday"), None);
    }

    #[test]
    fn usage_headers_give_the_longest_wait() {
        let usage: Value = serde_json::from_str(
            r#"{"123":[{"type":"ads_management","estimated_time_to_regain_access":12},{"estimated_time_to_regain_access":3}]}"#,
        )
        .unwrap();
        assert_eq!(regain_minutes(&usage), Some(12));
    }
}
