//! The service's key metrics as CloudWatch Embedded Metric Format (EMF) documents on stdout, once a
//! minute, when `STRATUS_METRICS_EMF` is on: CloudWatch Logs turns them into metrics with no agent and no
//! scraper (nothing in AWS scrapes `/metrics`).
//!
//! The contract the dashboard and alarms rely on (namespace `STRATUS_METRICS_NAMESPACE`, dimension
//! `Service` = `STRATUS_SERVICE_NAME`):
//! - one service document, dimensions `[["Service"]]`: `Requests`, `Http4xx`, `Http5xx` (Count),
//!   `LatencyP50`, `LatencyP90`, `LatencyP99` (Milliseconds, only when there were requests),
//!   `StoreErrors`, `LoadShed` (Count) and `VisitBatchSize` (Count: the mean batch, only when visits were
//!   counted);
//! - one document per route seen in the interval, dimensions `[["Service","Route"]]` with `Route` =
//!   `"GET /api/v1/submissions"` (method and route template; every unmatched request is `unmatched`):
//!   `Requests`, `Http5xx` (Count), `LatencyP99` (Milliseconds).
//!
//! Counts are the interval's own (CloudWatch sums them). Latencies go into a fixed log-linear histogram
//! per route (16 steps per power of two, so a percentile is off by at most 3 %; 400 counters, 3.2 KB), a
//! few relaxed atomic increments per request and nothing kept past the interval. The routes are bounded
//! (method labels times route templates, capped at [`MAX_ROUTES`]). Each document is one line written
//! through the log sink (`super::sink::write_raw`), never inside a log line nor between the bytes of one.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::request::UNMATCHED;
use crate::config::MetricsSettings;

/// The most routes with documents of their own; past it, requests count under `other`.
pub const MAX_ROUTES: usize = 256;

static ROUTES: OnceLock<Arc<Routes>> = OnceLock::new();

// Events counted wherever they happen, always (a relaxed add each); the writer takes them per interval.
static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);
static LOAD_SHED: AtomicU64 = AtomicU64::new(0);
static VISIT_BATCHES: AtomicU64 = AtomicU64::new(0);
static VISITS_BATCHED: AtomicU64 = AtomicU64::new(0);

pub(super) fn store_error() {
    STORE_ERRORS.fetch_add(1, Relaxed);
}

pub(super) fn load_shed() {
    LOAD_SHED.fetch_add(1, Relaxed);
}

pub(super) fn visit_batch(size: u64) {
    VISIT_BATCHES.fetch_add(1, Relaxed);
    VISITS_BATCHED.fetch_add(size, Relaxed);
}

/// Starts writing EMF documents when `settings` ask for it (once per process; later calls do nothing).
/// Must be called inside a Tokio runtime. The interval still open when the runtime stops is written then.
pub fn start(settings: &MetricsSettings) {
    if !settings.emf || ROUTES.get().is_some() {
        return;
    }
    let routes = Arc::clone(ROUTES.get_or_init(|| Arc::new(Routes::new())));
    let writer = Writer {
        routes,
        namespace: settings.namespace.clone(),
        service: settings.service.clone(),
    };
    let every = settings.emf_every;
    tokio::spawn(async move {
        // Dropped with the runtime at exit: the last, partial interval is written then.
        let writer = FinalWrite(writer);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            writer.0.write();
        }
    });
}

/// The per-route statistics, when EMF is on.
pub fn routes() -> Option<Arc<Routes>> {
    ROUTES.get().cloned()
}

struct FinalWrite(Writer);

impl Drop for FinalWrite {
    fn drop(&mut self) {
        self.0.write();
    }
}

/// Every route's statistics, by method label and route template.
#[derive(Debug)]
pub struct Routes {
    known: Mutex<Known>,
    unmatched: Arc<RouteStats>,
    other: Arc<RouteStats>,
}

#[derive(Debug, Default)]
struct Known {
    by_method: HashMap<&'static str, HashMap<Box<str>, Arc<RouteStats>>>,
    count: usize,
}

impl Routes {
    fn new() -> Self {
        Self {
            known: Mutex::new(Known::default()),
            unmatched: Arc::new(RouteStats::new(UNMATCHED.into())),
            other: Arc::new(RouteStats::new("other".into())),
        }
    }

    /// The statistics of `method` (a fixed label) on `route` (a template, or `unmatched`). Called once per
    /// (method, route, status) by the request layer, which keeps the handle.
    pub fn stats(&self, method: &'static str, route: &str) -> Arc<RouteStats> {
        if route == UNMATCHED {
            return Arc::clone(&self.unmatched);
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = known.by_method.get(method).and_then(|m| m.get(route)) {
            return Arc::clone(found);
        }
        if known.count >= MAX_ROUTES {
            return Arc::clone(&self.other);
        }
        let stats = Arc::new(RouteStats::new(format!("{method} {route}").into()));
        known
            .by_method
            .entry(method)
            .or_default()
            .insert(route.into(), Arc::clone(&stats));
        known.count += 1;
        stats
    }

    fn all(&self) -> Vec<Arc<RouteStats>> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = known
            .by_method
            .values()
            .flat_map(HashMap::values)
            .cloned()
            .collect();
        drop(known);
        all.push(Arc::clone(&self.unmatched));
        all.push(Arc::clone(&self.other));
        all
    }
}

/// One route's counts in the current interval.
#[derive(Debug)]
pub struct RouteStats {
    name: Box<str>,
    requests: AtomicU64,
    http4xx: AtomicU64,
    http5xx: AtomicU64,
    latency: Histogram,
}

impl RouteStats {
    fn new(name: Box<str>) -> Self {
        Self {
            name,
            requests: AtomicU64::new(0),
            http4xx: AtomicU64::new(0),
            http5xx: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }

    /// Counts one answered request.
    pub fn record(&self, status: StatusCode, elapsed: Duration) {
        self.requests.fetch_add(1, Relaxed);
        if status.is_client_error() {
            self.http4xx.fetch_add(1, Relaxed);
        } else if status.is_server_error() {
            self.http5xx.fetch_add(1, Relaxed);
        }
        self.latency.record(elapsed);
    }

    /// Takes the interval's counts, leaving zeros.
    fn take(&self) -> Taken {
        Taken {
            requests: self.requests.swap(0, Relaxed),
            http4xx: self.http4xx.swap(0, Relaxed),
            http5xx: self.http5xx.swap(0, Relaxed),
            latency: self.latency.take(),
        }
    }
}

struct Taken {
    requests: u64,
    http4xx: u64,
    http5xx: u64,
    latency: Vec<u64>,
}

/// Sub-buckets per power of two: 2^4 = 16, so a bucket is at most 1/16 of its values wide.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// The highest power of two told apart, in microseconds: 2^27 µs is 134 s; slower requests share the
/// last bucket.
const MAX_EXP: u32 = 27;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB as usize;

/// Latencies in microseconds, log-linear: exact below 16 µs, then 16 buckets per power of two.
#[derive(Debug)]
struct Histogram(Box<[AtomicU64]>);

impl Histogram {
    fn new() -> Self {
        Self((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }

    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(bucket) = self.0.get(bucket_of(micros)) {
            bucket.fetch_add(1, Relaxed);
        }
    }

    fn take(&self) -> Vec<u64> {
        self.0
            .iter()
            .map(|bucket| bucket.swap(0, Relaxed))
            .collect()
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let exp = 63 - micros.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (micros >> (exp - SUB_BITS)) & (SUB - 1);
    ((u64::from(exp - SUB_BITS + 1)) * SUB + sub) as usize
}

/// The middle of a bucket, in microseconds.
fn middle_of(bucket: usize) -> f64 {
    let (bucket, sub) = (bucket as u64, SUB);
    if bucket < sub {
        return bucket as f64;
    }
    let (group, step) = (bucket / sub, bucket % sub);
    let width = 1u64 << (group - 1);
    let low = (sub + step) << (group - 1);
    low as f64 + (width - 1) as f64 / 2.0
}

/// The `q` quantile (0 < q <= 1) of a histogram's counts, in milliseconds rounded to the microsecond;
/// `None` when empty.
fn quantile_ms(buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bucket, &count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(middle_of(bucket).round() / 1000.0);
        }
    }
    None
}

struct Writer {
    routes: Arc<Routes>,
    namespace: String,
    service: String,
}

impl Writer {
    /// Writes the interval's documents and starts the next interval.
    fn write(&self) {
        let mut out = String::new();
        for document in self.documents(now_ms()) {
            out.push_str(&document.to_string());
            out.push('\n');
        }
        super::sink::write_raw(out.as_bytes());
    }

    fn documents(&self, timestamp: u64) -> Vec<Value> {
        let mut service = Taken {
            requests: 0,
            http4xx: 0,
            http5xx: 0,
            latency: vec![0; BUCKETS],
        };
        let mut documents = Vec::new();
        let mut routes: Vec<(Box<str>, Taken)> = self
            .routes
            .all()
            .iter()
            .map(|stats| (stats.name.clone(), stats.take()))
            .filter(|(_, taken)| taken.requests > 0)
            .collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, taken) in &routes {
            service.requests += taken.requests;
            service.http4xx += taken.http4xx;
            service.http5xx += taken.http5xx;
            for (sum, count) in service.latency.iter_mut().zip(&taken.latency) {
                *sum += count;
            }
        }
        let mut metrics = vec![
            ("Requests", "Count", Some(service.requests as f64)),
            ("Http4xx", "Count", Some(service.http4xx as f64)),
            ("Http5xx", "Count", Some(service.http5xx as f64)),
            (
                "LatencyP50",
                "Milliseconds",
                quantile_ms(&service.latency, 0.5),
            ),
            (
                "LatencyP90",
                "Milliseconds",
                quantile_ms(&service.latency, 0.9),
            ),
            (
                "LatencyP99",
                "Milliseconds",
                quantile_ms(&service.latency, 0.99),
            ),
            (
                "StoreErrors",
                "Count",
                Some(STORE_ERRORS.swap(0, Relaxed) as f64),
            ),
            ("LoadShed", "Count", Some(LOAD_SHED.swap(0, Relaxed) as f64)),
        ];
        let (batches, batched) = (
            VISIT_BATCHES.swap(0, Relaxed),
            VISITS_BATCHED.swap(0, Relaxed),
        );
        metrics.push((
            "VisitBatchSize",
            "Count",
            (batches > 0).then(|| batched as f64 / batches as f64),
        ));
        documents.push(self.document(timestamp, None, &metrics));
        for (name, taken) in &routes {
            let metrics = [
                ("Requests", "Count", Some(taken.requests as f64)),
                ("Http5xx", "Count", Some(taken.http5xx as f64)),
                (
                    "LatencyP99",
                    "Milliseconds",
                    quantile_ms(&taken.latency, 0.99),
                ),
            ];
            documents.push(self.document(timestamp, Some(name), &metrics));
        }
        documents
    }

    /// One EMF document: the `_aws` directive naming the metrics present, and their values.
    fn document(
        &self,
        timestamp: u64,
        route: Option<&str>,
        metrics: &[(&str, &str, Option<f64>)],
    ) -> Value {
        let present = || {
            metrics
                .iter()
                .filter_map(|(n, u, v)| v.map(|v| (*n, *u, v)))
        };
        let dimensions: Vec<&str> = match route {
            None => vec!["Service"],
            Some(_) => vec!["Service", "Route"],
        };
        let definitions: Vec<Value> = present()
            .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
            .collect();
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert("Service".into(), Value::from(self.service.as_str()));
        if let Some(route) = route {
            document.insert("Route".into(), Value::from(route));
        }
        for (name, _, value) in present() {
            // Counts are whole numbers: written as integers.
            let value = if value.fract() == 0.0 && value.abs() < 9e15 {
                Value::from(value as i64)
            } else {
                Value::from(value)
            };
            document.insert(name.into(), value);
        }
        Value::Object(document)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency_and_their_middles_are_within_3_percent() {
        let mut last = 0;
        for micros in (0..20_000u64).chain([1 << 20, (1 << 27) - 1]) {
            let bucket = bucket_of(micros);
            assert!(bucket >= last && bucket < BUCKETS, "{micros}");
            last = bucket;
            let middle = middle_of(bucket);
            assert!(
                (middle - micros as f64).abs() <= micros as f64 / 32.0 + 0.5,
                "{micros} µs in a bucket whose middle is {middle}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(1 << 28), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_counts() {
        let histogram = Histogram::new();
        for ms in 1..=100u64 {
            histogram.record(Duration::from_millis(ms));
        }
        let counts = histogram.take();
        let near = |q: f64, want: f64| {
            let got = quantile_ms(&counts, q).unwrap_or(f64::NAN);
            assert!(
                (got - want).abs() <= want * 0.04,
                "p{q}: {got} ms, not ~{want}"
            );
            // Never a long tail of decimals.
            assert_eq!((got * 1000.0).round() / 1000.0, got);
        };
        near(0.5, 50.0);
        near(0.9, 90.0);
        near(0.99, 99.0);
        assert_eq!(quantile_ms(&histogram.take(), 0.5), None, "taken: empty");
    }

    #[test]
    fn documents_follow_the_contract() {
        let writer = Writer {
            routes: Arc::new(Routes::new()),
            namespace: "Ns".into(),
            service: "svc".into(),
        };
        let get = writer.routes.stats("GET", "/api/v1/submissions");
        assert!(Arc::ptr_eq(
            &get,
            &writer.routes.stats("GET", "/api/v1/submissions")
        ));
        get.record(StatusCode::OK, Duration::from_millis(2));
        get.record(StatusCode::SERVICE_UNAVAILABLE, Duration::from_millis(4));
        writer
            .routes
            .stats("POST", UNMATCHED)
            .record(StatusCode::NOT_FOUND, Duration::from_micros(300));
        let documents = writer.documents(1_700_000_000_000);
        assert_eq!(documents.len(), 3, "{documents:?}");
        let service = &documents[0];
        let directive = &service["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(service["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "Ns");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(service["Service"], "svc");
        assert_eq!(service["Requests"], 3);
        assert_eq!(service["Http4xx"], 1);
        assert_eq!(service["Http5xx"], 1);
        assert!(
            service["LatencyP99"]
                .as_f64()
                .is_some_and(|ms| ms > 3.8 && ms < 4.2)
        );
        assert!(service.get("VisitBatchSize").is_none() || service["VisitBatchSize"].is_number());
        let route = documents
            .iter()
            .find(|d| d["Route"] == "GET /api/v1/submissions")
            .expect("the route's document");
        assert_eq!(
            route["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Route"]])
        );
        assert_eq!(route["Requests"], 2);
        assert_eq!(route["Http5xx"], 1);
        assert!(documents.iter().any(|d| d["Route"] == UNMATCHED));
        // Every metric named in the directive is in the document, and nothing else is left to guess.
        for document in &documents {
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .expect("metrics")
            {
                let name = metric["Name"].as_str().expect("a name");
                assert!(document[name].is_number(), "{name} in {document}");
            }
        }
        // The next interval starts from zero and names no route that saw nothing.
        let next = writer.documents(1_700_000_060_000);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0]["Requests"], 0);
        assert!(next[0].get("LatencyP50").is_none());
    }

    #[test]
    fn routes_are_capped() {
        let routes = Routes::new();
        for i in 0..MAX_ROUTES + 10 {
            drop(routes.stats("GET", &format!("/r/{i}")));
        }
        let extra = routes.stats("GET", "/one/more");
        assert_eq!(&*extra.name, "other");
    }
}
