//! The email channel: SMTP settings, a pooled [`Mailer`], and the pure
//! renderers that turn alerts into messages ([`alert_email`] for one alert,
//! [`digest_email`] for a day's worth).
//!
//! The renderers do no I/O and never read the clock: everything they show
//! comes from their arguments, so the delivery worker (and the tests) get the
//! same bytes for the same input.
//!
//! Two things about lettre shape [`Mailer`]:
//!
//! * lettre's tokio transport applies its `timeout` to the TCP connect only;
//!   a server that accepts and then stalls would hang a send forever. So
//!   [`Mailer::send`] puts the whole exchange under
//!   [`SmtpSettings::timeout`], and after such a timeout it replaces the
//!   connection pool, because lettre would otherwise reuse the abandoned,
//!   half-finished connection for the next message.
//! * Building a pooled transport spawns its cleanup task, so
//!   [`Mailer::new`] must run inside a Tokio runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::AlertView;
use crate::engine::trend::plural;

/// The longest subject line we produce, in characters; longer alert messages
/// are cut at a character boundary and end with `…`.
const MAX_SUBJECT_CHARS: usize = 100;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text, no TLS at all: only for a relay on localhost or a test sink.
    None,
    /// Connect in plain text, then upgrade with `STARTTLS` (required; usually port 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS; usually port 465).
    Tls,
}

impl SmtpSecurity {
    /// The name [`FromStr`] accepts for this value.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::None => "none",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
        }
    }
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of `none`, `starttls`, `tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SMTP security {0:?}: expected one of none, starttls, tls")]
pub struct ParseSmtpSecurityError(String);

impl FromStr for SmtpSecurity {
    type Err = ParseSmtpSecurityError;

    /// Accepts `none`, `starttls` and `tls`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpSecurity::None),
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            _ => Err(ParseSmtpSecurityError(s.to_owned())),
        }
    }
}

/// Where and how to hand over outgoing mail.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// Log in with `AUTH` when set (and not empty).
    pub username: Option<String>,
    pub password: Option<String>,
    pub security: SmtpSecurity,
    /// The `From` mailbox: `alerts@example.com` or `MarketScout <alerts@example.com>`.
    pub from: String,
    /// The longest one message may take, from connecting to the server's
    /// final reply. Must be more than zero.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("security", &self.security)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why an email was not sent. No variant's text ever contains the SMTP password.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address or setting that can never work (the text says which one):
    /// retrying will not help.
    #[error("invalid email address or setting: {0}")]
    BadAddress(String),
    /// The server refused for good (a 5xx reply).
    #[error("SMTP server rejected the message: {0}")]
    Smtp(String),
    /// Network trouble, a 4xx reply or a timeout: worth retrying later.
    #[error("temporary email delivery failure: {0}")]
    Transient(String),
}

impl EmailError {
    /// Whether sending the same message again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, EmailError::Transient(_))
    }
}

/// One rendered email, ready for [`Mailer::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Sent as RFC 8058 one-click `List-Unsubscribe` headers when set; must be an http(s) URL.
    pub unsubscribe_url: Option<String>,
}

/// Sends [`OutgoingEmail`]s over SMTP, reusing connections between messages.
/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Mailer {
    current: Arc<Mutex<CurrentTransport>>,
    /// To rebuild the pool after a timeout (see the module docs).
    builder: AsyncSmtpTransportBuilder,
    from: Mailbox,
    server: String,
    timeout: Duration,
    /// The password and its base64 forms, scrubbed from every error text.
    secrets: Arc<[String]>,
}

struct CurrentTransport {
    generation: u64,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the settings and prepares the connection pool; connects to
    /// nothing yet. Must be called inside a Tokio runtime (lettre's pool
    /// spawns its cleanup task here).
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, EmailError> {
        let from: Mailbox = settings.from.trim().parse().map_err(|err| {
            EmailError::BadAddress(format!(
                "invalid sender (From) address {:?}: {err}",
                settings.from
            ))
        })?;
        let host = settings.host.trim();
        if host.is_empty() {
            return Err(EmailError::BadAddress("the SMTP host is empty".to_owned()));
        }
        let bad_host = |err: lettre::transport::smtp::Error| {
            EmailError::BadAddress(format!("invalid SMTP host {host:?} for TLS: {err}"))
        };
        let builder = match settings.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(bad_host)?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(bad_host)?
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));

        let username = settings.username.as_deref().filter(|u| !u.is_empty());
        let password = settings.password.as_deref().unwrap_or_default();
        let mut secrets = Vec::new();
        match username {
            Some(username) => {
                builder =
                    builder.credentials(Credentials::new(username.to_owned(), password.to_owned()));
                if !password.is_empty() {
                    let b64 = base64::engine::general_purpose::STANDARD;
                    secrets.push(password.to_owned());
                    secrets.push(b64.encode(password));
                    secrets.push(b64.encode(format!("\0{username}\0{password}")));
                }
            }
            None if !password.is_empty() => {
                return Err(EmailError::BadAddress(
                    "an SMTP password is set but no SMTP username".to_owned(),
                ));
            }
            None => {}
        }

        // Longest first, so scrubbing one form never breaks up another.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));

        let transport = builder.clone().build();
        Ok(Mailer {
            current: Arc::new(Mutex::new(CurrentTransport {
                generation: 0,
                transport,
            })),
            builder,
            from,
            server: format!("{host}:{}", settings.port),
            timeout: settings.timeout,
            secrets: secrets.into(),
        })
    }

    /// Sends one email as multipart/alternative (plain text + HTML). Invalid
    /// addresses fail with [`EmailError::BadAddress`] before any connection.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), EmailError> {
        let message = self.build_message(email)?;
        let (generation, transport) = {
            let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            (current.generation, current.transport.clone())
        };
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(err)) => {
                let text = self.redact(err.to_string());
                // A refusal by the server, or a problem on our side that
                // sending again cannot fix (no common AUTH mechanism...).
                if err.is_permanent() || err.is_client() {
                    Err(EmailError::Smtp(text))
                } else {
                    Err(EmailError::Transient(text))
                }
            }
            Err(_elapsed) => {
                self.replace_pool(generation);
                Err(EmailError::Transient(format!(
                    "no complete answer from the SMTP server {} within {:?}",
                    self.server, self.timeout
                )))
            }
        }
    }

    fn build_message(&self, email: &OutgoingEmail) -> Result<Message, EmailError> {
        let to: Mailbox = email.to.trim().parse().map_err(|err| {
            EmailError::BadAddress(format!("invalid recipient address {:?}: {err}", email.to))
        })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&email.subject))
            .message_id(Some(message_id(self.from.email.domain())))
            .header(AutoSubmitted);
        if let Some(raw) = &email.unsubscribe_url {
            let url = url::Url::parse(raw.trim())
                .map_err(|err| EmailError::BadAddress(format!("invalid unsubscribe URL: {err}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(EmailError::BadAddress(format!(
                    "the unsubscribe URL must be http(s), not {}:",
                    url.scheme()
                )));
            }
            builder = builder
                .header(ListUnsubscribe(url.to_string()))
                .header(ListUnsubscribePost);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|err| EmailError::Smtp(format!("could not build the message: {err}")))
    }

    /// Swaps in a fresh pool unless another send already did since `generation`.
    fn replace_pool(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.generation == generation {
            current.generation += 1;
            current.transport = self.builder.clone().build();
        }
    }

    fn redact(&self, mut text: String) -> String {
        for secret in self.secrets.iter() {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }
}

/// `<random.millis@domain>`: lettre's default uses the machine's host name,
/// which in a container is a meaningless id.
fn message_id(domain: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("<{:032x}.{millis}@{domain}>", rand::random::<u128>())
}

type HeaderParseError = Box<dyn std::error::Error + Send + Sync>;

/// `List-Unsubscribe: <https://…>` (RFC 2369), holding the URL without brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, HeaderParseError> {
        let s = s.trim();
        match s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
            Some(url) => Ok(ListUnsubscribe(url.to_owned())),
            None => Err("List-Unsubscribe must be <URL>".into()),
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, HeaderParseError> {
        if s.trim() == "List-Unsubscribe=One-Click" {
            Ok(ListUnsubscribePost)
        } else {
            Err("List-Unsubscribe-Post must be List-Unsubscribe=One-Click".into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): keeps vacation responders quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, HeaderParseError> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(AutoSubmitted)
        } else {
            Err("only Auto-Submitted: auto-generated is supported".into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// The email for one alert, sent as soon as it fires.
pub fn alert_email(to: &str, alert: &AlertView, unsubscribe_url: Option<&str>) -> OutgoingEmail {
    let message = one_line(&alert.message);
    let headline = if message.is_empty() {
        format!("Alert for {}", one_line(&alert.product_name))
    } else {
        message
    };
    let subject = truncate_chars(&format!("MarketScout: {headline}"), MAX_SUBJECT_CHARS);
    let meta = format!(
        "{} · {}",
        rule_label(&alert.rule),
        format_time(alert.created_at, None)
    );
    let change = describe_values(alert.value_before, alert.value_after);
    let reason = "You get this email because you watch this product in MarketScout.";

    let mut text = format!("{headline}\n\nProduct: {}\n", alert.product_name);
    if let Some(change) = &change {
        text.push_str(&format!("{change}\n"));
    }
    text.push_str(&format!("Alert: {meta}\n"));
    if let Some(url) = &alert.url {
        text.push_str(&format!("\nView the product: {url}\n"));
    }
    push_text_footer(&mut text, reason, unsubscribe_url);

    let mut body = String::new();
    body.push_str(&format!(
        "<p style=\"margin:0 0 4px;font-size:13px;opacity:0.75;\">MarketScout alert · {}</p>\n",
        escape(&meta)
    ));
    body.push_str(&format!(
        "<h1 style=\"margin:0 0 12px;font-size:20px;line-height:1.3;\">{}</h1>\n",
        escape(&headline)
    ));
    body.push_str(&format!(
        "<p style=\"margin:0 0 8px;\"><strong>{}</strong></p>\n",
        escape(&alert.product_name)
    ));
    if let Some(change) = &change {
        body.push_str(&format!(
            "<p style=\"margin:0 0 8px;\">{}</p>\n",
            escape(change)
        ));
    }
    if let Some(url) = &alert.url {
        body.push_str(&format!(
            "<p style=\"margin:16px 0 0;\">{}</p>\n",
            link(url, "View the product")
        ));
    }
    let html = html_page(&subject, &body, reason, unsubscribe_url);

    OutgoingEmail {
        to: to.to_owned(),
        subject,
        text,
        html,
        unsubscribe_url: unsubscribe_url.map(str::to_owned),
    }
}

/// The daily digest: every alert of `day` (`YYYY-MM-DD`, UTC), grouped by
/// product in product-name order, newest first within a product.
pub fn digest_email(
    to: &str,
    day: &str,
    alerts: &[AlertView],
    unsubscribe_url: Option<&str>,
) -> OutgoingEmail {
    let day = one_line(day);
    let count = plural(alerts.len(), "alert", "alerts");
    let subject = format!("MarketScout daily digest for {day}: {count}");
    let groups = group_by_product(alerts);
    let title = format!("MarketScout daily digest for {day}");
    let summary = if alerts.is_empty() {
        "No alerts fired on this day.".to_owned()
    } else {
        format!(
            "{count} on {}.",
            plural(groups.len(), "product", "products")
        )
    };
    let reason = "You get this digest because you watch these products in MarketScout.";

    let mut text = format!("{title}\n{summary}\n");
    let mut body = format!(
        "<h1 style=\"margin:0 0 4px;font-size:20px;line-height:1.3;\">{}</h1>\n\
         <p style=\"margin:0 0 16px;opacity:0.75;\">{}</p>\n",
        escape(&title),
        escape(&summary)
    );
    for group in &groups {
        let name = &group[0].product_name;
        let url = group.iter().find_map(|a| a.url.as_deref());
        text.push_str(&format!("\n== {name} ==\n"));
        if let Some(url) = url {
            text.push_str(&format!("{url}\n"));
        }
        let heading = match url {
            Some(url) => link(url, name),
            None => escape(name),
        };
        body.push_str(&format!(
            "<h2 style=\"margin:24px 0 8px;font-size:17px;line-height:1.3;\">{heading}</h2>\n\
             <ul style=\"margin:0;padding:0 0 0 20px;\">\n"
        ));
        for alert in group {
            let time = format_time(alert.created_at, Some(&day));
            let message = one_line(&alert.message);
            let change = describe_values(alert.value_before, alert.value_after);
            text.push_str(&format!("- {time}  {message}"));
            if let Some(change) = &change {
                text.push_str(&format!(" · {change}"));
            }
            text.push('\n');
            body.push_str(&format!(
                "<li style=\"margin:0 0 6px;\"><span style=\"opacity:0.75;\">{}</span> · {}",
                escape(&time),
                escape(&message)
            ));
            if let Some(change) = &change {
                body.push_str(&format!(
                    " <span style=\"opacity:0.75;\">· {}</span>",
                    escape(change)
                ));
            }
            body.push_str("</li>\n");
        }
        body.push_str("</ul>\n");
    }
    push_text_footer(&mut text, reason, unsubscribe_url);
    let html = html_page(&subject, &body, reason, unsubscribe_url);

    OutgoingEmail {
        to: to.to_owned(),
        subject,
        text,
        html,
        unsubscribe_url: unsubscribe_url.map(str::to_owned),
    }
}

/// Alerts per product (by id, so two products with one name stay apart),
/// ordered by product name, newest alert first within each.
fn group_by_product(alerts: &[AlertView]) -> Vec<Vec<&AlertView>> {
    let mut groups: BTreeMap<(String, &str, i64), Vec<&AlertView>> = BTreeMap::new();
    for alert in alerts {
        let key = (
            alert.product_name.to_lowercase(),
            alert.product_name.as_str(),
            alert.product_id,
        );
        groups.entry(key).or_default().push(alert);
    }
    groups
        .into_values()
        .map(|mut group| {
            group.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            group
        })
        .collect()
}

/// The wrapper every HTML email shares. No background or text colours are
/// set, so clients in dark mode keep their own; muted text uses opacity.
fn html_page(title: &str, body: &str, reason: &str, unsubscribe_url: Option<&str>) -> String {
    let mut footer = escape(reason);
    if let Some(url) = unsubscribe_url {
        footer.push_str(&format!(
            "<br>Don't want these emails? {}",
            link(url, "Unsubscribe")
        ));
    }
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"supported-color-schemes\" content=\"light dark\">\n\
         <title>{title}</title>\n\
         </head>\n\
         <body style=\"margin:0;padding:16px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;\">\n\
         <div style=\"max-width:600px;margin:0 auto;\">\n\
         {body}\
         <hr style=\"border:none;border-top:1px solid #888888;margin:24px 0 12px;\">\n\
         <p style=\"margin:0;font-size:13px;opacity:0.75;\">{footer}</p>\n\
         </div>\n\
         </body>\n\
         </html>\n",
        title = escape(title),
    )
}

fn push_text_footer(text: &mut String, reason: &str, unsubscribe_url: Option<&str>) {
    // "-- " on its own line is the signature separator mail clients recognise.
    text.push_str("\n-- \n");
    text.push_str(reason);
    text.push('\n');
    if let Some(url) = unsubscribe_url {
        text.push_str(&format!("Unsubscribe: {url}\n"));
    }
}

/// A link for http(s) URLs; anything else (say `javascript:`) is shown as text only.
fn link(url: &str, label: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", escape(url.trim()), escape(label))
    } else {
        format!("{} ({})", escape(label), escape(url))
    }
}

/// HTML-escapes text for element content and quoted attribute values.
fn escape(s: &str) -> String {
    crate::charts::esc(s)
}

/// Collapses line breaks, control characters and runs of spaces into single
/// spaces: subjects and list items must stay on one line.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let mid_word = s
        .chars()
        .nth(max.saturating_sub(1))
        .is_some_and(|next| !next.is_whitespace());
    if mid_word {
        // Back off to the last space, unless that would throw away a lot
        // (one very long "word", such as a URL).
        if let Some(space) = cut.rfind(char::is_whitespace)
            && cut[space..].chars().count() <= 20
        {
            cut.truncate(space);
        }
    }
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

fn rule_label(rule: &str) -> String {
    match rule {
        "score_threshold" => "Score threshold".to_owned(),
        "score_jump" => "Score jump".to_owned(),
        "stage_change" => "Stage change".to_owned(),
        "viral_ad" => "Viral ad".to_owned(),
        "forecast_growth" => "Forecast growth".to_owned(),
        "new_country" => "New country".to_owned(),
        other => one_line(other),
    }
}

/// `2026-12-04 14:03 UTC`, or just `14:03 UTC` when the alert falls on `day`.
fn format_time(unix_ms: i64, day: Option<&str>) -> String {
    match chrono::DateTime::from_timestamp_millis(unix_ms) {
        Some(at) if day == Some(at.format("%Y-%m-%d").to_string().as_str()) => {
            at.format("%H:%M UTC").to_string()
        }
        Some(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "unknown time".to_owned(),
    }
}

fn describe_values(before: Option<f64>, after: Option<f64>) -> Option<String> {
    match (before, after) {
        (Some(before), Some(after)) => {
            let mut s = format!("{} → {}", format_value(before), format_value(after));
            let delta = after - before;
            if delta.is_finite() {
                let sign = if delta > 0.0 { "+" } else { "" };
                s.push_str(&format!(" ({sign}{})", format_value(delta)));
            }
            Some(s)
        }
        (None, Some(after)) => Some(format!("Now {}", format_value(after))),
        (Some(before), None) => Some(format!("Was {}", format_value(before))),
        (None, None) => None,
    }
}

/// At most two decimals, without trailing zeros: `82`, `57.5`, `0.33`.
fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04 14:03:00 UTC.
    const DEC_4_14_03: i64 = 1_796_392_980_000;
    const HOUR_MS: i64 = 3_600_000;
    const UNSUBSCRIBE: &str = "https://scout.example.com/unsubscribe?token=abc&list=1";

    fn alert(id: i64, product_id: i64, product_name: &str, created_at: i64) -> AlertView {
        AlertView {
            id,
            product_id,
            product_name: product_name.to_owned(),
            rule: "score_jump".to_owned(),
            message: format!("{product_name} jumped"),
            value_before: Some(61.0),
            value_after: Some(82.5),
            created_at,
            url: Some(format!("https://scout.example.com/products/{product_id}")),
        }
    }

    fn settings(password: Option<&str>) -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".to_owned(),
            port: 587,
            username: Some("mailer".to_owned()),
            password: password.map(str::to_owned),
            security: SmtpSecurity::StartTls,
            from: "MarketScout <alerts@example.com>".to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_fixture_time_is_what_it_claims() {
        assert_eq!(format_time(DEC_4_14_03, None), "2026-12-04 14:03 UTC");
    }

    #[test]
    fn an_alert_subject_is_the_message_after_the_product_prefix() {
        let email = alert_email(
            "ann@example.com",
            &alert(1, 7, "Desk Lamp", DEC_4_14_03),
            None,
        );
        assert_eq!(email.subject, "MarketScout: Desk Lamp jumped");
        assert_eq!(email.to, "ann@example.com");
    }

    #[test]
    fn a_long_alert_message_is_cut_to_a_sane_subject_length() {
        let mut long = alert(1, 7, "Lamp", DEC_4_14_03);
        long.message = "word ".repeat(100);
        let subject = alert_email("ann@example.com", &long, None).subject;
        assert!(subject.chars().count() <= MAX_SUBJECT_CHARS, "{subject}");
        assert!(subject.starts_with("MarketScout: word word"));
        assert!(subject.ends_with("word…"), "{subject}");
    }

    #[test]
    fn line_breaks_in_a_message_never_reach_the_subject() {
        let mut sneaky = alert(1, 7, "Lamp", DEC_4_14_03);
        sneaky.message = "Jumped\r\nBcc: victim@example.com".to_owned();
        let email = alert_email("ann@example.com", &sneaky, None);
        assert_eq!(email.subject, "MarketScout: Jumped Bcc: victim@example.com");
    }

    #[test]
    fn an_alert_body_shows_the_values_before_and_after_and_links_the_product() {
        let email = alert_email(
            "ann@example.com",
            &alert(1, 7, "Desk Lamp", DEC_4_14_03),
            None,
        );
        for part in [&email.text, &email.html] {
            assert!(part.contains("Desk Lamp jumped"), "{part}");
            assert!(part.contains("61 → 82.5 (+21.5)"), "{part}");
            assert!(part.contains("Score jump · 2026-12-04 14:03 UTC"), "{part}");
        }
        assert!(
            email
                .text
                .contains("View the product: https://scout.example.com/products/7")
        );
        assert!(
            email
                .html
                .contains("<a href=\"https://scout.example.com/products/7\">View the product</a>")
        );
    }

    #[test]
    fn an_alert_without_values_or_link_leaves_them_out() {
        let mut bare = alert(1, 7, "Lamp", DEC_4_14_03);
        bare.value_before = None;
        bare.value_after = None;
        bare.url = None;
        let email = alert_email("ann@example.com", &bare, None);
        assert!(!email.text.contains('→'));
        assert!(!email.text.contains("View the product"));
        assert!(!email.html.contains("<a "));
    }

    #[test]
    fn a_single_value_is_shown_on_its_own() {
        assert_eq!(describe_values(None, Some(82.0)).as_deref(), Some("Now 82"));
        assert_eq!(
            describe_values(Some(0.333), None).as_deref(),
            Some("Was 0.33")
        );
        assert_eq!(
            describe_values(Some(90.0), Some(75.25)).as_deref(),
            Some("90 → 75.25 (-14.75)")
        );
        assert_eq!(
            describe_values(Some(f64::NAN), Some(1.0)).as_deref(),
            Some("n/a → 1")
        );
    }

    #[test]
    fn the_digest_subject_counts_alerts_with_a_correct_singular() {
        let subject = |alerts: &[AlertView]| {
            digest_email("ann@example.com", "2026-12-04", alerts, None).subject
        };
        let one = alert(1, 7, "Lamp", DEC_4_14_03);
        assert_eq!(
            subject(&[]),
            "MarketScout daily digest for 2026-12-04: 0 alerts"
        );
        assert_eq!(
            subject(std::slice::from_ref(&one)),
            "MarketScout daily digest for 2026-12-04: 1 alert"
        );
        assert_eq!(
            subject(&[one.clone(), alert(2, 8, "Mug", DEC_4_14_03)]),
            "MarketScout daily digest for 2026-12-04: 2 alerts"
        );
    }

    #[test]
    fn an_empty_digest_says_so() {
        let email = digest_email("ann@example.com", "2026-12-04", &[], None);
        assert!(email.text.contains("No alerts fired on this day."));
        assert!(email.html.contains("No alerts fired on this day."));
    }

    #[test]
    fn the_digest_groups_by_product_name_and_puts_the_newest_alert_first() {
        let mut older = alert(1, 7, "lamp", DEC_4_14_03 - 5 * HOUR_MS);
        older.message = "lamp older".to_owned();
        let mut newer = alert(3, 7, "lamp", DEC_4_14_03);
        newer.message = "lamp newer".to_owned();
        let alerts = [
            older,
            alert(2, 9, "Zebra mug", DEC_4_14_03),
            newer,
            alert(4, 8, "Armchair", DEC_4_14_03 - HOUR_MS),
        ];
        let email = digest_email("ann@example.com", "2026-12-04", &alerts, None);
        let order = [
            "== Armchair ==",
            "Armchair jumped",
            "== lamp ==",
            "14:03 UTC  lamp newer",
            "09:03 UTC  lamp older",
            "== Zebra mug ==",
            "Zebra mug jumped",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|needle| {
                email
                    .text
                    .find(needle)
                    .unwrap_or_else(|| panic!("{needle}"))
            })
            .collect();
        assert!(positions.is_sorted(), "{}", email.text);
        assert!(email.text.contains("4 alerts on 3 products."));
        let html_lamp = email.html.find("lamp newer").unwrap();
        let html_zebra = email.html.find("Zebra mug jumped").unwrap();
        assert!(html_lamp < html_zebra);
    }

    #[test]
    fn a_digest_alert_from_another_day_shows_its_date() {
        let late = alert(1, 7, "Lamp", DEC_4_14_03 + 12 * HOUR_MS);
        let email = digest_email("ann@example.com", "2026-12-04", &[late], None);
        assert!(
            email
                .text
                .contains("- 2026-12-05 02:03 UTC  Lamp jumped · 61 → 82.5 (+21.5)\n"),
            "{}",
            email.text
        );
    }

    #[test]
    fn html_escapes_every_user_provided_string() {
        let name = "<script>&\"x\"";
        let mut evil = alert(1, 7, name, DEC_4_14_03);
        evil.message = "Price < 5 & 'cheap'".to_owned();
        evil.url = Some("https://scout.example.com/p?a=1&b=\"2\"".to_owned());
        let escaped_name = "&lt;script&gt;&amp;&quot;x&quot;";
        for email in [
            alert_email("ann@example.com", &evil, Some(UNSUBSCRIBE)),
            digest_email(
                "ann@example.com",
                "<b>day</b>",
                std::slice::from_ref(&evil),
                None,
            ),
        ] {
            assert!(!email.html.contains("<script>"), "{}", email.html);
            assert!(!email.html.contains("<b>"), "{}", email.html);
            assert!(email.html.contains(escaped_name), "{}", email.html);
            assert!(email.html.contains("Price &lt; 5 &amp; &#39;cheap&#39;"));
            assert!(
                email
                    .html
                    .contains("href=\"https://scout.example.com/p?a=1&amp;b=&quot;2&quot;\"")
            );
            // The text part is plain text: shown as is.
            assert!(email.text.contains(name));
        }
    }

    #[test]
    fn only_http_links_become_links() {
        let mut odd = alert(1, 7, "Lamp", DEC_4_14_03);
        odd.url = Some("javascript:alert(1)".to_owned());
        let email = alert_email("ann@example.com", &odd, None);
        assert!(!email.html.contains("href=\"javascript"), "{}", email.html);
    }

    #[test]
    fn the_unsubscribe_footer_is_there_only_when_a_link_is_given() {
        let one = alert(1, 7, "Lamp", DEC_4_14_03);
        let with = [
            alert_email("ann@example.com", &one, Some(UNSUBSCRIBE)),
            digest_email(
                "ann@example.com",
                "2026-12-04",
                std::slice::from_ref(&one),
                Some(UNSUBSCRIBE),
            ),
        ];
        for email in &with {
            assert_eq!(email.unsubscribe_url.as_deref(), Some(UNSUBSCRIBE));
            assert!(email.text.contains(&format!("Unsubscribe: {UNSUBSCRIBE}")));
            assert!(email.html.contains(
                "<a href=\"https://scout.example.com/unsubscribe?token=abc&amp;list=1\">Unsubscribe</a>"
            ));
        }
        let without = [
            alert_email("ann@example.com", &one, None),
            digest_email(
                "ann@example.com",
                "2026-12-04",
                std::slice::from_ref(&one),
                None,
            ),
        ];
        for email in &without {
            assert_eq!(email.unsubscribe_url, None);
            assert!(
                !email.text.to_lowercase().contains("unsubscribe"),
                "{}",
                email.text
            );
            assert!(
                !email.html.to_lowercase().contains("unsubscribe"),
                "{}",
                email.html
            );
            assert!(email.text.contains("because you watch"));
        }
    }

    #[test]
    fn the_html_lets_dark_mode_clients_choose_colours() {
        let email = alert_email("ann@example.com", &alert(1, 7, "Lamp", DEC_4_14_03), None);
        assert!(
            email
                .html
                .contains("<meta name=\"color-scheme\" content=\"light dark\">")
        );
        assert!(!email.html.contains("background"));
        assert!(!email.html.contains("color:#"));
    }

    #[test]
    fn settings_debug_hides_the_password() {
        let shown = format!("{:?}", settings(Some("hunter2-secret")));
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("password: Some(\"***\")"), "{shown}");
        assert!(shown.contains("smtp.example.com"));
        let shown = format!("{:?}", settings(None));
        assert!(shown.contains("password: None"), "{shown}");
    }

    #[test]
    fn smtp_security_parses_the_three_accepted_values() {
        assert_eq!("none".parse(), Ok(SmtpSecurity::None));
        assert_eq!("starttls".parse(), Ok(SmtpSecurity::StartTls));
        assert_eq!("tls".parse(), Ok(SmtpSecurity::Tls));
        assert_eq!(" STARTTLS ".parse(), Ok(SmtpSecurity::StartTls));
        for value in [
            SmtpSecurity::None,
            SmtpSecurity::StartTls,
            SmtpSecurity::Tls,
        ] {
            assert_eq!(value.to_string().parse(), Ok(value));
        }
    }

    #[test]
    fn an_unknown_smtp_security_names_the_accepted_values() {
        let err = "ssl".parse::<SmtpSecurity>().unwrap_err().to_string();
        assert!(err.contains("\"ssl\""), "{err}");
        for accepted in ["none", "starttls", "tls"] {
            assert!(err.contains(accepted), "{err}");
        }
    }

    #[test]
    fn only_transient_errors_are_worth_retrying() {
        assert!(EmailError::Transient("451".into()).is_transient());
        assert!(!EmailError::Smtp("550".into()).is_transient());
        assert!(!EmailError::BadAddress("to".into()).is_transient());
    }

    #[tokio::test]
    async fn an_invalid_from_address_is_named_and_the_password_is_not() {
        let mut bad = settings(Some("hunter2-secret"));
        bad.from = "not an address".to_owned();
        let err = Mailer::new(&bad).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EmailError::BadAddress(_)), "{err:?}");
        assert!(
            text.contains("From") && text.contains("not an address"),
            "{text}"
        );
        assert!(!text.contains("hunter2-secret") && !format!("{err:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_password_without_a_username_is_refused() {
        let mut odd = settings(Some("hunter2-secret"));
        odd.username = None;
        let err = Mailer::new(&odd).unwrap_err();
        assert!(matches!(err, EmailError::BadAddress(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2-secret"));
    }

    #[tokio::test]
    async fn error_texts_are_scrubbed_of_the_password_in_every_form() {
        let mailer = Mailer::new(&settings(Some("hunter2-secret"))).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let echoed = format!(
            "535 bad credentials hunter2-secret {} {}",
            b64.encode("hunter2-secret"),
            b64.encode("\0mailer\0hunter2-secret")
        );
        assert_eq!(mailer.redact(echoed), "535 bad credentials *** *** ***");
        assert!(!format!("{mailer:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_mailer_rejects_an_unsubscribe_link_that_is_not_http() {
        let mailer = Mailer::new(&settings(None)).unwrap();
        let mut email = alert_email("ann@example.com", &alert(1, 7, "Lamp", DEC_4_14_03), None);
        email.unsubscribe_url = Some("mailto:stop@example.com".to_owned());
        let err = mailer.send(&email).await.unwrap_err();
        assert!(matches!(err, EmailError::BadAddress(_)), "{err:?}");
    }
}
