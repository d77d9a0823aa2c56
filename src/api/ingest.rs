//! `POST /ingest`: observations in, as a JSON array or NDJSON.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::engine::observation::parse_json_batch;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::time::now_ms;

/// Ingest bodies are batches: allowed to be larger than other requests.
pub const MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .layer(DefaultBodyLimit::max(MAX_INGEST_BYTES))
}

/// One sighting of one piece of content on one platform, with its cumulative public
/// metrics at that moment (docs/observation.schema.json).
#[derive(ToSchema)]
#[allow(dead_code)] // the documented shape; bodies are read by `engine::observation`
pub struct ObservationIn {
    /// tiktok, facebook, instagram, youtube, x (or twitter), reddit, google_trends.
    platform: String,
    /// post, video or ad.
    kind: String,
    /// The platform's own id (a string; integers are kept exactly).
    #[schema(value_type = String, max_length = 256)]
    platform_id: String,
    /// When the metrics were read: ISO-8601, or Unix seconds.
    #[schema(value_type = String)]
    observed_at: String,
    #[schema(value_type = Option<String>)]
    published_at: Option<String>,
    #[schema(max_length = 2048)]
    url: Option<String>,
    #[schema(max_length = 256)]
    author: Option<String>,
    #[schema(max_length = 10000)]
    text: Option<String>,
    /// Without `#`; hashtags in the text are found too.
    hashtags: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2.
    #[schema(min_length = 2, max_length = 2)]
    country: Option<String>,
    language: Option<String>,
    /// Cumulative counts; `-1` means hidden.
    #[schema(minimum = -1)]
    views: Option<i64>,
    #[schema(minimum = -1)]
    likes: Option<i64>,
    #[schema(minimum = -1)]
    comments: Option<i64>,
    #[schema(minimum = -1)]
    shares: Option<i64>,
    /// A number, or `{"lower_bound": .., "upper_bound": ..}` as ad libraries report it
    /// (bounds may be strings; a missing upper bound is an open top bucket).
    #[schema(value_type = Option<Object>)]
    impressions: Option<String>,
    #[schema(value_type = Option<Object>)]
    spend: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedLine {
    /// 1-based line (NDJSON) or element (JSON array) number.
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestReport {
    pub accepted: u64,
    /// Observations already stored (same platform, id and time): not stored twice.
    pub duplicates: u64,
    pub rejected: u64,
    pub errors: Vec<RejectedLine>,
    /// Products the batch's content is about; their trend reports were refreshed.
    pub products_refreshed: Vec<i64>,
}

/// Store observations. A bad line is reported and skipped; the good ones are kept.
#[utoipa::path(post, path = "/ingest", tag = "ingest",
    request_body(content(
        (Vec<ObservationIn> = "application/json"),
        (ObservationIn = "application/x-ndjson"),
    ), description = "A JSON array of observations, or one JSON object per line"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = IngestReport),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn ingest(
    State(state): State<AppState>,
    _caller: CurrentUser,
    body: axum::body::Bytes,
) -> Result<Json<IngestReport>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::Validation(vec![crate::error::FieldError::body(
            "value_error",
            "The body is not UTF-8 text",
        )])
    })?;
    let batch = parse_json_batch(text, now_ms()).map_err(|reason| {
        ApiError::Validation(vec![crate::error::FieldError::body("json_invalid", reason)])
    })?;
    let matcher = state.matcher.get(&state.store).await?;
    let counts = state.store.ingest(&batch.observations, &matcher).await?;
    let products: Vec<i64> = counts.products.iter().copied().collect();
    crate::refresh::refresh_products(&state.store, &products, now_ms(), false).await?;
    Ok(Json(IngestReport {
        products_refreshed: products,
        accepted: counts.accepted,
        duplicates: counts.duplicates,
        rejected: batch.rejected.len() as u64,
        errors: batch
            .rejected
            .into_iter()
            .map(|(line, reason)| RejectedLine { line, reason })
            .collect(),
    }))
}
