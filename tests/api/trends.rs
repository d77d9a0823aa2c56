//! The trend engine behind the API: product terms, matching at ingest and
//! again when terms change, trend reports, and the filters on the brief's
//! insight endpoints.

use serde_json::{Value, json};

use crate::helpers::*;

const DAY_MS: i64 = 86_400_000;

fn iso_days_ago(days: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now - days * DAY_MS)
        .unwrap()
        .to_rfc3339()
}

/// A post about `text` by `author`, seen `days_ago` with `likes` likes.
fn post(id: &str, days_ago: i64, author: &str, text: &str, country: &str, likes: i64) -> Value {
    json!({"platform": "tiktok", "kind": "video", "platform_id": id,
           "observed_at": iso_days_ago(days_ago), "author": author, "text": text,
           "country": country, "likes": likes, "views": likes * 40})
}

async fn ingest(app: &TestApp, token: &str, observations: &[Value]) -> Value {
    let res = app
        .client
        .post(app.url("/ingest"))
        .bearer_auth(token)
        .json(&observations)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, product) = json_of(app.post_json("/products", &body).await).await;
    assert_eq!(status, 200, "{product}");
    product
}

async fn patch(app: &TestApp, id: i64, body: Value) -> (u16, Value) {
    let res = app
        .client
        .patch(app.url(&format!("/products/{id}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(res).await
}

async fn trend(app: &TestApp, id: i64) -> Value {
    let (status, body) = json_of(app.get(&format!("/products/{id}/trend")).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits for the background re-match of a product's history to finish.
async fn settled_trend(app: &TestApp, id: i64) -> Value {
    for _ in 0..100 {
        let t = trend(app, id).await;
        if t["rematch_pending"] == false {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("product {id} was never re-matched");
}

/// A product that was quiet for two months and took off this week, on
/// several creators and countries.
fn taking_off(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for day in 8..70 {
        if day % 9 == 0 {
            out.push(post(&format!("old{day}"), day, "steady", text, "US", 20));
        }
    }
    for day in 0..7 {
        for k in 0..(3 + 3 * (7 - day)) {
            let country = ["US", "GB", "DE", "BR"][(k % 4) as usize];
            out.push(post(
                &format!("new{day}-{k}"),
                day,
                &format!("creator{k}"),
                text,
                country,
                300,
            ));
        }
    }
    out
}

#[tokio::test]
async fn products_carry_terms_and_validate_them() {
    let app = spawn_app().await;
    let p = create(
        &app,
        json!({"name": "LED strip lights", "description": "RGB strips",
               "keywords": ["led strip"], "aliases": ["light strip"],
               "hashtags": ["#ledstrip", "roomdecor"], "negative_keywords": ["christmas"]}),
    )
    .await;
    assert_eq!(p["keywords"], json!(["led strip"]));
    assert_eq!(
        p["hashtags"],
        json!(["ledstrip", "roomdecor"]),
        "'#' is dropped"
    );
    assert_eq!(p["negative_keywords"], json!(["christmas"]));
    assert_eq!(p["is_demo"], false);

    let plain = create(&app, json!({"name": "Mug", "description": "A mug"})).await;
    assert_eq!(plain["keywords"], json!([]), "terms are optional");

    let (status, body) = json_of(
        app.post_json(
            "/products",
            &json!({"name": "X", "description": "Y", "keywords": ["ok", "", 5], "aliases": "no"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let errors = validation_errors(&body);
    assert!(
        errors.iter().any(|(_, l)| *l
            == loc(&["body", "keywords"])
                .into_iter()
                .chain([json!(1)])
                .collect::<Vec<_>>()),
        "{body}"
    );
    assert!(
        errors.iter().any(|(_, l)| l.last() == Some(&json!(2))),
        "{body}"
    );
    assert!(errors.iter().any(|(t, _)| t == "list_type"), "{body}");

    let id = p["id"].as_i64().unwrap();
    let (status, changed) = patch(&app, id, json!({"keywords": ["led tape"]})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["keywords"], json!(["led tape"]));
    assert_eq!(
        changed["aliases"],
        json!(["light strip"]),
        "untouched fields stay"
    );
    assert_eq!(changed["name"], "LED strip lights");
    let (_, fetched) = json_of(app.get(&format!("/products/{id}")).await).await;
    assert_eq!(
        fetched["keywords"],
        json!(["led tape"]),
        "the cached read follows"
    );

    assert_eq!(patch(&app, 999_999, json!({"name": "Z"})).await.0, 404);
    let (status, body) = patch(&app, id, json!({"name": ""})).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn ingested_content_scores_its_products_with_reasons() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lamp = create(
        &app,
        json!({"name": "Sunset lamp", "description": "Projector lamp", "hashtags": ["sunsetlamp"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mug = create(&app, json!({"name": "Smart mug", "description": "Warm"})).await["id"]
        .as_i64()
        .unwrap();
    let report = ingest(&app, &token, &taking_off("my new #sunsetlamp is amazing")).await;
    assert_eq!(report["products_refreshed"], json!([lamp]));

    let t = trend(&app, lamp).await;
    assert!(t["score"].as_f64().unwrap() > 40.0, "{t}");
    assert!(
        ["emerging", "exploding"].contains(&t["stage"].as_str().unwrap()),
        "{}: {}",
        t["stage"],
        t["reason"]
    );
    assert!(t["reason"].as_str().unwrap().contains("usual rate"), "{t}");
    let names: Vec<&str> = t["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "momentum",
            "acceleration",
            "volume",
            "breadth",
            "novelty",
            "engagement",
            "saturation"
        ]
    );
    assert_eq!(t["history"]["dates"].as_array().unwrap().len(), 90);
    assert_eq!(t["history"]["score"].as_array().unwrap().len(), 90);
    assert_eq!(
        t["history"]["components"]["momentum"]
            .as_array()
            .unwrap()
            .len(),
        90
    );
    assert_eq!(t["platforms"][0]["platform"], "tiktok");
    assert_eq!(t["countries"][0]["interest"], 100);
    assert_eq!(t["regions"][0]["place"], "Europe", "GB and DE outweigh US");
    let forecast = &t["forecast"];
    assert_eq!(forecast["dates"].as_array().unwrap().len(), 14);
    for i in 0..14 {
        let (lo, v, hi) = (
            forecast["lower"][i].as_f64().unwrap(),
            forecast["value"][i].as_f64().unwrap(),
            forecast["upper"][i].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi, "{forecast}");
    }

    let (_, trending) = json_of(app.get("/trending").await).await;
    let rows = trending["trending_products"].as_array().unwrap();
    assert_eq!(rows[0]["product"]["id"], lamp);
    assert_eq!(rows[0]["stage"], t["stage"]);
    assert!(
        !rows.iter().any(|r| r["product"]["id"] == mug),
        "nothing seen, not trending"
    );

    for (query, expected) in [
        ("platform=tiktok", 1),
        ("platform=TikTok", 1),
        ("platform=youtube", 0),
        ("region=Europe", 1),
        ("region=Africa", 0),
        ("stage=dormant", 0),
        ("window=7d", 1),
    ] {
        let (status, body) = json_of(app.get(&format!("/trending?{query}")).await).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            body["trending_products"].as_array().unwrap().len(),
            expected,
            "{query}: {body}"
        );
    }
    for bad in [
        "platform=myspace",
        "region=Atlantis",
        "stage=viral",
        "window=2w",
    ] {
        let (status, body) = json_of(app.get(&format!("/trending?{bad}")).await).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }

    let (_, heat) = json_of(app.get("/heat-map?level=country").await).await;
    assert!(
        heat["heat_map"]["Sunset lamp"]["US"].as_i64().is_some(),
        "{heat}"
    );
    let (_, one) = json_of(app.get(&format!("/heat-map?product_id={lamp}")).await).await;
    assert_eq!(one["heat_map"].as_object().unwrap().len(), 1);
    assert_eq!(
        one["heat_map"]["Sunset lamp"]["Africa"], 0,
        "every region is listed"
    );
    assert_eq!(app.get("/heat-map?product_id=987654").await.status(), 404);
    assert_eq!(app.get("/heat-map?level=planet").await.status(), 422);
}

#[tokio::test]
async fn changing_terms_matches_the_history_again() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    ingest(&app, &token, &taking_off("obsessed with this cloud slime")).await;
    let p = create(
        &app,
        json!({"name": "Butter slime", "description": "Slime"}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let before = settled_trend(&app, id).await;
    assert_eq!(before["attention_7d"], 0.0, "no post says 'butter slime'");

    let (status, _) = patch(&app, id, json!({"keywords": ["cloud slime"]})).await;
    assert_eq!(status, 200);
    let after = settled_trend(&app, id).await;
    assert!(after["attention_7d"].as_f64().unwrap() > 0.0, "{after}");
    assert!(after["score"].as_f64().unwrap() > before["score"].as_f64().unwrap());

    let (status, _) = patch(&app, id, json!({"negative_keywords": ["cloud"]})).await;
    assert_eq!(status, 200);
    let vetoed = settled_trend(&app, id).await;
    assert_eq!(
        vetoed["attention_7d"], 0.0,
        "a negative keyword vetoes: {vetoed}"
    );
}

#[tokio::test]
async fn observed_ads_are_scanned_with_viral_scores_and_filters() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let p = create(
        &app,
        json!({"name": "Posture corrector", "description": "Back"}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let ad = |pid: &str, days_ago: i64, likes: i64, country: &str| {
        json!({"platform": "facebook", "kind": "ad", "platform_id": pid,
               "observed_at": iso_days_ago(days_ago), "author": format!("shop-{pid}"),
               "text": "Fix your back with this posture corrector", "country": country,
               "published_at": iso_days_ago(40), "likes": likes,
               "impressions": {"lower_bound": "1000", "upper_bound": "4999"}})
    };
    let mut batch = Vec::new();
    // A fast grower running for 40 days and a stalled ad, seen three times each.
    for (days_ago, growing, stalled) in [(6, 100, 100), (3, 5_000, 100), (0, 40_000, 100)] {
        batch.push(ad("fast", days_ago, growing, "DE"));
        batch.push(ad("slow", days_ago, stalled, "US"));
    }
    ingest(&app, &token, &batch).await;

    let (status, scan) = json_of(app.get("/scan-ads?min_score=0").await).await;
    assert_eq!(status, 200, "{scan}");
    let ads = scan["viral_ads"].as_array().unwrap();
    assert_eq!(ads.len(), 2, "{scan}");
    assert_eq!(ads[0]["country"], "DE", "the fast grower first: {scan}");
    assert_eq!(ads[0]["platform"], "Facebook");
    assert_eq!(ads[0]["product_id"], id);
    assert!(ads[0]["engagement_score"].as_i64() > ads[1]["engagement_score"].as_i64());

    for (query, expected) in [
        ("min_score=0&country=US", 1),
        ("min_score=0&platform=facebook", 2),
        ("min_score=0&platform=Twitter", 0),
        ("min_score=0&since=2999-01-01", 0),
        ("min_score=0&limit=1", 1),
        ("min_score=100", 0),
    ] {
        let (status, body) = json_of(app.get(&format!("/scan-ads?{query}")).await).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            body["viral_ads"].as_array().unwrap().len(),
            expected,
            "{query}: {body}"
        );
    }
    for bad in [
        "country=ZZ",
        "since=yesterday",
        "min_score=101",
        "limit=0",
        "platform=fax",
    ] {
        let (status, body) = json_of(app.get(&format!("/scan-ads?{bad}")).await).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["detail"][0]["loc"][0] == "query", "{bad}: {body}");
    }
}

#[tokio::test]
async fn discoveries_are_explained_and_one_call_tracks_them() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let mut posts = Vec::new();
    for k in 0..12 {
        posts.push(post(
            &format!("jelly{k}"),
            k % 5,
            &format!("fan{k}"),
            "this #jellylamp is the best thing on my desk",
            "US",
            50,
        ));
    }
    // One account posting a lot is not a discovery.
    for k in 0..12 {
        posts.push(post(
            &format!("spam{k}"),
            k % 5,
            "spammer",
            "buy #spamgadget now",
            "US",
            5,
        ));
    }
    ingest(&app, &token, &posts).await;

    let (status, body) = json_of(app.get("/discover").await).await;
    assert_eq!(status, 200, "{body}");
    let found = body["discoveries"].as_array().unwrap();
    let jelly = found
        .iter()
        .find(|d| d["term"] == "#jellylamp")
        .unwrap_or_else(|| panic!("#jellylamp is discovered: {body}"));
    assert_eq!(jelly["kind"], "hashtag");
    assert_eq!(jelly["recent_count"], 12);
    assert_eq!(jelly["authors"], 12);
    assert!(
        jelly["reason"]
            .as_str()
            .unwrap()
            .contains("12 posts by 12 authors"),
        "{jelly}"
    );
    assert!(!jelly["examples"].as_array().unwrap().is_empty());
    assert!(
        jelly["examples"][0]["text"]
            .as_str()
            .unwrap()
            .contains("jellylamp")
    );
    assert!(
        !found.iter().any(|d| d["term"] == "#spamgadget"),
        "one author: {body}"
    );

    let (status, product) = json_of(
        app.post_json("/discover/track", &json!({"term": "#jellylamp"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["name"], "jellylamp");
    assert_eq!(product["hashtags"], json!(["jellylamp"]));
    let id = product["id"].as_i64().unwrap();
    let t = settled_trend(&app, id).await;
    assert!(
        t["attention_7d"].as_f64().unwrap() > 0.0,
        "its history was matched: {t}"
    );

    let (_, after) = json_of(app.get("/discover").await).await;
    assert!(
        !after["discoveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["term"] == "#jellylamp"),
        "a tracked term is no longer a discovery: {after}"
    );
    // Tracking it again (a second click) makes no twin: the 409 names the product.
    for again in ["#jellylamp", "JellyLamp", "jelly lamp"] {
        let (status, body) = json_of(
            app.post_json("/discover/track", &json!({"term": again}))
                .await,
        )
        .await;
        assert_eq!(status, 409, "{again}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("product {id} (jellylamp)")),
            "{body}"
        );
    }
    let (status, _) = json_of(
        app.post_json("/discover/track", &json!({"term": "#"}))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(app.get("/discover?limit=0").await.status(), 422);
}

#[tokio::test]
async fn one_instance_runs_each_periods_full_refresh() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let every = 15 * 60_000;
    // Well after any refresh the server ran as it started.
    let now = marketscout::time::now_ms() + 10 * every;
    let (a, b) = tokio::join!(
        store.claim_schedule("full_refresh", now, every),
        store.claim_schedule("full_refresh", now, every)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()].iter().filter(|c| **c).count(),
        1,
        "two instances at once: one runs it"
    );
    assert!(
        !store
            .claim_schedule("full_refresh", now + every / 2, every)
            .await
            .unwrap(),
        "within the period"
    );
    assert!(
        store
            .claim_schedule("full_refresh", now + every, every)
            .await
            .unwrap(),
        "the next period"
    );
}
