//! X: API v2 recent search against a fake server.

use std::time::Duration;

use marketscout::connectors::{self, Connector, ConnectorError, ScanRequest, SourceKind};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::*;

const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAATestBearerNeverShown";
const TERMS: &[&str] = &["magnetic phone mount", "#tiktokmademebuyit"];
/// 2025-11-20T13:00:00Z, in the epoch seconds of `x-rate-limit-reset`.
const RESET_S: i64 = 1_763_643_600;

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(fixture("x", name), "application/json")
        .insert_header("x-rate-limit-limit", "450")
        .insert_header("x-rate-limit-remaining", "449")
        .insert_header("x-rate-limit-reset", RESET_S.to_string().as_str())
}

fn problem(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture("x", name), "application/problem+json")
}

fn connector(server: &MockServer) -> Box<dyn Connector> {
    connectors::build(
        &source(SourceKind::X, &server.uri(), TERMS, &["GB"]),
        &secrets(&[("X_BEARER_TOKEN", TOKEN)]),
        &fast_policy(),
    )
    .unwrap()
}

fn search() -> MockBuilder {
    Mock::given(method("GET")).and(path("/tweets/search/recent"))
}

async fn fetch_err(server: &MockServer) -> ConnectorError {
    connector(server)
        .fetch(&request(TERMS, &["GB"]), None)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn pages_through_recent_search_with_authors_places_and_metrics() {
    let server = MockServer::start().await;
    search()
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param(
            "query",
            "(\"magnetic phone mount\" OR #tiktokmademebuyit) -is:retweet",
        ))
        .and(query_param("start_time", "2025-11-19T12:00:00Z"))
        // At least 10 s before now, as X requires.
        .and(query_param("end_time", "2025-11-20T11:59:50Z"))
        .and(query_param("max_results", "100"))
        .and(query_param("sort_order", "recency"))
        .and(query_param(
            "tweet.fields",
            "created_at,public_metrics,lang,author_id,entities,geo",
        ))
        .and(query_param("expansions", "author_id,geo.place_id"))
        .and(query_param("user.fields", "username"))
        .and(query_param("place.fields", "country_code"))
        .and(query_param_is_missing("next_token"))
        .respond_with(json("search_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    search()
        .and(query_param(
            "next_token",
            "b26v89c19zqg8o3fpzbkd2ahbhh2x3nv0ah1vv20p3t9p",
        ))
        .and(query_param("start_time", "2025-11-19T12:00:00Z"))
        .and(query_param("max_results", "100"))
        .respond_with(json("search_page2.json"))
        .expect(1)
        .mount(&server)
        .await;

    let x = connector(&server);
    let pages = all_pages(x.as_ref(), &request(TERMS, &["GB"]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[0].next.as_deref(),
        Some("b26v89c19zqg8o3fpzbkd2ahbhh2x3nv0ah1vv20p3t9p")
    );
    assert_eq!(pages[1].next, None);
    let all: Vec<_> = pages.iter().flat_map(|p| &p.observations).collect();
    assert_eq!(all.len(), 3);
    assert!(pages.iter().all(|p| p.skipped.is_empty()));

    let first = all[0];
    assert_eq!(first.platform, "x");
    assert_eq!(first.kind, "post");
    assert_eq!(first.platform_id, "1991401234567890123");
    assert_eq!(
        first.url.as_deref(),
        Some("https://x.com/gadgetgirl/status/1991401234567890123")
    );
    assert_eq!(first.author.as_deref(), Some("gadgetgirl"));
    assert_eq!(first.views, Some(48_210)); // impression_count
    assert_eq!(first.likes, Some(903));
    assert_eq!(first.comments, Some(12));
    assert_eq!(first.shares, Some(46)); // retweets + quotes
    assert_eq!(first.impressions, None);
    assert_eq!(first.country.as_deref(), Some("GB"));
    assert_eq!(first.language.as_deref(), Some("en"));
    assert_eq!(first.hashtags, ["tiktokmademebuyit", "carhacks"]);
    assert_eq!(first.published_at, Some(1_763_631_012_000)); // 09:30:12Z
    assert_eq!(first.observed_at, NOW_MS);

    // "und" is no language; no place means no country.
    let second = all[1];
    assert_eq!(second.language, None);
    assert_eq!(second.country, None);
    assert_eq!(second.author.as_deref(), Some("sam_buys"));

    // An author missing from includes: the id-only URL, no author; older
    // captures without impression_count leave views unknown.
    let third = all[2];
    assert_eq!(
        third.url.as_deref(),
        Some("https://x.com/i/web/status/1991201112223334445")
    );
    assert_eq!(third.author, None);
    assert_eq!(third.views, None);
    assert_eq!(third.shares, Some(4));
}

#[tokio::test]
async fn a_window_older_than_seven_days_is_clipped_to_what_x_can_search() {
    let server = MockServer::start().await;
    search()
        // now - 7 days + 10 minutes of margin for the later pages of a scan.
        .and(query_param("start_time", "2025-11-13T12:10:00Z"))
        .and(query_param("end_time", "2025-11-18T12:00:00Z"))
        .respond_with(json("search_empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let req = ScanRequest {
        since_ms: NOW_MS - 30 * 86_400_000,
        until_ms: NOW_MS - 2 * 86_400_000,
        ..request(TERMS, &[])
    };
    let page = connector(&server).fetch(&req, None).await.unwrap();
    assert!(page.observations.is_empty());
}

#[tokio::test]
async fn a_window_wholly_before_the_last_seven_days_asks_nothing() {
    let server = MockServer::start().await;
    search()
        .respond_with(json("search_page1.json"))
        .expect(0)
        .mount(&server)
        .await;
    let req = ScanRequest {
        since_ms: NOW_MS - 30 * 86_400_000,
        until_ms: NOW_MS - 8 * 86_400_000,
        ..request(TERMS, &[])
    };
    let page = connector(&server).fetch(&req, None).await.unwrap();
    assert_eq!(page, Default::default());
}

#[tokio::test]
async fn no_results_is_an_empty_last_page() {
    let server = MockServer::start().await;
    search()
        .respond_with(json("search_empty.json"))
        .mount(&server)
        .await;
    let page = connector(&server)
        .fetch(&request(TERMS, &[]), None)
        .await
        .unwrap();
    assert!(page.observations.is_empty() && page.skipped.is_empty());
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn a_refused_token_is_a_credentials_error_naming_x_bearer_token() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(401, "error_401.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("X_BEARER_TOKEN"), "{err}");
    assert_no_secret(&err, TOKEN);
}

#[tokio::test]
async fn a_plan_without_search_says_so() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(403, "error_403_client_not_enrolled.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("X_BEARER_TOKEN"), "{shown}");
    assert!(shown.contains("plan lacks recent search"), "{shown}");
    assert!(shown.contains("client-not-enrolled"), "{shown}");
    assert_no_secret(&err, TOKEN);
}

#[tokio::test]
async fn a_generic_forbidden_is_a_credentials_error_too() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(403, "error_403_forbidden.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("X_BEARER_TOKEN"), "{err}");
}

#[tokio::test]
async fn a_spent_rate_window_pauses_until_x_rate_limit_reset() {
    let server = MockServer::start().await;
    search()
        .respond_with(
            problem(429, "error_429_rate_limit.json")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", RESET_S.to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, RESET_S * 1000);
}

#[tokio::test]
async fn a_spent_monthly_usage_cap_is_a_spent_quota_not_a_rate_limit() {
    // The trap: the same 429, and the rate-limit headers still look fine.
    let server = MockServer::start().await;
    search()
        .respond_with(
            problem(429, "error_429_usage_capped.json")
                .insert_header("x-rate-limit-remaining", "440")
                .insert_header("x-rate-limit-reset", RESET_S.to_string().as_str()),
        )
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
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, 1_764_547_200_000); // 2025-12-01T00:00:00Z
    assert!(detail.contains("Monthly product cap"), "{detail}");
    assert_no_secret(&err, TOKEN);
}

#[tokio::test]
async fn spent_credits_answered_with_402_are_a_spent_quota() {
    let server = MockServer::start().await;
    search()
        .respond_with(ResponseTemplate::new(402).set_body_raw(
            r#"{"title":"CreditsDepleted","detail":"Your account has no credits","type":"https://api.x.com/2/problems/credits-depleted"}"#,
            "application/problem+json",
        ))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(
        matches!(err, ConnectorError::QuotaExhausted { .. }),
        "{err:?}"
    );
    assert!(err.resume_at_ms().unwrap() > NOW_MS);
}

#[tokio::test]
async fn no_request_left_in_the_window_pauses_before_the_next_page() {
    let server = MockServer::start().await;
    search()
        .respond_with(
            json("search_page1.json")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", RESET_S.to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let x = connector(&server);
    let req = request(TERMS, &[]);
    let page = x.fetch(&req, None).await.unwrap();
    assert_eq!(page.observations.len(), 2);
    let err = x.fetch(&req, page.next.as_deref()).await.unwrap_err();
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, RESET_S * 1000);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_call_retried() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(429, "error_429_rate_limit.json").insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    search()
        .respond_with(json("search_page2.json"))
        .mount(&server)
        .await;
    let page = connector(&server)
        .fetch(&request(TERMS, &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_long_retry_after_without_reset_header_pauses_until_then() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(429, "error_429_rate_limit.json").insert_header("Retry-After", "900"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, NOW_MS + 900_000);
}

#[tokio::test]
async fn an_invalid_request_is_a_bad_query_naming_the_parameter() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(400, "error_400_invalid_request.json"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::BadQuery { .. }), "{err:?}");
    assert!(err.to_string().contains("start_time"), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_until_an_answer_comes() {
    let server = MockServer::start().await;
    search()
        .respond_with(problem(503, "error_503.json"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    search()
        .respond_with(json("search_page2.json"))
        .mount(&server)
        .await;
    let page = connector(&server)
        .fetch(&request(TERMS, &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn malformed_truncated_or_metaless_answers_are_bad_responses() {
    let truncated = &fixture("x", "search_page1.json")[..400];
    for body in ["not json", truncated, r#"{"data":[]}"#] {
        let server = MockServer::start().await;
        search()
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
async fn posts_with_a_wrongly_typed_field_are_skipped_and_the_rest_kept() {
    let server = MockServer::start().await;
    search()
        .respond_with(json("search_bad_items.json"))
        .mount(&server)
        .await;
    let page = connector(&server)
        .fetch(&request(TERMS, &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].platform_id, "1991398765432100000");
    assert_eq!(page.skipped.len(), 2, "{:?}", page.skipped);
    assert!(
        page.skipped[0].starts_with("post 1991401234567890123: public_metrics.like_count"),
        "{:?}",
        page.skipped
    );
    assert!(
        page.skipped[1].starts_with("post 2 of the page: id is not a string"),
        "{:?}",
        page.skipped
    );
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    search()
        .respond_with(json("search_empty.json").set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn without_a_token_the_source_asks_for_x_bearer_token() {
    let err = connectors::build(
        &source(SourceKind::X, "http://127.0.0.1:9", TERMS, &[]),
        &secrets(&[("YOUTUBE_API_KEY", "unrelated")]),
        &fast_policy(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err,
        ConnectorError::MissingCredentials {
            kind: SourceKind::X,
            name: "X_BEARER_TOKEN"
        }
    );
}

#[tokio::test]
async fn the_token_travels_only_in_the_header_and_shows_in_no_error_or_url() {
    let server = MockServer::start().await;
    search()
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(json("search_page1.json"))
        .mount(&server)
        .await;
    let x = connector(&server);
    let page = x.fetch(&request(TERMS, &[]), None).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(!requests[0].url.as_str().contains(TOKEN));
    for o in &page.observations {
        assert!(!o.url.as_deref().unwrap_or_default().contains(TOKEN));
    }
    assert!(!page.next.as_deref().unwrap_or_default().contains(TOKEN));

    let closed = connectors::build(
        &source(SourceKind::X, "http://127.0.0.1:9", TERMS, &[]),
        &secrets(&[("X_BEARER_TOKEN", TOKEN)]),
        &fast_policy(),
    )
    .unwrap();
    let err = closed.fetch(&request(TERMS, &[]), None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    assert_no_secret(&err, TOKEN);
}
