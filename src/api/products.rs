//! `/products`: the catalogue of products being tracked.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, Pagination, PathId, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::refresh::{StoredReport, refresh_products};
use crate::store::{NewProduct, Product, ProductPatch, StoreError, Terms};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(product_trend))
}

/// Most terms of each kind a product may carry, and their longest length.
const MAX_TERMS: usize = 50;
const MAX_TERM_LEN: usize = 100;

#[derive(Debug, ToSchema)]
pub struct ProductCreate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 1000)]
    pub description: String,
    /// Words or phrases that mean this product (besides its name).
    #[schema(max_items = 50, nullable = false)]
    pub keywords: Option<Vec<String>>,
    /// Other names it is sold under.
    #[schema(max_items = 50, nullable = false)]
    pub aliases: Option<Vec<String>>,
    /// Hashtags, with or without `#` (`#ledstriplights` also matches "LED strip lights").
    #[schema(max_items = 50, nullable = false)]
    pub hashtags: Option<Vec<String>>,
    /// Content containing any of these is about something else.
    #[schema(max_items = 50, nullable = false)]
    pub negative_keywords: Option<Vec<String>>,
}

fn term_lists(f: &mut Fields<'_>) -> [Option<Option<Vec<String>>>; 4] {
    ["keywords", "aliases", "hashtags", "negative_keywords"]
        .map(|name| f.opt_string_list(name, MAX_TERMS, MAX_TERM_LEN))
}

fn clean_hashtags(tags: Vec<String>) -> Vec<String> {
    tags.into_iter()
        .map(|t| t.trim_start_matches('#').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

impl FromBody for ProductCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.string("name", 1, 200);
        let description = f.string("description", 1, 1000);
        let [keywords, aliases, hashtags, negative_keywords] = term_lists(f);
        Some(Self {
            name: name?,
            description: description?,
            keywords: keywords?,
            aliases: aliases?,
            hashtags: hashtags?.map(clean_hashtags),
            negative_keywords: negative_keywords?,
        })
    }
}

/// A change to a product: only the fields given change. Changing its name or
/// terms matches its whole history again, in the background.
#[derive(Debug, ToSchema)]
pub struct ProductUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 1000)]
    pub description: Option<String>,
    #[schema(max_items = 50)]
    pub keywords: Option<Vec<String>>,
    #[schema(max_items = 50)]
    pub aliases: Option<Vec<String>>,
    #[schema(max_items = 50)]
    pub hashtags: Option<Vec<String>>,
    #[schema(max_items = 50)]
    pub negative_keywords: Option<Vec<String>>,
}

impl FromBody for ProductUpdate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.opt_string("name", 1, 200);
        let description = f.opt_string("description", 1, 1000);
        let [keywords, aliases, hashtags, negative_keywords] = term_lists(f);
        Some(Self {
            name: name?,
            description: description?,
            keywords: keywords?,
            aliases: aliases?,
            hashtags: hashtags?.map(clean_hashtags),
            negative_keywords: negative_keywords?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// ISO-8601, UTC.
    pub created_at: String,
    pub keywords: Vec<String>,
    pub aliases: Vec<String>,
    pub hashtags: Vec<String>,
    pub negative_keywords: Vec<String>,
    /// Loaded by `marketscout demo`, removed by `marketscout demo --remove`.
    pub is_demo: bool,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            created_at: iso(p.created_at),
            keywords: p.terms.keywords,
            aliases: p.terms.aliases,
            hashtags: p.terms.hashtags,
            negative_keywords: p.terms.negative_keywords,
            is_demo: p.is_demo,
        }
    }
}

/// List products, oldest first.
#[utoipa::path(get, path = "/products", tag = "products",
    params(Pagination),
    responses(
        (status = 200, body = Vec<ProductOut>),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_products(
    State(state): State<AppState>,
    ValidQuery(page): ValidQuery<Pagination>,
) -> Result<Response, ApiError> {
    let key = format!("products:{}:{}", page.skip, page.limit);
    state
        .caches
        .json(state.stamp(), key, async {
            let products = state.store.list_products(page.skip, page.limit).await?;
            Ok(products
                .into_iter()
                .map(ProductOut::from)
                .collect::<Vec<_>>())
        })
        .await
}

/// Create a product.
#[utoipa::path(post, path = "/products", tag = "products",
    request_body = ProductCreate,
    responses(
        (status = 200, body = ProductOut),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn create_product(
    State(state): State<AppState>,
    ValidJson(input): ValidJson<ProductCreate>,
) -> Result<Json<ProductOut>, ApiError> {
    let terms = Terms {
        keywords: input.keywords.unwrap_or_default(),
        aliases: input.aliases.unwrap_or_default(),
        hashtags: input.hashtags.unwrap_or_default(),
        negative_keywords: input.negative_keywords.unwrap_or_default(),
    };
    let product = state
        .store
        .create_product(NewProduct {
            name: &input.name,
            description: &input.description,
            terms: &terms,
            is_demo: false,
            now: now_ms(),
        })
        .await?;
    // Content seen before the product existed is matched in the background.
    state.rematch.notify_one();
    Ok(Json(product.into()))
}

/// Change a product's name, description or terms.
#[utoipa::path(patch, path = "/products/{product_id}", tag = "products",
    params(("product_id" = i64, Path, minimum = 1)),
    request_body = ProductUpdate,
    responses(
        (status = 200, body = ProductOut),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn update_product(
    State(state): State<AppState>,
    PathId(id): PathId,
    ValidJson(input): ValidJson<ProductUpdate>,
) -> Result<Json<ProductOut>, ApiError> {
    let patch = ProductPatch {
        name: input.name,
        description: input.description,
        keywords: input.keywords,
        aliases: input.aliases,
        hashtags: input.hashtags,
        negative_keywords: input.negative_keywords,
    };
    let product = state.store.update_product(id, &patch).await?;
    if patch.changes_matching() {
        state.rematch.notify_one();
    }
    Ok(Json(product.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendOut {
    pub product_id: i64,
    pub name: String,
    /// When the report was computed (ISO-8601, UTC).
    pub refreshed_at: String,
    /// True while the product's history is being matched again after a change
    /// of its terms: the report may still miss some content.
    pub rematch_pending: bool,
    #[serde(flatten)]
    pub report: StoredReport,
    /// Google Trends interest in the terms that name this product, from the
    /// `google_trends` sources (empty without one): relative 0-100 values, each
    /// term against its own peak, so they show demand's shape, not its size.
    pub search_interest: Vec<SearchInterestOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchInterestOut {
    pub term: String,
    /// Worldwide interest, day by day, over the last 90 days.
    pub over_time: Vec<InterestDayOut>,
    /// Each country's latest interest (0-100, relative to the term's top country).
    pub by_country: Vec<InterestPlaceOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestDayOut {
    /// YYYY-MM-DD
    pub date: String,
    pub value: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestPlaceOut {
    /// ISO 3166-1 alpha-2
    pub country: String,
    pub value: f64,
}

/// The search interest of the Google Trends terms the matcher finds this
/// product in: the same rule that links posts to it.
async fn search_interest(state: &AppState, id: i64) -> Result<Vec<SearchInterestOut>, ApiError> {
    let terms = state.store.search_interest_terms().await?;
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let matcher = state.matcher.get(&state.store).await?;
    let from_day = now_ms().div_euclid(86_400_000) - 90;
    let mut out = Vec::new();
    for term in terms {
        if !matcher.products_in(&term, &[]).contains(&id) {
            continue;
        }
        let points = state.store.search_interest(&term, from_day).await?;
        let over_time = points
            .iter()
            .filter(|p| p.geo.is_empty())
            .map(|p| InterestDayOut {
                date: crate::time::day_iso(p.day),
                value: p.value,
            })
            .collect();
        let mut latest: std::collections::BTreeMap<&str, (i64, f64)> = Default::default();
        for p in points.iter().filter(|p| !p.geo.is_empty()) {
            let e = latest.entry(p.geo.as_str()).or_insert((p.day, p.value));
            if p.day >= e.0 {
                *e = (p.day, p.value);
            }
        }
        let mut by_country: Vec<InterestPlaceOut> = latest
            .into_iter()
            .map(|(geo, (_, value))| InterestPlaceOut {
                country: geo.to_owned(),
                value,
            })
            .collect();
        by_country.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.country.cmp(&b.country)));
        out.push(SearchInterestOut {
            term,
            over_time,
            by_country,
        });
    }
    Ok(out)
}

/// A product's trend: its score with each component, its stage and the reason
/// for it, 90 days of history, and where its attention comes from.
#[utoipa::path(get, path = "/products/{product_id}/trend", tag = "products",
    params(("product_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = TrendOut),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn product_trend(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    state
        .caches
        .json(state.stamp(), format!("trend:{id}"), trend(&state, id))
        .await
}

pub(crate) async fn trend(state: &AppState, id: i64) -> Result<TrendOut, ApiError> {
    let product = state.store.product(id).await?;
    let mut stored = state.store.trend_report(id).await?;
    if stored.report.is_none() {
        // Never refreshed yet (created a moment ago): compute it now.
        refresh_products(&state.store, &[id], now_ms(), false).await?;
        stored = state.store.trend_report(id).await?;
    }
    let rematch_pending = stored.rematch_pending;
    let (json, at) = stored
        .report
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let report: StoredReport = serde_json::from_str(&json)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored trend report: {e}")))?;
    Ok(TrendOut {
        product_id: id,
        name: product.name,
        refreshed_at: iso(at),
        rematch_pending,
        report,
        search_interest: search_interest(state, id).await?,
    })
}

/// One product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "products",
    params(("product_id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = ProductOut),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_product(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    state
        .caches
        .json(state.stamp(), format!("product:{id}"), async {
            match state.store.product(id).await {
                Ok(p) => Ok(ProductOut::from(p)),
                Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Product")),
                Err(e) => Err(e.into()),
            }
        })
        .await
}
