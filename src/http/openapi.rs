//! The OpenAPI 3.1 document. Each operation is described once, by its handler's `#[utoipa::path]`, and
//! registered with the router and the document together (`utoipa_axum::routes!` in each feature's
//! `router()`); this module holds what belongs to the whole API and serves the result.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::error;

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";
/// The conventional address tools look at first; the same document.
pub const ROOT_PATH: &str = "/openapi.json";

/// What the document says about the API as a whole: its title, tags and the shared error schemas.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Stratus API", description = "The submission board and visit counter."),
    // The one operation whose router path differs from its documented one (see `users::http::router`).
    paths(crate::users::http::get_user),
    modifiers(&BearerToken),
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

/// The API's one credential: `Authorization: Bearer TOKEN`, whose SHA-256 is `STRATUS_API_TOKEN_SHA256`.
/// Writes to users and files need it once an admin is configured (a signed-in browser's session cookie
/// does too); reads of users and files need it or the session when an admin or token is configured.
/// Whether it is needed depends on the deployment, so operations do not list it as required: with
/// neither configured the API is open, and a document saying otherwise would mislead clients (the
/// fault suite's schemathesis run checks that every requirement the document states is enforced).
#[derive(Debug)]
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The API token whose SHA-256 is STRATUS_API_TOKEN_SHA256. Needed for writes once \
                         an admin is configured, and for reading users and files once an admin or a \
                         token is configured; with neither, the API is open.",
                    ))
                    .build(),
            ),
        );
    }
}

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
