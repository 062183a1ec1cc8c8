//! Users: `/users` (list and create form) and `/api/v1/users`.
//!
//! Creating a user needs write access (`auth::WriteAccess`: open while no admin is configured, else the
//! admin's session or, on the API, the bearer token). Email addresses are unique ignoring case: a second
//! record for one address is refused with 409 and a sentence saying so.

use askama::Template;
use axum::{
    Json,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use axum::routing::get;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{DuplicateEmail, Email, PersonName, User, UserId, UserStore};
use crate::{
    http::{
        AppState,
        auth::{PrivateRead, Viewer, WriteAccess},
        csrf,
        error::{ApiError, FieldError, HtmlError, Problem},
        extract::{CheckedForm, ClientContext, Fields, JsonBody, JsonObject, page_request},
        pages::{self, PageChrome},
    },
    storage::PageRequest,
    time::{format_for_people, format_timestamp},
};

/// The users' page and API.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/users", get(show_users).post(create_user_from_form))
        .routes(routes!(list_users, create_user))
        // The router knows this segment as `{username}`, the name the board's history route
        // (`/api/v1/users/{username}/submissions`) gives it, and it can hold one name per segment; the
        // document calls it `{id}`, as it is one, so this operation is listed in `http::openapi::ApiDoc`.
        .route("/api/v1/users/{username}", get(get_user))
}

/// A user record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserBody {
    /// Public id (UUID).
    #[schema(example = "01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80")]
    pub(crate) id: String,
    /// Display name.
    #[schema(example = "Ada Lovelace")]
    pub(crate) name: String,
    /// Email address, unique ignoring case.
    #[schema(example = "ada@example.com", format = Email)]
    pub(crate) email: String,
    /// When it was created (RFC 3339, UTC).
    #[schema(example = "2026-11-23T10:30:00.123456Z", format = DateTime)]
    pub(crate) created_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            name: user.name.to_string(),
            email: user.email.to_string(),
            created_at: format_timestamp(user.created_at),
        }
    }
}

/// A new user. Both fields are required (they are `Option` so that a missing one is a field error).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    /// 1-100 characters after trimming, no control characters. The pattern says exactly what
    /// `PersonName::parse` accepts (as the board's username does), so the document promises no more.
    #[schema(value_type = String, required = true, example = "Ada Lovelace", pattern = "^[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000](?:[^\\x00-\\x1F\\x7F-\\x9F]{0,98}[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000])?[\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$")]
    name: Option<Value>,
    /// An email address (`local@domain.tld`), at most 254 characters.
    #[schema(value_type = String, required = true, example = "ada@example.com", format = Email)]
    email: Option<Value>,
}

impl JsonObject for NewUserBody {
    const SHAPE: &'static str =
        "The body must be a JSON object with the string fields name and email.";

    fn data_error(_err: &serde_json::Error) -> String {
        Self::SHAPE.to_owned()
    }
}

/// One page of users, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserPage {
    /// The users of this page.
    pub(crate) items: Vec<UserBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// Parses name and email, collecting a message per wrong field.
fn parse_new_user(name: Option<&str>, email: Option<&str>) -> Result<User, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = match name {
        Some(raw) => PersonName::parse(raw)
            .map_err(|e| errors.push(FieldError::new("name", e)))
            .ok(),
        None => {
            errors.push(FieldError::new("name", "name is required."));
            None
        }
    };
    let email = match email {
        Some(raw) => Email::parse(raw)
            .map_err(|e| errors.push(FieldError::new("email", e)))
            .ok(),
        None => {
            errors.push(FieldError::new("email", "email is required."));
            None
        }
    };
    match (name, email) {
        (Some(name), Some(email)) if errors.is_empty() => Ok(User::new(name, email)),
        _ => Err(errors),
    }
}

fn json_string<'a>(
    value: Option<&'a Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("{name} must be a JSON string."),
            ));
            None
        }
    }
}

fn duplicate(email: &Email) -> String {
    format!(
        "A user with the email address {email} already exists; each address can belong to one user only."
    )
}

/// Create a user.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body(content = NewUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored", body = UserBody,
         headers(("Location" = String, description = "URL of the new user"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "An admin is configured and no valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email address is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_user(
    access: WriteAccess,
    State(state): State<AppState>,
    JsonBody(parsed): JsonBody<NewUserBody>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let name = json_string(parsed.name.as_ref(), "name", &mut errors);
    let email = json_string(parsed.email.as_ref(), "email", &mut errors);
    let user = match parse_new_user(name, email) {
        Ok(user) if errors.is_empty() => user,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(more) => {
            let more: Vec<FieldError> = more
                .into_iter()
                .filter(|e| !errors_name(&errors, &e.field))
                .collect();
            errors.extend(more);
            return Err(ApiError::Validation(errors));
        }
    };
    if let Err(DuplicateEmail) = UserStore::new(state.sql.clone()).insert(&user).await? {
        return Err(ApiError::Conflict(duplicate(&user.email)));
    }
    tracing::info!(user_id = %user.id, by = %access, "user created");
    let location = HeaderValue::from_str(&format!("/api/v1/users/{}", user.id))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserBody::from(&user)),
    )
        .into_response())
}

fn errors_name(errors: &[FieldError], field: &str) -> bool {
    errors.iter().any(|e| e.field == field)
}

/// Users, newest first, paged.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page, unchanged", pattern = "^[A-Za-z0-9_-]{1,2048}$"),
    ),
    responses(
        (status = 401, description = "An admin or API token is configured and neither the session nor a valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_users(
    _reader: PrivateRead,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<UserPage>, ApiError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let page = UserStore::new(state.sql.clone())
        .list(&page_request(&fields)?)
        .await?;
    Ok(Json(UserPage {
        items: page.items.iter().map(UserBody::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

/// One user by id.
// The router names this segment `{username}`: matchit requires one parameter name per segment, and
// `/api/v1/users/{username}/submissions` came first. The document names it `id`, as it is one.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 401, description = "An admin or API token is configured and neither the session nor a valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The user", body = UserBody),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_user(
    _reader: PrivateRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserBody>, ApiError> {
    let not_found = || ApiError::NotFound("There is no user with this id.".into());
    let Path(raw) = id.map_err(|_| not_found())?;
    let id = UserId::parse(&raw).map_err(|_| not_found())?;
    match UserStore::new(state.sql.clone()).get(id).await? {
        Some(user) => Ok(Json(UserBody::from(&user))),
        None => Err(not_found()),
    }
}

/// The create form as typed, with a message per wrong field.
#[derive(Debug, Default)]
struct UserForm {
    name: String,
    name_error: Option<String>,
    email: String,
    email_error: Option<String>,
}

impl UserForm {
    fn has_errors(&self) -> bool {
        self.name_error.is_some() || self.email_error.is_some()
    }
}

/// A user as listed on the page.
#[derive(Debug)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    created_at: String,
    created_at_machine: String,
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct UsersPage {
    page: PageChrome,
    users: Vec<UserRow>,
    next_cursor: Option<String>,
    form: UserForm,
    csrf_token: String,
    can_write: bool,
    writes_open: bool,
    /// Whether this viewer may see the list (names and e-mail addresses are private once an admin or
    /// token is configured).
    can_read: bool,
}

async fn render_users(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    https: bool,
    page: &PageRequest,
    form: UserForm,
    status: StatusCode,
) -> Result<Response, HtmlError> {
    // Reading people's records needs what writing them does: the admin (or nothing configured).
    let can_read = viewer.can_write();
    let listed = if can_read {
        UserStore::new(state.sql.clone()).list(page).await?
    } else {
        crate::storage::Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let (csrf_token, set_cookie) = csrf::issue(headers, https);
    let body = pages::render(&UsersPage {
        page: PageChrome::current(),
        users: listed
            .items
            .iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                name: u.name.to_string(),
                email: u.email.to_string(),
                created_at: format_for_people(u.created_at),
                created_at_machine: format_timestamp(u.created_at),
            })
            .collect(),
        next_cursor: listed.next_cursor.map(|c| c.as_str().to_owned()),
        form,
        csrf_token,
        can_write: viewer.can_write(),
        writes_open: viewer.writes_open,
        can_read,
    })?;
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /users`: the users, newest first, and the form to add one.
pub(crate) async fn show_users(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientContext,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HtmlError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let page = page_request(&fields)?;
    render_users(
        &state,
        &viewer,
        &headers,
        client.https,
        &page,
        UserForm::default(),
        StatusCode::OK,
    )
    .await
}

/// `POST /users`: creates a user, then 303 to `/users`; otherwise the page again with the typed values and
/// a message per wrong field (422), or next to the email when it is taken (409).
pub(crate) async fn create_user_from_form(
    access: WriteAccess,
    viewer: Viewer,
    State(state): State<AppState>,
    client: ClientContext,
    headers: HeaderMap,
    form: CheckedForm,
) -> Result<Response, HtmlError> {
    let fields = form.fields();
    let mut form = UserForm {
        name: fields.get("name").unwrap_or_default().to_owned(),
        email: fields.get("email").unwrap_or_default().to_owned(),
        ..UserForm::default()
    };
    let status = match parse_new_user(fields.get("name"), fields.get("email")) {
        Ok(user) => match UserStore::new(state.sql.clone()).insert(&user).await? {
            Ok(()) => {
                tracing::info!(user_id = %user.id, by = %access, "user created");
                return Ok(Redirect::to("/users").into_response());
            }
            Err(DuplicateEmail) => {
                form.email_error = Some(duplicate(&user.email));
                StatusCode::CONFLICT
            }
        },
        Err(errors) => {
            for error in errors {
                match error.field.as_str() {
                    "name" => form.name_error = Some(error.message),
                    _ => form.email_error = Some(error.message),
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    debug_assert!(form.has_errors());
    render_users(
        &state,
        &viewer,
        &headers,
        client.https,
        &PageRequest::default(),
        form,
        status,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_fields_are_checked_and_reported_together() {
        let Err(errors) = parse_new_user(Some(" "), Some("not-an-address")) else {
            panic!("must be refused");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email"]);
        assert!(parse_new_user(Some("Ada"), Some("ada@example.com")).is_ok());
        assert_eq!(parse_new_user(None, None).err().map(|e| e.len()), Some(2));
    }
}
