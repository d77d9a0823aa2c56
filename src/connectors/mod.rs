//! Platform connectors: where observations come from.
//!
//! Each source kind (YouTube, the Meta Ad Library, TikTok, X, Reddit, Google
//! Trends, files) is one module behind the small [`Connector`] trait: fetch
//! one page of results for a query and a time window, map it to
//! [`Observation`]s, and say where the next page is. Everything about talking
//! HTTP politely (timeouts, retries with backoff and jitter, `Retry-After`,
//! never logging a URL's query string, where keys travel) lives in [`http`],
//! so each platform module only knows its own endpoints, payloads and error
//! bodies. A scan (`crate::scan`) drives a connector page by page, stores each
//! page in its own transaction and records progress.
//!
//! Connectors never see the database and never read the clock: the window
//! and "now" come in the [`ScanRequest`].

pub mod files;
pub mod google_trends;
pub mod http;
pub mod meta_ads;
pub mod reddit;
pub mod tiktok;
pub mod x;
pub mod youtube;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::engine::observation::Observation;

/// The kinds of source a user can configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Youtube,
    MetaAds,
    TiktokResearch,
    TiktokAds,
    X,
    Reddit,
    GoogleTrends,
    File,
}

impl SourceKind {
    pub const ALL: [SourceKind; 8] = [
        SourceKind::Youtube,
        SourceKind::MetaAds,
        SourceKind::TiktokResearch,
        SourceKind::TiktokAds,
        SourceKind::X,
        SourceKind::Reddit,
        SourceKind::GoogleTrends,
        SourceKind::File,
    ];

    /// Each kind's name, in the order of the enum (the API's `kind` values).
    pub const NAMES: [&'static str; 8] = [
        "youtube",
        "meta_ads",
        "tiktok_research",
        "tiktok_ads",
        "x",
        "reddit",
        "google_trends",
        "file",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The platform's own API, used when a source sets no `base_url`.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            SourceKind::Youtube => Some("https://www.googleapis.com/youtube/v3"),
            SourceKind::MetaAds => Some("https://graph.facebook.com/v23.0"),
            SourceKind::TiktokResearch | SourceKind::TiktokAds => {
                Some("https://open.tiktokapis.com")
            }
            SourceKind::X => Some("https://api.x.com/2"),
            SourceKind::Reddit => Some("https://oauth.reddit.com"),
            SourceKind::GoogleTrends => Some("https://trends.google.com"),
            SourceKind::File => None,
        }
    }

    /// The credentials a source of this kind needs, as the names of the
    /// settings that hold them (environment variables, or keys of the secrets
    /// file). Reddit and files work without any.
    pub fn credential_names(self) -> &'static [&'static str] {
        match self {
            SourceKind::Youtube => &["YOUTUBE_API_KEY"],
            SourceKind::MetaAds => &["META_ACCESS_TOKEN"],
            SourceKind::TiktokResearch | SourceKind::TiktokAds => {
                &["TIKTOK_CLIENT_KEY", "TIKTOK_CLIENT_SECRET"]
            }
            SourceKind::X => &["X_BEARER_TOKEN"],
            SourceKind::Reddit => &[],
            SourceKind::GoogleTrends => &[],
            SourceKind::File => &[],
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to fetch: the source's query, countries and the time window of this
/// scan. `now_ms` is the scan's clock (observations are stamped with it).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRequest {
    /// Search terms, hashtags, subreddits, advertiser pages... as the source
    /// kind reads them; never empty.
    pub query: Vec<String>,
    /// ISO 3166-1 alpha-2 codes; empty means "wherever the platform allows".
    pub countries: Vec<String>,
    pub since_ms: i64,
    pub until_ms: i64,
    pub now_ms: i64,
}

/// One page of results.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    pub observations: Vec<Observation>,
    /// Items the platform returned that could not be used, with why (a field
    /// missing or of the wrong type): the rest of the page still counts.
    pub skipped: Vec<String>,
    /// Where the next page is; `None` on the last page. Opaque to the scan.
    pub next: Option<String>,
    /// Search interest (Google Trends): points of 0-100 per place and day.
    pub interest: Vec<InterestPoint>,
}

/// Search interest in a term, relative to its own peak (Google Trends' scale).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterestPoint {
    pub term: String,
    /// ISO country code, or `""` for worldwide.
    pub geo: String,
    /// Day number (days since 1970-01-01, UTC).
    pub day: i64,
    pub value: f64,
}

/// Why a page could not be fetched. Each variant tells the scan what to do:
/// stop and say so (credentials, query), pause the source until a time
/// (rate limit, quota), or record a failure the next run may not meet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// A credential the source needs is not configured.
    #[error("{kind} needs the setting {name}; set it in the environment or the secrets file")]
    MissingCredentials {
        kind: SourceKind,
        name: &'static str,
    },
    /// The platform refused the credentials (wrong, expired, revoked, or not
    /// allowed for this API).
    #[error("{kind} refused the credentials: {detail}")]
    Credentials { kind: SourceKind, detail: String },
    /// Too many requests: resume no earlier than `resume_at_ms`.
    #[error("{kind} rate limit reached: {detail}")]
    RateLimited {
        kind: SourceKind,
        resume_at_ms: i64,
        detail: String,
    },
    /// The quota or usage cap is spent until `resume_at_ms`.
    #[error("{kind} quota exhausted: {detail}")]
    QuotaExhausted {
        kind: SourceKind,
        resume_at_ms: i64,
        detail: String,
    },
    /// The platform refused the query itself (a 400 about our parameters).
    #[error("{kind} refused the query: {detail}")]
    BadQuery { kind: SourceKind, detail: String },
    /// The platform kept failing (5xx, network errors, timeouts) after retries.
    #[error("{kind} unavailable: {detail}")]
    Unavailable { kind: SourceKind, detail: String },
    /// The answer was not what the platform documents (malformed or
    /// truncated JSON, a page without its items).
    #[error("{kind} sent an unexpected response: {detail}")]
    BadResponse { kind: SourceKind, detail: String },
    /// A source's own configuration cannot work (an unreadable folder, a
    /// query the kind cannot use).
    #[error("{kind} source misconfigured: {detail}")]
    Config { kind: SourceKind, detail: String },
}

impl ConnectorError {
    /// When the source may be tried again, if it must wait.
    pub fn resume_at_ms(&self) -> Option<i64> {
        match self {
            ConnectorError::RateLimited { resume_at_ms, .. }
            | ConnectorError::QuotaExhausted { resume_at_ms, .. } => Some(*resume_at_ms),
            _ => None,
        }
    }

    /// A short machine-readable name, as shown in scan results.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectorError::MissingCredentials { .. } => "missing_credentials",
            ConnectorError::Credentials { .. } => "bad_credentials",
            ConnectorError::RateLimited { .. } => "rate_limited",
            ConnectorError::QuotaExhausted { .. } => "quota_exhausted",
            ConnectorError::BadQuery { .. } => "bad_query",
            ConnectorError::Unavailable { .. } => "unavailable",
            ConnectorError::BadResponse { .. } => "bad_response",
            ConnectorError::Config { .. } => "misconfigured",
        }
    }
}

pub type ConnectorResult<T> = Result<T, ConnectorError>;
pub type PageFuture<'a> = Pin<Box<dyn Future<Output = ConnectorResult<Page>> + Send + 'a>>;

/// One source kind's way of fetching pages.
pub trait Connector: Send + Sync {
    fn kind(&self) -> SourceKind;

    /// Fetches the page at `cursor` (`None`: the first page).
    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a>;

    /// What this source cannot see, in words shown to the user next to its
    /// results ("not covered", never a zero).
    fn not_covered(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A source as its connector sees it (the stored row minus bookkeeping).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub name: String,
    pub query: Vec<String>,
    pub countries: Vec<String>,
    /// `None`: the platform's own API ([`SourceKind::default_base_url`]).
    pub base_url: Option<String>,
}

impl SourceConfig {
    /// The API base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .or(self.kind.default_base_url())
            .unwrap_or_default()
            .trim_end_matches('/')
    }
}

/// The connector for a source, with its credentials and HTTP policy.
pub fn build(
    config: &SourceConfig,
    secrets: &Secrets,
    policy: &http::HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    match config.kind {
        SourceKind::Youtube => youtube::build(config, secrets, policy),
        SourceKind::MetaAds => meta_ads::build(config, secrets, policy),
        SourceKind::TiktokResearch | SourceKind::TiktokAds => {
            tiktok::build(config, secrets, policy)
        }
        SourceKind::X => x::build(config, secrets, policy),
        SourceKind::Reddit => reddit::build(config, secrets, policy),
        SourceKind::GoogleTrends => google_trends::build(config, secrets, policy),
        SourceKind::File => files::build(config, secrets, policy),
    }
}

/// What a kind of source cannot see, shown to users as "not covered".
pub fn not_covered(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::Youtube => youtube::NOT_COVERED,
        SourceKind::MetaAds => meta_ads::NOT_COVERED,
        SourceKind::TiktokResearch => tiktok::RESEARCH_NOT_COVERED,
        SourceKind::TiktokAds => tiktok::ADS_NOT_COVERED,
        SourceKind::X => x::NOT_COVERED,
        SourceKind::Reddit => reddit::NOT_COVERED,
        SourceKind::GoogleTrends => google_trends::NOT_COVERED,
        SourceKind::File => files::NOT_COVERED,
    }
}

/// Credentials by setting name, read from the environment and the secrets
/// file. `Debug` never shows a value.
#[derive(Clone, Default)]
pub struct Secrets(HashMap<String, String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_struct("Secrets").field("names", &names).finish()
    }
}

impl Secrets {
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Self {
        Secrets(
            values
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        )
    }

    /// The connector credentials found in the environment, overridden by a
    /// secrets file of `NAME=value` lines (comments with `#`), when given.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let names = SourceKind::ALL
            .iter()
            .flat_map(|k| k.credential_names().iter().copied())
            .chain(["REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"]);
        let mut values: HashMap<String, String> = names
            .filter_map(|n| std::env::var(n).ok().map(|v| (n.to_owned(), v)))
            .collect();
        if let Some(path) = file {
            use anyhow::Context;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("SECRETS_FILE: cannot read {}", path.display()))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((name, value)) = line.split_once('=') else {
                    anyhow::bail!(
                        "SECRETS_FILE: line {} is not NAME=value (values are not shown)",
                        number + 1
                    );
                };
                values.insert(
                    name.trim().to_owned(),
                    value.trim().trim_matches('"').to_owned(),
                );
            }
        }
        Ok(Secrets::new(values))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name`, or the error that says which setting is missing.
    pub fn require(&self, kind: SourceKind, name: &'static str) -> ConnectorResult<&str> {
        self.get(name)
            .ok_or(ConnectorError::MissingCredentials { kind, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in SourceKind::ALL {
            assert_eq!(SourceKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(SourceKind::parse("myspace"), None);
    }

    #[test]
    fn secrets_never_show_their_values() {
        let s = Secrets::new([("X_BEARER_TOKEN".to_owned(), "hunter2".to_owned())]);
        let shown = format!("{s:?}");
        assert!(shown.contains("X_BEARER_TOKEN"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let missing = s
            .require(SourceKind::Youtube, "YOUTUBE_API_KEY")
            .unwrap_err();
        assert!(missing.to_string().contains("YOUTUBE_API_KEY"), "{missing}");
    }

    #[test]
    fn a_secrets_file_overrides_and_reports_bad_lines_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets");
        std::fs::write(&path, "# connectors\nYOUTUBE_API_KEY = \"AIzaKey\"\n").unwrap();
        let s = Secrets::load(Some(&path)).unwrap();
        assert_eq!(s.get("YOUTUBE_API_KEY"), Some("AIzaKey"));
        std::fs::write(&path, "META_ACCESS_TOKEN EAAsecret\n").unwrap();
        let err = Secrets::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("EAAsecret"), "{err}");
    }
}
