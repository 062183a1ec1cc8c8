//! Health, split as the AWS Builders' Library recommends:
//! - `GET /health/live`: liveness, shallow. 200 while the process can serve; touches nothing else, so a
//!   database outage never gets healthy processes restarted.
//! - `GET /health`: readiness, deep. Checks the store within 1 s; 503 when it does not answer or while
//!   draining, so the load balancer sends traffic elsewhere. The result is cached for up to 1 s and
//!   computed by one caller at a time, so a flood of checks costs the database one query per second.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::AppState;
use crate::storage::Store;

const CHECK_DEADLINE: Duration = Duration::from_secs(1);
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The cached deep check.
#[derive(Debug)]
pub struct Readiness {
    stores: Vec<Arc<dyn Store>>,
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    /// A readiness check of every store the service needs.
    pub fn new(stores: Vec<Arc<dyn Store>>) -> Self {
        Self {
            stores,
            last: Mutex::new(None),
        }
    }

    /// Whether every store answered within the deadline (at most [`CACHE_FOR`] ago).
    pub async fn store_is_up(&self) -> bool {
        // Holding the lock across the check makes concurrent callers wait for one answer.
        let mut last = self.last.lock().await;
        if let Some((at, up)) = *last
            && at.elapsed() < CACHE_FOR
        {
            return up;
        }
        let checks = self.stores.iter().map(|store| async move {
            match tokio::time::timeout(CHECK_DEADLINE, store.ping()).await {
                Ok(Ok(())) => true,
                Ok(Err(err)) => {
                    tracing::warn!(store = store.backend(), error.message = %err, error.cause_chain = ?err, "readiness: store check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!(store = store.backend(), "readiness: store did not answer within 1 s");
                    false
                }
            }
        });
        let up = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .all(|up| up);
        *last = Some((Instant::now(), up));
        up
    }
}

/// The readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthReport {
    /// `healthy`, `unhealthy` or `draining`.
    #[schema(example = "healthy")]
    pub(crate) status: &'static str,
    /// `connected` or `disconnected`.
    #[schema(example = "connected")]
    pub(crate) database: &'static str,
    /// Which store is configured.
    #[schema(example = "sqlite")]
    pub(crate) backend: &'static str,
    /// Which instance answered.
    pub(crate) instance: String,
    /// Service version.
    pub(crate) version: &'static str,
}

/// Readiness (deep).
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "Ready: the store answers", body = HealthReport),
        (status = 503, description = "Not ready: store down, or draining", body = HealthReport),
    )
)]
pub(crate) async fn readiness(State(state): State<AppState>) -> Response {
    let up = state.readiness.store_is_up().await;
    let draining = state.lifecycle.is_draining();
    let status = match (draining, up) {
        (true, _) => "draining",
        (false, true) => "healthy",
        (false, false) => "unhealthy",
    };
    let report = HealthReport {
        status,
        database: if up { "connected" } else { "disconnected" },
        backend: state.store.backend(),
        instance: state.instance.name().to_string(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if status == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store((code, Json(report)).into_response())
}

/// Liveness (shallow).
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    responses((status = 200, description = "The process is serving"))
)]
pub(crate) async fn liveness() -> Response {
    no_store(Json(serde_json::json!({ "status": "alive" })).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
