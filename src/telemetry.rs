//! Logs and metrics set-up.
//!
//! Logs are JSON lines on stdout by default (one per request, see `http::middleware`), human-readable with
//! `STRATUS_LOG_FORMAT=pretty`. Metrics go to one process-wide Prometheus recorder rendered at `/metrics`,
//! and, with `STRATUS_METRICS_EMF=1`, the key ones to stdout as CloudWatch EMF documents ([`emf`]).

use std::{io::IsTerminal as _, sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{
    EnvFilter, fmt::MakeWriter, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::config::{LogFormat, LogSettings};

pub mod emf;
mod json_lines;
mod process;
pub mod request;
mod sink;
pub mod trace;

pub use sink::{BufferedStdout, flush_logs};

/// Installs the global log subscriber, writing to `sink`. A second call is a no-op (tests start many
/// applications in one process).
pub fn init_logs<W>(settings: &LogSettings, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|err| {
        eprintln!(
            "RUST_LOG `{}` is not a valid filter ({err}); using `info`",
            settings.filter
        );
        EnvFilter::new("info")
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(json_lines::JsonFields)
                    .event_format(json_lines::JsonLines)
                    .with_writer(sink),
            )
            .try_init(),
        // Colour only for a person at a terminal: codes in a file or a log pipe are noise.
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour())
                    .with_writer(sink),
            )
            .try_init(),
    };
    // Err means a subscriber is already installed: keep it, and its kind of request context.
    if result.is_ok() {
        request::set_request_spans(settings.format == LogFormat::Pretty);
    }
}

/// Whether pretty lines get ANSI colours: stdout is a terminal, and `NO_COLOR` (no-color.org) is not set,
/// which tracing-subscriber's own default also honours.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Latency buckets in seconds: fine below 10 ms, where this service should live.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their summaries when nobody scrapes `/metrics`.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide metrics recorder, installed on first use, with its upkeep thread.
///
/// A recorder from `build_recorder` keeps every histogram sample until the next render or
/// `run_upkeep`; where `/metrics` is never scraped (it is off the public path) that grows by 8 bytes per
/// request forever. So one small thread runs the upkeep every few seconds, whatever the runtime.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                // Only an empty bucket list fails, and ours is a non-empty constant.
                .expect("latency buckets are a non-empty constant");
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe_metrics();
            process::update();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(METRICS_UPKEEP_EVERY);
                        upkeep.run_upkeep();
                        process::update();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error.message = %err, "no metrics upkeep thread; histograms grow until scraped");
            }
            handle
        })
        .clone()
}

/// Handles of the service's own counters, resolved once: `metrics::counter!` looks its key up in the
/// recorder on every call, which showed in `GET /`'s profile.
#[derive(Debug, Clone)]
pub struct Counters {
    /// `stratus_visits_total`.
    pub visits: metrics::Counter,
    /// `stratus_submissions_created_total`.
    pub submissions_created: metrics::Counter,
}

impl Counters {
    /// Resolves the handles against the process's recorder, installing it first if need be.
    pub fn new() -> Self {
        drop(metrics_handle());
        Self {
            visits: metrics::counter!("stratus_visits_total"),
            submissions_created: metrics::counter!("stratus_submissions_created_total"),
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

fn describe_metrics() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method, route and status"
    );
    metrics::describe_gauge!("http_requests_in_flight", "HTTP requests being handled now");
    metrics::describe_counter!("stratus_submissions_created_total", "Submissions stored");
    metrics::describe_counter!("stratus_visits_total", "Page visits counted");
    metrics::describe_counter!(
        "stratus_store_errors_total",
        "Store operations that failed, by operation"
    );
    metrics::describe_counter!(
        "stratus_load_shed_total",
        "Requests refused with 503 because of overload or timeout, by reason"
    );
    metrics::describe_counter!(
        "stratus_visit_batches_total",
        "Statements that counted visits (visits / batches: the mean batch)"
    );
    metrics::describe_counter!(
        "stratus_disk_full_refusals_total",
        "Writes and uploads refused with 503/507 because a disk was full"
    );
    metrics::describe_counter!("stratus_posts_created_total", "Blog posts created");
    metrics::describe_counter!("stratus_files_uploaded_total", "Files uploaded");
    metrics::describe_counter!("stratus_logins_total", "Admin sign-ins, by outcome");
    metrics::describe_gauge!("stratus_build_info", "Always 1; labels carry the version");
    metrics::gauge!("stratus_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process::describe();
    // Every counter present from the start, with each label value known in advance, so a dashboard or
    // an alarm sees 0 rather than "no data" (and `rate()` sees the first increment).
    for name in [
        "stratus_submissions_created_total",
        "stratus_visits_total",
        "stratus_visit_batches_total",
        "stratus_posts_created_total",
        "stratus_files_uploaded_total",
        "stratus_disk_full_refusals_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
    for operation in crate::storage::failures::known_operations() {
        metrics::counter!("stratus_store_errors_total", "operation" => operation).absolute(0);
    }
    for reason in LOAD_SHED_REASONS {
        metrics::counter!("stratus_load_shed_total", "reason" => *reason).absolute(0);
    }
    for outcome in ["success", "failure", "throttled"] {
        metrics::counter!("stratus_logins_total", "outcome" => outcome).absolute(0);
    }
}

/// The `reason` labels of `stratus_load_shed_total`.
pub const LOAD_SHED_REASONS: &[&str] = &["overloaded", "uploads", "timeout"];

/// Counts a request refused with 503 (`reason`: one of [`LOAD_SHED_REASONS`]).
pub fn count_load_shed(reason: &'static str) {
    metrics::counter!("stratus_load_shed_total", "reason" => reason).increment(1);
    emf::load_shed();
}

/// Counts a failed store operation (`operation`: see `storage::failures`).
pub fn count_store_error(operation: &'static str) {
    metrics::counter!("stratus_store_errors_total", "operation" => operation).increment(1);
    emf::store_error();
}

/// Counts one statement that counted `size` visits.
pub fn record_visit_batch(size: u64) {
    metrics::counter!("stratus_visit_batches_total").increment(1);
    emf::visit_batch(size);
}
