//! The Meta Ad Library connector against a fake Graph API answering from
//! fixtures written from the reference (`tests/fixtures/meta_ads/`).

use std::time::Duration;

use marketscout::connectors::meta_ads::{FIELDS, NOT_COVERED};
use marketscout::connectors::{Connector, ConnectorError, SourceKind};
use marketscout::engine::observation::Bounds;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const TOKEN: &str = "EAAtestSECRETtoken42";

fn connector(server: &MockServer, query: &[&str], countries: &[&str]) -> Box<dyn Connector> {
    marketscout::connectors::build(
        &source(SourceKind::MetaAds, &server.uri(), query, countries),
        &secrets(&[("META_ACCESS_TOKEN", TOKEN)]),
        &fast_policy(),
    )
    .expect("a meta_ads connector")
}

fn json(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

fn graph_error(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture("meta_ads", name), "application/json")
}

async fn first_error(server: &MockServer) -> ConnectorError {
    let c = connector(server, &["phone mount"], &["DE"]);
    let err = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .expect_err("an error");
    assert_no_secret(&err, TOKEN);
    err
}

#[tokio::test]
async fn pages_follow_the_after_cursor_and_each_ad_becomes_one_observation_per_platform() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("access_token", TOKEN))
        .and(query_param("search_terms", "phone mount"))
        .and(query_param("ad_reached_countries", r#"["DE"]"#))
        .and(query_param("ad_type", "ALL"))
        .and(query_param("ad_active_status", "ALL"))
        .and(query_param("ad_delivery_date_min", "2025-11-19"))
        .and(query_param("ad_delivery_date_max", "2025-11-20"))
        .and(query_param("fields", FIELDS))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("after"))
        .and(query_param_is_missing("search_page_ids"))
        .respond_with(json(fixture("meta_ads", "page1.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("search_terms", "phone mount"))
        .and(query_param("after", "QVFIUnBhZ2UyY3Vyc29y"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let pages = all_pages(c.as_ref(), &request(&["phone mount"], &["DE"]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next.as_deref(), Some("0:QVFIUnBhZ2UyY3Vyc29y"));
    // Page 2 has paging.cursors but no paging.next: the last page.
    assert_eq!(pages[1].next, None);

    let first = &pages[0].observations;
    let ids: Vec<(&str, &str)> = first
        .iter()
        .map(|o| (o.platform, o.platform_id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("facebook", "1123581321345589"),
            ("instagram", "1123581321345589:instagram"),
            ("facebook", "408322803338923"),
            ("instagram", "2233445566778899:instagram"),
        ]
    );
    let maggrip = &first[0];
    assert_eq!(maggrip.kind, "ad");
    assert_eq!(maggrip.author.as_deref(), Some("MagGrip Deutschland"));
    assert_eq!(maggrip.country.as_deref(), Some("DE"));
    assert_eq!(maggrip.language.as_deref(), Some("de"));
    assert_eq!(maggrip.observed_at, NOW_MS);
    // 2025-11-18, date only.
    assert_eq!(maggrip.published_at, Some(1_763_424_000_000));
    assert_eq!(
        maggrip.text.as_deref(),
        Some(
            "Nie wieder wackelnde Handyhalterung! #autozubehör\nJetzt 40% sparen – nur diese Woche.\nMagGrip Pro Halterung\nKostenloser Versand"
        )
    );
    assert_eq!(maggrip.hashtags, vec!["autozubehör".to_owned()]);
    assert_eq!(maggrip.impressions, None);
    assert_eq!(maggrip.spend, None);
    assert_eq!(first[1].text, maggrip.text);
    assert_eq!(first[1].published_at, maggrip.published_at);

    let political = &first[2];
    // 2025-11-19T15:30:13+0000: an offset without a colon.
    assert_eq!(political.published_at, Some(1_763_566_213_000));
    assert_eq!(
        political.impressions,
        Some(Bounds {
            lower: 1000,
            upper: Some(1999)
        })
    );
    assert_eq!(
        political.spend,
        Some(Bounds {
            lower: 100.0,
            upper: Some(199.0)
        })
    );

    let second = &pages[1];
    assert_eq!(second.observations.len(), 1);
    // Ran only on Messenger and the Audience Network: counted as Facebook.
    assert_eq!(second.observations[0].platform, "facebook");
    assert_eq!(second.observations[0].platform_id, "5566778899001122");
    assert_eq!(second.skipped.len(), 3, "{:?}", second.skipped);
    assert!(second.skipped[0].contains("9988776655443322"));
    assert!(second.skipped[0].contains("ad_creative_bodies"));
    assert!(second.skipped[1].contains("without its Library id"));
    assert!(second.skipped[2].contains("7777666655554444"));
    assert!(second.skipped[2].contains("impressions"));
}

#[tokio::test]
async fn the_snapshot_url_is_stored_without_the_callers_access_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .respond_with(json(fixture("meta_ads", "page1.json")))
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let page = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap();
    assert_eq!(
        page.observations[0].url.as_deref(),
        Some("https://www.facebook.com/ads/archive/render_ad/?id=1123581321345589")
    );
    // The token first in the query string.
    assert_eq!(
        page.observations[2].url.as_deref(),
        Some("https://www.facebook.com/ads/archive/render_ad/?id=408322803338923")
    );
    // No snapshot URL: the public Ad Library page.
    assert_eq!(
        page.observations[3].url.as_deref(),
        Some("https://www.facebook.com/ads/library/?id=2233445566778899")
    );
    let everything = format!("{page:?}");
    assert!(!everything.contains(TOKEN), "{everything}");
}

#[tokio::test]
async fn an_open_top_bucket_keeps_no_upper_bound() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .respond_with(json(fixture("meta_ads", "page1.json")))
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let page = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap();
    let top = &page.observations[3];
    assert_eq!(top.platform_id, "2233445566778899:instagram");
    assert_eq!(
        top.impressions,
        Some(Bounds {
            lower: 1_000_000,
            upper: None
        })
    );
    assert_eq!(
        top.spend,
        Some(Bounds {
            lower: 100_000.0,
            upper: None
        })
    );
}

#[tokio::test]
async fn ad_wide_metrics_ride_on_one_platform_only_so_sums_do_not_double() {
    let server = MockServer::start().await;
    let body = r#"{"data":[{"id":"42","page_name":"P","publisher_platforms":["facebook","instagram"],
        "impressions":{"lower_bound":"1000","upper_bound":"1999"}}]}"#;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .respond_with(json(body.into()))
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let page = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
    assert_eq!(
        page.observations[0].impressions,
        Some(Bounds {
            lower: 1000,
            upper: Some(1999)
        })
    );
    assert_eq!(page.observations[1].platform, "instagram");
    assert_eq!(page.observations[1].impressions, None);
}

#[tokio::test]
async fn no_results_is_an_empty_last_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .respond_with(json(fixture("meta_ads", "empty.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let pages = all_pages(c.as_ref(), &request(&["phone mount"], &["DE"]), 5)
        .await
        .unwrap();
    assert_eq!(pages.len(), 1);
    assert!(pages[0].observations.is_empty());
    assert!(pages[0].skipped.is_empty());
    assert_eq!(pages[0].next, None);
}

#[tokio::test]
async fn numeric_entries_are_page_ids_and_a_search_without_results_moves_to_the_next() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("search_terms", "phone mount"))
        .and(query_param_is_missing("search_page_ids"))
        .respond_with(json(fixture("meta_ads", "empty.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("search_page_ids", "[104958371234567]"))
        .and(query_param_is_missing("search_terms"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let query = ["phone mount", "104958371234567"];
    let c = connector(&server, &query, &["DE"]);
    let page = c.fetch(&request(&query, &["DE"]), None).await.unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].author.as_deref(), Some("MountMarkt"));
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn several_searches_are_asked_one_after_the_other() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("search_terms", "phone mount"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("search_terms", "car mount"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let query = ["phone mount", "car mount"];
    let c = connector(&server, &query, &["DE"]);
    let pages = all_pages(c.as_ref(), &request(&query, &["DE"]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next.as_deref(), Some("1:"));
    assert_eq!(pages[1].next, None);
}

#[tokio::test]
async fn without_countries_all_are_asked_and_no_country_is_claimed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("ad_reached_countries", r#"["ALL"]"#))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &[]);
    let page = c
        .fetch(&request(&["phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1, "{:?}", page.skipped);
    assert_eq!(page.observations[0].country, None);
}

#[tokio::test]
async fn several_countries_go_as_one_json_array_and_no_country_is_claimed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ads_archive"))
        .and(query_param("ad_reached_countries", r#"["DE","FR"]"#))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["de", "FR"]);
    let page = c
        .fetch(&request(&["phone mount"], &["de", "FR"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations[0].country, None);
}

#[tokio::test]
async fn an_expired_token_code_190_names_the_setting() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(400, "error_190.json"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    let ConnectorError::Credentials { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("META_ACCESS_TOKEN"), "{detail}");
    assert!(detail.contains("AxK2mPq9Zt1"), "{detail}");
}

#[tokio::test]
async fn an_app_without_ad_library_access_is_refused_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(403, "error_10.json"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    let ConnectorError::Credentials { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("META_ACCESS_TOKEN"), "{detail}");
    assert!(detail.contains("facebook.com/ads/library/api"), "{detail}");
}

#[tokio::test]
async fn a_401_without_a_graph_body_is_a_credentials_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("META_ACCESS_TOKEN"), "{err}");
}

#[tokio::test]
async fn throttle_613_pauses_until_the_usage_headers_say_access_returns() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(400, "error_613.json").insert_header(
            "X-Business-Use-Case-Usage",
            r#"{"104958371234567":[{"type":"ads_archive","call_count":100,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":17}]}"#,
        ))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 17 * 60_000));
}

#[tokio::test]
async fn every_throttle_code_pauses_for_an_hour_without_usage_headers() {
    for code in [4, 17, 32, 613, 80004] {
        let server = MockServer::start().await;
        let body = format!(
            r#"{{"error":{{"message":"(#{code}) request limit reached","type":"OAuthException","code":{code},"fbtrace_id":"T{code}"}}}}"#
        );
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(403).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let err = first_error(&server).await;
        assert!(
            matches!(err, ConnectorError::RateLimited { .. }),
            "{code}: {err:?}"
        );
        assert_eq!(err.resume_at_ms(), Some(NOW_MS + 3_600_000), "{code}");
    }
}

#[tokio::test]
async fn the_app_usage_header_also_gives_the_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(400, "error_613.json").insert_header(
            "X-App-Usage",
            r#"{"call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":5}"#,
        ))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 5 * 60_000));
}

#[tokio::test]
async fn a_short_429_retry_after_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let page = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_long_429_retry_after_pauses_the_source_until_then() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(429, "error_613.json").insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 3_600_000));
}

#[tokio::test]
async fn the_apps_spent_budget_341_is_quota_exhausted_with_a_resume_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(400, "error_341.json").insert_header(
            "X-App-Usage",
            r#"{"call_count":100,"total_cputime":40,"total_time":40,"estimated_time_to_regain_access":42}"#,
        ))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(
        matches!(err, ConnectorError::QuotaExhausted { .. }),
        "{err:?}"
    );
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 42 * 60_000));
}

#[tokio::test]
async fn an_invalid_parameter_is_a_bad_query_with_metas_message_and_no_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(400, "error_100.json"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    let ConnectorError::BadQuery { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        detail.contains("must be one of {BR, GB, US}"),
        "Meta's own words: {detail}"
    );
    let shown = err.to_string();
    assert!(!shown.contains("http"), "{shown}");
    assert!(!shown.contains("ads_archive"), "{shown}");
}

#[tokio::test]
async fn a_message_quoting_the_token_is_scrubbed() {
    let server = MockServer::start().await;
    let body = format!(
        r#"{{"error":{{"message":"Malformed access token {TOKEN}","type":"OAuthException","code":190,"fbtrace_id":"X"}}}}"#
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(err.to_string().contains("Malformed access token"), "{err}");
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json(fixture("meta_ads", "page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server, &["phone mount"], &["DE"]);
    let page = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn malformed_truncated_or_itemless_json_is_a_bad_response() {
    let page1 = fixture("meta_ads", "page1.json");
    for body in [
        "<html>Service Unavailable</html>".to_owned(),
        page1[..page1.len() / 2].to_owned(),
        r#"{"paging":{}}"#.to_owned(),
        r#"{"data":{"id":"1"}}"#.to_owned(),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(json(body.clone()))
            .mount(&server)
            .await;
        let err = first_error(&server).await;
        assert!(
            matches!(err, ConnectorError::BadResponse { .. }),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_next_link_without_an_after_cursor_is_a_bad_response() {
    let server = MockServer::start().await;
    let body = r#"{"data":[{"id":"1","page_name":"P"}],"paging":{"next":"https://graph.facebook.com/v24.0/ads_archive?after=x"}}"#;
    Mock::given(method("GET"))
        .respond_with(json(body.into()))
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(matches!(err, ConnectorError::BadResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json(fixture("meta_ads", "empty.json")).set_delay(Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let err = first_error(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn without_a_token_the_missing_setting_is_named() {
    let err = marketscout::connectors::build(
        &source(SourceKind::MetaAds, "http://127.0.0.1:9", &["mount"], &[]),
        &secrets(&[]),
        &fast_policy(),
    )
    .err()
    .expect("no connector without a token");
    assert_eq!(
        err,
        ConnectorError::MissingCredentials {
            kind: SourceKind::MetaAds,
            name: "META_ACCESS_TOKEN"
        }
    );
}

#[test]
fn what_meta_cannot_see_is_said_in_plain_words() {
    assert_eq!(
        marketscout::connectors::not_covered(SourceKind::MetaAds),
        NOT_COVERED
    );
    let all = NOT_COVERED.join(" ");
    assert!(all.contains("outside the EU and the UK"), "{all}");
    assert!(all.contains("political"), "{all}");
}
