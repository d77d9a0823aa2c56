//! `/alerts`: the caller's stored alerts (read state, a live stream), the
//! rules that raise them (defaults, per watched product, snoozes) and their
//! email preference. `/check-alerts` (in `watchlists.rs`) reads the same store.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{
    Fields, FromBody, FromQuery, MAX_ID, PathId, ValidJson, ValidQuery, json_object, read_body,
};
use crate::app::AppState;
use crate::auth::{CurrentUser, live_session};
use crate::engine::alerts::AlertRules;
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
use crate::store::{AlertFilter, AlertRow, StoreError, WatchRules};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(read_alert))
        .routes(routes!(read_all_alerts))
        .routes(routes!(alert_stream))
        .routes(routes!(get_default_rules, patch_default_rules))
        .routes(routes!(
            get_watch_rules,
            patch_watch_rules,
            reset_watch_rules
        ))
        .routes(routes!(snooze, unsnooze))
        .routes(routes!(get_email_settings, patch_email_settings))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    /// The rule that raised it.
    #[schema(example = "score_jump")]
    pub rule: String,
    pub message: String,
    pub value_before: Option<f64>,
    pub value_after: Option<f64>,
    pub created_at: String,
    pub read: bool,
    pub read_at: Option<String>,
}

impl From<AlertRow> for AlertOut {
    fn from(a: AlertRow) -> Self {
        Self {
            id: a.id,
            product_id: a.product_id,
            product_name: a.product_name,
            rule: a.rule,
            message: a.message,
            value_before: a.value_before,
            value_after: a.value_after,
            created_at: iso(a.created_at),
            read: a.read_at.is_some(),
            read_at: a.read_at.map(iso),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Unread first, newest first within each.
    pub alerts: Vec<AlertOut>,
    /// How many of the caller's alerts are unread (all of them, not only this page).
    pub unread: i64,
}

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only unread alerts.
    #[param(required = false, default = false)]
    pub unread: bool,
    /// Only this product's alerts.
    #[param(required = false, minimum = 1)]
    pub product_id: Option<i64>,
    #[param(required = false, minimum = 0, default = 0)]
    pub skip: i64,
    #[param(required = false, minimum = 1, maximum = 500, default = 50)]
    pub limit: i64,
}

impl FromQuery for AlertQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let unread = f.opt_bool("unread");
        let product_id = f.opt_int("product_id", 1, MAX_ID);
        let skip = f.int_or("skip", 0, 0, MAX_ID);
        let limit = f.int_or("limit", 50, 1, 500);
        Some(Self {
            unread: unread?.unwrap_or(false),
            product_id: product_id?,
            skip: skip?,
            limit: limit?,
        })
    }
}

/// The caller's alerts: unread first, then newest first.
#[utoipa::path(get, path = "/alerts", tag = "alerts",
    params(AlertQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AlertList),
        (status = 401, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_alerts(
    State(state): State<AppState>,
    current: CurrentUser,
    ValidQuery(q): ValidQuery<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let user = current.user.id;
    let rows = state
        .store
        .alerts(
            user,
            &AlertFilter {
                unread_only: q.unread,
                product_id: q.product_id,
                after_id: None,
                limit: q.limit,
                offset: q.skip,
            },
        )
        .await?;
    Ok(Json(AlertList {
        alerts: rows.into_iter().map(AlertOut::from).collect(),
        unread: state.store.unread_alert_count(user).await?,
    }))
}

/// Mark one alert read (reading it again changes nothing).
#[utoipa::path(post, path = "/alerts/{alert_id}/read", tag = "alerts",
    params(("alert_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AlertOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn read_alert(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<AlertOut>, ApiError> {
    match state
        .store
        .mark_alert_read(current.user.id, id, now_ms())
        .await
    {
        Ok(row) => Ok(Json(row.into())),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Alert")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedOut {
    /// How many alerts were unread and are now read.
    pub marked: u64,
}

/// Mark every unread alert of the caller read.
#[utoipa::path(post, path = "/alerts/read-all", tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MarkedOut),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn read_all_alerts(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<MarkedOut>, ApiError> {
    let marked = state
        .store
        .mark_all_alerts_read(current.user.id, now_ms())
        .await?;
    Ok(Json(MarkedOut { marked }))
}

/// Live alerts as server-sent events: each new alert is an `alert` event whose
/// `id` is the alert's id and whose data is the alert as `GET /alerts` shows it.
/// A client that reconnects with `Last-Event-ID` gets what it missed; without
/// it, the stream starts with alerts raised after it opened. The stream ends
/// when its token expires or is revoked (a logout): reconnect with a fresh one.
#[utoipa::path(get, path = "/alerts/stream", tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream of `alert` events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn alert_stream(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let start = last_event_id(&headers);
    live_alerts(&state, &current, start).await
}

/// The `Last-Event-ID` a reconnecting client sends, when it is a valid id.
pub fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
}

/// How long a stream waits for a change before it looks anyway (in case the
/// change feed from other instances is down).
const STREAM_POLL: Duration = Duration::from_secs(5);

/// The alert stream of one user, from `after` (or from now): shared by the
/// API and the dashboard. It ends when the session that opened it does (a
/// logout, the token's expiry, the user deleted): a client reconnects with a
/// fresh token and `Last-Event-ID`, missing nothing.
pub async fn live_alerts(
    state: &AppState,
    session: &CurrentUser,
    after: Option<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let user_id = session.user.id;
    let last = match after {
        Some(id) => id,
        None => state.store.last_alert_id(user_id).await?,
    };
    struct Live {
        state: AppState,
        user_id: i64,
        jti: String,
        sid: Option<String>,
        expires: tokio::time::Instant,
        last: i64,
        pending: VecDeque<AlertRow>,
        changes: tokio::sync::watch::Receiver<u64>,
    }
    let lasts = (session.token_expires_at as i64 * 1000 - now_ms()).max(0);
    let live = Live {
        state: state.clone(),
        user_id,
        jti: session.jti.clone(),
        sid: session.sid.clone(),
        expires: tokio::time::Instant::now() + Duration::from_millis(lasts as u64),
        last,
        pending: VecDeque::new(),
        changes: state.store.subscribe(),
    };
    let stream = futures::stream::unfold(live, |mut live| async move {
        loop {
            if let Some(alert) = live.pending.pop_front() {
                let id = alert.id;
                let data = serde_json::to_string(&AlertOut::from(alert)).expect("alerts serialise");
                let event = Event::default()
                    .event("alert")
                    .id(id.to_string())
                    .data(data);
                return Some((Ok(event), live));
            }
            live.changes.mark_unchanged();
            // A logout commits, which wakes every stream: each looks whether
            // it was its own (from the session cache, mostly).
            match live_session(&live.state, live.user_id, &live.jti, live.sid.as_deref()).await {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "the alert stream could not check its session")
                }
            }
            let filter = AlertFilter {
                after_id: Some(live.last),
                limit: 100,
                ..Default::default()
            };
            match live.state.store.alerts(live.user_id, &filter).await {
                Ok(rows) if !rows.is_empty() => {
                    live.last = rows.last().map_or(live.last, |r| r.id);
                    live.pending.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the alert stream could not read alerts"),
            }
            tokio::select! {
                _ = live.state.stopping.cancelled() => return None,
                _ = tokio::time::sleep_until(live.expires) => return None,
                _ = live.changes.changed() => {},
                _ = tokio::time::sleep(STREAM_POLL) => {},
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A rules document to apply over the current rules: any part of `AlertRules`,
/// e.g. `{"viral_ad": {"min_score": 80}}`.
pub struct RulesPatch(pub Value);

impl<S: Send + Sync> FromRequest<S> for RulesPatch {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        Ok(Self(Value::Object(json_object(&bytes)?)))
    }
}

fn apply(current: &AlertRules, patch: &Value) -> Result<AlertRules, ApiError> {
    current.patched(patch).map_err(|problems| {
        ApiError::Validation(
            problems
                .into_iter()
                .map(|p| {
                    let mut loc = vec![json!("body")];
                    for part in p.path {
                        // `stages.1` is the list's second item.
                        for piece in part.split('.') {
                            loc.push(
                                piece
                                    .parse::<u64>()
                                    .map_or_else(|_| json!(piece), |i| json!(i)),
                            );
                        }
                    }
                    FieldError::new(loc, "value_error", p.message)
                })
                .collect(),
        )
    })
}

/// The caller's default rules: what applies to every watched product without its own.
#[utoipa::path(get, path = "/alerts/rules", tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AlertRules),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_default_rules(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<AlertRules>, ApiError> {
    Ok(Json(state.store.default_rules(current.user.id).await?))
}

/// Change the caller's default rules: only the fields given change.
#[utoipa::path(patch, path = "/alerts/rules", tag = "alerts",
    request_body = AlertRules,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AlertRules),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn patch_default_rules(
    State(state): State<AppState>,
    current: CurrentUser,
    RulesPatch(patch): RulesPatch,
) -> Result<Json<AlertRules>, ApiError> {
    let user = current.user.id;
    let rules = apply(&state.store.default_rules(user).await?, &patch)?;
    state.store.set_default_rules(user, &rules).await?;
    Ok(Json(rules))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WatchRulesOut {
    pub watchlist_id: i64,
    pub product_id: i64,
    pub product_name: String,
    /// True when this product has its own rules; false when the defaults apply.
    pub custom: bool,
    pub rules: AlertRules,
    /// Nothing is raised for the product until then.
    pub snoozed_until: Option<String>,
}

impl From<WatchRules> for WatchRulesOut {
    fn from(w: WatchRules) -> Self {
        Self {
            watchlist_id: w.watch_id,
            product_id: w.product_id,
            product_name: w.product_name,
            custom: w.own.is_some(),
            rules: w.effective,
            snoozed_until: w.snoozed_until.filter(|t| *t > now_ms()).map(iso),
        }
    }
}

async fn watch_rules(state: &AppState, user: i64, id: i64) -> Result<WatchRulesOut, ApiError> {
    match state.store.watch_rules(user, id).await {
        Ok(w) => Ok(w.into()),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Watchlist entry")),
        Err(e) => Err(e.into()),
    }
}

fn entry_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::not_found("Watchlist entry"),
        e => e.into(),
    }
}

/// The rules of one watched product.
#[utoipa::path(get, path = "/watchlists/{watchlist_id}/rules", tag = "alerts",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchRulesOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_watch_rules(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<WatchRulesOut>, ApiError> {
    Ok(Json(watch_rules(&state, current.user.id, id).await?))
}

/// Give one watched product its own rules: the fields given change, the
/// others keep the values that applied (the defaults, the first time).
#[utoipa::path(patch, path = "/watchlists/{watchlist_id}/rules", tag = "alerts",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    request_body = AlertRules,
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchRulesOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn patch_watch_rules(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
    RulesPatch(patch): RulesPatch,
) -> Result<Json<WatchRulesOut>, ApiError> {
    let user = current.user.id;
    let now = watch_rules(&state, user, id).await?;
    let rules = apply(&now.rules, &patch)?;
    state
        .store
        .set_watch_rules(user, id, Some(&rules))
        .await
        .map_err(entry_not_found)?;
    Ok(Json(watch_rules(&state, user, id).await?))
}

/// Go back to the default rules for one watched product.
#[utoipa::path(delete, path = "/watchlists/{watchlist_id}/rules", tag = "alerts",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchRulesOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn reset_watch_rules(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<WatchRulesOut>, ApiError> {
    let user = current.user.id;
    state
        .store
        .set_watch_rules(user, id, None)
        .await
        .map_err(entry_not_found)?;
    Ok(Json(watch_rules(&state, user, id).await?))
}

#[derive(Debug, ToSchema)]
pub struct SnoozeIn {
    /// How long to snooze, in hours (1 to 720).
    #[schema(minimum = 1, maximum = 720)]
    pub hours: i64,
}

impl FromBody for SnoozeIn {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            hours: f.int("hours", 1, 720)?,
        })
    }
}

/// Snooze a watched product: no alerts for it for the given hours. What
/// happens meanwhile is not replayed afterwards.
#[utoipa::path(post, path = "/watchlists/{watchlist_id}/snooze", tag = "alerts",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    request_body = SnoozeIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchRulesOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn snooze(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
    ValidJson(input): ValidJson<SnoozeIn>,
) -> Result<Json<WatchRulesOut>, ApiError> {
    let user = current.user.id;
    let until = now_ms() + input.hours * 3_600_000;
    state
        .store
        .snooze_watch(user, id, Some(until))
        .await
        .map_err(entry_not_found)?;
    Ok(Json(watch_rules(&state, user, id).await?))
}

/// End a snooze now.
#[utoipa::path(delete, path = "/watchlists/{watchlist_id}/snooze", tag = "alerts",
    params(("watchlist_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WatchRulesOut),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn unsnooze(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> Result<Json<WatchRulesOut>, ApiError> {
    let user = current.user.id;
    state
        .store
        .snooze_watch(user, id, None)
        .await
        .map_err(entry_not_found)?;
    Ok(Json(watch_rules(&state, user, id).await?))
}

/// How alerts reach the caller by email.
pub const EMAIL_CHOICES: [&str; 3] = ["off", "immediate", "daily"];

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSettingsOut {
    /// `off`, `immediate` (one email per alert) or `daily` (one digest a day).
    pub email_alerts: String,
    pub email: String,
    /// Whether this server is set up to send email at all.
    pub smtp_configured: bool,
}

#[derive(Debug, ToSchema)]
pub struct EmailSettingsIn {
    #[schema(example = "daily")]
    pub email_alerts: &'static str,
}

impl FromBody for EmailSettingsIn {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            email_alerts: f.choice("email_alerts", &EMAIL_CHOICES)?,
        })
    }
}

/// The caller's email preference for alerts.
#[utoipa::path(get, path = "/alerts/email", tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, body = EmailSettingsOut),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_email_settings(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<EmailSettingsOut>, ApiError> {
    let choice = state.store.email_alerts(current.user.id).await?;
    Ok(Json(EmailSettingsOut {
        email_alerts: choice,
        email: current.user.email,
        smtp_configured: state.config.notify.smtp.is_some(),
    }))
}

/// Change the caller's email preference for alerts.
#[utoipa::path(patch, path = "/alerts/email", tag = "alerts",
    request_body = EmailSettingsIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = EmailSettingsOut),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn patch_email_settings(
    State(state): State<AppState>,
    current: CurrentUser,
    ValidJson(input): ValidJson<EmailSettingsIn>,
) -> Result<Json<EmailSettingsOut>, ApiError> {
    state
        .store
        .set_email_alerts(current.user.id, input.email_alerts)
        .await?;
    Ok(Json(EmailSettingsOut {
        email_alerts: input.email_alerts.to_owned(),
        email: current.user.email,
        smtp_configured: state.config.notify.smtp.is_some(),
    }))
}
