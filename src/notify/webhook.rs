//! What a webhook delivery sends: the body in each format, its signature,
//! and the retry schedule. Pure functions, no I/O (the delivery loop lives
//! elsewhere and calls these).
//!
//! # Formats
//!
//! - `json`: MarketScout's own envelope, signed (see below):
//!   `{"type": "alert", "delivery_id": 42, "alert": {"id", "product_id",
//!   "product_name", "rule", "message", "value_before", "value_after",
//!   "created_at", "url"}}`, with `created_at` in ISO-8601 UTC
//!   (`2026-12-04T10:00:00Z`). A test delivery is
//!   `{"type": "test", "delivery_id", "message", "created_at"}`: receivers
//!   should switch on `type` and ignore types they do not know.
//! - `slack`: a Slack incoming-webhook message (`text` plus one section
//!   block).
//! - `discord`: a Discord execute-webhook message (one embed, and
//!   `allowed_mentions` empty so a product named `@everyone` pings no one).
//!
//! # Signatures
//!
//! Every delivery carries a signature header ([`SIGNATURE_HEADER`]) of the
//! form `t=<unix seconds>,v1=<hex>`, where the hex is the lowercase
//! HMAC-SHA256 of `"<t>.<raw body>"` keyed by the webhook's secret, the
//! whole string as shown in the dashboard, `whsec_` prefix included. There
//! may be more than one `v1=` entry (for instance while a secret is being
//! rotated): the request is genuine when any of them matches. Check the
//! signature against the raw bytes of the body, before parsing it as JSON,
//! and refuse timestamps too far from your clock to stop replays. In Python,
//! with a five-minute window:
//!
//! ```python
//! import hashlib, hmac, time
//!
//! def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
//!     """`header` is the X-MarketScout-Signature value, `body` the raw request bytes."""
//!     fields = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
//!     stamps = [v for k, v in fields if k == "t"]
//!     if len(stamps) != 1 or not stamps[0].isdigit() or abs(time.time() - int(stamps[0])) > tolerance:
//!         return False
//!     expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
//!     return any(hmac.compare_digest(expected, v) for k, v in fields if k == "v1")
//! ```
//!
//! [`verify`] is the same check in Rust.
//!
//! # Retries
//!
//! A delivery that fails (network error, timeout, any non-2xx answer) is
//! tried again after [`backoff`]: 10 s, 20 s, 40 s, ... doubling up to an
//! hour between tries, plus the caller's jitter. After [`MAX_ATTEMPTS`]
//! attempts it is given up and marked failed.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::AlertView;

/// The request header that carries [`signature_header`].
pub const SIGNATURE_HEADER: &str = "X-MarketScout-Signature";

/// Prefix of every secret made by [`new_secret`].
pub const SECRET_PREFIX: &str = "whsec_";

/// Attempts per delivery, the first one included. With [`backoff`] the
/// waits between them add up to about a day (24 h 25 min: 10 s, 20 s, ...
/// 2560 s, then 23 of an hour), plus jitter, so a receiver down for a night
/// still gets everything: after that a delivery is given up and marked failed.
pub const MAX_ATTEMPTS: u32 = 33;

const BACKOFF_BASE_SECS: u64 = 10;
const BACKOFF_CAP_SECS: u64 = 3600;

/// Slack's limit on a section block's text.
const SLACK_SECTION_MAX: usize = 3000;
/// Slack's top-level `text` may be longer, but a notification needs less.
const SLACK_TEXT_MAX: usize = 3000;
const DISCORD_TITLE_MAX: usize = 256;
const DISCORD_DESCRIPTION_MAX: usize = 4096;
const DISCORD_FIELD_MAX: usize = 1024;

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Json,
    Slack,
    Discord,
}

impl WebhookFormat {
    /// Every format's name, as stored and as accepted by [`FromStr`].
    pub const NAMES: [&str; 3] = ["json", "slack", "discord"];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
        }
    }
}

impl std::fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of [`WebhookFormat::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook format {0:?} (expected json, slack or discord)")]
pub struct UnknownFormat(pub String);

impl FromStr for WebhookFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(WebhookFormat::Json),
            "slack" => Ok(WebhookFormat::Slack),
            "discord" => Ok(WebhookFormat::Discord),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system has no randomness source");
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The body of a delivery of `alert`.
pub fn payload(format: WebhookFormat, delivery_id: i64, alert: &AlertView) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "type": "alert",
            "delivery_id": delivery_id,
            "alert": {
                "id": alert.id,
                "product_id": alert.product_id,
                "product_name": alert.product_name,
                "rule": alert.rule,
                "message": alert.message,
                "value_before": alert.value_before,
                "value_after": alert.value_after,
                "created_at": iso(alert.created_at),
                "url": alert.url,
            },
        }),
        WebhookFormat::Slack => slack_alert(alert),
        WebhookFormat::Discord => discord_alert(alert),
    }
}

/// The body of a test delivery (the dashboard's "send a test" button),
/// clearly marked as such in every format.
pub fn test_payload(format: WebhookFormat, delivery_id: i64, now_ms: i64) -> Value {
    const MESSAGE: &str = "This is a test delivery from MarketScout: the webhook works.";
    match format {
        WebhookFormat::Json => json!({
            "type": "test",
            "delivery_id": delivery_id,
            "message": MESSAGE,
            "created_at": iso(now_ms),
        }),
        WebhookFormat::Slack => json!({
            "text": format!("[Test] {MESSAGE}"),
            "blocks": [{
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("*MarketScout test*\n{MESSAGE}")},
            }],
        }),
        WebhookFormat::Discord => json!({
            "embeds": [{
                "title": "MarketScout test",
                "description": MESSAGE,
                "timestamp": iso(now_ms),
            }],
            "allowed_mentions": {"parse": []},
        }),
    }
}

fn slack_alert(alert: &AlertView) -> Value {
    let name = slack_escape(&alert.product_name, 200);
    let title = match &alert.url {
        Some(url) => format!(
            "*<{}|{name}>*",
            slack_escape(url, usize::MAX).replace('|', "%7C")
        ),
        None => format!("*{name}*"),
    };
    let change = change_line(alert.value_before, alert.value_after);
    let utf16 = |s: &str| s.encode_utf16().count();
    let fixed = utf16(&title) + change.as_deref().map_or(0, |c| utf16(c) + 1) + 1;
    let message = slack_escape(&alert.message, SLACK_SECTION_MAX.saturating_sub(fixed));
    let mut text = format!("{title}\n{message}");
    if let Some(change) = change {
        text.push('\n');
        text.push_str(&change);
    }
    json!({
        "text": slack_escape(&alert.message, SLACK_TEXT_MAX),
        "blocks": [{
            "type": "section",
            "text": {"type": "mrkdwn", "text": text},
        }],
    })
}

/// `72.5 → 81`, `before: 72.5` or `after: 81`.
fn change_line(before: Option<f64>, after: Option<f64>) -> Option<String> {
    match (before, after) {
        (Some(b), Some(a)) => Some(format!("{} → {}", number(b), number(a))),
        (Some(b), None) => Some(format!("before: {}", number(b))),
        (None, Some(a)) => Some(format!("after: {}", number(a))),
        (None, None) => None,
    }
}

fn discord_alert(alert: &AlertView) -> Value {
    let title = if alert.product_name.trim().is_empty() {
        "(unnamed product)".to_owned()
    } else {
        truncate(&alert.product_name, DISCORD_TITLE_MAX)
    };
    let mut embed = json!({
        "title": title,
        "description": truncate(&alert.message, DISCORD_DESCRIPTION_MAX),
        "timestamp": iso(alert.created_at),
    });
    if let Some(url) = &alert.url {
        embed["url"] = json!(url);
    }
    let mut fields = Vec::new();
    if let Some(before) = alert.value_before {
        fields.push(json!({"name": "Before", "value": truncate(&number(before), DISCORD_FIELD_MAX), "inline": true}));
    }
    if let Some(after) = alert.value_after {
        fields.push(json!({"name": "After", "value": truncate(&number(after), DISCORD_FIELD_MAX), "inline": true}));
    }
    if !fields.is_empty() {
        embed["fields"] = Value::Array(fields);
    }
    json!({
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// `2026-12-04T10:00:00Z` from unix milliseconds (whole seconds: the
/// millisecond part is dropped).
fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A value as people read it: at most two decimals, no trailing zeros.
fn number(v: f64) -> String {
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

/// `s` cut to at most `max` UTF-16 code units (the strictest way Slack or
/// Discord might count "characters"), ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` with `&`, `<` and `>` escaped as Slack requires, at most `max`
/// UTF-16 code units long once escaped (cut between entities, never inside
/// one, and ending in `…` when cut).
fn slack_escape(s: &str, max: usize) -> String {
    let escaped_len: usize = s.chars().map(|c| escaped(c).encode_utf16().count()).sum();
    let budget = if escaped_len <= max {
        usize::MAX
    } else {
        max.saturating_sub(1)
    };
    let mut out = String::with_capacity(s.len());
    let mut used = 0;
    for c in s.chars() {
        let e = escaped(c);
        let len = e.encode_utf16().count();
        if used + len > budget {
            out.push('…');
            break;
        }
        used += len;
        out.push_str(&e);
    }
    out
}

fn escaped(c: char) -> std::borrow::Cow<'static, str> {
    match c {
        '&' => "&amp;".into(),
        '<' => "&lt;".into(),
        '>' => "&gt;".into(),
        c => c.to_string().into(),
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, unix_seconds: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(unix_seconds.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `unix_seconds`:
/// `t=<unix seconds>,v1=<lowercase hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let t = unix_seconds.to_string();
    let sig = mac(secret, &t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// Why [`verify`] refused a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `t=`, more than one, a `t=` that is not a number, no `v1=`, or a
    /// `v1=` that is not 64 hex digits.
    #[error("the signature header is malformed")]
    Malformed,
    /// No `v1=` matches the body and timestamp under this secret.
    #[error("the signature does not match")]
    Mismatch,
    /// Genuine, but signed too long ago (or too far ahead): a replay.
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
}

/// Checks a delivery the way a receiver should: `header` is the
/// [`SIGNATURE_HEADER`] value, `body` the raw request body. Entries may
/// come in any order; unknown keys are ignored; any `v1=` matching is
/// enough. The comparison is constant-time. A genuine signature whose
/// timestamp is more than `tolerance_seconds` away from `now_seconds` is
/// [`VerifyError::Expired`].
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_seconds: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let mut t: Option<(&str, i64)> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match key.trim() {
            "t" => {
                let value = value.trim();
                let parsed = value.parse::<i64>().map_err(|_| VerifyError::Malformed)?;
                if t.replace((value, parsed)).is_some() {
                    return Err(VerifyError::Malformed);
                }
            }
            "v1" => {
                let sig = hex::decode(value.trim()).map_err(|_| VerifyError::Malformed)?;
                if sig.len() != 32 {
                    return Err(VerifyError::Malformed);
                }
                signatures.push(sig);
            }
            _ => {}
        }
    }
    let (t_text, t) = t.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let expected = mac(secret, t_text, body);
    if !signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        return Err(VerifyError::Mismatch);
    }
    if now_seconds.abs_diff(t) > tolerance_seconds.max(0).unsigned_abs() {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// How long to wait before the next try of a delivery that has failed
/// `attempts` times: 10 s after the first failure, doubling each time, at
/// most an hour. Deterministic: the caller adds jitter.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    Duration::from_secs((BACKOFF_BASE_SECS << doublings).min(BACKOFF_CAP_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04T10:00:00Z
    const T: i64 = 1_796_378_400;
    const SECRET: &str = "whsec_5f4dcc3b5aa765d61d8327deb882cf99";

    fn alert() -> AlertView {
        AlertView {
            id: 7,
            product_id: 3,
            product_name: "Magnetic phone mount".into(),
            rule: "score_jump".into(),
            message: "Score jumped from 61 to 78.5".into(),
            value_before: Some(61.0),
            value_after: Some(78.5),
            created_at: T * 1000,
            url: Some("https://scout.example.com/products/3".into()),
        }
    }

    // ---- formats -------------------------------------------------------

    #[test]
    fn format_names_round_trip() {
        for name in WebhookFormat::NAMES {
            assert_eq!(name.parse::<WebhookFormat>().unwrap().as_str(), name);
        }
        assert!("JSON".parse::<WebhookFormat>().is_err());
        assert!("teams".parse::<WebhookFormat>().is_err());
    }

    #[test]
    fn secrets_are_prefixed_random_hex() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        let hex_part = a.strip_prefix("whsec_").unwrap();
        assert_eq!(hex_part.len(), 64);
        assert!(
            hex_part
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    // ---- payloads ------------------------------------------------------

    #[test]
    fn json_payload_is_the_documented_envelope() {
        assert_eq!(
            payload(WebhookFormat::Json, 42, &alert()),
            json!({
                "type": "alert",
                "delivery_id": 42,
                "alert": {
                    "id": 7,
                    "product_id": 3,
                    "product_name": "Magnetic phone mount",
                    "rule": "score_jump",
                    "message": "Score jumped from 61 to 78.5",
                    "value_before": 61.0,
                    "value_after": 78.5,
                    "created_at": "2026-12-04T10:00:00Z",
                    "url": "https://scout.example.com/products/3",
                },
            })
        );
    }

    #[test]
    fn json_payload_keeps_absent_values_as_null_and_drops_milliseconds() {
        let mut a = alert();
        a.value_before = None;
        a.value_after = None;
        a.url = None;
        a.created_at = T * 1000 + 999;
        let p = payload(WebhookFormat::Json, 1, &a);
        assert_eq!(p["alert"]["value_before"], Value::Null);
        assert_eq!(p["alert"]["value_after"], Value::Null);
        assert_eq!(p["alert"]["url"], Value::Null);
        assert_eq!(p["alert"]["created_at"], "2026-12-04T10:00:00Z");
    }

    #[test]
    fn slack_payload_links_the_product_and_shows_the_change() {
        assert_eq!(
            payload(WebhookFormat::Slack, 42, &alert()),
            json!({
                "text": "Score jumped from 61 to 78.5",
                "blocks": [{
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*<https://scout.example.com/products/3|Magnetic phone mount>*\nScore jumped from 61 to 78.5\n61 → 78.5",
                    },
                }],
            })
        );
    }

    #[test]
    fn slack_payload_without_url_or_values_is_bold_name_and_message() {
        let mut a = alert();
        a.url = None;
        a.value_before = None;
        a.value_after = None;
        let p = payload(WebhookFormat::Slack, 1, &a);
        assert_eq!(
            p["blocks"][0]["text"]["text"],
            "*Magnetic phone mount*\nScore jumped from 61 to 78.5"
        );
        a.value_after = Some(80.0);
        let p = payload(WebhookFormat::Slack, 1, &a);
        assert_eq!(
            p["blocks"][0]["text"]["text"],
            "*Magnetic phone mount*\nScore jumped from 61 to 78.5\nafter: 80"
        );
    }

    #[test]
    fn slack_escapes_ampersand_and_angle_brackets_in_user_text() {
        let mut a = alert();
        a.product_name = "Salt & <b>Pepper</b>".into();
        a.message = "<!channel> look & see".into();
        a.url = Some("https://x.example/p?a=1&b=2|3".into());
        let p = payload(WebhookFormat::Slack, 1, &a);
        assert_eq!(p["text"], "&lt;!channel&gt; look &amp; see");
        assert_eq!(
            p["blocks"][0]["text"]["text"],
            "*<https://x.example/p?a=1&amp;b=2%7C3|Salt &amp; &lt;b&gt;Pepper&lt;/b&gt;>*\n\
             &lt;!channel&gt; look &amp; see\n61 → 78.5"
        );
    }

    #[test]
    fn slack_section_stays_within_3000_characters_without_splitting_entities() {
        let mut a = alert();
        a.message = "&".repeat(5000);
        let p = payload(WebhookFormat::Slack, 1, &a);
        let text = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.encode_utf16().count() <= 3000, "{}", text.len());
        let message = text.lines().nth(1).unwrap();
        let body = message
            .strip_suffix('…')
            .expect("cut text ends in an ellipsis");
        assert!(!body.is_empty() && body.split("&amp;").all(str::is_empty));
        assert!(p["text"].as_str().unwrap().encode_utf16().count() <= 3000);
    }

    #[test]
    fn discord_payload_is_one_embed_that_mentions_no_one() {
        assert_eq!(
            payload(WebhookFormat::Discord, 42, &alert()),
            json!({
                "embeds": [{
                    "title": "Magnetic phone mount",
                    "description": "Score jumped from 61 to 78.5",
                    "url": "https://scout.example.com/products/3",
                    "timestamp": "2026-12-04T10:00:00Z",
                    "fields": [
                        {"name": "Before", "value": "61", "inline": true},
                        {"name": "After", "value": "78.5", "inline": true},
                    ],
                }],
                "allowed_mentions": {"parse": []},
            })
        );
    }

    #[test]
    fn discord_payload_omits_absent_url_and_values_and_content() {
        let mut a = alert();
        a.product_name = "@everyone".into();
        a.url = None;
        a.value_before = None;
        a.value_after = None;
        let p = payload(WebhookFormat::Discord, 1, &a);
        assert_eq!(
            p,
            json!({
                "embeds": [{
                    "title": "@everyone",
                    "description": "Score jumped from 61 to 78.5",
                    "timestamp": "2026-12-04T10:00:00Z",
                }],
                "allowed_mentions": {"parse": []},
            })
        );
        assert!(p.get("content").is_none());
    }

    #[test]
    fn discord_title_and_description_respect_the_limits() {
        let mut a = alert();
        a.product_name = "é".repeat(300);
        a.message = "m".repeat(5000);
        let p = payload(WebhookFormat::Discord, 1, &a);
        let title = p["embeds"][0]["title"].as_str().unwrap();
        let description = p["embeds"][0]["description"].as_str().unwrap();
        assert_eq!(title.chars().count(), 256);
        assert!(title.ends_with('…'));
        assert_eq!(description.chars().count(), 4096);
        assert!(description.ends_with('…'));
        // Exactly at the limit: untouched.
        a.product_name = "x".repeat(256);
        let p = payload(WebhookFormat::Discord, 1, &a);
        assert_eq!(p["embeds"][0]["title"], "x".repeat(256));
    }

    #[test]
    fn values_are_shown_with_at_most_two_decimals() {
        assert_eq!(number(81.0), "81");
        assert_eq!(number(72.5), "72.5");
        assert_eq!(number(1.0 / 3.0), "0.33");
        assert_eq!(number(-0.001), "0");
        assert_eq!(number(f64::NAN), "n/a");
    }

    #[test]
    fn test_payloads_are_marked_as_tests() {
        let now = T * 1000;
        assert_eq!(
            test_payload(WebhookFormat::Json, 5, now),
            json!({
                "type": "test",
                "delivery_id": 5,
                "message": "This is a test delivery from MarketScout: the webhook works.",
                "created_at": "2026-12-04T10:00:00Z",
            })
        );
        let slack = test_payload(WebhookFormat::Slack, 5, now);
        assert!(slack["text"].as_str().unwrap().starts_with("[Test]"));
        assert_eq!(slack["blocks"][0]["type"], "section");
        let discord = test_payload(WebhookFormat::Discord, 5, now);
        assert_eq!(discord["embeds"][0]["title"], "MarketScout test");
        assert_eq!(discord["embeds"][0]["timestamp"], "2026-12-04T10:00:00Z");
        assert_eq!(discord["allowed_mentions"], json!({"parse": []}));
    }

    // ---- signatures ----------------------------------------------------

    const BODY: &[u8] = br#"{"type":"alert","delivery_id":42}"#;

    #[test]
    fn signature_matches_a_known_answer() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(
        //   b"whsec_5f4dcc3b5aa765d61d8327deb882cf99",
        //   b"1796378400." + b"{\"type\":\"alert\",\"delivery_id\":42}",
        //   hashlib.sha256).hexdigest())'
        assert_eq!(
            signature_header(SECRET, T, BODY),
            "t=1796378400,v1=aa53249f005bcb9ba69812657289bad2526d34dfc65c5e3cd81b14b1a5eec4c1"
        );
    }

    #[test]
    fn verify_accepts_what_signature_header_makes() {
        let header = signature_header(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &header, BODY, T, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, T + 300, 300), Ok(()));
        assert_eq!(verify(SECRET, &header, BODY, T - 300, 300), Ok(()));
        let secret = new_secret();
        let header = signature_header(&secret, T, b"");
        assert_eq!(verify(&secret, &header, b"", T, 0), Ok(()));
    }

    #[test]
    fn verify_accepts_entries_in_any_order_with_several_v1_and_unknown_keys() {
        let good = signature_header(SECRET, T, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let other = "0".repeat(64);
        let header = format!("v1={other}, v0=legacy, v1={v1}, t={T}");
        assert_eq!(verify(SECRET, &header, BODY, T, 300), Ok(()));
    }

    #[test]
    fn verify_rejects_a_tampered_body() {
        let header = signature_header(SECRET, T, BODY);
        let tampered = br#"{"type":"alert","delivery_id":43}"#;
        assert_eq!(
            verify(SECRET, &header, tampered, T, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn verify_rejects_the_wrong_secret() {
        let header = signature_header(SECRET, T, BODY);
        assert_eq!(
            verify(&new_secret(), &header, BODY, T, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn verify_rejects_a_changed_timestamp() {
        let header = signature_header(SECRET, T, BODY).replace("t=1796378400", "t=1796378401");
        assert_eq!(
            verify(SECRET, &header, BODY, T, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn verify_rejects_timestamps_outside_the_tolerance() {
        let header = signature_header(SECRET, T, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, T + 301, 300),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, T - 301, 300),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, i64::MAX, 300),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify(SECRET, &header, BODY, T + 1, -5),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn verify_rejects_malformed_headers() {
        let sig = "ab".repeat(32);
        for header in [
            String::new(),
            "garbage".into(),
            format!("v1={sig}"),                 // no t
            format!("t={T}"),                    // no v1
            format!("t=soon,v1={sig}"),          // t not a number
            format!("t={T},t={T},v1={sig}"),     // two t
            format!("t={T},v1=zz{}", &sig[2..]), // not hex
            format!("t={T},v1={}", &sig[..62]),  // too short
            format!("t={T},v1={sig},"),          // trailing comma
            format!("t={T};v1={sig}"),           // wrong separator
        ] {
            assert_eq!(
                verify(SECRET, &header, BODY, T, 300),
                Err(VerifyError::Malformed),
                "{header:?}"
            );
        }
    }

    // ---- retries -------------------------------------------------------

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_an_hour() {
        let secs: Vec<u64> = (1..=13).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(
            secs,
            [
                10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600, 3600
            ]
        );
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn a_delivery_is_given_up_after_max_attempts() {
        // The waits between the MAX_ATTEMPTS attempts, as MAX_ATTEMPTS' doc says.
        let total: Duration = (1..MAX_ATTEMPTS).map(backoff).sum();
        assert_eq!(MAX_ATTEMPTS, 33);
        assert_eq!(total, Duration::from_secs(24 * 3600 + 25 * 60 + 10));
    }
}
