use std::time::Duration;

use marketscout::config::Config;
use serde_json::{Value, json};

use crate::helpers::*;

fn limited(c: &mut Config) {
    c.rate_limit.enabled = true;
}

#[tokio::test]
async fn auth_endpoints_allow_five_a_minute_then_429_with_retry_after() {
    let app = spawn_app_with(limited).await;
    for i in 0..5 {
        let res = app
            .client
            .post(app.url("/token"))
            .form(&[("username", "x"), ("password", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["x-ratelimit-limit"], "5");
        assert_eq!(
            res.headers()["x-ratelimit-remaining"],
            (4 - i).to_string().as_str()
        );
        let reset: u64 = res.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > jsonwebtoken::get_current_timestamp() - 1);
    }
    let res = app.post_json("/signup", &json!({})).await;
    assert_eq!(res.status(), 429, "signup shares the auth limit");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "Rate limit exceeded: 5 per 1 minute"})
    );
    assert_eq!(
        app.get("/products").await.status(),
        200,
        "other tiers are counted apart"
    );
}

#[tokio::test]
async fn each_path_has_its_own_budget_as_the_briefs_slowapi_limits_do() {
    // A client polling several endpoints is limited per endpoint, never
    // sooner than the brief's implementation would limit it.
    let app = spawn_app_with(|c| {
        limited(c);
        c.rate_limit.general = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.get("/products").await.status(), 200);
    }
    assert_eq!(app.get("/products").await.status(), 429);
    assert_eq!(app.get("/ads").await.status(), 200, "another path");
    assert_eq!(app.get("/trending").await.status(), 200, "another path");
}

#[tokio::test]
async fn general_and_heavy_tiers_follow_their_settings() {
    let app = spawn_app_with(|c| {
        limited(c);
        c.rate_limit.general = 3;
        c.rate_limit.heavy = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/products").await.status(), 200);
    }
    assert_eq!(
        app.get("/api/v1/products").await.status(),
        429,
        "both mounts are one API"
    );
    assert_eq!(
        app.get("/heat-map").await.headers()["x-ratelimit-limit"],
        "2"
    );
    assert_eq!(app.get("/scan-ads").await.status(), 200);
    assert_eq!(app.get("/scan-ads").await.status(), 200);
    assert_eq!(app.get("/scan-ads").await.status(), 429);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "operations endpoints are not limited"
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let untrusted = spawn_app_with(|c| {
        limited(c);
        c.rate_limit.general = 1;
    })
    .await;
    let get = |app: &TestApp, ip: &'static str| {
        app.client
            .get(app.url("/products"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(get(&untrusted, "1.1.1.1").await.unwrap().status(), 200);
    assert_eq!(
        get(&untrusted, "2.2.2.2").await.unwrap().status(),
        429,
        "a spoofed header does not buy a new quota"
    );

    let behind_proxy = spawn_app_with(|c| {
        limited(c);
        c.rate_limit.general = 1;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert_eq!(get(&behind_proxy, "1.1.1.1").await.unwrap().status(), 200);
    assert_eq!(get(&behind_proxy, "2.2.2.2").await.unwrap().status(), 200);
    assert_eq!(get(&behind_proxy, "1.1.1.1").await.unwrap().status(), 429);
}

#[tokio::test]
async fn two_instances_share_one_limit_through_redis() {
    let Some(redis) = redis_url() else {
        eprintln!("skipped: set MARKETSCOUT_TEST_REDIS_URL to run against Redis");
        return;
    };
    let prefix = format!("ms-test-{}", rand::random::<u64>());
    let (a, b) = spawn_pair_with(|c| {
        limited(c);
        c.rate_limit.general = 4;
        c.rate_limit.window = Duration::from_secs(3600);
        c.redis_url = Some(redis.clone());
        c.redis_key_prefix = prefix.clone();
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(app.get("/products").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_local_limits_without_failing_requests() {
    let app = spawn_app_with(|c| {
        limited(c);
        c.rate_limit.general = 2;
        // Windows are aligned to the clock: a long one keeps the count from
        // starting over between two requests of a slow test run.
        c.rate_limit.window = Duration::from_secs(3600);
        c.redis_url = Some("redis://127.0.0.1:1/".into()); // nothing listens there
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(app.get("/products").await.status(), 200);
    assert_eq!(app.get("/products").await.status(), 200);
    assert_eq!(app.get("/products").await.status(), 429);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an outage must not stall requests"
    );
}
