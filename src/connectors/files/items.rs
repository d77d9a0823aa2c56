//! Apify items read field by field, from the bytes of a line or array item
//! straight into an observation; Kaggle YouTube rows cell by cell likewise.
//!
//! The general way ([`Mapper::record`]) parses a whole item into a
//! `serde_json::Value`, maps the fields used into another `Value`, and has
//! that validated as ingest validates: every string is copied three times and
//! every field of the item is built and dropped. Here only the fields used
//! are kept, borrowed from the bytes when they hold no escape; the others are
//! only checked, as strictly as parsing them into a `Value` would (the same
//! file must read the same either way); and the observation is built with
//! the mapping's and the validation's rules in one go.
//!
//! Only items of the usual shapes that make valid observations are read
//! here. Anything else (a field twice, flattened `authorMeta/name` or
//! `hashtags/0/name` columns, an id that is a fraction, anything the
//! validation would refuse) is [`Unusual`], and the general way reads that
//! item: it alone words why a record is skipped, so every reason stays as it
//! was.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::{
    Columns, Content, Mapper, clip_end, count, hashtags_in_text, is_flat_hashtag, kaggle_tags,
    last_segment, short_code_in, trending_day,
};
use crate::engine::geo::region_of;
use crate::engine::observation::{
    FUTURE_SLACK_MS, Hashtags, Observation, count_of, time_of_number, time_of_text,
};

/// An item this module does not read: the general way does.
#[derive(Debug)]
pub(super) struct Unusual;

impl Mapper<'_> {
    /// The observation an Apify item's bytes make, or [`Unusual`].
    pub(super) fn fast_observation(&self, bytes: &[u8]) -> Result<Observation, Unusual> {
        match self.format.content {
            Content::ApifyInstagram => self.fast_instagram(&item(bytes)?)?.validated(self.now_ms),
            Content::ApifyTiktok => self.fast_tiktok(&item(bytes)?)?.validated(self.now_ms),
            Content::YoutubeTrending | Content::Observations => Err(Unusual),
        }
    }

    /// The observation a row of a Kaggle YouTube trending file makes (what
    /// [`Mapper::youtube`] maps, validated), or [`Unusual`].
    pub(super) fn fast_youtube(
        &self,
        c: &Columns,
        width: usize,
        row: &csv::ByteRecord,
    ) -> Result<Observation, Unusual> {
        if row.len() != width {
            return Err(Unusual);
        }
        let cell = |i: Option<usize>| cell(row, i);
        let id = cell(c.video_id).ok_or(Unusual)?;
        let observed_at = trending_day(&cell(c.trending_date).ok_or(Unusual)?).ok_or(Unusual)?;
        let truthy = |i| cell(i).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let url = format!("https://www.youtube.com/watch?v={id}");
        let title = cell(c.title).unwrap_or_default();
        let description = cell(c.description)
            .map(|d| literal_newlines(&d).into_owned())
            .unwrap_or_default();
        let text = match (title.is_empty(), description.is_empty()) {
            (_, true) => title.into_owned(),
            (true, false) => description,
            (false, false) => format!("{title}\n{description}"),
        };
        let author = cell(c.channel_title);
        let tags = cell(c.tags);
        let published_at = cell(c.publish_time).map(Field::Text);
        let count_of_cell = |i| mapped_count(cell(i).map(Field::Text).as_ref());
        Mapped {
            platform: "youtube",
            kind: "video",
            platform_id: id.clone(),
            observed_at,
            url: Some(&url),
            author: author.as_deref(),
            text: (!text.is_empty()).then_some(text.as_str()),
            hashtags: Listed::Kaggle(tags.as_deref()),
            country: self.format.country.clone(),
            language: None,
            published_at: published_at.as_ref(),
            views: count_of_cell(c.views)?,
            likes: match truthy(c.ratings_disabled) {
                true => None,
                false => count_of_cell(c.likes)?,
            },
            comments: match truthy(c.comments_disabled) {
                true => None,
                false => count_of_cell(c.comment_count)?,
            },
            shares: None,
        }
        .validated(self.now_ms)
    }

    /// What [`Mapper::instagram`] makes of an item.
    fn fast_instagram<'i>(&self, item: &'i Item<'_>) -> Result<Mapped<'i>, Unusual> {
        let url = item.text_at(Slot::Url);
        let platform_id = match item.text_at(Slot::ShortCode) {
            Some(code) => code,
            None => url.and_then(short_code_in).ok_or(Unusual)?,
        };
        let video = item.text_at(Slot::Type) == Some("Video")
            || item.text_at(Slot::ProductType) == Some("clips")
            || url.is_some_and(|u| u.contains("/reel/"));
        let kind = if item.flag(Slot::IsSponsored) {
            "ad"
        } else if video {
            "video"
        } else {
            "post"
        };
        let views = match mapped_count(item.get(Slot::VideoPlayCount))? {
            Some(v) => Some(v),
            None => mapped_count(item.get(Slot::VideoViewCount))?,
        };
        Ok(Mapped {
            platform: "instagram",
            kind,
            platform_id: Cow::Borrowed(platform_id),
            observed_at: self.exported_at().map_err(|_| Unusual)?,
            url,
            author: item.text_at(Slot::OwnerUsername),
            text: item.text_at(Slot::Caption),
            hashtags: Listed::Json(item.hashtags.as_ref()),
            country: None,
            language: None,
            published_at: item.get(Slot::Timestamp),
            views,
            likes: mapped_count(item.get(Slot::LikesCount))?,
            comments: mapped_count(item.get(Slot::CommentsCount))?,
            shares: None,
        })
    }

    /// What [`Mapper::tiktok`] makes of an item.
    fn fast_tiktok<'i>(&self, item: &'i Item<'_>) -> Result<Mapped<'i>, Unusual> {
        let url = item.text_at(Slot::WebVideoUrl);
        let platform_id = match item.get(Slot::Id) {
            Some(Field::Text(s)) if !s.trim().is_empty() => Cow::Borrowed(s.trim()),
            Some(Field::Number(n)) if !n.is_f64() => Cow::Owned(n.to_string()),
            Some(Field::Number(_)) => return Err(Unusual),
            _ => Cow::Borrowed(
                url.and_then(last_segment)
                    .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(Unusual)?,
            ),
        };
        let country = [
            item.text_at(Slot::LocationCreated),
            item.author_meta(Slot::AuthorMetaRegion, Nested::region),
        ]
        .into_iter()
        .flatten()
        .map(|c| c.trim().to_ascii_uppercase())
        .find(|c| region_of(c).is_some());
        let published_at = item
            .get(Slot::CreateTimeIso)
            .or_else(|| item.get(Slot::CreateTime));
        Ok(Mapped {
            platform: "tiktok",
            kind: if item.flag(Slot::IsAd) { "ad" } else { "video" },
            platform_id,
            observed_at: self.exported_at().map_err(|_| Unusual)?,
            url,
            author: item.author_meta(Slot::AuthorMetaName, Nested::name),
            text: item.text_at(Slot::Text),
            hashtags: Listed::Json(item.hashtags.as_ref()),
            country,
            language: item.text_at(Slot::TextLanguage).filter(|l| *l != "un"),
            published_at,
            views: mapped_count(item.get(Slot::PlayCount))?,
            likes: mapped_count(item.get(Slot::DiggCount))?,
            comments: mapped_count(item.get(Slot::CommentCount))?,
            shares: mapped_count(item.get(Slot::ShareCount))?,
        })
    }
}

/// Where an observation's listed hashtags come from.
enum Listed<'i> {
    /// An Apify item's `hashtags`; without a list, the text's `#tags`.
    Json(Option<&'i Tags<'i>>),
    /// A Kaggle `tags` cell.
    Kaggle(Option<&'i str>),
}

/// An item mapped to the observation fields, before validation: what the
/// general way's mapping puts in its `Value`, borrowed from the item.
struct Mapped<'i> {
    platform: &'static str,
    kind: &'static str,
    platform_id: Cow<'i, str>,
    observed_at: i64,
    url: Option<&'i str>,
    author: Option<&'i str>,
    /// Unclipped: the mapping reads hashtags from the whole text.
    text: Option<&'i str>,
    hashtags: Listed<'i>,
    country: Option<String>,
    language: Option<&'i str>,
    published_at: Option<&'i Field<'i>>,
    views: Option<Value>,
    likes: Option<Value>,
    comments: Option<Value>,
    shares: Option<Value>,
}

impl Mapped<'_> {
    /// The observation `parse_observation` makes of the mapped `Value`, when
    /// it finds no problem.
    fn validated(self, now_ms: i64) -> Result<Observation, Unusual> {
        let observed_at = valid_time(time_of_number(self.observed_at as f64), now_ms)?;
        let published_at = match self.published_at {
            None => None,
            Some(Field::Text(s)) if s.trim().is_empty() => None,
            Some(Field::Text(s)) => Some(valid_time(time_of_text(s), now_ms)?),
            Some(Field::Number(n)) => {
                Some(valid_time(n.as_f64().and_then(time_of_number), now_ms)?)
            }
            Some(_) => return Err(Unusual),
        };
        if published_at.is_some_and(|p| p > observed_at + FUTURE_SLACK_MS) {
            return Err(Unusual);
        }
        let platform_id = valid_text(&self.platform_id, 256)?.ok_or(Unusual)?;
        let url = match self.url {
            None => None,
            Some(u) => {
                let u = valid_text(u, 2048)?;
                if u.as_deref()
                    .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
                {
                    return Err(Unusual);
                }
                u
            }
        };
        let author = self
            .author
            .map(|a| valid_text(a, 256))
            .transpose()?
            .flatten();
        let text = self
            .text
            .map(|t| valid_text(&t[..clip_end(t)], MAX_TEXT))
            .transpose()?
            .flatten();
        let language = match self.language {
            None => None,
            Some(l) => match valid_text(l, 35)? {
                None => None,
                Some(l) => {
                    let tag = l.len() >= 2
                        && l.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if !tag {
                        return Err(Unusual);
                    }
                    Some(l.to_ascii_lowercase().replace('_', "-"))
                }
            },
        };
        let mut hashtags = Hashtags::with_capacity(16);
        match self.hashtags {
            Listed::Json(tags) => {
                let listed = match tags {
                    Some(Tags::List(list)) => list.as_slice(),
                    _ => &[],
                };
                for tag in listed {
                    match tag {
                        Tag::Text(s) | Tag::Named(Some(s)) => hashtags.add(s),
                        Tag::Named(None) | Tag::Other => {}
                    }
                }
                // Without a list, the mapping takes every `#tag` of the whole text.
                if listed.is_empty()
                    && let Some(whole) = self.text
                {
                    hashtags_in_text(whole).for_each(|t| hashtags.add(t));
                }
            }
            Listed::Kaggle(raw) => {
                for tag in raw.into_iter().flat_map(kaggle_tags) {
                    hashtags.add(&tag);
                }
            }
        }
        if let Some(text) = &text {
            hashtags.add_words(text);
        }
        Ok(Observation {
            platform: self.platform,
            kind: self.kind,
            platform_id,
            url,
            author,
            text,
            hashtags: hashtags.into_vec(),
            country: self.country,
            language,
            published_at,
            observed_at,
            views: valid_count(self.views)?,
            impressions: None,
            likes: valid_count(self.likes)?,
            comments: valid_count(self.comments)?,
            shares: valid_count(self.shares)?,
            spend: None,
        })
    }
}

const MAX_TEXT: usize = 10_000;

/// A CSV cell as the mapping reads it: trimmed, blank being absent, bytes
/// that are not UTF-8 replaced.
fn cell(row: &csv::ByteRecord, at: Option<usize>) -> Option<Cow<'_, str>> {
    let s = match String::from_utf8_lossy(row.get(at?)?) {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    };
    (!s.is_empty()).then_some(s)
}

/// Kaggle descriptions hold newlines as the two characters `\\n`.
fn literal_newlines(text: &str) -> Cow<'_, str> {
    match memchr::memchr(b'\\', text.as_bytes()) {
        None => Cow::Borrowed(text),
        Some(_) => Cow::Owned(text.replace("\\n", "\n")),
    }
}

/// A text field as the validation keeps it: blank is absent, longer than
/// `max` characters is a problem.
fn valid_text(s: &str, max: usize) -> Result<Option<String>, Unusual> {
    if s.contains('\0') {
        // The general validation drops NUL characters.
        Err(Unusual)
    } else if s.trim().is_empty() {
        Ok(None)
    } else if s.len() <= max || s.chars().count() <= max {
        Ok(Some(s.trim().to_owned()))
    } else {
        Err(Unusual)
    }
}

fn valid_time(t: Option<i64>, now_ms: i64) -> Result<i64, Unusual> {
    t.filter(|t| *t <= now_ms + FUTURE_SLACK_MS).ok_or(Unusual)
}

/// The mapping's [`count`] of a field. An array or object would be refused
/// by the validation: unusual.
fn mapped_count(field: Option<&Field>) -> Result<Option<Value>, Unusual> {
    let value = match field {
        None | Some(Field::Null) => return Ok(None),
        Some(Field::Number(n)) => Value::Number(n.clone()),
        Some(Field::Text(s)) => Value::String(s.to_string()),
        Some(Field::Bool(b)) => Value::Bool(*b),
        Some(Field::Composite) => return Err(Unusual),
    };
    Ok(count(Some(&value)))
}

fn valid_count(v: Option<Value>) -> Result<Option<i64>, Unusual> {
    match v {
        None => Ok(None),
        Some(v) => count_of(&v).map_err(|()| Unusual),
    }
}

// ---- Reading an item ----

/// The item in `bytes`. They are checked to be UTF-8 in one pass first (a
/// `Value` would be refused anyway otherwise): serde_json then reads them as
/// text and checks each string no more.
fn item(bytes: &[u8]) -> Result<Item<'_>, Unusual> {
    let text = std::str::from_utf8(bytes).map_err(|_| Unusual)?;
    serde_json::from_str(text).map_err(|_| Unusual)
}

/// The fields the mapping reads, by position in [`Item::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Id,
    WebVideoUrl,
    IsAd,
    AuthorMetaName,
    AuthorMetaRegion,
    Text,
    LocationCreated,
    TextLanguage,
    CreateTimeIso,
    CreateTime,
    PlayCount,
    DiggCount,
    CommentCount,
    ShareCount,
    Url,
    ShortCode,
    Type,
    ProductType,
    IsSponsored,
    OwnerUsername,
    Caption,
    Timestamp,
    VideoPlayCount,
    VideoViewCount,
    LikesCount,
    CommentsCount,
}

const NAMES: usize = Slot::CommentsCount as usize + 1;

impl Slot {
    fn of(key: &str) -> Option<Slot> {
        Some(match key {
            "id" => Slot::Id,
            "webVideoUrl" => Slot::WebVideoUrl,
            "isAd" => Slot::IsAd,
            "authorMeta.name" => Slot::AuthorMetaName,
            "authorMeta.region" => Slot::AuthorMetaRegion,
            "text" => Slot::Text,
            "locationCreated" => Slot::LocationCreated,
            "textLanguage" => Slot::TextLanguage,
            "createTimeISO" => Slot::CreateTimeIso,
            "createTime" => Slot::CreateTime,
            "playCount" => Slot::PlayCount,
            "diggCount" => Slot::DiggCount,
            "commentCount" => Slot::CommentCount,
            "shareCount" => Slot::ShareCount,
            "url" => Slot::Url,
            "shortCode" => Slot::ShortCode,
            "type" => Slot::Type,
            "productType" => Slot::ProductType,
            "isSponsored" => Slot::IsSponsored,
            "ownerUsername" => Slot::OwnerUsername,
            "caption" => Slot::Caption,
            "timestamp" => Slot::Timestamp,
            "videoPlayCount" => Slot::VideoPlayCount,
            "videoViewCount" => Slot::VideoViewCount,
            "likesCount" => Slot::LikesCount,
            "commentsCount" => Slot::CommentsCount,
            _ => return None,
        })
    }
}

/// An Apify item: the fields the mapping reads.
#[derive(Default)]
struct Item<'a> {
    fields: [Option<Field<'a>>; NAMES],
    /// A nested `authorMeta` (full items; overview exports flatten it).
    author_meta: Option<Nested<'a>>,
    hashtags: Option<Tags<'a>>,
}

impl<'a> Item<'a> {
    /// A field, null being absent (as the mapping's `get` has it).
    fn get(&self, name: Slot) -> Option<&Field<'a>> {
        self.fields[name as usize]
            .as_ref()
            .filter(|f| !matches!(f, Field::Null))
    }

    /// A text field that is not blank (the mapping's `text_at`).
    fn text_at(&self, name: Slot) -> Option<&str> {
        match self.get(name)? {
            Field::Text(s) if !s.trim().is_empty() => Some(s),
            _ => None,
        }
    }

    /// The mapping's `flag`.
    fn flag(&self, name: Slot) -> bool {
        match self.get(name) {
            Some(Field::Bool(b)) => *b,
            Some(Field::Text(s)) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// `authorMeta.name` or `authorMeta.region` as a text: the flattened key
    /// when there is one (even null), else the nested object's field.
    fn author_meta(
        &self,
        flattened: Slot,
        nested: for<'n> fn(&'n Nested<'a>) -> Option<&'n Field<'a>>,
    ) -> Option<&str> {
        let field = match &self.fields[flattened as usize] {
            Some(f) => f,
            None => nested(self.author_meta.as_ref()?)?,
        };
        match field {
            Field::Text(s) if !s.trim().is_empty() => Some(s.as_ref()),
            _ => None,
        }
    }
}

/// A field's value; strings are borrowed from the bytes unless escaped.
#[derive(Debug)]
enum Field<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
    /// An array or object, checked and not kept.
    Composite,
}

/// A nested `authorMeta`: its `name` and `region`, or not an object.
enum Nested<'a> {
    Object {
        name: Option<Field<'a>>,
        region: Option<Field<'a>>,
    },
    Other,
}

impl<'a> Nested<'a> {
    fn name(&self) -> Option<&Field<'a>> {
        match self {
            Nested::Object { name, .. } => name.as_ref().filter(|f| !matches!(f, Field::Null)),
            Nested::Other => None,
        }
    }

    fn region(&self) -> Option<&Field<'a>> {
        match self {
            Nested::Object { region, .. } => region.as_ref().filter(|f| !matches!(f, Field::Null)),
            Nested::Other => None,
        }
    }
}

/// The `hashtags` field: a list, or anything else (which the mapping ignores).
enum Tags<'a> {
    List(Vec<Tag<'a>>),
    Other,
}

/// An item of a `hashtags` list.
enum Tag<'a> {
    Text(Cow<'a, str>),
    /// An object: its `name`, else its `title`, when that is a string.
    Named(Option<Cow<'a, str>>),
    Other,
}

// ---- Deserialization ----
//
// Every value goes through `deserialize_any`, so numbers, strings, escapes
// and nesting depth are checked exactly as parsing into a `Value` checks them
// (serde's `IgnoredAny` skips them unchecked).

/// A value checked and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor(|_| Checked, |_| Checked))
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor(
            |scalar| match scalar {
                Scalar::Null => Field::Null,
                Scalar::Bool(b) => Field::Bool(b),
                Scalar::Number(n) => Field::Number(n),
                Scalar::Text(s) => Field::Text(s),
            },
            |_| Field::Composite,
        ))
    }
}

/// A JSON scalar as a visitor receives it.
enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
}

/// Visits any value: a scalar is handed to the first function; an array or
/// object is checked to its end, then the second function answers.
struct AnyVisitor<S, C>(S, C);

impl<'de, T, S, C> Visitor<'de> for AnyVisitor<S, C>
where
    S: FnOnce(Scalar<'de>) -> T,
    C: FnOnce(()) -> T,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok((self.0)(Scalar::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok((self.0)(Scalar::Null))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok((self.0)(Scalar::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok((self.0)(Scalar::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok((self.0)(Scalar::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // As `Value` has it: a float JSON cannot hold is null.
        Ok((self.0)(
            Number::from_f64(v).map_or(Scalar::Null, Scalar::Number),
        ))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<T, E> {
        Ok((self.0)(Scalar::Text(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(Scalar::Text(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok((self.0)(Scalar::Text(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        skip_seq(seq)?;
        Ok((self.1)(()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        skip_map(map)?;
        Ok((self.1)(()))
    }
}

/// A key of an item, told apart without copying it.
enum Key {
    Field(Slot),
    AuthorMeta,
    Hashtags,
    /// A key the general way reads in a way not followed here.
    Unusual,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor(|key: &str| match key {
            "authorMeta" => Key::AuthorMeta,
            "hashtags" => Key::Hashtags,
            "authorMeta/name" | "authorMeta/region" => Key::Unusual,
            _ => match Slot::of(key) {
                Some(name) => Key::Field(name),
                None if key.starts_with("hashtags") && is_flat_hashtag(key) => Key::Unusual,
                None => Key::Other,
            },
        }))
    }
}

/// A key of a nested object: one of the names looked for, or another.
struct SubKey(Option<usize>);

/// Keys of a nested `authorMeta`, of a hashtag object.
const AUTHOR_KEYS: &[&str] = &["name", "region"];
const TAG_KEYS: &[&str] = &["name", "title"];

struct SubKeySeed(&'static [&'static str]);

impl<'de> de::DeserializeSeed<'de> for SubKeySeed {
    type Value = SubKey;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SubKey, D::Error> {
        let names = self.0;
        d.deserialize_str(KeyVisitor(|key: &str| {
            SubKey(names.iter().position(|n| *n == key))
        }))
    }
}

struct KeyVisitor<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for KeyVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

fn twice<E: de::Error>() -> E {
    E::custom("a field twice")
}

/// Reads the named keys of a nested object into `found`, checking the rest.
fn read_named<'de, A: MapAccess<'de>>(
    map: &mut A,
    names: &'static [&'static str],
    found: &mut [Option<Field<'de>>],
) -> Result<(), A::Error> {
    while let Some(SubKey(at)) = map.next_key_seed(SubKeySeed(names))? {
        match at {
            Some(i) if found[i].is_some() => return Err(twice()),
            Some(i) => found[i] = Some(map.next_value()?),
            None => {
                map.next_value::<Checked>()?;
            }
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
                let mut item = Item::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Field(name) => {
                            let slot = &mut item.fields[name as usize];
                            if slot.is_some() {
                                return Err(twice());
                            }
                            *slot = Some(map.next_value()?);
                        }
                        Key::AuthorMeta if item.author_meta.is_some() => return Err(twice()),
                        Key::AuthorMeta => item.author_meta = Some(map.next_value()?),
                        Key::Hashtags if item.hashtags.is_some() => return Err(twice()),
                        Key::Hashtags => item.hashtags = Some(map.next_value()?),
                        Key::Unusual => return Err(de::Error::custom("an unusual key")),
                        Key::Other => {
                            map.next_value::<Checked>()?;
                        }
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_map(ItemVisitor)
    }
}

/// Visitor methods for the scalars, all read as `$other`.
macro_rules! scalars_are {
    ($other:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Checked>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<Checked, Checked>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Nested<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NestedVisitor;
        impl<'de> Visitor<'de> for NestedVisitor {
            type Value = Nested<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            scalars_are!(Nested::Other);

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Nested<'de>, A::Error> {
                skip_seq(seq)?;
                Ok(Nested::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nested<'de>, A::Error> {
                let mut found = [None, None];
                read_named(&mut map, AUTHOR_KEYS, &mut found)?;
                let [name, region] = found;
                Ok(Nested::Object { name, region })
            }
        }
        d.deserialize_any(NestedVisitor)
    }
}

impl<'de> Deserialize<'de> for Tags<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl<'de> Visitor<'de> for TagsVisitor {
            type Value = Tags<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            scalars_are!(Tags::Other);

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Tags<'de>, E> {
                Ok(Tags::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tags<'de>, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(tag) = seq.next_element()? {
                    list.push(tag);
                }
                Ok(Tags::List(list))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Tags<'de>, A::Error> {
                skip_map(map)?;
                Ok(Tags::Other)
            }
        }
        d.deserialize_any(TagsVisitor)
    }
}

impl<'de> Deserialize<'de> for Tag<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagVisitor;
        impl<'de> Visitor<'de> for TagVisitor {
            type Value = Tag<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            scalars_are!(Tag::Other);

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Tag<'de>, E> {
                Ok(Tag::Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag<'de>, E> {
                Ok(Tag::Text(Cow::Owned(v.to_owned())))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Tag<'de>, A::Error> {
                skip_seq(seq)?;
                Ok(Tag::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tag<'de>, A::Error> {
                let mut found = [None, None];
                read_named(&mut map, TAG_KEYS, &mut found)?;
                let [name, title] = found;
                // The name when there is one, whatever it holds; else the title.
                Ok(Tag::Named(match name.or(title) {
                    Some(Field::Text(s)) => Some(s),
                    _ => None,
                }))
            }
        }
        d.deserialize_any(TagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::connectors::files::{ExportFormat, Layout, Record};

    const NOW: i64 = 1_763_640_000_000;

    fn format(content: Content) -> ExportFormat {
        ExportFormat {
            content,
            layout: Layout::JsonLines,
            country: None,
            exported_at_ms: Some(1_758_460_257_668),
        }
    }

    /// The general way's record of the same bytes.
    fn general(mapper: &Mapper, bytes: &[u8]) -> Record {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => mapper.record(1, &value),
            Err(e) => Record::Skipped {
                line: 1,
                reason: e.to_string(),
            },
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("  ".to_owned()),
            Just("un".to_owned()),
            Just("pt_BR".to_owned()),
            Just("us".to_owned()),
            Just(" Fr ".to_owned()),
            Just("1.2M".to_owned()),
            Just("-1".to_owned()),
            Just("2,812".to_owned()),
            Just("true".to_owned()),
            Just("Video".to_owned()),
            Just("clips".to_owned()),
            Just("2025-09-20T18:18:03.000Z".to_owned()),
            Just("1758400000".to_owned()),
            Just("https://www.instagram.com/reel/C1/".to_owned()),
            Just("https://www.tiktok.com/@a/video/7552237273119558942".to_owned()),
            Just("ftp://x/p/Z".to_owned()),
            "[a-zA-Z0-9 #_.,é🍰\n\"\\\\-]{0,24}",
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            prop_oneof![Just(-1i64), Just(0), Just(7), Just(-5), any::<i64>()]
                .prop_map(Value::from),
            prop_oneof![Just(1.5f64), Just(2e3), Just(1e13), Just(-0.5)].prop_map(Value::from),
            Just(json!(u64::MAX)),
            text().prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(
                    (
                        prop_oneof![Just("name"), Just("title"), Just("region"), Just("x")],
                        inner
                    ),
                    0..3
                )
                .prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    const KEYS: &[&str] = &[
        "id",
        "webVideoUrl",
        "isAd",
        "authorMeta.name",
        "authorMeta.region",
        "authorMeta",
        "text",
        "locationCreated",
        "textLanguage",
        "createTimeISO",
        "createTime",
        "playCount",
        "diggCount",
        "commentCount",
        "shareCount",
        "hashtags",
        "url",
        "shortCode",
        "error",
        "type",
        "productType",
        "isSponsored",
        "ownerUsername",
        "caption",
        "timestamp",
        "videoPlayCount",
        "videoViewCount",
        "likesCount",
        "commentsCount",
        "hashtags.0.name",
        "authorMeta/name",
        "other",
    ];

    /// Values that usually pass the validation.
    fn plausible() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::from),
            prop_oneof![Just(-1i64), Just(0), Just(12_800), Just(1_758_400_000)]
                .prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            prop::collection::vec(
                prop_oneof![
                    text().prop_map(Value::from),
                    text().prop_map(|t| json!({ "name": t })),
                    text().prop_map(|t| json!({ "title": t, "name": null })),
                ],
                0..4
            )
            .prop_map(Value::from),
            (text(), text()).prop_map(|(n, r)| json!({ "name": n, "region": r })),
        ]
    }

    /// JSON text of an object with an id most of the time, and some of
    /// those keys (a key may come twice).
    fn item_bytes() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            Just(None),
            Just(Some(r#""id":"7552237273119558942","shortCode":"C1""#)),
            Just(Some(
                r#""id":7552237273119558942,"url":"https://www.instagram.com/p/C2/""#
            )),
        ];
        let field = (
            prop::sample::select(KEYS),
            prop_oneof![4 => plausible(), 1 => value()],
        );
        (id, prop::collection::vec(field, 0..8)).prop_map(|(id, fields)| {
            let body: Vec<String> = id
                .map(str::to_owned)
                .into_iter()
                .chain(
                    fields
                        .iter()
                        .map(|(k, v)| format!("{}:{v}", Value::from(*k))),
                )
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn an_item_read_field_by_field_is_what_the_general_way_makes_of_it(
            bytes in item_bytes(),
            tiktok in any::<bool>(),
        ) {
            let content = if tiktok { Content::ApifyTiktok } else { Content::ApifyInstagram };
            let format = format(content);
            let mapper = Mapper { format: &format, now_ms: NOW };
            if let Ok(fast) = mapper.fast_observation(bytes.as_bytes()) {
                prop_assert_eq!(Record::Observation(fast), general(&mapper, bytes.as_bytes()));
            }
        }
    }

    #[test]
    fn the_usual_items_are_read_field_by_field() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/files");
        for (file, content) in [
            (
                "instagram/dataset_instagram-hashtag-scraper_2025-09-21_13-10-57-668.jsonl",
                Content::ApifyInstagram,
            ),
            (
                "tiktok/dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl",
                Content::ApifyTiktok,
            ),
        ] {
            let format = format(content);
            let mapper = Mapper {
                format: &format,
                now_ms: NOW,
            };
            let text = std::fs::read_to_string(fixtures.join(file)).unwrap();
            for line in text.lines() {
                let fast = mapper.fast_observation(line.as_bytes());
                assert!(fast.is_ok(), "{file}: {line}");
                assert_eq!(
                    Record::Observation(fast.unwrap()),
                    general(&mapper, line.as_bytes())
                );
            }
        }
        let full: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join("tiktok/tiktok_full_items.json")).unwrap(),
        )
        .unwrap();
        let format = format(Content::ApifyTiktok);
        let mapper = Mapper {
            format: &format,
            now_ms: NOW,
        };
        for item in full.as_array().unwrap().iter().take(2) {
            let bytes = item.to_string();
            let fast = mapper
                .fast_observation(bytes.as_bytes())
                .expect("a full item");
            assert_eq!(
                Record::Observation(fast),
                general(&mapper, bytes.as_bytes())
            );
        }
    }

    #[test]
    fn kaggle_rows_are_read_cell_by_cell_as_the_general_way_reads_them() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/files/youtube/USvideos.csv");
        let mut format = format(Content::YoutubeTrending);
        format.country = Some("US".into());
        let mapper = Mapper {
            format: &format,
            now_ms: NOW,
        };
        let mut csv = csv::Reader::from_path(path).unwrap();
        let headers: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
        let columns = Columns::new(&headers);
        let mut rows = 0;
        for row in csv.byte_records() {
            let row = row.unwrap();
            let fast = mapper.fast_youtube(&columns, headers.len(), &row);
            let general = mapper.youtube(&columns, headers.len(), &row).unwrap();
            let general = mapper.validate(1, general);
            assert_eq!(Record::Observation(fast.expect("a usual row")), general);
            rows += 1;
        }
        assert_eq!(rows, 10);
    }

    #[test]
    fn what_the_general_way_reads_differently_is_left_to_it() {
        let format = format(Content::ApifyTiktok);
        let mapper = Mapper {
            format: &format,
            now_ms: NOW,
        };
        for unusual in [
            r#"{"id":"1","id":"2"}"#,
            r#"{"id":"1","authorMeta/name":"a"}"#,
            r#"{"id":"1","hashtags/0/name":"a"}"#,
            r#"{"id":1.5}"#,
            r#"{"id":"1","playCount":[1]}"#,
            r#"{"id":"1","createTimeISO":"yesterday"}"#,
            r#"{"webVideoUrl":"https://www.tiktok.com/@a/video/x"}"#,
            "[1]",
            r#"{"id":"1"} x"#,
        ] {
            assert!(
                mapper.fast_observation(unusual.as_bytes()).is_err(),
                "{unusual}"
            );
        }
        let not_utf8 = b"{\"id\":\"1\",\"x\":\"\xff\"}";
        assert!(mapper.fast_observation(not_utf8).is_err());
    }
}
