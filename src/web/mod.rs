//! The web dashboard: pages rendered on the server from templates compiled
//! into the binary (`templates/`), with the stylesheet and the little
//! JavaScript there is embedded too. Pages live under `/app`, so they never
//! collide with the API's paths; `/` is the landing page for browsers.
//!
//! Handlers stay thin, as the API's do: read the visit (session, CSRF) and
//! the query, call the store, hand plain values to a template. Charts are SVG
//! strings from [`crate::charts`].

mod alerts;
mod pages;
mod rules;
pub mod session;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::StoreError;

/// Pages load only our own stylesheet, script and inline SVG: no inline
/// script or style, no third party.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
                        connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
pub const ICON: &str = include_str!("../../assets/icon.svg");

/// The dashboard's routes, to be nested under `/app`.
pub fn router(state: AppState) -> Router<AppState> {
    // Sending the sign-up and log-in forms counts against the API's
    // authentication limit (per client), so the forms are no way around it.
    let limited = || axum::middleware::from_fn_with_state(state.clone(), limited_form);
    Router::new()
        .route("/", get(pages::overview))
        .route(
            "/signup",
            get(pages::signup_form).merge(post(pages::signup).layer(limited())),
        )
        .route(
            "/login",
            get(pages::login_form).merge(post(pages::login).layer(limited())),
        )
        .route("/logout", post(pages::logout))
        .route("/demo", post(pages::load_demo))
        .route("/trends", get(pages::trends))
        .route("/heat-map", get(pages::heat_map))
        .route("/ads", get(pages::ads))
        .route("/discover", get(pages::discover))
        .route("/discover/track", post(pages::track))
        .route("/sources", get(pages::sources))
        .route("/sources/{id}/scan", post(pages::start_scan))
        .route("/scans/{id}", get(pages::scan))
        .route("/scans/{id}/progress", get(pages::scan_progress))
        .route("/watchlist", get(alerts::watchlist))
        .route("/watchlist/{id}/snooze", post(alerts::snooze))
        .route("/alerts/{id}/read", post(alerts::read_alert))
        .route("/alerts/read-all", post(alerts::read_all))
        .route("/alerts/stream", get(alerts::stream))
        .route("/alerts/email", post(alerts::email_settings))
        .route(
            "/alerts/rules",
            get(rules::rules_form).post(rules::save_rules),
        )
        .route("/webhooks", post(alerts::add_webhook))
        .route("/webhooks/{id}/test", post(alerts::test_webhook))
        .route("/webhooks/{id}/delete", post(alerts::delete_webhook))
        .route(
            "/unsubscribe",
            get(alerts::unsubscribe_form).post(alerts::unsubscribe),
        )
        .route("/trends.csv", get(pages::trends_csv))
        .route("/export/{kind}", get(pages::export))
        .route("/products/{id}", get(pages::product))
        .route("/products/{id}/watch", post(pages::watch))
        .route(
            "/products/{id}/terms",
            get(pages::terms_form).post(pages::save_terms),
        )
        .route("/products/{id}/unwatch", post(pages::unwatch))
        .route(
            "/assets/app.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
        .route("/assets/icon.svg", get(icon))
        .fallback(|| async { not_found() })
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ))
}

/// The icon, also at `/favicon.ico`, where browsers look without being told.
pub async fn icon() -> Response {
    asset(ICON, "image/svg+xml")
}

/// The API's rate limit, answered with a page rather than JSON.
async fn limited_form(
    state: axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = crate::middleware::rate_limit(state, req, next).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return response;
    }
    let mut page = error_page(StatusCode::TOO_MANY_REQUESTS);
    for name in [
        header::RETRY_AFTER,
        header::HeaderName::from_static("x-ratelimit-limit"),
    ] {
        if let Some(v) = response.headers().get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The landing page, for `GET /` from a browser.
pub async fn landing(visit: session::Visit) -> Response {
    let page = pages::Landing {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
    };
    let mut response = visit.finish(render(StatusCode::OK, &page));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// A rendered page, or the error page if the template fails (it cannot,
/// short of a bug: templates are checked when the binary is built).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    user: Option<String>,
    csrf: String,
    status: u16,
    title: &'static str,
    message: &'static str,
}

pub fn error_page(status: StatusCode) -> Response {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is nothing here. The link may be old, or the product was removed.",
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "Too many attempts",
            "Too many sign-ups or log-ins from here in a short time. Wait a minute, then try again.",
        ),
        StatusCode::BAD_REQUEST => (
            "That did not work",
            "The form sent something this page does not offer. Go back, reload the page and try again.",
        ),
        StatusCode::FORBIDDEN => (
            "Not allowed",
            "This page is for administrators, or your form expired: go back, reload the page and try again.",
        ),
        _ => (
            "Something went wrong",
            "We could not show this page. Try again in a moment; if it keeps happening, the server's log says why.",
        ),
    };
    let page = ErrorPage {
        user: None,
        csrf: String::new(),
        status: status.as_u16(),
        title,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, Html(format!("<h1>{title}</h1><p>{message}</p>"))).into_response(),
    }
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND)
}

/// What went wrong in a page handler: shown as a page, never as a stack trace.
pub enum PageError {
    NotFound,
    Forbidden,
    /// A form sent a value no page offers.
    BadRequest,
    Internal(anyhow::Error),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => PageError::NotFound,
            other => PageError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(_) => PageError::NotFound,
            ApiError::Forbidden(_) | ApiError::Unauthorized(_) => PageError::Forbidden,
            other => PageError::Internal(anyhow::anyhow!(other.to_string())),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound => error_page(StatusCode::NOT_FOUND),
            PageError::Forbidden => error_page(StatusCode::FORBIDDEN),
            PageError::BadRequest => error_page(StatusCode::BAD_REQUEST),
            PageError::Internal(e) => {
                tracing::error!(error = %e, "a page failed");
                error_page(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}
