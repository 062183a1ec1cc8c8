//! Signing in and out: the sign-in form, the throttled password check, the session and device cookies.

use std::time::Duration;

use askama::Template;
use axum::{
    extract::{RawQuery, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::{
    auth::{
        DEVICE_COOKIE, LoginCheck,
        session::{self, SESSION_COOKIE, SessionToken, StoredSession},
        throttle::{self, ThrottleKeys},
    },
    http::{
        AppState,
        auth::{
            Viewer, clear_session_cookie, cookie_value, device_cookie, local_path_or_admin,
            session_cookie,
        },
        error::HtmlError,
        extract::{ClientContext, Fields, MAX_BODY_BYTES},
        pages::{self, PageChrome},
    },
};

use super::{csrf_for, notice_of, private_page, read_form, see_other};

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
pub(super) async fn login_form(
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
pub(super) async fn login(
    State(state): State<AppState>,
    client: ClientContext,
    request: Request,
) -> Result<Response, HtmlError> {
    let (headers, fields) = read_form(request, MAX_BODY_BYTES).await?;
    if !state.auth.admin_configured() {
        return setup_page(&state, StatusCode::FORBIDDEN);
    }
    let username = fields.get("username").unwrap_or_default().trim().to_owned();
    let password = SecretString::from(fields.get("password").unwrap_or_default().to_owned());
    let next = local_path_or_admin(fields.get("next")).to_owned();
    let (csrf_token, cookies) = csrf_for(&headers, client);
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
    let device = cookie_value(&headers, DEVICE_COOKIE).and_then(|v| state.auth.device_of(v));
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
            if let Some(old) = cookie_value(&headers, SESSION_COOKIE).and_then(SessionToken::parse)
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
pub(super) async fn logout(
    State(state): State<AppState>,
    client: ClientContext,
    request: Request,
) -> Result<Response, HtmlError> {
    let (headers, _fields) = read_form(request, MAX_BODY_BYTES).await?;
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE).and_then(SessionToken::parse) {
        session::delete_session(&state.sql, &token).await?;
    }
    Ok(see_other(
        "/admin/login?notice=signed-out",
        clear_session_cookie(client.https).into_iter().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_told_in_whole_minutes_rounded_up() {
        assert!(wait_sentence(Duration::from_secs(1)).contains("about 1 minute."));
        assert!(wait_sentence(Duration::from_secs(61)).contains("about 2 minutes."));
    }
}
