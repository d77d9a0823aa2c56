//! Reddit: subreddit `new` listings and search, newest first.
//!
//! **Auth.** With both `REDDIT_CLIENT_ID` and `REDDIT_CLIENT_SECRET` set,
//! app-only OAuth: a client-credentials token from
//! `https://www.reddit.com/api/v1/access_token`, kept until a minute before it
//! expires (and fetched again once on a 401), against `https://oauth.reddit.com`.
//! Without them, the public `.json` pages of `https://www.reddit.com`, which
//! reddit limits to 10 requests a minute and has been seen refusing outright.
//! Every request carries MarketScout's descriptive User-Agent (set by
//! [`super::http`]); reddit throttles generic ones.
//!
//! **Base URL.** A source's `base_url` replaces the API host (OAuth) or the
//! public host; with OAuth the token then comes from
//! `<base_url>/api/v1/access_token`, so one fake server or proxy serves both.
//!
//! **Query.** Items written `r/NAME` (or `/r/NAME`) are subreddits; every
//! other item is a search term, even a single word (a bare word such as
//! "blender" is far more often a product than a subreddit). Subreddits alone:
//! their merged `new` listing (`/r/a+b/new`). Terms alone: one site-wide
//! search per term (`sort=new`, `t` the smallest period covering the
//! window). Both: each term is searched inside those subreddits
//! (`restrict_sr=1`). The cursor is `<stream index>:<after>`.
//!
//! **Window.** Listings cannot be filtered by time, so items outside
//! `[since_ms, until_ms]` are dropped here, and as every stream is sorted
//! newest first, a stream ends at its first item older than `since_ms`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Http, HttpPolicy, Response};
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::observation::{Observation, parse_observation};

pub const NOT_COVERED: &[&str] = &[
    "views (reddit does not publish view counts)",
    "where posters are (reddit has no location; posts carry no country)",
    "shares",
    "private, quarantined and banned subreddits",
    "more than about 1,000 posts per listing or search (reddit stops paging)",
];

const KIND: SourceKind = SourceKind::Reddit;
const ID_SETTING: &str = "REDDIT_CLIENT_ID";
const SECRET_SETTING: &str = "REDDIT_CLIENT_SECRET";
const OAUTH_HOST: &str = "https://oauth.reddit.com";
const PUBLIC_HOST: &str = "https://www.reddit.com";
const TOKEN_URL: &str = "https://www.reddit.com/api/v1/access_token";
const TOKEN_PATH: &str = "/api/v1/access_token";
/// Tokens are renewed this long before reddit says they expire.
const TOKEN_EARLY: Duration = Duration::from_secs(60);
const MAX_TEXT_CHARS: usize = 10_000;
/// Pages wholly outside the window are passed over within one fetch (a scan
/// stops at an empty page), up to this many requests.
const MAX_CALLS_PER_FETCH: usize = 8;
/// Reddit's rate-limit window, when a 429 says nothing of its own.
const WINDOW_MS: i64 = 600_000;

pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    let base = config
        .base_url
        .as_deref()
        .map(|b| b.trim_end_matches('/').to_owned());
    let oauth = match (secrets.get(ID_SETTING), secrets.get(SECRET_SETTING)) {
        (Some(id), Some(secret)) => Some(OAuth {
            token_url: base
                .as_ref()
                .map_or_else(|| TOKEN_URL.to_owned(), |b| format!("{b}{TOKEN_PATH}")),
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
            token: Mutex::new(None),
        }),
        (None, None) => None,
        // One of the pair alone is a mistake, not a wish for the public pages.
        (Some(_), None) => {
            return Err(ConnectorError::MissingCredentials {
                kind: KIND,
                name: SECRET_SETTING,
            });
        }
        (None, Some(_)) => {
            return Err(ConnectorError::MissingCredentials {
                kind: KIND,
                name: ID_SETTING,
            });
        }
    };
    let host = match (&base, &oauth) {
        (Some(b), _) => b.clone(),
        (None, Some(_)) => OAUTH_HOST.to_owned(),
        (None, None) => PUBLIC_HOST.to_owned(),
    };
    Ok(Box::new(Reddit {
        http: Http::new(KIND, policy.clone()),
        host,
        oauth,
        window_spent_until: Mutex::new(None),
    }))
}

struct OAuth {
    token_url: String,
    client_id: String,
    client_secret: String,
    /// The current token and when to stop using it.
    token: Mutex<Option<(String, Instant)>>,
}

struct Reddit {
    http: Http,
    host: String,
    oauth: Option<OAuth>,
    /// Set when `x-ratelimit-remaining` reached 0: the page in hand is kept,
    /// the next one waits until the window resets.
    window_spent_until: Mutex<Option<i64>>,
}

impl Connector for Reddit {
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

/// One sequence of pages: a listing, or one term's search.
#[derive(Debug, PartialEq)]
enum Stream {
    New {
        subreddits: String,
    },
    Search {
        term: String,
        subreddits: Option<String>,
    },
}

#[derive(Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    after: Option<String>,
    children: Vec<Value>,
}

impl Reddit {
    async fn fetch_page(
        &self,
        request: &ScanRequest,
        cursor: Option<&str>,
    ) -> ConnectorResult<Page> {
        if let Some(until) = *self.window_spent_until.lock().expect("not poisoned") {
            return Err(ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: until,
                detail: "no request left in reddit's rate-limit window (x-ratelimit-remaining: 0)"
                    .into(),
            });
        }
        let streams = plan(&request.query)?;
        let (mut stream, mut after) = parse_cursor(cursor, streams.len())?;
        let mut calls = 0;
        loop {
            calls += 1;
            let listing = self
                .listing(&streams[stream], after.as_deref(), request)
                .await?;
            let mut page = Page::default();
            let mut reached_older = false;
            for (i, child) in listing.data.children.iter().enumerate() {
                match observation(child, request.now_ms) {
                    Ok(o) => match o.published_at {
                        Some(t) if t < request.since_ms => reached_older = true,
                        Some(t) if t > request.until_ms => {}
                        _ => page.observations.push(o),
                    },
                    Err(reason) => page
                        .skipped
                        .push(format!("{}: {reason}", name_of(child, i))),
                }
            }
            let next = match listing.data.after.filter(|a| !a.is_empty()) {
                Some(a) if !reached_older && !listing.data.children.is_empty() => {
                    Some((stream, Some(a)))
                }
                _ if stream + 1 < streams.len() => Some((stream + 1, None)),
                _ => None,
            };
            let spent = self
                .window_spent_until
                .lock()
                .expect("not poisoned")
                .is_some();
            match next {
                Some((s, a))
                    if page.observations.is_empty()
                        && page.skipped.is_empty()
                        && !spent
                        && calls < MAX_CALLS_PER_FETCH =>
                {
                    stream = s;
                    after = a;
                }
                next => {
                    page.next = next.map(|(s, a)| format!("{s}:{}", a.unwrap_or_default()));
                    return Ok(page);
                }
            }
        }
    }

    async fn listing(
        &self,
        stream: &Stream,
        after: Option<&str>,
        request: &ScanRequest,
    ) -> ConnectorResult<Listing> {
        let suffix = if self.oauth.is_some() { "" } else { ".json" };
        let mut params: Vec<(&str, String)> =
            vec![("limit", "100".into()), ("raw_json", "1".into())];
        let path = match stream {
            Stream::New { subreddits } => format!("/r/{subreddits}/new{suffix}"),
            Stream::Search { term, subreddits } => {
                params.push(("q", term.clone()));
                params.push(("sort", "new".into()));
                params.push(("t", period(request).into()));
                params.push(("type", "link".into()));
                match subreddits {
                    Some(subs) => {
                        params.push(("restrict_sr", "1".into()));
                        format!("/r/{subs}/search{suffix}")
                    }
                    None => format!("/search{suffix}"),
                }
            }
        };
        if let Some(after) = after {
            params.push(("after", after.to_owned()));
        }
        let url = format!("{}{path}", self.host);
        let response = match &self.oauth {
            None => self.http.send(|c| c.get(&url).query(&params)).await?,
            Some(oauth) => {
                let token = self.token(oauth, false, request.now_ms).await?;
                let first = self
                    .http
                    .send(|c| c.get(&url).bearer_auth(&token).query(&params))
                    .await?;
                if first.status == 401 {
                    // Expired or revoked early: one new token, one more try.
                    let token = self.token(oauth, true, request.now_ms).await?;
                    self.http
                        .send(|c| c.get(&url).bearer_auth(&token).query(&params))
                        .await?
                } else {
                    first
                }
            }
        };
        self.check(&response, request.now_ms)?;
        if response.body.trim_ascii_start().starts_with(b"<") {
            return Err(ConnectorError::BadResponse {
                kind: KIND,
                detail: format!(
                    "HTTP {}: a web page instead of JSON (reddit sends unknown subreddits to its \
                     search page, and may block requests without OAuth)",
                    response.status
                ),
            });
        }
        let listing: Listing = response.json(KIND)?;
        self.note_rate_limit(&response, request.now_ms);
        Ok(listing)
    }

    async fn token(&self, oauth: &OAuth, renew: bool, now_ms: i64) -> ConnectorResult<String> {
        if !renew
            && let Some((token, until)) = &*oauth.token.lock().expect("not poisoned")
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .send(|c| {
                c.post(&oauth.token_url)
                    .basic_auth(&oauth.client_id, Some(&oauth.client_secret))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body("grant_type=client_credentials")
            })
            .await?;
        let refused = |detail: String| ConnectorError::Credentials {
            kind: KIND,
            detail: format!(
                "{detail}; check {ID_SETTING} and {SECRET_SETTING} (an app approved for the Data API)"
            ),
        };
        match response.status {
            200 => {}
            401 | 403 => {
                return Err(refused(format!(
                    "HTTP {}: the token endpoint refused the client id and secret",
                    response.status
                )));
            }
            429 => {
                return Err(ConnectorError::RateLimited {
                    kind: KIND,
                    resume_at_ms: resume_after_429(&response, now_ms),
                    detail: "HTTP 429 from the token endpoint".into(),
                });
            }
            status => {
                return Err(ConnectorError::BadResponse {
                    kind: KIND,
                    detail: format!("HTTP {status} from the token endpoint"),
                });
            }
        }
        let body: Value = response.json(KIND)?;
        // Bad grant parameters come back as a 200 with an `error` key.
        if let Some(error) = body.get("error") {
            let description = body
                .get("error_description")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(refused(format!(
                "the token endpoint answered error {error}{description}"
            )));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConnectorError::BadResponse {
                kind: KIND,
                detail: "the token endpoint answered without an access_token".into(),
            })?
            .to_owned();
        // 3600 s in older captures, 86400 in a recent one: always read it.
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(Duration::from_secs(3600), Duration::from_secs);
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_EARLY);
        *oauth.token.lock().expect("not poisoned") = Some((token.clone(), until));
        Ok(token)
    }

    fn check(&self, response: &Response, now_ms: i64) -> ConnectorResult<()> {
        if response.is_success() {
            return Ok(());
        }
        let status = response.status;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let reason = body
            .get("reason")
            .and_then(Value::as_str)
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        Err(match status {
            401 if self.oauth.is_some() => ConnectorError::Credentials {
                kind: KIND,
                detail: format!(
                    "HTTP 401 with a fresh token; check {ID_SETTING} and {SECRET_SETTING}"
                ),
            },
            // Reddit has been seen refusing every request without OAuth.
            401 | 403 if self.oauth.is_none() => ConnectorError::Credentials {
                kind: KIND,
                detail: format!(
                    "HTTP {status}{reason}: reddit refused a request without OAuth; set \
                     {ID_SETTING} and {SECRET_SETTING} (or the subreddit is private)"
                ),
            },
            403 => ConnectorError::BadQuery {
                kind: KIND,
                detail: format!(
                    "HTTP 403{reason}: a subreddit of this source is private or quarantined"
                ),
            },
            404 => ConnectorError::BadQuery {
                kind: KIND,
                detail: format!(
                    "HTTP 404{reason}: a subreddit of this source does not exist or is banned"
                ),
            },
            451 => ConnectorError::BadQuery {
                kind: KIND,
                detail: "HTTP 451: unavailable for legal reasons where this server is".into(),
            },
            429 => ConnectorError::RateLimited {
                kind: KIND,
                resume_at_ms: resume_after_429(response, now_ms),
                detail: "HTTP 429: too many requests".into(),
            },
            400 => ConnectorError::BadQuery {
                kind: KIND,
                detail: format!("HTTP 400{reason}"),
            },
            _ => ConnectorError::BadResponse {
                kind: KIND,
                detail: format!("HTTP {status}{reason}"),
            },
        })
    }

    fn note_rate_limit(&self, response: &Response, now_ms: i64) {
        // Answers from reddit's cache may lack the headers: then nothing is known.
        let remaining = header_number(response, "x-ratelimit-remaining");
        let reset = header_number(response, "x-ratelimit-reset");
        if let (Some(remaining), Some(reset)) = (remaining, reset)
            && remaining <= 0.0
        {
            *self.window_spent_until.lock().expect("not poisoned") =
                Some(now_ms + (reset.max(0.0) * 1000.0) as i64);
        }
    }
}

fn resume_after_429(response: &Response, now_ms: i64) -> i64 {
    response
        .retry_after_ms(now_ms)
        .or_else(|| {
            header_number(response, "x-ratelimit-reset")
                .map(|s| now_ms + (s.max(0.0) * 1000.0) as i64)
        })
        .unwrap_or(now_ms + WINDOW_MS)
}

/// `x-ratelimit-remaining` comes as `"997.0"` or `"298"`: read as a float.
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

/// The query as streams; see the module notes.
fn plan(query: &[String]) -> ConnectorResult<Vec<Stream>> {
    let mut subreddits: Vec<&str> = Vec::new();
    let mut terms: Vec<&str> = Vec::new();
    for item in query {
        let item = item.trim();
        let bare = item.strip_prefix('/').unwrap_or(item);
        let named = bare
            .get(..2)
            .filter(|p| p.eq_ignore_ascii_case("r/"))
            .map(|_| bare[2..].trim_end_matches('/'));
        match named {
            Some(name) if is_subreddit_name(name) => subreddits.push(name),
            Some(name) => {
                return Err(ConnectorError::Config {
                    kind: KIND,
                    detail: format!(
                        "r/{name} is not a subreddit name (letters, digits and _, up to 21)"
                    ),
                });
            }
            None if !item.is_empty() => terms.push(item),
            None => {}
        }
    }
    let subs = (!subreddits.is_empty()).then(|| subreddits.join("+"));
    let streams: Vec<Stream> = if terms.is_empty() {
        subs.map(|s| Stream::New { subreddits: s })
            .into_iter()
            .collect()
    } else {
        terms
            .into_iter()
            .map(|term| Stream::Search {
                term: term.to_owned(),
                subreddits: subs.clone(),
            })
            .collect()
    };
    if streams.is_empty() {
        return Err(ConnectorError::Config {
            kind: KIND,
            detail: "the query names no subreddit (r/NAME) and no search term".into(),
        });
    }
    Ok(streams)
}

fn is_subreddit_name(name: &str) -> bool {
    (2..=21).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Search's `t`: the shortest period that still covers the window's start
/// (a month is taken as 28 days so that it surely does).
fn period(request: &ScanRequest) -> &'static str {
    const HOUR: i64 = 3_600_000;
    let span = request.now_ms - request.since_ms;
    match span {
        s if s <= HOUR => "hour",
        s if s <= 24 * HOUR => "day",
        s if s <= 7 * 24 * HOUR => "week",
        s if s <= 28 * 24 * HOUR => "month",
        s if s <= 365 * 24 * HOUR => "year",
        _ => "all",
    }
}

fn parse_cursor(cursor: Option<&str>, streams: usize) -> ConnectorResult<(usize, Option<String>)> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    let parsed = cursor
        .split_once(':')
        .and_then(|(s, a)| Some((s.parse::<usize>().ok()?, a)))
        .filter(|(s, _)| *s < streams);
    match parsed {
        Some((s, a)) => Ok((s, (!a.is_empty()).then(|| a.to_owned()))),
        None => Err(ConnectorError::Config {
            kind: KIND,
            detail: "the saved paging position does not fit this source (its query changed?)"
                .into(),
        }),
    }
}

fn name_of(child: &Value, index: usize) -> String {
    match child.pointer("/data/name").and_then(Value::as_str) {
        Some(name) => format!("post {name}"),
        None => format!("item {} of the page", index + 1),
    }
}

/// One `t3` thing as an observation.
fn observation(child: &Value, now_ms: i64) -> Result<Observation, String> {
    let kind = child.get("kind").and_then(Value::as_str).unwrap_or("?");
    if kind != "t3" {
        return Err(format!("a {kind} thing, not a post"));
    }
    let post = child
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("no data")?;
    let text_of = |name: &str| -> Result<Option<&str>, String> {
        match post.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} is not a string")),
        }
    };
    let name = text_of("name")?.ok_or("no name")?;
    let created = match post.get("created_utc") {
        Some(Value::Number(n)) => n.as_f64().ok_or("created_utc is not a number")?,
        Some(_) => return Err("created_utc is not a number".into()),
        None => return Err("no created_utc".into()),
    };
    let int_of = |name: &str| -> Result<Option<i64>, String> {
        match post.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("{name} is {v}, not an integer")),
        }
    };
    // `score` is upvotes minus downvotes (fuzzed) and can be negative; below
    // zero there is no net approval, the nearest a count of likes can say.
    // `hide_score` means it is not meaningful yet: unknown.
    let hidden = post.get("hide_score").and_then(Value::as_bool) == Some(true);
    let likes = int_of("score")?.filter(|_| !hidden).map(|s| s.max(0));
    let comments = int_of("num_comments")?;
    let title = text_of("title")?;
    // Removed and deleted posts keep their title and counts; their body is a
    // placeholder, and a deleted account's name is "[deleted]".
    let body = text_of("selftext")?
        .filter(|s| !s.trim().is_empty() && !matches!(*s, "[removed]" | "[deleted]"));
    let text = match (title, body) {
        (Some(t), Some(b)) => Some(clip(format!("{t}\n\n{b}"))),
        (t, b) => t.or(b).map(|s| clip(s.to_owned())),
    };
    let author = text_of("author")?.filter(|a| *a != "[deleted]");
    let url = text_of("permalink")?.map(|p| format!("https://www.reddit.com{p}"));
    let value = json!({
        "platform": "reddit",
        "kind": "post",
        "platform_id": name,
        "url": url,
        "author": author,
        "text": text,
        "published_at": (created * 1000.0).round() as i64,
        "observed_at": now_ms,
        "likes": likes,
        "comments": comments,
    });
    parse_observation(&value, now_ms)
}

fn clip(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT_CHARS) {
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn subreddits_are_read_together_and_terms_searched_one_by_one() {
        assert_eq!(
            plan(&q(&["r/gadgets", "/r/BuyItForLife/"])).unwrap(),
            [Stream::New {
                subreddits: "gadgets+BuyItForLife".into()
            }]
        );
        assert_eq!(
            plan(&q(&["magnetic phone mount", "blender"])).unwrap(),
            [
                Stream::Search {
                    term: "magnetic phone mount".into(),
                    subreddits: None
                },
                Stream::Search {
                    term: "blender".into(),
                    subreddits: None
                }
            ]
        );
        assert_eq!(
            plan(&q(&["R/gadgets", "blender"])).unwrap(),
            [Stream::Search {
                term: "blender".into(),
                subreddits: Some("gadgets".into())
            }]
        );
    }

    #[test]
    fn a_subreddit_name_that_could_leave_the_path_is_refused() {
        for bad in [
            "r/../api/v1/me",
            "r/a b",
            "r/",
            "r/waytoolongforasubredditname",
        ] {
            let err = plan(&q(&[bad])).unwrap_err();
            assert!(
                matches!(err, ConnectorError::Config { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn search_period_is_the_shortest_that_covers_the_window() {
        let now = 1_763_640_000_000;
        let req = |hours: i64| ScanRequest {
            query: q(&["x"]),
            countries: vec![],
            since_ms: now - hours * 3_600_000,
            until_ms: now,
            now_ms: now,
        };
        let periods: Vec<_> = [1, 2, 24, 25, 24 * 7, 24 * 20, 24 * 29, 24 * 365, 24 * 400]
            .into_iter()
            .map(|h| period(&req(h)))
            .collect();
        assert_eq!(
            periods,
            [
                "hour", "day", "day", "week", "week", "month", "year", "year", "all"
            ]
        );
    }
}
