//! Webhooks and the delivery outbox.
//!
//! A delivery belongs to a lane (one webhook, or one user's mailbox) and a
//! lane is sent in id order: a worker leases the first pending deliveries of
//! a lane, sends them one after the other, and writes the outcomes. While the
//! lease holds, no other worker (in this process or another instance) takes
//! them; if the worker dies, the lease lapses and another one resends.

use sqlx::AssertSqlSafe;

use super::{Millis, Store, StoreError, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    pub format: String,
    pub created_at: Millis,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub alert_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A leased delivery with everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub channel: String,
    pub lane: String,
    pub user_id: i64,
    pub attempts: i64,
    pub payload: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_format: Option<String>,
    pub webhook_secret: Option<String>,
    pub user_email: String,
    pub unsubscribe_token: Option<String>,
    pub alert_id: Option<i64>,
    pub product_id: Option<i64>,
    pub product_name: Option<String>,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub value_before: Option<f64>,
    pub value_after: Option<f64>,
    pub alert_created_at: Option<Millis>,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered {
        status: Option<i64>,
    },
    /// Try again at `retry_at`, or give up when `None`.
    Failed {
        status: Option<i64>,
        error: String,
        retry_at: Option<Millis>,
    },
    /// Not attempted (an earlier delivery of its lane failed): back to the queue as it was.
    Released,
}

const DELIVERY_COLUMNS: &str = "id, alert_id, status, attempts, next_attempt_at, last_status, \
     last_error, created_at, delivered_at";

impl Store {
    pub async fn create_webhook(
        &self,
        user_id: i64,
        url: &str,
        format: &str,
        secret: &str,
        now: Millis,
    ) -> StoreResult<WebhookRow> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as(
            "INSERT INTO webhooks (user_id, url, format, secret, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, user_id, url, format, created_at, 0 AS pending, 0 AS failed",
        )
        .bind(user_id)
        .bind(url)
        .bind(format)
        .bind(secret)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(row)
    }

    pub async fn webhooks(&self, user_id: i64) -> StoreResult<Vec<WebhookRow>> {
        self.webhooks_where(user_id, None).await
    }

    /// One of the user's webhooks; someone else's is "not found".
    pub async fn webhook(&self, user_id: i64, id: i64) -> StoreResult<WebhookRow> {
        self.webhooks_where(user_id, Some(id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound("webhook"))
    }

    async fn webhooks_where(&self, user_id: i64, id: Option<i64>) -> StoreResult<Vec<WebhookRow>> {
        sqlx::query_as(
            "SELECT w.id, w.user_id, w.url, w.format, w.created_at, \
               (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending, \
               (SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed \
             FROM webhooks w WHERE w.user_id = $1 AND ($2 = 0 OR w.id = $2) ORDER BY w.id",
        )
        .bind(user_id)
        .bind(id.unwrap_or(0))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::classify)
    }

    /// Removes a webhook with its queued deliveries.
    pub async fn delete_webhook(&self, user_id: i64, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM deliveries WHERE webhook_id = $1 \
             AND webhook_id IN (SELECT id FROM webhooks WHERE user_id = $2)",
        )
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("webhook"));
        }
        self.commit(tx).await
    }

    /// Queues a test event to one of the user's webhooks (after what is already queued).
    pub async fn queue_test_delivery(
        &self,
        user_id: i64,
        webhook_id: i64,
        now: Millis,
    ) -> StoreResult<DeliveryRow> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO deliveries (channel, lane, user_id, webhook_id, next_attempt_at, created_at) \
             SELECT 'webhook', 'webhook:' || CAST(id AS TEXT), user_id, id, $1, $1 FROM webhooks \
             WHERE id = $2 AND user_id = $3 RETURNING {DELIVERY_COLUMNS}"
        );
        let row: Option<DeliveryRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(now)
            .bind(webhook_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        let row = row.ok_or(StoreError::NotFound("webhook"))?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// A webhook's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        user_id: i64,
        webhook_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRow>> {
        self.webhook(user_id, webhook_id).await?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
        );
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)
    }

    /// Leases the first due deliveries of up to `lanes` lanes (at most
    /// `per_lane` each, in order) until `now + lease_ms`. A lane whose first
    /// pending delivery waits for a retry, or is leased elsewhere, is skipped
    /// whole: nothing overtakes it.
    pub async fn claim_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        lanes: i64,
        per_lane: i64,
    ) -> StoreResult<Vec<Vec<Claimed>>> {
        let mut tx = self.begin_write().await?;
        let heads: Vec<(String,)> = sqlx::query_as(
            "SELECT d.lane FROM deliveries d JOIN \
               (SELECT lane, MIN(id) AS head FROM deliveries WHERE status = 'pending' GROUP BY lane) h \
               ON d.id = h.head \
             WHERE d.next_attempt_at <= $1 AND d.lease_until <= $1 ORDER BY d.id LIMIT $2",
        )
        .bind(now)
        .bind(lanes)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let mut claimed = Vec::with_capacity(heads.len());
        for (lane,) in heads {
            // Leases the lane's first rows that are due, stopping at the first
            // that is not (a retry keeps its place in the order). The outer
            // conditions are checked again on PostgreSQL when another instance
            // changed a row meanwhile: `status` there keeps a delivery that was
            // just sent (its lease released) from being taken again.
            let leased: Vec<(i64,)> = sqlx::query_as(
                "UPDATE deliveries SET lease_until = $1 WHERE id IN ( \
                   SELECT id FROM deliveries WHERE lane = $2 AND status = 'pending' \
                     AND id < COALESCE((SELECT MIN(id) FROM deliveries WHERE lane = $2 \
                       AND status = 'pending' AND (next_attempt_at > $3 OR lease_until > $3)), $5) \
                   ORDER BY id LIMIT $4) \
                 AND status = 'pending' AND lease_until <= $3 RETURNING id",
            )
            .bind(now + lease_ms)
            .bind(&lane)
            .bind(now)
            .bind(per_lane)
            .bind(i64::MAX)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            if leased.is_empty() {
                continue;
            }
            let ids = leased
                .iter()
                .map(|(id,)| id.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "SELECT d.id, d.channel, d.lane, d.user_id, d.attempts, d.payload, \
                   w.url AS webhook_url, w.format AS webhook_format, w.secret AS webhook_secret, \
                   u.email AS user_email, u.unsubscribe_token, \
                   a.id AS alert_id, a.product_id, p.name AS product_name, a.rule, a.message, \
                   a.value_before, a.value_after, a.created_at AS alert_created_at \
                 FROM deliveries d JOIN users u ON u.id = d.user_id \
                 LEFT JOIN webhooks w ON w.id = d.webhook_id \
                 LEFT JOIN alerts a ON a.id = d.alert_id \
                 LEFT JOIN products p ON p.id = a.product_id \
                 WHERE d.id IN ({ids}) ORDER BY d.id"
            );
            // The ids come from the database as integers: nothing from input.
            let rows: Vec<Claimed> = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            claimed.push(rows);
        }
        tx.commit().await.map_err(StoreError::classify)?;
        Ok(claimed)
    }

    /// Writes the outcomes of a batch of attempts in one transaction.
    pub async fn finish_deliveries(
        &self,
        outcomes: &[(i64, Outcome)],
        now: Millis,
    ) -> StoreResult<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (id, outcome) in outcomes {
            let query = match outcome {
                Outcome::Delivered { status } => sqlx::query(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, \
                     last_status = $1, last_error = NULL, delivered_at = $2, lease_until = 0 \
                     WHERE id = $3",
                )
                .bind(*status)
                .bind(now)
                .bind(*id),
                Outcome::Failed {
                    status,
                    error,
                    retry_at,
                } => sqlx::query(
                    "UPDATE deliveries SET status = $1, attempts = attempts + 1, last_status = $2, \
                     last_error = $3, next_attempt_at = $4, lease_until = 0 WHERE id = $5",
                )
                .bind(if retry_at.is_some() {
                    "pending"
                } else {
                    "failed"
                })
                .bind(*status)
                .bind(error.chars().take(500).collect::<String>())
                .bind(retry_at.unwrap_or(now))
                .bind(*id),
                Outcome::Released => {
                    sqlx::query("UPDATE deliveries SET lease_until = 0 WHERE id = $1").bind(*id)
                }
            };
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        // Outcomes are invisible to readers of the app's data: no version bump.
        tx.commit().await.map_err(StoreError::classify)?;
        Ok(())
    }

    /// When the next queued delivery is due (to sleep until then).
    pub async fn next_delivery_at(&self) -> StoreResult<Option<Millis>> {
        let (at,): (Option<Millis>,) = sqlx::query_as(
            "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END) \
             FROM deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        Ok(at)
    }

    /// Queues the daily digests due on `day` (days since the epoch): for every
    /// user who wants one and has not had today's, their alerts not yet in a
    /// digest go into one email. Users with nothing new get no email.
    pub async fn queue_digests(&self, day: i64, now: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let users: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE email_alerts = 'daily' AND digest_day < $1")
                .bind(day)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        let mut queued = 0;
        for (user,) in users {
            // Claimed by its day: another instance queueing the same digests
            // waits on this row, then finds the day taken and moves on.
            let claimed =
                sqlx::query("UPDATE users SET digest_day = $1 WHERE id = $2 AND digest_day < $1")
                    .bind(day)
                    .bind(user)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let alerts: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM alerts WHERE user_id = $1 AND digested = 0 ORDER BY id LIMIT 500",
            )
            .bind(user)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            if let Some((last,)) = alerts.last() {
                let ids: Vec<i64> = alerts.iter().map(|(id,)| *id).collect();
                let payload = serde_json::json!({ "day": day, "alerts": ids }).to_string();
                sqlx::query(
                    "INSERT INTO deliveries (channel, lane, user_id, payload, next_attempt_at, created_at) \
                     VALUES ('digest', 'email:' || CAST($1 AS TEXT), $1, $2, $3, $3)",
                )
                .bind(user)
                .bind(payload)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
                sqlx::query(
                    "UPDATE alerts SET digested = 1 WHERE user_id = $1 AND digested = 0 AND id <= $2",
                )
                .bind(user)
                .bind(*last)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
                queued += 1;
            }
        }
        self.commit(tx).await?;
        Ok(queued)
    }

    /// The user's unsubscribe token, made on first use.
    pub async fn unsubscribe_token(&self, user_id: i64) -> StoreResult<String> {
        let mut tx = self.begin_write().await?;
        let token = hex::encode(rand::random::<[u8; 24]>());
        sqlx::query(
            "UPDATE users SET unsubscribe_token = $1 WHERE id = $2 AND unsubscribe_token IS NULL",
        )
        .bind(&token)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let (token,): (Option<String>,) =
            sqlx::query_as("SELECT unsubscribe_token FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        token.ok_or(StoreError::NotFound("user"))
    }

    /// Turns alert emails off for the holder of an unsubscribe link; answers
    /// the address it was for.
    pub async fn unsubscribe(&self, token: &str) -> StoreResult<String> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE users SET email_alerts = 'off' WHERE unsubscribe_token = $1 RETURNING email",
        )
        .bind(token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let (email,) = row.ok_or(StoreError::NotFound("unsubscribe link"))?;
        self.commit(tx).await?;
        Ok(email)
    }
}
