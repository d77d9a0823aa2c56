//! Application assembly: shared state, the router with its layers, and the
//! server loop with graceful shutdown. `Application::build` binds the port
//! (0 in tests) so callers can learn it before serving.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::auth::tokens::TokenKeys;
use crate::cache::{Caches, Stamp};
use crate::config::{Config, CorsOrigins};
use crate::connectors::Secrets;
use crate::connectors::http::HttpPolicy;
use crate::error::json_detail;
use crate::middleware;
use crate::notify::deliver::Deliverer;
use crate::ratelimit::RateLimiter;
use crate::refresh::{MatcherCache, run_scheduler};
use crate::scan::{ScanSettings, Scanner};
use crate::store::{PoolOptions, Store};

pub struct App {
    pub caches: Caches,
    pub config: Config,
    pub store: Store,
    pub keys: TokenKeys,
    pub limiter: RateLimiter,
    pub metrics: PrometheusHandle,
    pub matcher: Arc<MatcherCache>,
    /// Runs sources' scans (the scheduler, `POST /sources/{id}/scan`).
    pub scanner: Scanner,
    /// Wakes the scheduler when product terms change (history to match again).
    pub rematch: Arc<Notify>,
    /// Cancelled when the server starts to stop: ends live streams, which
    /// would otherwise hold a graceful shutdown open.
    pub stopping: CancellationToken,
}

/// Cheap to clone: every request gets one.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The process-wide Prometheus recorder (metrics are per process, not per router).
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ],
        )?
        .install_recorder()
        .or_else(|e| HANDLE.get().cloned().ok_or(e))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

impl AppState {
    /// The data version and time a cached read is checked against.
    pub fn stamp(&self) -> Stamp {
        Stamp::now(self.store.data_version(), self.store.watching())
    }

    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(
            &config.database,
            PoolOptions {
                max_connections: config.max_connections,
                ..PoolOptions::default()
            },
        )
        .await?;
        store.migrate().await?;
        let keys = TokenKeys::new(
            &config.secret_key,
            config.algorithm,
            config.access_token_ttl,
            config.refresh_token_ttl,
        );
        let limiter = RateLimiter::new(
            config.rate_limit.clone(),
            config.redis_url.as_deref(),
            &config.redis_key_prefix,
        )?;
        let secrets = Secrets::load(config.scan.secrets_file.as_deref())?;
        let matcher = Arc::new(MatcherCache::default());
        let scanner = Scanner::new(
            store.clone(),
            secrets,
            ScanSettings {
                concurrency: config.scan.concurrency,
                http: HttpPolicy {
                    timeout: config.scan.timeout,
                    retries: config.scan.retries,
                    ..HttpPolicy::default()
                },
                ..ScanSettings::default()
            },
            matcher.clone(),
        );
        Ok(Self(Arc::new(App {
            caches: Caches::new(config.cache_ttl),
            metrics: metrics_handle()?,
            config,
            store,
            keys,
            limiter,
            matcher,
            scanner,
            rematch: Arc::new(Notify::new()),
            stopping: CancellationToken::new(),
        })))
    }
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        script-src 'self'; frame-ancestors 'none'";

pub fn build_router(state: AppState) -> Router {
    let (api_routes, mut openapi) = api::routes().split_for_parts();
    let (ops_routes, ops_doc) = api::health::router().split_for_parts();
    openapi.merge(ops_doc);
    openapi.info.title = state.config.api_title.clone();
    openapi.info.version = state.config.api_version.clone();

    let api_routes = api_routes.layer(from_fn_with_state(state.clone(), middleware::rate_limit));
    let docs: Router<AppState> = Router::from(
        SwaggerUi::new("/docs").url("/openapi.json", openapi),
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ));

    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(root))
        .route("/favicon.ico", get(crate::web::icon))
        .nest("/app", crate::web::router(state.clone()))
        // A typed or bookmarked trailing slash still finds the dashboard.
        .route(
            "/app/",
            get(|| async { axum::response::Redirect::permanent("/app") }),
        )
        .merge(api_routes.clone())
        .nest("/api/v1", api_routes)
        .merge(ops_routes)
        .merge(docs)
        .fallback(not_found_or_without_slash)
        .layer(from_fn(middleware::json_errors))
        .layer(from_fn(middleware::record_metrics))
        .layer(from_fn_with_state(state.clone(), middleware::timeout))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors_layer(&state.config.cors_origins))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("a request handler panicked");
            json_detail(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings are never logged.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::DEBUG)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// The landing page for a browser; for an API client (which does not ask
/// for HTML), where the API's documents are.
async fn root(
    visit: crate::web::session::Visit,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        return crate::web::landing(visit).await;
    }
    axum::Json(serde_json::json!({
        "name": "MarketScout",
        "docs": "/docs",
        "openapi": "/openapi.json",
    }))
    .into_response()
}

fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600));
    match origins {
        CorsOrigins::None => base.allow_origin(AllowOrigin::list([])),
        CorsOrigins::Any => base.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => base.allow_origin(AllowOrigin::list(list.clone())),
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(config.host, config.port);
        let state = AppState::new(config).await?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (set HOST/PORT or --host/--port)"))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let background = CancellationToken::new();
        let watcher = tokio::spawn(
            store
                .clone()
                .watch_changes(self.state.config.database.clone(), background.clone()),
        );
        // Without a schedule the loop still re-matches on demand; a week is "never".
        let every = self
            .state
            .config
            .refresh_interval
            .unwrap_or(std::time::Duration::from_secs(7 * 24 * 3600));
        let scheduler = tokio::spawn(run_scheduler(
            store.clone(),
            every,
            self.state.rematch.clone(),
            background.clone(),
        ));
        let scans =
            self.state.config.scan.enabled.then(|| {
                tokio::spawn(self.state.scanner.clone().run_scheduler(background.clone()))
            });
        let deliveries = self.state.config.notify.delivery_enabled.then(|| {
            let base = format!(
                "http://{}",
                self.listener
                    .local_addr()
                    .map_or_else(|_| "localhost".to_owned(), |a| a.to_string())
            );
            let deliverer = Deliverer::new(store.clone(), self.state.config.notify.clone(), base);
            tokio::spawn(deliverer.run(background.clone()))
        });
        // What was refreshed but not evaluated before the last stop (a crash,
        // a CLI import) is evaluated now, beside serving rather than before it:
        // a backlog must not delay the first request.
        let catch_up = {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.evaluate_alerts(crate::time::now_ms()).await {
                    tracing::warn!(error = %e, "could not evaluate alerts at start; the next refresh will");
                }
            })
        };
        let stopping = self.state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.cancel();
        };
        let router = build_router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server stopped");
        background.cancel();
        let _ = watcher.await;
        let _ = scheduler.await;
        if let Some(scans) = scans {
            let _ = scans.await;
        }
        if let Some(deliveries) = deliveries {
            let _ = deliveries.await;
        }
        let _ = catch_up.await;
        store.close().await;
        served
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this
/// is called, not when first polled, so a signal sent as soon as the server
/// says it is listening is still a graceful stop.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! {
                        _ = i.recv() => {},
                        _ = t.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("shutting down: finishing requests in flight");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// An unknown path is the API's JSON 404, except that a path with a trailing
/// slash is sent, method and body kept (307), to the same path without it,
/// as the brief's FastAPI server does for clients that add one.
async fn not_found_or_without_slash(uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') && !path.ends_with("//") {
        let mut to = path.trim_end_matches('/').to_owned();
        if let Some(query) = uri.query() {
            to.push('?');
            to.push_str(query);
        }
        return axum::response::Redirect::temporary(&to).into_response();
    }
    json_detail(axum::http::StatusCode::NOT_FOUND, "Not Found")
}
