//! Cookies: the one reader of `Cookie` headers and the one writer of `Set-Cookie` values, on the `cookie`
//! crate (RFC 6265 parsing and formatting). Every cookie this service sets is `HttpOnly`, and `Secure`
//! when the client came over HTTPS.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// Every `name=value` pair of the request's `Cookie` headers, in order, borrowed from the headers. A
/// malformed pair is skipped, not an error: one bad cookie must not hide the others.
pub(crate) fn all(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(|cookie| {
            let cookie = cookie.ok()?;
            Some((cookie.name_raw()?, cookie.value_raw()?))
        })
}

/// The first value of the cookie `name`, if the request sent it.
pub(crate) fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    all(headers)
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A cookie this service sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetCookie<'a> {
    /// The cookie's name.
    pub name: &'a str,
    /// Its value (tokens and base64: nothing that needs encoding).
    pub value: &'a str,
    /// The path it is sent to.
    pub path: &'a str,
    /// `Strict` for the session and device cookies, `Lax` for the CSRF cookie of public forms.
    pub same_site: SameSite,
    /// How long it lives; `None`: until the browser closes.
    pub max_age: Option<Duration>,
    /// Whether the client came over HTTPS (then the cookie is `Secure`).
    pub https: bool,
}

impl SetCookie<'_> {
    /// The `Set-Cookie` header value.
    pub(crate) fn header_value(&self) -> Option<HeaderValue> {
        let mut cookie = Cookie::build((self.name, self.value))
            .path(self.path)
            .http_only(true)
            .same_site(self.same_site)
            .secure(self.https);
        if let Some(age) = self.max_age {
            let seconds = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
            cookie = cookie.max_age(time::Duration::seconds(seconds));
        }
        HeaderValue::from_str(&cookie.build().to_string()).ok()
    }

    /// The `Set-Cookie` value that removes this cookie (same name and path, empty, `Max-Age=0`).
    pub(crate) fn removal(&self) -> Option<HeaderValue> {
        SetCookie {
            value: "",
            max_age: Some(Duration::ZERO),
            ..*self
        }
        .header_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_and_pair_is_read_and_junk_is_skipped() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; junk; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(
            all(&headers).collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2"), ("c", "3")]
        );
        assert_eq!(value(&headers, "b"), Some("2"));
        assert_eq!(value(&headers, "junk"), None);
    }

    #[test]
    fn set_cookies_are_http_only_and_secure_over_https() {
        let cookie = SetCookie {
            name: "s",
            value: "tok",
            path: "/",
            same_site: SameSite::Strict,
            max_age: Some(Duration::from_secs(60)),
            https: true,
        };
        let text = cookie
            .header_value()
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let text = text.unwrap_or_default();
        for part in [
            "s=tok",
            "Path=/",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let gone = cookie
            .removal()
            .map(|v| v.to_str().unwrap_or("").to_owned());
        assert!(gone.unwrap_or_default().contains("Max-Age=0"));
        let plain = SetCookie {
            https: false,
            ..cookie
        }
        .header_value();
        assert!(
            !plain
                .map(|v| v.to_str().unwrap_or("").contains("Secure"))
                .unwrap_or(true)
        );
    }
}
