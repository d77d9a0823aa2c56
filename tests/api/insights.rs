use serde_json::json;

use crate::helpers::*;

const VIRAL: &str = "🔥 VIRAL deal of the day! Get yours now before they sell out!!";
const PLAIN: &str = "A lamp";

#[tokio::test]
async fn scan_ads_returns_only_viral_ads_best_first() {
    let app = spawn_app().await;
    let lamp = app.product("Lamp").await;
    let mug = app.product("Mug").await;
    app.ad(lamp, "TikTok", PLAIN, None).await;
    let strong = app.ad(mug, "Instagram", VIRAL, Some("US")).await;
    let weaker = app
        .ad(lamp, "YouTube", "Trending now! Limited stock!", None)
        .await;
    let (status, body) = json_of(app.get("/scan-ads").await).await;
    assert_eq!(status, 200);
    let ads = body["viral_ads"].as_array().unwrap();
    let scores: Vec<i64> = ads
        .iter()
        .map(|a| a["engagement_score"].as_i64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| *s >= 70), "{scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(ads[0]["product_name"], "Mug");
    assert_eq!(ads[0]["platform"], "Instagram");
    assert_eq!(ads[0]["content"], VIRAL);
    assert_eq!(ads[0]["engagement_score"], strong["engagement_score"]);
    assert_eq!(ads[0]["detected_at"], strong["created_at"]);
    let includes_weaker = ads.iter().any(|a| a["ad_id"] == weaker["id"]);
    assert_eq!(
        includes_weaker,
        weaker["engagement_score"].as_i64().unwrap() >= 70
    );
    assert!(!ads.iter().any(|a| a["content"] == PLAIN));
}

#[tokio::test]
async fn heat_map_scales_each_product_to_its_hottest_region() {
    let app = spawn_app().await;
    let lamp = app.product("Lamp").await;
    for country in ["US", "US", "CA", "US", "DE", "DE"] {
        app.ad(lamp, "TikTok", PLAIN, Some(country)).await;
    }
    app.ad(lamp, "TikTok", PLAIN, None).await; // unlocated: counted nowhere
    let mug = app.product("Mug").await;
    app.ad(mug, "Facebook", PLAIN, Some("JP")).await;
    let (status, body) = json_of(app.get("/heat-map").await).await;
    assert_eq!(status, 200);
    let heat = &body["heat_map"];
    assert_eq!(heat["Lamp"]["North America"], 100);
    assert_eq!(heat["Lamp"]["Europe"], 50);
    assert_eq!(heat["Lamp"]["Asia"], 0);
    assert_eq!(heat["Mug"]["Asia"], 100);
    assert_eq!(heat["Mug"]["North America"], 0);
    let (_, empty) = json_of(spawn_app().await.get("/heat-map").await).await;
    assert_eq!(empty, json!({"heat_map": {}}));
}

#[tokio::test]
async fn calculate_score_records_history_and_trending_ranks_by_the_latest() {
    let app = spawn_app().await;
    let quiet = app.product("Quiet").await;
    let hot = app.product("Hot").await;
    let unscored = app.product("Unscored").await;
    app.ad(quiet, "TikTok", PLAIN, None).await;
    for platform in ["TikTok", "Instagram", "YouTube", "Facebook"] {
        app.ad(hot, platform, VIRAL, None).await;
    }
    let (status, q) = json_of(app.calculate(quiet).await).await;
    assert_eq!(status, 200);
    assert_eq!(q["product_id"], quiet);
    let (_, h) = json_of(app.calculate(hot).await).await;
    let (qs, hs) = (
        q["trend_score"].as_f64().unwrap(),
        h["trend_score"].as_f64().unwrap(),
    );
    assert!(hs > qs && (0.0..=100.0).contains(&hs), "{qs} {hs}");
    let c = &h["components"];
    let sum: f64 = [
        "volume",
        "engagement",
        "breadth",
        "momentum",
        "acceleration",
        "novelty",
        "saturation",
    ]
    .iter()
    .map(|k| c[k].as_f64().unwrap())
    .sum();
    assert!(
        (sum - hs).abs() < 0.5,
        "components add up to the score: {c} vs {hs}"
    );

    let (_, trending) = json_of(app.get("/trending").await).await;
    let rows = trending["trending_products"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "unscored products are not trending");
    assert_eq!(rows[0]["product"]["id"], hot);
    assert_eq!(rows[0]["product"]["name"], "Hot");
    assert_eq!(rows[0]["current_score"], h["trend_score"]);
    assert_eq!(rows[0]["last_updated"], h["calculated_at"]);
    assert!(!rows.iter().any(|r| r["product"]["id"] == unscored));

    // The quiet product gains ads: its next score is its current one.
    for platform in [
        "TikTok",
        "Instagram",
        "YouTube",
        "Facebook",
        "Twitter",
        "TikTok",
        "TikTok",
    ] {
        app.ad(quiet, platform, VIRAL, None).await;
    }
    let before = app.scalar("SELECT COUNT(*) FROM trend_scores").await;
    app.calculate(quiet).await;
    let (_, trending) = json_of(app.get("/trending?limit=1").await).await;
    assert_eq!(trending["trending_products"].as_array().unwrap().len(), 1);
    assert_eq!(trending["trending_products"][0]["product"]["id"], quiet);
    let count = app.scalar("SELECT COUNT(*) FROM trend_scores").await;
    assert_eq!(
        count,
        before + 1,
        "every calculation is kept in the history"
    );
}

#[tokio::test]
async fn the_same_data_gives_the_same_score() {
    let app = spawn_app().await;
    let p = app.product("Lamp").await;
    app.ad(p, "TikTok", VIRAL, None).await;
    let a = json_of(app.calculate(p).await).await.1;
    let b = json_of(app.calculate(p).await).await.1;
    assert_eq!(a["trend_score"], b["trend_score"]);
}

#[tokio::test]
async fn insight_parameters_are_validated() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.client
            .post(app.url("/calculate-score/77"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Product not found"}))
    );
    assert_eq!(
        app.client
            .post(app.url("/calculate-score/x"))
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    for (q, status) in [
        ("limit=1", 200),
        ("limit=100", 200),
        ("limit=0", 422),
        ("limit=101", 422),
    ] {
        assert_eq!(
            app.get(&format!("/trending?{q}")).await.status(),
            status,
            "{q}"
        );
    }
}
