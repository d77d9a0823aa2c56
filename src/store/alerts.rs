//! Watchlist alerts: evaluating the rules over what refreshes wrote, the
//! stored alerts with their read state, and each user's rules and snoozes.
//!
//! Evaluation is one transaction, one at a time across every instance (the
//! write lock on SQLite, an advisory lock on PostgreSQL): it reads the products
//! refreshed since the last evaluation (`products.alerts_dirty`), hands what
//! is new to `engine::alerts`, stores the alerts (an event already stored is
//! skipped by its unique key), queues their deliveries, saves the rules' state
//! and moves the cursors. A crash before the commit leaves everything to the
//! next evaluation; after it, nothing is evaluated twice.

use std::collections::HashMap;

use sqlx::AssertSqlSafe;

use super::observations::placeholders;
use super::{Backend, Millis, Store, StoreError, StoreResult};
use crate::engine::alerts::{
    AdSeen, AlertRules, Fired, Inputs, Reading, RuleState, Snapshot, evaluate, parse_countries,
};

/// Viral ads older than this are not news any more.
const VIRAL_AD_MAX_AGE_MS: i64 = 14 * 86_400_000;
/// Arbitrary constant naming the evaluation's PostgreSQL advisory lock.
const EVALUATION_LOCK: i64 = 0x4d53_414c_4552_5453; // "MSALERTS"
const ROWS_PER_STATEMENT: usize = 100;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub user_id: i64,
    pub product_id: i64,
    pub product_name: String,
    pub rule: String,
    pub message: String,
    pub value_before: Option<f64>,
    pub value_after: Option<f64>,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

/// Which of a user's alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub unread_only: bool,
    pub product_id: Option<i64>,
    /// Only alerts newer than this id (what a live stream has not sent yet).
    pub after_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// What one evaluation did.
#[derive(Debug, Default, Clone)]
pub struct Evaluation {
    pub products: usize,
    pub watches: usize,
    /// (user id, alert id) of the alerts stored.
    pub alerts: Vec<(i64, i64)>,
    /// Deliveries queued for them.
    pub deliveries: u64,
}

/// A watched product with its alert settings, for the rules page.
#[derive(Debug, Clone)]
pub struct WatchRules {
    pub watch_id: i64,
    pub product_id: i64,
    pub product_name: String,
    /// The watch's own rules, when it has some.
    pub own: Option<AlertRules>,
    /// What applies: its own, else the user's defaults.
    pub effective: AlertRules,
    pub snoozed_until: Option<Millis>,
}

#[derive(sqlx::FromRow)]
struct ReadingRow {
    product_id: i64,
    id: i64,
    calculated_at: Millis,
    score: f64,
    stage: Option<String>,
    forecast_growth: Option<f64>,
    previous: Option<f64>,
    base: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct WatchRulesRow {
    watch_id: i64,
    product_id: i64,
    product_name: String,
    own: Option<String>,
    defaults: Option<String>,
    snoozed_until: Option<Millis>,
}

type WatchRow = (
    i64,
    i64,
    i64,
    String,
    Millis,
    Option<Millis>,
    Option<String>,
    Option<String>,
    String,
);

const ALERT_COLUMNS: &str = "a.id, a.user_id, a.product_id, p.name AS product_name, a.rule, \
     a.message, a.value_before, a.value_after, a.created_at, a.read_at";

impl Store {
    /// Evaluates every watch whose product changed since the last evaluation.
    pub async fn evaluate_alerts(&self, now: Millis) -> StoreResult<Evaluation> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVALUATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            // The readings query's cost estimate triggers JIT compilation,
            // which costs more than the query itself (measured: 0.2 s of 0.5 s).
            sqlx::query("SET LOCAL jit = off")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        // Every query below starts from the dirty products (CROSS JOIN fixes
        // that order on SQLite, whose planner would otherwise scan the other table).
        let dirty: Vec<(i64, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, name, alerts_dirty, alerts_score_id, country_interest FROM products \
             WHERE alerts_dirty > 0",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if dirty.is_empty() {
            tx.rollback().await.map_err(StoreError::classify)?;
            return Ok(Evaluation::default());
        }
        let watches: Vec<WatchRow> = sqlx::query_as(
            "SELECT w.id, w.user_id, w.product_id, p.name, w.created_at, w.snoozed_until, \
                    w.rules, u.alert_rules, w.rule_state \
             FROM products p CROSS JOIN watchlists w CROSS JOIN users u \
             WHERE w.product_id = p.id AND u.id = w.user_id AND p.alerts_dirty > 0 \
             ORDER BY w.id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?;

        let rules: Vec<AlertRules> = watches
            .iter()
            .map(|w| {
                AlertRules::from_stored(w.6.as_deref())
                    .or_else(|| AlertRules::from_stored(w.7.as_deref()))
                    .unwrap_or_default()
            })
            .collect();

        // New readings of the dirty products, each with the score range of the
        // jump window before it: one query per distinct window in use.
        let mut windows: Vec<i64> = rules.iter().map(AlertRules::jump_window_ms).collect();
        windows.sort_unstable();
        windows.dedup();
        let mut readings: HashMap<(i64, i64), Vec<Reading>> = HashMap::new();
        let mut last_reading: HashMap<i64, i64> = HashMap::new();
        for window in &windows {
            let rows: Vec<ReadingRow> = sqlx::query_as(
                "SELECT s.product_id, s.id, s.calculated_at, s.score, s.stage, s.forecast_growth, \
                   (SELECT t.score FROM trend_scores t WHERE t.product_id = s.product_id \
                      AND t.id < s.id ORDER BY t.id DESC LIMIT 1) AS previous, \
                   COALESCE( \
                     (SELECT t.score FROM trend_scores t WHERE t.product_id = s.product_id \
                        AND t.calculated_at <= s.calculated_at - $1 \
                        ORDER BY t.calculated_at DESC LIMIT 1), \
                     (SELECT t.score FROM trend_scores t WHERE t.product_id = s.product_id \
                        AND t.id < s.id ORDER BY t.id LIMIT 1)) AS base \
                 FROM products p CROSS JOIN trend_scores s \
                 WHERE s.product_id = p.id AND s.id > p.alerts_score_id AND p.alerts_dirty > 0 \
                 ORDER BY s.product_id, s.id",
            )
            .bind(*window)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            for r in rows {
                last_reading
                    .entry(r.product_id)
                    .and_modify(|l| *l = (*l).max(r.id))
                    .or_insert(r.id);
                readings
                    .entry((r.product_id, *window))
                    .or_default()
                    .push(Reading {
                        id: r.id,
                        at: r.calculated_at,
                        score: r.score,
                        stage: r.stage,
                        forecast_growth: r.forecast_growth,
                        previous: r.previous,
                        base: r.base,
                    });
            }
        }

        let min_ad_score = rules
            .iter()
            .map(|r| i64::from(r.viral_ad.min_score))
            .min()
            .unwrap_or(100);
        let ad_rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT a.product_id, a.id, a.platform, a.engagement_score \
             FROM products p CROSS JOIN ads a \
             WHERE a.product_id = p.id AND p.alerts_dirty > 0 \
               AND a.engagement_score >= $1 AND a.created_at >= $2 \
             ORDER BY a.id",
        )
        .bind(min_ad_score)
        .bind(now - VIRAL_AD_MAX_AGE_MS)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let mut ads: HashMap<i64, Vec<AdSeen>> = HashMap::new();
        for (product, id, platform, score) in ad_rows {
            ads.entry(product).or_default().push(AdSeen {
                id,
                platform,
                score,
            });
        }
        // Countries below every watch's level cannot be news.
        let min_interest = rules
            .iter()
            .map(|r| i64::from(r.new_country.min_interest))
            .min()
            .unwrap_or(100);
        let places: HashMap<i64, Vec<(String, i64)>> = dirty
            .iter()
            .map(|d| {
                let text = d.4.as_deref().unwrap_or("");
                (d.0, parse_countries(text, min_interest))
            })
            .collect();

        let mut fired: Vec<(i64, i64, Fired)> = Vec::new();
        let mut changed_states: Vec<(i64, String)> = Vec::new();
        for (w, rules) in watches.iter().zip(&rules) {
            let (watch_id, user_id, product_id, name, created_at, snoozed, _, _, stored) = w;
            let all = readings
                .get(&(*product_id, rules.jump_window_ms()))
                .map_or(&[][..], Vec::as_slice);
            // Readings from before the product was watched were in its starting state.
            let from = all.partition_point(|r| r.at < *created_at);
            let mut state = RuleState::from_stored(stored);
            let before = state.clone();
            let out = evaluate(
                rules,
                &Inputs {
                    product_id: *product_id,
                    product_name: name,
                    readings: &all[from..],
                    viral_ads: ads.get(product_id).map_or(&[], Vec::as_slice),
                    countries: places.get(product_id).map_or(&[], Vec::as_slice),
                    snoozed_until: *snoozed,
                    now,
                },
                &mut state,
            );
            if state != before {
                changed_states.push((*watch_id, state.to_stored()));
            }
            fired.extend(out.into_iter().map(|f| (*user_id, *product_id, f)));
        }

        let mut evaluation = Evaluation {
            products: dirty.len(),
            watches: watches.len(),
            ..Default::default()
        };
        for chunk in fired.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO alerts (user_id, product_id, rule, event_key, message, value_before, \
                   value_after, created_at) VALUES {} \
                 ON CONFLICT (user_id, event_key) DO NOTHING RETURNING id, user_id",
                placeholders(self.backend, chunk.len(), 8)
            );
            // Not a cached statement: sqlx's `Any` binds a missing f64 as a
            // float4 NULL, and PostgreSQL would keep that type for the
            // statement, refusing the next real value (as in observations.rs).
            let mut query = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql))
                .persistent(self.backend == Backend::Sqlite);
            for (user, product, f) in chunk {
                query = query
                    .bind(*user)
                    .bind(*product)
                    .bind(f.rule)
                    .bind(&f.event_key)
                    .bind(&f.message)
                    .bind(f.value_before)
                    .bind(f.value_after)
                    .bind(now);
            }
            let mut stored = query
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            stored.sort_unstable();
            evaluation
                .alerts
                .extend(stored.into_iter().map(|(id, user)| (user, id)));
        }
        let ids: Vec<i64> = evaluation.alerts.iter().map(|(_, id)| *id).collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            evaluation.deliveries += queue_deliveries(&mut tx, chunk, now).await?;
        }
        for chunk in changed_states.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE watchlists SET rule_state = v.column2 \
                 FROM (VALUES {}) AS v WHERE watchlists.id = v.column1",
                placeholders(self.backend, chunk.len(), 2)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (watch_id, state) in chunk {
                query = query.bind(*watch_id).bind(state);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        // Subtract what was seen: a refresh committed meanwhile stays dirty.
        for chunk in dirty.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE products SET alerts_dirty = products.alerts_dirty - v.column2, \
                   alerts_score_id = v.column3 \
                 FROM (VALUES {}) AS v WHERE products.id = v.column1",
                placeholders(self.backend, chunk.len(), 3)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (id, _, seen, score_id, _) in chunk {
                query = query
                    .bind(*id)
                    .bind(*seen)
                    .bind(last_reading.get(id).copied().unwrap_or(*score_id));
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        self.commit(tx).await?;
        Ok(evaluation)
    }

    /// The starting state of a new watch: what is already true is not news.
    pub(super) async fn watch_snapshot(
        conn: &mut sqlx::AnyConnection,
        user_id: i64,
        product_id: i64,
    ) -> StoreResult<String> {
        let (user_rules,): (Option<String>,) =
            sqlx::query_as("SELECT alert_rules FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::classify)?;
        let rules = AlertRules::from_stored(user_rules.as_deref()).unwrap_or_default();
        let latest: Option<(f64, Option<String>, Option<f64>)> = sqlx::query_as(
            "SELECT score, stage, forecast_growth FROM trend_scores WHERE product_id = $1 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(product_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
        let (stage,): (Option<String>,) =
            sqlx::query_as("SELECT stage FROM products WHERE id = $1")
                .bind(product_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::classify)?;
        let countries: Vec<(String, i64)> = sqlx::query_as(
            "SELECT place, interest FROM product_places WHERE product_id = $1 AND level = 'country'",
        )
        .bind(product_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
        let viral_ads: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, platform, engagement_score FROM ads WHERE product_id = $1 \
             AND engagement_score >= $2 ORDER BY id DESC LIMIT 200",
        )
        .bind(product_id)
        .bind(i64::from(rules.viral_ad.min_score))
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
        let snapshot = Snapshot {
            score: latest.as_ref().map(|l| l.0),
            stage: latest.as_ref().and_then(|l| l.1.clone()).or(stage),
            forecast_growth: latest.and_then(|l| l.2),
            countries,
            viral_ads: viral_ads
                .into_iter()
                .map(|(id, platform, score)| AdSeen {
                    id,
                    platform,
                    score,
                })
                .collect(),
        };
        Ok(RuleState::at_watch(&rules, &snapshot).to_stored())
    }

    pub async fn alerts(&self, user_id: i64, f: &AlertFilter) -> StoreResult<Vec<AlertRow>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN products p ON p.id = a.product_id \
             WHERE a.user_id = $1 AND ($2 = 0 OR a.read_at IS NULL) \
               AND ($3 = 0 OR a.product_id = $3) AND a.id > $4 \
             ORDER BY {} LIMIT $5 OFFSET $6",
            if f.after_id.is_some() {
                "a.id"
            } else {
                "CASE WHEN a.read_at IS NULL THEN 0 ELSE 1 END, a.id DESC"
            }
        );
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(i64::from(f.unread_only))
            .bind(f.product_id.unwrap_or(0))
            .bind(f.after_id.unwrap_or(0))
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)
    }

    /// Alerts by id, for a digest (the user's own only).
    pub async fn alerts_by_id(&self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<AlertRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // Integers parsed from our own payload: nothing from input.
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN products p ON p.id = a.product_id \
             WHERE a.user_id = $1 AND a.id IN ({list}) ORDER BY a.id"
        );
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::classify)
    }

    pub async fn unread_alert_count(&self, user_id: i64) -> StoreResult<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE user_id = $1 AND read_at IS NULL")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::classify)?;
        Ok(n)
    }

    /// The newest alert id of a user (where a live stream starts).
    pub async fn last_alert_id(&self, user_id: i64) -> StoreResult<i64> {
        let (n,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM alerts WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        Ok(n.unwrap_or(0))
    }

    /// Marks one of the user's alerts read; someone else's is "not found".
    pub async fn mark_alert_read(
        &self,
        user_id: i64,
        id: i64,
        now: Millis,
    ) -> StoreResult<AlertRow> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE alerts SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("alert"));
        }
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN products p ON p.id = a.product_id WHERE a.id = $1"
        );
        let row = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Marks every unread alert of the user read; answers how many.
    pub async fn mark_all_alerts_read(&self, user_id: i64, now: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE alerts SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(done.rows_affected())
    }

    /// How the user wants alerts by email: `off`, `immediate` or `daily`.
    pub async fn email_alerts(&self, user_id: i64) -> StoreResult<String> {
        let row: Option<(String,)> = sqlx::query_as("SELECT email_alerts FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::classify)?;
        Ok(row.ok_or(StoreError::NotFound("user"))?.0)
    }

    pub async fn set_email_alerts(&self, user_id: i64, choice: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET email_alerts = $1 WHERE id = $2")
            .bind(choice)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await
    }

    /// The user's default rules (the built-in ones until they set theirs).
    pub async fn default_rules(&self, user_id: i64) -> StoreResult<AlertRules> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT alert_rules FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::classify)?;
        let (json,) = row.ok_or(StoreError::NotFound("user"))?;
        Ok(AlertRules::from_stored(json.as_deref()).unwrap_or_default())
    }

    pub async fn set_default_rules(&self, user_id: i64, rules: &AlertRules) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET alert_rules = $1 WHERE id = $2")
            .bind(serde_json::to_string(rules).expect("rules serialise"))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await
    }

    /// One of the user's watches with its rules; someone else's is "not found".
    pub async fn watch_rules(&self, user_id: i64, watch_id: i64) -> StoreResult<WatchRules> {
        let row: Option<WatchRulesRow> = sqlx::query_as(
            "SELECT w.id AS watch_id, w.product_id, p.name AS product_name, w.rules AS own, \
                   u.alert_rules AS defaults, w.snoozed_until \
                 FROM watchlists w JOIN products p ON p.id = w.product_id \
                 JOIN users u ON u.id = w.user_id WHERE w.id = $1 AND w.user_id = $2",
        )
        .bind(watch_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::classify)?;
        let WatchRulesRow {
            watch_id,
            product_id,
            product_name,
            own,
            defaults,
            snoozed_until,
        } = row.ok_or(StoreError::NotFound("watchlist entry"))?;
        let own = AlertRules::from_stored(own.as_deref());
        let effective = own
            .clone()
            .or_else(|| AlertRules::from_stored(defaults.as_deref()))
            .unwrap_or_default();
        Ok(WatchRules {
            watch_id,
            product_id,
            product_name,
            own,
            effective,
            snoozed_until,
        })
    }

    /// Sets (or with `None`, removes) a watch's own rules.
    pub async fn set_watch_rules(
        &self,
        user_id: i64,
        watch_id: i64,
        rules: Option<&AlertRules>,
    ) -> StoreResult<()> {
        let json = rules.map(|r| serde_json::to_string(r).expect("rules serialise"));
        self.update_watch(
            "UPDATE watchlists SET rules = $1 WHERE id = $2 AND user_id = $3",
            json,
            watch_id,
            user_id,
        )
        .await
    }

    /// Snoozes a watch until `until` (or with `None`, wakes it).
    pub async fn snooze_watch(
        &self,
        user_id: i64,
        watch_id: i64,
        until: Option<Millis>,
    ) -> StoreResult<()> {
        self.update_watch(
            "UPDATE watchlists SET snoozed_until = $1 WHERE id = $2 AND user_id = $3",
            until,
            watch_id,
            user_id,
        )
        .await
    }

    /// Runs `sql` (`$1` the value, `$2` the watch, `$3` its owner) in a write
    /// transaction; someone else's watch is "not found".
    async fn update_watch<T>(
        &self,
        sql: &'static str,
        value: T,
        watch_id: i64,
        user_id: i64,
    ) -> StoreResult<()>
    where
        T: sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sql)
            .bind(value)
            .bind(watch_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("watchlist entry"));
        }
        self.commit(tx).await
    }
}

/// Queues the deliveries of newly stored alerts: one per webhook of their
/// owner, and an email for owners who want them immediately. Lanes keep each
/// receiver's alerts in order.
async fn queue_deliveries(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    alert_ids: &[i64],
    now: Millis,
) -> StoreResult<u64> {
    let ids = (2..alert_ids.len() + 2)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",");
    let statements = [
        format!(
            "INSERT INTO deliveries (channel, lane, user_id, webhook_id, alert_id, next_attempt_at, created_at) \
             SELECT 'webhook', 'webhook:' || CAST(w.id AS TEXT), w.user_id, w.id, a.id, $1, $1 \
             FROM alerts a JOIN webhooks w ON w.user_id = a.user_id \
             WHERE a.id IN ({ids}) ORDER BY w.id, a.id"
        ),
        format!(
            "INSERT INTO deliveries (channel, lane, user_id, alert_id, next_attempt_at, created_at) \
             SELECT 'email', 'email:' || CAST(u.id AS TEXT), u.id, a.id, $1, $1 \
             FROM alerts a JOIN users u ON u.id = a.user_id \
             WHERE a.id IN ({ids}) AND u.email_alerts = 'immediate' ORDER BY u.id, a.id"
        ),
    ];
    let mut queued = 0;
    for sql in statements {
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for id in alert_ids {
            query = query.bind(*id);
        }
        queued += query
            .execute(&mut **tx)
            .await
            .map_err(StoreError::classify)?
            .rows_affected();
    }
    Ok(queued)
}
