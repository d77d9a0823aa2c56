//! Ingest of observations: content upserted once per (platform, platform id)
//! and batch, one metric snapshot per observation time. Rows go in multi-row
//! statements: a round trip per few hundred rows instead of one per row.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::trends::{ContentToMatch, link_contents, split_tags};
use super::{Backend, Store, StoreError, StoreResult};
use crate::engine::matching::Matcher;
use crate::engine::observation::Observation;

/// Rows per statement. With named parameters sqlx's SQLite driver cost the
/// square of a statement's size (400 rows took 21 s for 100,000 observations,
/// 16 rows 3.5 s); with anonymous ones (see [`placeholders`]) the round trips
/// dominate instead: 250 rows used less time than 100 or 500.
const ROWS_PER_STATEMENT: usize = 250;

/// How many observations were new, how many had been stored before, and
/// which products the batch's contents are about.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestCounts {
    pub accepted: u64,
    pub duplicates: u64,
    pub products: std::collections::BTreeSet<i64>,
}

/// One content row, merged from every observation of it in a chunk.
struct ContentRow<'a> {
    first: &'a Observation,
    url: Option<&'a str>,
    author: Option<&'a str>,
    text: Option<&'a str>,
    hashtags: Option<String>,
    country: Option<&'a str>,
    language: Option<&'a str>,
    published_at: Option<i64>,
    first_seen: i64,
    last_seen: i64,
}

impl<'a> ContentRow<'a> {
    fn new(o: &'a Observation) -> Self {
        let mut row = Self {
            first: o,
            url: None,
            author: None,
            text: None,
            hashtags: None,
            country: None,
            language: None,
            published_at: None,
            first_seen: o.observed_at,
            last_seen: o.observed_at,
        };
        row.absorb(o);
        row
    }

    /// Later sightings fill in what earlier ones lacked or replace it, never erase it.
    fn absorb(&mut self, o: &'a Observation) {
        self.url = o.url.as_deref().or(self.url);
        self.author = o.author.as_deref().or(self.author);
        self.text = o.text.as_deref().or(self.text);
        if !o.hashtags.is_empty() {
            self.hashtags = Some(o.hashtags.join(" "));
        }
        self.country = o.country.as_deref().or(self.country);
        self.language = o.language.as_deref().or(self.language);
        self.published_at = o.published_at.or(self.published_at);
        self.first_seen = self.first_seen.min(o.observed_at);
        self.last_seen = self.last_seen.max(o.observed_at);
    }
}

/// `($1,$2),($3,$4)`: the VALUES of a multi-row statement. On SQLite the
/// parameters are anonymous (`(?,?),(?,?)`): sqlx binds a named parameter by
/// looking its name up, a scan over all of the statement's parameters, so a
/// statement of named parameters costs the square of its size; anonymous
/// ones bind in order.
pub(super) fn placeholders(backend: Backend, rows: usize, per_row: usize) -> String {
    let mut sql = String::with_capacity(rows * per_row * 6);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..per_row {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * per_row + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

impl Store {
    /// Stores a batch of validated observations in one transaction: all of it, or
    /// (on a database failure) none of it. Re-sending an observation is a duplicate,
    /// never a second snapshot. Contents are linked to the products `matcher`
    /// finds in them in the same transaction. Every content of the batch, new
    /// or seen before, is matched once, with its text as stored at the end of
    /// the batch, so the products answered are all those the batch is about.
    pub async fn ingest(
        &self,
        batch: &[Observation],
        matcher: &Matcher,
    ) -> StoreResult<IngestCounts> {
        if batch.is_empty() {
            return Ok(IngestCounts::default());
        }
        let mut tx = self.begin_write().await?;
        let counts = ingest_in(&mut tx, self.backend, batch, matcher).await?;
        self.commit(tx).await?;
        Ok(counts)
    }
}

/// [`Store::ingest`] inside a transaction the caller owns, so a scan can
/// store a page and its progress counters together.
pub(super) async fn ingest_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &[Observation],
    matcher: &Matcher,
) -> StoreResult<IngestCounts> {
    let mut counts = IngestCounts::default();
    if batch.is_empty() {
        return Ok(counts);
    }
    // Each content once per batch, merged in the order seen: the same row
    // as upserting sighting after sighting would leave, in one statement
    // row instead of one per chunk it appears in.
    let mut rows: Vec<ContentRow<'_>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut row_of = Vec::with_capacity(batch.len());
    for o in batch {
        let key = (o.platform, o.platform_id.as_str());
        let i = match index.get(&key) {
            Some(&i) => {
                rows[i].absorb(o);
                i
            }
            None => {
                index.insert(key, rows.len());
                rows.push(ContentRow::new(o));
                rows.len() - 1
            }
        };
        row_of.push(i);
    }
    // A row inserted now holds what the batch sent, and the driver copies
    // each value it answers several times (it was a third of the database
    // side of an import): on SQLite, where this transaction is the only
    // writer, rows numbered past the highest id before the batch are new and
    // answer NULL for the columns sent. A row that was there answers what it
    // holds; a NULL it holds is one the batch sent too, since an update only
    // ever fills in (`COALESCE`). PostgreSQL answers every row in full.
    let newer_than = match backend {
        Backend::Sqlite => Some(
            sqlx::query_as::<_, (i64,)>("SELECT COALESCE(MAX(id), 0) FROM contents")
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::classify)?
                .0,
        ),
        Backend::Postgres => None,
    };
    // Back in the order of `rows` whatever order a backend returns them in.
    let mut stored: Vec<Option<ContentToMatch>> = vec![None; rows.len()];
    for (n, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
        for (i, content) in upsert_contents(tx, backend, chunk, newer_than).await? {
            stored[n * ROWS_PER_STATEMENT + i] = Some(content);
        }
    }
    let ids: Vec<Option<i64>> = stored.iter().map(|c| c.as_ref().map(|c| c.id)).collect();
    let mut seen = HashSet::with_capacity(batch.len());
    let mut fresh = Vec::with_capacity(batch.len());
    for (o, &i) in batch.iter().zip(&row_of) {
        let id = ids[i].ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol(
                "an upserted content returned no id".into(),
            ))
        })?;
        if seen.insert((id, o.observed_at)) {
            fresh.push((id, o));
        } else {
            counts.duplicates += 1;
        }
    }
    for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
        let inserted = insert_snapshots(tx, backend, chunk).await?;
        counts.accepted += inserted;
        counts.duplicates += chunk.len() as u64 - inserted;
    }
    let contents: Vec<ContentToMatch> = stored.into_iter().flatten().collect();
    counts
        .products
        .extend(link_contents(tx, backend, matcher, &contents).await?);
    Ok(counts)
}

/// The columns a content is matched on, in the order `upsert_contents` reads them back.
const MATCHED_COLUMNS: [&str; 8] = [
    "kind",
    "author",
    "text",
    "hashtags",
    "country",
    "url",
    "published_at",
    "first_seen_at",
];

/// Upserts distinct contents; answers each one as it now reads (for
/// matching) with its position in `rows`. Rows numbered past `newer_than`
/// were inserted now and answer NULL for what they were sent.
async fn upsert_contents(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[ContentRow<'_>],
    newer_than: Option<i64>,
) -> StoreResult<Vec<(usize, ContentToMatch)>> {
    let returned = MATCHED_COLUMNS
        .iter()
        .map(|c| match newer_than {
            Some(_) => format!("CASE WHEN id > ? THEN NULL ELSE {c} END"),
            None => (*c).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO contents (platform, platform_id, kind, url, author, text, hashtags, \
         country, language, published_at, first_seen_at, last_seen_at) VALUES {} \
         ON CONFLICT (platform, platform_id) DO UPDATE SET \
         url = COALESCE(excluded.url, contents.url), \
         author = COALESCE(excluded.author, contents.author), \
         text = COALESCE(excluded.text, contents.text), \
         hashtags = COALESCE(excluded.hashtags, contents.hashtags), \
         country = COALESCE(excluded.country, contents.country), \
         language = COALESCE(excluded.language, contents.language), \
         published_at = COALESCE(excluded.published_at, contents.published_at), \
         first_seen_at = CASE WHEN excluded.first_seen_at < contents.first_seen_at \
           THEN excluded.first_seen_at ELSE contents.first_seen_at END, \
         last_seen_at = CASE WHEN excluded.last_seen_at > contents.last_seen_at \
           THEN excluded.last_seen_at ELSE contents.last_seen_at END \
         RETURNING id, platform, platform_id, {returned}",
        placeholders(backend, rows.len(), 12)
    );
    // Only placeholders are interpolated: every value is bound.
    let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(rows.len() == ROWS_PER_STATEMENT);
    for r in rows {
        query = query
            .bind(r.first.platform)
            .bind(r.first.platform_id.as_str())
            .bind(r.first.kind)
            .bind(r.url)
            .bind(r.author)
            .bind(r.text)
            .bind(r.hashtags.clone())
            .bind(r.country)
            .bind(r.language)
            .bind(r.published_at)
            .bind(r.first_seen)
            .bind(r.last_seen);
    }
    if let Some(max) = newer_than {
        for _ in MATCHED_COLUMNS {
            query = query.bind(max);
        }
    }
    let returned = query
        .fetch_all(&mut **tx)
        .await
        .map_err(StoreError::classify)?;
    let sent: HashMap<(&str, &str), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.first.platform, r.first.platform_id.as_str()), i))
        .collect();
    let mut contents = Vec::with_capacity(rows.len());
    for row in returned {
        let get = |e: sqlx::Error| StoreError::classify(e);
        let platform: String = row.try_get(1).map_err(get)?;
        let platform_id: String = row.try_get(2).map_err(get)?;
        let Some(&i) = sent.get(&(platform.as_str(), platform_id.as_str())) else {
            continue;
        };
        let r = &rows[i];
        let kind: Option<String> = row.try_get(3).map_err(get)?;
        let stored_or_sent = |column: usize, sent: Option<&str>| -> StoreResult<Option<String>> {
            let stored: Option<String> = row.try_get(column).map_err(get)?;
            Ok(stored.or_else(|| sent.map(str::to_owned)))
        };
        let published_at: Option<i64> = row.try_get(9).map_err(get)?;
        let first_seen_at: Option<i64> = row.try_get(10).map_err(get)?;
        let content = ContentToMatch {
            id: row.try_get(0).map_err(get)?,
            platform,
            kind: kind.unwrap_or_else(|| r.first.kind.to_owned()),
            author: stored_or_sent(4, r.author)?,
            text: stored_or_sent(5, r.text)?,
            hashtags: split_tags(stored_or_sent(6, r.hashtags.as_deref())?),
            country: stored_or_sent(7, r.country)?,
            url: stored_or_sent(8, r.url)?,
            published_at: published_at.or(r.published_at),
            first_seen_at: first_seen_at.unwrap_or(r.first_seen),
        };
        contents.push((i, content));
    }
    Ok(contents)
}

/// Inserts snapshots not stored yet; answers how many were new.
async fn insert_snapshots(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[(i64, &Observation)],
) -> StoreResult<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO snapshots (content_id, observed_at, views, impressions_lower, \
         impressions_upper, likes, comments, shares, spend_lower, spend_upper) VALUES {} \
         ON CONFLICT (content_id, observed_at) DO NOTHING",
        placeholders(backend, rows.len(), 10)
    );
    // Not a prepared statement on PostgreSQL: sqlx's `Any` binds a missing
    // `f64` (spend) as a `real` NULL, and a statement prepared with that
    // type refuses the `double precision` spend of a later batch
    // ("incorrect binary data format"). Parsing each batch anew keeps every
    // parameter's type its own value's.
    let persistent = rows.len() == ROWS_PER_STATEMENT && backend == Backend::Sqlite;
    let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(persistent);
    for (id, o) in rows {
        query = query
            .bind(*id)
            .bind(o.observed_at)
            .bind(o.views)
            .bind(o.impressions.map(|b| b.lower))
            .bind(o.impressions.and_then(|b| b.upper))
            .bind(o.likes)
            .bind(o.comments)
            .bind(o.shares)
            .bind(o.spend.map(|b| b.lower))
            .bind(o.spend.and_then(|b| b.upper));
    }
    let done = query
        .execute(&mut **tx)
        .await
        .map_err(StoreError::classify)?;
    Ok(done.rows_affected())
}
