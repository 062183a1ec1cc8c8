//! Cross-cutting request handling: request ids, one log line per request, metrics, security headers,
//! instance and draining headers, and the answers for shed or timed-out requests.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower::BoxError;

use super::{AppState, error::ApiError, error::HtmlError, extract::ClientContext};

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Served-By`: which instance answered.
pub static X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// What every part of a request's handling may want to know, without threading it through every call.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// This request's id.
    pub request_id: Arc<str>,
    /// The instance answering.
    pub instance: Arc<str>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    CONTEXT
        .try_with(|c| c.request_id.to_string())
        .unwrap_or_else(|_| "-".to_owned())
}

/// The instance name, as seen by the current request.
pub fn current_instance() -> Option<Arc<str>> {
    CONTEXT.try_with(|c| Arc::clone(&c.instance)).ok()
}

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

/// Outermost layer: gives the request its id, and every response its id, instance and security headers.
pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id: Arc<str> = match request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable_request_id)
    {
        Some(id) => Arc::from(id),
        None => Arc::from(new_request_id().hyphenated().to_string()),
    };
    // Built once, cloned (a reference count) onto the request and the response.
    let id_header = HeaderValue::from_str(&request_id).ok();
    if let Some(value) = &id_header {
        request
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), value.clone());
    }
    let https = ClientContext::from_request(&request, &state.proxies).https;
    let instance = state.instance.name();
    let context = RequestContext {
        request_id: Arc::clone(&request_id),
        instance: Arc::clone(&instance),
    };
    let mut response = CONTEXT.scope(context, next.run(request)).await;

    let headers = response.headers_mut();
    if let Some(value) = id_header {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    if let Ok(value) = HeaderValue::from_str(&instance) {
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
    if state.lifecycle.is_draining() {
        // Ask keep-alive clients (a load balancer included) to reconnect: the next connection lands on an
        // instance that is not going away.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
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

/// The route label for logs and metrics: the matched template (`/api/v1/users/{username}/submissions`),
/// never the raw path, so labels stay few.
fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// One span per request (method, route, request id) and one log line when it ends.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_of(&request);
    let request_id = current_request_id();
    let span = tracing::info_span!("request", %method, %route, %request_id);
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let _entered = span.enter();
    if status >= 500 {
        tracing::warn!(status, latency_ms, "request finished");
    } else {
        tracing::info!(status, latency_ms, "request finished");
    }
    response
}

/// Request count, latency and in-flight gauge by method, route template and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = route_of(&request);
    let in_flight = metrics::gauge!("http_requests_in_flight");
    in_flight.increment(1.0);
    let response = next.run(request).await;
    in_flight.decrement(1.0);
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Answers requests that the concurrency limit shed or the timeout abandoned: 503 with `Retry-After`,
/// problem+json for the API and a page for people.
pub async fn handle_overload(method: Method, uri: Uri, err: BoxError) -> Response {
    let error = if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("stratus_load_shed_total", "reason" => "overloaded").increment(1);
        ApiError::Overloaded("The service is busy right now. Please try again in a second.")
    } else if err.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("stratus_load_shed_total", "reason" => "timeout").increment(1);
        ApiError::Overloaded("The request took too long and was stopped. Please try again.")
    } else {
        ApiError::Internal(anyhow::anyhow!(
            "middleware error on {method} {}: {err}",
            uri.path()
        ))
    };
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        HtmlError(error).into_response()
    }
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
