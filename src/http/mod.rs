//! The HTTP surface: state, routes and the layer stack.

mod api;
mod board;
mod csrf;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod openapi;
mod pages;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::State,
    http::{HeaderValue, header},
    middleware::{Next, from_fn, from_fn_with_state},
    response::IntoResponse,
    routing::get,
};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::catch_panic::CatchPanicLayer;

#[doc(hidden)]
pub use board::render_board_for_bench;
pub use health::Readiness;

use crate::{
    instance::Instance,
    lifecycle::Lifecycle,
    storage::{SqlDb, Store, VisitCounter, with_deadline},
};

/// What handlers share. Cheap to clone: everything is behind an `Arc` or is a handle.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The board's store.
    pub store: Arc<dyn Store>,
    /// The relational database (users, blog, sessions, file metadata).
    pub sql: SqlDb,
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
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// Limits for the routes that do work.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// How much longer a request whose write is already under way may take, to answer with the write's
    /// real outcome (the store's statement timeout).
    pub write_grace: Duration,
    /// Requests at once before shedding.
    pub max_concurrent_requests: usize,
}

/// Builds the whole router.
///
/// Health checks and metrics sit outside the concurrency limit and timeout: an overloaded instance must
/// still answer its liveness probe quickly, or it would be restarted for being busy.
pub fn router(state: AppState, limits: Limits) -> Router {
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(middleware::handle_overload))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::new(
            Semaphore::new(limits.max_concurrent_requests),
        )))
        // The outer timeout is a backstop: store calls answer by the request's deadline themselves, except
        // a write already under way, whose real outcome is worth `write_grace` more (storage::detached).
        .timeout(limits.request_timeout + limits.write_grace)
        .layer(from_fn(
            move |request: axum::extract::Request, next: Next| {
                let deadline = tokio::time::Instant::now() + limits.request_timeout;
                with_deadline(deadline, next.run(request))
            },
        ));

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
        .route_layer(shed);

    let always = Router::new()
        .route("/health", get(health::readiness))
        .route("/health/live", get(health::liveness))
        .route("/metrics", get(render_metrics))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/static/{file}", get(pages::serve_asset));

    work.merge(always)
        .fallback(middleware::not_found)
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(from_fn(middleware::record_metrics))
        .layer(from_fn(middleware::log_request))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state)
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
