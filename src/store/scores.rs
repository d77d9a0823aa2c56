use sqlx::{AssertSqlSafe, Row};

use super::{Millis, Product, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScoreRecord {
    pub id: i64,
    pub product_id: i64,
    pub score: f64,
    pub ad_count: i64,
    pub calculated_at: Millis,
}

#[derive(Debug, Clone)]
pub struct TrendingRow {
    pub product: Product,
    pub score: f64,
    pub calculated_at: Millis,
    pub stage: Option<String>,
    pub change_7d: Option<f64>,
}

/// A recorded score of product `$1` (`$2`, ad count `$3`) at `$4`, change
/// number `$5`, with the scores alert evaluation reads along.
static INSERT_SCORE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO trend_scores \
           (product_id, score, ad_count, calculated_at, stage, alerts_seq, previous_score, \
            base_score) \
         VALUES ($1, $2, $3, $4, (SELECT stage FROM products WHERE id = $1), $5, {}) \
         RETURNING id, product_id, score, ad_count, calculated_at",
        super::alerts::reading_context("$1", "$4")
    )
});

impl Store {
    /// Records a score in the product's history and makes it the product's current score.
    pub async fn record_score(
        &self,
        product_id: i64,
        score: f64,
        ad_count: i64,
        now: Millis,
    ) -> StoreResult<ScoreRecord> {
        let mut tx = self.begin_write().await?;
        let change = super::alerts::next_change(self.backend, &mut tx).await?;
        // The product's row first: a missing product is "not found", not a foreign-key error.
        let updated = sqlx::query(
            "UPDATE products SET latest_score = $1, latest_score_at = $2, alerts_seq = $4 \
             WHERE id = $3",
        )
        .bind(score)
        .bind(now)
        .bind(product_id)
        .bind(change)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("product"));
        }
        let record: ScoreRecord = sqlx::query_as(AssertSqlSafe(INSERT_SCORE.as_str()))
            .bind(product_id)
            .bind(score)
            .bind(ad_count)
            .bind(now)
            .bind(change)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(record)
    }

    /// Products ranked by their latest score, highest first (ties go to the
    /// older product), narrowed by the filters given.
    pub async fn trending(&self, f: &TrendingFilter<'_>) -> StoreResult<Vec<TrendingRow>> {
        let mut sql = format!(
            "SELECT {}, latest_score, latest_score_at, stage, change_7d FROM products p \
             WHERE latest_score > 0",
            super::products::PRODUCT_COLUMNS
                .split(", ")
                .map(|c| format!("p.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.stage.is_some() {
            sql += &format!(" AND p.stage = {}", next());
        }
        if f.active_since.is_some() {
            sql += &format!(" AND p.active_at >= {}", next());
        }
        if f.platform.is_some() {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM product_platforms pp WHERE pp.product_id = p.id \
                 AND pp.platform = {} AND pp.attention_7d > 0)",
                next()
            );
        }
        if f.region.is_some() {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM product_places pl WHERE pl.product_id = p.id \
                 AND pl.level = 'region' AND pl.place = {} AND pl.interest > 0)",
                next()
            );
        }
        sql += &format!(" ORDER BY p.latest_score DESC, p.id LIMIT {}", next());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(stage) = f.stage {
            query = query.bind(stage);
        }
        if let Some(since) = f.active_since {
            query = query.bind(since);
        }
        if let Some(platform) = f.platform {
            query = query.bind(platform);
        }
        if let Some(region) = f.region {
            query = query.bind(region);
        }
        let rows = query
            .bind(f.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        rows.iter()
            .map(|row| {
                Ok(TrendingRow {
                    product: super::products::product_from_row(row)?,
                    score: row.try_get("latest_score")?,
                    calculated_at: row.try_get("latest_score_at")?,
                    stage: row.try_get("stage")?,
                    change_7d: row.try_get("change_7d")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::classify)
    }

    /// Interest by place (a region or a country), 0-100 relative to each
    /// product's hottest place: of one product, or of the `limit` products
    /// with the highest scores that have any.
    pub async fn places(
        &self,
        level: &str,
        product: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<PlaceRow>> {
        let chosen = if product.is_some() {
            "SELECT id, name, latest_score FROM products WHERE id = $2"
        } else {
            "SELECT id, name, latest_score FROM products p WHERE EXISTS \
             (SELECT 1 FROM product_places x WHERE x.product_id = p.id) \
             ORDER BY COALESCE(latest_score, -1) DESC, id LIMIT $2"
        };
        let sql = format!(
            "SELECT p.id AS product_id, p.name AS product_name, pl.place, pl.interest \
             FROM ({chosen}) p JOIN product_places pl ON pl.product_id = p.id AND pl.level = $1 \
             ORDER BY COALESCE(p.latest_score, -1) DESC, p.id, pl.place"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(level)
            .bind(product.unwrap_or(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)
    }

    /// A product's stored trend report, read with its re-match flag in one
    /// statement: a re-match clears the flag only once it has rewritten the
    /// report, so the two always agree.
    pub async fn trend_report(&self, product_id: i64) -> StoreResult<StoredTrend> {
        let row: Option<(Option<String>, Option<Millis>, i64)> =
            sqlx::query_as("SELECT report, report_at, rematch_pending FROM products WHERE id = $1")
                .bind(product_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::classify)?;
        let (report, at, pending) = row.ok_or(StoreError::NotFound("product"))?;
        Ok(StoredTrend {
            report: report.zip(at),
            rematch_pending: pending != 0,
        })
    }
}

/// A product's trend report as stored by the last refresh.
#[derive(Debug, Clone)]
pub struct StoredTrend {
    /// The report (JSON) and when it was written; none before the first refresh.
    pub report: Option<(String, Millis)>,
    /// Whether the product's history still waits to be matched against new
    /// terms (the report is then about to change).
    pub rematch_pending: bool,
}

/// What `/trending` can be narrowed by.
#[derive(Debug, Default)]
pub struct TrendingFilter<'a> {
    pub limit: i64,
    pub stage: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub region: Option<&'a str>,
    /// Only products with attention on or after this time.
    pub active_since: Option<Millis>,
}

/// One product's interest in one place.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlaceRow {
    pub product_id: i64,
    pub product_name: String,
    pub place: String,
    pub interest: i64,
}
