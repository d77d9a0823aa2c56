use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn ads_belong_to_existing_products_on_known_platforms() {
    let app = spawn_app().await;
    let product = app.product("Lamp").await;
    let ad = app
        .ad(product, "TikTok", "Glow up your room!", Some("de"))
        .await;
    assert_eq!(ad["product_id"], product);
    assert_eq!(ad["platform"], "TikTok");
    assert_eq!(ad["country"], "DE");
    assert!(ad["engagement_score"].as_i64().unwrap() > 0);
    let (_, list) = json_of(app.get("/ads").await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["ad_content"], "Glow up your room!");

    let (status, body) = json_of(
        app.post_json(
            "/ads",
            &json!({"product_id": 999, "platform": "TikTok", "ad_content": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Product not found"}))
    );
}

#[tokio::test]
async fn ad_validation_names_each_bad_field() {
    let app = spawn_app().await;
    let product = app.product("Lamp").await;
    let (status, body) = json_of(
        app.post_json(
            "/ads",
            &json!({"product_id": 0, "platform": "MySpace", "ad_content": "", "country": "XX"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![
            (
                "greater_than_equal".to_owned(),
                loc(&["body", "product_id"])
            ),
            ("enum".to_owned(), loc(&["body", "platform"])),
            ("string_too_short".to_owned(), loc(&["body", "ad_content"])),
            ("value_error".to_owned(), loc(&["body", "country"])),
        ]
    );
    assert_eq!(
        body["detail"][1]["msg"],
        "Input should be 'TikTok', 'Facebook', 'Instagram', 'YouTube' or 'Twitter'"
    );
    let at_limit = app
        .post_json(
            "/ads",
            &json!({"product_id": product, "platform": "YouTube", "ad_content": "a".repeat(2000)}),
        )
        .await;
    assert_eq!(at_limit.status(), 200);
    let past = app
        .post_json(
            "/ads",
            &json!({"product_id": product, "platform": "YouTube", "ad_content": "a".repeat(2001)}),
        )
        .await;
    assert_eq!(past.status(), 422);
}
