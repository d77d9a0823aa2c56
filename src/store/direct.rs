//! Readers that skip sqlx's `Any` layer, for the few reads that move so many
//! rows that moving them through it is most of their cost: a SQLite file is
//! read through SQLite's own API ([`Reader`]), PostgreSQL through sqlx's
//! typed driver ([`Direct::Postgres`]).
//!
//! sqlx runs each SQLite connection on a worker thread and hands every row
//! to the async side through a channel, then converts each value into its
//! `Any` form: about 1 µs a row and 0.3 µs a value. The alert evaluation reads
//! 10,000 rows of 17 values after each refresh; measured on the same query
//! and data, sqlx takes 72-100 ms and this reader 27 ms (docs/PERFORMANCE.md,
//! "Alerts", fourth round).
//!
//! On PostgreSQL `Any` turns every row it receives into its own: a column
//! list and a copy of each value, per row (a tenth of the alert bench's
//! profile); the typed driver decodes straight from the received bytes.
//!
//! Only for what a caller may read outside its own transaction: the reader is
//! another connection. A writer on SQLite holds the write lock (`BEGIN
//! IMMEDIATE`) before it reads through here, so nothing can commit between
//! its own reads and these, and both see the same rows. On PostgreSQL every
//! statement of a transaction sees what is committed when it starts (READ
//! COMMITTED), so a read on another connection sees what the transaction's own
//! would, as long as the transaction has not written yet and holds the locks
//! that keep out the writes it must not miss.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSql, Value};
use rusqlite::{OpenFlags, Row};

use super::{StoreError, StoreResult};

/// A reader beside the pool: see the module's documentation.
#[derive(Clone)]
pub(super) enum Direct {
    Sqlite(Reader),
    /// One connection of its own, opened on first use.
    Postgres(sqlx::PgPool),
}

impl Direct {
    /// A reader for a PostgreSQL server at `url` (the pool's own URL), which
    /// waits for its connection no longer than the pool does.
    pub(super) fn postgres(url: &str, acquire_timeout: std::time::Duration) -> sqlx::Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire_timeout)
            .idle_timeout(std::time::Duration::from_secs(600))
            .connect_lazy(url)?;
        Ok(Self::Postgres(pool))
    }

    pub(super) async fn close(&self) {
        if let Self::Postgres(pool) = self {
            pool.close().await;
        }
    }
}

/// One read-only connection to a SQLite file, opened on first use and kept.
#[derive(Clone)]
pub(super) struct Reader {
    path: PathBuf,
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
}

impl Reader {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Every row of `sql` (SQLite's dialect) with its named parameters (`$1`
    /// and so on) bound, each through `map`, on a blocking thread.
    pub(super) async fn rows<T, F>(
        &self,
        sql: &'static str,
        params: Vec<(&'static str, Value)>,
        map: F,
    ) -> StoreResult<Vec<T>>
    where
        T: Send + 'static,
        F: FnMut(&Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.rows_now(sql, &params, map))
            .await
            .map_err(|e| StoreError::Direct(format!("the reading thread stopped: {e}")))?
    }

    fn rows_now<T, F>(&self, sql: &str, params: &[(&str, Value)], map: F) -> StoreResult<Vec<T>>
    where
        F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
    {
        // A panic elsewhere cannot leave a connection half used: each read is whole.
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let conn = rusqlite::Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(classify)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(classify)?;
            *slot = Some(conn);
        }
        let conn = slot.as_ref().expect("opened above");
        let params: Vec<(&str, &dyn ToSql)> = params
            .iter()
            .map(|(name, value)| (*name, value as &dyn ToSql))
            .collect();
        let result = conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_map(&*params, map)?.collect());
        if result.is_err() {
            // The next read starts from a fresh connection rather than a broken one.
            *slot = None;
        }
        result.map_err(classify)
    }
}

fn classify(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Direct(err.to_string()),
    }
}
