use super::{Millis, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ad {
    pub id: i64,
    pub product_id: i64,
    pub platform: String,
    pub ad_content: String,
    pub country: Option<String>,
    pub engagement_score: i64,
    pub created_at: Millis,
}

pub struct NewAd<'a> {
    pub product_id: i64,
    pub platform: &'a str,
    pub ad_content: &'a str,
    pub country: Option<&'a str>,
    pub engagement_score: i64,
    pub now: Millis,
}

/// An ad joined with the name of its product, for the viral-ad scan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ViralAdRow {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub platform: String,
    pub ad_content: String,
    pub country: Option<String>,
    pub engagement_score: i64,
    pub created_at: Millis,
}

impl Store {
    pub async fn create_ad(&self, new: NewAd<'_>) -> StoreResult<Ad> {
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM products WHERE id = $1")
            .bind(new.product_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("product"));
        }
        let ad = sqlx::query_as(
            "INSERT INTO ads (product_id, platform, ad_content, country, engagement_score, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, product_id, platform, ad_content, country, engagement_score, created_at",
        )
        .bind(new.product_id)
        .bind(new.platform)
        .bind(new.ad_content)
        .bind(new.country)
        .bind(new.engagement_score)
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let located = i64::from(new.country.is_some());
        sqlx::query(
            "UPDATE products SET ad_count = ad_count + 1, located_ad_count = located_ad_count + $2 \
             WHERE id = $1",
        )
        .bind(new.product_id)
        .bind(located)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if let Some(country) = new.country {
            sqlx::query(
                "INSERT INTO product_country_ads (product_id, country, ads) VALUES ($1, $2, 1) \
                 ON CONFLICT (product_id, country) DO UPDATE SET ads = product_country_ads.ads + 1",
            )
            .bind(new.product_id)
            .bind(country)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        self.commit(tx).await?;
        Ok(ad)
    }

    pub async fn list_ads(&self, skip: i64, limit: i64) -> StoreResult<Vec<Ad>> {
        sqlx::query_as(
            "SELECT id, product_id, platform, ad_content, country, engagement_score, created_at \
             FROM ads ORDER BY id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// A product's `limit` most viral ads (newest first among equals), and
    /// how many it has in all.
    pub async fn ads_for_product(
        &self,
        product_id: i64,
        limit: i64,
    ) -> StoreResult<(Vec<Ad>, i64)> {
        let ads = sqlx::query_as(
            "SELECT id, product_id, platform, ad_content, country, engagement_score, created_at \
             FROM ads WHERE product_id = $1 \
             ORDER BY engagement_score DESC, created_at DESC, id DESC LIMIT $2",
        )
        .bind(product_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ads WHERE product_id = $1")
            .bind(product_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        Ok((ads, total))
    }

    /// The highest-scoring ads matching `f`, best first, newest first among equals.
    pub async fn top_ads(&self, f: &AdFilter<'_>) -> StoreResult<Vec<ViralAdRow>> {
        let mut sql = String::from(
            "SELECT a.id, a.product_id, p.name AS product_name, a.platform, a.ad_content, \
             a.country, a.engagement_score, a.created_at \
             FROM ads a JOIN products p ON p.id = a.product_id WHERE a.engagement_score >= $1",
        );
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.platform.is_some() {
            sql += &format!(" AND a.platform = {}", next());
        }
        if f.country.is_some() {
            sql += &format!(" AND a.country = {}", next());
        }
        if f.since.is_some() {
            sql += &format!(" AND a.created_at >= {}", next());
        }
        sql += &format!(
            " ORDER BY a.engagement_score DESC, a.id DESC LIMIT {}",
            next()
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(f.min_score);
        if let Some(p) = f.platform {
            query = query.bind(p);
        }
        if let Some(c) = f.country {
            query = query.bind(c);
        }
        if let Some(t) = f.since {
            query = query.bind(t);
        }
        query
            .bind(f.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)
    }
}

/// What `/scan-ads` narrows ads by.
#[derive(Debug, Default)]
pub struct AdFilter<'a> {
    pub min_score: i64,
    pub limit: i64,
    /// The brief's platform name (`TikTok`, `Twitter`...).
    pub platform: Option<&'a str>,
    pub country: Option<&'a str>,
    /// Only ads first seen at or after this time.
    pub since: Option<Millis>,
}
