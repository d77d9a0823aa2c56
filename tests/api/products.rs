use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn products_are_created_listed_and_fetched_on_both_mounts() {
    let app = spawn_app().await;
    let (status, created) = json_of(
        app.post_json(
            "/products",
            &json!({"name": "Wireless Earbuds", "description": "Noise cancelling"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "Wireless Earbuds");
    assert_eq!(created["description"], "Noise cancelling");
    for prefix in ["", "/api/v1"] {
        let (status, one) = json_of(app.get(&format!("{prefix}/products/{id}")).await).await;
        assert_eq!(status, 200);
        assert_eq!(one, created);
        let (_, list) = json_of(app.get(&format!("{prefix}/products")).await).await;
        assert_eq!(list, json!([created]));
    }
}

#[tokio::test]
async fn pagination_is_ordered_and_bounded() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.product(&format!("P{i}")).await;
    }
    let (_, page) = json_of(app.get("/products?skip=1&limit=2").await).await;
    let names: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["P1", "P2"]);
    for ok in [
        "limit=1",
        "limit=1000",
        "limit=0",
        "skip=0",
        "skip=9223372036854775807",
    ] {
        assert_eq!(
            app.get(&format!("/products?{ok}")).await.status(),
            200,
            "{ok}"
        );
    }
    for (bad, kind, field) in [
        ("limit=-1", "greater_than_equal", "limit"),
        ("limit=1001", "less_than_equal", "limit"),
        ("skip=-1", "greater_than_equal", "skip"),
        ("skip=9223372036854775808", "less_than_equal", "skip"),
        ("limit=ten", "int_parsing", "limit"),
        ("limit=1.5", "int_parsing", "limit"),
    ] {
        let (status, body) = json_of(app.get(&format!("/products?{bad}")).await).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(
            validation_errors(&body),
            vec![(kind.to_owned(), loc(&["query", field]))],
            "{bad}"
        );
    }
    let (status, body) = json_of(app.get("/ads?skip=-5&limit=5000").await).await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body).len(),
        2,
        "both failing parameters are named"
    );
}

#[tokio::test]
async fn product_fields_are_checked_at_their_limits() {
    let app = spawn_app().await;
    let post = |name: Value, description: Value| {
        let app = &app;
        async move {
            json_of(
                app.post_json(
                    "/products",
                    &json!({"name": name, "description": description}),
                )
                .await,
            )
            .await
        }
    };
    assert_eq!(
        post(json!("n".repeat(200)), json!("d".repeat(1000)))
            .await
            .0,
        200
    );
    // Lengths count characters, not bytes.
    assert_eq!(
        post(json!("🔥".repeat(200)), json!("é".repeat(1000)))
            .await
            .0,
        200
    );
    let (status, body) = post(json!("n".repeat(201)), json!("d".repeat(1001))).await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![
            ("string_too_long".to_owned(), loc(&["body", "name"])),
            ("string_too_long".to_owned(), loc(&["body", "description"])),
        ]
    );
    let (status, body) = post(json!(""), json!(null)).await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![
            ("string_too_short".to_owned(), loc(&["body", "name"])),
            ("string_type".to_owned(), loc(&["body", "description"])),
        ]
    );
}

#[tokio::test]
async fn unknown_and_impossible_product_ids() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.get("/products/12345").await).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Product not found"}))
    );
    for bad in ["0", "-1", "abc", "99999999999999999999"] {
        let (status, body) = json_of(app.get(&format!("/products/{bad}")).await).await;
        assert_eq!(status, 422, "{bad}");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["path", "product_id"]),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn cached_reads_never_hide_a_write_made_through_the_api() {
    let app = spawn_app().await;
    let (_, empty) = json_of(app.get("/products").await).await;
    assert_eq!(empty, json!([]));
    let id = app.product("Lamp").await;
    let (_, list) = json_of(app.get("/products").await).await;
    assert_eq!(list[0]["id"], id, "the write is visible at once");
    let (_, trending) = json_of(app.get("/trending").await).await;
    assert_eq!(trending["trending_products"], json!([]));
    // A new ad refreshes the product's score: the cached empty list must not hide it.
    app.ad(id, "TikTok", "A lamp", None).await;
    let (_, trending) = json_of(app.get("/trending").await).await;
    assert_eq!(trending["trending_products"][0]["product"]["id"], id);
}

#[tokio::test]
async fn writes_from_another_process_show_within_the_cache_ttl() {
    let app = spawn_app_with(|c| c.cache_ttl = std::time::Duration::from_millis(200)).await;
    let id = app.product("Lamp").await;
    app.get(&format!("/products/{id}")).await;
    app.sql("UPDATE products SET name = 'Renamed elsewhere'")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, product) = json_of(app.get(&format!("/products/{id}")).await).await;
    assert_eq!(product["name"], "Renamed elsewhere");
}

#[tokio::test]
async fn an_instance_drops_cached_reads_when_another_instance_writes() {
    // A long cache lifetime: only the change feed can make the write visible quickly.
    let (a, b) = spawn_pair_with(|c| c.cache_ttl = std::time::Duration::from_secs(600)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !(a.state.store.watching() && b.state.store.watching()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the change feed never connected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, empty) = json_of(a.get("/products").await).await;
    assert_eq!(empty, json!([]));
    let id = b.product("Lamp").await;
    let written = std::time::Instant::now();
    loop {
        let (_, list) = json_of(a.get("/products").await).await;
        if list.as_array().is_some_and(|l| l.len() == 1) {
            assert_eq!(list[0]["id"], id);
            break;
        }
        assert!(
            written.elapsed() < std::time::Duration::from_secs(2),
            "instance A still serves the old list"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_in_names_and_dropped_from_captions_on_every_backend() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.post_json(
            "/products",
            &json!({"name": "\u{0}nul", "description": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let token = app.user_token("ann").await;
    let line = json!({"platform": "tiktok", "kind": "video", "platform_id": "1",
        "observed_at": "2025-01-01T00:00:00Z", "text": "lamp \u{0} haul"});
    let res = app.post_json_auth("/ingest", &json!([line]), &token).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    // A NUL in a scraped caption shows nothing: it is dropped, the line kept.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
}

#[tokio::test]
async fn a_body_declared_as_something_else_than_json_is_not_read_as_json() {
    let app = spawn_app().await;
    let body = r#"{"name": "Sunset Lamp", "description": "x"}"#;
    let send = |content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/products")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let res = send(Some("text/plain")).await.unwrap();
    assert_eq!(
        res.status(),
        422,
        "a cross-site text/plain form cannot pass for JSON"
    );
    let res = send(Some("application/json; charset=utf-8")).await.unwrap();
    assert_eq!(res.status(), 200);
    let res = send(None).await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "no content type: read as JSON, as FastAPI does"
    );
}

#[tokio::test]
async fn a_trailing_slash_is_sent_on_to_the_same_path_without_it() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path, to) in [
        (
            reqwest::Method::GET,
            "/products/?limit=5",
            "/products?limit=5",
        ),
        (reqwest::Method::POST, "/products/", "/products"),
        (
            reqwest::Method::GET,
            "/api/v1/trending/",
            "/api/v1/trending",
        ),
    ] {
        let res = client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 307, "{method} {path}: method and body kept");
        assert_eq!(res.headers()["location"], to);
    }
    // Followed, as HTTP clients do, the request lands with its body.
    let res = reqwest::Client::new()
        .post(app.url("/products/"))
        .json(&json!({"name": "Sunset Lamp", "description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Sunset Lamp");
    let res = reqwest::get(app.url("/nothing-here/")).await.unwrap();
    assert_eq!(res.status(), 404, "an unknown path stays unknown");
}

#[tokio::test]
async fn a_limit_of_zero_answers_an_empty_page() {
    let app = spawn_app().await;
    app.product("Sunset Lamp").await;
    for path in ["/products?limit=0", "/ads?limit=0"] {
        let (status, body) = json_of(app.get(path).await).await;
        assert_eq!((status, body), (200, json!([])), "{path}");
    }
}
