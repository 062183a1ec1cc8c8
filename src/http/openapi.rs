//! The OpenAPI 3.1 document. Each operation is described once, by its handler's `#[utoipa::path]`, and
//! registered with the router and the document together (`utoipa_axum::routes!` in each feature's
//! `router()`); this module holds what belongs to the whole API and serves the result.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use utoipa::OpenApi;

use super::error;

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

/// What the document says about the API as a whole: its title, tags and the shared error schemas.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Stratus API", description = "The submission board and visit counter."),
    // The one operation whose router path differs from its documented one (see `users::http::router`).
    paths(crate::users::http::get_user),
    components(schemas(error::Problem, error::FieldError)),
    tags(
        (name = "submissions", description = "The eight-digit submission board"),
        (name = "visits", description = "The page visit counter"),
        (name = "users", description = "User records with a unique e-mail address"),
        (name = "files", description = "Uploaded files: bytes in object storage, metadata in the database"),
        (name = "health", description = "Load-balancer health checks"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, rendered once at start-up.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

impl Document {
    /// Renders `api` (a document that fails to serialize is a bug; it then answers `{}`).
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        Self(Bytes::from(
            serde_json::to_vec(api).unwrap_or_else(|_| b"{}".to_vec()),
        ))
    }

    /// The response: the same bytes every time.
    pub async fn serve(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}
