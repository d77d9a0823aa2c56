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

/// A watch as the dashboard's watchlist lists it: its product, the product's
/// stored trend report (JSON, when it was scored) and the snooze.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WatchOverview {
    pub watch_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub snoozed_until: Option<Millis>,
    pub report: Option<String>,
}

impl Store {
    /// A user's watches with their products, in the order they were added:
    /// one query however long the list.
    pub async fn watchlist_overview(&self, user_id: i64) -> StoreResult<Vec<WatchOverview>> {
        self.watched(
            "w.id AS watch_id, p.id AS product_id, p.name AS product_name, \
             w.snoozed_until, p.report",
            user_id,
        )
        .await
    }

    /// `columns` of a user's watches joined with their products, in the order added.
    async fn watched<T>(&self, columns: &'static str, user_id: i64) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM watchlists w JOIN products p ON p.id = w.product_id \
             WHERE w.user_id = $1 ORDER BY w.id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    pub async fn watchlist(&self, user_id: i64) -> StoreResult<Vec<WatchlistEntry>> {
        sqlx::query_as(
            "SELECT id, user_id, product_id, created_at FROM watchlists WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// Adds a product to a user's watchlist; alerts start from what is true now.
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
        let state = Self::watch_snapshot(&mut tx, user_id, product_id).await?;
        let entry = sqlx::query_as(
            "INSERT INTO watchlists (user_id, product_id, created_at, rule_state) \
             VALUES ($1, $2, $3, $4) RETURNING id, user_id, product_id, created_at",
        )
        .bind(user_id)
        .bind(product_id)
        .bind(now)
        .bind(state)
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

    pub async fn watchlist_export(&self, user_id: i64) -> StoreResult<Vec<WatchlistExportRow>> {
        self.watched(
            "p.id AS product_id, p.name AS product_name, p.description, w.created_at AS added_at",
            user_id,
        )
        .await
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
