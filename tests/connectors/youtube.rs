//! YouTube: `search.list` then `videos.list` against a fake Data API v3.

use std::time::Duration;

use marketscout::connectors::youtube::next_pacific_midnight_ms;
use marketscout::connectors::{self, Connector, ConnectorError, SourceKind};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::*;

const KEY: &str = "AIzaSyTestKey-never-shown";

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture("youtube", name), "application/json")
}

fn error(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture("youtube", name), "application/json")
}

fn connector(server: &MockServer, countries: &[&str]) -> Box<dyn Connector> {
    connectors::build(
        &source(
            SourceKind::Youtube,
            &server.uri(),
            &["magnetic phone mount", "car gadgets"],
            countries,
        ),
        &secrets(&[("YOUTUBE_API_KEY", KEY)]),
        &fast_policy(),
    )
    .unwrap()
}

async fn fetch_err(server: &MockServer) -> ConnectorError {
    connector(server, &["US"])
        .fetch(
            &request(&["magnetic phone mount", "car gadgets"], &["US"]),
            None,
        )
        .await
        .unwrap_err()
}

/// `search.list` for the US, first page, with every parameter the reference asks for.
fn us_search_first_page() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("part", "snippet"))
        .and(query_param("type", "video"))
        .and(query_param("q", "\"magnetic phone mount\"|\"car gadgets\""))
        .and(query_param("order", "date"))
        .and(query_param("publishedAfter", "2025-11-19T12:00:00Z"))
        .and(query_param("publishedBefore", "2025-11-20T12:00:00Z"))
        .and(query_param("regionCode", "US"))
        .and(query_param("maxResults", "50"))
        .and(query_param("key", KEY))
        .and(query_param_is_missing("pageToken"))
}

#[tokio::test]
async fn pages_through_search_and_reads_statistics_from_videos_list() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("pageToken", "CAIQAA"))
        .and(query_param("regionCode", "US"))
        .and(query_param("key", KEY))
        .respond_with(json("search_us_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("part", "snippet,statistics"))
        .and(query_param("id", "Zx9kQ2mPq0A,Lm3nB8vRt2c"))
        .and(query_param("key", KEY))
        .respond_with(json("videos_us_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("id", "Qw8eRt5yU1i"))
        .respond_with(json("videos_us_page2.json"))
        .expect(1)
        .mount(&server)
        .await;

    let yt = connector(&server, &["US"]);
    let pages = all_pages(
        yt.as_ref(),
        &request(&["magnetic phone mount", "car gadgets"], &["US"]),
        10,
    )
    .await
    .unwrap();

    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next.as_deref(), Some("0:CAIQAA"));
    assert_eq!(pages[1].next, None);
    let all: Vec<_> = pages.iter().flat_map(|p| &p.observations).collect();
    assert_eq!(all.len(), 3);
    assert!(pages.iter().all(|p| p.skipped.is_empty()));

    let first = all[0];
    assert_eq!(first.platform, "youtube");
    assert_eq!(first.kind, "video");
    assert_eq!(first.platform_id, "Zx9kQ2mPq0A");
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.youtube.com/watch?v=Zx9kQ2mPq0A")
    );
    assert_eq!(first.author.as_deref(), Some("GadgetGarage"));
    // The unescaped title of videos.list, not the HTML-escaped search snippet.
    assert_eq!(
        first.text.as_deref(),
        Some(
            "This mount changed my car 'setup'\n\nUnboxing the viral magnetic mount. Links below."
        )
    );
    assert_eq!(first.views, Some(184_230));
    assert_eq!(first.likes, Some(9_120));
    assert_eq!(first.comments, Some(412));
    assert_eq!(first.shares, None);
    assert_eq!(first.country.as_deref(), Some("US"));
    assert_eq!(first.language.as_deref(), Some("en-us"));
    assert_eq!(first.published_at, Some(1_763_633_049_000)); // 2025-11-20T10:04:09Z
    assert_eq!(first.observed_at, NOW_MS);

    // Hidden likes and disabled comments are unknown, never zero.
    let hidden = all[1];
    assert_eq!(hidden.platform_id, "Lm3nB8vRt2c");
    assert_eq!(hidden.views, Some(5_310));
    assert_eq!(hidden.likes, None);
    assert_eq!(hidden.comments, None);

    let last = all[2];
    assert_eq!(last.platform_id, "Qw8eRt5yU1i");
    assert_eq!(
        (last.views, last.likes, last.comments),
        (Some(77), Some(0), Some(3))
    );
    assert_eq!(last.hashtags, vec!["carhacks".to_owned()]);
    assert_eq!(last.published_at, Some(1_763_564_400_000)); // 2025-11-19T15:00:00Z
}

#[tokio::test]
async fn each_country_is_its_own_search_and_marks_its_videos_as_viewable_there() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("pageToken", "CAIQAA"))
        .respond_with(json("search_us_page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("regionCode", "DE"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(json("search_de.json"))
        .expect(1)
        .mount(&server)
        .await;
    for (ids, body) in [
        ("Zx9kQ2mPq0A,Lm3nB8vRt2c", "videos_us_page1.json"),
        ("Qw8eRt5yU1i", "videos_us_page2.json"),
        ("De4aUt0Hal7", "videos_de.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/videos"))
            .and(query_param("id", ids))
            .respond_with(json(body))
            .mount(&server)
            .await;
    }

    let yt = connector(&server, &["us", "DE"]);
    let pages = all_pages(
        yt.as_ref(),
        &request(&["magnetic phone mount", "car gadgets"], &["us", "DE"]),
        10,
    )
    .await
    .unwrap();

    let cursors: Vec<_> = pages.iter().map(|p| p.next.as_deref()).collect();
    assert_eq!(cursors, [Some("0:CAIQAA"), Some("1:"), None]);
    let seen: Vec<(&str, Option<&str>)> = pages
        .iter()
        .flat_map(|p| &p.observations)
        .map(|o| (o.platform_id.as_str(), o.country.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("Zx9kQ2mPq0A", Some("US")),
            ("Lm3nB8vRt2c", Some("US")),
            ("Qw8eRt5yU1i", Some("US")),
            ("De4aUt0Hal7", Some("DE")),
        ]
    );
    let de = pages[2].observations[0].clone();
    assert_eq!(de.language.as_deref(), Some("de"));
    assert_eq!(
        (de.views, de.likes, de.comments),
        (Some(1_200), Some(45), Some(6))
    );
}

#[tokio::test]
async fn a_country_without_results_is_passed_over_within_the_same_page() {
    // A scan stops at an empty page, so an empty country must not end it.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("regionCode", "US"))
        .respond_with(json("search_empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("regionCode", "DE"))
        .respond_with(json("search_de.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("id", "De4aUt0Hal7"))
        .respond_with(json("videos_de.json"))
        .expect(1)
        .mount(&server)
        .await;

    let yt = connector(&server, &["US", "DE"]);
    let page = yt
        .fetch(&request(&["magnetic phone mount"], &["US", "DE"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].country.as_deref(), Some("DE"));
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn without_countries_no_region_is_sent_and_the_country_stays_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param_is_missing("regionCode"))
        .respond_with(json("search_us_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_us_page2.json"))
        .mount(&server)
        .await;

    let page = connector(&server, &[])
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].country, None);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn no_results_is_an_empty_last_page_without_a_statistics_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(json("search_empty.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_us_page1.json"))
        .expect(0)
        .mount(&server)
        .await;

    let page = connector(&server, &["US"])
        .fetch(&request(&["nothing like this"], &["US"]), None)
        .await
        .unwrap();
    assert!(page.observations.is_empty());
    assert!(page.skipped.is_empty());
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn a_spent_quota_pauses_the_source_until_midnight_pacific_time() {
    // NOW_MS is 2025-11-20T12:00Z = 04:00 PST; the quota resets at 08:00Z the next day.
    let midnight = 1_763_712_000_000; // 2025-11-21T08:00:00Z
    assert_eq!(next_pacific_midnight_ms(NOW_MS), midnight);
    for body in ["error_quota_exceeded.json", "error_daily_limit.json"] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/search"))
            .respond_with(error(403, body))
            .expect(1)
            .mount(&server)
            .await;
        let err = fetch_err(&server).await;
        let ConnectorError::QuotaExhausted {
            resume_at_ms,
            ref detail,
            ..
        } = err
        else {
            panic!("{body}: {err:?}");
        };
        assert_eq!(resume_at_ms, midnight, "{body}");
        assert!(!detail.contains("<a href"), "HTML left in {detail}");
        assert_no_secret(&err, KEY);
    }
}

#[tokio::test]
async fn a_quota_spent_by_the_statistics_call_also_pauses_the_source() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(error(403, "error_quota_exceeded.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert_eq!(err.code(), "quota_exhausted", "{err:?}");
}

#[tokio::test]
async fn a_key_blocked_for_youtube_is_refused_credentials_naming_the_setting() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(error(403, "error_forbidden.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("YOUTUBE_API_KEY"), "{shown}");
    assert!(shown.contains("API_KEY_SERVICE_BLOCKED"), "{shown}");
    assert_no_secret(&err, KEY);
}

#[tokio::test]
async fn an_invalid_key_answered_as_a_bad_request_is_a_credentials_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(error(400, "error_key_invalid.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("YOUTUBE_API_KEY"), "{err}");
    assert_no_secret(&err, KEY);
}

#[tokio::test]
async fn a_refused_search_filter_is_a_bad_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(error(400, "error_invalid_search_filter.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::BadQuery { .. }), "{err:?}");
    assert!(err.to_string().contains("invalidSearchFilter"), "{err}");
}

#[tokio::test]
async fn bursts_refused_with_a_403_rate_limit_reason_are_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(error(403, "error_rate_limit.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert!(err.resume_at_ms().unwrap() > NOW_MS);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_call_retried() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    us_search_first_page()
        .respond_with(json("search_us_page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_us_page2.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["US"])
        .fetch(
            &request(&["magnetic phone mount", "car gadgets"], &["US"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_long_retry_after_pauses_the_source_until_then() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, NOW_MS + 3_600_000);
}

#[tokio::test]
async fn server_errors_are_retried_until_an_answer_comes() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    us_search_first_page()
        .respond_with(json("search_us_page2.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_us_page2.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["US"])
        .fetch(
            &request(&["magnetic phone mount", "car gadgets"], &["US"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_truncated_or_itemless_answers_are_bad_responses() {
    let truncated = &fixture("youtube", "search_us_page1.json")[..300];
    for body in [
        "<html>oops</html>",
        truncated,
        r#"{"kind":"youtube#searchListResponse"}"#,
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/search"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let err = fetch_err(&server).await;
        assert!(
            matches!(err, ConnectorError::BadResponse { .. }),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_video_with_an_unreadable_count_is_skipped_and_the_rest_kept() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_bad_items.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["US"])
        .fetch(
            &request(&["magnetic phone mount", "car gadgets"], &["US"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].platform_id, "Lm3nB8vRt2c");
    assert_eq!(page.skipped.len(), 1);
    assert!(
        page.skipped[0].contains("Zx9kQ2mPq0A"),
        "{:?}",
        page.skipped
    );
    assert!(page.skipped[0].contains("viewCount"), "{:?}", page.skipped);
}

#[tokio::test]
async fn a_video_deleted_between_search_and_statistics_is_skipped_by_id() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_one_missing.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["US"])
        .fetch(
            &request(&["magnetic phone mount", "car gadgets"], &["US"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.skipped.len(), 1);
    assert!(
        page.skipped[0].starts_with("video Zx9kQ2mPq0A"),
        "{:?}",
        page.skipped
    );
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(json("search_empty.json").set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn without_a_key_the_source_asks_for_youtube_api_key() {
    let err = connectors::build(
        &source(SourceKind::Youtube, "http://127.0.0.1:9", &["mount"], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err,
        ConnectorError::MissingCredentials {
            kind: SourceKind::Youtube,
            name: "YOUTUBE_API_KEY"
        }
    );
}

#[tokio::test]
async fn the_key_shows_in_no_error_cursor_or_stored_url() {
    let server = MockServer::start().await;
    us_search_first_page()
        .respond_with(json("search_us_page1.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(json("videos_us_page1.json"))
        .mount(&server)
        .await;
    // An error body that echoes the key back must not carry it further.
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("pageToken", "CAIQAA"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            format!(
                r#"{{"error":{{"code":400,"message":"Bad value for key={KEY}","errors":[{{"reason":"invalidParameter","message":"x"}}]}}}}"#
            ),
            "application/json",
        ))
        .mount(&server)
        .await;
    let yt = connector(&server, &["US"]);
    let req = request(&["magnetic phone mount", "car gadgets"], &["US"]);
    let page = yt.fetch(&req, None).await.unwrap();
    for o in &page.observations {
        assert!(!o.url.as_deref().unwrap_or_default().contains(KEY));
    }
    assert!(!page.next.as_deref().unwrap().contains(KEY));
    let err = yt.fetch(&req, page.next.as_deref()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::BadQuery { .. }), "{err:?}");
    assert_no_secret(&err, KEY);
    // Network failures are described without the URL that holds the key.
    let closed = connectors::build(
        &source(
            SourceKind::Youtube,
            "http://127.0.0.1:9",
            &["mount"],
            &["US"],
        ),
        &secrets(&[("YOUTUBE_API_KEY", KEY)]),
        &fast_policy(),
    )
    .unwrap();
    let err = closed.fetch(&req, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    assert_no_secret(&err, KEY);
}
