use serde_json::{Value, json};

use crate::helpers::*;

fn obs(id: &str, observed_at: &str, views: i64) -> Value {
    json!({"platform": "tiktok", "kind": "video", "platform_id": id, "observed_at": observed_at,
           "text": "Glow up #ledlights", "country": "US", "views": views})
}

async fn ingest_raw(app: &TestApp, token: &str, body: String, content_type: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/ingest"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    json_of(res).await
}

/// A product whose keyword is "sunset lamp".
async fn sunset_lamp(app: &TestApp) -> Value {
    let res = app
        .post_json(
            "/products",
            &json!({"name": "Sunset lamp", "description": "A lamp", "keywords": ["sunset lamp"]}),
        )
        .await;
    let (status, product) = json_of(res).await;
    assert_eq!(status, 200, "{product}");
    product
}

#[tokio::test]
async fn good_bad_and_duplicate_lines_are_counted_apart() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lines = [
        obs("1", "2025-09-01T00:00:00Z", 10).to_string(),
        "{not json".to_owned(),
        obs("1", "2025-09-02T00:00:00Z", 50).to_string(),
        json!({"platform": "tiktok", "kind": "video"}).to_string(),
        obs("1", "2025-09-01T00:00:00Z", 10).to_string(), // the first line again
    ];
    let (status, report) = ingest_raw(&app, &token, lines.join("\n"), "application/x-ndjson").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["accepted"].as_u64(),
            report["duplicates"].as_u64(),
            report["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][1]["line"], 4);
    assert!(
        report["errors"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("platform_id is required")
    );

    // Re-sending the whole body stores nothing new.
    let (_, again) = ingest_raw(&app, &token, lines.join("\n"), "application/x-ndjson").await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    let contents = app.scalar("SELECT COUNT(*) FROM contents").await;
    let snapshots = app.scalar("SELECT COUNT(*) FROM snapshots").await;
    assert_eq!(
        (contents, snapshots),
        (1, 2),
        "one video, seen at two moments"
    );
}

#[tokio::test]
async fn a_json_array_works_too_and_ids_stay_exact() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let body = r#"[{"platform":"TikTok","kind":"video","platform_id":7412345678901234567,"observed_at":1756684800}]"#;
    let (status, report) = ingest_raw(&app, &token, body.to_owned(), "application/json").await;
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(1)));
    let (id,): (String,) = sqlx::query_as("SELECT platform_id FROM contents")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(id, "7412345678901234567");
    let (status, body) = ingest_raw(
        &app,
        &token,
        "[{\"platform\": ".to_owned(),
        "application/json",
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body"]));
}

#[tokio::test]
async fn ingest_needs_an_account() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/ingest"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn large_batches_with_repeated_content_are_counted_exactly() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    // 1,000 lines: 300 videos seen on up to 4 days, with every 10th line sent twice.
    let mut lines = Vec::new();
    for i in 0..910 {
        let day = 1 + i / 300;
        lines.push(
            obs(
                &format!("v{}", i % 300),
                &format!("2025-09-0{day}T00:00:00Z"),
                i as i64,
            )
            .to_string(),
        );
        if i % 10 == 0 {
            lines.push(lines.last().unwrap().clone());
        }
    }
    assert_eq!(lines.len(), 1001);
    let (status, report) = ingest_raw(&app, &token, lines.join("\n"), "application/x-ndjson").await;
    assert_eq!(status, 200);
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(910), Some(91))
    );
    let contents = app.scalar("SELECT COUNT(*) FROM contents").await;
    let snapshots = app.scalar("SELECT COUNT(*) FROM snapshots").await;
    assert_eq!((contents, snapshots), (300, 910));
    let (first, last): (i64, i64) =
        sqlx::query_as("SELECT first_seen_at, last_seen_at FROM contents WHERE platform_id = 'v0'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(last - first, 3 * 86_400_000, "seen on days 1 to 4");
}

#[tokio::test]
async fn contents_seen_again_across_a_large_batch_are_stored_once_linked_and_idempotent() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let product = sunset_lamp(&app).await;
    // 600 contents over 3 days, far more than one statement holds. A content's
    // text comes only with its second sighting; every other one is about the
    // lamp, and every fourth is an ad.
    let mut lines = Vec::new();
    for day in 1..=3 {
        for i in 0..600 {
            let mut o = json!({
                "platform": if i % 4 == 0 { "facebook" } else { "tiktok" },
                "kind": if i % 4 == 0 { "ad" } else { "video" },
                "platform_id": format!("c{i}"),
                "observed_at": format!("2025-09-0{day}T00:00:00Z"),
                "views": i * day,
            });
            if day == 2 {
                o["text"] = json!(if i % 2 == 0 {
                    "my sunset lamp glows"
                } else {
                    "a quiet day"
                });
                o["author"] = json!(format!("shop{i}"));
            }
            lines.push(o.to_string());
        }
    }
    let body = lines.join("\n");
    let (status, report) = ingest_raw(&app, &token, body.clone(), "application/x-ndjson").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(1800), Some(0))
    );
    assert_eq!(report["products_refreshed"], json!([product["id"]]));
    let counts = [
        "SELECT COUNT(*) FROM contents",
        "SELECT COUNT(*) FROM contents WHERE text IS NOT NULL AND author IS NOT NULL",
        "SELECT COUNT(*) FROM snapshots",
        "SELECT COUNT(*) FROM content_products",
        "SELECT COUNT(*) FROM ads WHERE content_id IS NOT NULL",
        "SELECT COUNT(*) FROM contents WHERE last_seen_at - first_seen_at = 2 * 86400000",
    ];
    let mut stored = Vec::new();
    for sql in counts {
        stored.push(app.scalar(sql).await);
    }
    assert_eq!(stored, [600, 600, 1800, 300, 150, 600]);

    let (status, again) = ingest_raw(&app, &token, body, "application/x-ndjson").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1800)),
        "sending the batch again is all duplicates"
    );
    let mut after = Vec::new();
    for sql in counts {
        after.push(app.scalar(sql).await);
    }
    assert_eq!(after, stored, "and changes nothing");
}

#[tokio::test]
async fn a_later_sighting_without_text_is_matched_on_the_text_already_stored() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let product = sunset_lamp(&app).await;
    let line = |platform: &str, kind: &str, id: &str, day: u32, extra: Value| {
        let mut o = json!({"platform": platform, "kind": kind, "platform_id": id,
                           "observed_at": format!("2025-09-0{day}T00:00:00Z"), "views": day});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o.to_string()
    };
    // The same platform id on two platforms is two contents: only the TikTok
    // one is about the lamp.
    let first = [
        line(
            "tiktok",
            "video",
            "a1",
            1,
            json!({"text": "my sunset lamp glows", "author": "shop"}),
        ),
        line("reddit", "post", "a1", 1, json!({"text": "a quiet day"})),
        line(
            "facebook",
            "ad",
            "ad1",
            1,
            json!({"text": "Sunset lamp, 20% off", "country": "DE"}),
        ),
    ];
    let (status, report) = ingest_raw(&app, &token, first.join("\n"), "application/x-ndjson").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["products_refreshed"], json!([product["id"]]));

    // Sightings that carry only metrics are still about the lamp, and the ad
    // keeps the country it was first seen in.
    let metrics_only = [
        line("tiktok", "video", "a1", 2, json!({})),
        line("reddit", "post", "a1", 2, json!({})),
        line("facebook", "ad", "ad1", 2, json!({})),
    ];
    let (status, report) = ingest_raw(
        &app,
        &token,
        metrics_only.join("\n"),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"].as_u64(), Some(3), "{report}");
    assert_eq!(report["products_refreshed"], json!([product["id"]]));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM ads WHERE country = 'DE' AND content_id IS NOT NULL")
            .await,
        1
    );

    // A text sent later replaces the stored one: the Reddit post becomes
    // about the lamp, beside a new content that is not.
    let later = [
        line(
            "reddit",
            "post",
            "a1",
            3,
            json!({"text": "got a sunset lamp today"}),
        ),
        line("tiktok", "video", "b2", 3, json!({"text": "a quiet day"})),
    ];
    let (status, report) = ingest_raw(&app, &token, later.join("\n"), "application/x-ndjson").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["products_refreshed"], json!([product["id"]]));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM content_products").await, 3);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM contents WHERE author = 'shop' AND text LIKE 'my sunset%'"
        )
        .await,
        1,
        "a sighting without text or author never erases them"
    );
}
