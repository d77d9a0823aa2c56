//! Configuration: every setting is a `--flag`, an environment variable (also
//! read from `.env`) or a default, parsed once at start-up. A bad value stops
//! the start with a message that names the variable.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use clap::builder::BoolishValueParser;
use ipnet::IpNet;

/// Where data lives and how the database is reached; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Database URL: sqlite://PATH, sqlite:///./file.db (SQLAlchemy form), sqlite::memory:,
    /// postgres://... or postgresql://... [default: a SQLite file in the data directory]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory for the default SQLite database and the generated secret key.
    #[arg(long, env = "MARKETSCOUT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Verbose (debug-level) logs.
    #[arg(long, env = "DEBUG", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub debug: bool,
}

impl StorageArgs {
    pub fn database(&self) -> anyhow::Result<DatabaseUrl> {
        match &self.database_url {
            Some(raw) if !raw.trim().is_empty() => DatabaseUrl::parse(raw.trim()),
            _ => Ok(DatabaseUrl::Sqlite {
                path: Some(self.data_dir.join("marketscout.db")),
                params: String::new(),
            }),
        }
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,

    /// Key that signs access tokens, at least 32 bytes. Without it, one is generated
    /// once and kept in the data directory.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// JWT signing algorithm: HS256, HS384 or HS512.
    #[arg(long, env = "ALGORITHM", default_value = "HS256", value_parser = ["HS256", "HS384", "HS512"])]
    pub algorithm: String,

    /// Lifetime of an access token, in minutes.
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=525_600))]
    pub access_token_expire_minutes: u32,

    /// Lifetime of a refresh token, in days.
    #[arg(long, env = "REFRESH_TOKEN_EXPIRE_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub refresh_token_expire_days: u32,

    /// Title shown in the OpenAPI document and /docs.
    #[arg(long, env = "API_TITLE", default_value = "MarketScout API")]
    pub api_title: String,

    /// Version shown in the OpenAPI document.
    #[arg(long, env = "API_VERSION", default_value = "1.0.0")]
    pub api_version: String,

    /// Enforce per-client rate limits.
    #[arg(long, env = "RATE_LIMIT_ENABLED", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub rate_limit_enabled: bool,

    /// Requests per window for general API endpoints.
    #[arg(long, env = "RATE_LIMIT_REQUESTS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_requests: u32,

    /// Requests per window for the authentication endpoints.
    #[arg(long, env = "RATE_LIMIT_AUTH_REQUESTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_auth_requests: u32,

    /// Requests per window for heavy operations (/scan-ads, /heat-map, /calculate-score, /export).
    #[arg(long, env = "RATE_LIMIT_HEAVY_REQUESTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_heavy_requests: u32,

    /// Length of the rate-limit window, in seconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub rate_limit_window: u32,

    /// Redis URL; when set, rate limits are shared by every instance using it.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of the Redis keys (lets several deployments share one Redis).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "marketscout")]
    pub redis_key_prefix: String,

    /// Comma-separated origins allowed by CORS (`*` for any; empty for none).
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Comma-separated proxy addresses or CIDR ranges whose X-Forwarded-For is believed.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1024..=1_073_741_824))]
    pub max_body_bytes: u64,

    /// Longest a request may take, in seconds, before it is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,

    /// Longest a hot read (product lists, trending, heat map...) is kept in memory, in
    /// milliseconds; 0 turns the cache off. Any change drops cached reads: this
    /// instance's writes at once, other instances' and processes' within a fraction
    /// of a second (PostgreSQL NOTIFY, SQLite's data_version).
    #[arg(long, env = "CACHE_TTL_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub cache_ttl_ms: u64,
    /// Minutes between full refreshes of every product's trend report
    /// (0: only after ingests and on demand).
    #[arg(long, env = "REFRESH_INTERVAL_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=10_080))]
    pub refresh_interval_minutes: u64,

    /// Database connections in the pool [default: 2 per CPU core on SQLite, whose
    /// connections each hold a thread; 16 on PostgreSQL].
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: Option<u32>,

    #[command(flatten)]
    pub scan: ScanArgs,

    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// How alerts leave the server: webhooks and email.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// The address users reach this server at (for example https://scout.example.com):
    /// links in alert emails and webhooks (the product's page, unsubscribe) start with it.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Allow webhook and SMTP targets on loopback or private addresses. Off by default,
    /// so that the server cannot be used to probe its own network.
    #[arg(long, env = "ALLOW_PRIVATE_TARGETS", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_targets: bool,

    /// Deliver queued webhooks and emails from this instance (any number of
    /// instances may: each delivery is sent by one of them).
    #[arg(long, env = "DELIVERY_ENABLED", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub delivery_enabled: bool,

    /// Timeout of one webhook request, in seconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhook_timeout_seconds: u64,

    /// SMTP server for alert emails (email is off without it).
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port.
    #[arg(long, env = "SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,

    /// SMTP user name.
    #[arg(long, env = "SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password (never logged or shown).
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// SMTP connection security: starttls, tls or none.
    #[arg(long, env = "SMTP_SECURITY", default_value = "starttls", value_parser = ["starttls", "tls", "none"])]
    pub smtp_security: String,

    /// Sender of alert emails, e.g. "MarketScout <alerts@example.com>".
    #[arg(long, env = "SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// Hour of the day (UTC) when daily digests are sent.
    #[arg(long, env = "DIGEST_HOUR_UTC", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=23))]
    pub digest_hour_utc: u32,
}

impl NotifyArgs {
    pub fn into_config(self) -> anyhow::Result<NotifyConfig> {
        let public_url = match self.public_url.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => {
                let parsed = url::Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if parsed.is_none() {
                    bail!(
                        "PUBLIC_URL must be an http(s) URL such as https://scout.example.com, not {raw:?}"
                    );
                }
                Some(raw.trim_end_matches('/').to_owned())
            }
            _ => None,
        };
        let smtp = match self.smtp_host.as_deref().map(str::trim) {
            Some(host) if !host.is_empty() => {
                let from = self
                    .smtp_from
                    .filter(|f| !f.trim().is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!("SMTP_FROM is required when SMTP_HOST is set")
                    })?;
                let settings = crate::notify::email::SmtpSettings {
                    host: host.to_owned(),
                    port: self.smtp_port,
                    username: self.smtp_username.filter(|u| !u.is_empty()),
                    password: self.smtp_password.filter(|p| !p.is_empty()),
                    security: self
                        .smtp_security
                        .parse()
                        .map_err(|e| anyhow::anyhow!("SMTP_SECURITY: {e}"))?,
                    from,
                    timeout: Duration::from_secs(self.webhook_timeout_seconds.max(10)),
                };
                settings
                    .from
                    .trim()
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| anyhow::anyhow!("SMTP_FROM is not an email address: {e}"))?;
                Some(settings)
            }
            _ => None,
        };
        Ok(NotifyConfig {
            public_url,
            allow_private_targets: self.allow_private_targets,
            delivery_enabled: self.delivery_enabled,
            webhook_timeout: Duration::from_secs(self.webhook_timeout_seconds),
            smtp,
            digest_hour_utc: self.digest_hour_utc,
            retry_base: NotifyConfig::default().retry_base,
        })
    }
}

/// The validated delivery settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub public_url: Option<String>,
    pub allow_private_targets: bool,
    pub delivery_enabled: bool,
    pub webhook_timeout: Duration,
    pub smtp: Option<crate::notify::email::SmtpSettings>,
    pub digest_hour_utc: u32,
    /// The first retry's wait; later ones double (tests shorten it).
    pub retry_base: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            allow_private_targets: false,
            delivery_enabled: true,
            webhook_timeout: Duration::from_secs(10),
            smtp: None,
            digest_hour_utc: 7,
            retry_base: Duration::from_secs(10),
        }
    }
}

/// How sources are scanned: by the server's scheduler and by `marketscout scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// A file of `NAME=value` lines holding connector credentials (YOUTUBE_API_KEY,
    /// META_ACCESS_TOKEN, TIKTOK_CLIENT_KEY, TIKTOK_CLIENT_SECRET, X_BEARER_TOKEN,
    /// REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET); it overrides the same names in the
    /// environment. Values are never logged or shown.
    #[arg(long, env = "SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,

    /// Run due scans of enabled sources in the background of `serve`.
    #[arg(long, env = "SCANNER_ENABLED", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub scanner_enabled: bool,

    /// Scans this instance runs at once (each source has at most one running anywhere).
    #[arg(long, env = "SCAN_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub scan_concurrency: u32,

    /// Timeout of one request to a platform, in seconds.
    #[arg(long, env = "CONNECTOR_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connector_timeout_seconds: u64,

    /// Retries of a request after a network error, a timeout or a 5xx answer.
    #[arg(long, env = "CONNECTOR_RETRIES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub connector_retries: u32,
}

impl ScanArgs {
    pub fn into_config(self) -> ScanConfig {
        ScanConfig {
            secrets_file: self.secrets_file.filter(|p| !p.as_os_str().is_empty()),
            enabled: self.scanner_enabled,
            concurrency: self.scan_concurrency as usize,
            timeout: Duration::from_secs(self.connector_timeout_seconds),
            retries: self.connector_retries,
        }
    }
}

/// The validated scanning settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanConfig {
    pub secrets_file: Option<PathBuf>,
    /// Whether `serve` runs the scheduler.
    pub enabled: bool,
    pub concurrency: usize,
    pub timeout: Duration,
    pub retries: u32,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            secrets_file: None,
            enabled: true,
            concurrency: 2,
            timeout: Duration::from_secs(30),
            retries: 3,
        }
    }
}

/// The validated, typed configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub database: DatabaseUrl,
    pub max_connections: u32,
    pub secret_key: Vec<u8>,
    pub algorithm: jsonwebtoken::Algorithm,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub api_title: String,
    pub api_version: String,
    pub rate_limit: RateLimitConfig,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub cors_origins: CorsOrigins,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub cache_ttl: Duration,
    /// `None`: no scheduled full refresh.
    pub refresh_interval: Option<Duration>,
    pub scan: ScanConfig,
    pub notify: NotifyConfig,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub window: Duration,
    pub general: u32,
    pub auth: u32,
    pub heavy: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CorsOrigins {
    None,
    Any,
    List(Vec<axum::http::HeaderValue>),
}

const MIN_SECRET_BYTES: usize = 32;

impl ServeArgs {
    /// Validates everything and resolves the secret key (generating it on first start).
    pub fn into_config(self) -> anyhow::Result<Config> {
        let database = self.storage.database()?;
        let max_connections = self.database_max_connections.unwrap_or(match database {
            DatabaseUrl::Sqlite { .. } => {
                2 * std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
            }
            DatabaseUrl::Postgres(_) => 16,
        });
        let secret_key = match self.secret_key.as_deref().map(str::trim) {
            Some(key) if !key.is_empty() => {
                if key.len() < MIN_SECRET_BYTES {
                    bail!(
                        "SECRET_KEY is too short ({} bytes): use at least {MIN_SECRET_BYTES} random bytes, \
                         for example the output of `openssl rand -hex 32`",
                        key.len()
                    );
                }
                key.as_bytes().to_vec()
            }
            _ => load_or_create_secret(&self.storage.data_dir)?,
        };
        let algorithm = match self.algorithm.as_str() {
            "HS256" => jsonwebtoken::Algorithm::HS256,
            "HS384" => jsonwebtoken::Algorithm::HS384,
            "HS512" => jsonwebtoken::Algorithm::HS512,
            other => bail!("ALGORITHM must be HS256, HS384 or HS512, not {other:?}"),
        };
        if let Some(url) = &self.redis_url {
            redis::Client::open(url.as_str())
                .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL"))?;
        }
        Ok(Config {
            host: self.host,
            port: self.port,
            database,
            max_connections,
            secret_key,
            algorithm,
            access_token_ttl: Duration::from_secs(u64::from(self.access_token_expire_minutes) * 60),
            refresh_token_ttl: Duration::from_secs(
                u64::from(self.refresh_token_expire_days) * 86_400,
            ),
            api_title: self.api_title,
            api_version: self.api_version,
            rate_limit: RateLimitConfig {
                enabled: self.rate_limit_enabled,
                window: Duration::from_secs(u64::from(self.rate_limit_window)),
                general: self.rate_limit_requests,
                auth: self.rate_limit_auth_requests,
                heavy: self.rate_limit_heavy_requests,
            },
            redis_url: self.redis_url.filter(|u| !u.trim().is_empty()),
            redis_key_prefix: self.redis_key_prefix,
            cors_origins: parse_cors(&self.cors_origins)?,
            trusted_proxies: parse_proxies(&self.trusted_proxies)?,
            max_body_bytes: usize::try_from(self.max_body_bytes).context("MAX_BODY_BYTES")?,
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            cache_ttl: Duration::from_millis(self.cache_ttl_ms),
            refresh_interval: (self.refresh_interval_minutes > 0)
                .then(|| Duration::from_secs(60 * self.refresh_interval_minutes)),
            scan: self.scan.into_config(),
            notify: self.notify.into_config()?,
        })
    }
}

fn parse_cors(raw: &str) -> anyhow::Result<CorsOrigins> {
    let origins: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if origins.contains(&"*") {
        return Ok(CorsOrigins::Any);
    }
    let mut list = Vec::new();
    for origin in origins {
        let parsed = url::Url::parse(origin)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        let Some(parsed) = parsed else {
            bail!("CORS_ORIGINS: {origin:?} is not an origin such as https://app.example.com");
        };
        let origin = parsed.origin().ascii_serialization();
        list.push(origin.parse().context("CORS_ORIGINS")?);
    }
    Ok(CorsOrigins::List(list))
}

fn parse_proxies(raw: &str) -> anyhow::Result<Vec<IpNet>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("TRUSTED_PROXIES: {s:?} is not an IP address or CIDR range")
                })
        })
        .collect()
}

/// Reads the generated key from the data directory, creating it (owner-only) on first start.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret_key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim();
            if key.len() < MIN_SECRET_BYTES {
                bail!(
                    "the generated secret key in {} is damaged (too short): delete it to make a new one \
                     (this signs everyone out) or set SECRET_KEY",
                    path.display()
                );
            }
            Ok(key.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
            let key = hex::encode(bytes);
            write_private(&path, &key)?;
            tracing::info!(path = %path.display(), "generated a new secret key");
            Ok(key.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading the secret key {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `sqlite:///X` means the relative path X to SQLAlchemy (the brief's form) and
/// the absolute path /X to sqlx. Read it as SQLAlchemy does for `./x`, `../x`
/// and bare file names, and as an absolute path when X names a file in a
/// directory that exists from the root (`sqlite:///var/lib/ms/x.db`).
fn three_slash_path(rest: &str) -> String {
    let relative = rest.starts_with("./") || rest.starts_with("../") || !rest.contains('/');
    if relative {
        return rest.to_owned();
    }
    let absolute = PathBuf::from(format!("/{rest}"));
    match absolute.parent() {
        Some(parent) if parent.is_dir() => absolute.display().to_string(),
        _ => rest.to_owned(),
    }
}

/// A database location, normalised from the URL forms users paste.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseUrl {
    /// `path: None` is an in-memory database; `params` is the URL's query string.
    Sqlite {
        path: Option<PathBuf>,
        params: String,
    },
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `sqlite://path`, `sqlite:path`, SQLAlchemy's `sqlite:///relative` and
    /// `sqlite:////absolute`, `sqlite::memory:`, `postgres://` and `postgresql://`.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw)
                .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let Some(rest) = raw.strip_prefix("sqlite:") else {
            bail!(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql:// (got {:?}...)",
                raw.chars().take(12).collect::<String>()
            );
        };
        let (location, params) = match rest.split_once('?') {
            Some((l, p)) => (l, p.to_owned()),
            None => (rest, String::new()),
        };
        if location == ":memory:" || location == "//:memory:" || params.contains("mode=memory") {
            return Ok(Self::Sqlite { path: None, params });
        }
        // SQLAlchemy: `sqlite:///x.db` is relative, `sqlite:////abs/x.db` absolute.
        // sqlx: `sqlite://x.db` is relative. Both are read the way their authors meant.
        let path = if let Some(abs) = location.strip_prefix("////") {
            format!("/{abs}")
        } else if let Some(rest) = location.strip_prefix("///") {
            three_slash_path(rest)
        } else if let Some(rel) = location.strip_prefix("//") {
            rel.to_owned()
        } else {
            location.to_owned()
        };
        if path.is_empty() {
            bail!("DATABASE_URL names no SQLite file (for example sqlite://marketscout.db)");
        }
        Ok(Self::Sqlite {
            path: Some(PathBuf::from(path)),
            params,
        })
    }

    pub fn is_memory(&self) -> bool {
        matches!(self, Self::Sqlite { path: None, .. })
    }

    /// The URL in the form sqlx understands; SQLite files are created when missing.
    /// A PostgreSQL server on this machine is reached without TLS unless the URL asks
    /// for it: encryption over loopback protects nothing and costs a third of the
    /// throughput of simple queries.
    pub fn sqlx_url(&self) -> String {
        match self {
            Self::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut url) => {
                    let loopback = match url.host() {
                        // Non-special schemes keep hosts opaque: "127.0.0.1" arrives as a domain.
                        Some(url::Host::Domain(d)) => {
                            d == "localhost"
                                || d.trim_matches(['[', ']'])
                                    .parse::<IpAddr>()
                                    .is_ok_and(|ip| ip.is_loopback())
                        }
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        None => false,
                    };
                    let has_sslmode = url.query_pairs().any(|(k, _)| k == "sslmode");
                    if loopback && !has_sslmode {
                        url.query_pairs_mut().append_pair("sslmode", "disable");
                    }
                    url.to_string()
                }
                Err(_) => raw.clone(),
            },
            Self::Sqlite { path: None, .. } => "sqlite::memory:".to_owned(),
            Self::Sqlite {
                path: Some(path),
                params,
            } => {
                let mut url = format!("sqlite://{}", path.display());
                if params.is_empty() {
                    url.push_str("?mode=rwc");
                } else {
                    url.push('?');
                    url.push_str(params);
                }
                url
            }
        }
    }

    /// The URL without its password, for messages and logs.
    pub fn redacted(&self) -> String {
        match self {
            Self::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "postgres://***".to_owned(),
            },
            other => other.sqlx_url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(raw: &str) -> PathBuf {
        match DatabaseUrl::parse(raw).unwrap() {
            DatabaseUrl::Sqlite { path: Some(p), .. } => p,
            other => panic!("{raw} parsed as {other:?}"),
        }
    }

    #[test]
    fn sqlite_urls_are_read_as_their_authors_meant() {
        assert_eq!(
            sqlite_path("sqlite:///./marketscout.db"),
            PathBuf::from("./marketscout.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///marketscout.db"),
            PathBuf::from("marketscout.db")
        );
        assert_eq!(
            sqlite_path("sqlite:////var/lib/ms.db"),
            PathBuf::from("/var/lib/ms.db")
        );
        assert_eq!(
            sqlite_path("sqlite://data/ms.db"),
            PathBuf::from("data/ms.db")
        );
        assert_eq!(sqlite_path("sqlite:ms.db"), PathBuf::from("ms.db"));
        assert!(DatabaseUrl::parse("sqlite::memory:").unwrap().is_memory());
    }

    #[test]
    fn postgres_urls_pass_through_and_hide_passwords() {
        let url = DatabaseUrl::parse("postgresql://u:hunter2@db:5432/ms").unwrap();
        assert_eq!(url.sqlx_url(), "postgresql://u:hunter2@db:5432/ms");
        assert!(!url.redacted().contains("hunter2"));
        let local = DatabaseUrl::parse("postgres://u@127.0.0.1:5432/ms").unwrap();
        assert_eq!(
            local.sqlx_url(),
            "postgres://u@127.0.0.1:5432/ms?sslmode=disable"
        );
        let chosen = DatabaseUrl::parse("postgres://u@localhost/ms?sslmode=require").unwrap();
        assert_eq!(
            chosen.sqlx_url(),
            "postgres://u@localhost/ms?sslmode=require"
        );
    }

    #[test]
    fn other_schemes_are_refused_naming_the_variable() {
        let err = DatabaseUrl::parse("mysql://x").unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn cors_and_proxies_are_validated() {
        assert_eq!(parse_cors("").unwrap(), CorsOrigins::None);
        assert_eq!(parse_cors("*").unwrap(), CorsOrigins::Any);
        assert!(
            parse_cors("not an origin")
                .unwrap_err()
                .to_string()
                .contains("CORS_ORIGINS")
        );
        assert_eq!(parse_proxies("10.0.0.0/8, 127.0.0.1").unwrap().len(), 2);
        assert!(
            parse_proxies("banana")
                .unwrap_err()
                .to_string()
                .contains("TRUSTED_PROXIES")
        );
    }

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= MIN_SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret_key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
