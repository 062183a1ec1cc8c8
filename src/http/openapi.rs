//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::{Json, response::IntoResponse};
use utoipa::OpenApi;

use super::{api, error, health};

/// The API description served at `/api/v1/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Stratus API", description = "The submission board and visit counter."),
    paths(
        api::create_submission,
        api::latest_submission,
        api::get_submission,
        api::user_submissions,
        api::visits,
        health::readiness,
        health::liveness,
    ),
    components(schemas(
        api::SubmissionBody,
        api::NewSubmissionBody,
        api::SubmissionPage,
        api::VisitCount,
        error::Problem,
        error::FieldError,
        health::HealthReport,
    )),
    tags(
        (name = "submissions", description = "The eight-digit submission board"),
        (name = "visits", description = "The page visit counter"),
        (name = "health", description = "Load-balancer health checks"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
