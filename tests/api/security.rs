use marketscout::config::CorsOrigins;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let res = app.get("/products").await;
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(!h["x-request-id"].is_empty());
    let res = app
        .client
        .get(app.url("/products"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = spawn_app_with(|c| {
        c.cors_origins = CorsOrigins::List(vec!["https://shop.example.com".parse().unwrap()])
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/products"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let ok = preflight("https://shop.example.com").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let allowed_methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed_methods.contains("POST"), "{allowed_methods}");
    let denied = preflight("https://evil.example.net").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app().await; // 64 KiB limit in tests
    let huge = json!({"name": "x", "description": "d".repeat(200_000)});
    let (status, body) = json_of(app.post_json("/products", &huge).await).await;
    assert_eq!(status, 413);
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn injection_strings_are_stored_and_returned_inertly() {
    let app = spawn_app().await;
    let sql = "Robert'); DROP TABLE products;--";
    let html = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let (status, created) = json_of(
        app.post_json("/products", &json!({"name": sql, "description": html}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let res = app.get(&format!("/products/{}", created["id"])).await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let fetched: Value = res.json().await.unwrap();
    assert_eq!(fetched["name"], sql);
    assert_eq!(fetched["description"], html);
    let (_, all) = json_of(app.get("/products").await).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "the table is still there");
    let res = app.get("/products?skip=0%27%20OR%201=1--").await;
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn framework_errors_use_the_json_detail_shape() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get("/no/such/route").await).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    let res = app.client.put(app.url("/products")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "Method Not Allowed"})
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(
        json_of(app.get("/healthz").await).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        json_of(app.get("/readyz").await).await,
        (200, json!({"status": "ready"}))
    );
    app.get("/products").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/products\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("db_pool_connections"));
    app.state.store.close().await;
    let (status, body) = json_of(app.get("/readyz").await).await;
    assert_eq!(
        (status, body),
        (503, json!({"detail": "Database unreachable"}))
    );
}

#[tokio::test]
async fn secrets_never_appear_in_responses() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    for path in ["/users/me", "/watchlists", "/openapi.json", "/metrics"] {
        let text = app.get_auth(path, &token).await.text().await.unwrap();
        assert!(
            !text.contains(std::str::from_utf8(SECRET).unwrap()),
            "{path}"
        );
        assert!(!text.contains("$argon2"), "{path}");
        assert!(!text.contains(PASSWORD), "{path}");
    }
}

/// A body that trickles in: one byte, then nothing for `pause`, then the rest.
fn slow_body(pause: std::time::Duration) -> reqwest::Body {
    let chunks = futures::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok::<_, std::io::Error>(b"{".to_vec()), 1)),
            1 => {
                tokio::time::sleep(pause).await;
                Some((Ok(br#""name": "Slow", "description": "Lamp"}"#.to_vec()), 2))
            }
            _ => None,
        }
    });
    reqwest::Body::wrap_stream(chunks)
}

#[tokio::test]
async fn requests_slower_than_the_timeout_get_503() {
    let app = spawn_app_with(|c| c.request_timeout = std::time::Duration::from_millis(300)).await;
    let res = app
        .client
        .post(app.url("/products"))
        .header("content-type", "application/json")
        .body(slow_body(std::time::Duration::from_secs(2)))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status, body),
        (503, json!({"detail": "Request timed out"}))
    );
}

#[tokio::test]
async fn shutdown_finishes_the_requests_in_flight() {
    let app = spawn_app().await;
    let request = app
        .client
        .post(app.url("/products"))
        .header("content-type", "application/json")
        .body(slow_body(std::time::Duration::from_millis(500)))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    app.stop();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(
        res.status(),
        200,
        "the request begun before shutdown completes"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys() {
    let app = spawn_app().await;
    if app.state.store.backend() != marketscout::store::Backend::Sqlite {
        return;
    }
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!((mode.as_str(), fk), ("wal", 1));
}
