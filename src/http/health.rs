//! Health, split as the AWS Builders' Library recommends:
//! - `GET /health/live`: liveness, shallow. 200 while the process can serve; touches nothing else, so a
//!   database outage never gets healthy processes restarted.
//! - `GET /health/ready`: readiness for the load balancer, shallow. 503 while draining or saturated (every
//!   request slot taken, so the next page or API request would be shed), else 200. It never touches the
//!   database: a database blip fails every instance's deep check at once, and a load balancer acting on
//!   that would take the whole fleet out (or ECS replace it) for a problem no instance can fix.
//! - `GET /health`: readiness, deep. Checks the store within 1 s; 503 when it does not answer or while
//!   draining. It reports saturation too, without failing on it. The result is cached for up to 1 s and
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
use crate::{
    board::Store,
    storage::disk_space::{DiskReport, DiskWatch},
};

const CHECK_DEADLINE: Duration = Duration::from_secs(1);
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The cached deep check.
#[derive(Debug)]
pub struct Readiness {
    stores: Vec<Arc<dyn Store>>,
    last: Mutex<Option<(Instant, bool)>>,
    disks: DiskWatch,
}

impl Readiness {
    /// A readiness check of every store the service needs.
    pub fn new(stores: Vec<Arc<dyn Store>>) -> Self {
        Self {
            stores,
            last: Mutex::new(None),
            disks: DiskWatch::default(),
        }
    }

    /// Also reports the local disks the service writes to (a full one makes `/health` `degraded`).
    pub fn with_disks(mut self, disks: DiskWatch) -> Self {
        self.disks = disks;
        self
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
    /// `healthy`, `degraded` (still 200: a local disk is full, so writes are refused while reads are
    /// served), `unhealthy` or `draining`.
    #[schema(example = "healthy")]
    pub(crate) status: &'static str,
    /// `connected` or `disconnected`.
    #[schema(example = "connected")]
    pub(crate) database: &'static str,
    /// Which store is configured.
    #[schema(example = "sqlite")]
    pub(crate) backend: &'static str,
    /// Whether every request slot is taken (the next page or API request would be shed); `/health/ready`
    /// answers 503 then.
    #[schema(example = false)]
    pub(crate) saturated: bool,
    /// The local disks written to (the SQLite database's, the files directory's, the upload spool's), each
    /// file system once; empty when everything is remote.
    pub(crate) disks: Vec<DiskReport>,
    /// Why the status is not `healthy`, for a person; absent when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Which instance answered.
    pub(crate) instance: String,
    /// Service version.
    pub(crate) version: &'static str,
}

/// The shallow readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadyReport {
    /// `ready`, `draining` or `saturated`.
    #[schema(example = "ready")]
    pub(crate) status: &'static str,
    /// Page and API requests being handled now.
    #[schema(example = 3)]
    pub(crate) requests_in_flight: usize,
    /// `STRATUS_MAX_CONCURRENT_REQUESTS`: at this many, requests are shed and the instance is saturated.
    #[schema(example = 1024)]
    pub(crate) max_concurrent_requests: usize,
    /// Uploads being received now.
    #[schema(example = 1)]
    pub(crate) uploads_in_flight: usize,
    /// `STRATUS_MAX_CONCURRENT_UPLOADS`: at this many, uploads are refused (pages are still served).
    #[schema(example = 64)]
    pub(crate) max_concurrent_uploads: usize,
    /// Which instance answered.
    pub(crate) instance: String,
    /// Service version.
    pub(crate) version: &'static str,
}

/// Readiness for the load balancer (shallow: never the database).
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    responses(
        (status = 200, description = "Ready: serving and a request slot is free", body = ReadyReport),
        (status = 503, description = "Not ready: draining, or saturated (every request slot taken)", body = ReadyReport),
    )
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let capacity = &state.capacity;
    let status = if state.lifecycle.is_draining() {
        "draining"
    } else if capacity.saturated() {
        "saturated"
    } else {
        "ready"
    };
    let report = ReadyReport {
        status,
        requests_in_flight: capacity.requests().in_use(),
        max_concurrent_requests: capacity.requests().size(),
        uploads_in_flight: capacity.uploads().in_use(),
        max_concurrent_uploads: capacity.uploads().size(),
        instance: state.instance.name().to_string(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store((code, Json(report)).into_response())
}

/// Readiness (deep).
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "Ready: the store answers (`degraded`: it does, but a local disk is full and writes are refused)", body = HealthReport),
        (status = 503, description = "Not ready: store down, or draining", body = HealthReport),
    )
)]
pub(crate) async fn readiness(State(state): State<AppState>) -> Response {
    let up = state.readiness.store_is_up().await;
    let draining = state.lifecycle.is_draining();
    let disks = state.readiness.disks.check().await;
    let full: Vec<&DiskReport> = disks.iter().filter(|d| d.status == "full").collect();
    let (status, reason) = match (draining, up, full.is_empty()) {
        (true, _, _) => (
            "draining",
            Some("shutting down: finishing requests in flight".to_owned()),
        ),
        (false, false, _) => ("unhealthy", Some("the store does not answer".to_owned())),
        (false, true, true) => ("healthy", None),
        (false, true, false) => (
            "degraded",
            Some(format!(
                "disk full ({}): new submissions, visits and uploads are refused until space is freed; reads are served",
                full.iter()
                    .map(|d| format!("{} at {}, {} bytes free", d.holds, d.path, d.free_bytes))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        ),
    };
    let report = HealthReport {
        status,
        database: if up { "connected" } else { "disconnected" },
        backend: state.store.backend(),
        saturated: state.capacity.saturated(),
        disks,
        reason,
        instance: state.instance.name().to_string(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let code = if matches!(status, "healthy" | "degraded") {
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
