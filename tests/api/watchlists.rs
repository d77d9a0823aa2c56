use serde_json::{Value, json};

use crate::helpers::*;

const VIRAL: &str = "🔥 VIRAL deal of the day! Get yours now before they sell out!!";

#[tokio::test]
async fn a_user_watches_products_once_each() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lamp = app.product("Lamp").await;
    let (status, entry) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(entry["product_id"], lamp);
    let (status, body) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
            .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Product already in watchlist"}))
    );
    let (status, body) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": 999}), &token)
            .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Product not found"}))
    );
    let (status, body) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": "x"}), &token)
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![("int_parsing".to_owned(), loc(&["body", "product_id"]))]
    );
    let (_, list) = json_of(app.get_auth("/watchlists", &token).await).await;
    assert_eq!(list, json!([entry]));
}

#[tokio::test]
async fn users_never_see_or_change_each_others_watchlists() {
    let app = spawn_app().await;
    let ann = app.user_token("ann").await;
    let bob = app.user_token("bob").await;
    let lamp = app.product("Lamp").await;
    let entry: Value = app
        .post_json_auth("/watchlists", &json!({"product_id": lamp}), &ann)
        .await
        .json()
        .await
        .unwrap();
    let (_, bobs) = json_of(app.get_auth("/watchlists", &bob).await).await;
    assert_eq!(bobs, json!([]));
    let res = app
        .delete_auth(&format!("/watchlists/{}", entry["id"]), &bob)
        .await;
    assert_eq!(
        res.status(),
        404,
        "someone else's entry looks like no entry"
    );
    let (_, anns) = json_of(app.get_auth("/watchlists", &ann).await).await;
    assert_eq!(anns.as_array().unwrap().len(), 1);
    let csv = app
        .get_auth("/export/watchlist", &bob)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    let res = app
        .delete_auth(&format!("/watchlists/{}", entry["id"]), &ann)
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn check_alerts_reports_each_change_once() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lamp = app.product("Lamp").await;
    app.ad(lamp, "TikTok", "old ad", None).await;
    let (_, watched) = json_of(app.calculate(lamp).await).await;
    app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
        .await;

    let (_, alerts) = json_of(app.get_auth("/check-alerts", &token).await).await;
    assert_eq!(
        alerts,
        json!({"alerts": []}),
        "nothing changed since it was watched"
    );

    app.ad(lamp, "TikTok", VIRAL, Some("US")).await;
    app.ad(lamp, "TikTok", VIRAL, Some("US")).await;
    app.ad(lamp, "Instagram", VIRAL, Some("US")).await;
    // Each ad refreshes the product's score; the alert sums the move since it was watched.
    let before = watched["trend_score"].as_f64().unwrap();
    let (_, after) = json_of(app.calculate(lamp).await).await;
    let delta = after["trend_score"].as_f64().unwrap() - before;

    let (_, alerts) = json_of(app.get_auth("/check-alerts", &token).await).await;
    assert_eq!(
        alerts["alerts"],
        json!([
            format!("🚀 Lamp trend score increased by {delta:.1} points!"),
            "🔥 New viral ad detected for Lamp on TikTok!",
            "🔥 New viral ad detected for Lamp on Instagram!",
        ])
    );
    let (_, again) = json_of(app.get_auth("/check-alerts", &token).await).await;
    assert_eq!(again, json!({"alerts": []}), "a change is reported once");
}

#[tokio::test]
async fn exports_are_csv_in_the_original_formats() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lamp = app.product("=cmd|' /C calc'!A0").await;
    app.ad(lamp, "TikTok", VIRAL, None).await;
    app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
        .await;
    app.calculate(lamp).await;

    let res = app.get_auth("/export/watchlist", &token).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=watchlist_export.csv"
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("Product ID,Product Name,Description,Added Date")
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&format!("{lamp},'=cmd|' /C calc'!A0,")),
        "formulas are defused: {row}"
    );
    let date = row.rsplit(',').next().unwrap();
    assert_eq!(date.len(), "2025-07-12 00:00:00".len(), "{date}");

    let res = app.get_auth("/export/trends", &token).await;
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=trends_export.csv"
    );
    let csv = res.text().await.unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("Product ID,Product Name,Trend Score,Calculated At")
    );
    let history = app.scalar("SELECT COUNT(*) FROM trend_scores").await;
    assert_eq!(
        csv.lines().count() as i64,
        1 + history,
        "one row per score in the history"
    );

    let (status, body) = json_of(app.get_auth("/export/everything", &token).await).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("watchlist"));
    assert_eq!(app.get("/export/watchlist").await.status(), 401);
}
