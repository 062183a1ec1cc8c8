//! The request a log line belongs to.
//!
//! Every line logged while a request is handled carries its method, route and id. That context lives in a
//! task-local set by the request layer (`http::middleware::observe`) rather than in a `tracing` span: a
//! span per request cost a registry slot, its fields formatted into a string, and an enter and exit on
//! every poll, about a tenth of what a cheap request costs in all (see docs/performance.md), for fields
//! that never change during the request. The JSON formatter (`json_lines`) reads the task-local and writes
//! the same `"span":{"method":..,"route":..,"request_id":..,"name":"request"}` object a span gave.
//!
//! The human-readable format (`STRATUS_LOG_FORMAT=pretty`) still gets a real span
//! ([`request_spans`]): its formatter knows spans, not this task-local.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    extract::MatchedPath,
    http::{Method, Uri},
};

use super::trace::TraceContext;

/// What every part of a request's handling may want to know, without threading it through every call.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// This request's id.
    pub request_id: Arc<str>,
    /// The instance answering.
    pub instance: Arc<str>,
    /// The request's method.
    pub method: Method,
    /// The matched route template (`/api/v1/submissions/{id}`); `None` for a path no route matched.
    pub route: Option<MatchedPath>,
    /// The request's target, for its path (a reference count on the request head's bytes, no copy). The
    /// query is never logged: cursors and tokens travel there.
    pub uri: Uri,
    /// Its trace context.
    pub trace: TraceContext,
}

impl RequestContext {
    /// The route label of logs and metrics: the template, or `unmatched`.
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }

    /// The path as sent, cut at [`MAX_LOGGED_PATH`] bytes.
    pub fn path(&self) -> &str {
        let path = self.uri.path();
        let mut end = path.len().min(MAX_LOGGED_PATH);
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        &path[..end]
    }
}

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The longest path logged: a request head may be 64 KiB, a log line should not.
pub const MAX_LOGGED_PATH: usize = 2048;

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// Runs `work` as the request described by `context`.
pub fn scope<F: Future>(context: RequestContext, work: F) -> impl Future<Output = F::Output> {
    CONTEXT.scope(context, work)
}

/// Runs `work` (synchronous: a log line after the request's future finished) as that request.
pub fn sync_scope<R>(context: RequestContext, work: impl FnOnce() -> R) -> R {
    CONTEXT.sync_scope(context, work)
}

/// Calls `read` with the current request, if there is one.
pub fn with_current<R>(read: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    CONTEXT.try_with(read).ok()
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    with_current(|c| c.request_id.to_string()).unwrap_or_else(|| "-".to_owned())
}

/// The instance name, as seen by the current request.
pub fn current_instance() -> Option<Arc<str>> {
    with_current(|c| Arc::clone(&c.instance))
}

static REQUEST_SPANS: AtomicBool = AtomicBool::new(false);

/// Whether the request layer should also open a `tracing` span per request: only for the pretty format,
/// whose formatter shows spans but knows nothing of [`RequestContext`].
pub fn request_spans() -> bool {
    REQUEST_SPANS.load(Ordering::Relaxed)
}

pub(super) fn set_request_spans(on: bool) {
    REQUEST_SPANS.store(on, Ordering::Relaxed);
}
