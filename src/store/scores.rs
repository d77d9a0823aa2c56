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
}

/// How many located ads one product has in one country.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegionCount {
    pub product_id: i64,
    pub product_name: String,
    pub country: String,
    pub ads: i64,
}

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
        // The product's row first: a missing product is "not found", not a foreign-key error.
        let updated = sqlx::query(
            "UPDATE products SET latest_score = $1, latest_score_at = $2 WHERE id = $3",
        )
        .bind(score)
        .bind(now)
        .bind(product_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("product"));
        }
        let record: ScoreRecord = sqlx::query_as(
            "INSERT INTO trend_scores (product_id, score, ad_count, calculated_at) \
             VALUES ($1, $2, $3, $4) RETURNING id, product_id, score, ad_count, calculated_at",
        )
        .bind(product_id)
        .bind(score)
        .bind(ad_count)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(record)
    }

    /// Products ranked by their latest score, highest first; ties go to the older product.
    pub async fn trending(&self, limit: i64) -> StoreResult<Vec<TrendingRow>> {
        let rows: Vec<(i64, String, String, Millis, f64, Millis)> = sqlx::query_as(
            "SELECT id, name, description, created_at, latest_score, latest_score_at FROM products \
             WHERE latest_score IS NOT NULL ORDER BY latest_score DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, description, created_at, score, calculated_at)| TrendingRow {
                    product: Product {
                        id,
                        name,
                        description,
                        created_at,
                    },
                    score,
                    calculated_at,
                },
            )
            .collect())
    }

    /// Per-country ad counts of the `limit` products with the most located ads.
    pub async fn country_counts_of_top_products(
        &self,
        limit: i64,
    ) -> StoreResult<Vec<RegionCount>> {
        sqlx::query_as(
            "SELECT p.id AS product_id, p.name AS product_name, c.country, c.ads \
             FROM (SELECT id, name, located_ad_count FROM products WHERE located_ad_count > 0 \
                   ORDER BY located_ad_count DESC, id LIMIT $1) p \
             JOIN product_country_ads c ON c.product_id = p.id \
             ORDER BY p.located_ad_count DESC, p.id, c.country",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }
}
