//! Sources and scans (administrators only): configure where observations come
//! from, start a scan now, and follow scans' progress.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::DeletedOut;
use super::extract::{Fields, FromBody, FromQuery, PathId, ValidJson, ValidQuery};
use crate::app::AppState;
use crate::auth::AdminUser;
use crate::connectors::SourceKind;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::store::sources::{Scan, ScanError, ScanStatus, Source, SourceFields};
use crate::time::{iso, now_ms};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sources, create_source))
        .routes(routes!(get_source, update_source, delete_source))
        .routes(routes!(scan_source))
        .routes(routes!(list_scans))
        .routes(routes!(get_scan))
}

/// A source of observations. Credentials are never part of it: they come
/// from the server's environment or secrets file (see `credentials`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceOut {
    pub id: i64,
    pub name: String,
    /// `youtube`, `meta_ads`, `tiktok_research`, `tiktok_ads`, `x`, `reddit`,
    /// `google_trends` or `file`.
    pub kind: String,
    /// Keywords, hashtags, subreddits, advertiser pages, or (for `file`)
    /// folders and files, as the kind reads them.
    pub query: Vec<String>,
    pub countries: Vec<String>,
    pub every_minutes: i64,
    pub enabled: bool,
    /// The API the source talks to; null means the platform's own.
    pub base_url: Option<String>,
    pub max_pages: i64,
    /// The settings that hold this kind's credentials, and whether each is set
    /// (never their values).
    pub credentials: Vec<CredentialOut>,
    /// Set when a rate limit or a spent quota paused the source.
    pub paused_until: Option<String>,
    pub pause_reason: Option<String>,
    pub last_scan_at: Option<String>,
    /// When the next scheduled scan is due (null when disabled).
    pub next_scan_at: Option<String>,
    /// What this source cannot see: shown as "not covered", never as zero.
    pub not_covered: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialOut {
    pub name: String,
    pub configured: bool,
}

fn source_out(s: Source, state: &AppState) -> SourceOut {
    let credentials = s
        .kind
        .credential_names()
        .iter()
        .map(|name| CredentialOut {
            name: (*name).to_owned(),
            configured: state.scanner.secrets.get(name).is_some(),
        })
        .collect();
    let next = s.enabled.then(|| {
        let due = s
            .last_scan_at
            .map_or(s.created_at, |at| at + s.every_minutes * 60_000);
        s.paused_until.map_or(due, |p| p.max(due))
    });
    SourceOut {
        id: s.id,
        name: s.name,
        kind: s.kind.as_str().to_owned(),
        query: s.query,
        countries: s.countries,
        every_minutes: s.every_minutes,
        enabled: s.enabled,
        base_url: s.base_url,
        max_pages: s.max_pages,
        credentials,
        paused_until: s.paused_until.map(iso),
        pause_reason: s.pause_reason,
        last_scan_at: s.last_scan_at.map(iso),
        next_scan_at: next.map(iso),
        not_covered: crate::connectors::not_covered(s.kind)
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        created_at: iso(s.created_at),
        updated_at: iso(s.updated_at),
    }
}

/// A new source, or (all fields optional) a change to one.
#[derive(Debug, ToSchema)]
pub struct SourceIn {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(value_type = String)]
    pub kind: Option<String>,
    #[schema(max_items = 50)]
    pub query: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 codes.
    #[schema(max_items = 250)]
    pub countries: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 10080)]
    pub every_minutes: Option<i64>,
    pub enabled: Option<bool>,
    /// `http://` or `https://`; null resets to the platform's own.
    pub base_url: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_pages: Option<i64>,
}

struct SourceInput {
    fields: SourceFields,
}

fn parse_source(f: &mut Fields<'_>, required: bool) -> Option<SourceInput> {
    let name = if required {
        f.string("name", 1, 100).map(Some)
    } else {
        f.opt_string("name", 1, 100)
    };
    let kind = if required {
        f.choice("kind", &SourceKind::NAMES).map(Some)
    } else {
        f.opt_choice("kind", &SourceKind::NAMES)
    };
    let query = f.opt_string_list("query", 50, 500);
    let countries = f.opt_string_list("countries", 250, 2);
    let every = f.opt_int("every_minutes", 1, 10_080);
    let enabled = f.opt_bool("enabled");
    let clears_base = f.is_null("base_url");
    let base_url = f.opt_url("base_url");
    let max_pages = f.opt_int("max_pages", 1, 1000);
    let countries = countries?.map(|list| {
        list.into_iter()
            .map(|c| c.to_ascii_uppercase())
            .collect::<Vec<_>>()
    });
    if let Some(list) = &countries
        && let Some((i, bad)) = list
            .iter()
            .enumerate()
            .find(|(_, c)| crate::engine::geo::region_of(c).is_none())
    {
        f.bad_item(
            "countries",
            i,
            bad,
            "Input should be an ISO 3166-1 alpha-2 country code",
        );
        return None;
    }
    let query = query?;
    // A source without a query has nothing to ask its platform: required on
    // creation, and a change cannot empty it.
    if (required && query.is_none()) || query.as_ref().is_some_and(Vec::is_empty) {
        f.required_list("query");
        return None;
    }
    let base_url = base_url?;
    Some(SourceInput {
        fields: SourceFields {
            name: name?,
            kind: kind?.and_then(SourceKind::parse),
            query,
            countries,
            every_minutes: every?,
            enabled: enabled?,
            base_url: if clears_base {
                Some(None)
            } else {
                base_url.map(Some)
            },
            max_pages: max_pages?,
        },
    })
}

struct NewSource(SourceInput);
struct SourceChange(SourceInput);

impl FromBody for NewSource {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        parse_source(f, true).map(NewSource)
    }
}

impl FromBody for SourceChange {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        parse_source(f, false).map(SourceChange)
    }
}

/// All sources with their status.
#[utoipa::path(get, path = "/sources", tag = "sources",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SourceOut>),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_sources(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<Vec<SourceOut>>, ApiError> {
    let sources = state.store.sources().await?;
    Ok(Json(
        sources.into_iter().map(|s| source_out(s, &state)).collect(),
    ))
}

/// Add a source; its first scan is due at once.
#[utoipa::path(post, path = "/sources", tag = "sources",
    request_body = SourceIn,
    security(("bearer" = [])),
    responses(
        (status = 201, body = SourceOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 409, description = "A source with this name exists", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn create_source(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidJson(NewSource(input)): ValidJson<NewSource>,
) -> Result<(StatusCode, Json<SourceOut>), ApiError> {
    let source = state.store.create_source(&input.fields, now_ms()).await?;
    state.scanner.wake.notify_one();
    Ok((StatusCode::CREATED, Json(source_out(source, &state))))
}

#[utoipa::path(get, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SourceOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_source(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathId(id): PathId,
) -> Result<Json<SourceOut>, ApiError> {
    Ok(Json(source_out(state.store.source(id).await?, &state)))
}

/// Change a source: only the fields given change.
#[utoipa::path(patch, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = i64, Path, minimum = 1)),
    request_body = SourceIn,
    security(("bearer" = [])),
    responses(
        (status = 200, body = SourceOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn update_source(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathId(id): PathId,
    ValidJson(SourceChange(input)): ValidJson<SourceChange>,
) -> Result<Json<SourceOut>, ApiError> {
    let source = state
        .store
        .update_source(id, &input.fields, now_ms())
        .await?;
    state.scanner.wake.notify_one();
    Ok(Json(source_out(source, &state)))
}

/// Delete a source and its scans (observations it brought stay).
#[utoipa::path(delete, path = "/sources/{source_id}", tag = "sources",
    params(("source_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeletedOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn delete_source(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathId(id): PathId,
) -> Result<Json<DeletedOut>, ApiError> {
    state.store.delete_source(id).await?;
    Ok(Json(DeletedOut {
        detail: "Source deleted".into(),
    }))
}

/// A scan and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanOut {
    pub id: i64,
    pub source_id: i64,
    pub source_name: String,
    pub status: ScanStatus,
    /// `schedule`, `manual` or `cli`.
    pub trigger: String,
    /// The time window asked of the platform.
    pub window_from: String,
    pub window_to: String,
    /// Pages fetched and stored so far.
    pub pages: i64,
    /// Items the platform returned, of which observations stored as new,
    /// already stored, and skipped (unusable, with a reason in `errors`).
    pub items: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub skipped: i64,
    pub errors: Vec<ScanError>,
    pub products_refreshed: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Seconds from start to finish (or until now while running).
    pub duration_s: Option<f64>,
}

impl From<Scan> for ScanOut {
    fn from(s: Scan) -> Self {
        let end = s.finished_at.unwrap_or_else(now_ms);
        ScanOut {
            id: s.id,
            source_id: s.source_id,
            source_name: s.source_name,
            status: s.status,
            trigger: s.trigger,
            window_from: iso(s.window_from),
            window_to: iso(s.window_to),
            pages: s.pages,
            items: s.items,
            accepted: s.accepted,
            duplicates: s.duplicates,
            skipped: s.skipped,
            errors: s.errors,
            products_refreshed: s.products_refreshed,
            started_at: s.started_at.map(iso),
            finished_at: s.finished_at.map(iso),
            duration_s: s.started_at.map(|at| (end - at).max(0) as f64 / 1000.0),
        }
    }
}

/// Start a scan of a source now; answers at once with the running scan
/// (follow it with `GET /scans/{id}`).
#[utoipa::path(post, path = "/sources/{source_id}/scan", tag = "sources",
    params(("source_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 202, body = ScanOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A scan of this source is already running", body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn scan_source(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<ScanOut>), ApiError> {
    let Some(claimed) = state.scanner.claim(id, "manual").await? else {
        return Err(ApiError::Conflict(
            "A scan of this source is already running".into(),
        ));
    };
    let scan_id = claimed.scan_id;
    let scanner = state.scanner.clone();
    tokio::spawn(async move {
        if let Err(e) = scanner.run(claimed, |_| {}).await {
            tracing::error!(scan = scan_id, "scan failed to record: {e}");
        }
    });
    let scan = state.store.scan(scan_id).await?;
    Ok((StatusCode::ACCEPTED, Json(scan.into())))
}

/// Which scans to list.
#[derive(Debug, utoipa::IntoParams)]
pub struct ScanQuery {
    /// Only this source's scans.
    pub source_id: Option<i64>,
    /// At most this many, newest first.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

struct ScanFilter {
    source_id: Option<i64>,
    limit: i64,
}

impl FromQuery for ScanFilter {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let source_id = f.opt_int("source_id", 1, i64::MAX);
        let limit = f.int_or("limit", 50, 1, 500);
        Some(ScanFilter {
            source_id: source_id?,
            limit: limit?,
        })
    }
}

/// Scans, newest first.
#[utoipa::path(get, path = "/scans", tag = "sources",
    params(ScanQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ScanOut>),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn list_scans(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidQuery(q): ValidQuery<ScanFilter>,
) -> Result<Json<Vec<ScanOut>>, ApiError> {
    let scans = state.store.scans(q.source_id, q.limit).await?;
    Ok(Json(scans.into_iter().map(ScanOut::from).collect()))
}

/// One scan: status, progress so far, errors, duration.
#[utoipa::path(get, path = "/scans/{scan_id}", tag = "sources",
    params(("scan_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ScanOut),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn get_scan(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathId(id): PathId,
) -> Result<Json<ScanOut>, ApiError> {
    Ok(Json(state.store.scan(id).await?.into()))
}
