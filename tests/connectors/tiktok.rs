//! The TikTok connectors (Research API videos, Commercial Content API ads)
//! against a fake TikTok answering from fixtures written from the reference
//! (`tests/fixtures/tiktok/`), token endpoint included.

use std::time::Duration;

use marketscout::connectors::tiktok::{
    AD_FIELDS, ADS_NOT_COVERED, RESEARCH_NOT_COVERED, VIDEO_FIELDS,
};
use marketscout::connectors::{Connector, ConnectorError, SourceKind};
use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

const KEY: &str = "awtestclientkey77";
const SECRET: &str = "s3cr3t-tiktok-client-SECRET";
const TOKEN: &str = "clt.example12345Example12345Example";
const VIDEOS: &str = "/v2/research/video/query/";
const ADS: &str = "/v2/research/adlib/ad/query/";
/// 2025-11-21T00:00:00Z, the first midnight UTC after [`NOW_MS`].
const NEXT_MIDNIGHT_MS: i64 = 1_763_683_200_000;

fn connector(
    kind: SourceKind,
    server: &MockServer,
    query: &[&str],
    countries: &[&str],
) -> Box<dyn Connector> {
    marketscout::connectors::build(
        &source(kind, &server.uri(), query, countries),
        &secrets(&[("TIKTOK_CLIENT_KEY", KEY), ("TIKTOK_CLIENT_SECRET", SECRET)]),
        &fast_policy(),
    )
    .expect("a tiktok connector")
}

fn research(server: &MockServer) -> Box<dyn Connector> {
    connector(
        SourceKind::TiktokResearch,
        server,
        &["phone mount"],
        &["GB"],
    )
}

fn json_body(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

fn answer(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture("tiktok", name), "application/json")
}

/// The token endpoint, form-encoded client credentials only.
async fn mount_token(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "client_key={KEY}&client_secret={SECRET}&grant_type=client_credentials"
        )))
        .respond_with(json_body(fixture("tiktok", "token.json")))
        .expect(times)
        .mount(server)
        .await;
}

async fn research_error(server: &MockServer) -> ConnectorError {
    let err = research(server)
        .fetch(&request(&["phone mount"], &["GB"]), None)
        .await
        .expect_err("an error");
    assert_no_secret(&err, SECRET);
    assert_no_secret(&err, TOKEN);
    err
}

#[tokio::test]
async fn research_pages_follow_the_returned_cursor_and_search_id_even_after_a_short_page() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let first = json!({
        "query": {
            "and": [{"operation": "IN", "field_name": "region_code", "field_values": ["GB", "US"]}],
            "or": [
                {"operation": "IN", "field_name": "keyword", "field_values": ["phone mount"]},
                {"operation": "IN", "field_name": "hashtag_name", "field_values": ["tiktokmademebuyit"]}
            ]
        },
        "start_date": "20251119",
        "end_date": "20251120",
        "max_count": 100
    });
    let mut second = first.clone();
    // Two videos came back, yet the next page starts where TikTok says.
    second["cursor"] = json!(100);
    second["search_id"] = json!("7443000000000000001");
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .and(query_param("fields", VIDEO_FIELDS))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(&first))
        .respond_with(answer(200, "videos_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .and(body_json(&second))
        .respond_with(answer(200, "videos_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let query = ["phone mount", "#TikTokMadeMeBuyIt"];
    let c = connector(SourceKind::TiktokResearch, &server, &query, &["GB", "us"]);
    let pages = all_pages(c.as_ref(), &request(&query, &["GB", "us"]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].next.as_deref(), Some("100:7443000000000000001"));
    assert_eq!(pages[1].next, None);

    let videos = &pages[0].observations;
    assert_eq!(videos.len(), 2);
    let v = &videos[0];
    assert_eq!((v.platform, v.kind), ("tiktok", "video"));
    assert_eq!(v.platform_id, "7451234567890123456");
    assert_eq!(
        v.url.as_deref(),
        Some("https://www.tiktok.com/@gadgetgirl.uk/video/7451234567890123456")
    );
    assert_eq!(v.author.as_deref(), Some("gadgetgirl.uk"));
    assert_eq!(v.country.as_deref(), Some("GB"));
    assert_eq!(v.published_at, Some(1_763_550_000_000));
    assert_eq!(v.observed_at, NOW_MS);
    assert_eq!(
        (v.views, v.likes, v.comments, v.shares),
        (Some(1_843_200), Some(201_330), Some(1422), Some(9801))
    );
    assert_eq!(v.hashtags, ["tiktokmademebuyit", "carhacks"]);
    assert_eq!(
        v.text.as_deref(),
        Some(
            "this mount is actually genius #tiktokmademebuyit #carhacks\nokay so I found this magnetic mount"
        )
    );
    let hidden = &videos[1];
    assert_eq!(hidden.platform_id, "7451234500000000001");
    // No like_count in the answer: hidden, not zero.
    assert_eq!(hidden.likes, None);
    assert_eq!(hidden.shares, Some(0));
    assert_eq!(hidden.country.as_deref(), Some("US"));

    let last = &pages[1];
    assert_eq!(last.observations.len(), 1);
    assert_eq!(last.observations[0].platform_id, "7451234599999999999");
    assert_eq!(last.skipped.len(), 2, "{:?}", last.skipped);
    assert!(last.skipped[0].contains("7451234599999999998"));
    assert!(last.skipped[0].contains("views"));
    assert!(last.skipped[1].contains("without its id"));
}

#[tokio::test]
async fn video_ids_beyond_2_pow_53_are_kept_digit_for_digit() {
    let id: u64 = 7_451_234_567_890_123_456;
    // A float would have rounded it: this is the trap.
    assert_ne!((id as f64) as u64, id);
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_page1.json"))
        .mount(&server)
        .await;
    let page = research(&server)
        .fetch(&request(&["phone mount"], &["GB"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations[0].platform_id, id.to_string());
    assert!(
        page.observations[0]
            .url
            .as_deref()
            .unwrap()
            .ends_with("/video/7451234567890123456")
    );
}

#[tokio::test]
async fn no_videos_is_an_empty_last_page() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let c = research(&server);
    let pages = all_pages(c.as_ref(), &request(&["phone mount"], &["GB"]), 5)
        .await
        .unwrap();
    assert_eq!(pages.len(), 1);
    assert!(pages[0].observations.is_empty());
    assert_eq!(pages[0].next, None);
}

#[tokio::test]
async fn a_window_longer_than_30_days_keeps_its_most_recent_30() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .and(wiremock::matchers::body_partial_json(
            json!({"start_date": "20251021", "end_date": "20251120"}),
        ))
        .respond_with(answer(200, "videos_empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut scan = request(&["phone mount"], &["GB"]);
    scan.since_ms = NOW_MS - 90 * 86_400_000;
    research(&server).fetch(&scan, None).await.unwrap();
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed_before_the_next_page() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(json_body(
            r#"{"access_token":"clt.short","expires_in":30,"token_type":"Bearer"}"#.into(),
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .and(header("authorization", "Bearer clt.short"))
        .respond_with(answer(200, "videos_page1.json"))
        .expect(2)
        .mount(&server)
        .await;
    let c = research(&server);
    let scan = request(&["phone mount"], &["GB"]);
    c.fetch(&scan, None).await.unwrap();
    c.fetch(&scan, None).await.unwrap();
}

#[tokio::test]
async fn an_invalid_token_is_refreshed_once_and_the_request_replayed() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(401, "error_token_invalid.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = research(&server)
        .fetch(&request(&["phone mount"], &["GB"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn a_token_refused_twice_is_a_credentials_error_naming_the_settings() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(401, "error_token_invalid.json"))
        .expect(2)
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("TIKTOK_CLIENT_KEY"), "{err}");
}

#[tokio::test]
async fn refused_client_credentials_name_the_settings_and_show_no_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(answer(401, "token_error.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    let ConnectorError::Credentials { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("TIKTOK_CLIENT_KEY"), "{detail}");
    assert!(detail.contains("TIKTOK_CLIENT_SECRET"), "{detail}");
    assert!(detail.contains("invalid_client"), "{detail}");
    assert_no_secret(&err, KEY);
}

#[tokio::test]
async fn a_client_not_approved_for_the_api_is_a_credentials_error() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(401, "error_scope.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("not approved"), "{err}");
}

#[tokio::test]
async fn rate_limit_exceeded_without_retry_after_pauses_a_minute() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(429, "error_rate_limit.json"))
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 60_000));
}

#[tokio::test]
async fn a_long_retry_after_pauses_until_then() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(429, "error_rate_limit.json").insert_header("Retry-After", "900"))
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert_eq!(err.resume_at_ms(), Some(NOW_MS + 900_000));
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(429, "error_rate_limit.json").insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = research(&server)
        .fetch(&request(&["phone mount"], &["GB"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn the_daily_quota_pauses_until_midnight_utc() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(429, "error_daily_quota.json"))
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert!(
        matches!(err, ConnectorError::QuotaExhausted { .. }),
        "{err:?}"
    );
    assert_eq!(err.resume_at_ms(), Some(NEXT_MIDNIGHT_MS));
}

#[tokio::test]
async fn invalid_params_is_a_bad_query_with_tiktoks_message() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(400, "error_invalid_params.json"))
        .expect(1)
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    let ConnectorError::BadQuery { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("within 30 days"), "{detail}");
    assert!(!detail.contains("http"), "{detail}");
}

#[tokio::test]
async fn a_refused_fresh_search_id_is_asked_again() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(400, "error_search_id.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .and(wiremock::matchers::body_partial_json(
            json!({"cursor": 100, "search_id": "7443000000000000001"}),
        ))
        .respond_with(answer(200, "videos_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = research(&server)
        .fetch(
            &request(&["phone mount"], &["GB"]),
            Some("100:7443000000000000001"),
        )
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            r#"{"error":{"code":"internal_error","message":"","log_id":"x"}}"#,
            "application/json",
        ))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    let page = research(&server)
        .fetch(&request(&["phone mount"], &["GB"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 2);
}

#[tokio::test]
async fn malformed_truncated_or_videoless_json_is_a_bad_response() {
    let page1 = fixture("tiktok", "videos_page1.json");
    for body in [
        "not json at all".to_owned(),
        page1[..page1.len() / 2].to_owned(),
        r#"{"data":{"cursor":0,"has_more":false},"error":{"code":"ok"}}"#.to_owned(),
        r#"{"error":{"code":"ok"}}"#.to_owned(),
        r#"{"data":{"videos":[],"has_more":true},"error":{"code":"ok"}}"#.to_owned(),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, 1).await;
        Mock::given(method("POST"))
            .and(path(VIDEOS))
            .respond_with(json_body(body.clone()))
            .mount(&server)
            .await;
        let err = research_error(&server).await;
        assert!(
            matches!(err, ConnectorError::BadResponse { .. }),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(VIDEOS))
        .respond_with(answer(200, "videos_empty.json").set_delay(Duration::from_millis(1500)))
        .mount(&server)
        .await;
    let err = research_error(&server).await;
    assert!(matches!(err, ConnectorError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn missing_client_credentials_name_the_missing_setting() {
    for (given, missing) in [
        (vec![("TIKTOK_CLIENT_SECRET", SECRET)], "TIKTOK_CLIENT_KEY"),
        (vec![("TIKTOK_CLIENT_KEY", KEY)], "TIKTOK_CLIENT_SECRET"),
    ] {
        for kind in [SourceKind::TiktokResearch, SourceKind::TiktokAds] {
            let err = marketscout::connectors::build(
                &source(kind, "http://127.0.0.1:9", &["mount"], &[]),
                &secrets(&given),
                &fast_policy(),
            )
            .err()
            .expect("no connector without credentials");
            assert_eq!(
                err,
                ConnectorError::MissingCredentials {
                    kind,
                    name: missing
                }
            );
        }
    }
}

#[tokio::test]
async fn ad_pages_follow_the_search_id_and_tolerate_the_docs_spellings() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let first = json!({
        "filters": {
            "ad_published_date_range": {"min": "20251119", "max": "20251120"},
            "country_code": "DE"
        },
        "search_term": "phone mount",
        "search_type": "exact_phrase",
        "max_count": 50
    });
    let mut second = first.clone();
    second["search_id"] = json!("20251120124205358FF99E4D6D1294A2A7");
    Mock::given(method("POST"))
        .and(path(ADS))
        .and(query_param("fields", AD_FIELDS))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(&first))
        .respond_with(answer(200, "ads_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .and(body_json(&second))
        .respond_with(answer(200, "ads_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(SourceKind::TiktokAds, &server, &["phone mount"], &["DE"]);
    let pages = all_pages(c.as_ref(), &request(&["phone mount"], &["DE"]), 10)
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    let ads = &pages[0].observations;
    assert_eq!(ads.len(), 2);
    assert_eq!((ads[0].platform, ads[0].kind), ("tiktok", "ad"));
    assert_eq!(ads[0].platform_id, "1849912345678901");
    assert_eq!(ads[0].author.as_deref(), Some("MagGrip GmbH"));
    assert_eq!(ads[0].country.as_deref(), Some("DE"));
    // 2025-11-10, date only.
    assert_eq!(ads[0].published_at, Some(1_762_732_800_000));
    assert_eq!(
        ads[0].url.as_deref(),
        Some("https://library.tiktok.com/ads/detail/?ad_id=1849912345678901")
    );
    assert_eq!(ads[0].impressions, None);
    assert_eq!(ads[0].spend, None);
    // A date as a bare number, as the docs' example shows it.
    assert_eq!(ads[1].published_at, Some(1_762_905_600_000));
    assert_eq!(ads[1].author.as_deref(), Some("GadgetHaus"));

    assert_eq!(pages[1].observations.len(), 1);
    assert_eq!(pages[1].next, None);
    assert_eq!(pages[1].skipped.len(), 2, "{:?}", pages[1].skipped);
    assert!(pages[1].skipped[0].contains("without its id"));
    assert!(pages[1].skipped[1].contains("1849912345678904"));
}

#[tokio::test]
async fn ads_without_countries_ask_for_all_and_claim_no_country() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .and(wiremock::matchers::body_partial_json(
            json!({"filters": {"country_code": "ALL"}}),
        ))
        .respond_with(answer(200, "ads_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(SourceKind::TiktokAds, &server, &["phone mount"], &[]);
    let page = c
        .fetch(&request(&["phone mount"], &[]), None)
        .await
        .unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(page.observations[0].country, None);
}

#[tokio::test]
async fn an_ad_search_without_results_moves_on_to_the_next_country() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .and(wiremock::matchers::body_partial_json(
            json!({"filters": {"country_code": "DE"}}),
        ))
        .respond_with(json_body(
            r#"{"data":{"ads":[],"has_more":false,"search_id":"1"},"error":{"code":"ok","message":"","log_id":"x","http_status_code":200}}"#.into(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .and(wiremock::matchers::body_partial_json(
            json!({"filters": {"country_code": "FR"}}),
        ))
        .respond_with(answer(200, "ads_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(
        SourceKind::TiktokAds,
        &server,
        &["phone mount"],
        &["DE", "US", "FR"],
    );
    let page = c
        .fetch(&request(&["phone mount"], &["DE", "US", "FR"]), None)
        .await
        .unwrap();
    assert_eq!(page.observations[0].country.as_deref(), Some("FR"));
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn an_ads_source_in_uncovered_countries_only_is_misconfigured() {
    let server = MockServer::start().await;
    let err = marketscout::connectors::build(
        &source(SourceKind::TiktokAds, &server.uri(), &["mount"], &["US"]),
        &secrets(&[("TIKTOK_CLIENT_KEY", KEY), ("TIKTOK_CLIENT_SECRET", SECRET)]),
        &fast_policy(),
    )
    .err()
    .expect("no connector for US-only ads");
    assert!(matches!(err, ConnectorError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("EU"), "{err}");
}

#[tokio::test]
async fn the_ad_library_quota_and_refused_tokens_are_reported_like_research() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .respond_with(answer(429, "error_daily_quota.json"))
        .mount(&server)
        .await;
    let c = connector(SourceKind::TiktokAds, &server, &["phone mount"], &["DE"]);
    let err = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap_err();
    assert_eq!(err.resume_at_ms(), Some(NEXT_MIDNIGHT_MS));

    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("POST"))
        .and(path(ADS))
        .respond_with(answer(401, "error_token_invalid.json"))
        .expect(2)
        .mount(&server)
        .await;
    let c = connector(SourceKind::TiktokAds, &server, &["phone mount"], &["DE"]);
    let err = c
        .fetch(&request(&["phone mount"], &["DE"]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Credentials { .. }), "{err:?}");
    assert_no_secret(&err, SECRET);
    assert_no_secret(&err, TOKEN);
}

#[test]
fn what_tiktok_cannot_see_is_said_in_plain_words() {
    assert_eq!(
        marketscout::connectors::not_covered(SourceKind::TiktokResearch),
        RESEARCH_NOT_COVERED
    );
    assert_eq!(
        marketscout::connectors::not_covered(SourceKind::TiktokAds),
        ADS_NOT_COVERED
    );
    assert!(RESEARCH_NOT_COVERED.join(" ").contains("two days"));
    assert!(ADS_NOT_COVERED.join(" ").contains("outside the EU"));
}
