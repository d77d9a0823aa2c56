//! What every connector test needs: a fast HTTP policy, a source pointed at a
//! fake server, the request of a scan, and fixtures.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use marketscout::connectors::http::HttpPolicy;
use marketscout::connectors::{
    Connector, ConnectorError, Page, ScanRequest, Secrets, SourceConfig, SourceKind,
};

/// Short timeouts and waits, so failure paths take milliseconds.
pub fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_millis(300),
        retries: 2,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_wait: Duration::from_secs(2),
    }
}

pub fn source(
    kind: SourceKind,
    base_url: &str,
    query: &[&str],
    countries: &[&str],
) -> SourceConfig {
    SourceConfig {
        kind,
        name: format!("test {kind}"),
        query: query.iter().map(|s| (*s).to_owned()).collect(),
        countries: countries.iter().map(|s| (*s).to_owned()).collect(),
        base_url: Some(base_url.to_owned()),
    }
}

pub fn secrets(pairs: &[(&str, &str)]) -> Secrets {
    Secrets::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
}

/// 2025-11-20T12:00:00Z, the clock of every test scan.
pub const NOW_MS: i64 = 1_763_640_000_000;

/// A scan of the last day before [`NOW_MS`].
pub fn request(query: &[&str], countries: &[&str]) -> ScanRequest {
    ScanRequest {
        query: query.iter().map(|s| (*s).to_owned()).collect(),
        countries: countries.iter().map(|s| (*s).to_owned()).collect(),
        since_ms: NOW_MS - 86_400_000,
        until_ms: NOW_MS,
        now_ms: NOW_MS,
    }
}

pub fn fixture_path(source: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(source)
        .join(name)
}

pub fn fixture(source: &str, name: &str) -> String {
    let path = fixture_path(source, name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every page from the first, as a scan reads them (at most `max_pages`).
pub async fn all_pages(
    connector: &dyn Connector,
    request: &ScanRequest,
    max_pages: usize,
) -> Result<Vec<Page>, ConnectorError> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    while pages.len() < max_pages {
        let page = connector.fetch(request, cursor.as_deref()).await?;
        cursor = page.next.clone();
        pages.push(page);
        if cursor.is_none() {
            break;
        }
    }
    Ok(pages)
}

/// Fails when `secret` shows in an error's message or debug form.
pub fn assert_no_secret(err: &ConnectorError, secret: &str) {
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(secret),
        "a secret leaked into an error: {shown}"
    );
}
