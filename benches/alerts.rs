//! Benchmarks of watchlist alerts: evaluating the rules after a refresh, and
//! the outbox delivering webhooks. Run with
//! `cargo bench --bench alerts -- --warm-up-time 1 --measurement-time 5`
//! (add a filter to run some, e.g. `-- webhook_outbox`). Set
//! `MARKETSCOUT_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` to
//! run every benchmark on PostgreSQL too, each in a database created for it
//! (from that URL, with its query string) and dropped after it. Results and
//! targets are in `docs/PERFORMANCE.md`, "Alerts".
//!
//! - `alerts/evaluate_10k_watches` (and `..._postgres`): `Store::evaluate_alerts`
//!   after a full refresh. The database holds 100 users (default rules; ten
//!   with a webhook, ten with immediate emails), 10,000 products each watched
//!   by one user, 30 score readings per product over the last five days (with
//!   stage and forecast), 4 countries and 2 regions per product and 3 ads per
//!   product (about a third of them viral). On PostgreSQL the tables are then
//!   analysed, as autovacuum would have done. One evaluation of that history
//!   settles the watches and one more, after a refresh, shows (untimed) what an
//!   evaluation stores. Then, before each timed evaluation and untimed, a
//!   refresh is simulated as `Store::write_refresh` leaves it: one new reading
//!   per product, 15 minutes after the previous one, stamped with the next
//!   change number, as every product is, and carrying the score before it and
//!   the score a day before it. One product in ten swings across the score threshold, its
//!   stage and its forecast; two in ten hover just under the threshold: so
//!   evaluations store alerts and queue deliveries too, about a hundred to a few
//!   hundred each (printed at the end). The PostgreSQL setup runs before the
//!   measurement, even under a filter that skips it; if the evaluation fails
//!   there, the benchmark is skipped, saying why.
//! - `alerts/webhook_outbox/{one_lane_2000, 20_lanes_2000}` (and `..._postgres`):
//!   `Deliverer::round` repeated until a local receiver (axum on 127.0.0.1,
//!   answering 200, on a thread and runtime of its own) has counted 2,000
//!   webhooks, throughput in webhooks: one webhook with 2,000 queued deliveries
//!   (one lane, sent strictly in order), or 20 webhooks of one user with the
//!   same 100 alerts each (20 lanes sent at once). Before measuring, one drain
//!   checks that all 2,000 arrive and are recorded as delivered; the
//!   deliveries are set back to pending, untimed, before each iteration.
//!
//! Iterations take from a hundred milliseconds to a second, so the samples are
//! few (10) and flat: with the command above the file runs in about a minute
//! on SQLite, two with PostgreSQL (the build aside).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use marketscout::config::{DatabaseUrl, NotifyConfig};
use marketscout::notify::deliver::Deliverer;
use marketscout::store::{NewProduct, NewUser, PoolOptions, Store, StoreError, Terms};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use tokio::runtime::Runtime;

/// 2025-11-20T12:00:00Z: the clock of the first evaluation.
const NOW_MS: i64 = 1_763_640_000_000;
const HOUR_MS: i64 = 3_600_000;
const USERS: usize = 100;
const PRODUCTS: usize = 10_000;
/// Readings per product before the measurement, `HISTORY_STEP_MS` apart.
const HISTORY: usize = 30;
const HISTORY_STEP_MS: i64 = 4 * HOUR_MS;
/// Time between two simulated refreshes (the default `REFRESH_INTERVAL_MINUTES`).
const REFRESH_STEP_MS: i64 = 15 * 60_000;
/// Webhooks sent per outbox iteration.
const WEBHOOKS: usize = 2_000;
/// At most this many bound values per statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS: usize = 6_000;

/// A small deterministic generator (SplitMix64): the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-spread, spread).
    fn noise(&mut self, spread: f64) -> f64 {
        (self.unit() * 2.0 - 1.0) * spread
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------- SQL helpers

/// A value to bind.
enum V {
    I(i64),
    F(f64),
    T(String),
}

/// `($1, $2), ($3, $4), ...`: `rows` rows of `cols` placeholders.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts `rows` into `table` with multi-row INSERTs (portable SQL).
async fn insert(conn: &mut AnyConnection, table: &str, columns: &[&str], rows: &[Vec<V>]) {
    let per_statement = (MAX_BINDS / columns.len()).max(1);
    for chunk in rows.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            placeholders(chunk.len(), columns.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            assert_eq!(row.len(), columns.len(), "a row of {table}");
            for value in row {
                query = match value {
                    V::I(i) => query.bind(*i),
                    V::F(f) => query.bind(*f),
                    V::T(t) => query.bind(t.as_str()),
                };
            }
        }
        query
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("inserting into {table}: {e}"));
    }
}

/// What `Store::write_refresh` writes with each reading, for the readings
/// stamped `from..=to`: the score before it and the score one day before it
/// (the first score when the product is younger).
async fn fill_reading_context(conn: &mut AnyConnection, from: i64, to: i64) {
    sqlx::query(
        "UPDATE trend_scores SET \
           previous_score = (SELECT t.score FROM trend_scores t \
             WHERE t.product_id = trend_scores.product_id AND t.id < trend_scores.id \
             ORDER BY t.id DESC LIMIT 1), \
           base_score = COALESCE( \
             (SELECT t.score FROM trend_scores t \
                WHERE t.product_id = trend_scores.product_id \
                  AND t.calculated_at <= trend_scores.calculated_at - 86400000 \
                ORDER BY t.calculated_at DESC LIMIT 1), \
             (SELECT t.score FROM trend_scores t \
                WHERE t.product_id = trend_scores.product_id AND t.id < trend_scores.id \
                ORDER BY t.id LIMIT 1)) \
         WHERE alerts_seq >= $1 AND alerts_seq <= $2",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await
    .expect("the scores each reading carries");
}

async fn execute(store: &Store, sql: &str) {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(sql.to_owned()))
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

// ---------------------------------------------------------------- databases

/// A database for one benchmark: a temporary SQLite file, or a PostgreSQL
/// database created for the run and dropped with this.
struct Database {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    /// The server's URL and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

impl Database {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = DatabaseUrl::Sqlite {
            path: Some(dir.path().join("bench.db")),
            params: String::new(),
        };
        Self {
            store: connect(&url).await,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// As `tests/api/helpers.rs` makes one for each test.
    async fn postgres(server: &str) -> Self {
        let name = format!("ms_bench_{}_{}", std::process::id(), rand::random::<u32>());
        let mut admin = sqlx::PgConnection::connect(server)
            .await
            .expect("MARKETSCOUT_BENCH_DATABASE_URL is set but PostgreSQL is unreachable");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("creating the bench database");
        let mut url = url::Url::parse(server).expect("MARKETSCOUT_BENCH_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            store: connect(&DatabaseUrl::Postgres(url.to_string())).await,
            _dir: None,
            postgres: Some((server.to_owned(), name)),
        }
    }

    async fn close(self) {
        self.store.close().await;
    }
}

impl Drop for Database {
    /// Drops the PostgreSQL database, after a panic too; from a thread of its
    /// own, as `tests/api/helpers.rs` does: `Drop` cannot await.
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the bench database");
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

async fn connect(url: &DatabaseUrl) -> Store {
    let store = Store::connect(url, PoolOptions::default())
        .await
        .expect("opening the bench database");
    store.migrate().await.expect("migrating the bench database");
    store
}

// ---------------------------------------------------------------- evaluation

/// How a product's score moves.
#[derive(Clone, Copy)]
enum Kind {
    /// Around `base`, in a stage that does not change.
    Steady {
        base: f64,
        growth: f64,
        stage: &'static str,
    },
    /// Climbs from 25 to 65, then hovers just under the threshold of 70.
    Rising,
    /// Two readings at 78 (exploding, forecast +70%), two at 60 (peaking,
    /// +20%): crosses the threshold, jumps, changes stage and forecast.
    Swinging,
}

struct Product {
    id: i64,
    /// Its position: shifts the phase of a swinging product.
    index: i64,
    kind: Kind,
}

impl Product {
    /// The reading number `t` (`HISTORY` and on: the refreshes measured).
    fn reading(&self, t: i64, rng: &mut Rng) -> (f64, &'static str, f64) {
        match self.kind {
            Kind::Steady {
                base,
                growth,
                stage,
            } => (base + rng.noise(3.0), stage, growth + rng.noise(5.0)),
            Kind::Rising if t < HISTORY as i64 => (
                25.0 + 40.0 * t as f64 / HISTORY as f64 + rng.noise(2.0),
                if t < 10 { "emerging" } else { "rising" },
                30.0 + t as f64 + rng.noise(10.0),
            ),
            Kind::Rising => (65.0 + rng.noise(6.0), "rising", 40.0 + rng.noise(15.0)),
            Kind::Swinging if (t + self.index) % 4 < 2 => {
                (78.0 + rng.noise(2.0), "exploding", 70.0 + rng.noise(5.0))
            }
            Kind::Swinging => (60.0 + rng.noise(2.0), "peaking", 20.0 + rng.noise(5.0)),
        }
    }
}

/// Everything `evaluate_alerts` is measured on, settled.
struct Watched {
    db: Database,
    products: Vec<Product>,
    /// Refreshes simulated so far.
    refreshes: Cell<i64>,
    /// Alerts stored by the timed evaluations, and how many they were.
    alerts: Cell<usize>,
    evaluations: Cell<usize>,
}

const COUNTRIES: [&str; 12] = [
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "BR", "MX", "JP",
];
const PLATFORMS: [&str; 3] = ["meta", "tiktok", "youtube"];
/// Stages of steady products (each keeps its own).
const STEADY_STAGES: [&str; 3] = ["dormant", "rising", "saturated"];

/// Seeds `db`, settles the history and makes one untimed evaluation after a
/// refresh, printing what they did. Fails as `evaluate_alerts` fails.
async fn seed_watches(db: Database, name: &str) -> Result<Watched, StoreError> {
    let store = &db.store;
    let started = Instant::now();
    let mut rng = Rng(0x5eed_a1e7);
    let history_start = NOW_MS - HISTORY as i64 * HISTORY_STEP_MS;
    let created = history_start - 30 * 86_400_000;

    // Users through the API, as sign-up makes them; the rest with SQL.
    let mut users = Vec::with_capacity(USERS);
    for n in 0..USERS {
        let user = store
            .create_user(NewUser {
                username: &format!("bench{n}"),
                email: &format!("bench{n}@example.com"),
                hashed_password: "not a hash",
                is_admin: false,
                now: created,
            })
            .await
            .expect("a user");
        if n % 10 == 0 {
            store
                .set_email_alerts(user.id, "immediate")
                .await
                .expect("email alerts");
        }
        if n % 10 == 1 {
            store
                .create_webhook(
                    user.id,
                    "http://127.0.0.1:9/hook",
                    "json",
                    "s3cret",
                    created,
                )
                .await
                .expect("a webhook");
        }
        users.push(user.id);
    }

    let kinds: Vec<Kind> = (0..PRODUCTS)
        .map(|i| match i % 10 {
            0 => Kind::Swinging,
            1 | 2 => Kind::Rising,
            _ => Kind::Steady {
                base: 15.0 + rng.unit() * 45.0,
                growth: -20.0 + rng.unit() * 50.0,
                stage: STEADY_STAGES[rng.below(STEADY_STAGES.len())],
            },
        })
        .collect();

    let mut conn = store.pool().acquire().await.expect("a connection");
    let mut tx = conn.begin().await.expect("a transaction");
    let rows: Vec<Vec<V>> = (0..PRODUCTS)
        .map(|i| {
            vec![
                V::T(format!("Bench product {i}")),
                V::T(format!(
                    "Product number {i}, generated for the alert benchmark"
                )),
                V::I(created),
                V::I(HISTORY as i64),
            ]
        })
        .collect();
    insert(
        &mut tx,
        "products",
        &["name", "description", "created_at", "alerts_seq"],
        &rows,
    )
    .await;
    let ids: Vec<(i64,)> = sqlx::query_as("SELECT id FROM products ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .expect("product ids");
    assert_eq!(ids.len(), PRODUCTS);
    let products: Vec<Product> = ids
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, ((id,), kind))| Product {
            id: *id,
            index: i as i64,
            kind,
        })
        .collect();

    // Watched before the history began: the first evaluation reads all of it.
    let rows: Vec<Vec<V>> = products
        .iter()
        .map(|p| {
            vec![
                V::I(users[p.index as usize % USERS]),
                V::I(p.id),
                V::I(history_start - HOUR_MS),
            ]
        })
        .collect();
    insert(
        &mut tx,
        "watchlists",
        &["user_id", "product_id", "created_at"],
        &rows,
    )
    .await;

    // The history, refresh by refresh (ids grow with time, as refreshes write them).
    let mut rows = Vec::with_capacity(PRODUCTS * HISTORY);
    for t in 0..HISTORY as i64 {
        for p in &products {
            let (score, stage, growth) = p.reading(t, &mut rng);
            rows.push(vec![
                V::I(p.id),
                V::F(score),
                V::I(3),
                V::I(history_start + t * HISTORY_STEP_MS),
                V::T(stage.to_owned()),
                V::F(growth),
                V::I(t + 1),
            ]);
        }
    }
    insert(
        &mut tx,
        "trend_scores",
        &[
            "product_id",
            "score",
            "ad_count",
            "calculated_at",
            "stage",
            "forecast_growth",
            "alerts_seq",
        ],
        &rows,
    )
    .await;
    fill_reading_context(&mut tx, 1, HISTORY as i64).await;

    let mut rows = Vec::with_capacity(PRODUCTS * 6);
    for p in &products {
        let first = rng.below(COUNTRIES.len());
        for k in 0..4 {
            let interest = if k == 0 {
                100
            } else {
                10 + rng.below(81) as i64
            };
            rows.push(vec![
                V::I(p.id),
                V::T("country".into()),
                V::T(COUNTRIES[(first + 3 * k) % COUNTRIES.len()].into()),
                V::F(interest as f64 * 12.5),
                V::I(interest),
            ]);
        }
        for (k, region) in ["US-CA", "US-NY"].into_iter().enumerate() {
            rows.push(vec![
                V::I(p.id),
                V::T("region".into()),
                V::T(region.into()),
                V::F(50.0 + k as f64),
                V::I(if k == 0 { 100 } else { 40 }),
            ]);
        }
    }
    insert(
        &mut tx,
        "product_places",
        &["product_id", "level", "place", "attention", "interest"],
        &rows,
    )
    .await;
    // What a refresh also stores with each product: its countries as one text.
    let mut countries: std::collections::BTreeMap<i64, Vec<(String, i64)>> = Default::default();
    for row in &rows {
        if let [V::I(id), V::T(level), V::T(place), _, V::I(interest)] = row.as_slice()
            && level == "country"
        {
            countries
                .entry(*id)
                .or_default()
                .push((place.clone(), *interest));
        }
    }
    for (id, list) in &countries {
        let text =
            marketscout::engine::alerts::countries_text(list.iter().map(|(c, i)| (c.as_str(), *i)));
        sqlx::query("UPDATE products SET country_interest = $1 WHERE id = $2")
            .bind(text)
            .bind(*id)
            .execute(&mut *tx)
            .await
            .expect("storing the countries");
    }

    let mut rows = Vec::with_capacity(PRODUCTS * 3);
    for p in &products {
        for k in 0..3 {
            rows.push(vec![
                V::I(p.id),
                V::T((*rng.pick(&PLATFORMS)).into()),
                V::T(format!("Ad {k} for bench product {}", p.index)),
                V::T((*rng.pick(&COUNTRIES)).into()),
                V::I(20 + rng.below(76) as i64),
                V::I(NOW_MS - rng.below(10 * 24) as i64 * HOUR_MS),
            ]);
        }
    }
    insert(
        &mut tx,
        "ads",
        &[
            "product_id",
            "platform",
            "ad_content",
            "country",
            "engagement_score",
            "created_at",
        ],
        &rows,
    )
    .await;
    tx.commit().await.expect("committing the seed");
    drop(conn);
    if db.postgres.is_some() {
        // Autovacuum would have analysed tables this size on a live server.
        execute(store, "ANALYZE").await;
    }
    let seeded = started.elapsed();

    let started = Instant::now();
    let settled = store.evaluate_alerts(NOW_MS).await?;
    eprintln!(
        "{name}: seeded {USERS} users, {PRODUCTS} products and watches, \
         {} readings in {seeded:.1?}; settling the history: {} watches, {} alerts, \
         {} deliveries in {:.1?}",
        PRODUCTS * HISTORY,
        settled.watches,
        settled.alerts.len(),
        settled.deliveries,
        started.elapsed(),
    );
    assert_eq!(settled.watches, PRODUCTS);
    let watched = Watched {
        db,
        products,
        refreshes: Cell::new(0),
        alerts: Cell::new(0),
        evaluations: Cell::new(0),
    };
    let now = watched.refresh().await;
    let started = Instant::now();
    let e = watched.db.store.evaluate_alerts(now).await?;
    eprintln!(
        "{name}: one evaluation after a refresh (untimed): {} products, {} watches, \
         {} alerts stored, {} deliveries queued, in {:.1?}",
        e.products,
        e.watches,
        e.alerts.len(),
        e.deliveries,
        started.elapsed()
    );
    Ok(watched)
}

impl Watched {
    /// What a full refresh leaves for the evaluation: a new reading of every
    /// product and the next change number on it and on every product. Answers
    /// the evaluation's clock.
    async fn refresh(&self) -> i64 {
        let n = self.refreshes.get() + 1;
        self.refreshes.set(n);
        let now = NOW_MS + n * REFRESH_STEP_MS;
        let mut rng = Rng(0xf00d ^ n as u64);
        let t = HISTORY as i64 - 1 + n;
        // The change number `Store::write_refresh` would stamp.
        let change = HISTORY as i64 + n;
        let rows: Vec<Vec<V>> = self
            .products
            .iter()
            .map(|p| {
                let (score, stage, growth) = p.reading(t, &mut rng);
                vec![
                    V::I(p.id),
                    V::F(score),
                    V::I(3),
                    V::I(now),
                    V::T(stage.to_owned()),
                    V::F(growth),
                    V::I(change),
                ]
            })
            .collect();
        let mut conn = self.db.store.pool().acquire().await.expect("a connection");
        let mut tx = conn.begin().await.expect("a transaction");
        insert(
            &mut tx,
            "trend_scores",
            &[
                "product_id",
                "score",
                "ad_count",
                "calculated_at",
                "stage",
                "forecast_growth",
                "alerts_seq",
            ],
            &rows,
        )
        .await;
        fill_reading_context(&mut tx, change, change).await;
        sqlx::query("UPDATE products SET alerts_seq = $1")
            .bind(change)
            .execute(&mut *tx)
            .await
            .expect("marking the products refreshed");
        tx.commit().await.expect("committing the refresh");
        now
    }

    /// `iters` evaluations, each after an untimed refresh.
    fn measure(&self, rt: &Runtime, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        for _ in 0..iters {
            let now = rt.block_on(self.refresh());
            let started = Instant::now();
            let e = rt
                .block_on(self.db.store.evaluate_alerts(now))
                .expect("an evaluation");
            timed += started.elapsed();
            assert_eq!((e.products, e.watches), (PRODUCTS, PRODUCTS));
            self.alerts.set(self.alerts.get() + e.alerts.len());
            self.evaluations.set(self.evaluations.get() + 1);
        }
        timed
    }

    fn close(self, rt: &Runtime, name: &str) {
        eprintln!(
            "{name}: {} timed evaluations stored {} alerts ({:.1} per evaluation)",
            self.evaluations.get(),
            self.alerts.get(),
            self.alerts.get() as f64 / self.evaluations.get().max(1) as f64
        );
        rt.block_on(self.db.close());
    }
}

fn evaluate_10k_watches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("alerts");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);

    let name = "evaluate_10k_watches";
    let mut sqlite: Option<Watched> = None;
    group.bench_function(name, |b| {
        // Set up here, so a filter that skips this benchmark skips its setup.
        let w = sqlite.get_or_insert_with(|| {
            rt.block_on(async { seed_watches(Database::sqlite().await, name).await })
                .expect("evaluating alerts on SQLite")
        });
        b.iter_custom(|iters| w.measure(&rt, iters));
    });
    if let Some(w) = sqlite {
        w.close(&rt, name);
    }

    let name = "evaluate_10k_watches_postgres";
    let url = std::env::var("MARKETSCOUT_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    // Set up before the benchmark (even when a filter skips it): an evaluation
    // that fails skips this benchmark, not the rest of the file.
    let watched = url
        .map(|url| rt.block_on(async { seed_watches(Database::postgres(&url).await, name).await }));
    match watched {
        None => eprintln!(
            "alerts/{name} skipped: set MARKETSCOUT_BENCH_DATABASE_URL=postgres://... to run it"
        ),
        Some(Ok(w)) => {
            group.bench_function(name, |b| b.iter_custom(|iters| w.measure(&rt, iters)));
            w.close(&rt, name);
        }
        Some(Err(e)) => {
            eprintln!("alerts/{name} skipped: evaluate_alerts failed: {e}");
            if e.to_string().contains("incorrect binary data format") {
                eprintln!(
                    "  (sqlx 0.9's Any driver binds a NULL f64 as float4, and PostgreSQL keeps \
                     the parameter types a cached statement was first prepared with: append \
                     ?statement-cache-capacity=0 to the URL to measure anyway)"
                );
            }
        }
    }
    group.finish();
}

// ---------------------------------------------------------------- outbox

/// A local webhook receiver that answers 200 and counts what it received.
struct Receiver {
    url: String,
    received: Arc<AtomicUsize>,
}

/// Starts the receiver on a thread and runtime of its own, as another process would be.
fn start_receiver() -> Receiver {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the receiver's runtime");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let counter = counter.clone();
                    async move {
                        assert!(!body.is_empty(), "a webhook without a body");
                        counter.fetch_add(1, Ordering::SeqCst);
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binding the receiver");
            tx.send(listener.local_addr().expect("the receiver's address"))
                .expect("the bench waits for the receiver");
            axum::serve(listener, app).await.expect("the receiver");
        });
    });
    let addr = rx.recv().expect("the receiver started");
    Receiver {
        url: format!("http://{addr}/hook"),
        received,
    }
}

/// An outbox with `WEBHOOKS` deliveries over `lanes` webhooks of one user.
struct Outbox {
    db: Database,
    deliverer: Deliverer,
    receiver: Receiver,
}

async fn seed_outbox(db: Database, receiver: Receiver, lanes: usize) -> Outbox {
    let store = &db.store;
    let user = store
        .create_user(NewUser {
            username: "receiver",
            email: "receiver@example.com",
            hashed_password: "not a hash",
            is_admin: false,
            now: NOW_MS,
        })
        .await
        .expect("a user");
    let product = store
        .create_product(NewProduct {
            name: "Bench product",
            description: "Watched by the outbox benchmark",
            terms: &Terms::default(),
            is_demo: false,
            now: NOW_MS,
        })
        .await
        .expect("a product");
    let mut webhooks = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let hook = store
            .create_webhook(user.id, &receiver.url, "json", "s3cret", NOW_MS)
            .await
            .expect("a webhook");
        webhooks.push(hook.id);
    }
    // Each alert goes to every webhook of its user, as `queue_deliveries` queues them.
    let per_lane = WEBHOOKS / lanes;
    let mut conn = store.pool().acquire().await.expect("a connection");
    let mut tx = conn.begin().await.expect("a transaction");
    let rows: Vec<Vec<V>> = (0..per_lane)
        .map(|n| {
            vec![
                V::I(user.id),
                V::I(product.id),
                V::T("score_threshold".into()),
                V::T(format!("score_threshold:p{}:s{n}:up", product.id)),
                V::T("🚀 Bench product trend score rose above 70 (now 74.2)".into()),
                V::F(66.5),
                V::F(74.2),
                V::I(NOW_MS + n as i64),
            ]
        })
        .collect();
    insert(
        &mut tx,
        "alerts",
        &[
            "user_id",
            "product_id",
            "rule",
            "event_key",
            "message",
            "value_before",
            "value_after",
            "created_at",
        ],
        &rows,
    )
    .await;
    let alerts: Vec<(i64,)> = sqlx::query_as("SELECT id FROM alerts ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .expect("alert ids");
    let mut rows = Vec::with_capacity(WEBHOOKS);
    for hook in &webhooks {
        for (alert,) in &alerts {
            rows.push(vec![
                V::T("webhook".into()),
                V::T(format!("webhook:{hook}")),
                V::I(user.id),
                V::I(*hook),
                V::I(*alert),
                V::T("pending".into()),
                V::I(0),
                V::I(NOW_MS),
            ]);
        }
    }
    assert_eq!(rows.len(), WEBHOOKS);
    insert(
        &mut tx,
        "deliveries",
        &[
            "channel",
            "lane",
            "user_id",
            "webhook_id",
            "alert_id",
            "status",
            "next_attempt_at",
            "created_at",
        ],
        &rows,
    )
    .await;
    tx.commit().await.expect("committing the outbox");
    drop(conn);
    let config = NotifyConfig {
        allow_private_targets: true,
        ..NotifyConfig::default()
    };
    let deliverer = Deliverer::new(db.store.clone(), config, "http://127.0.0.1".into());
    Outbox {
        db,
        deliverer,
        receiver,
    }
}

impl Outbox {
    /// Sets every delivery back to pending, as first queued.
    async fn requeue(&self) {
        execute(
            &self.db.store,
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = 0, \
             lease_until = 0, last_status = NULL, last_error = NULL, delivered_at = NULL",
        )
        .await;
        self.receiver.received.store(0, Ordering::SeqCst);
    }

    /// Delivery rounds until the receiver has all of them; answers the rounds.
    async fn drain(&self) -> usize {
        let mut rounds = 0;
        while self.receiver.received.load(Ordering::SeqCst) < WEBHOOKS {
            let round = self
                .deliverer
                .round(marketscout::time::now_ms())
                .await
                .expect("a delivery round");
            assert_eq!(round.failed, 0, "a webhook failed");
            assert!(
                round.delivered > 0,
                "a round delivered nothing with {} of {WEBHOOKS} received",
                self.receiver.received.load(Ordering::SeqCst)
            );
            rounds += 1;
        }
        rounds
    }
}

fn webhook_outbox(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("alerts");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(WEBHOOKS as u64));
    let postgres = std::env::var("MARKETSCOUT_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut cases = vec![
        ("one_lane_2000".to_owned(), 1, None),
        ("20_lanes_2000".to_owned(), 20, None),
    ];
    match &postgres {
        Some(url) => {
            cases.push(("one_lane_2000_postgres".to_owned(), 1, Some(url)));
            cases.push(("20_lanes_2000_postgres".to_owned(), 20, Some(url)));
        }
        None => eprintln!(
            "alerts/webhook_outbox/*_postgres skipped: set \
             MARKETSCOUT_BENCH_DATABASE_URL=postgres://... to run them"
        ),
    }
    for (name, lanes, url) in cases {
        let mut outbox: Option<Outbox> = None;
        group.bench_function(BenchmarkId::new("webhook_outbox", &name), |b| {
            // Set up here, so a filter that skips this benchmark skips its setup.
            let outbox = outbox.get_or_insert_with(|| {
                let outbox = rt.block_on(async {
                    let db = match url {
                        Some(url) => Database::postgres(url).await,
                        None => Database::sqlite().await,
                    };
                    seed_outbox(db, start_receiver(), lanes).await
                });
                // A first drain, untimed: checks that everything arrives.
                let started = Instant::now();
                let rounds = rt.block_on(outbox.drain());
                let delivered = rt.block_on(count(
                    &outbox.db.store,
                    "SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'",
                ));
                assert_eq!(
                    delivered, WEBHOOKS as i64,
                    "deliveries recorded as delivered"
                );
                eprintln!(
                    "webhook_outbox/{name}: {lanes} lane(s), {WEBHOOKS} webhooks delivered \
                     and recorded in {rounds} rounds, {:.1?} (untimed check)",
                    started.elapsed()
                );
                outbox
            });
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(outbox.requeue());
                    let started = Instant::now();
                    rt.block_on(outbox.drain());
                    timed += started.elapsed();
                }
                timed
            });
        });
        if let Some(outbox) = outbox {
            rt.block_on(outbox.db.close());
        }
    }
    group.finish();
}

/// A runtime like the server's (`#[tokio::main]`: one worker per core).
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

criterion_group!(benches, evaluate_10k_watches, webhook_outbox);
criterion_main!(benches);
