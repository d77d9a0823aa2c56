//! Scans: a source's connector driven page by page, each page stored in its
//! own transaction together with the scan's counters, then the touched
//! products refreshed. The scheduler starts due scans in the background;
//! a lease on each running scan lets several instances share one database
//! (a due scan runs on exactly one of them, and a scan whose instance died
//! is marked abandoned when its lease lapses, so its source is due again).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::connectors::{self, ConnectorError, ScanRequest, Secrets, http::HttpPolicy};
use crate::refresh::{self, MatcherCache};
use crate::store::sources::{ClaimedScan, PageProgress, ScanError, ScanStatus};
use crate::store::{Millis, Store, StoreResult};

/// Skipped items whose reasons a scan keeps.
const MAX_SKIPPED_SHOWN: usize = 20;

/// How scans run.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// This instance, as lease owner (host and process id by default).
    pub owner: String,
    /// A running scan's lease; renewed after every page.
    pub lease: Duration,
    /// Scans this instance runs at once.
    pub concurrency: usize,
    /// How often the scheduler looks for due scans.
    pub tick: Duration,
    pub http: HttpPolicy,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            owner: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "marketscout".into()),
                std::process::id()
            ),
            lease: Duration::from_secs(120),
            concurrency: 2,
            tick: Duration::from_secs(15),
            http: HttpPolicy::default(),
        }
    }
}

/// Everything a scan needs, shared by the scheduler, the API and the CLI.
#[derive(Clone)]
pub struct Scanner {
    pub store: Store,
    pub secrets: Arc<Secrets>,
    pub settings: ScanSettings,
    pub matcher: Arc<MatcherCache>,
    /// Wakes the scheduler (a source was added or a scan requested).
    pub wake: Arc<Notify>,
}

/// How a scan ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutcome {
    pub scan_id: i64,
    pub status: ScanStatus,
    pub pages: i64,
    pub accepted: u64,
    pub duplicates: u64,
    pub errors: Vec<ScanError>,
    pub products_refreshed: usize,
}

impl Scanner {
    pub fn new(
        store: Store,
        secrets: Secrets,
        settings: ScanSettings,
        matcher: Arc<MatcherCache>,
    ) -> Self {
        Scanner {
            store,
            secrets: Arc::new(secrets),
            settings,
            matcher,
            wake: Arc::new(Notify::new()),
        }
    }

    fn lease_until(&self, now: Millis) -> Millis {
        now + self.settings.lease.as_millis() as i64
    }

    /// Claims a scan of `source_id` now (unless one is running: `None`).
    pub async fn claim(&self, source_id: i64, trigger: &str) -> StoreResult<Option<ClaimedScan>> {
        self.claim_scan(Some(source_id), trigger).await
    }

    /// Claims the next due scan, if any.
    pub async fn claim_due(&self) -> StoreResult<Option<ClaimedScan>> {
        self.claim_scan(None, "schedule").await
    }

    /// Reaps lapsed leases first, so a source whose scan died is claimable.
    async fn claim_scan(
        &self,
        source_id: Option<i64>,
        trigger: &str,
    ) -> StoreResult<Option<ClaimedScan>> {
        let now = crate::time::now_ms();
        self.store.reap_abandoned_scans(now).await?;
        self.store
            .claim_due_scan(
                &self.settings.owner,
                now,
                self.lease_until(now),
                source_id,
                trigger,
            )
            .await
    }

    /// Runs a claimed scan to its end. `on_page` is told after each stored
    /// page (the CLI's progress bar).
    pub async fn run(
        &self,
        claimed: ClaimedScan,
        on_page: impl Fn(&PageProgress),
    ) -> StoreResult<ScanOutcome> {
        let ClaimedScan {
            scan_id,
            source,
            window_from,
            window_to,
        } = claimed;
        let mut outcome = ScanOutcome {
            scan_id,
            status: ScanStatus::Succeeded,
            pages: 0,
            accepted: 0,
            duplicates: 0,
            errors: Vec::new(),
            products_refreshed: 0,
        };
        let mut pause = None;
        // Items a page returned that could not be used: the first few are kept
        // with the scan's errors so a user can see why, without failing it.
        let mut skipped = Vec::new();
        let mut touched = BTreeSet::new();
        match connectors::build(&source.config(), &self.secrets, &self.settings.http) {
            Err(e) => {
                outcome.errors.push(scan_error(&e));
            }
            Ok(connector) => {
                let request = ScanRequest {
                    query: source.query.clone(),
                    countries: source.countries.clone(),
                    since_ms: window_from,
                    until_ms: window_to,
                    now_ms: window_to,
                };
                let mut cursor: Option<String> = None;
                while outcome.pages < source.max_pages.max(1) {
                    let page = match connector.fetch(&request, cursor.as_deref()).await {
                        Ok(page) => page,
                        Err(e) => {
                            tracing::warn!(source = %source.name, scan = scan_id, code = e.code(), "scan stopped: {e}");
                            if let Some(at) = e.resume_at_ms() {
                                pause = Some((at, e.to_string()));
                            }
                            outcome.errors.push(scan_error(&e));
                            break;
                        }
                    };
                    for reason in &page.skipped {
                        if skipped.len() < MAX_SKIPPED_SHOWN {
                            skipped.push(ScanError {
                                at: crate::time::now_ms(),
                                code: "skipped_item".into(),
                                message: reason.clone(),
                            });
                        }
                    }
                    let matcher = self.matcher.get(&self.store).await?;
                    let progress = PageProgress {
                        items: (page.observations.len() + page.skipped.len()) as i64,
                        accepted: 0,
                        duplicates: 0,
                        skipped: page.skipped.len() as i64,
                        cursor: page.next.clone(),
                    };
                    let counts = self
                        .store
                        .store_scan_page(
                            scan_id,
                            source.id,
                            &page,
                            &matcher,
                            progress.clone(),
                            window_to,
                        )
                        .await?;
                    outcome.pages += 1;
                    outcome.accepted += counts.accepted;
                    outcome.duplicates += counts.duplicates;
                    touched.extend(counts.products.iter().copied());
                    on_page(&PageProgress {
                        accepted: counts.accepted as i64,
                        duplicates: counts.duplicates as i64,
                        ..progress
                    });
                    let now = crate::time::now_ms();
                    if !self
                        .store
                        .renew_scan_lease(scan_id, &self.settings.owner, self.lease_until(now))
                        .await?
                    {
                        outcome.errors.push(ScanError {
                            at: now,
                            code: "lease_lost".into(),
                            message: "another instance took this scan over".into(),
                        });
                        break;
                    }
                    // An empty page with a next cursor is followed (a platform may
                    // answer a short or empty page mid-way); `max_pages` bounds it.
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
            }
        }
        outcome.status = match (outcome.errors.is_empty(), outcome.pages) {
            (true, _) => ScanStatus::Succeeded,
            (false, 0) => ScanStatus::Failed,
            (false, _) => ScanStatus::Partial,
        };
        let touched: Vec<i64> = touched.into_iter().collect();
        if !touched.is_empty() {
            let summary =
                refresh::refresh_products(&self.store, &touched, crate::time::now_ms(), false)
                    .await?;
            outcome.products_refreshed = summary.products;
        }
        let mut recorded = outcome.errors.clone();
        recorded.extend(skipped);
        self.store
            .finish_scan(
                scan_id,
                outcome.status,
                &recorded,
                outcome.products_refreshed as i64,
                pause,
                crate::time::now_ms(),
            )
            .await?;
        Ok(outcome)
    }

    /// Starts due scans in the background until `shutdown`, at most
    /// `concurrency` at once, one per source.
    pub async fn run_scheduler(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        loop {
            // Fill the free slots with due scans.
            loop {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                match self.claim_due().await {
                    Ok(Some(claimed)) => {
                        let scanner = self.clone();
                        tokio::spawn(async move {
                            let name = claimed.source.name.clone();
                            if let Err(e) = scanner.run(claimed, |_| {}).await {
                                tracing::error!(source = %name, "scan failed to record: {e}");
                            }
                            drop(permit);
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("scan scheduler: {e}");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.tick) => {}
            }
        }
    }
}

fn scan_error(e: &ConnectorError) -> ScanError {
    ScanError {
        at: crate::time::now_ms(),
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}
