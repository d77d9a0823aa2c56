//! `/webhooks`: where a user's alerts are POSTed (signed JSON, or Slack and
//! Discord messages), with a test event and the history of deliveries.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Fields, FromBody, FromQuery, PathId, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
use crate::notify::guard::check_url;
use crate::notify::webhook::{WebhookFormat, new_secret};
use crate::store::{DeliveryRow, StoreError, WebhookRow};
use crate::time::{iso, now_ms};

/// A user may register this many webhooks.
const MAX_WEBHOOKS: usize = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(test_webhook))
        .routes(routes!(list_deliveries))
}

#[derive(Debug, ToSchema)]
pub struct WebhookCreate {
    /// Where to POST alerts: an http(s) URL on the public internet.
    #[schema(example = "https://hooks.example.com/marketscout")]
    pub url: String,
    /// `json` (signed MarketScout events), `slack` or `discord` (their incoming-webhook formats).
    #[schema(example = "json")]
    pub format: &'static str,
}

impl FromBody for WebhookCreate {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let url = f.string("url", 1, 2048);
        let format = if f.has("format") {
            f.choice("format", &WebhookFormat::NAMES)
        } else {
            Some("json")
        };
        Some(Self {
            url: url?,
            format: format?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: i64,
    /// The URL with its path shortened: webhook URLs often carry a secret (Slack's do).
    #[schema(example = "https://hooks.slack.com/services/…")]
    pub url: String,
    pub format: String,
    pub created_at: String,
    /// Deliveries waiting (or retrying) and given up.
    pub pending: i64,
    pub failed: i64,
}

/// `https://host/first/…`: enough to recognise a webhook, not to call it.
/// The first segment is shown only when it reads as a plain word (`services`,
/// `hook`): a token or an id there (`/5f3c2a9e-…`) is the secret itself.
pub fn shown_url(url: &str) -> String {
    let plain_word = |s: &&str| {
        (1..=24).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
    };
    match url::Url::parse(url) {
        Ok(u) => {
            let first = u
                .path_segments()
                .and_then(|mut s| s.next())
                .filter(|s| !s.is_empty());
            let more = u.path().len() > first.map_or(1, |f| f.len() + 1)
                || u.query().is_some()
                || first.is_some_and(|f| !plain_word(&f));
            let first = first.filter(plain_word);
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let host = u.host_str().unwrap_or("");
            let mut out = format!("{}://{host}{port}/", u.scheme());
            match first {
                Some(first) => {
                    out.push_str(first);
                    if more {
                        out.push_str("/…");
                    }
                }
                None if more => out.push('…'),
                None => {}
            }
            out
        }
        Err(_) => "(invalid URL)".into(),
    }
}

impl From<WebhookRow> for WebhookOut {
    fn from(w: WebhookRow) -> Self {
        Self {
            id: w.id,
            url: shown_url(&w.url),
            format: w.format,
            created_at: iso(w.created_at),
            pending: w.pending,
            failed: w.failed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub id: i64,
    pub url: String,
    pub format: String,
    pub created_at: String,
    /// Signs every delivery (`X-MarketScout-Signature`). Shown only now: keep it.
    #[schema(example = "whsec_5f0c…")]
    pub secret: String,
}

/// Register a webhook. Its `secret` is in this answer only.
#[utoipa::path(post, path = "/webhooks", tag = "alerts",
    request_body = WebhookCreate,
    security(("bearer" = [])),
    responses(
        (status = 201, body = WebhookCreated),
        (status = 400, description = "Too many webhooks", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "Invalid URL or format, or a URL on a private network", body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn create_webhook(
    State(state): State<AppState>,
    current: CurrentUser,
    ValidJson(input): ValidJson<WebhookCreate>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let allow = state.config.notify.allow_private_targets;
    let url = check_url(input.url.trim(), allow).await.map_err(|e| {
        ApiError::Validation(vec![
            FieldError::body_field("url", "value_error", format!("Value error, {e}"))
                .with_input(serde_json::Value::String(shown_url(&input.url))),
        ])
    })?;
    let user = current.user.id;
    if state.store.webhooks(user).await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::BadRequest(format!(
            "At most {MAX_WEBHOOKS} webhooks per user: delete one first"
        )));
    }
    let secret = new_secret();
    let row = state
        .store
        .create_webhook(user, url.as_str(), input.format, &secret, now_ms())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            id: row.id,
            url: shown_url(&row.url),
            format: row.format,
            created_at: iso(row.created_at),
            secret,
        }),
    ))
}

/// The caller's webhooks (without their secrets).
#[utoipa::path(get, path = "/webhooks", tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<WebhookOut>),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_webhooks(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Vec<WebhookOut>>, ApiError> {
    let rows = state.store.webhooks(current.user.id).await?;
    Ok(Json(rows.into_iter().map(WebhookOut::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedOut {
    pub detail: String,
}

fn webhook_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::not_found("Webhook"),
        e => e.into(),
    }
}

/// Delete a webhook and what is still queued for it.
#[utoipa::path(delete, path = "/webhooks/{webhook_id}", tag = "alerts",
    params(("webhook_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeletedOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn delete_webhook(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<DeletedOut>, ApiError> {
    state
        .store
        .delete_webhook(current.user.id, id)
        .await
        .map_err(webhook_error)?;
    Ok(Json(DeletedOut {
        detail: "Webhook deleted".into(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    /// The alert delivered; none for a test event.
    pub alert_id: Option<i64>,
    /// `pending` (waiting or retrying), `delivered` or `failed` (given up).
    pub status: String,
    pub attempts: i64,
    /// The receiver's HTTP status at the last attempt.
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        let pending = d.status == "pending";
        Self {
            id: d.id,
            alert_id: d.alert_id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error,
            next_attempt_at: pending.then(|| iso(d.next_attempt_at)),
            created_at: iso(d.created_at),
            delivered_at: d.delivered_at.map(iso),
        }
    }
}

/// Send a test event to a webhook (queued after what is already waiting).
#[utoipa::path(post, path = "/webhooks/{webhook_id}/test", tag = "alerts",
    params(("webhook_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 202, body = DeliveryOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn test_webhook(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<DeliveryOut>), ApiError> {
    let row = state
        .store
        .queue_test_delivery(current.user.id, id, now_ms())
        .await
        .map_err(webhook_error)?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(required = false, minimum = 1, maximum = 500, default = 50)]
    pub limit: i64,
}

impl FromQuery for DeliveryQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            limit: f.int_or("limit", 50, 1, 500)?,
        })
    }
}

/// A webhook's deliveries, newest first: attempts, status codes, next retry.
#[utoipa::path(get, path = "/webhooks/{webhook_id}/deliveries", tag = "alerts",
    params(("webhook_id" = i64, Path, minimum = 1), DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<DeliveryOut>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_deliveries(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
    ValidQuery(q): ValidQuery<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryOut>>, ApiError> {
    let rows = state
        .store
        .webhook_deliveries(current.user.id, id, q.limit)
        .await
        .map_err(webhook_error)?;
    Ok(Json(rows.into_iter().map(DeliveryOut::from).collect()))
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_webhook_url_is_shown_without_the_secret_part_of_its_path() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/services/…"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:9000/hook"),
            "http://127.0.0.1:9000/hook"
        );
        assert_eq!(
            shown_url("https://example.com/?token=abc"),
            "https://example.com/…"
        );
        // A path that is nothing but a token or an id is all secret.
        for secret in [
            "http://127.0.0.1:18095/SECRETTOKEN123456",
            "https://webhook.site/5f3c2a9e-6b1d-4e8a-9c7f-0a1b2c3d4e5f",
            "https://example.com/abc123/hook",
        ] {
            let shown = shown_url(secret);
            assert!(shown.ends_with("/…"), "{secret} -> {shown}");
            assert!(!shown.contains("123") && !shown.contains("5f3c"), "{shown}");
        }
    }
}
