//! Ingest of observations: content upserted once per (platform, platform id),
//! one metric snapshot per observation time.

use super::{Store, StoreError, StoreResult};
use crate::engine::observation::Observation;

/// How many observations were new, and how many had been stored before.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounts {
    pub accepted: u64,
    pub duplicates: u64,
}

impl Store {
    /// Stores a batch of validated observations in one transaction: all of it, or
    /// (on a database failure) none of it. Re-sending an observation is a duplicate,
    /// never a second snapshot.
    pub async fn ingest(&self, batch: &[Observation]) -> StoreResult<IngestCounts> {
        let mut counts = IngestCounts::default();
        if batch.is_empty() {
            return Ok(counts);
        }
        let mut tx = self.begin_write().await?;
        for o in batch {
            let hashtags = (!o.hashtags.is_empty()).then(|| o.hashtags.join(" "));
            // Later sightings fill in what earlier ones lacked, never erase it.
            let (content_id,): (i64,) = sqlx::query_as(
                "INSERT INTO contents (platform, platform_id, kind, url, author, text, hashtags, \
                 country, language, published_at, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
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
                 RETURNING id",
            )
            .bind(o.platform)
            .bind(&o.platform_id)
            .bind(o.kind)
            .bind(o.url.as_deref())
            .bind(o.author.as_deref())
            .bind(o.text.as_deref())
            .bind(hashtags.as_deref())
            .bind(o.country.as_deref())
            .bind(o.language.as_deref())
            .bind(o.published_at)
            .bind(o.observed_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            let inserted = sqlx::query(
                "INSERT INTO snapshots (content_id, observed_at, views, impressions_lower, \
                 impressions_upper, likes, comments, shares, spend_lower, spend_upper) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (content_id, observed_at) DO NOTHING",
            )
            .bind(content_id)
            .bind(o.observed_at)
            .bind(o.views)
            .bind(o.impressions.map(|b| b.lower))
            .bind(o.impressions.and_then(|b| b.upper))
            .bind(o.likes)
            .bind(o.comments)
            .bind(o.shares)
            .bind(o.spend.map(|b| b.lower))
            .bind(o.spend.and_then(|b| b.upper))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            if inserted.rows_affected() == 1 {
                counts.accepted += 1;
            } else {
                counts.duplicates += 1;
            }
        }
        self.commit(tx).await?;
        Ok(counts)
    }
}
