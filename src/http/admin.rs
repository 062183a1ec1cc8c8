//! The author's pages (seed 002): sign-in and sign-out, the list of posts, the editor with preview,
//! publish/unpublish and delete.
//!
//! Every page here is personal: `Cache-Control: private, no-store`. Every form carries the double-submit
//! CSRF token (`csrf`), and requests a browser marks as cross-site are refused before their body is read.
//! Nothing the author typed is lost on a refusal: an invalid field, a stale edit (someone saved in between)
//! and an ended session all show the editor again with their text in it and nothing saved.

use std::time::Duration;

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use secrecy::SecretString;
use time::OffsetDateTime;

use super::{
    AppState,
    auth::{
        AdminSession, Viewer, clear_session_cookie, cookie_value, device_cookie,
        local_path_or_admin, session_cookie,
    },
    blog::human_date,
    csrf,
    error::{ApiError, HtmlError},
    extract::{ClientContext, Fields, MAX_BODY_BYTES, MediaType, read_body, require_content_type},
    pages::{self, PageChrome},
};
use crate::{
    auth::{
        DEVICE_COOKIE, LoginCheck,
        session::{self, SESSION_COOKIE, SessionToken, StoredSession},
        throttle::{self, ThrottleKeys},
    },
    blog::{
        ChangeRefused, NewPost, PageNumber, Post, PostBody, PostEdit, PostId, PostTitle,
        PostVersion, Slug, SlugChoice, SlugTaken, render_markdown, store,
    },
    domain::submission::format_timestamp,
};

/// Posts per page of the admin's list.
const POSTS_PER_PAGE: u32 = 25;
/// The largest editor form: a maximal post, percent-encoded (up to 3 bytes per byte), plus the rest.
const MAX_EDITOR_BYTES: usize = 3 * PostBody::MAX_BYTES + 8 * 1024;

/// The admin's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(list_posts))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/posts", post(create_post))
        .route("/admin/posts/new", get(new_post_form))
        .route("/admin/posts/{id}", post(save_post))
        .route("/admin/posts/{id}/edit", get(edit_post_form))
        .route("/admin/posts/{id}/publish", post(publish))
        .route("/admin/posts/{id}/unpublish", post(unpublish))
        .route(
            "/admin/posts/{id}/delete",
            get(confirm_delete).post(delete_post),
        )
}

/// An admin page: never cached, with any cookies to set.
fn private_page(status: StatusCode, body: String, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, Html(body)).into_response();
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

/// A redirect after a successful form post (303: the browser follows with a `GET`).
fn see_other(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = Redirect::to(to).into_response();
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
) -> Result<(Parts, Fields<'static>), HtmlError> {
    let (parts, body) = request.into_parts();
    csrf::refuse_cross_site(&parts.headers)?;
    require_content_type(&parts.headers, MediaType::Form)?;
    let bytes = read_body(&parts.headers, body, limit).await?;
    let fields = Fields::parse(&bytes)?;
    Ok((parts, fields.into_owned()))
}

/// Checks an admin form's envelope (same site, form encoding, size, CSRF token) and parses its fields.
async fn read_form(request: Request, limit: usize) -> Result<(Parts, Fields<'static>), HtmlError> {
    let (parts, fields) = read_form_unverified(request, limit).await?;
    csrf::verify(&parts.headers, fields.get("csrf_token"))?;
    Ok((parts, fields))
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

// ---------------------------------------------------------------------------------------------------
// Sign-in and sign-out

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    page: PageChrome,
    csrf_token: String,
    username: String,
    next: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/setup.html")]
struct SetupPage {
    page: PageChrome,
    writes_open: bool,
}

fn setup_page(state: &AppState, status: StatusCode) -> Result<Response, HtmlError> {
    let body = pages::render(&SetupPage {
        page: PageChrome::current(),
        writes_open: state.auth.writes_are_open(),
    })?;
    Ok(private_page(status, body, Vec::new()))
}

/// `GET /admin/login`: the sign-in form; the set-up explanation when no admin is configured; straight on
/// to `next` when already signed in.
#[tracing::instrument(name = "Showing the sign-in form", skip_all)]
pub(crate) async fn login_form(
    State(state): State<AppState>,
    client: ClientContext,
    viewer: Viewer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    if !state.auth.admin_configured() {
        return setup_page(&state, StatusCode::OK);
    }
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes()).unwrap_or_default();
    let next = local_path_or_admin(fields.get("next")).to_owned();
    if viewer.admin.is_some() {
        return Ok(see_other(&next, Vec::new()));
    }
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&LoginPage {
        page: PageChrome::current(),
        csrf_token,
        username: String::new(),
        next,
        notice: notice_of(query.as_deref()),
        error: None,
    })?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// "Try again in about N minutes."
fn wait_sentence(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!(
        "Too many failed sign-ins from here or for this account. Try again in about {minutes} {unit}."
    )
}

/// `POST /admin/login`: checks the user name and password, then starts a session and goes to `next`.
///
/// Refusals: 422 when a field is empty, 403 with one message for a wrong user name or password (never
/// which), 429 with `Retry-After` once the client or the account has too many recent failures (checked
/// before the password, so a locked-out guesser learns nothing).
#[tracing::instrument(name = "Signing in", skip_all)]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientContext,
    request: Request,
) -> Result<Response, HtmlError> {
    let (parts, fields) = read_form(request, MAX_BODY_BYTES).await?;
    if !state.auth.admin_configured() {
        return setup_page(&state, StatusCode::FORBIDDEN);
    }
    let username = fields.get("username").unwrap_or_default().trim().to_owned();
    let password = SecretString::from(fields.get("password").unwrap_or_default().to_owned());
    let next = local_path_or_admin(fields.get("next")).to_owned();
    let (csrf_token, cookies) = csrf_for(&parts.headers, client);
    let refuse = |status: StatusCode, error: String, retry: Option<Duration>| {
        let body = pages::render(&LoginPage {
            page: PageChrome::current(),
            csrf_token: csrf_token.clone(),
            username: username.clone(),
            next: next.clone(),
            notice: None,
            error: Some(error),
        })?;
        let mut response = private_page(status, body, cookies.clone());
        if let Some(wait) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        }
        Ok::<_, HtmlError>(response)
    };
    if username.is_empty() || secrecy::ExposeSecret::expose_secret(&password).is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the user name and the password.".into(),
            None,
        );
    }
    // Count first, then check: the attempt is reserved (and refused when over a limit) before the
    // password is verified, so parallel guesses cannot slip in between a check and its count.
    let device = cookie_value(&parts.headers, DEVICE_COOKIE).and_then(|v| state.auth.device_of(v));
    let keys = ThrottleKeys::new(client.ip, &username, device.as_ref());
    let now = OffsetDateTime::now_utc();
    let reservation = match throttle::reserve(&state.sql, &keys, now).await? {
        Ok(reservation) => reservation,
        Err(wait) => {
            metrics::counter!("stratus_logins_total", "outcome" => "throttled").increment(1);
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                wait_sentence(wait),
                Some(wait),
            );
        }
    };
    match state.auth.check_login(&username, password).await {
        LoginCheck::Valid {
            username,
            credential_tag,
        } => {
            let token = SessionToken::generate();
            let ttl = state.auth.session_ttl();
            let expires_at = now + ttl;
            session::create_session(
                &state.sql,
                &token,
                StoredSession {
                    username: username.clone(),
                    credential_tag,
                    expires_at,
                },
                now,
            )
            .await?;
            throttle::succeeded(&state.sql, reservation).await?;
            // A session this browser had before is ended: one browser, one session.
            if let Some(old) =
                cookie_value(&parts.headers, SESSION_COOKIE).and_then(SessionToken::parse)
            {
                session::delete_session(&state.sql, &old).await?;
            }
            metrics::counter!("stratus_logins_total", "outcome" => "success").increment(1);
            tracing::info!(%username, "admin signed in");
            let mut cookies = cookies.clone();
            cookies.extend(session_cookie(&token, ttl, client.https));
            if device.is_none() {
                cookies.extend(
                    state
                        .auth
                        .device_cookie_value()
                        .and_then(|value| device_cookie(&value, client.https)),
                );
            }
            Ok(see_other(&next, cookies))
        }
        LoginCheck::Invalid => {
            metrics::counter!("stratus_logins_total", "outcome" => "failure").increment(1);
            tracing::warn!(client = ?client.ip, trusted_browser = device.is_some(), "failed sign-in");
            if let Some(wait) = reservation.locked_after_failure(now) {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    wait_sentence(wait),
                    Some(wait),
                );
            }
            refuse(
                StatusCode::FORBIDDEN,
                "The user name or password is wrong.".into(),
                None,
            )
        }
        LoginCheck::NoAdmin => setup_page(&state, StatusCode::FORBIDDEN),
    }
}

/// `POST /admin/logout`: deletes the session (on every instance at once) and the cookie.
#[tracing::instrument(name = "Signing out", skip_all)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    client: ClientContext,
    request: Request,
) -> Result<Response, HtmlError> {
    let (parts, _fields) = read_form(request, MAX_BODY_BYTES).await?;
    if let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).and_then(SessionToken::parse)
    {
        session::delete_session(&state.sql, &token).await?;
    }
    Ok(see_other(
        "/admin/login?notice=signed-out",
        vec![clear_session_cookie(client.https)],
    ))
}

// ---------------------------------------------------------------------------------------------------
// The list

/// A post as the admin's list shows it.
#[derive(Debug)]
struct PostRow {
    id: String,
    slug: String,
    title: String,
    published: bool,
    updated_machine: String,
    updated_human: String,
    version: i64,
}

impl From<&Post> for PostRow {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id.to_string(),
            slug: post.slug.to_string(),
            title: post.title.to_string(),
            published: post.is_published(),
            updated_machine: format_timestamp(post.updated_at),
            updated_human: human_date(post.updated_at),
            version: post.version.get(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/posts.html")]
struct PostsPage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    notice: Option<&'static str>,
    posts: Vec<PostRow>,
    page_number: u32,
    newer: Option<u32>,
    older: Option<u32>,
}

/// `GET /admin`: every post, drafts included, most recently changed first.
#[tracing::instrument(name = "Listing posts for the admin", skip_all)]
pub(crate) async fn list_posts(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let number = match fields.get("page") {
        None => PageNumber::FIRST,
        Some(raw) => PageNumber::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    let page = store::all_posts_page(&state.sql, number, POSTS_PER_PAGE).await?;
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&PostsPage {
        page: PageChrome::current(),
        bar_username: admin.username,
        csrf_token,
        notice: notice_of(query.as_deref()),
        posts: page.items.iter().map(PostRow::from).collect(),
        page_number: number.get(),
        newer: number.previous().map(PageNumber::get),
        older: page
            .has_next
            .then(|| number.next())
            .flatten()
            .map(PageNumber::get),
    })?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

// ---------------------------------------------------------------------------------------------------
// The editor

/// The editor's fields as typed, with a message per wrong field.
#[derive(Debug, Default)]
struct EditorForm {
    title: String,
    slug: String,
    body: String,
    title_error: Option<String>,
    slug_error: Option<String>,
    body_error: Option<String>,
}

/// What is saved, shown above the publishing buttons.
#[derive(Debug)]
struct SavedState {
    slug: String,
    published_human: Option<String>,
    version: i64,
}

/// The post as someone else saved it, shown beside the author's text after a stale edit.
#[derive(Debug)]
struct TheirVersion {
    title: String,
    slug: String,
    body: String,
    version: i64,
}

#[derive(Template)]
#[template(path = "admin/editor.html")]
struct EditorPage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    heading: String,
    action: String,
    version: Option<i64>,
    notice: Option<&'static str>,
    problem: Option<String>,
    form: EditorForm,
    saved: Option<SavedState>,
    preview_html: Option<String>,
    current: Option<TheirVersion>,
}

impl EditorPage {
    fn new(admin: &str, csrf_token: String, editing: Option<&Post>, form: EditorForm) -> Self {
        Self {
            page: PageChrome::current(),
            bar_username: admin.to_owned(),
            csrf_token,
            heading: editing
                .map_or_else(|| "New post".to_owned(), |p| format!("Edit “{}”", p.title)),
            action: editing.map_or_else(
                || "/admin/posts".to_owned(),
                |p| format!("/admin/posts/{}", p.id),
            ),
            version: editing.map(|p| p.version.get()),
            notice: None,
            problem: None,
            form,
            saved: editing.map(|p| SavedState {
                slug: p.slug.to_string(),
                published_human: p.published_at.map(human_date),
                version: p.version.get(),
            }),
            preview_html: None,
            current: None,
        }
    }
}

/// A valid editor form.
#[derive(Debug)]
struct ValidEditor {
    title: PostTitle,
    slug: Option<Slug>,
    body: PostBody,
}

impl EditorForm {
    /// The fields as typed, unchecked: what is shown back to the author.
    fn as_typed(fields: &Fields) -> Self {
        Self {
            title: fields.get("title").unwrap_or_default().to_owned(),
            slug: fields.get("slug").unwrap_or_default().to_owned(),
            body: fields.get("body").unwrap_or_default().to_owned(),
            ..Self::default()
        }
    }
}

/// The fields as typed (kept for showing again), then parsed; every wrong field gets its message.
fn parse_editor(fields: &Fields) -> (EditorForm, Option<ValidEditor>) {
    let mut form = EditorForm::as_typed(fields);
    let title = PostTitle::parse(&form.title).map_err(|e| e.to_string());
    let slug = if form.slug.trim().is_empty() {
        Ok(None)
    } else {
        Slug::parse(&form.slug).map(Some).map_err(|e| e.to_string())
    };
    let body = PostBody::parse(&form.body).map_err(|e| e.to_string());
    match (title, slug, body) {
        (Ok(title), Ok(slug), Ok(body)) => (form, Some(ValidEditor { title, slug, body })),
        (title, slug, body) => {
            form.title_error = title.err();
            form.slug_error = slug.err();
            form.body_error = body.err();
            (form, None)
        }
    }
}

/// Whether the editor's `Preview` button was pressed (else `Save`, also the default on Enter).
fn wants_preview(fields: &Fields) -> bool {
    fields.get("action") == Some("preview")
}

/// The editor's form parsed, and its preview when asked for and the text is valid, on a blocking
/// thread within the render budget (parsing a body measures its nesting, which is linear but not free;
/// rendering is the costly part). Only ever called for a signed-in admin.
async fn parse_and_preview(
    fields: Fields<'static>,
) -> Result<(EditorForm, Option<ValidEditor>, Option<String>), HtmlError> {
    let preview = wants_preview(&fields);
    let parsed = crate::blog::markdown::off_runtime(move || {
        let (form, valid) = parse_editor(&fields);
        let html = if preview && form.body_error.is_none() {
            PostBody::parse(&form.body)
                .ok()
                .map(|body| render_markdown(body.as_str()))
        } else {
            None
        };
        (form, valid, html)
    })
    .await
    .map_err(ApiError::from)?;
    Ok(parsed)
}

/// `GET /admin/posts/new`: an empty editor.
pub(crate) async fn new_post_form(
    admin: AdminSession,
    client: ClientContext,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&EditorPage::new(
        &admin.username,
        csrf_token,
        None,
        EditorForm::default(),
    ))?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// Shows the editor again with the author's text and why nothing was saved.
fn editor_again(
    status: StatusCode,
    mut page: EditorPage,
    problem: Option<String>,
    cookies: Vec<HeaderValue>,
) -> Result<Response, HtmlError> {
    page.problem = problem;
    Ok(private_page(status, pages::render(&page)?, cookies))
}

const SESSION_ENDED: &str = "Your session has ended, so nothing was saved. Your text is still below: sign in again in another tab (at /admin/login), then come back here and save again.";

/// `POST /admin/posts`: saves a new draft (303 to its editor), or shows a preview.
#[tracing::instrument(name = "Creating a post", skip_all)]
pub(crate) async fn create_post(
    State(state): State<AppState>,
    client: ClientContext,
    viewer: Viewer,
    request: Request,
) -> Result<Response, HtmlError> {
    let (parts, fields) = read_form_unverified(request, MAX_EDITOR_BYTES).await?;
    let token_ok = csrf::verify(&parts.headers, fields.get("csrf_token")).is_ok();
    let (csrf_token, cookies) = csrf_for(&parts.headers, client);
    let admin = match (viewer.admin, token_ok) {
        (Some(admin), true) => admin,
        (admin, _) => {
            // Nothing is parsed, rendered or saved: they only get their own text back.
            let problem = if admin.is_some() {
                TOKEN_CHANGED
            } else {
                SESSION_ENDED
            };
            let name = admin.as_ref().map_or("", |a| a.username.as_str());
            let page = EditorPage::new(name, csrf_token, None, EditorForm::as_typed(&fields));
            return editor_again(StatusCode::FORBIDDEN, page, Some(problem.into()), cookies);
        }
    };
    let (form, valid, preview) = parse_and_preview(fields).await?;
    let mut page = EditorPage::new(&admin.username, csrf_token, None, form);
    page.preview_html = preview;
    if page.preview_html.is_some() {
        return editor_again(StatusCode::OK, page, None, cookies);
    }
    let Some(valid) = valid else {
        return editor_again(
            StatusCode::UNPROCESSABLE_ENTITY,
            page,
            Some("Nothing was saved. Please fix the fields marked below.".into()),
            cookies,
        );
    };
    let slug = match valid.slug {
        Some(slug) => SlugChoice::Given(slug),
        None => SlugChoice::FromTitle(Slug::from_title(&valid.title)),
    };
    let new = NewPost {
        title: valid.title,
        body: valid.body,
    };
    match store::create_post(&state.sql, new, slug).await? {
        Ok(post) => {
            metrics::counter!("stratus_posts_created_total").increment(1);
            tracing::info!(post_id = %post.id, slug = %post.slug, "post created");
            Ok(see_other(
                &format!("/admin/posts/{}/edit?notice=created", post.id),
                cookies,
            ))
        }
        Err(SlugTaken(slug)) => {
            page.form.slug_error = Some(SlugTaken(slug).to_string());
            editor_again(
                StatusCode::CONFLICT,
                page,
                Some("Nothing was saved: the address is taken.".into()),
                cookies,
            )
        }
    }
}

/// `GET /admin/posts/{id}/edit`: the editor, filled with the saved post.
#[tracing::instrument(name = "Showing the editor", skip_all)]
pub(crate) async fn edit_post_form(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let Some(post) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "There is no post with this id; it may have been deleted.".into(),
        )
        .into());
    };
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let form = EditorForm {
        title: post.title.to_string(),
        slug: post.slug.to_string(),
        body: post.body.as_str().to_owned(),
        ..EditorForm::default()
    };
    let mut page = EditorPage::new(&admin.username, csrf_token, Some(&post), form);
    page.notice = notice_of(query.as_deref());
    Ok(private_page(StatusCode::OK, pages::render(&page)?, cookies))
}

/// `POST /admin/posts/{id}`: saves the post if nobody saved it since the author loaded it (303 back to
/// the editor), or shows a preview. A stale save is refused with 409: the author's text stays in the
/// form, the version saved meanwhile is shown beside it, and the form now carries that version, so a
/// second save (after reading theirs) is a deliberate overwrite.
#[tracing::instrument(name = "Saving a post", skip_all)]
pub(crate) async fn save_post(
    State(state): State<AppState>,
    client: ClientContext,
    viewer: Viewer,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (parts, fields) = read_form_unverified(request, MAX_EDITOR_BYTES).await?;
    let token_ok = csrf::verify(&parts.headers, fields.get("csrf_token")).is_ok();
    let based_on = version_field(&fields)?;
    let (csrf_token, cookies) = csrf_for(&parts.headers, client);
    let admin = match (viewer.admin, token_ok) {
        (Some(admin), true) => admin,
        (admin, _) => {
            // Nothing is read, parsed, rendered or saved; the page only gives them their own text back.
            let problem = if admin.is_some() {
                TOKEN_CHANGED
            } else {
                SESSION_ENDED
            };
            let name = admin.as_ref().map_or("", |a| a.username.as_str());
            let mut page = EditorPage::new(name, csrf_token, None, EditorForm::as_typed(&fields));
            page.action = format!("/admin/posts/{id}");
            page.heading = "Edit a post".into();
            page.version = Some(based_on.get());
            return editor_again(StatusCode::FORBIDDEN, page, Some(problem.into()), cookies);
        }
    };
    let Some(saved) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "This post was deleted meanwhile, so nothing was saved. Use your browser's Back button to copy your text, then create a new post with it."
                .into(),
        )
        .into());
    };
    let (form, valid, preview) = parse_and_preview(fields).await?;
    let mut page = EditorPage::new(&admin.username, csrf_token, Some(&saved), form);
    // The form goes on carrying the version the author started from, not the one just read.
    page.version = Some(based_on.get());
    page.preview_html = preview;
    if page.preview_html.is_some() {
        return editor_again(StatusCode::OK, page, None, cookies);
    }
    let Some(valid) = valid else {
        return editor_again(
            StatusCode::UNPROCESSABLE_ENTITY,
            page,
            Some("Nothing was saved. Please fix the fields marked below.".into()),
            cookies,
        );
    };
    let edit = PostEdit {
        title: valid.title,
        body: valid.body,
        slug: valid.slug,
        based_on,
    };
    match store::update_post(&state.sql, id, edit).await? {
        Ok(post) => {
            tracing::info!(post_id = %post.id, version = post.version.get(), "post saved");
            Ok(see_other(
                &format!("/admin/posts/{}/edit?notice=saved", post.id),
                cookies,
            ))
        }
        Err(ChangeRefused::Stale(theirs)) => {
            page.version = Some(theirs.version.get());
            let problem = format!(
                "Not saved: someone saved this post after you opened it (you started from version {}, it is now at version {}). Your text is still in the form below; their version is shown underneath. Merge what you need, then press Save again to replace theirs.",
                based_on.get(),
                theirs.version.get()
            );
            page.saved = Some(SavedState {
                slug: theirs.slug.to_string(),
                published_human: theirs.published_at.map(human_date),
                version: theirs.version.get(),
            });
            page.current = Some(TheirVersion {
                title: theirs.title.to_string(),
                slug: theirs.slug.to_string(),
                body: theirs.body.as_str().to_owned(),
                version: theirs.version.get(),
            });
            editor_again(StatusCode::CONFLICT, page, Some(problem), cookies)
        }
        Err(ChangeRefused::SlugTaken(taken)) => {
            page.form.slug_error = Some(taken.to_string());
            editor_again(
                StatusCode::CONFLICT,
                page,
                Some("Nothing was saved: the address is taken.".into()),
                cookies,
            )
        }
        Err(ChangeRefused::NotFound) => Err(ApiError::NotFound(
            "This post was deleted meanwhile, so nothing was saved. Use your browser's Back button to copy your text, then create a new post with it."
                .into(),
        )
        .into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Publishing and deleting

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    title: String,
    message: String,
    link_href: String,
    link_text: String,
}

/// The page for a publish/unpublish/delete that was refused.
fn refused(
    admin: &AdminSession,
    headers: &HeaderMap,
    client: ClientContext,
    id: PostId,
    refusal: ChangeRefused,
) -> Result<Response, HtmlError> {
    let (csrf_token, cookies) = csrf_for(headers, client);
    let (status, message, link_href, link_text) = match refusal {
        ChangeRefused::Stale(theirs) => (
            StatusCode::CONFLICT,
            format!(
                "Nothing was changed: the post was saved by someone else after you loaded this page (it is now at version {}). Look at it again, then decide.",
                theirs.version.get()
            ),
            format!("/admin/posts/{id}/edit"),
            "Open the post as it is now".to_owned(),
        ),
        ChangeRefused::NotFound => (
            StatusCode::NOT_FOUND,
            "Nothing was changed: this post does not exist any more.".to_owned(),
            "/admin".to_owned(),
            "Back to the posts".to_owned(),
        ),
        ChangeRefused::SlugTaken(taken) => (
            StatusCode::CONFLICT,
            taken.to_string(),
            format!("/admin/posts/{id}/edit"),
            "Open the post".to_owned(),
        ),
    };
    let body = pages::render(&MessagePage {
        page: PageChrome::current(),
        bar_username: admin.username.clone(),
        csrf_token,
        title: "Not changed".into(),
        message,
        link_href,
        link_text,
    })?;
    Ok(private_page(status, body, cookies))
}

async fn set_published(
    state: AppState,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
    publish: bool,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (parts, fields) = read_form(request, MAX_BODY_BYTES).await?;
    let based_on = version_field(&fields)?;
    match store::set_published(&state.sql, id, based_on, publish).await? {
        Ok(post) => {
            tracing::info!(post_id = %post.id, publish, "post publication changed");
            let notice = if publish { "published" } else { "unpublished" };
            Ok(see_other(&format!("/admin?notice={notice}"), Vec::new()))
        }
        Err(refusal) => refused(&admin, &parts.headers, client, id, refusal),
    }
}

/// `POST /admin/posts/{id}/publish`: readers see it from now on (if still at the form's version).
pub(crate) async fn publish(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    set_published(state, admin, client, raw_id, request, true).await
}

/// `POST /admin/posts/{id}/unpublish`: back to a draft (if still at the form's version).
pub(crate) async fn unpublish(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    set_published(state, admin, client, raw_id, request, false).await
}

#[derive(Template)]
#[template(path = "admin/confirm_delete.html")]
struct ConfirmDeletePage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    id: String,
    title: String,
    published: bool,
    version: i64,
}

/// `GET /admin/posts/{id}/delete`: asks before deleting (a link never deletes anything).
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let Some(post) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "There is no post with this id; it may have been deleted already.".into(),
        )
        .into());
    };
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&ConfirmDeletePage {
        page: PageChrome::current(),
        bar_username: admin.username,
        csrf_token,
        id: post.id.to_string(),
        title: post.title.to_string(),
        published: post.is_published(),
        version: post.version.get(),
    })?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// `POST /admin/posts/{id}/delete`: deletes the post, if it is still as the author last saw it.
#[tracing::instrument(name = "Deleting a post", skip_all)]
pub(crate) async fn delete_post(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (parts, fields) = read_form(request, MAX_BODY_BYTES).await?;
    let based_on = version_field(&fields)?;
    match store::delete_post(&state.sql, id, based_on).await? {
        Ok(()) => {
            tracing::info!(post_id = %id, "post deleted");
            Ok(see_other("/admin?notice=deleted", Vec::new()))
        }
        Err(refusal) => refused(&admin, &parts.headers, client, id, refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_told_in_whole_minutes_rounded_up() {
        assert!(wait_sentence(Duration::from_secs(1)).contains("about 1 minute."));
        assert!(wait_sentence(Duration::from_secs(61)).contains("about 2 minutes."));
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert_eq!(notice_of(Some("notice=saved")), Some("Saved."));
        assert_eq!(notice_of(Some("notice=%3Cscript%3E")), None);
        assert_eq!(notice_of(None), None);
    }

    #[test]
    fn the_editor_keeps_typed_text_and_marks_each_wrong_field() {
        let fields = Fields::parse(b"title=&slug=Bad+Slug&body=kept+text").unwrap_or_default();
        let (form, valid) = parse_editor(&fields);
        assert!(valid.is_none());
        assert_eq!(form.body, "kept text");
        assert_eq!(form.slug, "Bad Slug");
        assert!(form.title_error.is_some());
        assert!(form.slug_error.is_some());
        assert!(form.body_error.is_none());
    }
}
