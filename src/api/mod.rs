//! The REST API: the brief's routes (kept exactly) plus their extensions.
//! Each resource module owns its routes; served and documented routes are
//! one list (utoipa-axum), so the OpenAPI document cannot drift from them.

pub mod ads;
pub mod alerts;
pub mod auth;
pub mod discover;
pub mod export;
pub mod extract;
pub mod health;
pub mod ingest;
pub mod insights;
pub mod products;
pub mod quality;
pub mod sources;
pub mod watchlists;
pub mod webhooks;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(description = "Track social media trends and spot viral products early."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "products", description = "Tracked products"),
        (name = "ads", description = "Advertisements seen for products"),
        (name = "insights", description = "Viral ads, heat map, trending products, trend scores"),
        (name = "watchlists", description = "Each user's watched products and alerts"),
        (name = "alerts", description = "Alerts on watched products: rules, read state, live stream, webhooks and email"),
        (name = "export", description = "CSV exports"),
        (name = "ingest", description = "Observations of content on the platforms"),
        (name = "sources", description = "Where observations come from, and their scans (administrators)"),
        (name = "admin", description = "User management (administrators)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /token"))
                    .build(),
            ),
        );
    }
}

/// The API routes (rate-limited as a group by the caller) and their OpenAPI document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(products::router())
        .merge(ads::router())
        .merge(insights::router())
        .merge(watchlists::router())
        .merge(alerts::router())
        .merge(webhooks::router())
        .merge(export::router())
        .merge(ingest::router())
        .merge(quality::router())
        .merge(discover::router())
        .merge(sources::router())
}
