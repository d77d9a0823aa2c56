//! Sources and scans through the API: administrators configure where
//! observations come from, start scans and follow them; nobody ever sees a
//! credential's value.

use serde_json::{Value, json};

use crate::helpers::*;

async fn admin_token(app: &TestApp, name: &str) -> String {
    app.signup(name).await;
    sqlx::query("UPDATE users SET is_admin = 1 WHERE username = $1")
        .bind(name)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.login(name).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    json_of(req.send().await.unwrap()).await
}

fn youtube_source() -> Value {
    json!({"name": "YouTube gadgets", "kind": "youtube", "query": ["led strip lights", "#ledlights"],
           "countries": ["us", "GB"], "every_minutes": 60})
}

#[tokio::test]
async fn an_administrator_adds_reads_changes_and_deletes_a_source() {
    let app = spawn_app().await;
    let admin = admin_token(&app, "root").await;

    let (status, created) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(youtube_source()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["kind"], "youtube");
    assert_eq!(
        created["countries"],
        json!(["US", "GB"]),
        "country codes are upper-cased"
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["max_pages"], 10);
    assert_eq!(
        created["base_url"],
        Value::Null,
        "null means the platform's own API"
    );
    assert_eq!(
        created["credentials"],
        json!([{"name": "YOUTUBE_API_KEY", "configured": false}])
    );
    assert!(
        created["next_scan_at"].is_string(),
        "a new source is due at once"
    );
    assert!(
        !created["not_covered"].as_array().unwrap().is_empty(),
        "what the platform cannot see is said, not shown as zero"
    );

    let (status, listed) = send(&app, reqwest::Method::GET, "/sources", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let (status, changed) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/sources/{id}"),
        &admin,
        Some(
            json!({"enabled": false, "base_url": "http://127.0.0.1:9/youtube/v3", "max_pages": 3}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(
        changed["next_scan_at"],
        Value::Null,
        "a disabled source is never due"
    );
    assert_eq!(changed["base_url"], "http://127.0.0.1:9/youtube/v3");
    assert_eq!(changed["max_pages"], 3);
    assert_eq!(changed["name"], "YouTube gadgets", "fields not given stay");

    let (status, cleared) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/sources/{id}"),
        &admin,
        Some(json!({"base_url": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cleared["base_url"], Value::Null);

    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/sources/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        &format!("/sources/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("Source not found"))
    );
}

#[tokio::test]
async fn only_administrators_see_or_touch_sources_and_scans() {
    let app = spawn_app().await;
    let user = app.user_token("ann").await;
    for (method, path) in [
        (reqwest::Method::GET, "/sources"),
        (reqwest::Method::POST, "/sources"),
        (reqwest::Method::GET, "/sources/1"),
        (reqwest::Method::PATCH, "/sources/1"),
        (reqwest::Method::DELETE, "/sources/1"),
        (reqwest::Method::POST, "/sources/1/scan"),
        (reqwest::Method::GET, "/scans"),
        (reqwest::Method::GET, "/scans/1"),
    ] {
        let (status, body) = send(&app, method.clone(), path, &user, Some(youtube_source())).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{method} {path} without a token");
    }
}

#[tokio::test]
async fn bad_sources_are_refused_with_every_problem_named() {
    let app = spawn_app().await;
    let admin = admin_token(&app, "root").await;
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(
            json!({"name": "", "kind": "myspace", "query": [], "countries": ["U"],
                    "every_minutes": 0, "base_url": "ftp://example.com", "max_pages": 5000}),
        ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<String> = validation_errors(&body)
        .into_iter()
        .map(|(_, loc)| {
            loc.iter()
                .map(|p| p.to_string().trim_matches('"').to_owned())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    for expected in [
        "body.name",
        "body.kind",
        "body.every_minutes",
        "body.base_url",
        "body.max_pages",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} not in {fields:?}"
        );
    }
    assert!(
        fields.iter().any(|f| f.starts_with("body.countries")),
        "{fields:?}"
    );
    // Two letters are not enough: the code must name a country, as /scan-ads asks.
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(
            json!({"name": "zz", "kind": "file", "query": ["/tmp"], "countries": ["US", "ZZ"],
                    "every_minutes": 60}),
        ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "countries", 1]),
        "{body}"
    );

    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(json!({"name": "no query", "kind": "x"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("query"), "{body}");

    send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(youtube_source()),
    )
    .await;
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(youtube_source()),
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (409, Some("Source already exists"))
    );
}

#[tokio::test]
async fn a_scan_without_credentials_fails_and_names_the_missing_setting() {
    let app = spawn_app().await;
    let admin = admin_token(&app, "root").await;
    let (_, source) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(youtube_source()),
    )
    .await;
    let id = source["id"].as_i64().unwrap();

    let (status, scan) = send(
        &app,
        reqwest::Method::POST,
        &format!("/sources/{id}/scan"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 202, "{scan}");
    assert_eq!(scan["source_id"], id);
    assert_eq!(scan["trigger"], "manual");
    let scan_id = scan["id"].as_i64().unwrap();

    let finished = wait_for_scan(&app, &admin, scan_id).await;
    assert_eq!(finished["status"], "failed", "{finished}");
    assert_eq!(finished["pages"], 0);
    let error = &finished["errors"][0];
    assert_eq!(error["code"], "missing_credentials");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("YOUTUBE_API_KEY"),
        "{error}"
    );

    let (status, scans) = send(
        &app,
        reqwest::Method::GET,
        &format!("/scans?source_id={id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(scans.as_array().unwrap().len(), 1);
    let (status, _) = send(&app, reqwest::Method::GET, "/scans/999999", &admin, None).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        "/sources/999999/scan",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn configured_credentials_show_as_configured_but_never_their_value() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.env");
    std::fs::write(&secrets, "X_BEARER_TOKEN=AAAA-very-secret-bearer\n").unwrap();
    let path = secrets.clone();
    let app = spawn_app_with(move |c| c.scan.secrets_file = Some(path)).await;
    let admin = admin_token(&app, "root").await;
    let (status, source) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(json!({"name": "X", "kind": "x", "query": ["led strip"]})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        source["credentials"],
        json!([{"name": "X_BEARER_TOKEN", "configured": true}])
    );
    let (_, listed) = send(&app, reqwest::Method::GET, "/sources", &admin, None).await;
    let openapi = app.get("/openapi.json").await.text().await.unwrap();
    for shown in [source.to_string(), listed.to_string(), openapi] {
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}

/// Polls a scan until it is no longer running (at most 10 s).
pub async fn wait_for_scan(app: &TestApp, token: &str, scan_id: i64) -> Value {
    for _ in 0..200 {
        let (status, scan) = send(
            app,
            reqwest::Method::GET,
            &format!("/scans/{scan_id}"),
            token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{scan}");
        if scan["status"] != "running" {
            return scan;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("scan {scan_id} still running after 10 s");
}

#[tokio::test]
async fn search_interest_in_a_products_terms_shows_on_its_trend() {
    let app = spawn_app().await;
    let admin = admin_token(&app, "root").await;
    let (_, source) = send(
        &app,
        reqwest::Method::POST,
        "/sources",
        &admin,
        Some(json!({"name": "Trends", "kind": "google_trends", "query": ["led strip lights", "yoga mat"]})),
    )
    .await;
    let source_id = source["id"].as_i64().unwrap();
    let product = app.product("LED Strip Lights").await;
    let today = marketscout::time::now_ms() / 86_400_000;
    for (term, geo, day, value) in [
        ("led strip lights", "", today - 2, 40.0),
        ("led strip lights", "", today - 1, 75.0),
        ("led strip lights", "US", today - 1, 100.0),
        ("led strip lights", "GB", today - 1, 62.0),
        ("led strip lights", "GB", today - 3, 10.0),
        ("led strip lights", "", today - 400, 5.0), // too old to show
        ("yoga mat", "", today - 1, 90.0),          // another product's term
    ] {
        sqlx::query(
            "INSERT INTO search_interest (source_id, term, geo, day, value, observed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(source_id)
        .bind(term)
        .bind(geo)
        .bind(day)
        .bind(value)
        .bind(marketscout::time::now_ms())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    }
    let (status, trend) = json_of(app.get(&format!("/products/{product}/trend")).await).await;
    assert_eq!(status, 200, "{trend}");
    let interest = trend["search_interest"].as_array().unwrap();
    assert_eq!(
        interest.len(),
        1,
        "only the terms that name the product: {interest:?}"
    );
    assert_eq!(interest[0]["term"], "led strip lights");
    let values: Vec<f64> = interest[0]["over_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_f64().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![40.0, 75.0],
        "worldwide, oldest first, last 90 days"
    );
    assert_eq!(
        interest[0]["by_country"],
        json!([{"country": "US", "value": 100.0}, {"country": "GB", "value": 62.0}]),
        "each country's latest reading, hottest first"
    );
}
