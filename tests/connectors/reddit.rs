//! Reddit: app-only OAuth (or the public `.json` pages) against a fake server.

use std::time::Duration;

use base64::Engine;
use marketscout::connectors::http::USER_AGENT;
use marketscout::connectors::{self, Connector, ConnectorError, ScanRequest, SourceKind};
use wiremock::matchers::{
    body_string, header, header_exists, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::*;

const CLIENT_ID: &str = "p-jcoLKBynTLew";
const CLIENT_SECRET: &str = "gko_LXELoV07ZBNUXrvWZfzE3aI";
const TOKEN: &str = "-qjzg-GRwH02Ykx7p6yOKtsogrfo";

fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(fixture("reddit", name), "application/json; charset=UTF-8")
        .insert_header("x-ratelimit-used", "3")
        .insert_header("x-ratelimit-remaining", "997.0")
        .insert_header("x-ratelimit-reset", "15")
}

fn status(code: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_raw(fixture("reddit", name), "application/json; charset=UTF-8")
}

fn oauth_secrets() -> marketscout::connectors::Secrets {
    secrets(&[
        ("REDDIT_CLIENT_ID", CLIENT_ID),
        ("REDDIT_CLIENT_SECRET", CLIENT_SECRET),
    ])
}

fn connector(server: &MockServer, query: &[&str]) -> Box<dyn Connector> {
    connectors::build(
        &source(SourceKind::Reddit, &server.uri(), query, &[]),
        &oauth_secrets(),
        &fast_policy(),
    )
    .unwrap()
}

fn public_connector(server: &MockServer, query: &[&str]) -> Box<dyn Connector> {
    connectors::build(
        &source(SourceKind::Reddit, &server.uri(), query, &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .unwrap()
}

fn token_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path("/api/v1/access_token"))
}

async fn mount_token(server: &MockServer, body: &str) {
    token_endpoint()
        .respond_with(json(body))
        .mount(server)
        .await;
}

fn gadgets_new() -> MockBuilder {
    Mock::given(method("GET")).and(path("/r/gadgets/new"))
}

async fn fetch_err(server: &MockServer) -> ConnectorError {
    connector(server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn reads_a_subreddits_new_listing_with_an_app_token_until_posts_predate_the_window() {
    let server = MockServer::start().await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    token_endpoint()
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("user-agent", USER_AGENT))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(json("token.json"))
        .expect(1)
        .mount(&server)
        .await;
    gadgets_new()
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("user-agent", USER_AGENT))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .and(query_param_is_missing("after"))
        .respond_with(json("new_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    gadgets_new()
        .and(query_param("after", "t3_1skbyfv"))
        .and(query_param("limit", "100"))
        .respond_with(json("new_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    // Page 2 ends with a post older than the window: its `after` is not followed.
    gadgets_new()
        .and(query_param("after", "t3_1sj0old"))
        .respond_with(json("empty.json"))
        .expect(0)
        .mount(&server)
        .await;

    let reddit = connector(&server, &["r/gadgets"]);
    let pages = all_pages(reddit.as_ref(), &request(&["r/gadgets"], &[]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next.as_deref(), Some("0:t3_1skbyfv"));
    assert_eq!(pages[1].next, None);
    let all: Vec<_> = pages.iter().flat_map(|p| &p.observations).collect();
    let ids: Vec<_> = all.iter().map(|o| o.platform_id.as_str()).collect();
    assert_eq!(
        ids,
        ["t3_1skc0aa", "t3_1skbyfv", "t3_1skaaaa", "t3_1sk9bbb"]
    );

    let first = all[0];
    assert_eq!(first.platform, "reddit");
    assert_eq!(first.kind, "post");
    assert_eq!(
        first.url.as_deref(),
        Some(
            "https://www.reddit.com/r/gadgets/comments/1skc0aa/this_19_magnetic_phone_mount_is_everywhere_on_my/"
        )
    );
    assert_eq!(first.author.as_deref(), Some("gear_nerd_42"));
    assert_eq!(
        first.text.as_deref(),
        Some(
            "This $19 magnetic phone mount is everywhere on my feed - worth it?\n\nSeen it on TikTok all week. Anyone tried it?"
        )
    );
    assert_eq!(first.likes, Some(142));
    assert_eq!(first.comments, Some(57));
    // Reddit publishes neither views nor shares nor a country.
    assert_eq!(
        (first.views, first.shares, first.country.as_deref()),
        (None, None, None)
    );
    // No subreddit sneaks in as a hashtag.
    assert!(first.hashtags.is_empty(), "{:?}", first.hashtags);
    assert_eq!(first.published_at, Some(1_763_630_000_000));
    assert_eq!(first.observed_at, NOW_MS);

    // A link post has only its title.
    assert_eq!(
        all[1].text.as_deref(),
        Some("Tested the viral mini blender for a month")
    );
}

#[tokio::test]
async fn removed_and_deleted_posts_keep_title_and_counts_without_placeholders() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(json("new_page2.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    let removed = &page.observations[0];
    assert_eq!(removed.platform_id, "t3_1skaaaa");
    assert_eq!(
        removed.text.as_deref(),
        Some("Is the magnetic mount safe for MagSafe phones?")
    );
    assert_eq!(removed.author, None);
    // A negative score is no net approval; a hidden score is unknown.
    assert_eq!(removed.likes, Some(0));
    assert_eq!(removed.comments, Some(4));
    let fresh = &page.observations[1];
    assert_eq!(
        fresh.text.as_deref(),
        Some("Fresh post, score hidden for now")
    );
    assert_eq!(fresh.likes, None);
    assert_eq!(
        page.observations.len(),
        2,
        "the post older than the window is left out"
    );
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn terms_are_searched_site_wide_newest_first_one_after_another() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "magnetic phone mount"))
        .and(query_param("sort", "new"))
        .and(query_param("t", "day"))
        .and(query_param("type", "link"))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .and(query_param_is_missing("restrict_sr"))
        .and(query_param_is_missing("after"))
        .respond_with(json("search_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "magnetic phone mount"))
        .and(query_param("after", "t3_1skc0aa"))
        .respond_with(json("empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "blender"))
        .and(query_param_is_missing("after"))
        .respond_with(json("search_last_page.json"))
        .expect(1)
        .mount(&server)
        .await;

    let query = ["magnetic phone mount", "blender"];
    let reddit = connector(&server, &query);
    // A window ending an hour ago: the post of the last hour is left out.
    let req = ScanRequest {
        until_ms: NOW_MS - 3_600_000,
        ..request(&query, &[])
    };
    let pages = all_pages(reddit.as_ref(), &req, 10).await.unwrap();
    let cursors: Vec<_> = pages.iter().map(|p| p.next.as_deref()).collect();
    // The empty second page of the first term is passed over within a fetch.
    assert_eq!(cursors, [Some("0:t3_1skc0aa"), None]);
    let ids: Vec<_> = pages
        .iter()
        .flat_map(|p| &p.observations)
        .map(|o| o.platform_id.as_str())
        .collect();
    assert_eq!(ids, ["t3_1skc0aa", "t3_1skb111"]);
}

#[tokio::test]
async fn terms_next_to_subreddits_are_searched_inside_them() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    Mock::given(method("GET"))
        .and(path("/r/gadgets+BuyItForLife/search"))
        .and(query_param("q", "blender"))
        .and(query_param("restrict_sr", "1"))
        .and(query_param("sort", "new"))
        .and(query_param("t", "week"))
        .respond_with(json("search_last_page.json"))
        .expect(1)
        .mount(&server)
        .await;
    let query = ["r/gadgets", "blender", "/r/BuyItForLife"];
    let req = ScanRequest {
        since_ms: NOW_MS - 3 * 86_400_000,
        ..request(&query, &[])
    };
    let page = connector(&server, &query).fetch(&req, None).await.unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn a_token_is_reused_until_shortly_before_it_expires() {
    for (body, token_calls) in [("token.json", 1), ("token_short_lived.json", 2)] {
        let server = MockServer::start().await;
        token_endpoint()
            .respond_with(json(body))
            .expect(token_calls)
            .mount(&server)
            .await;
        gadgets_new()
            .and(query_param_is_missing("after"))
            .respond_with(json("new_page1.json"))
            .mount(&server)
            .await;
        gadgets_new()
            .and(query_param("after", "t3_1skbyfv"))
            .respond_with(json("empty.json"))
            .mount(&server)
            .await;
        let reddit = connector(&server, &["r/gadgets"]);
        let pages = all_pages(reddit.as_ref(), &request(&["r/gadgets"], &[]), 10)
            .await
            .unwrap();
        assert_eq!(pages.len(), 2, "{body}");
        server.verify().await;
    }
}

#[tokio::test]
async fn a_token_refused_by_the_api_is_renewed_once_and_the_call_retried() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(json("token.json"))
        .expect(2)
        .mount(&server)
        .await;
    gadgets_new()
        .respond_with(status(401, "error_401.json").insert_header(
            "www-authenticate",
            "Bearer realm=\"reddit\", error=\"invalid_token\"",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    gadgets_new()
        .respond_with(json("new_page1.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn a_second_401_is_a_credentials_error_naming_both_settings() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(status(401, "error_401.json"))
        .expect(2)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("REDDIT_CLIENT_ID") && shown.contains("REDDIT_CLIENT_SECRET"),
        "{shown}"
    );
    for secret in [CLIENT_SECRET, TOKEN] {
        assert_no_secret(&err, secret);
    }
}

#[tokio::test]
async fn a_refused_client_id_and_secret_are_a_credentials_error() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(
            status(401, "error_401.json")
                .insert_header("www-authenticate", "Basic realm=\"reddit\""),
        )
        .mount(&server)
        .await;
    gadgets_new()
        .respond_with(json("new_page1.json"))
        .expect(0)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("REDDIT_CLIENT_SECRET"), "{err}");
    assert_no_secret(&err, CLIENT_SECRET);
}

#[tokio::test]
async fn a_token_error_inside_a_200_is_a_credentials_error_not_a_token() {
    let server = MockServer::start().await;
    mount_token(&server, "token_error_in_200.json").await;
    gadgets_new()
        .respond_with(json("new_page1.json"))
        .expect(0)
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("unsupported_grant_type"), "{err}");
}

#[tokio::test]
async fn without_credentials_the_public_json_pages_are_read_with_a_descriptive_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r/gadgets/new.json"))
        .and(header("user-agent", USER_AGENT))
        .and(query_param("limit", "100"))
        .and(query_param("raw_json", "1"))
        .respond_with(json("new_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(json("token.json"))
        .expect(0)
        .mount(&server)
        .await;
    let page = public_connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn public_search_uses_the_json_path_too() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search.json"))
        .and(query_param("q", "blender"))
        .and(query_param("sort", "new"))
        .respond_with(json("search_last_page.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = public_connector(&server, &["blender"])
        .fetch(&request(&["blender"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_public_page_refused_with_403_says_to_set_the_oauth_settings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/r/gadgets/new.json"))
        .respond_with(status(403, "error_403_private.json"))
        .mount(&server)
        .await;
    let err = public_connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("REDDIT_CLIENT_ID"), "{err}");
}

#[tokio::test]
async fn only_half_of_the_oauth_pair_names_the_missing_setting() {
    for (present, missing) in [
        ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"),
        ("REDDIT_CLIENT_SECRET", "REDDIT_CLIENT_ID"),
    ] {
        let err = connectors::build(
            &source(
                SourceKind::Reddit,
                "http://127.0.0.1:9",
                &["r/gadgets"],
                &[],
            ),
            &secrets(&[(present, "value")]),
            &fast_policy(),
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            ConnectorError::MissingCredentials {
                kind: SourceKind::Reddit,
                name: missing
            }
        );
    }
}

#[tokio::test]
async fn a_private_subreddit_and_a_banned_one_are_refused_queries() {
    for (code, body, words) in [
        (403, "error_403_private.json", "private"),
        (404, "error_404_banned.json", "banned"),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, "token.json").await;
        gadgets_new()
            .respond_with(status(code, body))
            .mount(&server)
            .await;
        let err = fetch_err(&server).await;
        assert!(matches!(err, ConnectorError::BadQuery { .. }), "{err:?}");
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[tokio::test]
async fn no_request_left_in_the_window_pauses_before_the_next_page() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(
            json("new_page1.json")
                .insert_header("x-ratelimit-remaining", "0.0")
                .insert_header("x-ratelimit-reset", "42"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let reddit = connector(&server, &["r/gadgets"]);
    let req = request(&["r/gadgets"], &[]);
    let page = reddit.fetch(&req, None).await.unwrap();
    assert_eq!(page.observations.len(), 2);
    let err = reddit.fetch(&req, page.next.as_deref()).await.unwrap_err();
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, NOW_MS + 42_000);
}

#[tokio::test]
async fn a_429_without_retry_after_pauses_for_the_reset_the_headers_give() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_raw(fixture("reddit", "error_429.html"), "text/html")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "300"),
        )
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    let ConnectorError::RateLimited { resume_at_ms, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(resume_at_ms, NOW_MS + 300_000);
}

#[tokio::test]
async fn a_long_retry_after_pauses_until_then() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(status(429, "error_429.json").insert_header("retry-after", "120"))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 120_000), "{err:?}");
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_call_retried() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_raw(fixture("reddit", "error_429.html"), "text/html")
                .insert_header("retry-after", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    gadgets_new()
        .respond_with(json("new_page1.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_until_an_answer_comes() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    gadgets_new()
        .respond_with(json("new_page1.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn malformed_truncated_childless_or_html_answers_are_bad_responses() {
    let truncated = &fixture("reddit", "new_page1.json")[..500];
    for body in [
        "{not json",
        truncated,
        r#"{"kind":"Listing","data":{"after":null}}"#,
        "<!doctype html><html><body>search results</body></html>",
    ] {
        let server = MockServer::start().await;
        mount_token(&server, "token.json").await;
        gadgets_new()
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
async fn items_missing_a_time_or_of_the_wrong_type_are_skipped_and_the_rest_kept() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(json("bad_items.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].platform_id, "t3_1sk0004");
    assert_eq!(
        page.skipped,
        [
            "post t3_1sk0001: no created_utc",
            "post t3_1sk0002: score is \"lots\", not an integer",
            "post t5_2qgzt: a t5 thing, not a post",
        ]
    );
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(json("empty.json").set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let err = fetch_err(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn no_results_is_an_empty_last_page() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .respond_with(json("empty.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page, Default::default());
}

#[tokio::test]
async fn the_secret_and_token_travel_only_in_headers_and_show_nowhere_else() {
    let server = MockServer::start().await;
    mount_token(&server, "token.json").await;
    gadgets_new()
        .and(header_exists("authorization"))
        .respond_with(json("new_page1.json"))
        .mount(&server)
        .await;
    let page = connector(&server, &["r/gadgets"])
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap();
    for request in server.received_requests().await.unwrap() {
        let url = request.url.as_str();
        assert!(
            !url.contains(CLIENT_SECRET) && !url.contains(TOKEN),
            "{url}"
        );
    }
    for o in &page.observations {
        let url = o.url.as_deref().unwrap_or_default();
        assert!(
            !url.contains(CLIENT_SECRET) && !url.contains(TOKEN),
            "{url}"
        );
    }
    let closed = connectors::build(
        &source(
            SourceKind::Reddit,
            "http://127.0.0.1:9",
            &["r/gadgets"],
            &[],
        ),
        &oauth_secrets(),
        &fast_policy(),
    )
    .unwrap();
    let err = closed
        .fetch(&request(&["r/gadgets"], &[]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
    assert_no_secret(&err, CLIENT_SECRET);
    assert_no_secret(&err, CLIENT_ID);
}
