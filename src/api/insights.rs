//! The brief's analysis endpoints: viral ads, heat map, trending products and
//! trend scores. Handlers only fetch and hand over to `crate::engine`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use serde_json::json;

use super::extract::{Fields, FromQuery, PathId, ValidQuery, pydantic_choices};
use crate::app::AppState;
use crate::engine::engagement::VIRAL_THRESHOLD;
use crate::engine::geo::REGIONS;
use crate::engine::observation::PLATFORMS;
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
use crate::refresh::{STAGES, refresh_one};
use crate::store::{AdFilter, TrendingFilter, brief_platform};
use crate::time::{iso, now_ms};

/// Viral ads returned by one scan, unless asked otherwise.
const SCAN_RESULTS: i64 = 20;
/// Products shown on the heat map, unless asked otherwise.
const HEAT_MAP_PRODUCTS: i64 = 10;

/// A platform as filters accept it: the brief's names (`TikTok`, `Twitter`...)
/// or the observation format's (`tiktok`, `x`...), in any case.
fn platform_param(f: &mut Fields<'_>, name: &str) -> Option<Option<&'static str>> {
    let raw = f.opt_string(name, 1, 40)?;
    let Some(raw) = raw else {
        return Some(None);
    };
    let lower = raw.to_ascii_lowercase();
    let found = PLATFORMS.iter().find(|p| {
        **p == lower
            || brief_platform(p).eq_ignore_ascii_case(&lower)
            || (**p == "x" && lower == "twitter")
    });
    match found {
        Some(p) => Some(Some(*p)),
        None => {
            let mut allowed: Vec<&str> = PLATFORMS.to_vec();
            allowed.push("twitter");
            f.push(
                FieldError::new(
                    vec![json!("query"), json!(name)],
                    "enum",
                    format!("Input should be {}", pydantic_choices(&allowed)),
                )
                .with_input(json!(raw)),
            );
            None
        }
    }
}

/// A time: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time.
fn time_param(f: &mut Fields<'_>, name: &str) -> Option<Option<i64>> {
    let raw = f.opt_string(name, 1, 40)?;
    let Some(raw) = raw else {
        return Some(None);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.timestamp_millis())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_millis())
        });
    match parsed {
        Some(ms) => Some(Some(ms)),
        None => {
            f.push(
                FieldError::new(
                    vec![json!("query"), json!(name)],
                    "datetime_parsing",
                    "Input should be a valid date (YYYY-MM-DD) or RFC 3339 date-time",
                )
                .with_input(json!(raw)),
            );
            None
        }
    }
}

/// A country code (ISO 3166-1 alpha-2), upper-cased.
fn country_param(f: &mut Fields<'_>, name: &str) -> Option<Option<String>> {
    let raw = f.opt_string(name, 2, 2)?;
    match raw {
        None => Some(None),
        Some(code) if crate::engine::geo::region_of(&code).is_some() => {
            Some(Some(code.to_ascii_uppercase()))
        }
        Some(code) => {
            f.push(
                FieldError::new(
                    vec![json!("query"), json!(name)],
                    "value_error",
                    "Value error, not an ISO 3166-1 alpha-2 country code",
                )
                .with_input(json!(code)),
            );
            None
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scan_ads))
        .routes(routes!(heat_map))
        .routes(routes!(trending))
        .routes(routes!(calculate_score))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViralAd {
    pub product_name: String,
    pub platform: String,
    pub content: String,
    /// 0-100.
    pub engagement_score: i64,
    pub detected_at: String,
    pub ad_id: i64,
    pub product_id: i64,
    pub country: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAdsResponse {
    pub viral_ads: Vec<ViralAd>,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanAdsQuery {
    /// Only ads on this platform (`TikTok`, `Facebook`, `Instagram`, `YouTube`,
    /// `Twitter`, or the observation names `tiktok`, `x`, `reddit`...).
    #[param(required = false)]
    pub platform: Option<String>,
    /// Only ads running in this country (ISO 3166-1 alpha-2).
    #[param(required = false, min_length = 2, max_length = 2)]
    pub country: Option<String>,
    /// Only ads first seen at or after this time (`YYYY-MM-DD` or RFC 3339).
    #[param(required = false)]
    pub since: Option<String>,
    /// Lowest viral score to include.
    #[param(required = false, minimum = 0, maximum = 100, default = 70)]
    pub min_score: i64,
    #[param(required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
}

struct ScanFilter {
    platform: Option<&'static str>,
    country: Option<String>,
    since: Option<i64>,
    min_score: i64,
    limit: i64,
}

impl FromQuery for ScanFilter {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let platform = platform_param(f, "platform");
        let country = country_param(f, "country");
        let since = time_param(f, "since");
        let min_score = f.int_or("min_score", VIRAL_THRESHOLD, 0, 100);
        let limit = f.int_or("limit", SCAN_RESULTS, 1, 100);
        Some(Self {
            platform: platform?,
            country: country?,
            since: since?,
            min_score: min_score?,
            limit: limit?,
        })
    }
}

/// The most viral ads (viral score of at least 70 unless `min_score` says
/// otherwise), best first. An ad's score says how fast its engagement grows
/// against other ads on its platform, and how long it has been running.
#[utoipa::path(get, path = "/scan-ads", tag = "insights",
    params(ScanAdsQuery),
    responses(
        (status = 200, body = ScanAdsResponse),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn scan_ads(
    State(state): State<AppState>,
    ValidQuery(filter): ValidQuery<ScanFilter>,
) -> Result<Response, ApiError> {
    let now = state.stamp();
    let key = format!(
        "scan-ads:{:?}:{:?}:{:?}:{}:{}",
        filter.platform, filter.country, filter.since, filter.min_score, filter.limit
    );
    state.caches.json(now, key, scan(&state, filter)).await
}

async fn scan(state: &AppState, f: ScanFilter) -> Result<ScanAdsResponse, ApiError> {
    let rows = state
        .store
        .top_ads(&AdFilter {
            min_score: f.min_score,
            limit: f.limit,
            platform: f.platform.map(brief_platform),
            country: f.country.as_deref(),
            since: f.since,
        })
        .await?;
    let viral_ads = rows
        .into_iter()
        .map(|r| ViralAd {
            product_name: r.product_name,
            platform: r.platform,
            content: r.ad_content,
            engagement_score: r.engagement_score,
            detected_at: iso(r.created_at),
            ad_id: r.id,
            product_id: r.product_id,
            country: r.country,
        })
        .collect();
    Ok(ScanAdsResponse { viral_ads })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeatMapResponse {
    /// Product name -> place (a region, or a country code with `level=country`) ->
    /// interest 0-100, relative to the product's hottest place.
    #[schema(value_type = BTreeMap<String, BTreeMap<String, i64>>)]
    pub heat_map: BTreeMap<String, BTreeMap<String, i64>>,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeatMapQuery {
    /// `region` (the continents) or `country` (ISO 3166-1 alpha-2 codes).
    #[param(required = false, inline, value_type = String, pattern = "^(region|country)$", default = "region")]
    pub level: Option<String>,
    /// One product only.
    #[param(required = false, minimum = 1)]
    pub product_id: Option<i64>,
    /// Products to show (the highest scores first).
    #[param(required = false, minimum = 1, maximum = 100, default = 10)]
    pub limit: i64,
}

struct HeatMapFilter {
    level: &'static str,
    product_id: Option<i64>,
    limit: i64,
}

impl FromQuery for HeatMapFilter {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let level = f.opt_choice("level", &["region", "country"]);
        let product_id = if f.has("product_id") {
            f.int("product_id", 1, i64::MAX).map(Some)
        } else {
            Some(None)
        };
        let limit = f.int_or("limit", HEAT_MAP_PRODUCTS, 1, 100);
        Some(Self {
            level: level?.unwrap_or("region"),
            product_id: product_id?,
            limit: limit?,
        })
    }
}

/// Where products are hot: interest by region (or country), 0-100 relative to
/// each product's hottest place, from the attention its content drew over the
/// last 28 days and the countries of its ads.
#[utoipa::path(get, path = "/heat-map", tag = "insights",
    params(HeatMapQuery),
    responses(
        (status = 200, body = HeatMapResponse),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn heat_map(
    State(state): State<AppState>,
    ValidQuery(filter): ValidQuery<HeatMapFilter>,
) -> Result<Response, ApiError> {
    let now = state.stamp();
    let key = format!(
        "heat-map:{}:{:?}:{}",
        filter.level, filter.product_id, filter.limit
    );
    state.caches.json(now, key, places(&state, filter)).await
}

async fn places(state: &AppState, f: HeatMapFilter) -> Result<HeatMapResponse, ApiError> {
    if let Some(id) = f.product_id {
        state.store.product(id).await?;
    }
    let rows = state.store.places(f.level, f.product_id, f.limit).await?;
    let mut heat_map: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in rows {
        let places = heat_map.entry(r.product_name).or_insert_with(|| {
            // Every region is listed, cold ones at 0, so maps keep the same keys.
            if f.level == "region" {
                REGIONS.iter().map(|r| ((*r).to_owned(), 0)).collect()
            } else {
                BTreeMap::new()
            }
        });
        places.insert(r.place, r.interest);
    }
    Ok(HeatMapResponse { heat_map })
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendingQuery {
    /// Maximum products to return.
    #[param(required = false, minimum = 1, maximum = 100, default = 10)]
    pub limit: i64,
    /// Only products with attention on this platform over the last 7 days.
    #[param(required = false)]
    pub platform: Option<String>,
    /// Only products with interest in this region (`North America`, `South America`,
    /// `Europe`, `Asia`, `Africa`, `Oceania`).
    #[param(required = false)]
    pub region: Option<String>,
    /// Only products at this lifecycle stage.
    #[param(
        required = false,
        pattern = "^(emerging|rising|exploding|peaking|saturated|declining|dormant)$"
    )]
    pub stage: Option<String>,
    /// Only products with attention within this window: `24h`, `7d`, `30d` or `90d`.
    #[param(required = false, pattern = "^(24h|7d|30d|90d)$")]
    pub window: Option<String>,
}

struct TrendingParams {
    limit: i64,
    platform: Option<&'static str>,
    region: Option<&'static str>,
    stage: Option<&'static str>,
    window_days: Option<i64>,
}

impl FromQuery for TrendingParams {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let limit = f.int_or("limit", 10, 1, 100);
        let platform = platform_param(f, "platform");
        let region = f.opt_choice("region", &REGIONS);
        let stage = f.opt_choice("stage", &STAGES);
        let window = f.opt_choice("window", &["24h", "7d", "30d", "90d"]);
        Some(Self {
            limit: limit?,
            platform: platform?,
            region: region?,
            stage: stage?,
            window_days: window?.map(|w| match w {
                "24h" => 1,
                "7d" => 7,
                "30d" => 30,
                _ => 90,
            }),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductSummary {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendingProduct {
    pub product: ProductSummary,
    pub current_score: f64,
    pub last_updated: String,
    /// Lifecycle stage (see `GET /products/{id}/trend` for the reason).
    pub stage: Option<String>,
    /// Attention over the last 7 days against the 7 before, in percent.
    pub change_7d_pct: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendingResponse {
    pub trending_products: Vec<TrendingProduct>,
}

/// Products ranked by their latest trend score, optionally narrowed by
/// platform, region, stage and activity window.
#[utoipa::path(get, path = "/trending", tag = "insights",
    params(TrendingQuery),
    responses(
        (status = 200, body = TrendingResponse),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn trending(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<TrendingParams>,
) -> Result<Response, ApiError> {
    let now = state.stamp();
    let key = format!(
        "trending:{}:{:?}:{:?}:{:?}:{:?}",
        query.limit, query.platform, query.region, query.stage, query.window_days
    );
    state.caches.json(now, key, ranked(&state, query)).await
}

async fn ranked(state: &AppState, q: TrendingParams) -> Result<TrendingResponse, ApiError> {
    let today = crate::engine::attention::day_of(now_ms());
    let rows = state
        .store
        .trending(&TrendingFilter {
            limit: q.limit,
            stage: q.stage,
            platform: q.platform,
            region: q.region,
            active_since: q
                .window_days
                .map(|d| (today - d + 1) * crate::engine::attention::DAY_MS),
        })
        .await?;
    let trending_products = rows
        .into_iter()
        .map(|r| TrendingProduct {
            product: ProductSummary {
                id: r.product.id,
                name: r.product.name,
                description: r.product.description,
            },
            current_score: r.score,
            last_updated: iso(r.calculated_at),
            stage: r.stage,
            change_7d_pct: r.change_7d,
        })
        .collect();
    Ok(TrendingResponse { trending_products })
}

/// The score's parts, in points (see docs/SCORING.md). The brief's four come
/// first; the total is their sum with the others, within 0-100.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreComponents {
    pub volume: f64,
    pub engagement: f64,
    pub breadth: f64,
    pub momentum: f64,
    pub acceleration: f64,
    pub novelty: f64,
    /// Zero or negative: many advertisers already selling it.
    pub saturation: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentDetail {
    pub name: String,
    pub points: f64,
    pub max: f64,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendScoreOut {
    pub product_id: i64,
    /// 0-100, one decimal.
    pub trend_score: f64,
    pub calculated_at: String,
    pub components: ScoreComponents,
    pub ad_count: i64,
    pub stage: String,
    /// Why the product is at this stage.
    pub reason: String,
    /// Each component with what it measured, in words.
    pub details: Vec<ComponentDetail>,
}

/// Compute the product's trend report now from everything seen about it (its
/// content and ads), and record the score in its history.
#[utoipa::path(post, path = "/calculate-score/{product_id}", tag = "insights",
    params(("product_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = TrendScoreOut),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn calculate_score(
    State(state): State<AppState>,
    PathId(product_id): PathId,
) -> Result<Json<TrendScoreOut>, ApiError> {
    let (report, record) = refresh_one(&state.store, product_id, now_ms()).await?;
    let points = |name: &str| {
        report
            .components
            .iter()
            .find(|c| c.name == name)
            .map_or(0.0, |c| c.points)
    };
    Ok(Json(TrendScoreOut {
        product_id,
        trend_score: record.score,
        calculated_at: iso(record.calculated_at),
        components: ScoreComponents {
            volume: points("volume"),
            engagement: points("engagement"),
            breadth: points("breadth"),
            momentum: points("momentum"),
            acceleration: points("acceleration"),
            novelty: points("novelty"),
            saturation: points("saturation"),
        },
        ad_count: record.ad_count,
        stage: report.stage.as_str().to_owned(),
        reason: report.reason.clone(),
        details: report
            .components
            .iter()
            .map(|c| ComponentDetail {
                name: c.name.to_owned(),
                points: c.points,
                max: c.max,
                detail: c.detail.clone(),
            })
            .collect(),
    }))
}
