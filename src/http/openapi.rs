//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::{Json, response::IntoResponse};
use utoipa::OpenApi;

use super::{api, error, files, health, users};

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
        users::create_user,
        users::list_users,
        users::get_user,
        files::upload_file,
        files::list_files,
        files::get_file,
        files::download_file,
        files::delete_file,
        health::readiness,
        health::ready,
        health::liveness,
    ),
    components(schemas(
        api::SubmissionBody,
        api::NewSubmissionBody,
        api::SubmissionPage,
        api::VisitCount,
        users::UserBody,
        users::NewUserBody,
        users::UserPage,
        files::FileBody,
        files::FilePage,
        files::UploadForm,
        error::Problem,
        error::FieldError,
        health::HealthReport,
        health::ReadyReport,
    )),
    tags(
        (name = "submissions", description = "The eight-digit submission board"),
        (name = "visits", description = "The page visit counter"),
        (name = "users", description = "User records (seed 004)"),
        (name = "files", description = "Uploaded files: bytes in object storage, metadata in the database (seed 004)"),
        (name = "health", description = "Load-balancer health checks"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
