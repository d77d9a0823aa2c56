//! Sources (configured connectors) and scans (their runs), with the lease
//! that makes a due scan run on exactly one instance.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::observations::ingest_in;
use super::{Backend, IngestCounts, Millis, Store, StoreError, StoreResult};
use crate::connectors::{InterestPoint, Page, SourceConfig, SourceKind};
use crate::engine::matching::Matcher;

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: i64,
    pub name: String,
    pub kind: SourceKind,
    pub query: Vec<String>,
    pub countries: Vec<String>,
    pub every_minutes: i64,
    pub enabled: bool,
    pub base_url: Option<String>,
    pub max_pages: i64,
    pub paused_until: Option<Millis>,
    pub pause_reason: Option<String>,
    pub last_scan_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Source {
    /// The source as its connector sees it.
    pub fn config(&self) -> SourceConfig {
        SourceConfig {
            kind: self.kind,
            name: self.name.clone(),
            query: self.query.clone(),
            countries: self.countries.clone(),
            base_url: self.base_url.clone(),
        }
    }
}

/// What a new source, or a change to one, sets.
#[derive(Debug, Clone, Default)]
pub struct SourceFields {
    pub name: Option<String>,
    pub kind: Option<SourceKind>,
    pub query: Option<Vec<String>>,
    pub countries: Option<Vec<String>>,
    pub every_minutes: Option<i64>,
    pub enabled: Option<bool>,
    /// `Some(None)` clears it (back to the platform's own).
    pub base_url: Option<Option<String>>,
    pub max_pages: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// Running, or claimed and about to run.
    Running,
    /// Every page up to the limit was fetched and stored.
    Succeeded,
    /// Stopped by an error after storing some pages: what was stored stays.
    Partial,
    /// Stopped by an error before storing anything.
    Failed,
    /// Its instance stopped renewing the lease (it died): picked up again.
    Abandoned,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Running => "running",
            ScanStatus::Succeeded => "succeeded",
            ScanStatus::Partial => "partial",
            ScanStatus::Failed => "failed",
            ScanStatus::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "succeeded" => ScanStatus::Succeeded,
            "partial" => ScanStatus::Partial,
            "failed" => ScanStatus::Failed,
            "abandoned" => ScanStatus::Abandoned,
            _ => ScanStatus::Running,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScanError {
    pub at: Millis,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub id: i64,
    pub source_id: i64,
    pub source_name: String,
    pub status: ScanStatus,
    /// `schedule`, `manual` (API) or `cli`.
    pub trigger: String,
    pub window_from: Millis,
    pub window_to: Millis,
    pub pages: i64,
    pub items: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub skipped: i64,
    pub errors: Vec<ScanError>,
    pub products_refreshed: i64,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

/// What one stored page adds to its scan.
#[derive(Debug, Clone, Default)]
pub struct PageProgress {
    pub items: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub skipped: i64,
    pub cursor: Option<String>,
}

const SOURCE_COLUMNS: &str = "id, name, kind, query, countries, every_minutes, enabled, base_url, \
     max_pages, paused_until, pause_reason, last_scan_at, created_at, updated_at";

const SCAN_COLUMNS: &str = "s.id, s.source_id, src.name AS source_name, s.status, s.trigger_kind, \
     s.window_from, s.window_to, s.pages, s.items, s.accepted, s.duplicates, s.skipped, s.errors, \
     s.products_refreshed, s.created_at, s.started_at, s.finished_at";

fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data always serialises")
}

fn source_from_row(row: &AnyRow) -> Result<Source, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Source {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: SourceKind::parse(&kind).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "kind".into(),
            source: format!("unknown source kind {kind:?}").into(),
        })?,
        query: list(row.try_get("query")?),
        countries: list(row.try_get("countries")?),
        every_minutes: row.try_get("every_minutes")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        base_url: row.try_get("base_url")?,
        max_pages: row.try_get("max_pages")?,
        paused_until: row.try_get("paused_until")?,
        pause_reason: row.try_get("pause_reason")?,
        last_scan_at: row.try_get("last_scan_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn scan_from_row(row: &AnyRow) -> Result<Scan, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let errors: String = row.try_get("errors")?;
    Ok(Scan {
        id: row.try_get("id")?,
        source_id: row.try_get("source_id")?,
        source_name: row.try_get("source_name")?,
        status: ScanStatus::parse(&status),
        trigger: row.try_get("trigger_kind")?,
        window_from: row.try_get("window_from")?,
        window_to: row.try_get("window_to")?,
        pages: row.try_get("pages")?,
        items: row.try_get("items")?,
        accepted: row.try_get("accepted")?,
        duplicates: row.try_get("duplicates")?,
        skipped: row.try_get("skipped")?,
        errors: serde_json::from_str::<Vec<StoredError>>(&errors)
            .unwrap_or_default()
            .into_iter()
            .map(|e| ScanError {
                at: e.at,
                code: e.code,
                message: e.message,
            })
            .collect(),
        products_refreshed: row.try_get("products_refreshed")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[derive(serde::Deserialize, Serialize)]
struct StoredError {
    at: Millis,
    code: String,
    message: String,
}

/// A scan this instance holds the lease of, with what it needs to run.
#[derive(Debug, Clone)]
pub struct ClaimedScan {
    pub scan_id: i64,
    pub source: Source,
    pub window_from: Millis,
    pub window_to: Millis,
}

impl Store {
    pub async fn create_source(&self, f: &SourceFields, now: Millis) -> StoreResult<Source> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO sources (name, kind, query, countries, every_minutes, enabled, base_url, \
             max_pages, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING {SOURCE_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.name.clone().unwrap_or_default())
            .bind(f.kind.unwrap_or(SourceKind::File).as_str())
            .bind(to_json(f.query.as_deref().unwrap_or_default()))
            .bind(to_json(f.countries.as_deref().unwrap_or_default()))
            .bind(f.every_minutes.unwrap_or(60))
            .bind(i64::from(f.enabled.unwrap_or(true)))
            .bind(f.base_url.clone().flatten())
            .bind(f.max_pages.unwrap_or(10))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "source"))?;
        let source = source_from_row(&row).map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(source)
    }

    pub async fn sources(&self) -> StoreResult<Vec<Source>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::classify)?;
        rows.iter()
            .map(source_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::classify)
    }

    pub async fn source(&self, id: i64) -> StoreResult<Source> {
        self.source_where("id = $1", |q| q.bind(id)).await
    }

    pub async fn source_by_name(&self, name: &str) -> StoreResult<Source> {
        self.source_where("name = $1", |q| q.bind(name.to_owned()))
            .await
    }

    /// The one source `condition` (over a single bound parameter) selects.
    async fn source_where<'q>(
        &self,
        condition: &str,
        bind: impl FnOnce(
            sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
        ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> StoreResult<Source> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE {condition}");
        let row = bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("source"))?;
        source_from_row(&row).map_err(StoreError::classify)
    }

    pub async fn update_source(
        &self,
        id: i64,
        f: &SourceFields,
        now: Millis,
    ) -> StoreResult<Source> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("source"))?;
        let mut s = source_from_row(&row).map_err(StoreError::classify)?;
        if let Some(v) = &f.name {
            s.name = v.clone();
        }
        if let Some(v) = f.kind {
            s.kind = v;
        }
        if let Some(v) = &f.query {
            s.query = v.clone();
        }
        if let Some(v) = &f.countries {
            s.countries = v.clone();
        }
        if let Some(v) = f.every_minutes {
            s.every_minutes = v;
        }
        if let Some(v) = f.enabled {
            s.enabled = v;
        }
        if let Some(v) = &f.base_url {
            s.base_url = v.clone();
        }
        if let Some(v) = f.max_pages {
            s.max_pages = v;
        }
        s.updated_at = now;
        let sql = format!(
            "UPDATE sources SET name = $2, kind = $3, query = $4, countries = $5, \
             every_minutes = $6, enabled = $7, base_url = $8, max_pages = $9, updated_at = $10 \
             WHERE id = $1 RETURNING {SOURCE_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(&s.name)
            .bind(s.kind.as_str())
            .bind(to_json(&s.query))
            .bind(to_json(&s.countries))
            .bind(s.every_minutes)
            .bind(i64::from(s.enabled))
            .bind(&s.base_url)
            .bind(s.max_pages)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::on_unique(e, "source"))?;
        let source = source_from_row(&row).map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(source)
    }

    pub async fn delete_source(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sources WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("source"));
        }
        self.commit(tx).await
    }

    /// Marks scans whose lease lapsed as abandoned, so their sources are due
    /// again. Answers how many there were.
    pub async fn reap_abandoned_scans(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        // Their sources are due at once: the scan they started never finished.
        sqlx::query(
            "UPDATE sources SET last_scan_at = NULL WHERE id IN (SELECT source_id FROM scans \
             WHERE status = 'running' AND lease_until < $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let done = sqlx::query(
            "UPDATE scans SET status = 'abandoned', finished_at = $1, lease_owner = NULL \
             WHERE status = 'running' AND lease_until < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(done.rows_affected())
    }

    /// Claims the scan of one due source for `owner` until `lease_until`:
    /// enabled, not paused, no scan of it running, and its last scan started
    /// `every_minutes` ago or more (or `source_id` given: a scan on request,
    /// due at once unless one is running). On PostgreSQL the source row is
    /// locked with `FOR UPDATE SKIP LOCKED`, so instances racing for the same
    /// source never both get it; SQLite has one writer at a time anyway.
    pub async fn claim_due_scan(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        source_id: Option<i64>,
        trigger: &str,
    ) -> StoreResult<Option<ClaimedScan>> {
        let mut tx = self.begin_write().await?;
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let due = if source_id.is_some() {
            "id = $2"
        } else {
            "enabled = 1 AND (paused_until IS NULL OR paused_until <= $1) \
             AND (last_scan_at IS NULL OR last_scan_at + every_minutes * 60000 <= $1) \
             AND $2 = $2"
        };
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE {due} \
             AND NOT EXISTS (SELECT 1 FROM scans WHERE scans.source_id = sources.id \
             AND scans.status = 'running') \
             ORDER BY COALESCE(last_scan_at, 0), id LIMIT 1{lock}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(source_id.unwrap_or(0))
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        let Some(row) = row else {
            if let Some(id) = source_id {
                // Tell "no such source" from "already running".
                let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM sources WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
                if exists.is_none() {
                    return Err(StoreError::NotFound("source"));
                }
            }
            return Ok(None);
        };
        let source = source_from_row(&row).map_err(StoreError::classify)?;
        // The window runs from the end of the last successful scan's window
        // (with an hour of overlap: late-indexed posts), or a day back.
        let last_end: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT MAX(window_to) FROM scans WHERE source_id = $1 \
             AND status IN ('succeeded', 'partial')",
        )
        .bind(source.id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let window_from = last_end
            .and_then(|(end,)| end)
            .map_or(now - 86_400_000, |end| (end - 3_600_000).min(now));
        let (scan_id,): (i64,) = sqlx::query_as(
            "INSERT INTO scans (source_id, status, trigger_kind, window_from, window_to, \
             lease_owner, lease_until, created_at, started_at) \
             VALUES ($1, 'running', $2, $3, $4, $5, $6, $4, $4) RETURNING id",
        )
        .bind(source.id)
        .bind(trigger)
        .bind(window_from)
        .bind(now)
        .bind(owner)
        .bind(lease_until)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        sqlx::query("UPDATE sources SET last_scan_at = $2 WHERE id = $1")
            .bind(source.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(Some(ClaimedScan {
            scan_id,
            source,
            window_from,
            window_to: now,
        }))
    }

    /// Keeps the lease of a running scan; false when it was lost (reaped).
    pub async fn renew_scan_lease(
        &self,
        scan_id: i64,
        owner: &str,
        lease_until: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE scans SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 \
             AND status = 'running'",
        )
        .bind(scan_id)
        .bind(owner)
        .bind(lease_until)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores one fetched page of a scan in one transaction: its observations
    /// (linked to the products `matcher` finds), its search interest, and the
    /// scan's counters and cursor. A crash between pages loses nothing stored
    /// and counts nothing twice; re-fetching a page adds no duplicate.
    pub async fn store_scan_page(
        &self,
        scan_id: i64,
        source_id: i64,
        page: &Page,
        matcher: &Matcher,
        mut progress: PageProgress,
        now: Millis,
    ) -> StoreResult<IngestCounts> {
        let mut tx = self.begin_write().await?;
        let counts = ingest_in(&mut tx, self.backend, &page.observations, matcher).await?;
        Self::store_interest_in(&mut tx, source_id, &page.interest, now).await?;
        progress.accepted = counts.accepted as i64;
        progress.duplicates = counts.duplicates as i64;
        Self::record_page_in(&mut tx, scan_id, &progress).await?;
        self.commit(tx).await?;
        Ok(counts)
    }

    /// Adds a stored page to its scan's counters, in the transaction that
    /// stored it: the counters never disagree with what is stored.
    pub(crate) async fn record_page_in(
        tx: &mut Transaction<'static, Any>,
        scan_id: i64,
        p: &PageProgress,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE scans SET pages = pages + 1, items = items + $2, accepted = accepted + $3, \
             duplicates = duplicates + $4, skipped = skipped + $5, cursor = $6 WHERE id = $1",
        )
        .bind(scan_id)
        .bind(p.items)
        .bind(p.accepted)
        .bind(p.duplicates)
        .bind(p.skipped)
        .bind(&p.cursor)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::classify)?;
        Ok(())
    }

    /// Stores search interest points (replacing earlier values of a day).
    pub(crate) async fn store_interest_in(
        tx: &mut Transaction<'static, Any>,
        source_id: i64,
        points: &[InterestPoint],
        now: Millis,
    ) -> StoreResult<()> {
        for p in points {
            sqlx::query(
                "INSERT INTO search_interest (source_id, term, geo, day, value, observed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source_id, term, geo, day) \
                 DO UPDATE SET value = excluded.value, observed_at = excluded.observed_at",
            )
            .bind(source_id)
            .bind(&p.term)
            .bind(&p.geo)
            .bind(p.day)
            .bind(p.value)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    /// Ends a scan with its status and errors; pauses its source until
    /// `pause` when a rate limit or a spent quota stopped it.
    pub async fn finish_scan(
        &self,
        scan_id: i64,
        status: ScanStatus,
        errors: &[ScanError],
        products_refreshed: i64,
        pause: Option<(Millis, String)>,
        now: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let stored: Vec<StoredError> = errors
            .iter()
            .map(|e| StoredError {
                at: e.at,
                code: e.code.clone(),
                message: e.message.clone(),
            })
            .collect();
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE scans SET status = $2, errors = $3, products_refreshed = $4, finished_at = $5, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1 RETURNING source_id",
        )
        .bind(scan_id)
        .bind(status.as_str())
        .bind(to_json(&stored))
        .bind(products_refreshed)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        let (source_id,) = row.ok_or(StoreError::NotFound("scan"))?;
        let (until, reason) = match pause {
            Some((until, reason)) => (Some(until), Some(reason)),
            None => (None, None),
        };
        sqlx::query("UPDATE sources SET paused_until = $2, pause_reason = $3 WHERE id = $1")
            .bind(source_id)
            .bind(until)
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        self.commit(tx).await
    }

    pub async fn scan(&self, id: i64) -> StoreResult<Scan> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans s JOIN sources src ON src.id = s.source_id \
             WHERE s.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::classify)?
            .ok_or(StoreError::NotFound("scan"))?;
        scan_from_row(&row).map_err(StoreError::classify)
    }

    /// Scans, newest first, optionally of one source.
    pub async fn scans(&self, source_id: Option<i64>, limit: i64) -> StoreResult<Vec<Scan>> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans s JOIN sources src ON src.id = s.source_id \
             WHERE ($1 = 0 OR s.source_id = $1) ORDER BY s.id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(source_id.unwrap_or(0))
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::classify)?;
        rows.iter()
            .map(scan_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::classify)
    }

    /// Every term with stored search interest.
    pub async fn search_interest_terms(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT term FROM search_interest ORDER BY term")
                .fetch_all(self.pool())
                .await
                .map_err(StoreError::classify)?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// A term's search interest since `from_day` (days since 1970-01-01), by
    /// place and day; where several sources follow the term, the latest
    /// reading of a place and day wins.
    pub async fn search_interest(
        &self,
        term: &str,
        from_day: i64,
    ) -> StoreResult<Vec<InterestPoint>> {
        let rows: Vec<(String, i64, f64)> = sqlx::query_as(
            "SELECT geo, day, value FROM search_interest WHERE term = $1 AND day >= $2 \
             ORDER BY geo, day, observed_at",
        )
        .bind(term)
        .bind(from_day)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::classify)?;
        let mut out: Vec<InterestPoint> = Vec::with_capacity(rows.len());
        for (geo, day, value) in rows {
            match out.last_mut() {
                Some(last) if last.geo == geo && last.day == day => last.value = value,
                _ => out.push(InterestPoint {
                    term: term.to_owned(),
                    geo,
                    day,
                    value,
                }),
            }
        }
        Ok(out)
    }
}
