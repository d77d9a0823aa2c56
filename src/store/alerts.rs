//! Watchlist alerts: evaluating the rules over what refreshes wrote, the
//! stored alerts with their read state, and each user's rules and snoozes.
//!
//! Evaluation is one transaction, one at a time across every instance (the
//! write lock on SQLite, an advisory lock on PostgreSQL): it reads the watches
//! of the products changed since the last evaluation (writes stamp products
//! and readings with a change number, `alerts_seq`: see [`next_change`]),
//! hands what is new to `engine::alerts`, stores the alerts (an event already
//! stored is skipped by its unique key), queues their deliveries, saves the
//! rules' state and moves one cursor (`alert_cursor`). A crash before the
//! commit leaves everything to the next evaluation; after it, nothing is
//! evaluated twice.

use std::collections::HashMap;

use sqlx::AssertSqlSafe;

use super::direct::Direct;
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
    /// Changed products that someone watches, and their watches.
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

/// A watch of a product changed since the last evaluation, with one of the
/// product's new readings (if any) and its recent viral ads.
#[derive(sqlx::FromRow)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ChangedRow {
    product_id: i64,
    name: String,
    countries: Option<String>,
    watch_id: i64,
    user_id: i64,
    created_at: Millis,
    snoozed_until: Option<Millis>,
    rules: Option<String>,
    state: String,
    reading_id: Option<i64>,
    calculated_at: Option<Millis>,
    score: Option<f64>,
    stage: Option<String>,
    forecast_growth: Option<f64>,
    previous: Option<f64>,
    base: Option<f64>,
    /// `id:score:platform` of each recent viral ad, one a line (platforms
    /// are single-line names: `api::ads` and the connectors check them).
    ads: Option<String>,
}

impl ChangedRow {
    /// A row of [`CHANGED_WATCHES`] read by `direct::Reader`.
    fn from_direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            product_id: row.get(0)?,
            name: row.get(1)?,
            countries: row.get(2)?,
            watch_id: row.get(3)?,
            user_id: row.get(4)?,
            created_at: row.get(5)?,
            snoozed_until: row.get(6)?,
            rules: row.get(7)?,
            state: row.get(8)?,
            reading_id: row.get(9)?,
            calculated_at: row.get(10)?,
            score: row.get(11)?,
            stage: row.get(12)?,
            forecast_growth: row.get(13)?,
            previous: row.get(14)?,
            base: row.get(15)?,
            ads: row.get(16)?,
        })
    }

    fn reading(&self) -> Option<Reading> {
        Some(Reading {
            id: self.reading_id?,
            at: self.calculated_at?,
            score: self.score?,
            stage: self.stage.clone(),
            forecast_growth: self.forecast_growth,
            previous: self.previous,
            base: self.base,
        })
    }
}

/// The columns of [`CHANGED_WATCHES`] and [`CHANGED_WATCHES_BULK`], in
/// [`ChangedRow`]'s order but for `ads`, which each query adds its own way.
macro_rules! changed_columns {
    () => {
        "SELECT p.id AS product_id, p.name, p.country_interest AS countries, \
            w.id AS watch_id, w.user_id, w.created_at, w.snoozed_until, w.rules, \
            w.rule_state AS state, \
            s.id AS reading_id, s.calculated_at, s.score, s.stage, s.forecast_growth, \
            s.previous_score AS previous, s.base_score AS base, "
    };
}

/// The aggregate of a product's recent viral ads into `id:score:platform`
/// lines (see [`ChangedRow::ads`]).
macro_rules! ads_text {
    () => {
        "string_agg(a.id || ':' || a.engagement_score || ':' || a.platform, '\n')"
    };
}

/// [`CHANGED_WATCHES`] with `$readings`, the condition that finds the
/// product's readings numbered after `$1` up to `$2`.
macro_rules! changed_watches {
    ($readings:literal) => {
        concat!(
            changed_columns!(),
            "(SELECT ",
            ads_text!(),
            " FROM ads a WHERE a.product_id = p.id \
               AND a.engagement_score >= $3 AND a.created_at >= $4) AS ads \
             FROM products p CROSS JOIN watchlists w \
             LEFT JOIN trend_scores s ON s.product_id = p.id AND ",
            $readings,
            " WHERE w.product_id = p.id AND p.alerts_seq > $1 AND p.alerts_seq <= $2"
        )
    };
}

/// One row per watch of a changed product and new reading (or one row with no
/// reading): the product, the watch, the reading with the scores written with
/// it (the previous one, the one a default jump window earlier), and the
/// product's recent viral ads as one text. `$1`, `$2`: the change numbers
/// after and up to which to look; `$3`: the lowest viral ad score any rule
/// uses; `$4`: the oldest ad still news. CROSS JOIN keeps SQLite starting
/// from the changed products. Columns in [`ChangedRow`]'s order; rows in no
/// order (SQLite's sort of 10,000 wide rows costs a quarter of the read, Rust's
/// of the structs nothing).
const CHANGED_WATCHES: &str = changed_watches!("s.alerts_seq > $1 AND s.alerts_seq <= $2");

/// [`CHANGED_WATCHES`] for PostgreSQL, a product's readings found by row
/// comparisons, which only the index on `(product_id, alerts_seq)` can
/// serve: the statistics never know the newest change number, so the planner
/// expects one new reading and, given a plain range, looks it up in
/// `trend_scores_seq_idx` inside the loop over products, reading every new
/// reading once per product (16 s for 10,000). SQLite needs no such help, and
/// reads row comparisons a third slower.
const CHANGED_WATCHES_POSTGRES: &str = changed_watches!(
    "(s.product_id, s.alerts_seq) > (p.id, $1) AND (s.product_id, s.alerts_seq) <= (p.id, $2)"
);

/// [`CHANGED_WATCHES`] when most products changed (a full refresh), for
/// PostgreSQL read with hash joins: the ads are grouped in one pass over the
/// recent viral ones instead of looked up product by product, and readings
/// found by their change number (`trend_scores_seq_idx`).
const CHANGED_WATCHES_BULK: &str = concat!(
    changed_columns!(),
    "v.ads \
     FROM products p JOIN watchlists w ON w.product_id = p.id \
     LEFT JOIN trend_scores s ON s.product_id = p.id \
       AND s.alerts_seq > $1 AND s.alerts_seq <= $2 \
     LEFT JOIN (SELECT a.product_id, ",
    ads_text!(),
    " AS ads FROM ads a \
         WHERE a.engagement_score >= $3 AND a.created_at >= $4 GROUP BY a.product_id) v \
       ON v.product_id = p.id \
     WHERE p.alerts_seq > $1 AND p.alerts_seq <= $2"
);

/// A PostgreSQL evaluation reads with [`CHANGED_WATCHES_BULK`] from this many
/// changed products, and when they are at least a third of all products.
const BULK_FROM: i64 = 1_000;

/// Whether the products changed in `after..=until` are many, and most of
/// the catalogue as PostgreSQL's statistics count it (see [`BULK_FROM`]).
async fn most_products_changed(
    conn: &mut sqlx::PgConnection,
    after: i64,
    until: i64,
) -> StoreResult<bool> {
    let (changed, all): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM products WHERE alerts_seq > $1 AND alerts_seq <= $2), \
           (SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = 'products'::regclass)",
    )
    .bind(after)
    .bind(until)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    // `all` is -1 before the table was ever analysed.
    Ok(changed >= BULK_FROM && changed * 3 >= all)
}

/// [`CHANGED_WATCHES_POSTGRES`] through the typed driver, or its `bulk`
/// form ([`CHANGED_WATCHES_BULK`]) when most products changed. In a
/// transaction of its own: its settings end with it.
async fn changed_watches_postgres(
    conn: &mut sqlx::PgConnection,
    bulk: bool,
    after: i64,
    until: i64,
    min_ad_score: i64,
    ads_since: Millis,
) -> StoreResult<Vec<ChangedRow>> {
    // The query's cost estimate triggers JIT compilation, which costs more
    // than the query itself (measured: 0.2 s of 0.5 s).
    let settings = if bulk {
        // Every new change number lies past the planner's statistics, so it
        // expects one changed product and plans index lookups row by row:
        // for 10,000 that is twice the hash joins' time.
        "SET LOCAL jit = off; SET LOCAL enable_nestloop = off"
    } else {
        "SET LOCAL jit = off"
    };
    sqlx::raw_sql(settings)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::classify)?;
    sqlx::query_as(if bulk {
        CHANGED_WATCHES_BULK
    } else {
        CHANGED_WATCHES_POSTGRES
    })
    .bind(after)
    .bind(until)
    .bind(min_ad_score)
    .bind(ads_since)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::classify)
}

/// SQL for the new readings (numbered after `$2` up to `$3`) of `products`
/// products (`$4` on), each with its previous score and its score one `$1`
/// earlier, ordered by product and reading.
fn new_readings_sql(backend: Backend, products: usize) -> String {
    // Numbered for both backends: sqlx numbers SQLite's bare `?` on its
    // own, apart from `?NNN`, so the two cannot be mixed.
    let ids = (4..4 + products).map(|i| format!("${i}"));
    let from = match backend {
        // Row comparisons, as in [`CHANGED_WATCHES_POSTGRES`]: given a plain
        // range, PostgreSQL reads every new reading in `trend_scores_seq_idx`
        // for each statement (2 ms for 100 products after a refresh of 10,000,
        // against 0.8 ms this way; and growing with the refresh).
        Backend::Postgres => format!(
            "(VALUES {}) AS p JOIN trend_scores s ON s.product_id = p.column1 \
               AND (s.product_id, s.alerts_seq) > (p.column1, $2) \
               AND (s.product_id, s.alerts_seq) <= (p.column1, $3)",
            ids.map(|id| format!("({id})"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Backend::Sqlite => format!(
            "trend_scores s WHERE s.alerts_seq > $2 AND s.alerts_seq <= $3 \
               AND s.product_id IN ({})",
            ids.collect::<Vec<_>>().join(",")
        ),
    };
    format!(
        "SELECT s.product_id, s.id, s.calculated_at, s.score, s.stage, s.forecast_growth, \
           s.previous_score AS previous, {} AS base \
         FROM {from} ORDER BY s.product_id, s.id",
        score_a_window_before("s.product_id", "s.calculated_at", "$1", "AND t.id < s.id")
    )
}

/// A watch's new rule state, as the states' update reads it from one JSON
/// array bound as `$1`.
#[derive(serde::Serialize)]
struct StateRow<'a> {
    id: i64,
    state: &'a str,
}

const SAVE_STATES_POSTGRES: &str = "UPDATE watchlists SET rule_state = v.state \
     FROM json_to_recordset(CAST($1 AS json)) AS v(id BIGINT, state TEXT) \
     WHERE watchlists.id = v.id";
const SAVE_STATES_SQLITE: &str = "UPDATE watchlists SET rule_state = v.value ->> 'state' \
     FROM json_each($1) AS v WHERE watchlists.id = v.value ->> 'id'";

/// The ads of [`ChangedRow::ads`], oldest first.
fn parse_ads(text: &str) -> Vec<AdSeen> {
    let mut ads: Vec<AdSeen> = text
        .split('\n')
        .filter_map(|ad| {
            let mut parts = ad.splitn(3, ':');
            Some(AdSeen {
                id: parts.next()?.parse().ok()?,
                score: parts.next()?.parse().ok()?,
                platform: parts.next()?.to_owned(),
            })
        })
        .collect();
    ads.sort_unstable_by_key(|a| a.id);
    ads
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

const ALERT_COLUMNS: &str = "a.id, a.user_id, a.product_id, p.name AS product_name, a.rule, \
     a.message, a.value_before, a.value_after, a.created_at, a.read_at";

/// SQL for the two scores a new reading of product `product` at time `at`
/// (SQL expressions, placeholders say) carries along: the product's latest
/// score before it, and its score one default jump window earlier (its
/// first score when it is younger than that). Evaluation reads them from the
/// reading instead of searching the history once per reading.
pub(super) fn reading_context(product: &str, at: &str) -> String {
    let window = AlertRules::default().jump_window_ms().to_string();
    format!(
        "(SELECT t.score FROM trend_scores t WHERE t.product_id = {product} \
            ORDER BY t.id DESC LIMIT 1), {}",
        score_a_window_before(product, at, &window, "")
    )
}

/// SQL for the score of product `product` one `window` before `at` (SQL
/// expressions all), or its first score (`first_filter` narrows which
/// scores count) when it is younger than that: what the jump rule compares with.
fn score_a_window_before(product: &str, at: &str, window: &str, first_filter: &str) -> String {
    format!(
        "COALESCE( \
           (SELECT t.score FROM trend_scores t WHERE t.product_id = {product} \
              AND t.calculated_at <= {at} - {window} ORDER BY t.calculated_at DESC LIMIT 1), \
           (SELECT t.score FROM trend_scores t WHERE t.product_id = {product} {first_filter} \
              ORDER BY t.id LIMIT 1))"
    )
}

/// The number a write stamps on the products and readings it changes
/// (`alerts_seq`), for the next evaluation to find them. Call it first thing
/// in the write's transaction.
///
/// On SQLite writes are serialised, so numbers are committed in order. On
/// PostgreSQL writers take the evaluation's lock shared, and an evaluation
/// takes it exclusively: it waits for the writes in flight, and writes
/// starting meanwhile wait for it, so a number it has passed is never
/// committed later. Two concurrent writes may share a number.
pub(super) async fn next_change(
    backend: Backend,
    tx: &mut sqlx::AnyConnection,
) -> StoreResult<i64> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(EVALUATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
    }
    let (next,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(alerts_seq), 0) + 1 FROM products")
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
    Ok(next)
}

impl Store {
    /// Evaluates every watch whose product changed since the last evaluation.
    pub async fn evaluate_alerts(&self, now: Millis) -> StoreResult<Evaluation> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Exclusive: writers stamping changes hold it shared (`next_change`),
            // so every change numbered up to `until` below is committed.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVALUATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        let (after, until): (i64, i64) = sqlx::query_as(
            "SELECT c.seq, (SELECT COALESCE(MAX(alerts_seq), 0) FROM products) \
             FROM alert_cursor c WHERE c.id = 1",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if until <= after {
            tx.rollback().await.map_err(StoreError::classify)?;
            return Ok(Evaluation::default());
        }
        // Users who changed their defaults are few: each is parsed once.
        let user_rules: HashMap<i64, AlertRules> = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, alert_rules FROM users WHERE alert_rules IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::classify)?
        .into_iter()
        .filter_map(|(id, json)| Some((id, AlertRules::from_stored(Some(&json))?)))
        .collect();
        let own_rules: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT rules FROM watchlists WHERE rules IS NOT NULL")
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        // Ads under every rule's viral level cannot be news.
        let min_ad_score = own_rules
            .iter()
            .filter_map(|(json,)| AlertRules::from_stored(Some(json)))
            .chain(user_rules.values().cloned())
            .chain([AlertRules::default()])
            .map(|r| i64::from(r.viral_ad.min_score))
            .min()
            .unwrap_or(100);
        let default_window = AlertRules::default().jump_window_ms();
        let rows = self
            .changed_watches(
                &mut tx,
                after,
                until,
                min_ad_score,
                now - VIRAL_AD_MAX_AGE_MS,
            )
            .await?;
        let watches: Vec<&[ChangedRow]> = rows.chunk_by(|a, b| a.watch_id == b.watch_id).collect();
        let rules: Vec<AlertRules> = watches
            .iter()
            .map(|w| {
                AlertRules::from_stored(w[0].rules.as_deref())
                    .or_else(|| user_rules.get(&w[0].user_id).cloned())
                    .unwrap_or_default()
            })
            .collect();

        // A watch with another jump window reads its readings again, each
        // with the score that window earlier.
        let mut other_windows: HashMap<(i64, i64), Vec<Reading>> = HashMap::new();
        let mut in_full: Vec<(i64, i64)> = watches
            .iter()
            .zip(&rules)
            .filter(|(w, rules)| {
                w[0].reading_id.is_some() && rules.jump_window_ms() != default_window
            })
            .map(|(w, rules)| (rules.jump_window_ms(), w[0].product_id))
            .collect();
        in_full.sort_unstable();
        in_full.dedup();
        for group in in_full.chunk_by(|a, b| a.0 == b.0) {
            let window = group[0].0;
            let ids: Vec<i64> = group.iter().map(|(_, id)| *id).collect();
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                for (product, reading) in self
                    .readings_in_full(&mut tx, chunk, window, after, until)
                    .await?
                {
                    other_windows
                        .entry((product, window))
                        .or_default()
                        .push(reading);
                }
            }
        }

        // Countries below every watch's level cannot be news.
        let min_interest = rules
            .iter()
            .map(|r| i64::from(r.new_country.min_interest))
            .min()
            .unwrap_or(100);
        let mut fired: Vec<(i64, i64, Fired)> = Vec::new();
        let mut changed_states: Vec<(i64, String)> = Vec::new();
        // A product's countries and ads, parsed once however many watch it.
        type ProductNews = (Vec<(String, i64)>, Vec<AdSeen>);
        let mut products: HashMap<i64, ProductNews> = HashMap::new();
        for (w, rules) in watches.iter().zip(&rules) {
            let r = &w[0];
            let (countries, ads) = products.entry(r.product_id).or_insert_with(|| {
                (
                    parse_countries(r.countries.as_deref().unwrap_or(""), min_interest),
                    parse_ads(r.ads.as_deref().unwrap_or("")),
                )
            });
            let window = rules.jump_window_ms();
            let own: Vec<Reading>;
            let all = if window == default_window {
                own = w.iter().filter_map(ChangedRow::reading).collect();
                &own[..]
            } else {
                other_windows
                    .get(&(r.product_id, window))
                    .map_or(&[][..], Vec::as_slice)
            };
            // Readings from before the product was watched were in its starting state.
            let from = all.partition_point(|x| x.at < r.created_at);
            let mut state = RuleState::from_stored(&r.state);
            let before = state.clone();
            let out = evaluate(
                rules,
                &Inputs {
                    product_id: r.product_id,
                    product_name: &r.name,
                    readings: &all[from..],
                    viral_ads: ads,
                    countries,
                    snoozed_until: r.snoozed_until,
                    now,
                },
                &mut state,
            );
            if state != before {
                changed_states.push((r.watch_id, state.to_stored()));
            }
            fired.extend(out.into_iter().map(|f| (r.user_id, r.product_id, f)));
        }

        let mut evaluation = Evaluation {
            products: products.len(),
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
        if !changed_states.is_empty() {
            // One statement however many changed: as 10 to 20 statements of a
            // hundred rows, PostgreSQL took twice as long.
            let rows: Vec<StateRow<'_>> = changed_states
                .iter()
                .map(|(id, state)| StateRow { id: *id, state })
                .collect();
            let rows = serde_json::to_string(&rows).expect("states serialise");
            sqlx::query(match self.backend {
                Backend::Postgres => SAVE_STATES_POSTGRES,
                Backend::Sqlite => SAVE_STATES_SQLITE,
            })
            .bind(rows)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        }
        sqlx::query("UPDATE alert_cursor SET seq = $1 WHERE id = 1")
            .bind(until)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(evaluation)
    }

    /// The watches of the products changed in `after..=until` (see
    /// [`CHANGED_WATCHES`]), ordered by watch and reading.
    async fn changed_watches(
        &self,
        tx: &mut sqlx::AnyConnection,
        after: i64,
        until: i64,
        min_ad_score: i64,
        ads_since: Millis,
    ) -> StoreResult<Vec<ChangedRow>> {
        let mut rows: Vec<ChangedRow> = match &self.direct {
            // The write lock taken by `begin_write` keeps the file as this
            // transaction sees it, so another connection reads the same rows.
            Some(Direct::Sqlite(reader)) => {
                reader
                    .rows(
                        CHANGED_WATCHES,
                        vec![
                            ("$1", after.into()),
                            ("$2", until.into()),
                            ("$3", min_ad_score.into()),
                            ("$4", ads_since.into()),
                        ],
                        ChangedRow::from_direct,
                    )
                    .await?
            }
            // The evaluation holds its lock, so nothing numbered up to `until`
            // commits any more, and it has written nothing yet.
            Some(Direct::Postgres(pool)) => {
                let mut read = pool.begin().await.map_err(StoreError::classify)?;
                let bulk = most_products_changed(&mut read, after, until).await?;
                let rows = changed_watches_postgres(
                    &mut read,
                    bulk,
                    after,
                    until,
                    min_ad_score,
                    ads_since,
                )
                .await?;
                read.commit().await.map_err(StoreError::classify)?;
                rows
            }
            None => sqlx::query_as(CHANGED_WATCHES)
                .bind(after)
                .bind(until)
                .bind(min_ad_score)
                .bind(ads_since)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::classify)?,
        };
        rows.sort_unstable_by_key(|r| (r.watch_id, r.reading_id));
        Ok(rows)
    }

    /// The new readings of `products` (numbered in `after..=until`), each
    /// with its previous score and its score one `window` earlier (not the
    /// default window's, which the reading carries).
    async fn readings_in_full(
        &self,
        tx: &mut sqlx::AnyConnection,
        products: &[i64],
        window: i64,
        after: i64,
        until: i64,
    ) -> StoreResult<Vec<(i64, Reading)>> {
        let sql = new_readings_sql(self.backend, products.len());
        let mut query = sqlx::query_as::<_, ReadingRow>(AssertSqlSafe(sql))
            .bind(window)
            .bind(after)
            .bind(until);
        for id in products {
            query = query.bind(*id);
        }
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.product_id,
                    Reading {
                        id: r.id,
                        at: r.calculated_at,
                        score: r.score,
                        stage: r.stage,
                        forecast_growth: r.forecast_growth,
                        previous: r.previous,
                        base: r.base,
                    },
                )
            })
            .collect())
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
        let switched =
            sqlx::query("UPDATE users SET email_alerts = $1 WHERE id = $2 AND email_alerts <> $1")
                .bind(choice)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        if choice == "daily" && switched.rows_affected() > 0 {
            // A digest tells what happened since the user asked for digests:
            // what came before was emailed one by one, or not wanted by email.
            sqlx::query("UPDATE alerts SET digested = 1 WHERE user_id = $1 AND digested = 0")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use crate::store::PoolOptions;

    /// A product changed twice (two new readings), one changed with no
    /// reading, one changed before the cursor, one unchanged; watches with
    /// and without their own rules and snoozes; ads viral or not, recent or
    /// not; texts with what SQL escapes.
    const SCENE: &str = "\
        INSERT INTO users (id, username, email, hashed_password, created_at) VALUES \
          (1, 'ann', 'a@x', 'h', 0), (2, 'bob', 'b@x', 'h', 0); \
        INSERT INTO products (id, name, description, created_at, alerts_seq, country_interest) VALUES \
          (1, 'Lamp \"L\u{2019}Or\" 💡', '', 0, 5, 'US:100 DE:55'), (2, 'Mug', '', 0, 6, NULL), \
          (3, 'Old', '', 0, 2, 'FR:10'), (4, 'Quiet', '', 0, 0, NULL); \
        INSERT INTO watchlists (id, user_id, product_id, created_at, rules, snoozed_until, rule_state) VALUES \
          (10, 1, 1, 100, NULL, NULL, '{}'), (11, 2, 1, 200, '{\"viral_ad\":{\"min_score\":90}}', 5000, '{\"stage\":\"rising\"}'), \
          (12, 1, 2, 300, NULL, NULL, '{}'), (13, 1, 3, 0, NULL, NULL, '{}'), (14, 2, 4, 0, NULL, NULL, '{}'); \
        INSERT INTO trend_scores (id, product_id, score, ad_count, calculated_at, stage, forecast_growth, alerts_seq, previous_score, base_score) VALUES \
          (100, 1, 10.5, 0, 1000, 'emerging', NULL, 2, NULL, NULL), \
          (101, 1, 20.25, 1, 2000, 'rising', 0.125, 4, 10.5, 10.5), \
          (102, 1, 70.0, 2, 3000, NULL, -0.5, 5, 20.25, NULL), \
          (103, 3, 1.0, 0, 1000, 'dormant', NULL, 2, NULL, NULL); \
        INSERT INTO ads (id, product_id, platform, ad_content, engagement_score, created_at) VALUES \
          (1000, 1, 'tiktok', '', 95, 9000), (1001, 1, 'meta', '', 75, 9500), \
          (1002, 1, 'meta', '', 40, 9500), (1003, 1, 'youtube', '', 99, 10), (1004, 2, 'meta', '', 80, 9999);";

    /// The direct reader and sqlx answer the evaluation's read alike.
    #[tokio::test]
    async fn both_readers_give_the_same_changed_watches() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite {
            path: Some(dir.path().join("db.sqlite")),
            params: String::new(),
        };
        let store = Store::connect(&url, PoolOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        sqlx::raw_sql(SCENE).execute(&store.pool).await.unwrap();
        let Some(Direct::Sqlite(reader)) = &store.direct else {
            panic!("a SQLite file is read directly");
        };

        let mut through_direct = reader
            .rows(
                CHANGED_WATCHES,
                vec![
                    ("$1", 3.into()),
                    ("$2", 6.into()),
                    ("$3", 70.into()),
                    ("$4", 1000.into()),
                ],
                ChangedRow::from_direct,
            )
            .await
            .unwrap();
        through_direct.sort_unstable_by_key(|r| (r.watch_id, r.reading_id));
        assert_eq!(through_direct, read_through_any(&store).await);
        assert_is_the_scene(&through_direct);
    }

    /// [`CHANGED_WATCHES`] after change 3 up to 6 through sqlx's `Any`
    /// driver, in the evaluation's order.
    async fn read_through_any(store: &Store) -> Vec<ChangedRow> {
        let mut rows: Vec<ChangedRow> = sqlx::query_as(CHANGED_WATCHES)
            .bind(3_i64)
            .bind(6_i64)
            .bind(70_i64)
            .bind(1000_i64)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        rows.sort_unstable_by_key(|r| (r.watch_id, r.reading_id));
        rows
    }

    /// What [`CHANGED_WATCHES`] finds in [`SCENE`] after change 3 up to 6.
    fn assert_is_the_scene(rows: &[ChangedRow]) {
        let seen: Vec<(i64, Option<i64>)> =
            rows.iter().map(|r| (r.watch_id, r.reading_id)).collect();
        assert_eq!(
            seen,
            [
                (10, Some(101)),
                (10, Some(102)),
                (11, Some(101)),
                (11, Some(102)),
                (12, None)
            ]
        );
        let ads: Vec<_> = parse_ads(rows[0].ads.as_deref().unwrap())
            .into_iter()
            .map(|a| (a.id, a.score, a.platform))
            .collect();
        assert_eq!(
            ads,
            [(1000, 95, "tiktok".into()), (1001, 75, "meta".into())]
        );
        assert_eq!(rows[0].name, "Lamp \"L\u{2019}Or\" 💡");
        assert_eq!(
            rows[2].rules.as_deref(),
            Some(r#"{"viral_ad":{"min_score":90}}"#)
        );
        assert_eq!(rows[4].ads.as_deref(), Some("1004:80:meta"));
    }

    /// On PostgreSQL (with `MARKETSCOUT_TEST_DATABASE_URL`, as CI runs it)
    /// the typed reader answers as sqlx's `Any` does, in its row-by-row form
    /// and in the bulk form a full refresh takes.
    #[tokio::test]
    async fn postgres_readers_give_the_same_changed_watches() {
        let Some(scratch) = Scratch::new().await else {
            return;
        };
        let store = &scratch.store;
        sqlx::raw_sql(SCENE).execute(&store.pool).await.unwrap();
        let Some(Direct::Postgres(pool)) = &store.direct else {
            panic!("PostgreSQL is read through the typed driver");
        };

        let through_any = read_through_any(store).await;
        assert_is_the_scene(&through_any);
        for bulk in [false, true] {
            let mut read = pool.begin().await.unwrap();
            let mut rows = changed_watches_postgres(&mut read, bulk, 3, 6, 70, 1000)
                .await
                .unwrap();
            read.commit().await.unwrap();
            rows.sort_unstable_by_key(|r| (r.watch_id, r.reading_id));
            assert_eq!(rows, through_any, "bulk: {bulk}");
        }
        let mut read = pool.begin().await.unwrap();
        assert!(
            !most_products_changed(&mut read, 3, 6).await.unwrap(),
            "two changed products are read row by row"
        );
        read.rollback().await.unwrap();

        scratch.drop().await;
    }

    /// However many products changed, PostgreSQL never reads the new
    /// readings once per product: the row-by-row read looks readings up by
    /// product, with statistics that do not know the newest change number
    /// (as just after every refresh).
    #[tokio::test]
    async fn postgres_looks_up_each_products_new_readings_by_product() {
        let Some(scratch) = Scratch::new().await else {
            return;
        };
        let store = &scratch.store;
        sqlx::raw_sql(
            "INSERT INTO users (id, username, email, hashed_password, created_at) \
               VALUES (1, 'ann', 'a@x', 'h', 0); \
             INSERT INTO products (id, name, description, created_at, alerts_seq) \
               SELECT i, 'p' || i, '', 0, 1 FROM generate_series(1, 3000) i; \
             INSERT INTO watchlists (user_id, product_id, created_at, rule_state) \
               SELECT 1, i, 0, '{}' FROM generate_series(1, 3000) i; \
             INSERT INTO trend_scores (product_id, score, ad_count, calculated_at, alerts_seq) \
               SELECT i % 3000 + 1, 1.0, 0, i, 1 FROM generate_series(1, 30000) i; \
             ANALYZE; \
             INSERT INTO trend_scores (product_id, score, ad_count, calculated_at, alerts_seq) \
               SELECT i, 2.0, 0, 99999, 2 FROM generate_series(1, 900) i; \
             UPDATE products SET alerts_seq = 2 WHERE id <= 900;",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let Some(Direct::Postgres(pool)) = &store.direct else {
            panic!("PostgreSQL is read through the typed driver");
        };
        let mut read = pool.begin().await.unwrap();
        assert!(!most_products_changed(&mut read, 1, 2).await.unwrap());
        let explain = format!("EXPLAIN {CHANGED_WATCHES_POSTGRES}");
        let plan: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(explain))
            .bind(1_i64)
            .bind(2_i64)
            .bind(70_i64)
            .bind(0_i64)
            .fetch_all(&mut *read)
            .await
            .unwrap();
        assert!(
            !plan.iter().any(|(l,)| l.contains("trend_scores_seq_idx")),
            "{plan:#?}"
        );
        let rows = changed_watches_postgres(&mut read, false, 1, 2, 70, 0)
            .await
            .unwrap();
        assert_eq!(rows.len(), 900);
        assert!(rows.iter().all(|r| r.score == Some(2.0)));

        // Watches with their own jump window read their products' readings
        // again, a hundred products a statement.
        let window = 2 * 86_400_000_i64;
        let ids: Vec<i64> = (1..=100).collect();
        let explain = format!("EXPLAIN {}", new_readings_sql(Backend::Postgres, ids.len()));
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(explain))
            .bind(window)
            .bind(1_i64)
            .bind(2_i64);
        for id in &ids {
            query = query.bind(*id);
        }
        let plan = query.fetch_all(&mut *read).await.unwrap();
        read.rollback().await.unwrap();
        assert!(
            !plan.iter().any(|(l,)| l.contains("trend_scores_seq_idx")),
            "{plan:#?}"
        );
        let mut conn = store.pool.acquire().await.unwrap();
        let readings = store
            .readings_in_full(&mut conn, &ids, window, 1, 2)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            readings.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            ids,
            "one new reading each, in order"
        );
        assert!(
            readings
                .iter()
                .all(|(_, r)| r.score == 2.0 && r.base == Some(1.0))
        );
        scratch.drop().await;
    }

    /// A PostgreSQL database of its own for one test, migrated; `None` (the
    /// test skipped, saying so) without `MARKETSCOUT_TEST_DATABASE_URL`.
    struct Scratch {
        store: Store,
        admin: sqlx::PgConnection,
        name: String,
    }

    impl Scratch {
        async fn new() -> Option<Self> {
            let Some(server) = std::env::var("MARKETSCOUT_TEST_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
            else {
                eprintln!("skipped: set MARKETSCOUT_TEST_DATABASE_URL=postgres://... to run it");
                return None;
            };
            let name = format!("ms_unit_{}_{}", std::process::id(), rand::random::<u32>());
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
                .await
                .expect("PostgreSQL is reachable");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await
                .unwrap();
            let mut url = url::Url::parse(&server).unwrap();
            url.set_path(&format!("/{name}"));
            let store = Store::connect(
                &DatabaseUrl::Postgres(url.to_string()),
                PoolOptions::default(),
            )
            .await
            .unwrap();
            store.migrate().await.unwrap();
            Some(Self { store, admin, name })
        }

        async fn drop(mut self) {
            self.store.close().await;
            let sql = format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name);
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut self.admin)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_database_opened_with_parameters_is_read_through_sqlx() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        ))
        .unwrap();
        let store = Store::connect(&url, PoolOptions::default()).await.unwrap();
        assert!(store.direct.is_none());
        let memory = Store::connect(
            &DatabaseUrl::parse("sqlite::memory:").unwrap(),
            PoolOptions::default(),
        )
        .await
        .unwrap();
        assert!(memory.direct.is_none());
    }
}
