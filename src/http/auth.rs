//! Who is asking: extractors for handlers that need the admin, or the right to write.
//!
//! | extractor | gives | when refused |
//! | --- | --- | --- |
//! | [`AdminSession`] | the signed-in admin | page `GET`: 303 to `/admin/login?next=<this page>`; other page methods: 403 page; `/api/`: 401 problem+json with `WWW-Authenticate: Bearer` |
//! | [`WriteAccess`] | why this request may write: [`WriteAccess::Open`] (no admin or token configured), [`WriteAccess::Admin`] (a session), [`WriteAccess::ApiToken`] | as above |
//! | [`PrivateRead`] | the right to read people's records (users' names and e-mail addresses): open while writes are, else the session or the token | as above |
//! | [`FileRead`] | the right to list and download files: as [`PrivateRead`], or open when `STRATUS_FILES_PUBLIC` says files are public on purpose | as above |
//! | [`Viewer`] | who is looking, and whether writes are open (for templates) | never (503 only if the session store is down) |
//!
//! A session comes from the `stratus_session` cookie (`HttpOnly; SameSite=Strict; Path=/`, `Secure` when
//! the client used HTTPS). `SameSite=Strict` keeps other sites from riding it, and a request that a browser
//! marks `Sec-Fetch-Site: cross-site`/`same-site` is refused a session-backed write anyway. HTML forms
//! still need the double-submit CSRF token (`csrf::verify`) in the handler, which reads the body: an
//! extractor cannot.
//!
//! The bearer token (`Authorization: Bearer <token>`) is for programs: its SHA-256 is compared in constant
//! time with `STRATUS_API_TOKEN_SHA256`. Being sent explicitly, never automatically, it needs no CSRF check.
//!
//! ```text
//! async fn upload(access: WriteAccess, State(state): State<AppState>, ..) -> Result<Response, ApiError> {
//!     tracing::info!(by = %access, "upload");
//!     ..
//! }
//! ```

use std::fmt;

use axum::{
    Json,
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use super::{
    AppState, csrf,
    error::{ApiError, HtmlError, Problem},
    middleware::current_request_id,
};
use cookie::SameSite;

use super::cookies::SetCookie;
use crate::auth::session::{self, SESSION_COOKIE, SessionToken};

/// Where people sign in.
pub const LOGIN_PATH: &str = "/admin/login";

/// A signed-in admin, from a valid, unexpired session that matches the configured account.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The admin's user name.
    pub username: String,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

/// Why the request may write.
#[derive(Debug, Clone)]
pub enum WriteAccess {
    /// Neither an admin nor an API token is configured: writes are open to everyone.
    Open,
    /// A signed-in admin.
    Admin(AdminSession),
    /// The API bearer token.
    ApiToken,
}

impl fmt::Display for WriteAccess {
    /// For logs: `open`, `admin:<name>` or `api-token`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("open"),
            Self::Admin(session) => write!(f, "admin:{}", session.username),
            Self::ApiToken => f.write_str("api-token"),
        }
    }
}

/// Who is looking at a page: for templates that show "signed in as" or "anyone may upload here".
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The admin's session, when signed in.
    pub admin: Option<AdminSession>,
    /// Whether an admin account is configured.
    pub admin_configured: bool,
    /// Whether writes are open to everyone (no admin and no API token configured).
    pub writes_open: bool,
}

impl Viewer {
    /// Whether this viewer may write (open writes, or signed in).
    pub fn can_write(&self) -> bool {
        self.writes_open || self.admin.is_some()
    }
}

/// A refusal from the extractors above.
#[derive(Debug)]
pub enum AuthRejection {
    /// Not signed in (or the credentials were wrong).
    SignInRequired {
        /// Where to come back to after signing in (page `GET`s).
        next: String,
        /// Answer as the API does (problem+json) rather than with a page.
        api: bool,
        /// A page request that can be redirected (a `GET`/`HEAD`).
        redirect: bool,
    },
    /// Refused for another reason (a cross-site request, the session store down).
    Error {
        /// The error.
        error: ApiError,
        /// Answer as the API does.
        api: bool,
    },
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::SignInRequired { api: true, .. } => unauthorized(
                "This needs the admin's session or the API token: send `Authorization: Bearer <token>`.",
            ),
            Self::SignInRequired {
                next,
                redirect: true,
                ..
            } => {
                let mut response = Redirect::to(&login_url(&next)).into_response();
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Self::SignInRequired { .. } => HtmlError(ApiError::Forbidden(
                "Only the admin can do this, and you are not signed in (or your session has ended). Sign in at /admin/login, then try again."
                    .into(),
            ))
            .into_response(),
            Self::Error { error, api: true } => error.into_response(),
            Self::Error { error, api: false } => HtmlError(error).into_response(),
        }
    }
}

/// 401 problem+json with `WWW-Authenticate: Bearer` (RFC 6750), never cached.
fn unauthorized(detail: &str) -> Response {
    let status = StatusCode::UNAUTHORIZED;
    let problem = Problem {
        kind: "about:blank",
        title: "Unauthorized",
        status: status.as_u16(),
        detail: detail.to_owned(),
        request_id: current_request_id(),
        errors: Vec::new(),
    };
    let mut response = (status, Json(problem)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"stratus\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/admin/login?next=<path>`, with `next` percent-encoded.
pub fn login_url(next: &str) -> String {
    format!(
        "{LOGIN_PATH}?next={}",
        utf8_percent_encode(next, NON_ALPHANUMERIC)
    )
}

/// `next` if it is a path on this site (`/...`, not `//host` or `/\host`, which browsers treat as another
/// site), else `/admin`: a sign-in link can never send someone elsewhere.
pub fn local_path_or_admin(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path
        }
        _ => "/admin",
    }
}

/// A cookie's value from the `Cookie` headers.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    super::cookies::value(headers, name)
}

/// The session cookie: the whole site, `Strict`, for the session's lifetime.
fn session_set_cookie(token: &str, ttl: Option<std::time::Duration>, https: bool) -> SetCookie<'_> {
    SetCookie {
        name: SESSION_COOKIE,
        value: token,
        path: "/",
        same_site: SameSite::Strict,
        max_age: ttl,
        https,
    }
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn session_cookie(
    token: &SessionToken,
    ttl: std::time::Duration,
    https: bool,
) -> Option<HeaderValue> {
    session_set_cookie(token.as_str(), Some(ttl), https).header_value()
}

/// The `Set-Cookie` value of a device cookie (`crate::auth::DEVICE_COOKIE`): a year long, sent only to
/// the sign-in form's address, where it lets this browser past other people's failed guesses.
pub(crate) fn device_cookie(value: &str, https: bool) -> Option<HeaderValue> {
    SetCookie {
        name: crate::auth::DEVICE_COOKIE,
        value,
        path: LOGIN_PATH,
        same_site: SameSite::Strict,
        max_age: Some(std::time::Duration::from_secs(365 * 24 * 3600)),
        https,
    }
    .header_value()
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clear_session_cookie(https: bool) -> Option<HeaderValue> {
    session_set_cookie("", None, https).removal()
}

fn is_api(parts: &Parts) -> bool {
    parts.uri.path().starts_with("/api/")
}

fn sign_in_required(parts: &Parts) -> AuthRejection {
    let next = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    AuthRejection::SignInRequired {
        next,
        api: is_api(parts),
        redirect: parts.method == Method::GET || parts.method == Method::HEAD,
    }
}

/// The session the request's cookie names, if it is valid now and belongs to the configured admin.
async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<AdminSession>, ApiError> {
    if !state.auth.admin_configured() {
        return Ok(None);
    }
    let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).and_then(SessionToken::parse)
    else {
        return Ok(None);
    };
    let Some(stored) = session::find_session(&state.sql, &token, OffsetDateTime::now_utc()).await?
    else {
        return Ok(None);
    };
    if !state
        .auth
        .session_is_current(&stored.username, &stored.credential_tag)
    {
        return Ok(None);
    }
    Ok(Some(AdminSession {
        username: stored.username,
        expires_at: stored.expires_at,
    }))
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session_of(parts, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(sign_in_required(parts)),
            Err(error) => Err(AuthRejection::Error {
                error,
                api: is_api(parts),
            }),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let admin = session_of(parts, state)
            .await
            .map_err(|error| AuthRejection::Error {
                error,
                api: is_api(parts),
            })?;
        Ok(Self {
            admin,
            admin_configured: state.auth.admin_configured(),
            writes_open: state.auth.writes_are_open(),
        })
    }
}

/// The right to read people's records: granted to everyone only while nothing is configured to protect
/// them (no admin and no API token: the start-up log and the pages say so), else to the admin's session
/// or the API token.
#[derive(Debug, Clone, Copy)]
pub struct PrivateRead;

/// The right to list and download files: [`PrivateRead`]'s, or everyone's when files are public on
/// purpose (`STRATUS_FILES_PUBLIC=true`).
#[derive(Debug, Clone, Copy)]
pub struct FileRead;

/// Whether the request may read private records (see [`PrivateRead`]).
async fn may_read_private(parts: &Parts, state: &AppState) -> Result<(), AuthRejection> {
    if state.auth.writes_are_open() {
        return Ok(());
    }
    if let Some(token) = bearer_token(&parts.headers) {
        return if state.auth.bearer_token_matches(token) {
            Ok(())
        } else {
            Err(AuthRejection::SignInRequired {
                next: String::new(),
                api: true,
                redirect: false,
            })
        };
    }
    match session_of(parts, state).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(sign_in_required(parts)),
        Err(error) => Err(AuthRejection::Error {
            error,
            api: is_api(parts),
        }),
    }
}

impl FromRequestParts<AppState> for PrivateRead {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        may_read_private(parts, state).await.map(|()| Self)
    }
}

impl FromRequestParts<AppState> for FileRead {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.files_public {
            return Ok(Self);
        }
        may_read_private(parts, state).await.map(|()| Self)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.auth.writes_are_open() {
            return Ok(Self::Open);
        }
        if let Some(token) = bearer_token(&parts.headers) {
            return if state.auth.bearer_token_matches(token) {
                Ok(Self::ApiToken)
            } else {
                // A wrong token is an error even with a valid cookie beside it: the caller meant the token.
                Err(AuthRejection::SignInRequired {
                    next: String::new(),
                    api: true,
                    redirect: false,
                })
            };
        }
        let api = is_api(parts);
        match session_of(parts, state).await {
            Ok(Some(session)) => {
                // A session rides along automatically; make sure this browser request is not from
                // another site (SameSite=Strict already keeps the cookie off those; this is the second lock).
                csrf::refuse_cross_site(&parts.headers)
                    .map_err(|error| AuthRejection::Error { error, api })?;
                // An API write has no form token: it needs this site's `Origin`, or the session's token
                // in `X-CSRF-Token` (HTML forms are checked against their token by their handlers).
                if api {
                    let origin = super::origin::PublicOrigin::from_request_parts(parts, state)
                        .await
                        .unwrap_or_else(|never| match never {});
                    if !csrf::api_write_allowed(&parts.headers, origin.as_str()) {
                        return Err(AuthRejection::Error {
                            error: ApiError::Forbidden(
                                "This write uses the admin's session cookie but comes from another origin (or none). Send it from this site, with the X-CSRF-Token header, or use `Authorization: Bearer <token>`.".into(),
                            ),
                            api,
                        });
                    }
                }
                Ok(Self::Admin(session))
            }
            Ok(None) => Err(sign_in_required(parts)),
            Err(error) => Err(AuthRejection::Error { error, api }),
        }
    }
}

#[cfg(test)]
mod tests;
