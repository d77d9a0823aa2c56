//! `/ads`: advertisements seen for products.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, MAX_ID, Pagination, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::engine::engagement::engagement_score;
use crate::engine::geo::region_of;
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
use crate::store::{Ad, NewAd, StoreError};
use crate::time::{iso, now_ms};

pub const PLATFORMS: &[&str] = &["TikTok", "Facebook", "Instagram", "YouTube", "Twitter"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_ads, create_ad))
}

#[derive(Debug, Clone, Copy, ToSchema)]
pub enum Platform {
    TikTok,
    Facebook,
    Instagram,
    YouTube,
    Twitter,
}

#[derive(Debug, ToSchema)]
pub struct AdCreate {
    #[schema(minimum = 1)]
    pub product_id: i64,
    #[schema(value_type = Platform)]
    pub platform: &'static str,
    #[schema(min_length = 1, max_length = 2000)]
    pub ad_content: String,
    /// Where the ad runs: an ISO 3166-1 alpha-2 code such as `US` (optional; feeds the heat map).
    #[schema(
        nullable = true,
        min_length = 2,
        max_length = 2,
        pattern = "^[A-Za-z]{2}$",
        example = "US"
    )]
    pub country: Option<String>,
}

impl FromBody for AdCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let product_id = f.int("product_id", 1, MAX_ID);
        let platform = f.choice("platform", PLATFORMS);
        let ad_content = f.string("ad_content", 1, 2000);
        let country = match f.opt_string("country", 2, 2) {
            Some(Some(code)) => match region_of(&code) {
                Some(_) => Some(Some(code.to_ascii_uppercase())),
                None => {
                    f.push(
                        FieldError::body_field(
                            "country",
                            "value_error",
                            "Value error, not an ISO 3166-1 alpha-2 country code",
                        )
                        .with_input(json!(code)),
                    );
                    None
                }
            },
            other => other,
        };
        Some(Self {
            product_id: product_id?,
            platform: platform?,
            ad_content: ad_content?,
            country: country?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdOut {
    pub id: i64,
    pub product_id: i64,
    pub platform: String,
    pub ad_content: String,
    pub country: Option<String>,
    /// 0-100, from the ad's copy.
    pub engagement_score: i64,
    pub created_at: String,
}

impl From<Ad> for AdOut {
    fn from(a: Ad) -> Self {
        Self {
            id: a.id,
            product_id: a.product_id,
            platform: a.platform,
            ad_content: a.ad_content,
            country: a.country,
            engagement_score: a.engagement_score,
            created_at: iso(a.created_at),
        }
    }
}

/// List ads, oldest first.
#[utoipa::path(get, path = "/ads", tag = "ads",
    params(Pagination),
    responses(
        (status = 200, body = Vec<AdOut>),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_ads(
    State(state): State<AppState>,
    ValidQuery(page): ValidQuery<Pagination>,
) -> Result<Response, ApiError> {
    let key = format!("ads:{}:{}", page.skip, page.limit);
    state
        .caches
        .json(state.stamp(), key, async {
            let ads = state.store.list_ads(page.skip, page.limit).await?;
            Ok(ads.into_iter().map(AdOut::from).collect::<Vec<_>>())
        })
        .await
}

/// Record an ad for a product.
#[utoipa::path(post, path = "/ads", tag = "ads",
    request_body = AdCreate,
    responses(
        (status = 200, body = AdOut),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn create_ad(
    State(state): State<AppState>,
    ValidJson(input): ValidJson<AdCreate>,
) -> Result<Json<AdOut>, ApiError> {
    let created = state
        .store
        .create_ad(NewAd {
            product_id: input.product_id,
            platform: input.platform,
            ad_content: &input.ad_content,
            country: input.country.as_deref(),
            engagement_score: engagement_score(&input.ad_content),
            now: now_ms(),
        })
        .await;
    match created {
        Ok(ad) => {
            // A new ad is new evidence: the product's report (score, heat map) follows it.
            crate::refresh::refresh_products(&state.store, &[ad.product_id], ad.created_at, false)
                .await?;
            Ok(Json(ad.into()))
        }
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Product")),
        Err(e) => Err(e.into()),
    }
}
