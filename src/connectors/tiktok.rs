//! TikTok: the Research API's video query (`tiktok_research`) and the
//! Commercial Content API's ad query (`tiktok_ads`), behind one client token.
//!
//! Both need an approved client (`TIKTOK_CLIENT_KEY` / `TIKTOK_CLIENT_SECRET`),
//! exchanged at `POST /v2/oauth/token/` for a two-hour client token. The
//! token is kept by the connector until a minute before it expires, and a
//! request answered `access_token_invalid` gets one new token and one replay.
//!
//! How a source's query is read: an entry starting with `#` is a hashtag, any
//! other entry a keyword. Research asks for videos matching any of them (one
//! `or` list), created by creators of the source's countries (`region_code`,
//! an `and` condition). The ad query takes one search term and one country per
//! request, so each (entry, country) pair is a search of its own, run one after
//! the other; without countries it asks for `ALL`.
//!
//! Video ids are 64-bit integers sent as JSON numbers above 2^53: they are
//! read from serde_json's integer form and kept as strings, never as floats.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::geo::region_of;
use crate::engine::observation::parse_observation;

pub const RESEARCH_NOT_COVERED: &[&str] = &[
    "Videos from the last two days: TikTok's Research API adds new videos about two days late",
    "Private and deleted videos, and videos by creators under 18",
    "Videos by creators registered in Canada",
    "Where the viewers are: TikTok gives only the country where the creator registered the account",
];

pub const ADS_NOT_COVERED: &[&str] = &[
    "Ads shown only outside the EU, Norway, Iceland, Liechtenstein, the UK and Switzerland: TikTok's ad library lists only ads shown there",
    "What an ad spent, how often it was seen, and its likes, comments and shares: TikTok does not report them",
    "An ad's words: the ad search returns its videos and pictures, not its text",
    "Ads that stopped running more than about a year ago",
];

const KEY: &str = "TIKTOK_CLIENT_KEY";
const SECRET: &str = "TIKTOK_CLIENT_SECRET";
/// Exactly the fields the video mapping reads.
pub const VIDEO_FIELDS: &str = "id,create_time,username,region_code,video_description,voice_to_text,hashtag_names,view_count,like_count,comment_count,share_count";
/// Exactly the fields the ad mapping reads.
pub const AD_FIELDS: &str = "ad.id,ad.first_shown_date,advertiser.business_name";
pub const VIDEO_PAGE_SIZE: u32 = 100;
pub const AD_PAGE_SIZE: u32 = 50;
/// A research query may span at most 30 days.
const MAX_SPAN_DAYS: i64 = 30;
/// The ad library starts after 2022-10-01.
const FIRST_AD_DAY: &str = "20221002";
const MAX_SEARCH_TERM: usize = 50;
/// A token is renewed this long before TikTok says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// TikTok sends no wait with `rate_limit_exceeded`: a short throttle.
const RATE_LIMIT_PAUSE_MS: i64 = 60_000;
/// A fresh search id is sometimes refused (observed); clients retry it.
const SEARCH_ID_RETRIES: u32 = 3;
const DAY_MS: i64 = 86_400_000;
const MAX_TEXT: usize = 10_000;

/// Countries the Commercial Content API covers (EU-27, the rest of the EEA,
/// the UK and Switzerland).
pub const AD_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "NO", "IS", "LI", "GB", "CH",
];

pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let kind = config.kind;
    let key = secrets.require(kind, KEY)?.to_owned();
    let secret = secrets.require(kind, SECRET)?.to_owned();
    let client = Client {
        http: Http::new(kind, policy.clone()),
        base: config.base_url().to_owned(),
        key,
        secret,
        token: Mutex::new(None),
    };
    match kind {
        SourceKind::TiktokAds => {
            ad_searches(&config.query, &config.countries)?;
            Ok(Box::new(Ads { client }))
        }
        _ => {
            let (keywords, hashtags) = terms(&config.query);
            if keywords.is_empty() && hashtags.is_empty() {
                return Err(ConnectorError::Config {
                    kind,
                    detail: "the query needs at least one keyword or #hashtag".into(),
                });
            }
            Ok(Box::new(Research { client }))
        }
    }
}

struct Token {
    value: String,
    renew_at: Instant,
}

/// The HTTP client and the cached client token shared by both APIs.
struct Client {
    http: Http,
    base: String,
    key: String,
    secret: String,
    token: Mutex<Option<Token>>,
}

/// Why a call failed, before a retry decides what to do with it.
enum Failure {
    TokenInvalid(String),
    SearchIdRefused(ConnectorError),
    Final(ConnectorError),
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    log_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    log_id: Option<String>,
}

impl Client {
    fn kind(&self) -> SourceKind {
        self.http.kind()
    }

    /// The cached token, or a new one when there is none or it is about to
    /// expire.
    async fn token(&self, now_ms: i64) -> ConnectorResult<String> {
        if let Some(token) = self
            .token
            .lock()
            .expect("token lock")
            .as_ref()
            .filter(|t| Instant::now() < t.renew_at)
        {
            return Ok(token.value.clone());
        }
        let kind = self.kind();
        let url = format!("{}/v2/oauth/token/", self.base);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_key", &self.key)
            .append_pair("client_secret", &self.secret)
            .append_pair("grant_type", "client_credentials")
            .finish();
        let response = self
            .http
            .send(|client| {
                client
                    .post(&url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(CACHE_CONTROL, "no-cache")
                    .body(form.clone())
            })
            .await?;
        if response.status == 429 {
            return Err(ConnectorError::RateLimited {
                kind,
                resume_at_ms: response
                    .retry_after_ms(now_ms)
                    .unwrap_or(now_ms + RATE_LIMIT_PAUSE_MS),
                detail: "too many token requests".into(),
            });
        }
        let answer: TokenAnswer = match serde_json::from_slice(&response.body) {
            Ok(answer) => answer,
            Err(_) if !response.is_success() => {
                return Err(self.refused(format!("HTTP {}", response.status)));
            }
            Err(e) => {
                return Err(ConnectorError::BadResponse {
                    kind,
                    detail: format!("token answer: {e}"),
                });
            }
        };
        match answer.access_token.filter(|t| !t.is_empty()) {
            Some(value) if response.is_success() && answer.error.is_none() => {
                let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(7200));
                let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
                *self.token.lock().expect("token lock") = Some(Token {
                    value: value.clone(),
                    renew_at,
                });
                Ok(value)
            }
            _ => {
                let code = match &answer.error {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Object(o)) => o
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("refused")
                        .to_owned(),
                    _ => format!("HTTP {}", response.status),
                };
                let mut detail = code;
                if let Some(description) = answer.error_description.filter(|d| !d.is_empty()) {
                    detail.push_str(": ");
                    detail.push_str(&description);
                }
                if let Some(log_id) = answer.log_id {
                    detail.push_str(&format!(" (log_id {log_id})"));
                }
                Err(self.refused(detail))
            }
        }
    }

    fn refused(&self, detail: String) -> ConnectorError {
        ConnectorError::Credentials {
            kind: self.kind(),
            detail: self.scrub(format!(
                "{KEY} / {SECRET} were refused when asking for a client token: {detail}"
            )),
        }
    }

    fn forget_token(&self) {
        *self.token.lock().expect("token lock") = None;
    }

    /// TikTok's messages can quote a request; the secrets never leave.
    fn scrub(&self, text: String) -> String {
        let mut text = text;
        for secret in [&self.secret, &self.key] {
            if !secret.is_empty() && text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[secret]");
            }
        }
        text
    }

    /// POSTs `body` to `path` and answers with the envelope's `data`,
    /// refreshing the token once when TikTok says it is invalid.
    async fn query(&self, path: &str, body: &Value, now_ms: i64) -> ConnectorResult<Value> {
        let url = format!("{}{path}", self.base);
        let mut refreshed = false;
        let mut search_id_retries = 0;
        loop {
            let token = self.token(now_ms).await?;
            let response = self
                .http
                .send(|client| client.post(&url).bearer_auth(&token).json(body))
                .await?;
            match interpret(self.kind(), &response, now_ms) {
                Ok(data) => return Ok(data),
                Err(Failure::TokenInvalid(_)) if !refreshed => {
                    refreshed = true;
                    self.forget_token();
                }
                Err(Failure::TokenInvalid(detail)) => {
                    return Err(ConnectorError::Credentials {
                        kind: self.kind(),
                        detail: self.scrub(format!(
                            "a new token from {KEY} / {SECRET} was refused too: {detail}"
                        )),
                    });
                }
                Err(Failure::SearchIdRefused(_)) if search_id_retries < SEARCH_ID_RETRIES => {
                    search_id_retries += 1;
                    // Clients that met this wait about 5 s (ten default
                    // backoff steps) and send the same request again.
                    tokio::time::sleep(self.http.policy.backoff.saturating_mul(10)).await;
                }
                Err(Failure::SearchIdRefused(e)) | Err(Failure::Final(e)) => {
                    return Err(scrub_error(e, |s| self.scrub(s)));
                }
            }
        }
    }
}

/// The envelope's `data`, or what its `error` means. `error` comes on every
/// answer, successes too (`code: "ok"`).
fn interpret(kind: SourceKind, response: &Response, now_ms: i64) -> Result<Value, Failure> {
    let status = response.status;
    let envelope: Envelope = match serde_json::from_slice(&response.body) {
        Ok(envelope) => envelope,
        Err(e) if response.is_success() => {
            return Err(Failure::Final(ConnectorError::BadResponse {
                kind,
                detail: format!("HTTP {status}: {e}"),
            }));
        }
        Err(_) => {
            return Err(by_status(kind, response, now_ms, format!("HTTP {status}")));
        }
    };
    let error = envelope.error.unwrap_or(ApiError {
        code: if response.is_success() {
            "ok".into()
        } else {
            String::new()
        },
        message: String::new(),
        log_id: None,
    });
    if error.code == "ok" && response.is_success() {
        return envelope.data.ok_or_else(|| {
            Failure::Final(ConnectorError::BadResponse {
                kind,
                detail: "an answer without its data".into(),
            })
        });
    }
    let mut detail = if error.message.is_empty() {
        format!("{} (HTTP {status})", error.code)
    } else {
        format!("{}: {} (HTTP {status})", error.code, error.message)
    };
    if let Some(log_id) = &error.log_id {
        detail.push_str(&format!(", log_id {log_id}"));
    }
    Err(match error.code.as_str() {
        "access_token_invalid" => Failure::TokenInvalid(detail),
        "scope_not_authorized" | "scope_permission_missed" => {
            Failure::Final(ConnectorError::Credentials {
                kind,
                detail: format!("the client of {KEY} is not approved for this API: {detail}"),
            })
        }
        "rate_limit_exceeded" => Failure::Final(ConnectorError::RateLimited {
            kind,
            resume_at_ms: response
                .retry_after_ms(now_ms)
                .unwrap_or(now_ms + RATE_LIMIT_PAUSE_MS),
            detail,
        }),
        code if code.contains("quota") => Failure::Final(ConnectorError::QuotaExhausted {
            kind,
            // The daily quota resets at 00:00 UTC.
            resume_at_ms: (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS,
            detail,
        }),
        "invalid_params" if error.message.to_ascii_lowercase().contains("search id") => {
            Failure::SearchIdRefused(ConnectorError::BadQuery { kind, detail })
        }
        "invalid_params" => Failure::Final(ConnectorError::BadQuery { kind, detail }),
        "internal_error" => Failure::Final(ConnectorError::Unavailable { kind, detail }),
        _ => by_status(kind, response, now_ms, detail),
    })
}

fn by_status(kind: SourceKind, response: &Response, now_ms: i64, detail: String) -> Failure {
    match response.status {
        401 => Failure::TokenInvalid(detail),
        403 => Failure::Final(ConnectorError::Credentials {
            kind,
            detail: format!("the client of {KEY} was refused: {detail}"),
        }),
        429 => Failure::Final(ConnectorError::RateLimited {
            kind,
            resume_at_ms: response
                .retry_after_ms(now_ms)
                .unwrap_or(now_ms + RATE_LIMIT_PAUSE_MS),
            detail,
        }),
        400 => Failure::Final(ConnectorError::BadQuery { kind, detail }),
        _ => Failure::Final(ConnectorError::BadResponse { kind, detail }),
    }
}

fn scrub_error(error: ConnectorError, clean: impl Fn(String) -> String) -> ConnectorError {
    use ConnectorError as E;
    match error {
        E::Credentials { kind, detail } => E::Credentials {
            kind,
            detail: clean(detail),
        },
        E::RateLimited {
            kind,
            resume_at_ms,
            detail,
        } => E::RateLimited {
            kind,
            resume_at_ms,
            detail: clean(detail),
        },
        E::QuotaExhausted {
            kind,
            resume_at_ms,
            detail,
        } => E::QuotaExhausted {
            kind,
            resume_at_ms,
            detail: clean(detail),
        },
        E::BadQuery { kind, detail } => E::BadQuery {
            kind,
            detail: clean(detail),
        },
        E::Unavailable { kind, detail } => E::Unavailable {
            kind,
            detail: clean(detail),
        },
        E::BadResponse { kind, detail } => E::BadResponse {
            kind,
            detail: clean(detail),
        },
        E::Config { kind, detail } => E::Config {
            kind,
            detail: clean(detail),
        },
        other @ E::MissingCredentials { .. } => other,
    }
}

/// `(keywords, hashtags)`: `#` marks a hashtag, which TikTok wants lowercase
/// and without the `#`.
fn terms(query: &[String]) -> (Vec<String>, Vec<String>) {
    let mut keywords = Vec::new();
    let mut hashtags = Vec::new();
    for entry in query.iter().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        match entry.strip_prefix('#') {
            Some(tag) if !tag.trim().is_empty() => hashtags.push(tag.trim().to_lowercase()),
            Some(_) => {}
            None => keywords.push(entry.to_owned()),
        }
    }
    (keywords, hashtags)
}

fn yyyymmdd(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y%m%d")
        .to_string()
}

/// `start_date` and `end_date` for a window. Whether `end_date` is inclusive
/// is uncertain (the docs say "upper bound", a client treats it as
/// exclusive): the day after the window's last day is asked for, so both
/// readings cover the window, but never a day after today (which holds no
/// video yet). The span is cut to the 30 days TikTok allows, keeping the most
/// recent ones.
fn research_dates(request: &ScanRequest) -> (String, String) {
    let today = request.now_ms.div_euclid(DAY_MS);
    let end = (request.until_ms.div_euclid(DAY_MS) + 1).min(today);
    let start = request
        .since_ms
        .div_euclid(DAY_MS)
        .max(end - MAX_SPAN_DAYS)
        .min(end);
    (yyyymmdd(start * DAY_MS), yyyymmdd(end * DAY_MS))
}

fn condition(field: &str, values: &[String]) -> Value {
    json!({ "operation": "IN", "field_name": field, "field_values": values })
}

/// The video query's body: any keyword or hashtag, from the countries asked.
pub fn research_body(request: &ScanRequest, position: Option<(i64, &str)>) -> Value {
    let (keywords, hashtags) = terms(&request.query);
    let mut any = Vec::with_capacity(2);
    if !keywords.is_empty() {
        any.push(condition("keyword", &keywords));
    }
    if !hashtags.is_empty() {
        any.push(condition("hashtag_name", &hashtags));
    }
    let mut query = Map::new();
    if !request.countries.is_empty() {
        let countries: Vec<String> = request
            .countries
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        query.insert(
            "and".into(),
            Value::Array(vec![condition("region_code", &countries)]),
        );
    }
    query.insert("or".into(), Value::Array(any));
    let (start, end) = research_dates(request);
    let mut body = json!({
        "query": query,
        "start_date": start,
        "end_date": end,
        "max_count": VIDEO_PAGE_SIZE,
    });
    if let Some((cursor, search_id)) = position {
        let obj = body.as_object_mut().expect("an object literal");
        obj.insert("cursor".into(), Value::from(cursor));
        obj.insert("search_id".into(), Value::from(search_id));
    }
    body
}

fn bad_cursor(kind: SourceKind) -> ConnectorError {
    ConnectorError::Config {
        kind,
        detail: "the saved paging position is unreadable; start the scan again".into(),
    }
}

/// A search id as TikTok sends it (a numeric string, or a number).
fn search_id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// `has_more` as a boolean, or as the string the docs' example shows.
fn has_more_of(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// An id kept exactly: integers from serde_json's integer form, or strings
/// of digits. A float is what a lossy exporter left of an id: refused.
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn push_observation(page: &mut Page, value: Value, what: &str, id: &str, now_ms: i64) {
    match parse_observation(&value, now_ms) {
        Ok(observation) => page.observations.push(observation),
        Err(problem) => page.skipped.push(format!("{what} {id}: {problem}")),
    }
}

struct Research {
    client: Client,
}

impl Connector for Research {
    fn kind(&self) -> SourceKind {
        SourceKind::TiktokResearch
    }

    fn not_covered(&self) -> &'static [&'static str] {
        RESEARCH_NOT_COVERED
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch_page(request, cursor))
    }
}

impl Research {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        let kind = self.client.kind();
        // Our cursor: `<TikTok's cursor>:<search id>`.
        let position = match cursor {
            None => None,
            Some(c) => {
                let (at, id) = c.split_once(':').ok_or_else(|| bad_cursor(kind))?;
                Some((at.parse::<i64>().map_err(|_| bad_cursor(kind))?, id))
            }
        };
        let body = research_body(request, position);
        let path = format!("/v2/research/video/query/?fields={VIDEO_FIELDS}");
        let data = self.client.query(&path, &body, request.now_ms).await?;
        let Some(videos) = data.get("videos").and_then(Value::as_array) else {
            return Err(ConnectorError::BadResponse {
                kind,
                detail: "a video page without data.videos".into(),
            });
        };
        // The next page is where TikTok says, not where the count of videos
        // suggests: deleted and private videos are dropped from a page
        // while its cursor still moves on by max_count.
        let next = if has_more_of(data.get("has_more")) {
            let at = data.get("cursor").and_then(Value::as_i64);
            let id = search_id_of(data.get("search_id"))
                .or_else(|| position.map(|(_, id)| id.to_owned()));
            match (at, id) {
                (Some(at), Some(id)) => Some(format!("{at}:{id}")),
                _ => {
                    return Err(ConnectorError::BadResponse {
                        kind,
                        detail: "has_more without a cursor and a search_id".into(),
                    });
                }
            }
        } else {
            None
        };
        let mut page = Page {
            observations: Vec::with_capacity(videos.len()),
            next,
            ..Page::default()
        };
        for video in videos {
            map_video(video, request.now_ms, &mut page);
        }
        Ok(page)
    }
}

fn map_video(video: &Value, now_ms: i64, page: &mut Page) {
    let Some(v) = video.as_object() else {
        page.skipped
            .push("a video that is not a JSON object".into());
        return;
    };
    let Some(id) = id_of(v.get("id")) else {
        page.skipped.push("a video without its id".into());
        return;
    };
    let mut obs = Map::with_capacity(14);
    obs.insert("platform".into(), Value::from("tiktok"));
    obs.insert("kind".into(), Value::from("video"));
    obs.insert("observed_at".into(), Value::from(now_ms));
    let username = v
        .get("username")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(username) = username {
        obs.insert(
            "url".into(),
            Value::from(format!("https://www.tiktok.com/@{username}/video/{id}")),
        );
    }
    if let Some(author) = v.get("username") {
        obs.insert("author".into(), author.clone());
    }
    let mut text = String::new();
    for name in ["video_description", "voice_to_text"] {
        match v.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                let s = s.trim();
                if !s.is_empty() {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(s);
                }
            }
            Some(_) => {
                page.skipped
                    .push(format!("video {id}: {name} must be a text"));
                return;
            }
        }
    }
    if !text.is_empty() {
        // A long transcript must not cost the whole video.
        if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
            text.truncate(cut);
        }
        obs.insert("text".into(), Value::String(text));
    }
    for (from, to) in [
        ("create_time", "published_at"),
        ("hashtag_names", "hashtags"),
        ("view_count", "views"),
        ("like_count", "likes"),
        ("comment_count", "comments"),
        ("share_count", "shares"),
    ] {
        if let Some(value) = v.get(from).filter(|x| !x.is_null()) {
            obs.insert(to.into(), value.clone());
        }
    }
    // The creator's registration country; a code MarketScout does not know
    // loses the country, not the video.
    if let Some(country) = v
        .get("region_code")
        .and_then(Value::as_str)
        .filter(|c| c.len() == 2 && region_of(c).is_some())
    {
        obs.insert("country".into(), Value::from(country));
    }
    obs.insert("platform_id".into(), Value::String(id.clone()));
    push_observation(page, Value::Object(obs), "video", &id, now_ms);
}

struct Ads {
    client: Client,
}

#[derive(Debug, Clone, PartialEq)]
struct AdSearch {
    term: String,
    /// A supported country code, or `ALL`.
    country: String,
}

/// Every (term, country) search, in order; countries the ad library does not
/// cover are left out, and a source with only those cannot work.
fn ad_searches(query: &[String], countries: &[String]) -> ConnectorResult<Vec<AdSearch>> {
    let kind = SourceKind::TiktokAds;
    let mut codes: Vec<String> = countries
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| AD_COUNTRIES.contains(&c.as_str()))
        .collect();
    if codes.is_empty() {
        if !countries.is_empty() {
            return Err(ConnectorError::Config {
                kind,
                detail: "TikTok's ad library covers only ads shown in the EU, Norway, Iceland, Liechtenstein, the UK and Switzerland; none of the source's countries is one of them".into(),
            });
        }
        codes.push("ALL".into());
    }
    let mut searches = Vec::new();
    for entry in query.iter().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        let term = entry.trim_start_matches('#').trim();
        if term.is_empty() {
            continue;
        }
        if term.chars().count() > MAX_SEARCH_TERM {
            return Err(ConnectorError::Config {
                kind,
                detail: format!(
                    "TikTok's ad search takes at most {MAX_SEARCH_TERM} characters: {term:?} is longer"
                ),
            });
        }
        for country in &codes {
            searches.push(AdSearch {
                term: term.to_owned(),
                country: country.clone(),
            });
        }
    }
    if searches.is_empty() {
        return Err(ConnectorError::Config {
            kind,
            detail: "the query needs at least one search term".into(),
        });
    }
    Ok(searches)
}

pub fn ad_body(term: &str, country: &str, request: &ScanRequest, search_id: Option<&str>) -> Value {
    let min = yyyymmdd(request.since_ms).max(FIRST_AD_DAY.to_owned());
    let max = yyyymmdd(request.until_ms).max(min.clone());
    let mut body = json!({
        "filters": {
            "ad_published_date_range": { "min": min, "max": max },
            "country_code": country,
        },
        "search_term": term,
        "search_type": "exact_phrase",
        "max_count": AD_PAGE_SIZE,
    });
    if let Some(id) = search_id {
        let obj = body.as_object_mut().expect("an object literal");
        obj.insert("search_id".into(), Value::from(id));
    }
    body
}

impl Connector for Ads {
    fn kind(&self) -> SourceKind {
        SourceKind::TiktokAds
    }

    fn not_covered(&self) -> &'static [&'static str] {
        ADS_NOT_COVERED
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch_page(request, cursor))
    }
}

impl Ads {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        let kind = SourceKind::TiktokAds;
        let searches = ad_searches(&request.query, &request.countries)?;
        // Our cursor: `<search index>:<search id>` (empty: the first page).
        let (mut index, mut search_id) = match cursor {
            None => (0, None),
            Some(c) => {
                let (i, id) = c.split_once(':').ok_or_else(|| bad_cursor(kind))?;
                let i: usize = i.parse().map_err(|_| bad_cursor(kind))?;
                (i, (!id.is_empty()).then(|| id.to_owned()))
            }
        };
        let path = format!("/v2/research/adlib/ad/query/?fields={AD_FIELDS}");
        loop {
            let Some(search) = searches.get(index) else {
                return Ok(Page::default());
            };
            let body = ad_body(&search.term, &search.country, request, search_id.as_deref());
            let data = self.client.query(&path, &body, request.now_ms).await?;
            let Some(ads) = data.get("ads").and_then(Value::as_array) else {
                return Err(ConnectorError::BadResponse {
                    kind,
                    detail: "an ad page without data.ads".into(),
                });
            };
            let more = if has_more_of(data.get("has_more")) {
                Some(search_id_of(data.get("search_id")).ok_or_else(|| {
                    ConnectorError::BadResponse {
                        kind,
                        detail: "has_more without a search_id".into(),
                    }
                })?)
            } else {
                None
            };
            let country = (search.country != "ALL").then_some(search.country.as_str());
            let mut page = Page {
                observations: Vec::with_capacity(ads.len()),
                ..Page::default()
            };
            for item in ads {
                map_ad(item, country, request.now_ms, &mut page);
            }
            let last = index + 1 >= searches.len();
            page.next = match &more {
                Some(id) => Some(format!("{index}:{id}")),
                None if !last => Some(format!("{}:", index + 1)),
                None => None,
            };
            // A scan stops at an empty page: a search without results must
            // not end it before the next search is asked.
            if page.observations.is_empty() && page.skipped.is_empty() && more.is_none() && !last {
                index += 1;
                search_id = None;
                continue;
            }
            return Ok(page);
        }
    }
}

fn map_ad(item: &Value, country: Option<&str>, now_ms: i64, page: &mut Page) {
    let Some(ad) = item.get("ad").and_then(Value::as_object) else {
        page.skipped.push("an item without its ad".into());
        return;
    };
    let Some(id) = id_of(ad.get("id")) else {
        page.skipped.push("an ad without its id".into());
        return;
    };
    let mut obs = Map::with_capacity(9);
    obs.insert("platform".into(), Value::from("tiktok"));
    obs.insert("kind".into(), Value::from("ad"));
    obs.insert("platform_id".into(), Value::String(id.clone()));
    obs.insert("observed_at".into(), Value::from(now_ms));
    // The pattern clients use for the public page; TikTok does not document it.
    obs.insert(
        "url".into(),
        Value::from(format!("https://library.tiktok.com/ads/detail/?ad_id={id}")),
    );
    if let Some(name) = item.get("advertiser").and_then(|a| a.get("business_name")) {
        obs.insert("author".into(), name.clone());
    }
    if let Some(first) = ad.get("first_shown_date").filter(|v| !v.is_null()) {
        // `YYYYMMDD`, as a string or (in the docs' example) a number.
        let day = match first {
            Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y%m%d").ok(),
            Value::Number(n) => n
                .as_u64()
                .and_then(|d| NaiveDate::parse_from_str(&d.to_string(), "%Y%m%d").ok()),
            _ => None,
        };
        let value = match day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            Some(t) => Value::from(t.and_utc().timestamp_millis()),
            None => first.clone(),
        };
        obs.insert("published_at".into(), value);
    }
    if let Some(country) = country {
        obs.insert("country".into(), Value::from(country));
    }
    push_observation(page, Value::Object(obs), "ad", &id, now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(since_ms: i64, until_ms: i64, now_ms: i64) -> ScanRequest {
        ScanRequest {
            query: vec!["mount".into()],
            countries: vec![],
            since_ms,
            until_ms,
            now_ms,
        }
    }

    #[test]
    fn research_dates_cover_the_window_never_pass_today_and_span_at_most_30_days() {
        // 2025-11-20T12:00Z
        let now = 1_763_640_000_000;
        assert_eq!(
            research_dates(&window(now - DAY_MS, now, now)),
            ("20251119".into(), "20251120".into())
        );
        assert_eq!(
            research_dates(&window(now - 10 * DAY_MS, now - 5 * DAY_MS, now)),
            ("20251110".into(), "20251116".into())
        );
        assert_eq!(
            research_dates(&window(now - 90 * DAY_MS, now, now)),
            ("20251021".into(), "20251120".into())
        );
    }

    #[test]
    fn hashtags_are_marked_with_a_hash_and_sent_lowercase_without_it() {
        let (keywords, hashtags) = terms(&[
            "phone mount".into(),
            "#TikTokMadeMeBuyIt".into(),
            "#".into(),
            " ".into(),
        ]);
        assert_eq!(keywords, vec!["phone mount".to_owned()]);
        assert_eq!(hashtags, vec!["tiktokmademebuyit".to_owned()]);
    }

    #[test]
    fn ad_searches_pair_terms_with_covered_countries() {
        let s = ad_searches(
            &["mount".into(), "#grip".into()],
            &["de".into(), "US".into(), "FR".into()],
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = s
            .iter()
            .map(|a| (a.term.as_str(), a.country.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("mount", "DE"),
                ("mount", "FR"),
                ("grip", "DE"),
                ("grip", "FR")
            ]
        );
        assert!(ad_searches(&["mount".into()], &["US".into()]).is_err());
        assert_eq!(
            ad_searches(&["mount".into()], &[]).unwrap()[0].country,
            "ALL"
        );
    }
}
