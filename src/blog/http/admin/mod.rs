//! The author's pages: sign-in and sign-out ([`session`]), the list of posts with publish, unpublish and
//! delete ([`posts`]), and the editor with preview ([`editor`]).
//!
//! Every page here is personal: `Cache-Control: private, no-store`. Every form carries the double-submit
//! CSRF token (`csrf`), and requests a browser marks as cross-site are refused before their body is read.
//! Nothing the author typed is lost on a refusal: an invalid field, a stale edit (someone saved in between)
//! and an ended session all show the editor again with their text in it and nothing saved.

mod editor;
mod posts;
mod session;

use axum::{
    Router,
    extract::{Path, Request, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};

use crate::{
    blog::{PostBody, PostId, PostVersion},
    http::{
        AppState, csrf,
        error::{ApiError, HtmlError},
        extract::{self, ClientContext, Fields},
    },
};

/// Posts per page of the admin's list.
const POSTS_PER_PAGE: u32 = 25;
/// The largest editor form: a maximal post, percent-encoded (up to 3 bytes per byte), plus the rest.
const MAX_EDITOR_BYTES: usize = 3 * PostBody::MAX_BYTES + 8 * 1024;

/// The admin's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(posts::list_posts))
        .route(
            "/admin/login",
            get(session::login_form).post(session::login),
        )
        .route("/admin/logout", post(session::logout))
        .route("/admin/posts", post(editor::create_post))
        .route("/admin/posts/new", get(editor::new_post_form))
        .route("/admin/posts/{id}", post(editor::save_post))
        .route("/admin/posts/{id}/edit", get(editor::edit_post_form))
        .route("/admin/posts/{id}/publish", post(posts::publish))
        .route("/admin/posts/{id}/unpublish", post(posts::unpublish))
        .route(
            "/admin/posts/{id}/delete",
            get(posts::confirm_delete).post(posts::delete_post),
        )
}

/// An admin page: never cached, with any cookies to set.
fn private_page(status: StatusCode, body: String, cookies: Vec<HeaderValue>) -> Response {
    private((status, Html(body)).into_response(), cookies)
}

/// A redirect after a successful form post (303: the browser follows with a `GET`).
fn see_other(to: &str, cookies: Vec<HeaderValue>) -> Response {
    private(Redirect::to(to).into_response(), cookies)
}

/// `response`, marked personal (never cached), with `cookies` set.
fn private(mut response: Response, cookies: Vec<HeaderValue>) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// Checks an admin form's envelope (same site, form encoding, size) and parses its fields; the CSRF
/// token is the caller's to check.
async fn read_form_unverified(
    request: Request,
    limit: usize,
) -> Result<(HeaderMap, Fields<'static>), HtmlError> {
    let (headers, bytes) = extract::read_form(request, limit).await?;
    Ok((headers, Fields::parse(&bytes)?.into_owned()))
}

/// Checks an admin form's envelope (same site, form encoding, size, CSRF token) and parses its fields.
async fn read_form(
    request: Request,
    limit: usize,
) -> Result<(HeaderMap, Fields<'static>), HtmlError> {
    let (headers, fields) = read_form_unverified(request, limit).await?;
    csrf::verify(&headers, fields.get("csrf_token"))?;
    Ok((headers, fields))
}

/// The editor's text, when its form's token does not match this browser's session (it signed in again,
/// or out, since the page was loaded): nothing is saved, and the text comes back with a fresh token.
const TOKEN_CHANGED: &str = "Nothing was saved: you signed in again (or out) since this page was loaded, so its security token no longer matches. Your text is still below; press Save again.";

/// The CSRF token for the page and the cookie to set, if the browser has none yet.
fn csrf_for(headers: &HeaderMap, client: ClientContext) -> (String, Vec<HeaderValue>) {
    let (token, cookie) = csrf::issue(headers, client.https);
    (token, cookie.into_iter().collect())
}

/// The post id in the path; anything else (not a number, not UTF-8 such as `%FF`) is the 404 page.
fn post_id(raw: Result<Path<String>, PathRejection>) -> Result<PostId, HtmlError> {
    let not_found = || HtmlError(ApiError::NotFound("There is no post with this id.".into()));
    let Ok(Path(raw)) = raw else {
        return Err(not_found());
    };
    PostId::parse(&raw).map_err(|_| not_found())
}

fn version_field(fields: &Fields) -> Result<PostVersion, HtmlError> {
    PostVersion::parse(fields.get("version").unwrap_or_default())
        .map_err(|e| HtmlError(ApiError::BadRequest(e.to_string())))
}

/// A short confirmation from `?notice=` after a redirect. Only known words are shown: the text is ours.
fn notice_of(query: Option<&str>) -> Option<&'static str> {
    let fields = Fields::parse(query.unwrap_or_default().as_bytes()).ok()?;
    match fields.get("notice")? {
        "created" => Some("The draft is saved. Publish it when it is ready."),
        "saved" => Some("Saved."),
        "published" => Some("Published: readers can see it now."),
        "unpublished" => Some("Unpublished: it is a draft again."),
        "deleted" => Some("The post is deleted."),
        "signed-out" => Some("You are signed out."),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_notices_are_shown() {
        assert_eq!(notice_of(Some("notice=saved")), Some("Saved."));
        assert_eq!(notice_of(Some("notice=%3Cscript%3E")), None);
        assert_eq!(notice_of(None), None);
    }
}
