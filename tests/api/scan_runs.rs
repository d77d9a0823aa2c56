//! Whole scans against a fake YouTube Data API: what a scan stores, that
//! scanning again adds snapshots but never duplicates, and that a scan whose
//! server died half-way is picked up again with nothing lost or doubled.

use std::sync::Arc;
use std::time::Duration;

use marketscout::connectors::Secrets;
use marketscout::connectors::http::HttpPolicy;
use marketscout::refresh::MatcherCache;
use marketscout::scan::{ScanSettings, Scanner};
use marketscout::store::sources::ScanStatus;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const KEY: &str = "AIzaSyScanTestKey-never-shown";

fn fixture(name: &str) -> ResponseTemplate {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/youtube")
        .join(name);
    ResponseTemplate::new(200).set_body_raw(std::fs::read(path).unwrap(), "application/json")
}

/// Two pages of search results (three videos) and their statistics; the
/// second page answers after `second_page_delay`.
async fn fake_youtube(second_page_delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(fixture("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("pageToken", "CAIQAA"))
        .respond_with(fixture("search_us_page2.json").set_delay(second_page_delay))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("id", "Zx9kQ2mPq0A,Lm3nB8vRt2c"))
        .respond_with(fixture("videos_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("id", "Qw8eRt5yU1i"))
        .respond_with(fixture("videos_us_page2.json"))
        .mount(&server)
        .await;
    server
}

async fn youtube_source(app: &TestApp, server: &MockServer) -> i64 {
    app.state
        .store
        .create_source(
            &marketscout::store::sources::SourceFields {
                name: Some("YouTube car gadgets".into()),
                kind: Some(marketscout::connectors::SourceKind::Youtube),
                query: Some(vec!["magnetic phone mount".into()]),
                countries: Some(vec!["US".into()]),
                every_minutes: Some(60),
                base_url: Some(Some(server.uri())),
                ..Default::default()
            },
            marketscout::time::now_ms(),
        )
        .await
        .unwrap()
        .id
}

fn scanner(app: &TestApp, owner: &str, lease: Duration) -> Scanner {
    Scanner::new(
        app.state.store.clone(),
        Secrets::new([("YOUTUBE_API_KEY".to_owned(), KEY.to_owned())]),
        ScanSettings {
            owner: owner.into(),
            lease,
            http: HttpPolicy {
                timeout: Duration::from_secs(10),
                retries: 1,
                backoff: Duration::from_millis(10),
                ..HttpPolicy::default()
            },
            ..ScanSettings::default()
        },
        Arc::new(MatcherCache::default()),
    )
}

#[tokio::test]
async fn a_scan_stores_what_it_fetched_links_it_to_products_and_refreshes_them() {
    let app = spawn_app().await;
    let server = fake_youtube(Duration::ZERO).await;
    let product = app.product("Magnetic mount").await;
    let source = youtube_source(&app, &server).await;
    let scanner = scanner(&app, "one", Duration::from_secs(60));

    let claimed = scanner.claim(source, "manual").await.unwrap().unwrap();
    let outcome = scanner.run(claimed, |_| {}).await.unwrap();
    assert_eq!(outcome.status, ScanStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        (outcome.pages, outcome.accepted, outcome.duplicates),
        (2, 3, 0)
    );
    assert_eq!(outcome.products_refreshed, 1);
    let scan = app.state.store.scan(outcome.scan_id).await.unwrap();
    assert_eq!((scan.pages, scan.items, scan.accepted), (2, 3, 3));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM contents").await, 3);

    let (status, trend) = json_of(app.get(&format!("/products/{product}/trend")).await).await;
    assert_eq!(status, 200);
    let platforms = trend["platforms"].to_string();
    assert!(platforms.contains("youtube"), "{trend}");

    // Scanning again later: new snapshots of the same videos, no new content.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let claimed = scanner.claim(source, "manual").await.unwrap().unwrap();
    let again = scanner.run(claimed, |_| {}).await.unwrap();
    assert_eq!((again.pages, again.accepted), (2, 3));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM contents").await, 3);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM snapshots").await, 6);
    let listed = app
        .state
        .store
        .scans(Some(source), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.status)
        .collect::<Vec<_>>();
    assert_eq!(listed, vec![ScanStatus::Succeeded, ScanStatus::Succeeded]);
}

#[tokio::test]
async fn a_scan_whose_server_died_half_way_is_taken_over_with_nothing_lost_or_doubled() {
    let app = spawn_app().await;
    let server = fake_youtube(Duration::from_secs(30)).await;
    let source = youtube_source(&app, &server).await;

    // The first instance stores page 1, then dies while waiting for page 2.
    let first = scanner(&app, "died", Duration::from_secs(3));
    let claimed = first.claim(source, "schedule").await.unwrap().unwrap();
    let dead_scan = claimed.scan_id;
    let running = tokio::spawn(async move { first.run(claimed, |_| {}).await });
    let store = app.state.store.clone();
    for _ in 0..200 {
        if store.scan(dead_scan).await.unwrap().pages == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
    let _ = running.await;
    let stored = store.scan(dead_scan).await.unwrap();
    assert_eq!(
        (stored.status, stored.pages, stored.accepted),
        (ScanStatus::Running, 1, 2)
    );

    // Another instance finds the lease lapsed and scans the source again.
    server.reset().await;
    let server_ok = fake_youtube(Duration::ZERO).await;
    app.state
        .store
        .update_source(
            source,
            &marketscout::store::sources::SourceFields {
                base_url: Some(Some(server_ok.uri())),
                ..Default::default()
            },
            marketscout::time::now_ms(),
        )
        .await
        .unwrap();
    let second = scanner(&app, "alive", Duration::from_secs(60));
    assert!(
        second.claim(source, "schedule").await.unwrap().is_none(),
        "the dead instance's lease still holds"
    );
    let mut claimed = None;
    for _ in 0..150 {
        claimed = second.claim_due().await.unwrap();
        if claimed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimed = claimed.expect("due again once the lease lapsed");
    let outcome = second.run(claimed, |_| {}).await.unwrap();
    assert_eq!(outcome.status, ScanStatus::Succeeded);
    assert_eq!(
        store.scan(dead_scan).await.unwrap().status,
        ScanStatus::Abandoned
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM contents").await,
        3,
        "every video once"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM snapshots").await,
        2 + 3,
        "page 1 of the dead scan kept, then one snapshot per video of the new one"
    );
}
