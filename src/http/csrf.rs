//! Cross-site request forgery defence for HTML forms: a double-submit token plus the browser's own word.
//!
//! - `Sec-Fetch-Site` (sent by every current browser) of `cross-site` or `same-site` is refused outright.
//! - The form carries `csrf_token`. For a browser with a session cookie, the token is bound to that
//!   session: a digest of the session's secret token ([`session_bound`]), which nobody without the
//!   session cookie can compute, so a cookie planted by a sibling domain or a man in the middle cannot
//!   produce a pair that passes. Without a session it must equal the `stratus_csrf` cookie (`HttpOnly;
//!   SameSite=Lax`, `Secure` over HTTPS): another site can neither read the cookie nor, with
//!   `SameSite=Lax`, make the browser send it on a cross-site POST.
//! - API writes that ride the session cookie (no bearer token) need a same-origin `Origin` header or the
//!   session's token in `X-CSRF-Token` ([`api_write_allowed`]). The origin is `STRATUS_PUBLIC_URL` when
//!   set (behind CloudFront the service sees the ALB's host name, not the one the browser used), else the
//!   request's own host.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use crate::auth::session::{SESSION_COOKIE, SessionToken};

/// The cookie holding the token.
pub(crate) const COOKIE_NAME: &str = "stratus_csrf";
/// The header an API client riding the session cookie may send the token in.
pub(crate) const HEADER_NAME: &str = "x-csrf-token";
const TOKEN_LEN: usize = 43; // 32 random bytes, URL-safe base64 without padding

/// The token bound to a session: SHA-256 of a fixed label and the session's secret token.
fn session_bound(session: &SessionToken) -> String {
    let digest = Sha256::new()
        .chain_update(b"stratus csrf\0")
        .chain_update(session.as_str().as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// The two cookies this module reads, in one pass over the `Cookie` headers.
fn cookies(headers: &HeaderMap) -> (Option<SessionToken>, Option<&str>) {
    let (mut session, mut csrf) = (None, None);
    for (name, value) in super::cookies::all(headers) {
        if name == SESSION_COOKIE && session.is_none() {
            session = SessionToken::parse(value);
        } else if name == COOKIE_NAME && csrf.is_none() && well_formed(value) {
            csrf = Some(value);
        }
    }
    (session, csrf)
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token a form of this browser must carry: bound to its session when it has one, else its CSRF
/// cookie's (`None` when it has neither).
fn expected(headers: &HeaderMap) -> Option<String> {
    match cookies(headers) {
        (Some(session), _) => Some(session_bound(&session)),
        (None, csrf) => csrf.map(str::to_owned),
    }
}

/// The token for this browser's forms (bound to its session, or its cookie's), or a new one with the
/// `Set-Cookie` value to send.
pub(crate) fn issue(headers: &HeaderMap, https: bool) -> (String, Option<HeaderValue>) {
    match cookies(headers) {
        (Some(session), _) => return (session_bound(&session), None),
        (None, Some(token)) => return (token.to_owned(), None),
        (None, None) => {}
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let cookie = super::cookies::SetCookie {
        name: COOKIE_NAME,
        value: &token,
        path: "/",
        same_site: cookie::SameSite::Lax,
        max_age: None,
        https,
    }
    .header_value();
    (token, cookie)
}

/// Refuses a request a browser marked as coming from another site (before its body is read).
pub(crate) fn refuse_cross_site(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("cross-site" | "same-site") => Err(ApiError::Forbidden(
            "This form was sent from another site, so it was refused. Open the page here and submit it again.".into(),
        )),
        _ => Ok(()),
    }
}

/// Checks the form's token against the session's (or, without a session, the cookie's), in constant
/// time.
pub(crate) fn verify(headers: &HeaderMap, form_token: Option<&str>) -> Result<(), ApiError> {
    let matches = match (expected(headers), form_token) {
        (Some(want), Some(form)) => bool::from(want.as_bytes().ct_eq(form.as_bytes())),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "The form's security token is missing or expired. Reload the page and submit the form again.".into(),
        ))
    }
}

/// Whether an API write that rides the session cookie may go ahead: its `Origin` is `origin` (this
/// service's public origin, `scheme://host[:port]`), or it carries the session's token in
/// `X-CSRF-Token`.
pub(crate) fn api_write_allowed(headers: &HeaderMap, origin: &str) -> bool {
    let same_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if same_origin {
        return true;
    }
    let sent = headers.get(HEADER_NAME).and_then(|v| v.to_str().ok());
    match (cookies(headers).0, sent) {
        (Some(session), Some(sent)) => {
            bool::from(session_bound(&session).as_bytes().ct_eq(sent.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.append(*name, value);
            }
        }
        map
    }

    #[test]
    fn with_a_session_only_the_token_bound_to_it_passes() {
        let session = SessionToken::generate();
        let cookie = format!(
            "{SESSION_COOKIE}={}; {COOKIE_NAME}={}",
            session.as_str(),
            "a".repeat(TOKEN_LEN)
        );
        let request = headers(&[("cookie", &cookie)]);
        let (issued, set_cookie) = issue(&request, false);
        assert!(set_cookie.is_none());
        assert_eq!(issued, session_bound(&session));
        assert!(verify(&request, Some(&issued)).is_ok());
        // A matching cookie/field pair an attacker planted is not enough any more.
        assert!(verify(&request, Some(&"a".repeat(TOKEN_LEN))).is_err());
        // Another session's token does not pass either.
        let other = session_bound(&SessionToken::generate());
        assert!(verify(&request, Some(&other)).is_err());
    }

    #[test]
    fn without_a_session_the_cookie_pair_passes() {
        let token = "b".repeat(TOKEN_LEN);
        let request = headers(&[("cookie", &format!("{COOKIE_NAME}={token}"))]);
        assert_eq!(issue(&request, false).0, token);
        assert!(verify(&request, Some(&token)).is_ok());
        assert!(verify(&request, None).is_err());
        assert!(verify(&headers(&[]), Some(&token)).is_err());
    }

    #[test]
    fn cookie_api_writes_need_the_same_origin_or_the_session_token() {
        let session = SessionToken::generate();
        let cookie = format!("{SESSION_COOKIE}={}", session.as_str());
        let origin = "https://blog.example";
        assert!(api_write_allowed(
            &headers(&[("cookie", &cookie), ("origin", "https://blog.example")]),
            origin
        ));
        assert!(!api_write_allowed(
            &headers(&[("cookie", &cookie), ("origin", "http://evil.example")]),
            origin
        ));
        assert!(!api_write_allowed(&headers(&[("cookie", &cookie)]), origin));
        assert!(api_write_allowed(
            &headers(&[("cookie", &cookie), (HEADER_NAME, &session_bound(&session))]),
            origin
        ));
    }
}
