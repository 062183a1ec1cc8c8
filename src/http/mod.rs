//! The HTTP surface: state, routes and the layer stack.

pub mod auth;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod etag;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod openapi;
pub mod origin;
pub mod pages;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    handler::HandlerWithoutStateExt as _,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::Layer as _;

pub use health::Readiness;

use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::{instance::Instance, lifecycle::Lifecycle},
    board::{Store, VisitCounter},
    storage::SqlDb,
};

/// What handlers share: one `Arc`, so the clone axum makes for every handler (and each layer with state)
/// is one reference count, not a copy of each handle (a `Lifecycle` clone alone takes a lock).
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// Shares `parts` with every handler.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    /// The board's store.
    pub store: Arc<dyn Store>,
    /// The relational database (users, blog, sessions, file metadata).
    pub sql: SqlDb,
    /// The admin account and API token.
    pub auth: Arc<crate::auth::Auth>,
    /// Uploaded files: the object store and the metadata store.
    pub files: crate::files::Files,
    /// An upload's body may pause this long between bytes (the request timeout) before it is answered 408.
    pub body_idle_timeout: Duration,
    /// The slowest an upload's body may arrive before it is answered 408; `None`: no minimum.
    pub upload_min_rate: Option<crate::config::MinTransferRate>,
    /// The request slots (pages and API; uploads), which readiness reports on.
    pub capacity: middleware::Capacity,
    /// Batched visit counting.
    pub visits: VisitCounter,
    /// The cached deep health check.
    pub readiness: Arc<Readiness>,
    /// Draining state.
    pub lifecycle: Lifecycle,
    /// Which instance this is.
    pub instance: Instance,
    /// Proxies whose forwarding headers are believed.
    pub proxies: Arc<[IpNet]>,
    /// The canonical public origin (`STRATUS_PUBLIC_URL`, `https://host[:port]`): the only host printed
    /// into absolute links when set.
    pub public_origin: Option<Arc<str>>,
    /// Files are public on purpose (`STRATUS_FILES_PUBLIC`): listing and downloading need no sign-in.
    pub files_public: bool,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The board's counters.
    pub counters: crate::telemetry::Counters,
}

/// Limits for the routes that do work.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// How much longer a request whose write is already under way may take, to answer with the write's
    /// real outcome (the store's statement timeout).
    pub write_grace: Duration,
    /// The whole-request budget of an upload (`STRATUS_UPLOAD_TIMEOUT`); its body must also keep moving
    /// (`AppState::body_idle_timeout`).
    pub upload_timeout: Duration,
}

/// Builds the whole router.
///
/// Health checks and metrics sit outside the concurrency limits and timeout: an overloaded instance must
/// still answer its probes quickly, or it would be restarted for being busy.
pub fn router(state: AppState, limits: Limits) -> Router {
    // Request id, log line, metrics, response headers and a panicking handler's 500 for every request
    // (`middleware::observe`); a concurrency limit for the work, where each request has a budget (its
    // deadline) after which it is shed with 503 and `Retry-After` (`middleware::bound`). One layer per
    // route does both.
    let observer = Arc::new(middleware::Observer::new(&state));
    let observed = |bounds: Option<(&middleware::Pool, Duration)>| {
        middleware::RequestLayer::new(
            Arc::clone(&observer),
            bounds.map(|(pool, budget)| middleware::Bounds {
                pool: pool.clone(),
                budget,
                // Store calls answer by the request's deadline themselves, except a write already under
                // way, whose real outcome is worth `write_grace` more (storage::detached).
                grace: limits.write_grace,
            }),
        )
    };

    // Uploads stream up to STRATUS_MAX_UPLOAD_BYTES: they take a slot of their own pool, get the upload
    // budget instead of the request timeout, and a body that stops moving for a request timeout or
    // arrives below the minimum rate is answered 408 (files::http::upload).
    let uploads = crate::files::http::upload_router().route_layer(observed(Some((
        state.capacity.uploads(),
        limits.upload_timeout,
    ))));

    // Each feature's pages and API, in the request pool with the request timeout.
    let work = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(crate::board::router())
        .merge(crate::users::router())
        .merge(crate::files::router())
        .merge(crate::blog::router())
        .route_layer(observed(Some((
            state.capacity.requests(),
            limits.request_timeout,
        ))));

    let probes = probes().route_layer(observed(None));

    let (api_routes, document) = work.merge(uploads).merge(probes).split_for_parts();
    let document = openapi::Document::new(&document);

    let always = Router::new()
        .route("/metrics", get(render_metrics))
        .route(
            openapi::PATH,
            get({
                let document = document.clone();
                move || document.clone().serve()
            }),
        )
        .route(openapi::ROOT_PATH, get(move || document.clone().serve()))
        .route("/static/{file}", get(pages::serve_asset))
        .route("/favicon.ico", get(pages::favicon))
        .route_layer(observed(None));

    api_routes
        .merge(always)
        .fallback_service(observed(None).layer(middleware::not_found.into_service()))
        .with_state(state)
}

/// The probes: outside every pool and timeout.
fn probes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::readiness))
        .routes(routes!(health::liveness))
        .routes(routes!(health::ready))
}

/// The OpenAPI document of every feature's API, as [`router`] serves it at [`openapi::PATH`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(openapi::ApiDoc::openapi())
        .merge(crate::board::router())
        .merge(crate::users::router())
        .merge(crate::files::router())
        .merge(crate::files::http::upload_router())
        .merge(crate::blog::router())
        .merge(probes())
        .into_openapi()
}

/// RFC 9112 §3.2: why a request with two `Host` headers, or an HTTP/1.1 request with none, is answered
/// 400 before anything else reads it (links and caches must never depend on which one a component
/// picked). Checked by the observing layer every route has (`middleware::observe`).
pub(crate) fn host_problem(request: &axum::extract::Request) -> Option<&'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Some("The request has more than one Host header; send exactly one."),
        (None, _) if request.version() >= axum::http::Version::HTTP_11 => {
            Some("The request has no Host header; HTTP/1.1 requires one.")
        }
        _ => None,
    }
}

/// `GET /metrics`: Prometheus text format. Keep it off the public path (the ALB answers 404 for it).
async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
}
