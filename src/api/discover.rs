//! `/discover`: terms (hashtags and 1-3 word phrases) whose use bursts against
//! their own baseline, from several authors, that no product tracks yet; and
//! one call to start tracking one. The ranking is `engine::discover`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, FromQuery, ValidJson, ValidQuery};
use super::products::ProductOut;
use crate::app::AppState;
use crate::engine::attention::{DAY_MS, day_of};
use crate::engine::discover::{Doc, Settings, discover as find_bursts};
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::store::{NewProduct, Terms};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discover))
        .routes(routes!(track))
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscoverQuery {
    /// Most terms to return.
    #[param(required = false, minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
    /// Least distinct authors in the last 7 days.
    #[param(required = false, minimum = 1, maximum = 1000, default = 3)]
    pub min_authors: i64,
}

struct DiscoverParams {
    limit: usize,
    min_authors: usize,
}

impl FromQuery for DiscoverParams {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let limit = f.int_or("limit", 20, 1, 100);
        let min_authors = f.int_or("min_authors", 3, 1, 1000);
        Some(Self {
            limit: limit? as usize,
            min_authors: min_authors? as usize,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExamplePost {
    pub content_id: i64,
    pub platform: String,
    pub url: Option<String>,
    pub author: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryOut {
    /// The phrase, or `#tag` for a hashtag.
    pub term: String,
    /// `hashtag` or `phrase`.
    pub kind: String,
    /// 0-100: growth, volume and author spread.
    pub score: f64,
    /// Posts with the term in the last 7 days...
    pub recent_count: u64,
    /// ...and in the 28 days before.
    pub baseline_count: u64,
    /// The recent daily rate over the usual one (both shrunk by half a post a day).
    pub growth: f64,
    /// Distinct authors in the last 7 days.
    pub authors: u64,
    /// ISO-8601 date of the first post seen with it.
    pub first_seen: String,
    pub reason: String,
    pub examples: Vec<ExamplePost>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoverResponse {
    pub discoveries: Vec<DiscoveryOut>,
}

/// Terms taking off that no product tracks yet, ranked and explained.
#[utoipa::path(get, path = "/discover", tag = "insights",
    params(DiscoverQuery),
    responses(
        (status = 200, body = DiscoverResponse),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn discover(
    State(state): State<AppState>,
    ValidQuery(q): ValidQuery<DiscoverParams>,
) -> Result<Response, ApiError> {
    let key = format!("discover:{}:{}", q.limit, q.min_authors);
    state
        .caches
        .json(state.stamp(), key, bursts(&state, q))
        .await
}

/// The `limit` terms taking off most, with at least 3 authors each (the
/// API's defaults): the dashboard's list.
pub(crate) async fn discoveries(
    state: &AppState,
    limit: usize,
) -> Result<DiscoverResponse, ApiError> {
    bursts(
        state,
        DiscoverParams {
            limit,
            min_authors: 3,
        },
    )
    .await
}

async fn bursts(state: &AppState, q: DiscoverParams) -> Result<DiscoverResponse, ApiError> {
    let settings = Settings {
        limit: q.limit,
        min_authors: q.min_authors,
        ..Settings::default()
    };
    let now = now_ms();
    let today = day_of(now);
    let from = (today - (settings.recent_days + settings.baseline_days) as i64 + 1) * DAY_MS;
    let contents = state.store.contents_since(from).await?;
    let matcher = state.matcher.get(&state.store).await?;
    let found = tokio::task::spawn_blocking(move || {
        let docs: Vec<Doc<'_>> = contents
            .iter()
            .map(|c| Doc {
                content_id: c.id,
                day: day_of(c.first_seen_at),
                author: c.author.as_deref(),
                text: c.text.as_deref().unwrap_or(""),
                hashtags: &c.hashtags,
                url: c.url.as_deref(),
            })
            .collect();
        let found = find_bursts(&docs, &matcher, today, &settings);
        let wanted: std::collections::HashSet<i64> = found
            .iter()
            .flat_map(|d| d.examples.iter().copied())
            .collect();
        let examples: std::collections::HashMap<i64, ExamplePost> = contents
            .iter()
            .filter(|c| wanted.contains(&c.id))
            .map(|c| {
                (
                    c.id,
                    ExamplePost {
                        content_id: c.id,
                        platform: c.platform.clone(),
                        url: c.url.clone(),
                        author: c.author.clone(),
                        text: c.text.clone(),
                    },
                )
            })
            .collect();
        (found, examples)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("discovery: {e}")))?;
    let (found, mut examples) = found;
    Ok(DiscoverResponse {
        discoveries: found
            .into_iter()
            .map(|d| DiscoveryOut {
                examples: d
                    .examples
                    .iter()
                    .filter_map(|id| examples.remove(id))
                    .collect(),
                term: d.term,
                kind: d.kind.to_owned(),
                score: d.score,
                recent_count: d.recent_count,
                baseline_count: d.baseline_count,
                growth: (d.growth * 100.0).round() / 100.0,
                authors: d.authors,
                first_seen: iso(d.first_seen_day * DAY_MS)[..10].to_owned(),
                reason: d.reason,
            })
            .collect(),
    })
}

#[derive(Debug, ToSchema)]
pub struct TrackDiscovery {
    /// A term from `GET /discover` (`#tag` or a phrase).
    #[schema(min_length = 1, max_length = 100)]
    pub term: String,
    /// The product's name (default: the term, without `#`).
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 1000)]
    pub description: Option<String>,
}

impl FromBody for TrackDiscovery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let term = f.string("term", 1, 100);
        let name = f.opt_string("name", 1, 200);
        let description = f.opt_string("description", 1, 1000);
        Some(Self {
            term: term?.trim().to_owned(),
            name: name?,
            description: description?,
        })
    }
}

/// Start tracking a discovered term: a product named after it, with the term
/// as its hashtag or keyword. Its history is matched in the background. A
/// term a product already matches is a 409 naming that product.
#[utoipa::path(post, path = "/discover/track", tag = "insights",
    request_body = TrackDiscovery,
    responses(
        (status = 200, body = ProductOut),
        (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn track(
    State(state): State<AppState>,
    ValidJson(input): ValidJson<TrackDiscovery>,
) -> Result<Json<ProductOut>, ApiError> {
    let product = track_term(&state, &input.term, input.name, input.description).await?;
    Ok(Json(product.into()))
}

/// The product that already matches a term (`#tag` or a phrase), as a post
/// carrying it would be matched: tracking it again would only make a twin.
pub(crate) async fn product_tracking(
    state: &AppState,
    term: &str,
) -> Result<Option<i64>, ApiError> {
    let bare = term.trim_start_matches('#').trim();
    let compact: String = bare.split_whitespace().collect();
    let matcher = state.matcher.get(&state.store).await?;
    Ok(matcher.products_in(bare, &[compact]).into_iter().min())
}

/// A product named after a discovered term (`#tag` or a phrase) that tracks it.
pub(crate) async fn track_term(
    state: &AppState,
    term: &str,
    name: Option<String>,
    description: Option<String>,
) -> Result<crate::store::Product, ApiError> {
    let bare = term.trim_start_matches('#').trim().to_owned();
    if bare.is_empty() {
        return Err(ApiError::Validation(vec![
            crate::error::FieldError::body_field(
                "term",
                "value_error",
                "Value error, the term has no words",
            ),
        ]));
    }
    if let Some(id) = product_tracking(state, term).await? {
        let tracked = state.store.product(id).await?;
        return Err(ApiError::Conflict(format!(
            "{term} is already tracked by product {id} ({})",
            tracked.name
        )));
    }
    let terms = if term.starts_with('#') {
        Terms {
            hashtags: vec![bare.clone()],
            ..Terms::default()
        }
    } else {
        Terms {
            keywords: vec![bare.clone()],
            ..Terms::default()
        }
    };
    let name = name.unwrap_or_else(|| bare.clone());
    let description = description.unwrap_or_else(|| format!("Discovered from the term {term}"));
    let product = state
        .store
        .create_product(NewProduct {
            name: &name,
            description: &description,
            terms: &terms,
            is_demo: false,
            now: now_ms(),
        })
        .await?;
    state.rematch.notify_one();
    Ok(product)
}
