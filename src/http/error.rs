//! Errors at the HTTP edge.
//!
//! One enum, one exhaustive status match. The API renders it as RFC 9457 `application/problem+json`, pages
//! as an HTML page ([`HtmlError`]). Causes (SQL errors, paths, driver text) go to the log, once, inside the
//! request span; the client sees a sentence and the request id to quote.

use std::{sync::Arc, time::Duration};

use askama::Template;
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::middleware::current_request_id;
use crate::storage::{StoreError, disk_space::is_out_of_space};

/// A field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The request field (`username`, `number`, `digit3`, `limit`, ...).
    pub field: String,
    /// What is wrong, as a sentence for a person.
    pub message: String,
}

impl FieldError {
    /// A field error from anything displayable.
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, invalid UTF-8, duplicated field, bad query).
    #[error("{0}")]
    BadRequest(String),
    /// 403: refused (cross-site form post, missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 408: the body stopped moving, or arrived too slowly.
    #[error("{0}")]
    TimedOut(String),
    /// 409: the request conflicts with what is stored (a second user with one e-mail address).
    #[error("{0}")]
    Conflict(String),
    /// 413 with a sentence of its own (an uploaded file over the limit, in the units people use).
    #[error("{0}")]
    TooLarge(String),
    /// 416: a `Range` outside the file.
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// 413: the body is over the limit.
    #[error("The request body is too large: the limit is {limit} bytes.")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: wrong `Content-Type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed, but some fields are invalid.
    #[error("Some fields are invalid.")]
    Validation(Vec<FieldError>),
    /// 503: the store cannot be reached; retry shortly.
    #[error("The database is unavailable right now. Please try again in a few seconds.")]
    StoreUnavailable(#[source] anyhow::Error),
    /// 503 (507 for an upload): a local disk is full, so nothing new can be stored; retry later.
    #[error("{}", if *upload {
        "The file does not fit: the server's disk is full. Nothing was stored; please try again later."
    } else {
        "The server's disk is full, so nothing new can be stored right now; nothing was changed and reading still works. Please try again in a minute."
    })]
    DiskFull {
        /// An upload (507 Insufficient Storage) rather than a board write (503).
        upload: bool,
        /// What failed for lack of space.
        #[source]
        cause: anyhow::Error,
    },
    /// 503: too many requests at once, or the request took too long.
    #[error("{0}")]
    Overloaded(&'static str),
    /// 500: a bug. The cause is logged, never shown.
    #[error("Something went wrong on our side.")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) | Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreUnavailable(_) | Self::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::DiskFull { upload: true, .. } => StatusCode::INSUFFICIENT_STORAGE,
            Self::DiskFull { upload: false, .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::StoreUnavailable(_) => Some(Duration::from_secs(5)),
            Self::DiskFull { .. } => Some(Duration::from_secs(30)),
            Self::Overloaded(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The same error, answered as an upload's: a full disk is 507 (the file does not fit), not 503.
    pub fn for_upload(self) -> Self {
        match self {
            Self::DiskFull { cause, .. } => Self::DiskFull {
                upload: true,
                cause,
            },
            other => other,
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation(errors) => errors,
            _ => &[],
        }
    }

    /// Logs server-side failures once, with their cause chain, in the current request span.
    fn log(&self) {
        match self {
            // Counted by operation where the operation failed (`storage::failures`), once however many
            // requests it fails.
            Self::StoreUnavailable(cause) => {
                tracing::warn!(error.message = %cause, error.cause_chain = ?cause, "store unavailable");
            }
            Self::DiskFull { cause, .. } => {
                metrics::counter!("stratus_disk_full_refusals_total").increment(1);
                tracing::warn!(error.message = %cause, error.cause_chain = ?cause, "disk full");
            }
            Self::Internal(cause) => {
                tracing::error!(error.message = %cause, error.cause_chain = ?cause, "internal error");
            }
            _ => {}
        }
    }

    fn finish(&self, mut response: Response) -> Response {
        self.log();
        if let Some(after) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        // Whatever the route's own caching, an error is never cached by a CDN.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<crate::blog::markdown::RenderError> for ApiError {
    fn from(err: crate::blog::markdown::RenderError) -> Self {
        match err {
            crate::blog::markdown::RenderError::Busy => Self::Overloaded(
                "Rendering this page took too long because the server is busy; try again in a moment.",
            ),
            crate::blog::markdown::RenderError::Failed => {
                Self::Internal(anyhow::anyhow!("the Markdown render task failed"))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) if is_out_of_space(cause.as_ref()) => Self::DiskFull {
                upload: false,
                cause,
            },
            StoreError::Unavailable(cause) => Self::StoreUnavailable(cause),
            StoreError::InvalidCursor => Self::BadRequest(
                "cursor is not valid: pass back the next_cursor of a previous page unchanged."
                    .into(),
            ),
        }
    }
}

impl From<Arc<StoreError>> for ApiError {
    fn from(err: Arc<StoreError>) -> Self {
        let full = is_out_of_space(&*err);
        let cause = anyhow::Error::new(ArcError(err));
        if full {
            Self::DiskFull {
                upload: false,
                cause,
            }
        } else {
            Self::StoreUnavailable(cause)
        }
    }
}

/// Lets a shared store error be a `source` (the visit batcher answers many callers with one error).
#[derive(Debug)]
struct ArcError(Arc<StoreError>);

impl std::fmt::Display for ArcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ArcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` means "see the status".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Quote this when reporting a problem.
    pub request_id: String,
    /// Per-field messages (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            request_id: current_request_id(),
            errors: self.field_errors().to_vec(),
        };
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.finish(response)
    }
}

/// The same errors, answered as an HTML page (for the board and other pages).
#[derive(Debug)]
pub struct HtmlError(pub ApiError);

impl<E: Into<ApiError>> From<E> for HtmlError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: super::pages::PageChrome,
    title: &'a str,
    message: String,
    request_id: String,
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let status = self.0.status_code();
        let page = ErrorPage {
            page: super::pages::PageChrome::current(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.0.to_string(),
            request_id: current_request_id(),
        };
        let body = super::pages::render_html(&page).unwrap_or_else(|_| format!("{status}"));
        self.0.finish((status, Html(body)).into_response())
    }
}
