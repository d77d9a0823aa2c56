//! The change feed: how an instance learns that the data changed, so cached
//! reads are dropped as soon as they may be stale.
//!
//! - its own writes bump `Store::data_version` at commit (see `Store::commit`);
//! - on PostgreSQL every write transaction also sends `NOTIFY marketscout_changes`,
//!   which every instance LISTENs to;
//! - on SQLite a dedicated connection polls `PRAGMA data_version`, which changes
//!   whenever another connection (another process: the CLI, a second server)
//!   commits.
//!
//! While the watcher is not connected, `Store::watching()` is false and caches
//! fall back to short lifetimes.

use std::time::Duration;

use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use super::Store;
use crate::config::DatabaseUrl;

const CHANNEL: &str = "marketscout_changes";
/// Sent inside every write transaction on PostgreSQL; delivered at commit.
pub(super) const NOTIFY: &str = "NOTIFY marketscout_changes";
const SQLITE_POLL: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(2);

impl Store {
    /// Watches for changes made elsewhere until `cancel` fires.
    pub async fn watch_changes(self, url: DatabaseUrl, cancel: CancellationToken) {
        if url.is_memory() {
            // Nobody else can open this database: local commits are the whole story.
            self.set_watching(true);
            return;
        }
        loop {
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                outcome = self.watch_once(&url) => outcome,
            };
            self.set_watching(false);
            // Whatever happened while blind may have changed anything.
            self.bump_version();
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "change watcher disconnected; caches use short lifetimes until it is back");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    async fn watch_once(&self, url: &DatabaseUrl) -> Result<(), sqlx::Error> {
        match url {
            DatabaseUrl::Postgres(_) => {
                let mut listener = sqlx::postgres::PgListener::connect(&url.sqlx_url()).await?;
                listener.listen(CHANNEL).await?;
                self.bump_version();
                self.set_watching(true);
                loop {
                    listener.recv().await?;
                    self.bump_version();
                }
            }
            DatabaseUrl::Sqlite { .. } => {
                let mut conn = sqlx::SqliteConnection::connect(&url.sqlx_url()).await?;
                let mut seen: Option<i64> = None;
                loop {
                    let (version,): (i64,) = sqlx::query_as("PRAGMA data_version")
                        .fetch_one(&mut conn)
                        .await?;
                    match seen {
                        Some(old) if old != version => self.bump_version(),
                        None => {
                            self.bump_version();
                            self.set_watching(true);
                        }
                        _ => {}
                    }
                    seen = Some(version);
                    tokio::time::sleep(SQLITE_POLL).await;
                }
            }
        }
    }
}
