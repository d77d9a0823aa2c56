//! Observations: one sighting of one piece of content (a post, a video, an ad)
//! on one platform at one moment, with the cumulative public metrics of that
//! moment. This module turns loosely shaped input (JSON objects, CSV rows
//! already mapped to objects) into validated observations, naming every
//! problem of a bad one. Pure: the current time is an argument.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::geo::region_of;

pub const PLATFORMS: &[&str] = &[
    "tiktok",
    "facebook",
    "instagram",
    "youtube",
    "x",
    "reddit",
    "google_trends",
];
pub const KINDS: &[&str] = &["post", "video", "ad"];

/// How far in the future an observation may claim to be (clock skew).
pub(crate) const FUTURE_SLACK_MS: i64 = 24 * 3600 * 1000;
const MAX_TEXT: usize = 10_000;
const MAX_HASHTAGS: usize = 100;

/// A reported quantity that ad libraries give as a range; `upper: None` is an open top bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds<T> {
    pub lower: T,
    pub upper: Option<T>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub platform: &'static str,
    pub kind: &'static str,
    pub platform_id: String,
    pub url: Option<String>,
    pub author: Option<String>,
    pub text: Option<String>,
    /// Lower-case, without `#`, from the `hashtags` field and the text, first seen first.
    pub hashtags: Vec<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub published_at: Option<i64>,
    pub observed_at: i64,
    pub views: Option<i64>,
    pub impressions: Option<Bounds<i64>>,
    pub likes: Option<i64>,
    pub comments: Option<i64>,
    pub shares: Option<i64>,
    pub spend: Option<Bounds<f64>>,
}

/// Validates one observation; the error names every problem found, separated by "; ".
pub fn parse_observation(value: &Value, now_ms: i64) -> Result<Observation, String> {
    let Value::Object(obj) = value else {
        return Err("an observation must be a JSON object".into());
    };
    let mut p = Problems::default();
    let platform = p.platform(obj);
    let kind = p.choice(obj, "kind", KINDS);
    let platform_id = p.platform_id(obj);
    let observed_at = match field(obj, "observed_at") {
        None => {
            p.push("observed_at is required");
            None
        }
        Some(v) => p.time(v, "observed_at", now_ms),
    };
    let published_at = field(obj, "published_at").and_then(|v| p.time(v, "published_at", now_ms));
    let url = p.text(obj, "url", 2048).and_then(|u| {
        if u.starts_with("https://") || u.starts_with("http://") {
            Some(u)
        } else {
            p.push("url must start with http:// or https://");
            None
        }
    });
    let author = p.text(obj, "author", 256);
    let text = p.text(obj, "text", MAX_TEXT);
    let country = p.text(obj, "country", 2).and_then(|c| match region_of(&c) {
        Some(_) => Some(c.to_ascii_uppercase()),
        None => {
            p.push(format!("country {c:?} is not an ISO 3166-1 alpha-2 code"));
            None
        }
    });
    let language = p.text(obj, "language", 35).and_then(|l| {
        let ok = l.len() >= 2
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Some(l.to_ascii_lowercase().replace('_', "-"))
        } else {
            p.push(format!(
                "language {l:?} is not a language tag such as en or pt-BR"
            ));
            None
        }
    });
    let hashtags = p.hashtags(obj, text.as_deref());
    let views = p.count(obj, "views");
    let likes = p.count(obj, "likes");
    let comments = p.count(obj, "comments");
    let shares = p.count(obj, "shares");
    let impressions = p
        .bounds(obj, "impressions", |v| {
            count_of(v).map(|c| c.map(|n| n as f64))
        })
        .map(|b| {
            b.map(|b| Bounds {
                lower: b.lower as i64,
                upper: b.upper.map(|u| u as i64),
            })
        });
    let spend = p.bounds(obj, "spend", number_of);
    if let (Some(published), Some(observed)) = (published_at, observed_at)
        && published > observed + FUTURE_SLACK_MS
    {
        p.push("published_at is after observed_at");
    }
    if !p.0.is_empty() {
        return Err(p.0.join("; "));
    }
    // Every `None` below was recorded as a problem above.
    Ok(Observation {
        platform: platform.ok_or("platform")?,
        kind: kind.ok_or("kind")?,
        platform_id: platform_id.ok_or("platform_id")?,
        url,
        author,
        text,
        hashtags,
        country,
        language,
        published_at,
        observed_at: observed_at.ok_or("observed_at")?,
        views: views.flatten(),
        impressions: impressions.flatten(),
        likes: likes.flatten(),
        comments: comments.flatten(),
        shares: shares.flatten(),
        spend: spend.flatten(),
    })
}

/// A batch read from a request body or a file: the good observations, and the
/// line number (1-based) and reason of each bad one.
#[derive(Debug, Default)]
pub struct Batch {
    pub observations: Vec<Observation>,
    pub rejected: Vec<(usize, String)>,
}

impl Batch {
    fn take(&mut self, line: usize, value: &Value, now_ms: i64) {
        match parse_observation(value, now_ms) {
            Ok(o) => self.observations.push(o),
            Err(reason) => self.rejected.push((line, reason)),
        }
    }
}

/// Reads a JSON array of observations, or NDJSON (one object per line; blank
/// lines are skipped). A line that is not JSON is rejected on its own; a body
/// that starts as an array but is not valid JSON as a whole is an error.
pub fn parse_json_batch(body: &str, now_ms: i64) -> Result<Batch, String> {
    let mut all = Batch::default();
    parse_json_pieces(body, now_ms, usize::MAX, |piece| {
        all.observations.extend(piece.observations);
        all.rejected.extend(piece.rejected);
        true
    })?;
    Ok(all)
}

/// [`parse_json_batch`] handed over in pieces of `size` observations (and the
/// lines rejected meanwhile) as soon as each is read, so that a caller can store
/// one piece while the next is parsed. The last piece may be smaller or empty.
/// Stops when `each` answers false. An array is read whole before its first
/// piece: it is either valid JSON or an error.
pub fn parse_json_pieces(
    body: &str,
    now_ms: i64,
    size: usize,
    mut each: impl FnMut(Batch) -> bool,
) -> Result<(), String> {
    let size = size.max(1);
    let mut batch = Batch::default();
    if body.trim_start().starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(body)
            .map_err(|e| format!("the body starts as a JSON array but is not valid JSON: {e}"))?;
        for (i, item) in items.iter().enumerate() {
            batch.take(i + 1, item, now_ms);
            if batch.observations.len() >= size && !each(std::mem::take(&mut batch)) {
                return Ok(());
            }
        }
        each(batch);
        return Ok(());
    }
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(value) => batch.take(i + 1, &value, now_ms),
            Err(e) => batch.rejected.push((i + 1, format!("not JSON: {e}"))),
        }
        if batch.observations.len() >= size && !each(std::mem::take(&mut batch)) {
            return Ok(());
        }
    }
    each(batch);
    Ok(())
}

/// Reads CSV with a header row naming the observation fields (`impressions_lower`,
/// `spend_upper`, ... for ranges; `hashtags` separated by spaces or commas). Empty
/// cells are absent values. Line numbers count the header as line 1.
pub fn parse_csv_batch(reader: impl std::io::Read, now_ms: i64) -> Result<Batch, String> {
    let mut all = Batch::default();
    parse_csv_pieces(reader, now_ms, usize::MAX, |piece| {
        all.observations.extend(piece.observations);
        all.rejected.extend(piece.rejected);
        true
    })?;
    Ok(all)
}

/// [`parse_csv_batch`] in pieces, as [`parse_json_pieces`] does for JSON.
pub fn parse_csv_pieces(
    reader: impl std::io::Read,
    now_ms: i64,
    size: usize,
    mut each: impl FnMut(Batch) -> bool,
) -> Result<(), String> {
    let size = size.max(1);
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| format!("cannot read the CSV header: {e}"))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    let mut batch = Batch::default();
    for (i, record) in csv.records().enumerate() {
        let line = i + 2;
        match record {
            Ok(record) => {
                let obj: Map<String, Value> = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.trim().is_empty())
                    .map(|(h, cell)| (h.clone(), Value::String(cell.to_owned())))
                    .collect();
                batch.take(line, &Value::Object(obj), now_ms);
            }
            Err(e) => batch
                .rejected
                .push((line, format!("unreadable CSV row: {e}"))),
        }
        if batch.observations.len() >= size && !each(std::mem::take(&mut batch)) {
            return Ok(());
        }
    }
    each(batch);
    Ok(())
}

/// A present, non-null, non-empty-string field.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    }
}

/// A non-negative count; numeric strings (as ad libraries send) are read too.
/// `-1`, which scrapers use for "hidden", is `Ok(None)`.
pub(crate) fn count_of(v: &Value) -> Result<Option<i64>, ()> {
    let n = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().replace([',', '_'], "").parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n)),
        _ => Err(()),
    }
}

fn number_of(v: &Value) -> Result<Option<f64>, ()> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(()),
    }
}

/// Unix seconds or milliseconds (told apart by size), or an RFC 3339 / ISO-8601 time.
pub fn parse_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => time_of_number(n.as_f64()?),
        Value::String(s) => time_of_text(s),
        _ => None,
    }
}

/// Unix seconds or milliseconds, told apart by size.
pub(crate) fn time_of_number(x: f64) -> Option<i64> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    Some(if x >= 1e12 {
        x as i64
    } else {
        (x * 1000.0) as i64
    })
}

/// An RFC 3339 / ISO-8601 time, or a number of seconds or milliseconds written out.
pub(crate) fn time_of_text(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
    {
        return Some(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    s.parse::<f64>().ok().and_then(time_of_number)
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    fn platform(&mut self, obj: &Map<String, Value>) -> Option<&'static str> {
        let raw = match field(obj, "platform") {
            None => {
                self.push("platform is required");
                return None;
            }
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(_) => {
                self.push("platform must be a string");
                return None;
            }
        };
        let name = match raw.as_str() {
            "twitter" => "x",
            "google trends" | "googletrends" => "google_trends",
            other => other,
        };
        let found = PLATFORMS.iter().find(|p| **p == name).copied();
        if found.is_none() {
            self.push(format!(
                "platform {raw:?} is not one of {}",
                PLATFORMS.join(", ")
            ));
        }
        found
    }

    fn choice(
        &mut self,
        obj: &Map<String, Value>,
        name: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        match field(obj, name) {
            None => {
                self.push(format!("{name} is required"));
                None
            }
            Some(Value::String(s)) => {
                let lower = s.trim().to_ascii_lowercase();
                let found = allowed.iter().find(|a| **a == lower).copied();
                if found.is_none() {
                    self.push(format!("{name} {s:?} is not one of {}", allowed.join(", ")));
                }
                found
            }
            Some(_) => {
                self.push(format!("{name} must be a string"));
                None
            }
        }
    }

    fn platform_id(&mut self, obj: &Map<String, Value>) -> Option<String> {
        match field(obj, "platform_id") {
            None => {
                self.push("platform_id is required");
                None
            }
            Some(Value::String(s)) if s.chars().count() <= 256 => Some(without_nul(s)),
            // Integers are kept exactly (TikTok ids exceed 2^53); fractional numbers are
            // what a float-parsing exporter left of an id, and cannot be trusted.
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
            Some(_) => {
                self.push("platform_id must be a string or an integer");
                None
            }
        }
    }

    fn time(&mut self, v: &Value, name: &str, now_ms: i64) -> Option<i64> {
        match parse_time(v) {
            None => {
                self.push(format!("{name} is not a time (use ISO-8601 such as 2025-07-12T08:00:00Z, or Unix seconds)"));
                None
            }
            Some(t) if t > now_ms + FUTURE_SLACK_MS => {
                self.push(format!("{name} is in the future"));
                None
            }
            Some(t) => Some(t),
        }
    }

    fn text(&mut self, obj: &Map<String, Value>, name: &str, max: usize) -> Option<String> {
        match field(obj, name)? {
            Value::String(s) if s.chars().count() <= max => Some(without_nul(s)),
            Value::String(_) => {
                self.push(format!("{name} is longer than {max} characters"));
                None
            }
            _ => {
                self.push(format!("{name} must be a string"));
                None
            }
        }
    }

    fn count(&mut self, obj: &Map<String, Value>, name: &str) -> Option<Option<i64>> {
        let v = field(obj, name)?;
        match count_of(v) {
            Ok(c) => Some(c),
            Err(()) => {
                self.push(format!("{name} must be a non-negative integer"));
                None
            }
        }
    }

    /// `name` as a number, as `{"lower": .., "upper": ..}` (also `lower_bound` /
    /// `upper_bound`, as the Meta Ad Library sends), or as `name_lower` / `name_upper`.
    fn bounds(
        &mut self,
        obj: &Map<String, Value>,
        name: &str,
        read: impl Fn(&Value) -> Result<Option<f64>, ()>,
    ) -> Option<Option<Bounds<f64>>> {
        let (lower, upper) = match field(obj, name) {
            Some(Value::Object(range)) => (
                range
                    .get("lower")
                    .or_else(|| range.get("lower_bound"))
                    .cloned(),
                range
                    .get("upper")
                    .or_else(|| range.get("upper_bound"))
                    .cloned(),
            ),
            Some(single) => (Some(single.clone()), Some(single.clone())),
            None => (
                field(obj, &format!("{name}_lower")).cloned(),
                field(obj, &format!("{name}_upper")).cloned(),
            ),
        };
        let mut bad = false;
        let mut get = |v: Option<Value>| match v.filter(|v| !v.is_null()) {
            None => None,
            Some(v) => read(&v).unwrap_or_else(|()| {
                bad = true;
                None
            }),
        };
        let (lower, upper) = (get(lower), get(upper));
        if bad {
            self.push(format!(
                "{name} must be a non-negative number or a lower/upper range"
            ));
            return None;
        }
        match (lower, upper) {
            (None, None) => Some(None),
            (Some(l), Some(u)) if u < l => {
                self.push(format!("{name}: the upper bound is below the lower bound"));
                None
            }
            (Some(lower), upper) => Some(Some(Bounds { lower, upper })),
            (None, Some(u)) => Some(Some(Bounds {
                lower: 0.0,
                upper: Some(u),
            })),
        }
    }

    fn hashtags(&mut self, obj: &Map<String, Value>, text: Option<&str>) -> Vec<String> {
        let mut tags = Hashtags::default();
        match field(obj, "hashtags") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => tags.add(s),
                        // Scraper exports give objects such as {"name": "ledlights"}.
                        Value::Object(o) => {
                            if let Some(Value::String(s)) = o.get("name").or_else(|| o.get("title"))
                            {
                                tags.add(s);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some(Value::String(s)) => s.split([',', ' ', ';']).for_each(|t| tags.add(t)),
            Some(_) => self.push("hashtags must be a list of strings or one string"),
        }
        if let Some(text) = text {
            tags.add_words(text);
        }
        tags.into_vec()
    }
}

/// Hashtags as observations keep them: lower-case, without `#`, each cut at
/// its first character that is not a letter, digit or `_`, each once, at most
/// [`MAX_HASHTAGS`], first seen first.
#[derive(Default)]
pub(crate) struct Hashtags {
    tags: Vec<String>,
    /// The tag being read: one buffer for all, copied only when kept.
    tag: String,
    /// A Bloom filter of the tags kept: a new tag (most are) usually finds
    /// its bit clear, and is then known new without comparing it with each.
    seen: u128,
}

impl Hashtags {
    pub(crate) fn with_capacity(tags: usize) -> Self {
        Hashtags {
            tags: Vec::with_capacity(tags),
            ..Hashtags::default()
        }
    }

    pub(crate) fn add(&mut self, raw: &str) {
        let raw = raw.trim().trim_start_matches('#');
        // Most tags are ASCII: their letters are lower-cased in one go.
        let ascii = raw
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or(raw.len());
        self.tag.clear();
        self.tag.push_str(&raw[..ascii]);
        self.tag.make_ascii_lowercase();
        for c in raw[ascii..].chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                self.tag.push(c.to_ascii_lowercase());
            } else if !c.is_ascii() && crate::engine::chars::is_alphanumeric(c) {
                self.tag.extend(c.to_lowercase());
            } else {
                break;
            }
        }
        if self.tag.is_empty() || self.tags.len() >= MAX_HASHTAGS {
            return;
        }
        let bit = 1u128 << (fnv1a(self.tag.as_bytes()) % 128);
        if self.seen & bit != 0 && self.tags.contains(&self.tag) {
            return;
        }
        self.seen |= bit;
        self.tags.push(self.tag.clone());
    }

    /// Every word of `text` (split at whitespace) that starts with `#`.
    pub(crate) fn add_words(&mut self, text: &str) {
        for at in memchr::memchr_iter(b'#', text.as_bytes()) {
            // A word starts the text or follows whitespace.
            if text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
            {
                continue;
            }
            let rest = &text[at + 1..];
            let word = rest
                .find(char::is_whitespace)
                .map_or(rest, |end| &rest[..end]);
            self.add(word);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.tags
    }
}

/// `s` trimmed, without NUL characters: a scraped caption may carry one, it
/// shows nothing, and PostgreSQL cannot store it in text.
fn without_nul(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "").trim().to_owned()
    } else {
        s.trim().to_owned()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_760_000_000_000;

    #[test]
    fn a_full_observation_is_read_exactly() {
        let o = parse_observation(
            &json!({
                "platform": "TikTok", "kind": "video", "platform_id": 7_412_345_678_901_234_567_u64,
                "url": "https://www.tiktok.com/@a/video/7412345678901234567", "author": "a",
                "text": "Glow up your room #LEDLights #roomdecor", "hashtags": ["#ledlights", "tiktokmademebuyit"],
                "country": "us", "language": "en_US",
                "published_at": "2025-09-01T10:00:00Z", "observed_at": 1_756_800_000,
                "views": "1,200", "likes": 300, "comments": -1, "shares": 12.0,
            }),
            NOW,
        )
        .unwrap();
        assert_eq!(o.platform, "tiktok");
        assert_eq!(
            o.platform_id, "7412345678901234567",
            "ids beyond 2^53 stay exact"
        );
        assert_eq!(o.hashtags, ["ledlights", "tiktokmademebuyit", "roomdecor"]);
        assert_eq!(o.country.as_deref(), Some("US"));
        assert_eq!(o.language.as_deref(), Some("en-us"));
        assert_eq!(o.observed_at, 1_756_800_000_000);
        assert_eq!(
            (o.views, o.likes, o.comments, o.shares),
            (Some(1200), Some(300), None, Some(12))
        );
    }

    #[test]
    fn hashtags_in_any_script_are_lower_cased_cut_at_punctuation_and_kept_once() {
        let o = parse_observation(
            &json!({
                "platform": "instagram", "kind": "post", "platform_id": "1", "observed_at": "2025-09-01",
                "text": "Новинка! #КОШКА #ÉTÉ2025 #猫カフェ #kosmetik_DE, #été2025 #—",
                "hashtags": ["#Кошка", "Été2025!", "  #Snake_Plant "],
            }),
            NOW,
        )
        .unwrap();
        assert_eq!(
            o.hashtags,
            ["кошка", "été2025", "snake_plant", "猫カフェ", "kosmetik_de"]
        );
    }

    #[test]
    fn ad_library_ranges_with_string_bounds_and_an_open_top() {
        let o = parse_observation(
            &json!({
                "platform": "facebook", "kind": "ad", "platform_id": "123", "observed_at": "2025-09-01",
                "impressions": {"lower_bound": "1000000"}, "spend": {"lower_bound": "100", "upper_bound": "199"},
            }),
            NOW,
        )
        .unwrap();
        assert_eq!(
            o.impressions,
            Some(Bounds {
                lower: 1_000_000,
                upper: None
            })
        );
        assert_eq!(
            o.spend,
            Some(Bounds {
                lower: 100.0,
                upper: Some(199.0)
            })
        );
    }

    #[test]
    fn a_bad_line_never_drops_the_good_ones() {
        let body = "{\"platform\":\"x\",\"kind\":\"post\",\"platform_id\":\"1\",\"observed_at\":1}\n\nnot json\n{\"platform\":\"x\"}\n";
        let batch = parse_json_batch(body, NOW).unwrap();
        assert_eq!(batch.observations.len(), 1);
        let lines: Vec<usize> = batch.rejected.iter().map(|r| r.0).collect();
        assert_eq!(lines, [3, 4]);
        let array = parse_json_batch("[{\"platform\":\"x\"}, {\"platform\":\"x\",\"kind\":\"post\",\"platform_id\":2,\"observed_at\":1}]", NOW).unwrap();
        assert_eq!((array.observations.len(), array.rejected[0].0), (1, 1));
        assert!(parse_json_batch("[{\"platform\":", NOW).is_err());
    }

    #[test]
    fn csv_rows_are_observations_too() {
        let csv = "platform,kind,platform_id,observed_at,views,hashtags,impressions_lower,impressions_upper\n\
                   youtube,video,abc,2025-09-01T00:00:00Z,10,\"diy, home\",,\n\
                   youtube,video,,2025-09-01,1,,,\n";
        let batch = parse_csv_batch(csv.as_bytes(), NOW).unwrap();
        assert_eq!(batch.observations.len(), 1);
        assert_eq!(batch.observations[0].hashtags, ["diy", "home"]);
        assert_eq!(batch.rejected[0].0, 3);
    }

    #[test]
    fn pieces_hold_every_observation_and_rejected_line_of_the_whole_batch() {
        let good = |id: usize| {
            format!(
                "{{\"platform\":\"x\",\"kind\":\"post\",\"platform_id\":\"{id}\",\"observed_at\":1}}"
            )
        };
        let lines: Vec<String> = (0..23)
            .map(|i| {
                if i % 5 == 3 {
                    "not json".to_owned()
                } else {
                    good(i)
                }
            })
            .collect();
        let ndjson = lines.join("\n");
        let array = format!(
            "[{}]",
            (0..23)
                .map(|i| if i % 5 == 3 { "{}".to_owned() } else { good(i) })
                .collect::<Vec<_>>()
                .join(",")
        );
        let csv = std::iter::once("platform,kind,platform_id,observed_at".to_owned())
            .chain((0..23).map(|i| {
                let id = if i % 5 == 3 {
                    String::new()
                } else {
                    i.to_string()
                };
                format!("x,post,{id},1")
            }))
            .collect::<Vec<_>>()
            .join("\n");
        let summary = |b: &Batch| {
            let ids: Vec<String> = b
                .observations
                .iter()
                .map(|o| o.platform_id.clone())
                .collect();
            let lines: Vec<usize> = b.rejected.iter().map(|r| r.0).collect();
            (ids, lines)
        };
        type Pieces = fn(&str, usize, &mut dyn FnMut(Batch) -> bool) -> Result<(), String>;
        let cases: [(&str, Batch, Pieces); 3] = [
            (
                &ndjson,
                parse_json_batch(&ndjson, NOW).unwrap(),
                |s, n, f| parse_json_pieces(s, NOW, n, f),
            ),
            (&array, parse_json_batch(&array, NOW).unwrap(), |s, n, f| {
                parse_json_pieces(s, NOW, n, f)
            }),
            (
                &csv,
                parse_csv_batch(csv.as_bytes(), NOW).unwrap(),
                |s, n, f| parse_csv_pieces(s.as_bytes(), NOW, n, f),
            ),
        ];
        for (body, whole, pieces) in cases {
            assert_eq!(whole.observations.len(), 19);
            assert_eq!(whole.rejected.len(), 4);
            let mut joined = Batch::default();
            let mut sizes = Vec::new();
            pieces(body, 4, &mut |piece| {
                sizes.push(piece.observations.len());
                joined.observations.extend(piece.observations);
                joined.rejected.extend(piece.rejected);
                true
            })
            .unwrap();
            assert_eq!(summary(&joined), summary(&whole));
            assert_eq!(sizes, [4, 4, 4, 4, 3]);

            let mut handed = 0;
            pieces(body, 4, &mut |_| {
                handed += 1;
                handed < 2
            })
            .unwrap();
            assert_eq!(handed, 2, "reading stops when told to");
        }
    }

    #[test]
    fn every_problem_is_named() {
        let err = parse_observation(
            &json!({"platform": "myspace", "kind": "tweet", "observed_at": "yesterday", "views": -5, "country": "XX"}),
            NOW,
        )
        .unwrap_err();
        for part in [
            "platform \"myspace\"",
            "kind \"tweet\"",
            "platform_id is required",
            "observed_at is not a time",
            "views must",
            "country \"XX\"",
        ] {
            assert!(err.contains(part), "{part} missing from: {err}");
        }
        assert!(parse_observation(&json!([1]), NOW).is_err());
        let future = parse_observation(
            &json!({"platform": "x", "kind": "post", "platform_id": "1", "observed_at": NOW / 1000 + 3 * 86_400}),
            NOW,
        );
        assert!(future.unwrap_err().contains("future"));
        let float_id = parse_observation(
            &json!({"platform": "x", "kind": "post", "platform_id": 1.5, "observed_at": 1}),
            NOW,
        );
        assert!(float_id.unwrap_err().contains("platform_id"));
    }
}
