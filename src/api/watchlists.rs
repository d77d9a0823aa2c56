//! `/watchlists` and `/check-alerts`: each user's own watched products.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, MAX_ID, PathId, ValidJson};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::store::{AlertFilter, StoreError, WatchlistEntry};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_watchlist, add_to_watchlist))
        .routes(routes!(remove_from_watchlist))
        .routes(routes!(check_alerts))
}

#[derive(Debug, ToSchema)]
pub struct WatchlistCreate {
    #[schema(minimum = 1)]
    pub product_id: i64,
}

impl FromBody for WatchlistCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            product_id: f.int("product_id", 1, MAX_ID)?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchlistOut {
    pub id: i64,
    pub user_id: i64,
    pub product_id: i64,
    pub created_at: String,
}

impl From<WatchlistEntry> for WatchlistOut {
    fn from(w: WatchlistEntry) -> Self {
        Self {
            id: w.id,
            user_id: w.user_id,
            product_id: w.product_id,
            created_at: iso(w.created_at),
        }
    }
}

/// The caller's watchlist.
#[utoipa::path(get, path = "/watchlists", tag = "watchlists",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<WatchlistOut>),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 429, body = ErrorBody),
    ))]
async fn list_watchlist(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Response, ApiError> {
    let user_id = current.user.id;
    let key = format!("watchlist:{user_id}");
    state
        .caches
        .json(state.stamp(), key, async {
            let entries = state.store.watchlist(user_id).await?;
            Ok(entries
                .into_iter()
                .map(WatchlistOut::from)
                .collect::<Vec<_>>())
        })
        .await
}

/// Add a product to the caller's watchlist.
#[utoipa::path(post, path = "/watchlists", tag = "watchlists",
    request_body = WatchlistCreate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchlistOut),
        (status = 400, description = "Already on the watchlist", body = ErrorBody),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn add_to_watchlist(
    State(state): State<AppState>,
    current: CurrentUser,
    ValidJson(input): ValidJson<WatchlistCreate>,
) -> Result<Json<WatchlistOut>, ApiError> {
    match state
        .store
        .watch(current.user.id, input.product_id, now_ms())
        .await
    {
        Ok(entry) => Ok(Json(entry.into())),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Product")),
        Err(StoreError::Conflict(_)) => {
            Err(ApiError::BadRequest("Product already in watchlist".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedOut {
    pub detail: String,
}

/// Remove an entry from the caller's watchlist.
#[utoipa::path(delete, path = "/watchlists/{watchlist_id}", tag = "watchlists",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = RemovedOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn remove_from_watchlist(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(entry_id): PathId,
) -> Result<Json<RemovedOut>, ApiError> {
    match state.store.unwatch(current.user.id, entry_id).await {
        Ok(()) => Ok(Json(RemovedOut {
            detail: "Removed from watchlist".into(),
        })),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Watchlist entry")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsResponse {
    pub alerts: Vec<String>,
}

/// The caller's unread alerts, as messages, newest first (at most 1,000).
/// `GET /alerts` gives them with their details; `POST /alerts/read-all` clears them.
#[utoipa::path(get, path = "/check-alerts", tag = "watchlists",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AlertsResponse),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 429, body = ErrorBody),
    ))]
async fn check_alerts(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<AlertsResponse>, ApiError> {
    let rows = state
        .store
        .alerts(
            current.user.id,
            &AlertFilter {
                unread_only: true,
                limit: 1_000,
                ..Default::default()
            },
        )
        .await?;
    Ok(Json(AlertsResponse {
        alerts: rows.into_iter().map(|a| a.message).collect(),
    }))
}
