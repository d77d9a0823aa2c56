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
use crate::store::{NewProduct, Product, StoreError};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product))
}

#[derive(Debug, ToSchema)]
pub struct ProductCreate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 1000)]
    pub description: String,
}

impl FromBody for ProductCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.string("name", 1, 200);
        let description = f.string("description", 1, 1000);
        Some(Self {
            name: name?,
            description: description?,
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
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            created_at: iso(p.created_at),
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
    let product = state
        .store
        .create_product(NewProduct {
            name: &input.name,
            description: &input.description,
            now: now_ms(),
        })
        .await?;
    Ok(Json(product.into()))
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
