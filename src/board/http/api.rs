//! The JSON API under `/api/v1` (described at `/api/v1/openapi.json`).

use axum::{
    Json,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    board::{EightDigits, Submission, SubmissionId, Username},
    http::{
        AppState,
        error::{ApiError, FieldError, Problem},
        extract::{Fields, JsonBody, JsonObject, page_request},
    },
    time::format_timestamp,
};

/// A stored submission.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmissionBody {
    /// Public id (UUID).
    #[schema(example = "01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80")]
    pub(crate) id: String,
    /// Who submitted (1-64 characters, no control characters).
    #[schema(example = "ada")]
    pub(crate) username: String,
    /// Exactly 8 ASCII digits, as a string so that leading zeros are kept.
    #[schema(example = "01234567", pattern = "^[0-9]{8}$")]
    pub(crate) number: String,
    /// When it was stored (RFC 3339, UTC).
    #[schema(example = "2026-11-23T10:30:00.123456Z", format = DateTime)]
    pub(crate) created_at: String,
}

impl From<&Submission> for SubmissionBody {
    fn from(s: &Submission) -> Self {
        Self {
            id: s.id.to_string(),
            username: s.username.to_string(),
            number: s.number.to_string(),
            created_at: format_timestamp(s.created_at),
        }
    }
}

/// A new submission. `number` must be a JSON string: a JSON number would lose leading zeros.
///
/// Both fields are required: they are `Option` here only so that a missing one is reported next to the
/// other field errors (422) instead of as a JSON syntax error.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSubmissionBody {
    /// 1-64 characters after trimming surrounding whitespace, no control characters.
    // The pattern says exactly what `Username::parse` accepts, so the document promises no more and no
    // less than the service does (schemathesis checks both ways): optional surrounding whitespace (Rust's
    // `char::is_whitespace`, which `trim` removes), then 1-64 characters (Unicode scalar values) that are
    // not control characters (Cc), the first and last not whitespace. utoipa takes only a literal, so the
    // path parameter of `user_submissions` repeats it; a test checks that both copies agree.
    #[schema(value_type = String, required = true, example = "ada", pattern = "^[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000](?:[^\\x00-\\x1F\\x7F-\\x9F]{0,62}[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$")]
    username: Option<Value>,
    /// Exactly 8 ASCII digits.
    #[schema(value_type = String, required = true, example = "01234567", pattern = "^[0-9]{8}$")]
    number: Option<Value>,
}

impl JsonObject for NewSubmissionBody {
    const SHAPE: &'static str =
        "The body must be a JSON object such as {\"username\": \"ada\", \"number\": \"01234567\"}.";
}

/// One page of a user's submissions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmissionPage {
    /// The submissions of this page.
    pub(crate) items: Vec<SubmissionBody>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// The visit count.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VisitCount {
    /// Successful views of `/` so far.
    pub(crate) count: u64,
}

fn string_field<'a>(
    value: Option<&'a Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match value {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(name, format!("{name} is required.")));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(_)) if name == "number" => {
            errors.push(FieldError::new(
                name,
                "number must be a JSON string such as \"01234567\": a JSON number would lose leading zeros.",
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("{name} must be a JSON string."),
            ));
            None
        }
    }
}

fn parse_new_submission(body: &NewSubmissionBody) -> Result<Submission, ApiError> {
    let mut errors = Vec::new();
    let username = string_field(body.username.as_ref(), "username", &mut errors).and_then(|raw| {
        Username::parse(raw)
            .map_err(|e| errors.push(FieldError::new("username", e)))
            .ok()
    });
    let number = string_field(body.number.as_ref(), "number", &mut errors).and_then(|raw| {
        EightDigits::parse(raw)
            .map_err(|e| errors.push(FieldError::new("number", e)))
            .ok()
    });
    match (username, number) {
        (Some(username), Some(number)) if errors.is_empty() => {
            Ok(Submission::new(username, number))
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Create a submission.
#[utoipa::path(
    post,
    path = "/api/v1/submissions",
    tag = "submissions",
    request_body(content = NewSubmissionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored", body = SubmissionBody,
         headers(("Location" = String, description = "URL of the new submission"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable or overloaded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_submission(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewSubmissionBody>,
) -> Result<Response, ApiError> {
    let submission = parse_new_submission(&body)?;
    state.store.insert_submission(&submission).await?;
    state.counters.submissions_created.increment(1);
    tracing::info!(submission_id = %submission.id, "submission stored");
    let location = HeaderValue::from_str(&format!("/api/v1/submissions/{}", submission.id))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(SubmissionBody::from(&submission)),
    )
        .into_response())
}

/// The most recent submission of anyone.
#[utoipa::path(
    get,
    path = "/api/v1/submissions/latest",
    tag = "submissions",
    responses(
        (status = 200, description = "The latest submission", body = SubmissionBody),
        (status = 404, description = "No submissions yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn latest_submission(
    State(state): State<AppState>,
) -> Result<Json<SubmissionBody>, ApiError> {
    match state.store.latest_submission().await? {
        Some(latest) => Ok(Json(SubmissionBody::from(&latest))),
        None => Err(ApiError::NotFound("There are no submissions yet.".into())),
    }
}

/// One submission by id.
#[utoipa::path(
    get,
    path = "/api/v1/submissions/{id}",
    tag = "submissions",
    params(("id" = String, Path, description = "Submission id")),
    responses(
        (status = 200, description = "The submission", body = SubmissionBody),
        (status = 404, description = "No such submission", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_submission(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<SubmissionBody>, ApiError> {
    let not_found = || ApiError::NotFound("There is no submission with this id.".into());
    let Path(raw) = id.map_err(|_| not_found())?;
    let id = SubmissionId::parse(&raw).map_err(|_| not_found())?;
    match state.store.submission(id).await? {
        Some(found) => Ok(Json(SubmissionBody::from(&found))),
        None => Err(not_found()),
    }
}

/// A user's submissions, newest first, paged.
#[utoipa::path(
    get,
    path = "/api/v1/users/{username}/submissions",
    tag = "submissions",
    params(
        ("username" = String, Path, description = "The username, percent-encoded", pattern = "^[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000](?:[^\\x00-\\x1F\\x7F-\\x9F]{0,62}[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page, unchanged: an opaque token", pattern = "^[A-Za-z0-9_-]{1,2048}$"),
    ),
    responses(
        (status = 200, description = "A page of submissions", body = SubmissionPage),
        (status = 400, description = "Bad username, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn user_submissions(
    State(state): State<AppState>,
    username: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<SubmissionPage>, ApiError> {
    let Path(raw) = username.map_err(|_| {
        ApiError::BadRequest("The username in the path is not valid percent-encoded UTF-8.".into())
    })?;
    let username = Username::parse(&raw)
        .map_err(|e| ApiError::BadRequest(format!("The username in the path is not valid: {e}")))?;
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let page = state
        .store
        .submissions_by_user(&username, &page_request(&fields)?)
        .await?;
    Ok(Json(SubmissionPage {
        items: page.items.iter().map(SubmissionBody::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

/// The visit count, without counting a visit.
#[utoipa::path(
    get,
    path = "/api/v1/visits",
    tag = "visits",
    responses(
        (status = 200, description = "The count", body = VisitCount),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn visits(State(state): State<AppState>) -> Result<Json<VisitCount>, ApiError> {
    Ok(Json(VisitCount {
        count: state.store.visit_count().await?,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_body_and_the_path_describe_usernames_with_the_same_pattern() {
        let doc =
            serde_json::to_value(crate::http::openapi_document()).expect("the document serializes");
        let in_body =
            &doc["components"]["schemas"]["NewSubmissionBody"]["properties"]["username"]["pattern"];
        let parameters = doc["paths"]["/api/v1/users/{username}/submissions"]["get"]["parameters"]
            .as_array()
            .expect("the listing has parameters");
        let in_path = parameters
            .iter()
            .find(|p| p["name"] == "username")
            .map(|p| &p["schema"]["pattern"])
            .expect("the username parameter is described");
        assert!(in_body.is_string(), "{in_body}");
        assert_eq!(in_body, in_path);
        let required = &doc["components"]["schemas"]["NewSubmissionBody"]["required"];
        assert_eq!(required, &serde_json::json!(["username", "number"]));
    }
}
