//! Google Trends against a fake of its web endpoints (explore, then widget
//! data), answering in Google's exact format: the anti-JSON prefix lines, the
//! widgets and their tokens, `isPartial`, `"<1"`, `hasData: false`, HTML
//! error pages and 429s without `Retry-After`.

use std::time::Duration;

use marketscout::connectors::google_trends::{self, RATE_LIMIT_PAUSE_MS};
use marketscout::connectors::{Connector, ConnectorError, InterestPoint, SourceKind};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::*;

const KIND: SourceKind = SourceKind::GoogleTrends;
/// 2025-11-20, the last day of every test scan's window.
const END_DAY: i64 = 20412;
const WINDOW: &str = "2025-08-23 2025-11-20";
const NID: &str = "NID=511=fake-cookie-value";

fn gt(file: &str) -> String {
    fixture("google_trends", file)
}

fn connector(server: &MockServer, query: &[&str], countries: &[&str]) -> Box<dyn Connector> {
    google_trends::build(
        &source(KIND, &server.uri(), query, countries),
        &secrets(&[]),
        &fast_policy(),
    )
    .expect("Google Trends needs no credentials")
}

fn json_body(text: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json; charset=utf-8")
        .insert_header("content-disposition", "attachment; filename=\"json.txt\"")
        .set_body_string(text)
}

/// Matches a request whose `req` parameter is this JSON (whatever its spacing).
struct ReqJson(Value);

impl wiremock::Match for ReqJson {
    fn matches(&self, request: &Request) -> bool {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "req")
            .and_then(|(_, v)| serde_json::from_str::<Value>(&v).ok())
            .is_some_and(|v| v == self.0)
    }
}

fn explore_req(term: &str, geo: &str) -> ReqJson {
    ReqJson(json!({
        "comparisonItem": [{"keyword": term, "time": WINDOW, "geo": geo}],
        "category": 0,
        "property": "",
    }))
}

/// The `request` of a widget in an explore fixture, exactly as written there.
fn widget_request(explore_file: &str, id: &str) -> String {
    let text = gt(explore_file);
    let json = text.split_once('\n').unwrap().1;
    let widgets: Value = serde_json::from_str(json).unwrap();
    let widget = widgets["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap();
    // Re-find the raw text so the test checks it is sent verbatim, spacing included.
    let token = widget["token"].as_str().unwrap();
    let start = json
        .find(&format!("\"token\":\"{token}\",\"request\":"))
        .unwrap()
        + format!("\"token\":\"{token}\",\"request\":").len();
    let mut depth = 0;
    for (i, c) in json[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return json[start..start + i + 1].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced request in {explore_file}");
}

async fn warm_up(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/trends/explore/"))
        .and(query_param("geo", "US"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header(
                    "set-cookie",
                    "NID=511=fake-cookie-value; expires=Sat, 20-May-2027 12:00:00 GMT; path=/; domain=.google.com; HttpOnly",
                )
                .set_body_string(gt("error_404.html")),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// Mounts explore, multiline and comparedgeo for one term in one place.
async fn mount_term(
    server: &MockServer,
    term: &str,
    geo: &str,
    explore: &str,
    multiline: &str,
    comparedgeo: &str,
) {
    Mock::given(method("POST"))
        .and(path("/trends/api/explore"))
        .and(query_param("hl", "en-US"))
        .and(query_param("tz", "0"))
        .and(explore_req(term, geo))
        .and(header("cookie", NID))
        .and(header("accept-language", "en-US"))
        .respond_with(json_body(gt(explore)))
        .expect(1)
        .mount(server)
        .await;
    let token_of = |id: &str| {
        let text = gt(explore);
        let all: Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
        let widget = all["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id)
            .unwrap()
            .clone();
        widget["token"].as_str().unwrap().to_owned()
    };
    for (endpoint, id, body) in [
        ("multiline", "TIMESERIES", multiline),
        ("comparedgeo", "GEO_MAP", comparedgeo),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/trends/api/widgetdata/{endpoint}")))
            .and(query_param("hl", "en-US"))
            .and(query_param("tz", "0"))
            .and(query_param("token", token_of(id)))
            .and(query_param("req", widget_request(explore, id)))
            .and(header("cookie", NID))
            .respond_with(json_body(gt(body)))
            .expect(1)
            .mount(server)
            .await;
    }
}

fn point(term: &str, geo: &str, day: i64, value: f64) -> InterestPoint {
    InterestPoint {
        term: term.into(),
        geo: geo.into(),
        day,
        value,
    }
}

#[tokio::test]
async fn each_term_is_one_page_of_interest_over_time_and_by_country() {
    let server = MockServer::start().await;
    warm_up(&server).await;
    mount_term(
        &server,
        "magnetic phone mount",
        "",
        "explore_worldwide.txt",
        "multiline_mount.txt",
        "comparedgeo_countries.txt",
    )
    .await;
    mount_term(
        &server,
        "phone holder",
        "",
        "explore_holder_worldwide.txt",
        "multiline_empty.txt",
        "comparedgeo_empty.txt",
    )
    .await;
    let c = connector(&server, &["magnetic phone mount", "phone holder"], &[]);
    let req = request(&["magnetic phone mount", "phone holder"], &[]);
    let pages = all_pages(c.as_ref(), &req, 10).await.unwrap();
    assert_eq!(pages.len(), 2, "one page per term");
    assert_eq!(pages[0].next.as_deref(), Some("1"));
    assert_eq!(pages[1].next, None);
    let m = "magnetic phone mount";
    assert_eq!(
        pages[0].interest,
        vec![
            point(m, "", 20408, 40.0),
            // "<1": above zero, under one.
            point(m, "", 20409, 0.5),
            // 20410 had no data, 20412 was the incomplete day: neither is stored.
            point(m, "", 20411, 100.0),
            // By country, dated on the window's last day; Puerto Rico had no data.
            point(m, "CA", END_DAY, 62.0),
            point(m, "US", END_DAY, 100.0),
            point(m, "GB", END_DAY, 0.5),
        ]
    );
    assert!(pages[0].observations.is_empty(), "interest is not counts");
    assert!(pages[0].skipped.is_empty(), "{:?}", pages[0].skipped);
}

#[tokio::test]
async fn listed_countries_make_a_step_per_term_and_country_with_its_regions() {
    let server = MockServer::start().await;
    warm_up(&server).await;
    mount_term(
        &server,
        "phone holder",
        "US",
        "explore_us.txt",
        "multiline_holder_us.txt",
        "comparedgeo_us_regions.txt",
    )
    .await;
    mount_term(
        &server,
        "phone holder",
        "DE",
        "explore_de.txt",
        "multiline_empty.txt",
        "comparedgeo_empty.txt",
    )
    .await;
    let c = connector(&server, &["phone holder"], &["US", "de"]);
    let req = request(&["phone holder"], &["US", "de"]);
    let first = c.fetch(&req, None).await.unwrap();
    let h = "phone holder";
    assert_eq!(
        first.interest,
        vec![
            point(h, "US", 20410, 77.0),
            point(h, "US", 20411, 100.0),
            point(h, "US-TX", END_DAY, 81.0),
            point(h, "US-NY", END_DAY, 100.0),
        ]
    );
    assert_eq!(first.next.as_deref(), Some("1"));
    let second = c.fetch(&req, Some("1")).await.unwrap();
    assert_eq!(second.next, None);
    assert!(second.interest.is_empty());
}

#[tokio::test]
async fn a_term_too_rare_for_google_is_said_so_and_the_scan_goes_on() {
    let server = MockServer::start().await;
    warm_up(&server).await;
    mount_term(
        &server,
        "zxqv gadget",
        "",
        "explore_worldwide.txt",
        "multiline_empty.txt",
        "comparedgeo_empty.txt",
    )
    .await;
    let c = connector(&server, &["zxqv gadget", "phone holder"], &[]);
    let page = c
        .fetch(&request(&["zxqv gadget", "phone holder"], &[]), None)
        .await
        .unwrap();
    assert!(page.interest.is_empty());
    assert_eq!(page.skipped.len(), 1);
    assert!(
        page.skipped[0].contains("zxqv gadget") && page.skipped[0].contains("too little"),
        "{:?}",
        page.skipped
    );
    // Not empty, so the scan moves on to the next term.
    assert_eq!(page.next.as_deref(), Some("1"));
}

#[tokio::test]
async fn the_warm_up_cookie_is_fetched_once_and_sent_on_every_request() {
    let server = MockServer::start().await;
    warm_up(&server).await; // expects exactly one call
    for (term, explore) in [
        ("a", "explore_worldwide.txt"),
        ("b", "explore_holder_worldwide.txt"),
    ] {
        mount_term(
            &server,
            term,
            "",
            explore,
            "multiline_mount.txt",
            "comparedgeo_countries.txt",
        )
        .await;
    }
    let c = connector(&server, &["a", "b"], &[]);
    let pages = all_pages(c.as_ref(), &request(&["a", "b"], &[]), 5)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    // Mounts assert the `cookie` header and their call counts when the server drops.
}

#[tokio::test]
async fn explore_falls_back_to_get_when_post_is_refused() {
    let server = MockServer::start().await;
    warm_up(&server).await;
    Mock::given(method("POST"))
        .and(path("/trends/api/explore"))
        .respond_with(ResponseTemplate::new(405).set_body_string("<html>405</html>"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/trends/api/explore"))
        .and(explore_req("magnetic phone mount", ""))
        .respond_with(json_body(gt("explore_worldwide.txt")))
        .expect(1)
        .mount(&server)
        .await;
    for (endpoint, body) in [
        ("multiline", "multiline_mount.txt"),
        ("comparedgeo", "comparedgeo_countries.txt"),
    ] {
        Mock::given(path(format!("/trends/api/widgetdata/{endpoint}")))
            .respond_with(json_body(gt(body)))
            .mount(&server)
            .await;
    }
    let c = connector(&server, &["magnetic phone mount"], &[]);
    let page = c
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.interest.len(), 6);
}

async fn explore_answers(server: &MockServer, response: ResponseTemplate) {
    Mock::given(path("/trends/explore/"))
        .respond_with(ResponseTemplate::new(404))
        .mount(server)
        .await;
    Mock::given(path("/trends/api/explore"))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn first_page_error(server: &MockServer) -> ConnectorError {
    connector(server, &["magnetic phone mount"], &[])
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_429_html_page_without_retry_after_pauses_the_source_for_an_hour() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        ResponseTemplate::new(429)
            .insert_header("content-type", "text/html; charset=UTF-8")
            .set_body_string(gt("error_429.html")),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(RATE_LIMIT_PAUSE_MS, 3_600_000);
    match &err {
        ConnectorError::RateLimited {
            resume_at_ms,
            detail,
            ..
        } => {
            assert_eq!(*resume_at_ms, NOW_MS + RATE_LIMIT_PAUSE_MS);
            assert!(
                !detail.contains('<') && !detail.contains("unusual traffic"),
                "{detail}"
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_429_with_a_long_retry_after_pauses_until_then() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7200")
            .set_body_string(gt("error_429.html")),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 7_200_000));
}

#[tokio::test]
async fn a_429_with_a_short_retry_after_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/trends/explore/"))
        .respond_with(
            ResponseTemplate::new(404).insert_header("set-cookie", format!("{NID}; path=/")),
        )
        .mount(&server)
        .await;
    Mock::given(path("/trends/api/explore"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_term(
        &server,
        "magnetic phone mount",
        "",
        "explore_worldwide.txt",
        "multiline_mount.txt",
        "comparedgeo_countries.txt",
    )
    .await;
    let page = connector(&server, &["magnetic phone mount"], &[])
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.interest.len(), 6);
}

#[tokio::test]
async fn an_html_page_instead_of_json_is_a_bad_response_that_does_not_quote_it() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/html")
            .set_body_string(gt("error_429.html")),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(err.code(), "bad_response", "{err}");
    let shown = err.to_string();
    assert!(shown.contains("HTML"), "{shown}");
    assert!(
        !shown.contains("<html") && !shown.contains("recaptcha"),
        "{shown}"
    );
    assert!(shown.len() < 300, "{shown}");
}

#[tokio::test]
async fn a_404_html_error_page_is_a_short_bad_response() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        ResponseTemplate::new(404).set_body_string(gt("error_404.html")),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(err.code(), "bad_response");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(!err.to_string().contains("That's an error"), "{err}");
}

#[tokio::test]
async fn a_400_is_a_refused_query_naming_the_term() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        ResponseTemplate::new(400).set_body_string("<html>Error 400 (Bad Request)!!1</html>"),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(err.code(), "bad_query");
    assert!(err.to_string().contains("magnetic phone mount"), "{err}");
    assert!(!err.to_string().contains("<html"), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = MockServer::start().await;
    warm_up(&server).await;
    Mock::given(path("/trends/api/explore"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>502</html>"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_term(
        &server,
        "magnetic phone mount",
        "",
        "explore_worldwide.txt",
        "multiline_mount.txt",
        "comparedgeo_countries.txt",
    )
    .await;
    let page = connector(&server, &["magnetic phone mount"], &[])
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.interest.len(), 6);
}

#[tokio::test]
async fn malformed_and_truncated_json_are_bad_responses() {
    let full = gt("explore_worldwide.txt");
    for body in [
        ")]}'\n{\"widgets\": [oops]}".to_owned(),
        full[..full.len() / 2].to_owned(),
        ")]}'\n{\"default\":{}}".to_owned(),
    ] {
        let server = MockServer::start().await;
        explore_answers(&server, json_body(body)).await;
        let err = first_page_error(&server).await;
        assert_eq!(err.code(), "bad_response", "{err}");
    }
}

#[tokio::test]
async fn a_point_of_the_wrong_shape_is_skipped_and_the_rest_kept() {
    let server = MockServer::start().await;
    explore_answers(&server, json_body(gt("explore_worldwide.txt"))).await;
    Mock::given(path("/trends/api/widgetdata/multiline"))
        .respond_with(json_body(
            ")]}',\n{\"default\":{\"timelineData\":[\
             {\"time\":\"1763251200\",\"value\":[40],\"hasData\":[true],\"formattedValue\":[\"40\"]},\
             {\"time\":\"1763337600\",\"value\":\"high\",\"hasData\":[true]},\
             {\"value\":[12],\"hasData\":[true]},\
             {\"time\":\"1763510400\",\"value\":[100],\"hasData\":[true],\"formattedValue\":[\"100\"]}]}}"
                .to_owned(),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/trends/api/widgetdata/comparedgeo"))
        .respond_with(json_body(gt("comparedgeo_empty.txt")))
        .mount(&server)
        .await;
    let page = connector(&server, &["magnetic phone mount"], &[])
        .fetch(&request(&["magnetic phone mount"], &[]), None)
        .await
        .unwrap();
    let m = "magnetic phone mount";
    assert_eq!(
        page.interest,
        vec![point(m, "", 20408, 40.0), point(m, "", 20411, 100.0)]
    );
    assert_eq!(page.skipped.len(), 2, "{:?}", page.skipped);
    assert!(page.skipped[0].contains("point 2"), "{:?}", page.skipped);
    assert!(page.skipped[1].contains("point 3"), "{:?}", page.skipped);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    explore_answers(
        &server,
        json_body(gt("explore_worldwide.txt")).set_delay(Duration::from_secs(2)),
    )
    .await;
    let err = first_page_error(&server).await;
    assert_eq!(err.code(), "unavailable", "{err}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn no_credentials_are_needed_and_a_foreign_cursor_is_refused() {
    let server = MockServer::start().await;
    let c = connector(&server, &["x"], &[]);
    let err = c.fetch(&request(&["x"], &[]), Some("7")).await.unwrap_err();
    assert_eq!(err.code(), "misconfigured");
    assert!(SourceKind::GoogleTrends.credential_names().is_empty());
}

#[test]
fn not_covered_says_the_values_are_relative_and_sampled() {
    let all = google_trends::NOT_COVERED.join(" ");
    assert!(all.contains("0 to 100"), "{all}");
    assert!(all.contains("sample"), "{all}");
    assert!(all.contains("incomplete"), "{all}");
}
