//! The published contract: the brief's paths exist at the root and under
//! /api/v1, and the OpenAPI document only changes on purpose.

use serde_json::Value;

use crate::helpers::*;

const BRIEF_ROUTES: &[(&str, &str)] = &[
    ("post", "/signup"),
    ("post", "/token"),
    ("get", "/products"),
    ("post", "/products"),
    ("get", "/products/{product_id}"),
    ("get", "/ads"),
    ("post", "/ads"),
    ("get", "/scan-ads"),
    ("get", "/heat-map"),
    ("get", "/trending"),
    ("post", "/calculate-score/{product_id}"),
    ("get", "/watchlists"),
    ("post", "/watchlists"),
    ("get", "/check-alerts"),
    ("get", "/export/{data_type}"),
];

#[tokio::test]
async fn every_route_of_the_brief_is_documented_and_served_on_both_mounts() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in BRIEF_ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
        let concrete = path
            .replace("{product_id}", "1")
            .replace("{data_type}", "watchlist");
        for prefix in ["", "/api/v1"] {
            let url = app.url(&format!("{prefix}{concrete}"));
            let res = match *method {
                "get" => app.client.get(url).send().await.unwrap(),
                _ => app.client.post(url).send().await.unwrap(),
            };
            assert!(
                ![404, 405].contains(&res.status().as_u16()) || concrete.contains("/1"),
                "{method} {prefix}{concrete} answered {}",
                res.status()
            );
            assert_ne!(res.status(), 405, "{method} {prefix}{concrete}");
        }
    }
}

#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn every_route_that_takes_a_body_documents_its_413() {
    // Every body is capped (MAX_BODY_BYTES, or /ingest's own cap): a client
    // reading the document must learn that it can be refused for its size.
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() && op["responses"].get("413").is_none() {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "no 413 documented: {missing:?}");
}

#[tokio::test]
async fn the_api_explorer_is_served_without_any_cdn() {
    let app = spawn_app().await;
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(!html.contains("https://"), "no external assets: {html}");
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_reference_in_the_document_resolves() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} points nowhere"
        );
    }
}

/// `docs/observation.schema.json` is the observation format as the API documents it.
/// After changing `ObservationIn`, regenerate it with `UPDATE_DOCS=1 cargo test --test api contract`.
#[tokio::test]
async fn the_published_observation_schema_matches_the_api() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut schema = doc["components"]["schemas"]["ObservationIn"].clone();
    assert!(schema.is_object());
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    schema["title"] = "MarketScout observation".into();
    let expected = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/observation.schema.json");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(published, expected, "regenerate with UPDATE_DOCS=1");
}
