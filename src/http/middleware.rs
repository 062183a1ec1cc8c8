//! Cross-cutting request handling: request ids and trace context, one log line per request, metrics,
//! security headers, instance and draining headers, problem bodies for bare 405s, and the answers for shed
//! or timed-out requests.

use std::{
    collections::HashMap,
    convert::Infallible,
    panic::AssertUnwindSafe,
    sync::{Arc, RwLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt as _, future::BoxFuture};
use ipnet::IpNet;
use metrics::{Counter, Gauge, Histogram};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::{AppState, error::ApiError, error::HtmlError, error::Problem, extract::ClientContext};
use crate::{
    app::{instance::Instance, lifecycle::Lifecycle},
    storage::with_deadline,
    telemetry::{
        self, emf,
        request::{self, RequestContext},
        trace::{TRACEPARENT, TraceContext, X_AMZN_TRACE_ID},
    },
};

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Served-By`: which instance answered.
pub static X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

pub use crate::telemetry::request::{current_instance, current_request_id};

/// An incoming id is kept when it looks like an id (1-128 of `A-Z a-z 0-9 . _ : -`), so ids from the load
/// balancer or a client tie logs together; anything else (too long, spaces, control characters that would
/// forge log lines) is replaced by a fresh UUID.
fn acceptable_request_id(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then_some(text)
}

/// What the request layer needs from the application state, built once per router: cloning the whole
/// [`AppState`] (a dozen reference counts, a cancellation token's lock) for every request showed in the
/// profile.
#[derive(Debug)]
pub struct Observer {
    proxies: Arc<[IpNet]>,
    instance: Instance,
    lifecycle: Lifecycle,
    /// The current instance name and its `X-Served-By` value, built again only when the name changes.
    served_by: RwLock<Option<(Arc<str>, HeaderValue)>>,
    metrics: RouteMetrics,
}

impl Observer {
    /// Takes what it needs from `state`. The metrics recorder must be installed already (it is:
    /// `state.metrics` is its handle), since the metric handles are resolved against it once and kept.
    pub fn new(state: &AppState) -> Self {
        Self::from_parts(
            Arc::clone(&state.proxies),
            state.instance.clone(),
            state.lifecycle.clone(),
        )
    }

    fn from_parts(proxies: Arc<[IpNet]>, instance: Instance, lifecycle: Lifecycle) -> Self {
        Self {
            proxies,
            instance,
            lifecycle,
            served_by: RwLock::new(None),
            metrics: RouteMetrics::new(),
        }
    }

    /// The `X-Served-By` value for `instance`, from the cache while the name is unchanged.
    fn served_by(&self, instance: &Arc<str>) -> Option<HeaderValue> {
        if let Ok(cached) = self.served_by.read()
            && let Some((name, value)) = cached.as_ref()
            && Arc::ptr_eq(name, instance)
        {
            return Some(value.clone());
        }
        let value = HeaderValue::from_str(instance).ok()?;
        if let Ok(mut cached) = self.served_by.write() {
            *cached = Some((Arc::clone(instance), value.clone()));
        }
        Some(value)
    }
}

/// The tower layer around every route: [`observe`] (request id and context, log line, metrics, response
/// headers, a panicking handler's 500) and, for the routes that do work, [`bound`] (concurrency limit,
/// deadline) inside it.
///
/// One layer, and not axum's `from_fn_with_state` twice: that split and rebuilt the request for its
/// extractors, cloned the state and boxed the rest of the stack as a `Next` service on every request, and
/// each `Router::layer` puts one more boxed `Route` between the connection and the handler. Here each
/// route has one wrapper and one boxed future.
#[derive(Debug, Clone)]
pub struct RequestLayer {
    observer: Arc<Observer>,
    bounds: Option<Arc<Bounds>>,
}

impl RequestLayer {
    /// Observes every request; bounds them too when `bounds` is given.
    pub fn new(observer: Arc<Observer>, bounds: Option<Bounds>) -> Self {
        Self {
            observer,
            bounds: bounds.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observed {
            layer: self.clone(),
            inner,
        }
    }
}

/// A route wrapped by [`RequestLayer`].
#[derive(Debug, Clone)]
pub struct Observed<S> {
    layer: RequestLayer,
    inner: S,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The service that was polled ready answers this request; a clone stays for the next one.
        let spare = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, spare);
        let RequestLayer { observer, bounds } = self.layer.clone();
        Box::pin(observe(observer, bounds, request, ready).map(Ok))
    }
}

/// The one layer around every route, outermost: gives the request its id and context (task-local, for
/// the handlers' logs and error bodies: `telemetry::request`), then writes one log line (status, latency),
/// counts it in the metrics (count, latency, in flight, by method, route and status) and adds the id,
/// instance and security headers to the response.
///
/// One layer instead of three: each layer boxed its future and cloned the state, and the route label was
/// built as a `String` twice per request.
async fn observe<S>(
    observer: Arc<Observer>,
    bounds: Option<Arc<Bounds>>,
    request: Request,
    next: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let request_id: Arc<str> = match request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable_request_id)
    {
        Some(id) => Arc::from(id),
        None => {
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            Arc::from(&*new_request_id().hyphenated().encode_lower(&mut text))
        }
    };
    // Echoed on the response. Not added to the request's own headers: nothing reads it there (handlers
    // use the context), and the insert outgrew the map hyper sized for the headers it parsed.
    let id_header = HeaderValue::from_str(&request_id).ok();
    let https = ClientContext::from_request(&request, &observer.proxies).https;
    let instance = observer.instance.name();
    // The matched template (`/api/v1/users/{username}/submissions`), never the raw path, so labels stay
    // few. `MatchedPath` is a reference count: no copy of the text; so is the `Uri` (the path is logged).
    let context = RequestContext {
        request_id,
        instance: Arc::clone(&instance),
        method: request.method().clone(),
        route: request.extensions().get::<MatchedPath>().cloned(),
        uri: request.uri().clone(),
        trace: TraceContext::from_headers(request.headers()),
    };
    // Only the pretty format, which shows spans but not the task-local, gets a span.
    let span = if request::request_spans() {
        tracing::info_span!(
            "request",
            method = %context.method,
            route = context.route(),
            path = context.path(),
            request_id = &*context.request_id,
            trace_id = context.trace.trace_id(),
        )
    } else {
        tracing::Span::none()
    };

    let in_flight = InFlight::start(&observer.metrics.in_flight);
    // A panicking handler is answered 500 here, inside the request's context so the error's own log line
    // carries its id, and is logged and counted like any other answer. (tower-http's `CatchPanicLayer` did
    // this as a layer of its own, which boxed every response body once more.)
    let handled = async move {
        if let Some(detail) = super::host_problem(&request) {
            return ApiError::BadRequest(detail.into()).into_response();
        }
        match AssertUnwindSafe(bound(bounds, request, next))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response(),
        }
    };
    let mut response =
        tracing::Instrument::instrument(request::scope(context.clone(), handled), span.clone())
            .await;
    drop(in_flight);
    let elapsed = started.elapsed();
    let status = response.status();
    observer
        .metrics
        .record(&context.method, context.route(), status, elapsed);
    let traceparent = context.trace.traceparent_header();
    let amzn_trace_id = context.trace.amzn_trace_id().cloned();
    span.in_scope(|| {
        request::sync_scope(context, || {
            // Whole microseconds, and milliseconds rounded to them: `latency_ms` reads `0.089`, never
            // `0.08898199999999999` (a double of whole microseconds over 1000 prints in at most 3 decimals).
            let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            let (status, latency_ms) = (status.as_u16(), latency_us as f64 / 1000.0);
            // `message = ".."` records a `&str`; a format string would go through `fmt` on every request.
            if status >= 500 {
                tracing::warn!(message = "request finished", status, latency_us, latency_ms);
            } else {
                tracing::info!(message = "request finished", status, latency_us, latency_ms);
            }
        });
    });

    let headers = response.headers_mut();
    // One growth of the map for everything added below, not one per size it passes through.
    headers.reserve(SECURITY_HEADERS.len() + 6);
    if let Some(value) = id_header {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    if let Some(value) = traceparent {
        headers.insert(TRACEPARENT.clone(), value);
    }
    if let Some(value) = amzn_trace_id {
        headers.insert(X_AMZN_TRACE_ID.clone(), value);
    }
    if let Some(value) = observer.served_by(&instance) {
        headers.insert(X_SERVED_BY.clone(), value);
    }
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if observer.lifecycle.is_draining() {
        // Ask keep-alive clients (a load balancer included) to reconnect: the next connection lands on an
        // instance that is not going away.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Gives a 405 without a body (axum's answer for a method a route does not have) the problem+json body
/// every other error has, naming the methods of its `Allow` header, which stays.
///
/// Called by `app::server` on every answer, not by [`observe`]: axum adds `Allow` around the route's
/// layers, so only there is it known. The request id is the one [`observe`] put on the response.
pub fn problem_for_bare_405(mut response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        method_not_allowed(&mut response);
    }
    response
}

fn method_not_allowed(response: &mut Response) {
    let request_id = response
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let allowed = response
        .headers()
        .get(header::ALLOW)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty());
    let detail = match allowed {
        Some(allowed) => {
            format!(
                "This address does not answer that method; it answers {allowed} (see the Allow header)."
            )
        }
        None => "This address does not answer that method.".to_owned(),
    };
    let problem = Problem {
        kind: "about:blank",
        title: "Method Not Allowed",
        status: StatusCode::METHOD_NOT_ALLOWED.as_u16(),
        detail,
        request_id,
        errors: Vec::new(),
    };
    let Ok(body) = serde_json::to_vec(&problem) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = axum::body::Body::from(body);
}

/// Counts a request in flight until dropped, so a request whose future is dropped (its client went away)
/// does not stay counted forever.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn start(gauge: &'a Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The most (method, route, status) handles kept. Every label comes from a fixed set (see
/// [`method_label`]; routes are templates or `unmatched`; statuses are the handlers'), so real traffic
/// stays far below; past it requests are still counted, just not cached.
const MAX_CACHED_HANDLES: usize = 512;

/// The `method` label: the methods of RFC 9110 and PATCH as themselves, anything else `_OTHER`.
///
/// hyper accepts any token as a method, as long as the request head fits its buffer, so the method as
/// sent would let a client mint a new series (a counter and a histogram of 17 lines) per request: 20,000
/// invented methods grew `/metrics` to 104 MB, and 2,000-character ones to 856 MB.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}

/// The request metrics' handles, resolved once per (method, route, status) instead of per request: the
/// `metrics!` macros build the label strings, hash the key and look it up in the registry on every call.
///
/// Handles stay valid as long as the recorder keeps the metric, which the Prometheus recorder here always
/// does (no idle timeout is configured in `telemetry`).
#[derive(Debug)]
struct RouteMetrics {
    in_flight: Gauge,
    /// By route template, then a short list of (method, status).
    by_route: RwLock<HashMap<String, Vec<RouteHandles>>>,
    /// The CloudWatch EMF statistics, when they are written (`STRATUS_METRICS_EMF`).
    emf: Option<Arc<emf::Routes>>,
}

#[derive(Debug)]
struct RouteHandles {
    method: &'static str,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
    emf: Option<Arc<emf::RouteStats>>,
}

impl RouteHandles {
    fn record(&self, status: StatusCode, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
        if let Some(emf) = &self.emf {
            emf.record(status, elapsed);
        }
    }
}

impl RouteMetrics {
    fn new() -> Self {
        Self {
            in_flight: metrics::gauge!("http_requests_in_flight"),
            by_route: RwLock::new(HashMap::new()),
            emf: emf::routes(),
        }
    }

    /// Counts one answered request and its latency. `route` is a route template or `unmatched`, never a
    /// path as sent.
    fn record(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        if let Ok(by_route) = self.by_route.read()
            && let Some(found) = by_route.get(route).and_then(|list| {
                list.iter()
                    .find(|h| h.status == status && h.method == method)
            })
        {
            found.record(status, elapsed);
            return;
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_u16().to_string()),
        ];
        let handles = RouteHandles {
            method,
            status,
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
            emf: self.emf.as_ref().map(|routes| routes.stats(method, route)),
        };
        handles.record(status, elapsed);
        if let Ok(mut by_route) = self.by_route.write() {
            let cached: usize = by_route.values().map(Vec::len).sum();
            if cached < MAX_CACHED_HANDLES {
                let list = by_route.entry(route.to_owned()).or_default();
                if !list
                    .iter()
                    .any(|h| h.status == status && h.method == method)
                {
                    list.push(handles);
                }
            }
        }
    }
}

/// A random (version 4) UUID from the thread's CSPRNG. `Uuid::new_v4` asks the kernel (`getrandom`) on
/// every call: one system call per request, for an id that only has to be unique.
fn new_request_id() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Sent on every response. The CSP allows no inline script or style at all: pages load one CSS file and
/// one script from `/static`.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// The request slots of the routes that do work: one pool for pages and the API, and a smaller one of
/// its own for uploads, whose bodies may take minutes to arrive. A stalled upload then holds an upload
/// slot, never one the board or the blog are served from.
#[derive(Debug, Clone)]
pub struct Capacity {
    requests: Pool,
    uploads: Pool,
}

/// One pool of slots: a permit per request that may run at once.
#[derive(Debug, Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    /// Which answer a request that finds the pool full gets.
    full: Shed,
}

impl Pool {
    fn new(size: usize, full: Shed) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            full,
        }
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.permits.available_permits())
    }

    /// How many slots there are.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Capacity {
    /// `requests` slots for pages and the API, `uploads` for uploads.
    pub fn new(requests: usize, uploads: usize) -> Self {
        Self {
            requests: Pool::new(requests, Shed::Overloaded),
            uploads: Pool::new(uploads, Shed::UploadsFull),
        }
    }

    /// The pool of pages and the API.
    pub fn requests(&self) -> &Pool {
        &self.requests
    }

    /// The pool of uploads.
    pub fn uploads(&self) -> &Pool {
        &self.uploads
    }

    /// Whether every request slot is taken, so the next page or API request would be shed: what
    /// readiness reports as saturated. A full upload pool is not: pages are still served.
    pub fn saturated(&self) -> bool {
        self.requests.permits.available_permits() == 0
    }
}

/// The limits of the routes that do work: the pool their slot comes from, and each request's budget.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// The pool of slots this route takes one from.
    pub pool: Pool,
    /// When the request must be answered: store calls give up then (`storage::with_deadline`).
    pub budget: Duration,
    /// How much longer a write already under way may take to report its real outcome (the statement
    /// timeout); after budget + grace the request is abandoned whatever it is doing.
    pub grace: Duration,
}

/// With `bounds` (the routes that do work): sheds a request at once with 503 + `Retry-After` when its pool
/// is full (never queueing without bound), gives its store calls a deadline, and abandons it with 503
/// after budget + grace. Without (health, metrics, assets): just answers it.
///
/// One function instead of tower's `HandleError` + `LoadShed` + `GlobalConcurrencyLimit` + `Timeout` +
/// a deadline layer: the same behaviour, one boxed future and one timer per request instead of five
/// layers of service plumbing.
async fn bound<S>(bounds: Option<Arc<Bounds>>, request: Request, mut next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Some(bounds) = bounds else {
        let Ok(response) = next.call(request).await;
        return response;
    };
    let api = request.uri().path().starts_with("/api/");
    let Ok(_permit) = bounds.pool.permits.try_acquire() else {
        let unread_body = has_body(&request);
        let mut response = shed(bounds.pool.full, api);
        if unread_body {
            // The body is left unread, so the server cannot reuse the connection: say so. Without the
            // header the client sent its next request on a connection the server had closed, and saw a
            // broken pipe instead of this 503 (the fault suite's bad-link fault found it).
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return response;
    };
    let deadline = tokio::time::Instant::now() + bounds.budget;
    match tokio::time::timeout_at(
        deadline + bounds.grace,
        // `call` inside the scope too: whatever a service does when called sees the deadline.
        with_deadline(deadline, async move { next.call(request).await }),
    )
    .await
    {
        Ok(Ok(response)) => response,
        Err(_) => shed(Shed::TimedOut, api),
    }
}

/// Whether `request` carries a body (a declared non-zero length, or a chunked one).
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|length| length.trim() != "0")
}

/// Why a request was answered 503 by [`bound`].
#[derive(Debug, Clone, Copy)]
enum Shed {
    /// Every request slot is taken.
    Overloaded,
    /// Every upload slot is taken.
    UploadsFull,
    /// Over its budget.
    TimedOut,
}

/// How long a client refused for a full upload pool is asked to wait, in seconds: upload slots free up as
/// uploads finish, which takes seconds to minutes, not the second an ordinary request takes.
const UPLOADS_RETRY_AFTER: &str = "10";

/// 503 with `Retry-After`: problem+json for the API, a page for people.
fn shed(why: Shed, api: bool) -> Response {
    let error = match why {
        Shed::Overloaded => {
            telemetry::count_load_shed("overloaded");
            ApiError::Overloaded("The service is busy right now. Please try again in a second.")
        }
        Shed::UploadsFull => {
            telemetry::count_load_shed("uploads");
            ApiError::Overloaded(
                "Too many uploads are in progress right now; nothing was stored. Please try again in a few seconds.",
            )
        }
        Shed::TimedOut => {
            telemetry::count_load_shed("timeout");
            ApiError::Overloaded("The request took too long and was stopped. Please try again.")
        }
    };
    let mut response = if api {
        error.into_response()
    } else {
        HtmlError(error).into_response()
    };
    if matches!(why, Shed::UploadsFull) {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(UPLOADS_RETRY_AFTER),
        );
    }
    response
}

/// Unknown paths: problem+json under `/api`, a page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    let error = ApiError::NotFound("There is nothing at this address.".into());
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        HtmlError(error).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics is answered 500 with a problem body carrying the request's id and the usual
    /// headers, and the router keeps answering afterwards.
    #[tokio::test]
    async fn a_panicking_handler_gets_a_500_and_the_router_goes_on() {
        use axum::{Router, body::Body, routing::get};
        use tower::ServiceExt as _;

        let observer = RequestLayer::new(
            Arc::new(Observer::from_parts(
                Arc::from(Vec::new()),
                Instance::from_hostname(),
                Lifecycle::new(),
            )),
            None,
        );
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("the handler fell over");
                    }
                    "never"
                }),
            )
            .route("/fine", get(|| async { "fine" }))
            .layer(observer);

        let request = |path: &str| {
            Request::builder()
                .uri(path)
                .header("host", "localhost")
                .header(&X_REQUEST_ID, "panic-test-1")
                .body(Body::empty())
        };
        let Ok(boom) = request("/boom") else {
            panic!("request")
        };
        let Ok(answer) = router.clone().oneshot(boom).await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            answer.headers().get(&X_REQUEST_ID),
            Some(&HeaderValue::from_static("panic-test-1"))
        );
        assert!(
            answer
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
        let body = axum::body::to_bytes(answer.into_body(), 1 << 16).await;
        let body: serde_json::Value = match body.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(value)) => value,
            other => panic!("not a JSON problem body: {other:?}"),
        };
        assert_eq!(body["status"], 500, "{body}");
        assert_eq!(body["request_id"], "panic-test-1", "{body}");
        assert!(!body.to_string().contains("fell over"), "{body}");

        let Ok(fine) = request("/fine") else {
            panic!("request")
        };
        let Ok(answer) = router.oneshot(fine).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }

    #[test]
    fn known_methods_are_their_own_label_and_invented_ones_share_one() {
        for known in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let method = Method::from_bytes(known.as_bytes()).expect("a method");
            assert_eq!(method_label(&method), known);
        }
        let long = "Q".repeat(2000);
        for invented in ["get", "PURGE", "X1", long.as_str()] {
            let method = Method::from_bytes(invented.as_bytes()).expect("a method");
            assert_eq!(method_label(&method), "_OTHER", "{invented}");
        }
    }

    #[test]
    fn fresh_request_ids_are_version_4_uuids_and_differ() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_eq!(a.get_version(), Some(uuid::Version::Random));
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }

    #[test]
    fn ordinary_request_ids_are_kept() {
        for id in [
            "abc",
            "3f2b1c9e-8d7a-4b6c-9e5f-1a2b3c4d5e6f",
            "Root:1-5759e988.bd862e3f_x",
        ] {
            assert_eq!(
                acceptable_request_id(&HeaderValue::from_static(id)),
                Some(id)
            );
        }
    }

    #[test]
    fn long_or_strange_request_ids_are_replaced() {
        let long = "a".repeat(129);
        for id in [long.as_str(), "has space", "semi;colon", "quote\"", ""] {
            let value = HeaderValue::from_str(id).ok();
            assert_eq!(
                value.as_ref().and_then(acceptable_request_id),
                None,
                "{id:?}"
            );
        }
    }
}
