use super::{Millis, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WatchlistEntry {
    pub id: i64,
    pub user_id: i64,
    pub product_id: i64,
    pub created_at: Millis,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WatchlistExportRow {
    pub product_id: i64,
    pub product_name: String,
    pub description: String,
    pub added_at: Millis,
}

/// What one watched product did since the caller last checked: the inputs of
/// the alert rules, read in the same transaction that moves the cursors.
#[derive(Debug, Clone)]
pub struct AlertCursor {
    pub product_id: i64,
    pub product_name: String,
    /// The score the user last saw (None if there was none yet) and the latest one.
    pub seen_score: Option<f64>,
    pub latest_score: Option<f64>,
    /// Ads created since the last check: (platform, engagement score), oldest first.
    pub new_ads: Vec<(String, i64)>,
}

impl Store {
    pub async fn watchlist(&self, user_id: i64) -> StoreResult<Vec<WatchlistEntry>> {
        sqlx::query_as(
            "SELECT id, user_id, product_id, created_at FROM watchlists WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// Adds a product to a user's watchlist; alerts start from what exists now.
    pub async fn watch(
        &self,
        user_id: i64,
        product_id: i64,
        now: Millis,
    ) -> StoreResult<WatchlistEntry> {
        let mut tx = self.begin_write().await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("product"));
        }
        let entry = sqlx::query_as(
            "INSERT INTO watchlists (user_id, product_id, created_at, seen_score_id, seen_ad_id) \
             VALUES ($1, $2, $3, \
               COALESCE((SELECT MAX(id) FROM trend_scores WHERE product_id = $2), 0), \
               COALESCE((SELECT MAX(id) FROM ads WHERE product_id = $2), 0)) \
             RETURNING id, user_id, product_id, created_at",
        )
        .bind(user_id)
        .bind(product_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "watchlist entry"))?;
        self.commit(tx).await?;
        Ok(entry)
    }

    /// Removes one of the user's own entries; someone else's is "not found".
    pub async fn unwatch(&self, user_id: i64, entry_id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM watchlists WHERE id = $1 AND user_id = $2")
            .bind(entry_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("watchlist entry"));
        }
        self.commit(tx).await
    }

    /// Reads what changed on each watched product since the last check, hands it
    /// to `rules`, and moves the cursors forward in the same transaction, so a
    /// change is reported exactly once even when two checks race.
    pub async fn check_watchlist<R>(&self, user_id: i64, rules: R) -> StoreResult<Vec<String>>
    where
        R: Fn(&AlertCursor) -> Vec<String>,
    {
        let mut tx = self.begin_write().await?;
        let entries: Vec<(i64, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT w.id, w.product_id, p.name, w.seen_score_id, w.seen_ad_id \
             FROM watchlists w JOIN products p ON p.id = w.product_id \
             WHERE w.user_id = $1 ORDER BY w.id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let mut messages = Vec::new();
        for (entry_id, product_id, product_name, seen_score_id, seen_ad_id) in entries {
            let seen_score: Option<(f64,)> =
                sqlx::query_as("SELECT score FROM trend_scores WHERE id = $1")
                    .bind(seen_score_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            let latest: Option<(i64, f64)> = sqlx::query_as(
                "SELECT id, score FROM trend_scores WHERE product_id = $1 AND id > $2 \
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(product_id)
            .bind(seen_score_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            let new_ads: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT id, platform, engagement_score FROM ads WHERE product_id = $1 AND id > $2 \
                 ORDER BY id",
            )
            .bind(product_id)
            .bind(seen_ad_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            let cursor = AlertCursor {
                product_id,
                product_name,
                seen_score: seen_score.map(|s| s.0),
                latest_score: latest.map(|l| l.1),
                new_ads: new_ads.iter().map(|(_, p, s)| (p.clone(), *s)).collect(),
            };
            messages.extend(rules(&cursor));
            let next_score_id = latest.map_or(seen_score_id, |l| l.0);
            let next_ad_id = new_ads.last().map_or(seen_ad_id, |a| a.0);
            if next_score_id != seen_score_id || next_ad_id != seen_ad_id {
                sqlx::query(
                    "UPDATE watchlists SET seen_score_id = $1, seen_ad_id = $2 WHERE id = $3",
                )
                .bind(next_score_id)
                .bind(next_ad_id)
                .bind(entry_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            }
        }
        self.commit(tx).await?;
        Ok(messages)
    }

    pub async fn watchlist_export(&self, user_id: i64) -> StoreResult<Vec<WatchlistExportRow>> {
        sqlx::query_as(
            "SELECT p.id AS product_id, p.name AS product_name, p.description, w.created_at AS added_at \
             FROM watchlists w JOIN products p ON p.id = w.product_id \
             WHERE w.user_id = $1 ORDER BY w.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// Score history of the user's watched products: (product id, name, score, at).
    pub async fn trends_export(
        &self,
        user_id: i64,
    ) -> StoreResult<Vec<(i64, String, f64, Millis)>> {
        sqlx::query_as(
            "SELECT p.id, p.name, s.score, s.calculated_at \
             FROM watchlists w JOIN products p ON p.id = w.product_id \
             JOIN trend_scores s ON s.product_id = p.id \
             WHERE w.user_id = $1 ORDER BY p.id, s.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }
}
