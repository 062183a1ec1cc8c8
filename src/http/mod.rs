//! The HTTP surface: state, routes and the layer stack.

mod admin;
mod api;
// Wired here by issue 5 (files and users need `WriteAccess`/`Viewer`); the module is issue 6's.
pub mod auth;
mod blog;
mod board;
mod csrf;
pub mod error;
pub mod extract;
mod files;
pub mod health;
pub mod middleware;
pub mod openapi;
mod pages;
mod users;

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

#[doc(hidden)]
pub use board::render_board_for_bench;
pub use health::Readiness;

use crate::{
    instance::Instance,
    lifecycle::Lifecycle,
    storage::{SqlDb, Store, VisitCounter},
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
    /// The admin account and API token (issue 6).
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
    // arrives below the minimum rate is answered 408 (http::files).
    let uploads = Router::new()
        .route("/files", axum::routing::post(files::upload_from_form))
        .route("/api/v1/files", axum::routing::post(files::upload_file))
        .route_layer(observed(Some((
            state.capacity.uploads(),
            limits.upload_timeout,
        ))));

    let work = Router::new()
        .route("/", get(board::show_board).post(board::submit_from_form))
        .route(
            "/api/v1/submissions",
            axum::routing::post(api::create_submission),
        )
        .route("/api/v1/submissions/latest", get(api::latest_submission))
        .route("/api/v1/submissions/{id}", get(api::get_submission))
        .route(
            "/api/v1/users/{username}/submissions",
            get(api::user_submissions),
        )
        .route("/api/v1/visits", get(api::visits))
        .route(
            "/users",
            get(users::show_users).post(users::create_user_from_form),
        )
        .route(
            "/api/v1/users",
            get(users::list_users).post(users::create_user),
        )
        // `{username}` because the submissions history route names this segment so (one name per segment);
        // the value is a user id.
        .route("/api/v1/users/{username}", get(users::get_user))
        .route("/files", get(files::show_files))
        .route(
            "/files/{id}/delete",
            axum::routing::post(files::delete_from_form),
        )
        .route("/api/v1/files", get(files::list_files))
        .route(
            "/api/v1/files/{id}",
            get(files::get_file).delete(files::delete_file),
        )
        .route("/api/v1/files/{id}/content", get(files::download_file))
        // The blog's readers and its admin (issue 6).
        .merge(blog::routes())
        .merge(admin::routes())
        .route_layer(observed(Some((
            state.capacity.requests(),
            limits.request_timeout,
        ))));

    let always = Router::new()
        .route("/health", get(health::readiness))
        .route("/health/live", get(health::liveness))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(render_metrics))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/static/{file}", get(pages::serve_asset))
        .route_layer(observed(None));

    work.merge(uploads)
        .merge(always)
        .fallback_service(observed(None).layer(middleware::not_found.into_service()))
        .with_state(state)
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
