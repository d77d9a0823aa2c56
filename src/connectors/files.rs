//! Files: exports users already have, read from folders on the server's disk.
//!
//! Four formats, told apart by their content (the first line, its columns or
//! keys), not by their names:
//! - Apify TikTok scraper datasets (`clockworks/tiktok-scraper`), JSON Lines
//!   or a JSON array, full items or the console's flattened "overview" view;
//! - Apify Instagram (hashtag) scraper datasets, the same two ways;
//! - the Kaggle "Trending YouTube Video Statistics" CSVs (`USvideos.csv` and
//!   its siblings: the country is the file name's prefix);
//! - MarketScout's own observations, as NDJSON, a JSON array or CSV.
//!
//! Reading streams: one line, array item or CSV record at a time, so memory
//! stays flat whatever the file's size. A position (byte offset, line, record)
//! says where reading stopped, so a scan reads a bounded page of records and
//! the next page resumes there. The time of each observation comes from the
//! export itself (Kaggle's trending date; for Apify, the export time in the
//! file name, else the file's modification time), never from the clock, so
//! reading the same folder again gives duplicates, not new snapshots.
//!
//! [`detect_format`] and [`read_export`] are the public streaming API that
//! `marketscout import` uses as well.

mod array;
mod blocks;
mod items;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use blocks::Blocks;

use super::http::HttpPolicy;
use super::{
    Connector, ConnectorError, ConnectorResult, Page, PageFuture, ScanRequest, Secrets,
    SourceConfig, SourceKind,
};
use crate::engine::chars::is_alphanumeric;
use crate::engine::geo::region_of;
use crate::engine::observation::{Observation, parse_observation};

const KIND: SourceKind = SourceKind::File;

/// Records (observations and skipped lines) per page of a scan.
pub const PAGE_RECORDS: usize = 1_000;
/// The longest first line read to recognise a format.
const MAX_FIRST_LINE: u64 = 4 << 20;
const MAX_TEXT_CHARS: usize = 10_000;

pub const NOT_COVERED: &[&str] = &[
    "Anything after an export was made: its numbers are those of the moment the file was \
     exported or the list was collected",
    "Instagram likes their owners hide (exports say -1): unknown, not zero",
    "Exact large TikTok counts: Apify exports them rounded as TikTok shows them (30.6M)",
    "Where TikTok overview exports and Instagram posts come from: these files do not say",
    "YouTube trending lists: the country is the list's (from the file name), not the viewers'",
    "YouTube likes or comments turned off: unknown, not zero; dislikes are not kept",
];

pub fn build(
    _config: &SourceConfig,
    _secrets: &Secrets,
    _policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    Ok(Box::new(Files))
}

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON object per line.
    JsonLines,
    /// One JSON array of objects.
    JsonArray,
    /// A header row, then one record per row.
    Csv,
}

/// What the records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    ApifyTiktok,
    ApifyInstagram,
    /// Kaggle "Trending YouTube Video Statistics" (the 16-column version).
    YoutubeTrending,
    /// MarketScout's own observation format.
    Observations,
}

/// A file's format, as [`detect_format`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFormat {
    pub content: Content,
    pub layout: Layout,
    /// The country the file is about, when its name says (`USvideos.csv`).
    pub country: Option<String>,
    /// When the export was made (Apify: from the file name, else the file's
    /// modification time), Unix milliseconds: the observations' time when the
    /// records carry none.
    pub exported_at_ms: Option<i64>,
}

/// One record of an export: an observation, or why a line could not be used
/// (`line` is 1-based; for CSV, the line where the record starts).
// Records are handed over one at a time and moved into a batch: boxing the
// large variant would cost an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Observation(Observation),
    Skipped { line: u64, reason: String },
}

/// Where reading stopped: the byte offset of the next record, the lines
/// before it, and the records read before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub byte: u64,
    pub line: u64,
    pub record: u64,
}

/// Recognises a file's format from its first line (its columns or keys);
/// `InvalidData` says why a file is not one MarketScout reads.
pub fn detect_format(path: &Path) -> io::Result<ExportFormat> {
    let file = File::open(path)?;
    let modified = file.metadata()?.modified().ok();
    let mut first = Vec::new();
    BufReader::new(file)
        .take(MAX_FIRST_LINE)
        .read_until(b'\n', &mut first)?;
    let first = String::from_utf8_lossy(&first);
    let first = first.trim_start_matches('\u{feff}').trim();
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (content, layout) = match first.as_bytes().first() {
        None => {
            // Nothing to read: any layout reads no record from it.
            return Ok(ExportFormat {
                content: Content::Observations,
                layout: Layout::JsonLines,
                country: None,
                exported_at_ms: None,
            });
        }
        Some(b'[') => {
            let item = first_array_item(path)?;
            let content = match item {
                None => Content::Observations,
                Some(Value::Object(o)) => classify_keys(o.keys().map(String::as_str))
                    .ok_or_else(|| invalid(unknown_keys(o.keys().map(String::as_str))))?,
                Some(_) => return Err(invalid("a JSON array, but not of objects".into())),
            };
            (content, Layout::JsonArray)
        }
        Some(b'{') => {
            let object: Map<String, Value> = serde_json::from_str(first).map_err(|_| {
                invalid(
                    "JSON, but not one object per line (a single JSON document is read only \
                     when it is an array)"
                        .into(),
                )
            })?;
            let content = classify_keys(object.keys().map(String::as_str))
                .ok_or_else(|| invalid(unknown_keys(object.keys().map(String::as_str))))?;
            (content, Layout::JsonLines)
        }
        Some(_) => {
            let columns: Vec<&str> = first
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            let has = |c: &str| columns.contains(&c);
            let content = if has("video_id") && has("trending_date") {
                Content::YoutubeTrending
            } else if has("video_id") && has("date") {
                return Err(invalid(
                    "the first (2017) layout of the YouTube trending dataset, whose dates have \
                     no year; use the current version of the dataset"
                        .into(),
                ));
            } else {
                classify_keys(columns.iter().copied())
                    .ok_or_else(|| invalid(unknown_columns(columns.len())))?
            };
            (content, Layout::Csv)
        }
    };
    let country = match content {
        Content::YoutubeTrending => country_from_name(&name),
        _ => None,
    };
    let exported_at_ms = match content {
        Content::ApifyTiktok | Content::ApifyInstagram => time_from_name(&name).or_else(|| {
            modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
        }),
        _ => None,
    };
    Ok(ExportFormat {
        content,
        layout,
        country,
        exported_at_ms,
    })
}

const READABLE: &str = "Apify TikTok or Instagram, YouTube trending CSV, or observations";

/// JSON keys are names, safe to show back...
fn unknown_keys<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let shown: Vec<&str> = keys.take(8).collect();
    format!(
        "not an export MarketScout reads ({READABLE}); it starts with the fields {}",
        shown.join(", ")
    )
}

/// ...but the first line of a file that is not one may be anything (a data
/// row, a line of a key file): scan errors are shown to every user, so it
/// is described, never quoted.
fn unknown_columns(count: usize) -> String {
    let fields = if count == 1 { "field" } else { "fields" };
    format!(
        "not an export MarketScout reads ({READABLE}); its first line, read as a CSV header, \
         has {count} {fields} and names none of their columns"
    )
}

/// Which content a set of keys or columns (flattened with `.` or `/`) is.
fn classify_keys<'a>(keys: impl Iterator<Item = &'a str>) -> Option<Content> {
    let (mut platform, mut platform_id, mut tiktok, mut instagram, mut kaggle) =
        (false, false, false, false, false);
    for key in keys {
        let head = key.split(['.', '/']).next().unwrap_or(key);
        match head {
            "platform" => platform = true,
            "platform_id" => platform_id = true,
            "webVideoUrl" | "playCount" | "diggCount" | "authorMeta" | "createTimeISO" => {
                tiktok = true
            }
            "shortCode" | "ownerUsername" | "likesCount" | "videoPlayCount" => instagram = true,
            "trending_date" => kaggle = true,
            _ => {}
        }
    }
    if platform && platform_id {
        Some(Content::Observations)
    } else if kaggle {
        Some(Content::YoutubeTrending)
    } else if tiktok {
        Some(Content::ApifyTiktok)
    } else if instagram {
        Some(Content::ApifyInstagram)
    } else {
        None
    }
}

/// `US` from `USvideos.csv`: the Kaggle files are named by country.
fn country_from_name(name: &str) -> Option<String> {
    let prefix = name.get(..2)?;
    let rest = name.get(2..)?.to_ascii_lowercase();
    (rest.starts_with("videos") && prefix.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| prefix.to_ascii_uppercase())
        .filter(|c| region_of(c).is_some())
}

/// The export time in an Apify console file name
/// (`dataset_<actor>_2025-09-21_13-33-25-969.jsonl`). Apify names files in
/// UTC as far as the fixtures show (their newest posts precede it); uncertain.
fn time_from_name(name: &str) -> Option<i64> {
    const SHAPE: &[u8] = b"dddd-dd-dd_dd-dd-dd-ddd";
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(SHAPE.len() - 1))
        .rev()
        .find_map(|i| {
            let piece = &bytes[i..i + SHAPE.len()];
            let fits = piece.iter().zip(SHAPE).all(|(b, s)| match s {
                b'd' => b.is_ascii_digit(),
                other => b == other,
            });
            if !fits {
                return None;
            }
            let text = std::str::from_utf8(piece).ok()?;
            let at =
                chrono::NaiveDateTime::parse_from_str(&text[..19], "%Y-%m-%d_%H-%M-%S").ok()?;
            let millis: i64 = text[20..].parse().ok()?;
            Some(at.and_utc().timestamp_millis() + millis)
        })
}

fn first_array_item(path: &Path) -> io::Result<Option<Value>> {
    let mut blocks = Blocks::open(path, 0, 0, blocks::SMALL_BLOCK)?;
    let mut item = None;
    read_array(&mut blocks, true, 1, &|_| None, |_, found| {
        if let ArrayItem::Parsed(value) = found {
            item = value.ok();
        }
        false
    })?;
    Ok(item)
}

/// Reads a whole export, handing each record to `each`, which answers whether
/// to go on. `now_ms` only bounds times that claim to be in the future.
pub fn read_export(
    path: &Path,
    format: &ExportFormat,
    now_ms: i64,
    mut each: impl FnMut(Record) -> bool,
) -> io::Result<()> {
    read_from(
        path,
        format,
        now_ms,
        Position::default(),
        usize::MAX,
        &mut each,
    )
    .map(|_| ())
}

/// Reads at most `limit` records from `from`; answers where the next record
/// starts, or `None` at the end of the file.
pub fn read_from(
    path: &Path,
    format: &ExportFormat,
    now_ms: i64,
    from: Position,
    limit: usize,
    mut each: impl FnMut(Record) -> bool,
) -> io::Result<Option<Position>> {
    let mapper = Mapper { format, now_ms };
    match format.layout {
        Layout::JsonLines => read_lines(path, from, limit, &mapper, &mut each),
        Layout::JsonArray => {
            let mut blocks = Blocks::open(path, from.byte, from.line, blocks::BLOCK)?;
            let start = from.byte == 0;
            let mut record = from.record;
            let fast = |bytes: &[u8]| mapper.fast_observation(bytes).ok();
            let stopped = read_array(&mut blocks, start, limit, &fast, |line, item| {
                record += 1;
                each(match item {
                    ArrayItem::Observation(o) => Record::Observation(o),
                    ArrayItem::Parsed(Ok(v)) => mapper.record(line, &v),
                    ArrayItem::Parsed(Err(reason)) => Record::Skipped { line, reason },
                })
            })?;
            Ok(stopped.then_some(Position {
                byte: blocks.byte,
                line: blocks.line,
                record,
            }))
        }
        Layout::Csv => read_csv(path, from, limit, &mapper, &mut each),
    }
}

fn read_lines(
    path: &Path,
    from: Position,
    limit: usize,
    mapper: &Mapper<'_>,
    each: &mut dyn FnMut(Record) -> bool,
) -> io::Result<Option<Position>> {
    let mut blocks = Blocks::open(path, from.byte, from.line, blocks::BLOCK)?;
    let mut record = from.record;
    let mut count = 0;
    loop {
        if count >= limit {
            return Ok(Some(blocks.position(record)));
        }
        let line = blocks.line + 1;
        let Some(raw) = blocks.next_line()? else {
            return Ok(None);
        };
        let length = raw.len();
        let bytes = if line == 1 {
            raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
        } else {
            raw
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            blocks.consume_line(length);
            continue;
        }
        let read = mapper.line_record(line, bytes);
        blocks.consume_line(length);
        record += 1;
        count += 1;
        if !each(read) {
            return Ok(Some(blocks.position(record)));
        }
    }
}

/// An item of a JSON array, as [`read_array`] hands it over.
#[allow(clippy::large_enum_variant)]
enum ArrayItem {
    /// An object read straight into an observation.
    Observation(Observation),
    /// Any other item, parsed as serde_json reads it from the file, or why it
    /// could not be.
    Parsed(Result<Value, String>),
}

/// Reads array items until the end, or `limit` items, or `each` answers
/// false; answers whether it stopped before the end. `start`: the reader is
/// at the beginning of the file (before `[`), else just after an item.
/// `fast` reads an object item (its bytes) into an observation when it can.
fn read_array(
    blocks: &mut Blocks,
    start: bool,
    limit: usize,
    fast: &dyn Fn(&[u8]) -> Option<Observation>,
    mut each: impl FnMut(u64, ArrayItem) -> bool,
) -> io::Result<bool> {
    if start {
        // A byte-order mark, blanks, then the opening bracket.
        blocks.skip_while(|b| b.is_ascii_whitespace() || b >= 0x80)?;
        if blocks.peek()? != Some(b'[') {
            each(
                blocks.line + 1,
                ArrayItem::Parsed(Err("not a JSON array".into())),
            );
            return Ok(false);
        }
        blocks.consume(1);
    }
    let mut count = 0;
    loop {
        blocks.skip_while(|b| b.is_ascii_whitespace() || b == b',')?;
        match blocks.peek()? {
            None => {
                each(
                    blocks.line + 1,
                    ArrayItem::Parsed(Err(
                        "the JSON array ends before its closing bracket (truncated?)".into(),
                    )),
                );
                return Ok(false);
            }
            Some(b']') => return Ok(false),
            Some(_) => {}
        }
        if count >= limit {
            return Ok(true);
        }
        count += 1;
        let line = blocks.line + 1;
        // The whole item in the buffer, or all that is left of the file.
        let length = loop {
            if let Some(n) = array::value_len(blocks.unread()) {
                break Some(n);
            }
            if !blocks.more()? {
                break None;
            }
        };
        if let Some(n) = length.filter(|_| blocks.unread()[0] == b'{')
            && let Some(o) = fast(&blocks.unread()[..n])
        {
            blocks.consume(n);
            if !each(line, ArrayItem::Observation(o)) {
                return Ok(true);
            }
            continue;
        }
        let mut reader = Taken::new(blocks.unread());
        let parsed = Value::deserialize(&mut serde_json::Deserializer::from_reader(&mut reader));
        blocks.consume(reader.taken);
        match parsed {
            Ok(value) => {
                if !each(line, ArrayItem::Parsed(Ok(value))) {
                    return Ok(true);
                }
            }
            Err(e) => {
                // Inside a broken item there is no telling where the next one
                // starts: the rest of the file cannot be read.
                each(
                    line,
                    ArrayItem::Parsed(Err(format!(
                        "not JSON ({e}); the rest of the array cannot be read"
                    ))),
                );
                return Ok(false);
            }
        }
    }
}

/// Bytes handed to serde_json as a reader, counting what it takes: it takes
/// them one at a time and looks one byte past a number, as it does reading a
/// file, so an item other than an object reads (and fails) as it always has.
struct Taken<'a> {
    bytes: &'a [u8],
    taken: usize,
}

impl<'a> Taken<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Taken { bytes, taken: 0 }
    }
}

impl Read for Taken<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = (&self.bytes[self.taken..]).read(out)?;
        self.taken += n;
        Ok(n)
    }
}

fn read_csv(
    path: &Path,
    from: Position,
    limit: usize,
    mapper: &Mapper<'_>,
    each: &mut dyn FnMut(Record) -> bool,
) -> io::Result<Option<Position>> {
    let file = File::open(path)?;
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let headers: Vec<String> = csv
        .byte_headers()
        .map_err(io::Error::other)?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = String::from_utf8_lossy(h);
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_owned()
        })
        .collect();
    if from.byte > 0 {
        let mut at = csv::Position::new();
        at.set_byte(from.byte)
            .set_line(from.line)
            .set_record(from.record);
        csv.seek(at).map_err(io::Error::other)?;
    }
    // With CRLF endings the csv reader places each record at the `\n` left of
    // the previous line, one line early: such files count one more.
    let header_end = csv.position().byte();
    let crlf = u64::from(byte_at(path, header_end)? == Some(b'\n'));
    let columns = Columns::new(&headers);
    let mut row = csv::ByteRecord::new();
    let mut count = 0;
    loop {
        let here = csv.position().clone();
        if count >= limit {
            return Ok(Some(Position {
                byte: here.byte(),
                line: here.line(),
                record: here.record(),
            }));
        }
        let line = here.line() + crlf;
        match csv.read_byte_record(&mut row) {
            Ok(false) => return Ok(None),
            Ok(true) => {
                count += 1;
                let line = row.position().map_or(line, |p| p.line() + crlf);
                let record = mapper.csv_record(line, &headers, &columns, &row);
                if !each(record) {
                    let next = csv.position();
                    return Ok(Some(Position {
                        byte: next.byte(),
                        line: next.line(),
                        record: next.record(),
                    }));
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(io::Error::other(e)),
                _ => {
                    count += 1;
                    if !each(Record::Skipped {
                        line,
                        reason: format!("unreadable CSV row: {e}"),
                    }) {
                        return Ok(None);
                    }
                }
            },
        }
    }
}

fn byte_at(path: &Path, offset: u64) -> io::Result<Option<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut one = [0u8; 1];
    Ok((file.read(&mut one)? == 1).then_some(one[0]))
}

/// Where the Kaggle columns are in a header.
struct Columns {
    video_id: Option<usize>,
    trending_date: Option<usize>,
    title: Option<usize>,
    channel_title: Option<usize>,
    publish_time: Option<usize>,
    tags: Option<usize>,
    views: Option<usize>,
    likes: Option<usize>,
    comment_count: Option<usize>,
    comments_disabled: Option<usize>,
    ratings_disabled: Option<usize>,
    description: Option<usize>,
}

impl Columns {
    fn new(headers: &[String]) -> Self {
        let at = |name: &str| headers.iter().position(|h| h == name);
        Columns {
            video_id: at("video_id"),
            trending_date: at("trending_date"),
            title: at("title"),
            channel_title: at("channel_title"),
            publish_time: at("publish_time"),
            tags: at("tags"),
            views: at("views"),
            likes: at("likes"),
            comment_count: at("comment_count"),
            comments_disabled: at("comments_disabled"),
            ratings_disabled: at("ratings_disabled"),
            description: at("description"),
        }
    }
}

struct Mapper<'a> {
    format: &'a ExportFormat,
    now_ms: i64,
}

impl Mapper<'_> {
    /// A line of JSON Lines.
    fn line_record(&self, line: u64, bytes: &[u8]) -> Record {
        if let Ok(o) = self.fast_observation(bytes) {
            return Record::Observation(o);
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => self.record(line, &value),
            Err(e) => Record::Skipped {
                line,
                reason: format!("not JSON: {e}"),
            },
        }
    }

    /// A JSON item of the file's content, validated as the server validates.
    fn record(&self, line: u64, value: &Value) -> Record {
        let Value::Object(item) = value else {
            return Record::Skipped {
                line,
                reason: "not a JSON object".into(),
            };
        };
        let mapped = match self.format.content {
            Content::Observations => return self.validate(line, value.clone()),
            Content::ApifyTiktok => self.tiktok(item),
            Content::ApifyInstagram => self.instagram(item),
            Content::YoutubeTrending => Err("a YouTube trending export is a CSV file".into()),
        };
        match mapped {
            Ok(v) => self.validate(line, v),
            Err(reason) => Record::Skipped { line, reason },
        }
    }

    fn validate(&self, line: u64, value: Value) -> Record {
        match parse_observation(&value, self.now_ms) {
            Ok(o) => Record::Observation(o),
            Err(reason) => Record::Skipped { line, reason },
        }
    }

    fn csv_record(
        &self,
        line: u64,
        headers: &[String],
        columns: &Columns,
        row: &csv::ByteRecord,
    ) -> Record {
        if self.format.content == Content::YoutubeTrending {
            if let Ok(o) = self.fast_youtube(columns, headers.len(), row) {
                return Record::Observation(o);
            }
            return match self.youtube(columns, headers.len(), row) {
                Ok(v) => self.validate(line, v),
                Err(reason) => Record::Skipped { line, reason },
            };
        }
        // Observations name their fields in lower case; Apify columns keep
        // their case (`authorMeta/name`).
        let lower = self.format.content == Content::Observations;
        let item: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .filter(|(_, cell)| !cell.iter().all(u8::is_ascii_whitespace))
            .map(|(h, cell)| {
                let key = if lower {
                    h.to_ascii_lowercase()
                } else {
                    h.clone()
                };
                (
                    key,
                    Value::String(String::from_utf8_lossy(cell).into_owned()),
                )
            })
            .collect();
        self.record(line, &Value::Object(item))
    }

    fn exported_at(&self) -> Result<i64, String> {
        self.format
            .exported_at_ms
            .ok_or_else(|| "the export's time is unknown".to_owned())
    }

    fn tiktok(&self, item: &Map<String, Value>) -> Result<Value, String> {
        let url = text_at(item, "webVideoUrl");
        let id = match get(item, "id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => url
                .as_deref()
                .and_then(last_segment)
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .ok_or("no video id (neither id nor a webVideoUrl ending in one)")?
                .to_owned(),
        };
        let mut o = Map::new();
        o.insert("platform".into(), "tiktok".into());
        let ad = flag(get(item, "isAd"));
        o.insert("kind".into(), if ad { "ad" } else { "video" }.into());
        o.insert("platform_id".into(), id.into());
        o.insert("observed_at".into(), self.exported_at()?.into());
        put(&mut o, "url", url.map(Value::from));
        put(
            &mut o,
            "author",
            text_at(item, "authorMeta.name").map(Value::from),
        );
        let text = text_at(item, "text");
        put(&mut o, "hashtags", hashtags(item, text.as_deref()));
        put(&mut o, "text", text.map(|t| Value::from(clip(t))));
        let country = [
            text_at(item, "locationCreated"),
            text_at(item, "authorMeta.region"),
        ]
        .into_iter()
        .flatten()
        .map(|c| c.trim().to_ascii_uppercase())
        .find(|c| region_of(c).is_some());
        put(&mut o, "country", country.map(Value::from));
        let language = text_at(item, "textLanguage").filter(|l| l != "un");
        put(&mut o, "language", language.map(Value::from));
        let published = get(item, "createTimeISO").or_else(|| get(item, "createTime"));
        put(&mut o, "published_at", published.cloned());
        put(&mut o, "views", count(get(item, "playCount")));
        put(&mut o, "likes", count(get(item, "diggCount")));
        put(&mut o, "comments", count(get(item, "commentCount")));
        put(&mut o, "shares", count(get(item, "shareCount")));
        Ok(Value::Object(o))
    }

    fn instagram(&self, item: &Map<String, Value>) -> Result<Value, String> {
        let url = text_at(item, "url");
        let short_code = text_at(item, "shortCode")
            .or_else(|| short_code_in(url.as_deref()?).map(str::to_owned));
        let Some(id) = short_code else {
            if let Some(error) = text_at(item, "error") {
                return Err(format!(
                    "the scraper reported an error for this input: {}",
                    clip_to(error, 200)
                ));
            }
            return Err("not a post (no shortCode or post URL): a profile or another item".into());
        };
        let mut o = Map::new();
        o.insert("platform".into(), "instagram".into());
        let video = text_at(item, "type").as_deref() == Some("Video")
            || text_at(item, "productType").as_deref() == Some("clips")
            || url.as_deref().is_some_and(|u| u.contains("/reel/"));
        let kind = if flag(get(item, "isSponsored")) {
            "ad"
        } else if video {
            "video"
        } else {
            "post"
        };
        o.insert("kind".into(), kind.into());
        o.insert("platform_id".into(), id.into());
        o.insert("observed_at".into(), self.exported_at()?.into());
        put(&mut o, "url", url.map(Value::from));
        put(
            &mut o,
            "author",
            text_at(item, "ownerUsername").map(Value::from),
        );
        let caption = text_at(item, "caption");
        put(&mut o, "hashtags", hashtags(item, caption.as_deref()));
        put(&mut o, "text", caption.map(|t| Value::from(clip(t))));
        put(&mut o, "published_at", get(item, "timestamp").cloned());
        let views =
            count(get(item, "videoPlayCount")).or_else(|| count(get(item, "videoViewCount")));
        put(&mut o, "views", views);
        put(&mut o, "likes", count(get(item, "likesCount")));
        put(&mut o, "comments", count(get(item, "commentsCount")));
        Ok(Value::Object(o))
    }

    fn youtube(&self, c: &Columns, width: usize, row: &csv::ByteRecord) -> Result<Value, String> {
        if row.len() != width {
            return Err(format!(
                "{} fields where the header has {width} (a broken quote?)",
                row.len()
            ));
        }
        let cell = |i: Option<usize>| -> Option<String> {
            let raw = row.get(i?)?;
            let s = String::from_utf8_lossy(raw);
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        let id = cell(c.video_id).ok_or("video_id is empty")?;
        let trending = cell(c.trending_date).ok_or("trending_date is empty")?;
        let observed = trending_day(&trending)
            .ok_or_else(|| format!("trending_date {trending:?} is not yy.dd.mm"))?;
        let truthy = |i| cell(i).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut o = Map::new();
        o.insert("platform".into(), "youtube".into());
        o.insert("kind".into(), "video".into());
        o.insert(
            "url".into(),
            format!("https://www.youtube.com/watch?v={id}").into(),
        );
        o.insert("platform_id".into(), id.into());
        o.insert("observed_at".into(), observed.into());
        put(&mut o, "author", cell(c.channel_title).map(Value::from));
        let title = cell(c.title).unwrap_or_default();
        // Descriptions hold newlines as the two characters `\n`.
        let description = cell(c.description)
            .map(|d| d.replace("\\n", "\n"))
            .unwrap_or_default();
        let text = match (title.is_empty(), description.is_empty()) {
            (_, true) => title,
            (true, false) => description,
            (false, false) => format!("{title}\n{description}"),
        };
        if !text.is_empty() {
            o.insert("text".into(), clip(text).into());
        }
        put(
            &mut o,
            "hashtags",
            cell(c.tags).and_then(|t| youtube_tags(&t)),
        );
        put(
            &mut o,
            "country",
            self.format.country.clone().map(Value::from),
        );
        put(
            &mut o,
            "published_at",
            cell(c.publish_time).map(Value::from),
        );
        let number = |i| cell(i).map(Value::from);
        put(&mut o, "views", count(number(c.views).as_ref()));
        // Turned off, the file says 0: that is unknown, not zero.
        if !truthy(c.ratings_disabled) {
            put(&mut o, "likes", count(number(c.likes).as_ref()));
        }
        if !truthy(c.comments_disabled) {
            put(&mut o, "comments", count(number(c.comment_count).as_ref()));
        }
        Ok(Value::Object(o))
    }
}

/// The post's short code in an Instagram post URL (`/p/<code>/`).
fn short_code_in(url: &str) -> Option<&str> {
    let (_, rest) = ["/p/", "/reel/", "/reels/", "/tv/"]
        .iter()
        .find_map(|m| url.split_once(m))?;
    rest.split(['/', '?']).next().filter(|s| !s.is_empty())
}

/// `17.14.11` (yy.dd.mm) as midnight UTC of 2017-11-14, in milliseconds.
fn trending_day(s: &str) -> Option<i64> {
    let mut parts = s.split('.');
    let (yy, dd, mm) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || yy.len() != 2 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        2000 + yy.parse::<i32>().ok()?,
        mm.parse().ok()?,
        dd.parse().ok()?,
    )?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Kaggle tags: `"a"|"b c"|"d"` (the csv reader keeps the quotes after the
/// first `|`); `[none]` is no tag. Keyword tags may hold spaces: MarketScout
/// matches hashtags against terms without spaces, so the spaces go.
fn youtube_tags(raw: &str) -> Option<Value> {
    let tags: Vec<Value> = kaggle_tags(raw).map(Value::from).collect();
    (!tags.is_empty()).then_some(Value::Array(tags))
}

/// The tags of a Kaggle `tags` cell, each keeping only its letters, digits and `_`.
fn kaggle_tags(raw: &str) -> impl Iterator<Item = String> {
    raw.split('|')
        .filter(move |_| raw != "[none]")
        .map(|t| {
            t.chars()
                .filter(|c| is_alphanumeric(*c) || *c == '_')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
}

/// A field by a dotted path, in a nested item (`authorMeta: {name}`) or a
/// flattened one (`"authorMeta.name"`, or `authorMeta/name` in CSV).
fn get<'a>(item: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let found = item.get(path).or_else(|| {
        if !path.contains('.') {
            return None;
        }
        item.get(&path.replace('.', "/")).or_else(|| {
            let mut parts = path.split('.');
            let mut at = item.get(parts.next()?)?;
            for part in parts {
                at = at.get(part)?;
            }
            Some(at)
        })
    });
    found.filter(|v| !v.is_null())
}

fn text_at(item: &Map<String, Value>, path: &str) -> Option<String> {
    match get(item, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn put(o: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(v) = value {
        o.insert(name.into(), v);
    }
}

/// The hashtags of an Apify item: a list of names or of `{name}` objects, or
/// CSV columns `hashtags/0/name`, `hashtags/1/name`...; without any (TikTok
/// overview exports), every `#tag` of the text. Captions glue tags to emoji
/// (`💅🏼✨#fyp`), which a reading word by word misses, so any `#` starts a
/// tag here.
fn hashtags(item: &Map<String, Value>, text: Option<&str>) -> Option<Value> {
    let mut tags = match get(item, "hashtags") {
        Some(Value::Array(list)) => list.clone(),
        _ => flat_hashtags(item),
    };
    if let Some(text) = text.filter(|_| tags.is_empty()) {
        tags.extend(hashtags_in_text(text).map(Value::from));
    }
    (!tags.is_empty()).then_some(Value::Array(tags))
}

/// What follows each `#` of a text up to the first character that is not a
/// letter, digit or `_`, when that is something.
fn hashtags_in_text(text: &str) -> impl Iterator<Item = &str> {
    memchr::memchr_iter(b'#', text.as_bytes()).filter_map(move |at| {
        let rest = &text[at + 1..];
        let end = rest
            .find(|c: char| !(is_alphanumeric(c) || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

fn flat_hashtags(item: &Map<String, Value>) -> Vec<Value> {
    item.iter()
        .filter(|(k, _)| is_flat_hashtag(k))
        .map(|(_, v)| v.clone())
        .collect()
}

/// A hashtag flattened into a key of its own: `hashtags.0`, `hashtags/1/name`.
fn is_flat_hashtag(key: &str) -> bool {
    let mut parts = key.split(['.', '/']);
    parts.next() == Some("hashtags")
        && parts.next().is_some_and(|i| i.parse::<u32>().is_ok())
        && matches!(parts.next(), None | Some("name"))
}

/// A count as the observation format reads it. `-1` (hidden) is no value at
/// all; display strings such as `1.2M` or `30.6K` are read as the number they
/// round (exports round large counts anyway). Anything else is passed on for
/// validation to name.
fn count(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    match v {
        Value::Number(n) if n.as_i64() == Some(-1) => None,
        Value::String(s) => {
            let s = s.trim().replace(',', "");
            if s == "-1" || s.is_empty() {
                return None;
            }
            let (digits, scale) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
                Some('K') => (&s[..s.len() - 1], 1e3),
                Some('M') => (&s[..s.len() - 1], 1e6),
                Some('B') => (&s[..s.len() - 1], 1e9),
                _ => (&s[..], 1.0),
            };
            match digits.parse::<f64>() {
                Ok(x) if scale > 1.0 && x >= 0.0 => Some(Value::from((x * scale).round() as i64)),
                Ok(x) if x.fract() == 0.0 && x >= 0.0 => Some(Value::from(x as i64)),
                _ => Some(Value::String(s)),
            }
        }
        other => Some(other.clone()),
    }
}

fn last_segment(url: &str) -> Option<&str> {
    url.split(['?', '#'])
        .next()?
        .trim_end_matches('/')
        .rsplit('/')
        .next()
}

fn clip(mut text: String) -> String {
    text.truncate(clip_end(&text));
    text
}

/// Where a text is cut to keep [`MAX_TEXT_CHARS`] characters.
fn clip_end(text: &str) -> usize {
    if text.len() <= MAX_TEXT_CHARS {
        return text.len();
    }
    text.char_indices()
        .nth(MAX_TEXT_CHARS)
        .map_or(text.len(), |(at, _)| at)
}

fn clip_to(text: String, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The source: its query lists folders and files.
struct Files;

/// Where a scan is: the file (in the sorted list) and the position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    file: usize,
    at: Position,
}

impl Cursor {
    fn encode(self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.file, self.at.byte, self.at.line, self.at.record
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split(':').map(|p| p.parse::<u64>().ok());
        let cursor = Cursor {
            file: usize::try_from(parts.next()??).ok()?,
            at: Position {
                byte: parts.next()??,
                line: parts.next()??,
                record: parts.next()??,
            },
        };
        parts.next().is_none().then_some(cursor)
    }
}

impl Connector for Files {
    fn kind(&self) -> SourceKind {
        KIND
    }

    fn not_covered(&self) -> &'static [&'static str] {
        NOT_COVERED
    }

    fn fetch<'a>(&'a self, request: &'a ScanRequest, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(async move {
            let query = request.query.clone();
            let now_ms = request.now_ms;
            let cursor = cursor.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                scan_page(&query, now_ms, cursor.as_deref(), PAGE_RECORDS)
            })
            .await
            .map_err(|e| ConnectorError::Unavailable {
                kind: KIND,
                detail: format!("the file reader stopped: {e}"),
            })?
        })
    }
}

/// The export files a query names, in a stable order: files named directly,
/// and the `.json`, `.jsonl`, `.ndjson` and `.csv` files of folders named
/// (not their subfolders; hidden files are left alone).
pub fn list_files(query: &[String]) -> ConnectorResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in query.iter().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        let path = PathBuf::from(entry);
        let unreadable = |e: io::Error| ConnectorError::Config {
            kind: KIND,
            detail: format!("cannot read {}: {e}", path.display()),
        };
        let meta = std::fs::metadata(&path).map_err(unreadable)?;
        if !meta.is_dir() {
            files.push(path);
            continue;
        }
        let mut found = Vec::new();
        for item in std::fs::read_dir(&path).map_err(unreadable)? {
            let item = item.map_err(unreadable)?;
            let name = item.file_name().to_string_lossy().to_ascii_lowercase();
            let wanted = !name.starts_with('.')
                && [".json", ".jsonl", ".ndjson", ".csv"]
                    .iter()
                    .any(|ext| name.ends_with(ext));
            if wanted && item.file_type().is_ok_and(|t| !t.is_dir()) {
                found.push(item.path());
            }
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// One page of a scan of the files `query` names: at most `limit` records
/// (observations and skipped lines) from `cursor` on (`None`: the start).
/// Blocking: the connector runs it on a blocking thread.
pub fn scan_page(
    query: &[String],
    now_ms: i64,
    cursor: Option<&str>,
    limit: usize,
) -> ConnectorResult<Page> {
    let limit = limit.max(1);
    let mut cursor = match cursor {
        None => Cursor {
            file: 0,
            at: Position::default(),
        },
        Some(c) => Cursor::decode(c).ok_or_else(|| ConnectorError::Config {
            kind: KIND,
            detail: format!("the scan cursor {c:?} is not a place in these files"),
        })?,
    };
    let files = list_files(query)?;
    let mut page = Page::default();
    let mut taken = 0;
    while cursor.file < files.len() {
        let path = &files[cursor.file];
        let shown = path.display();
        let format = match detect_format(path) {
            Ok(f) => Some(f),
            Err(e) => {
                // Only at the start of a file, so a resumed file is not skipped twice.
                if cursor.at == Position::default() {
                    page.skipped
                        .push(if e.kind() == io::ErrorKind::InvalidData {
                            format!("{shown}: {e}")
                        } else {
                            format!("{shown}: cannot read: {e}")
                        });
                    taken += 1;
                }
                None
            }
        };
        let stopped = match format {
            None => None,
            Some(format) => read_from(path, &format, now_ms, cursor.at, limit - taken, |r| {
                match r {
                    Record::Observation(o) => page.observations.push(o),
                    Record::Skipped { line, reason } => {
                        page.skipped.push(format!("{shown}:{line}: {reason}"))
                    }
                }
                taken += 1;
                true
            })
            .map_err(|e| ConnectorError::Unavailable {
                kind: KIND,
                detail: format!("{shown}: reading failed: {e}"),
            })?,
        };
        match stopped {
            Some(at) => {
                cursor.at = at;
                page.next = Some(cursor.encode());
                return Ok(page);
            }
            None => {
                cursor = Cursor {
                    file: cursor.file + 1,
                    at: Position::default(),
                };
                if taken >= limit && cursor.file < files.len() {
                    page.next = Some(cursor.encode());
                    return Ok(page);
                }
            }
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trending_dates_are_year_day_month() {
        assert_eq!(trending_day("17.14.11"), Some(1_510_617_600_000));
        assert_eq!(trending_day("17.11.14"), None);
        assert_eq!(trending_day("2017-11-14"), None);
    }

    #[test]
    fn apify_export_names_carry_their_time() {
        assert_eq!(
            time_from_name("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl"),
            Some(1_758_461_605_969)
        );
        assert_eq!(time_from_name("tiktok.jsonl"), None);
    }

    #[test]
    fn kaggle_file_names_carry_their_country() {
        assert_eq!(country_from_name("USvideos.csv").as_deref(), Some("US"));
        assert_eq!(country_from_name("GBvideos.csv").as_deref(), Some("GB"));
        assert_eq!(country_from_name("trending.csv"), None);
    }

    #[test]
    fn display_counts_are_read_and_hidden_ones_dropped() {
        assert_eq!(
            count(Some(&Value::from("1.2M"))),
            Some(Value::from(1_200_000))
        );
        assert_eq!(
            count(Some(&Value::from("30.6K"))),
            Some(Value::from(30_600))
        );
        assert_eq!(count(Some(&Value::from("2,812"))), Some(Value::from(2_812)));
        assert_eq!(count(Some(&Value::from(-1))), None);
        assert_eq!(count(Some(&Value::from("-1"))), None);
        assert_eq!(count(Some(&Value::from(0))), Some(Value::from(0)));
    }

    #[test]
    fn youtube_tags_lose_their_quotes_and_spaces() {
        assert_eq!(
            youtube_tags("ijustine|\"week with iPhone X\"|\"iphone x\""),
            Some(serde_json::json!([
                "ijustine",
                "weekwithiPhoneX",
                "iphonex"
            ]))
        );
        assert_eq!(youtube_tags("[none]"), None);
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            file: 2,
            at: Position {
                byte: 10,
                line: 3,
                record: 2,
            },
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("2:10"), None);
    }
}
