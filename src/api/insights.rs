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

use super::extract::{Fields, FromQuery, PathId, ValidQuery};
use crate::app::AppState;
use crate::engine::engagement::VIRAL_THRESHOLD;
use crate::engine::heatmap::{CountryAds, heat_map as build_heat_map};
use crate::engine::score::{AdSignal, ScoreBreakdown, trend_score};
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::store::StoreError;
use crate::time::{iso, now_ms};

/// Viral ads returned by one scan.
const SCAN_RESULTS: i64 = 20;
/// Products shown on the heat map.
const HEAT_MAP_PRODUCTS: i64 = 10;

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

/// The most engaging ads (engagement score of at least 70), best first.
#[utoipa::path(get, path = "/scan-ads", tag = "insights",
    responses(
        (status = 200, body = ScanAdsResponse),
        (status = 429, body = ErrorBody),
    ))]
async fn scan_ads(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = state.stamp();
    state
        .caches
        .json(now, "scan-ads".into(), scan(&state))
        .await
}

async fn scan(state: &AppState) -> Result<ScanAdsResponse, ApiError> {
    let rows = state.store.top_ads(VIRAL_THRESHOLD, SCAN_RESULTS).await?;
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
    /// Product name -> region -> interest 0-100, relative to the product's hottest region.
    #[schema(value_type = BTreeMap<String, BTreeMap<String, i64>>)]
    pub heat_map: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Where products are hot: the products with the most located ads, by region.
#[utoipa::path(get, path = "/heat-map", tag = "insights",
    responses(
        (status = 200, body = HeatMapResponse),
        (status = 429, body = ErrorBody),
    ))]
async fn heat_map(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = state.stamp();
    state
        .caches
        .json(now, "heat-map".into(), regions(&state))
        .await
}

async fn regions(state: &AppState) -> Result<HeatMapResponse, ApiError> {
    let rows = state
        .store
        .country_counts_of_top_products(HEAT_MAP_PRODUCTS)
        .await?;
    let input: Vec<CountryAds<'_>> = rows
        .iter()
        .map(|r| CountryAds {
            product_id: r.product_id,
            product_name: &r.product_name,
            country: &r.country,
            ads: r.ads,
        })
        .collect();
    Ok(HeatMapResponse {
        heat_map: build_heat_map(&input),
    })
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendingQuery {
    /// Maximum products to return.
    #[param(required = false, minimum = 1, maximum = 100, default = 10)]
    pub limit: i64,
}

impl FromQuery for TrendingQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            limit: f.int_or("limit", 10, 1, 100)?,
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendingResponse {
    pub trending_products: Vec<TrendingProduct>,
}

/// Products ranked by their latest trend score.
#[utoipa::path(get, path = "/trending", tag = "insights",
    params(TrendingQuery),
    responses(
        (status = 200, body = TrendingResponse),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn trending(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<TrendingQuery>,
) -> Result<Response, ApiError> {
    let now = state.stamp();
    let key = format!("trending:{}", query.limit);
    state
        .caches
        .json(now, key, ranked(&state, query.limit))
        .await
}

async fn ranked(state: &AppState, limit: i64) -> Result<TrendingResponse, ApiError> {
    let rows = state.store.trending(limit).await?;
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
        })
        .collect();
    Ok(TrendingResponse { trending_products })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreComponents {
    pub volume: f64,
    pub engagement: f64,
    pub breadth: f64,
    pub momentum: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendScoreOut {
    pub product_id: i64,
    /// 0-100, one decimal.
    pub trend_score: f64,
    pub calculated_at: String,
    /// The parts the score is the sum of (see docs/SCORING.md).
    pub components: ScoreComponents,
    pub ad_count: i64,
}

/// Compute the product's trend score from its ads now, and record it in its history.
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
    let not_found = |e: StoreError| match e {
        StoreError::NotFound(_) => ApiError::not_found("Product"),
        e => e.into(),
    };
    let ads = state.store.ads_for_product(product_id).await?;
    let now = now_ms();
    let signals: Vec<AdSignal<'_>> = ads
        .iter()
        .map(|a| AdSignal {
            platform: &a.platform,
            engagement: a.engagement_score,
            created_at_ms: a.created_at,
        })
        .collect();
    let ScoreBreakdown {
        volume,
        engagement,
        breadth,
        momentum,
        total,
    } = trend_score(&signals, now);
    let record = state
        .store
        .record_score(product_id, total, ads.len() as i64, now)
        .await
        .map_err(not_found)?;
    Ok(Json(TrendScoreOut {
        product_id,
        trend_score: record.score,
        calculated_at: iso(record.calculated_at),
        components: ScoreComponents {
            volume,
            engagement,
            breadth,
            momentum,
        },
        ad_count: record.ad_count,
    }))
}
