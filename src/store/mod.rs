//! Storage: one pool over SQLite or PostgreSQL through sqlx's `Any` driver, so
//! the same SQL serves both. The rules that keep that true are in
//! `docs/ARCHITECTURE.md` ("Portable SQL"); one module per aggregate.

mod ads;
mod alerts;
mod changes;
mod direct;
mod observations;
mod products;
mod scores;
pub mod sources;
mod tokens;
mod trends;
mod users;
mod watchlists;
mod webhooks;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use ads::{Ad, AdFilter, NewAd, ViralAdRow};
pub use alerts::{AlertFilter, AlertRow, Evaluation, WatchRules};
pub use observations::IngestCounts;
pub use products::{NewProduct, Product, ProductPatch, Terms, TermsVersion};
pub use scores::{PlaceRow, ScoreRecord, StoredTrend, TrendingFilter, TrendingRow};
pub use tokens::RefreshOutcome;
pub use trends::{
    BriefAd, ContentToMatch, DEMO_ID_PREFIX, ObservedAd, ProductRefresh, RefreshInput,
    StoredContent, brief_platform, observation_platform,
};
pub use users::{NewUser, User};
pub use watchlists::{WatchOverview, WatchlistEntry, WatchlistExportRow};
pub use webhooks::{Claimed, DeliveryRow, Outcome, WebhookRow};

use crate::config::DatabaseUrl;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint refused the write; names what was duplicated.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// From the direct SQLite reader (`direct.rs`).
    #[error("database error: {0}")]
    Direct(String),
}

impl StoreError {
    /// Pool exhaustion and lost connections are worth a 503, not a 500.
    fn classify(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.to_string())
            }
            other => Self::Database(other),
        }
    }

    /// Maps a unique violation to `Conflict(what)`, anything else through `classify`.
    fn on_unique(err: sqlx::Error, what: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            _ => Self::classify(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Bumped by every committed write of this process: readers that cache
    /// results compare it to know whether what they hold may be stale.
    data_version: Arc<AtomicU64>,
    /// Tells waiting readers (live alert streams) that the data changed.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// True while the change watcher sees other instances' writes (`changes.rs`).
    watching: Arc<AtomicBool>,
    /// For the few reads too big for sqlx's `Any` layer: PostgreSQL and
    /// SQLite files (an in-memory database is not shared between connections).
    direct: Option<direct::Direct>,
}

pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    pub async fn connect(url: &DatabaseUrl, options: PoolOptions) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = match url {
            DatabaseUrl::Sqlite { path, .. } => {
                if let Some(parent) = path.as_deref().and_then(Path::parent)
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("creating the database directory {}", parent.display())
                    })?;
                }
                Backend::Sqlite
            }
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        };
        let connect_options = AnyConnectOptions::from_str(&url.sqlx_url())
            .context("DATABASE_URL is not a valid database URL")?;
        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(options.acquire_timeout)
            .max_connections(options.max_connections);
        if url.is_memory() {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect_with(connect_options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database ({}): {e}", url.redacted()))?;
        let direct = match url {
            // Parameters (a VFS, a mode) are the pool's to honour; such a
            // database is read through sqlx alone.
            DatabaseUrl::Sqlite {
                path: Some(path),
                params,
            } if params.is_empty() => Some(direct::Direct::Sqlite(direct::Reader::new(path))),
            DatabaseUrl::Sqlite { .. } => None,
            DatabaseUrl::Postgres(_) => Some(
                direct::Direct::postgres(&url.sqlx_url(), options.acquire_timeout).map_err(
                    |e| anyhow::anyhow!("cannot open the database ({}): {e}", url.redacted()),
                )?,
            ),
        };
        Ok(Self {
            pool,
            backend,
            direct,
            data_version: Arc::new(AtomicU64::new(0)),
            changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            watching: Arc::new(AtomicBool::new(false)),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .context("running database migrations")
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connections open, and how many of them are idle.
    pub fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::classify)?;
        conn.ping().await.map_err(StoreError::classify)
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so two writers wait for each other instead of failing
    /// with SQLITE_BUSY when a read lock cannot be upgraded.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(StoreError::classify)
    }

    /// Commits a write transaction and marks every cached read as stale, here
    /// and (on PostgreSQL, through NOTIFY) in every other instance.
    async fn commit(&self, mut tx: Transaction<'static, Any>) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query(changes::NOTIFY)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        tx.commit().await.map_err(StoreError::classify)?;
        self.bump_version();
        Ok(())
    }

    fn bump_version(&self) {
        let version = self.data_version.fetch_add(1, Ordering::Release) + 1;
        self.changed.send_replace(version);
    }

    /// Wakes on every change of the data, here or (seen by the change feed) elsewhere.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn set_watching(&self, on: bool) {
        self.watching.store(on, Ordering::Release);
    }

    /// Changes whenever a write is committed here, or seen from elsewhere.
    pub fn data_version(&self) -> u64 {
        self.data_version.load(Ordering::Acquire)
    }

    /// Whether writes made by other instances and processes are being seen.
    pub fn watching(&self) -> bool {
        self.watching.load(Ordering::Acquire)
    }

    /// A consistent copy of a SQLite database, taken while others keep writing.
    pub async fn backup_sqlite(&self, to: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.backend == Backend::Sqlite,
            "backup --to works on SQLite; for PostgreSQL use pg_dump (see the README)"
        );
        anyhow::ensure!(
            !to.exists(),
            "{} already exists: choose a new file name",
            to.display()
        );
        let target = to.to_str().context("the backup path is not valid UTF-8")?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.pool)
            .await
            .with_context(|| format!("writing the backup to {}", to.display()))?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(direct) = &self.direct {
            direct.close().await;
        }
    }
}

/// Milliseconds since the Unix epoch, the storage form of every timestamp.
pub type Millis = i64;

#[cfg(test)]
mod tests {
    /// Column types sqlx's `Any` driver can decode on both backends; see "Portable SQL".
    const PORTABLE: &[&str] = &["BIGINT", "DOUBLE PRECISION", "TEXT"];

    fn columns(sql: &str) -> Vec<String> {
        sql.lines()
            .map(str::trim)
            .map(|l| match l.split_once(" ADD COLUMN ") {
                Some((_, column)) if l.starts_with("ALTER TABLE") => column,
                _ => l,
            })
            // Data moves and drops are one line each and declare nothing.
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with("--")
                    && !l.starts_with("CREATE")
                    && !l.starts_with(')')
                    && !["INSERT ", "UPDATE ", "DROP ", "ALTER TABLE "]
                        .iter()
                        .any(|k| l.starts_with(k))
            })
            .filter(|l| !l.starts_with("PRIMARY KEY"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn both_backends_declare_the_same_portable_columns() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut names: Vec<_> = std::fs::read_dir(dir.join("sqlite"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert!(!names.is_empty());
        for name in names {
            let sqlite = std::fs::read_to_string(dir.join("sqlite").join(&name)).unwrap();
            let postgres = std::fs::read_to_string(dir.join("postgres").join(&name))
                .unwrap_or_else(|_| panic!("{name:?} has no PostgreSQL twin"));
            let normalise = |s: &str| {
                s.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "ID")
                    .replace("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "ID")
            };
            assert_eq!(normalise(&sqlite), normalise(&postgres), "{name:?} differs");
            for column in columns(&normalise(&sqlite)) {
                let declared = column
                    .split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(
                    declared.starts_with("ID") || PORTABLE.iter().any(|t| declared.starts_with(t)),
                    "{name:?}: `{column}` declares a type the Any driver cannot decode everywhere"
                );
            }
        }
    }
}
