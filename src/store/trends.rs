//! The trend engine's storage: which content is about which product, the
//! histories a refresh reads, and the reports it writes back. The engine
//! itself (`crate::engine`) never sees the database; `crate::refresh` carries
//! data between the two.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::observations::placeholders;
use super::{Backend, Millis, ScoreRecord, Store, StoreError, StoreResult};
use crate::engine::attention::{Metrics, Snapshot};
use crate::engine::matching::{Matcher, ProductTerms};
use crate::engine::trend::{Norms, TrendReport};

/// Platform ids of demo content start with this, so `demo --remove` finds it.
pub const DEMO_ID_PREFIX: &str = "demo:";

/// Ids per `IN (...)` list: far below every backend's parameter limit.
const IDS_PER_QUERY: usize = 500;

/// Links and ads per statement at ingest; SQLite binds them in order (see
/// `placeholders`), so their size is only bounded by the parameter limits.
const LINKS_PER_STATEMENT: usize = 500;
const ADS_PER_STATEMENT: usize = 100;

/// A content as matching needs it.
#[derive(Debug, Clone)]
pub struct ContentToMatch {
    pub id: i64,
    pub platform: String,
    pub kind: String,
    pub author: Option<String>,
    pub text: Option<String>,
    pub hashtags: Vec<String>,
    pub country: Option<String>,
    pub url: Option<String>,
    pub published_at: Option<Millis>,
    pub first_seen_at: Millis,
}

/// The brief's platform names, which its ads and `/scan-ads` use.
pub fn brief_platform(platform: &str) -> &str {
    match platform {
        "tiktok" => "TikTok",
        "facebook" => "Facebook",
        "instagram" => "Instagram",
        "youtube" => "YouTube",
        "x" => "Twitter",
        "reddit" => "Reddit",
        "google_trends" => "Google Trends",
        other => other,
    }
}

/// The observation platform of a brief platform name (the inverse of [`brief_platform`]).
pub fn observation_platform(platform: &str) -> String {
    match platform {
        "Twitter" => "x".to_owned(),
        "Google Trends" => "google_trends".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// Links contents to the products `matcher` finds in them, and ads among them
/// to the brief's ads table. Answers the products linked.
pub(super) async fn link_contents(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    matcher: &Matcher,
    contents: &[ContentToMatch],
) -> StoreResult<BTreeSet<i64>> {
    let mut pairs: Vec<(i64, &ContentToMatch)> = Vec::new();
    for c in contents {
        let text = c.text.as_deref().unwrap_or("");
        for product in matcher.products_in(text, &c.hashtags) {
            pairs.push((product, c));
        }
    }
    let linked = pairs.iter().map(|(p, _)| *p).collect();
    for chunk in pairs.chunks(LINKS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO content_products (product_id, content_id) VALUES {} \
             ON CONFLICT (product_id, content_id) DO NOTHING",
            placeholders(backend, chunk.len(), 2)
        );
        // Only full-size statements are worth keeping prepared.
        let mut query =
            sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == LINKS_PER_STATEMENT);
        for (product, c) in chunk {
            query = query.bind(*product).bind(c.id);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(StoreError::classify)?;
    }
    let ads: Vec<&(i64, &ContentToMatch)> = pairs.iter().filter(|(_, c)| c.kind == "ad").collect();
    for chunk in ads.chunks(ADS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO ads (product_id, platform, ad_content, country, engagement_score, \
             created_at, content_id, advertiser, url, running_since) VALUES {} \
             ON CONFLICT (content_id, product_id) DO UPDATE SET \
             ad_content = excluded.ad_content, country = COALESCE(excluded.country, ads.country), \
             advertiser = COALESCE(excluded.advertiser, ads.advertiser), \
             url = COALESCE(excluded.url, ads.url)",
            placeholders(backend, chunk.len(), 10)
        );
        let mut query =
            sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == ADS_PER_STATEMENT);
        for (product, c) in chunk {
            let text: String = c
                .text
                .as_deref()
                .or(c.url.as_deref())
                .unwrap_or("(no text)")
                .chars()
                .take(2000)
                .collect();
            query = query
                .bind(*product)
                .bind(brief_platform(&c.platform).to_owned())
                .bind(text)
                .bind(c.country.clone())
                .bind(0i64)
                .bind(c.first_seen_at)
                .bind(c.id)
                .bind(c.author.clone())
                .bind(c.url.clone())
                .bind(
                    c.published_at
                        .unwrap_or(c.first_seen_at)
                        .min(c.first_seen_at),
                );
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(StoreError::classify)?;
    }
    Ok(linked)
}

/// A refresh's new reading of product `$1` at `$2` (forecast growth `$3`,
/// change number `$4`), with the scores alert evaluation reads along.
static INSERT_READING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO trend_scores \
           (product_id, score, ad_count, calculated_at, stage, forecast_growth, alerts_seq, \
            previous_score, base_score) \
         SELECT id, latest_score, ad_count, $2, stage, $3, $4, {} FROM products WHERE id = $1",
        super::alerts::reading_context("$1", "$2")
    )
});

fn id_list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn split_tags(tags: Option<String>) -> Vec<String> {
    tags.map(|t| {
        t.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn content_from_row(row: &sqlx::any::AnyRow) -> Result<ContentToMatch, sqlx::Error> {
    Ok(ContentToMatch {
        id: row.try_get(0)?,
        platform: row.try_get(1)?,
        kind: row.try_get(2)?,
        author: row.try_get(3)?,
        text: row.try_get(4)?,
        hashtags: split_tags(row.try_get(5)?),
        country: row.try_get(6)?,
        url: row.try_get(7)?,
        published_at: row.try_get(8)?,
        first_seen_at: row.try_get(9)?,
    })
}

/// One content's sightings, as loaded for a refresh.
#[derive(Debug, Clone)]
pub struct StoredContent {
    pub id: i64,
    pub platform: String,
    pub kind: String,
    pub author: Option<String>,
    pub country: Option<String>,
    pub published_at: Option<Millis>,
    pub snapshots: Vec<Snapshot>,
}

/// A brief ad (created through `POST /ads`), which counts as one sighting.
#[derive(Debug, Clone)]
pub struct BriefAd {
    pub product_id: i64,
    pub platform: String,
    pub country: Option<String>,
    pub engagement_score: i64,
    pub created_at: Millis,
}

/// An ad that came from observations, to be scored.
#[derive(Debug, Clone, Copy)]
pub struct ObservedAd {
    pub id: i64,
    pub product_id: i64,
    pub content_id: i64,
    pub running_since: Millis,
}

/// Everything a refresh of some products reads.
#[derive(Debug, Default)]
pub struct RefreshInput {
    /// Content ids per product.
    pub links: HashMap<i64, Vec<i64>>,
    pub contents: HashMap<i64, StoredContent>,
    pub brief_ads: HashMap<i64, Vec<BriefAd>>,
    pub observed_ads: Vec<ObservedAd>,
    pub previous_scores: HashMap<i64, Option<f64>>,
}

/// What a refresh writes for one product.
#[derive(Debug)]
pub struct ProductRefresh {
    pub product_id: i64,
    pub report: TrendReport,
    /// The report as stored (JSON).
    pub report_json: String,
    /// Start of the last day with attention, if any.
    pub active_at: Option<Millis>,
}

impl Store {
    /// Whether demo products are loaded.
    pub async fn has_demo(&self) -> StoreResult<bool> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products WHERE is_demo = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        Ok(n > 0)
    }

    /// Removes the demo products and the demo content (their snapshots, links
    /// and ads go with them), in one transaction. Answers what was removed.
    pub async fn remove_demo(&self) -> StoreResult<(u64, u64)> {
        let mut tx = self.begin_write().await?;
        let pattern = format!("{DEMO_ID_PREFIX}%");
        // Children first: SQLite only cascades with foreign keys on, and
        // being explicit keeps the two backends alike.
        for sql in [
            "DELETE FROM snapshots WHERE content_id IN (SELECT id FROM contents WHERE platform_id LIKE $1)",
            "DELETE FROM content_products WHERE content_id IN (SELECT id FROM contents WHERE platform_id LIKE $1)",
            "DELETE FROM ads WHERE content_id IN (SELECT id FROM contents WHERE platform_id LIKE $1)",
        ] {
            sqlx::query(sql)
                .bind(&pattern)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        let contents = sqlx::query("DELETE FROM contents WHERE platform_id LIKE $1")
            .bind(&pattern)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?
            .rows_affected();
        let products = sqlx::query("DELETE FROM products WHERE is_demo = 1")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?
            .rows_affected();
        self.commit(tx).await?;
        Ok((products, contents))
    }

    /// Claims the scheduled job `name` for this run, unless some instance ran
    /// it less than `every_ms` ago: with several instances on one database,
    /// one of them does the job each period.
    pub async fn claim_schedule(
        &self,
        name: &str,
        now: Millis,
        every_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let claimed =
            sqlx::query("UPDATE schedule SET last_at = $1 WHERE name = $2 AND last_at <= $3")
                .bind(now)
                .bind(name)
                .bind(now - every_ms)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Every product id, in order.
    pub async fn product_ids(&self) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM products ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Reads what a refresh of `products` needs: their contents seen since
    /// `since` with every sighting, their brief ads, their observed ads.
    pub async fn refresh_input(
        &self,
        products: &[i64],
        since: Millis,
    ) -> StoreResult<RefreshInput> {
        let mut input = RefreshInput::default();
        if products.is_empty() {
            return Ok(input);
        }
        let mut conn = self.pool.acquire().await.map_err(StoreError::classify)?;
        let ids = id_list(products.len());
        let n = products.len();
        let sql = format!(
            "SELECT cp.product_id, c.id, c.platform, c.kind, c.author, c.country, c.published_at, \
             s.observed_at, s.views, s.impressions_lower, s.impressions_upper, s.likes, \
             s.comments, s.shares \
             FROM content_products cp JOIN contents c ON c.id = cp.content_id \
             JOIN snapshots s ON s.content_id = c.id \
             WHERE cp.product_id IN ({ids}) AND c.last_seen_at >= ${} \
             ORDER BY c.id, s.observed_at",
            n + 1
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in products {
            query = query.bind(*id);
        }
        let rows = query
            .bind(since)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
        let mut last_pair = (0, 0);
        for row in rows {
            let product: i64 = row.try_get(0).map_err(StoreError::classify)?;
            let content: i64 = row.try_get(1).map_err(StoreError::classify)?;
            let lower: Option<i64> = row.try_get(9).map_err(StoreError::classify)?;
            let upper: Option<i64> = row.try_get(10).map_err(StoreError::classify)?;
            let snapshot = Snapshot {
                at_ms: row.try_get(7).map_err(StoreError::classify)?,
                metrics: Metrics {
                    views: row.try_get(8).map_err(StoreError::classify)?,
                    impressions: lower.map(|l| (l + upper.unwrap_or(l)) as f64 / 2.0),
                    likes: row.try_get(11).map_err(StoreError::classify)?,
                    comments: row.try_get(12).map_err(StoreError::classify)?,
                    shares: row.try_get(13).map_err(StoreError::classify)?,
                },
            };
            if (product, content) != last_pair {
                last_pair = (product, content);
                input.links.entry(product).or_default().push(content);
            }
            match input.contents.get_mut(&content) {
                Some(c) => {
                    // The same sighting comes once per linked product.
                    if c.snapshots.last().map(|s| s.at_ms) != Some(snapshot.at_ms) {
                        c.snapshots.push(snapshot);
                    }
                }
                None => {
                    input.contents.insert(
                        content,
                        StoredContent {
                            id: content,
                            platform: row.try_get(2).map_err(StoreError::classify)?,
                            kind: row.try_get(3).map_err(StoreError::classify)?,
                            author: row.try_get(4).map_err(StoreError::classify)?,
                            country: row.try_get(5).map_err(StoreError::classify)?,
                            published_at: row.try_get(6).map_err(StoreError::classify)?,
                            snapshots: vec![snapshot],
                        },
                    );
                }
            }
        }
        for c in input.contents.values_mut() {
            c.snapshots.sort_by_key(|s| s.at_ms);
            c.snapshots.dedup_by_key(|s| s.at_ms);
        }

        let sql = format!(
            "SELECT id, product_id, platform, country, engagement_score, created_at, content_id, \
             running_since FROM ads WHERE product_id IN ({ids}) AND (content_id IS NOT NULL OR \
             created_at >= ${})",
            n + 1
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in products {
            query = query.bind(*id);
        }
        for row in query
            .bind(since)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::classify)?
        {
            let product_id: i64 = row.try_get(1).map_err(StoreError::classify)?;
            let content_id: Option<i64> = row.try_get(6).map_err(StoreError::classify)?;
            let created_at: Millis = row.try_get(5).map_err(StoreError::classify)?;
            match content_id {
                Some(content_id) => input.observed_ads.push(ObservedAd {
                    id: row.try_get(0).map_err(StoreError::classify)?,
                    product_id,
                    content_id,
                    running_since: row
                        .try_get::<Option<i64>, _>(7)
                        .map_err(StoreError::classify)?
                        .unwrap_or(created_at),
                }),
                None => input
                    .brief_ads
                    .entry(product_id)
                    .or_default()
                    .push(BriefAd {
                        product_id,
                        platform: row.try_get(2).map_err(StoreError::classify)?,
                        country: row.try_get(3).map_err(StoreError::classify)?,
                        engagement_score: row.try_get(4).map_err(StoreError::classify)?,
                        created_at,
                    }),
            }
        }

        let sql = format!("SELECT id, latest_score FROM products WHERE id IN ({ids})");
        let mut query = sqlx::query_as::<_, (i64, Option<f64>)>(AssertSqlSafe(sql));
        for id in products {
            query = query.bind(*id);
        }
        for (id, score) in query
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::classify)?
        {
            input.previous_scores.insert(id, score);
        }
        Ok(input)
    }

    /// Writes a refresh's results in one transaction: each product's report and
    /// the figures lists filter on, a history row when its score moved, its
    /// interest by place and platform, and its observed ads' viral scores.
    pub async fn write_refresh(
        &self,
        results: &[ProductRefresh],
        ad_scores: &[(i64, i64)],
        previous_scores: &HashMap<i64, Option<f64>>,
        always_record: bool,
        now: Millis,
    ) -> StoreResult<()> {
        if results.is_empty() && ad_scores.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let change = super::alerts::next_change(self.backend, &mut tx).await?;
        for r in results {
            let rep = &r.report;
            sqlx::query(
                "UPDATE products SET latest_score = $1, latest_score_at = $2, stage = $3, \
                 change_7d = $4, attention_7d = $5, report = $6, report_at = $2, active_at = $7, \
                 ad_count = (SELECT COUNT(*) FROM ads WHERE ads.product_id = $8), \
                 alerts_seq = $10, country_interest = $9 WHERE id = $8",
            )
            // `change_7d` may be a missing f64: see `NULL_SAFE` below.
            .persistent(self.backend == Backend::Sqlite)
            .bind(rep.score)
            .bind(now)
            .bind(rep.stage.as_str())
            .bind(rep.change_7d_pct)
            .bind(rep.attention_7d)
            .bind(&r.report_json)
            .bind(r.active_at)
            .bind(r.product_id)
            .bind(crate::engine::alerts::countries_text(
                rep.countries.iter().map(|c| (c.place.as_str(), c.interest)),
            ))
            .bind(change)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            let moved = always_record
                || match previous_scores.get(&r.product_id) {
                    Some(Some(before)) => (before - rep.score).abs() >= 0.05,
                    _ => true,
                };
            if moved {
                sqlx::query(AssertSqlSafe(INSERT_READING.as_str()))
                    // NULL_SAFE: sqlx's `Any` binds a missing f64 as a float4 NULL, and
                    // PostgreSQL keeps a cached statement's parameter types, refusing the
                    // next real value; so on PostgreSQL these statements are not cached.
                    .persistent(self.backend == Backend::Sqlite)
                    .bind(r.product_id)
                    .bind(now)
                    .bind(rep.forecast.as_ref().map(|f| f.growth_14d_pct))
                    .bind(change)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            }
        }
        for chunk in results.chunks(IDS_PER_QUERY) {
            for table in ["product_places", "product_platforms"] {
                let sql = format!(
                    "DELETE FROM {table} WHERE product_id IN ({})",
                    id_list(chunk.len())
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for r in chunk {
                    query = query.bind(r.product_id);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            }
        }
        let places: Vec<(i64, &str, &str, f64, i64)> =
            results
                .iter()
                .flat_map(|r| {
                    let id = r.product_id;
                    r.report
                        .countries
                        .iter()
                        .map(move |p| (id, "country", p.place.as_str(), p.attention, p.interest))
                        .chain(r.report.regions.iter().map(move |p| {
                            (id, "region", p.place.as_str(), p.attention, p.interest)
                        }))
                })
                .collect();
        for chunk in places.chunks(64) {
            let sql = format!(
                "INSERT INTO product_places (product_id, level, place, attention, interest) VALUES {}",
                placeholders(self.backend, chunk.len(), 5)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (id, level, place, attention, interest) in chunk {
                query = query
                    .bind(*id)
                    .bind(*level)
                    .bind(*place)
                    .bind(*attention)
                    .bind(*interest);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        let platforms: Vec<(i64, &str, f64, f64)> = results
            .iter()
            .flat_map(|r| {
                let id = r.product_id;
                r.report
                    .platforms
                    .iter()
                    .map(move |p| (id, p.platform.as_str(), p.attention_7d, p.share))
            })
            .collect();
        for chunk in platforms.chunks(64) {
            let sql = format!(
                "INSERT INTO product_platforms (product_id, platform, attention_7d, share) VALUES {}",
                placeholders(self.backend, chunk.len(), 4)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (id, platform, attention, share) in chunk {
                query = query
                    .bind(*id)
                    .bind(*platform)
                    .bind(*attention)
                    .bind(*share);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        for (ad, score) in ad_scores {
            sqlx::query("UPDATE ads SET engagement_score = $1 WHERE id = $2")
                .bind(*score)
                .bind(*ad)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        self.commit(tx).await
    }

    /// The newest entry of a product's score history.
    pub async fn latest_score_record(&self, product_id: i64) -> StoreResult<ScoreRecord> {
        sqlx::query_as(
            "SELECT id, product_id, score, ad_count, calculated_at FROM trend_scores \
             WHERE product_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(product_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::classify)?
        .ok_or(StoreError::NotFound("product"))
    }

    /// The platforms' norms learned by the last full refresh.
    pub async fn platform_norms(&self) -> StoreResult<(Norms, HashMap<String, f64>)> {
        let rows: Vec<(String, f64, f64)> =
            sqlx::query_as("SELECT platform, engagement_rate, ad_growth FROM platform_norms")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::classify)?;
        let mut norms = Norms::default();
        let mut ad_growth = HashMap::new();
        for (platform, rate, growth) in rows {
            if rate > 0.0 {
                norms.by_platform.insert(platform.clone(), rate);
            }
            ad_growth.insert(platform, growth);
        }
        Ok((norms, ad_growth))
    }

    pub async fn save_platform_norms(
        &self,
        rows: &[(String, f64, f64, f64)],
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for (platform, rate, views, ad_growth) in rows {
            sqlx::query(
                "INSERT INTO platform_norms (platform, engagement_rate, views, ad_growth, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform) DO UPDATE SET \
                 engagement_rate = excluded.engagement_rate, views = excluded.views, \
                 ad_growth = excluded.ad_growth, updated_at = excluded.updated_at",
            )
            .bind(platform)
            .bind(*rate)
            .bind(*views)
            .bind(*ad_growth)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        self.commit(tx).await
    }

    /// Products whose terms changed since their history was last matched.
    pub async fn products_pending_rematch(&self) -> StoreResult<Vec<(ProductTerms, i64)>> {
        let sql = format!(
            "SELECT {}, terms_version FROM products WHERE rematch_pending = 1 ORDER BY id",
            super::products::PRODUCT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        rows.iter()
            .map(|row| {
                let p = super::products::product_from_row(row)?;
                let version: i64 = row.try_get("terms_version")?;
                Ok((p.matcher_terms(), version))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::classify)
    }

    /// Contents first seen at or after `since`, for discovery.
    pub async fn contents_since(&self, since: Millis) -> StoreResult<Vec<ContentToMatch>> {
        let rows = sqlx::query(
            "SELECT id, platform, kind, author, text, hashtags, country, url, published_at, \
             first_seen_at FROM contents WHERE first_seen_at >= $1 ORDER BY id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        rows.iter()
            .map(content_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::classify)
    }

    /// Contents with an id above `after`, in id order, `limit` at a time: the
    /// pages a re-match reads.
    pub async fn contents_page(&self, after: i64, limit: i64) -> StoreResult<Vec<ContentToMatch>> {
        let rows = sqlx::query(
            "SELECT id, platform, kind, author, text, hashtags, country, url, published_at, \
             first_seen_at FROM contents WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        rows.iter()
            .map(content_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::classify)
    }

    /// Replaces the links of re-matched products to contents with ids up to
    /// `up_to` (the contents that were read) with what their new terms find in
    /// `contents` (every one of those they match). Contents stored after the
    /// read were linked by their ingest, with the new terms, and are kept.
    pub async fn replace_links(
        &self,
        products: &[(i64, i64)],
        matcher: &Matcher,
        contents: &[ContentToMatch],
        up_to: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for chunk in products.chunks(IDS_PER_QUERY) {
            for sql in [
                "DELETE FROM content_products WHERE content_id <= $1 AND product_id IN",
                "DELETE FROM ads WHERE content_id IS NOT NULL AND content_id <= $1 AND product_id IN",
            ] {
                let ids = (2..chunk.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!("{sql} ({ids})");
                let mut query = sqlx::query(AssertSqlSafe(sql)).bind(up_to);
                for (id, _) in chunk {
                    query = query.bind(*id);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            }
        }
        link_contents(&mut tx, self.backend, matcher, contents).await?;
        self.commit(tx).await
    }

    /// Marks re-matched products done, unless their terms changed again since
    /// they were read (then they stay pending for the next pass). Called once
    /// their reports are refreshed, so "not pending" means "up to date".
    pub async fn finish_rematch(&self, products: &[(i64, i64)]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for (id, version) in products {
            sqlx::query(
                "UPDATE products SET rematch_pending = 0 WHERE id = $1 AND terms_version = $2",
            )
            .bind(*id)
            .bind(*version)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        self.commit(tx).await
    }
}
