//! Cross-site request forgery defence for HTML forms: a double-submit token plus the browser's own word.
//!
//! - `Sec-Fetch-Site` (sent by every current browser) of `cross-site` or `same-site` is refused outright.
//! - The form carries `csrf_token`, which must equal the `stratus_csrf` cookie (`HttpOnly; SameSite=Lax`,
//!   `Secure` over HTTPS). Another site can neither read the cookie nor, with `SameSite=Lax`, make the
//!   browser send it on a cross-site POST, so it cannot produce a matching pair.
//!
//! The `Origin` header is not compared with `Host`: behind CloudFront the origin sees the ALB's host name,
//! so that check would refuse every legitimate post.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;

/// The cookie holding the token.
pub(crate) const COOKIE_NAME: &str = "stratus_csrf";
const TOKEN_LEN: usize = 43; // 32 random bytes, URL-safe base64 without padding

/// The token of this browser (from its cookie), or a new one with the `Set-Cookie` value to send.
pub(crate) fn issue(headers: &HeaderMap, https: bool) -> (String, Option<HeaderValue>) {
    if let Some(token) = token_from_cookie(headers) {
        return (token.to_owned(), None);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let mut cookie = String::with_capacity(COOKIE_NAME.len() + TOKEN_LEN + 48);
    for part in [COOKIE_NAME, "=", &token, "; Path=/; HttpOnly; SameSite=Lax"] {
        cookie.push_str(part);
    }
    if https {
        cookie.push_str("; Secure");
    }
    (token, HeaderValue::from_str(&cookie).ok())
}

fn token_from_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| {
            value.len() == TOKEN_LEN
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
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

/// Checks the form's token against the cookie, in constant time.
pub(crate) fn verify(headers: &HeaderMap, form_token: Option<&str>) -> Result<(), ApiError> {
    let matches = match (token_from_cookie(headers), form_token) {
        (Some(cookie), Some(form)) => bool::from(cookie.as_bytes().ct_eq(form.as_bytes())),
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
