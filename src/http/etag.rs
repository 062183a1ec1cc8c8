//! Entity tags: one strong validator type, and the two comparisons RFC 9110 defines for the headers that
//! carry them back (`If-None-Match`: weak comparison, `If-Range`: strong).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

/// A strong entity tag, kept quoted (`"3f1c..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// The tag of an opaque token of hex digits (a digest, possibly with a suffix such as `-br`).
    pub fn from_token(token: &str) -> Self {
        Self(format!("\"{token}\""))
    }

    /// The tag of a body: the first 128 bits of its SHA-256.
    pub fn of(body: &[u8]) -> Self {
        Self::from_token(&hex::encode(&Sha256::digest(body)[..16]))
    }

    /// The quoted tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `ETag` header value (hex digits and quotes are always a valid value).
    pub fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.0).ok()
    }

    /// Whether `If-None-Match` (any of its values) names this tag, or is `*`: the client's copy is
    /// current. Weak comparison, as RFC 9110 §13.1.2 asks: `W/"x"` matches `"x"`.
    pub fn none_match(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.0)
    }

    /// Whether `If-Range` holds exactly this tag, so a range of the client's partial copy may be sent.
    /// Strong comparison (RFC 9110 §13.1.5): a weak tag, another tag or a date never matches, and the
    /// whole representation is sent instead. `true` when there is no `If-Range` at all.
    pub fn if_range_allows(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::IF_RANGE) {
            None => true,
            Some(value) => value.to_str().is_ok_and(|v| v.trim() == self.0),
        }
    }
}

/// What public pages may be cached for: a minute fresh, five more minutes served stale while refreshed.
pub const PUBLIC_CACHE: &str = "public, max-age=60, stale-while-revalidate=300";

/// A public, cacheable answer: the body with its ETag, or 304 when the client has it already.
pub fn cacheable(headers: &HeaderMap, content_type: &'static str, body: String) -> Response {
    let etag = ETag::of(body.as_bytes());
    let cache = HeaderValue::from_static(PUBLIC_CACHE);
    let etag_value = etag.header_value();
    let mut response = if etag.none_match(headers) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, cache);
    if let Some(etag) = etag_value {
        out.insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
        headers
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let etag = ETag::of(b"body");
        assert!(!etag.none_match(&HeaderMap::new()));
        for given in [
            etag.as_str().to_owned(),
            format!("W/{}", etag.as_str()),
            format!("\"x\", {}", etag.as_str()),
            "*".into(),
        ] {
            assert!(
                etag.none_match(&with(header::IF_NONE_MATCH, &given)),
                "{given}"
            );
        }
        assert!(!etag.none_match(&with(header::IF_NONE_MATCH, "\"other\"")));
    }

    #[test]
    fn if_range_compares_strongly_and_never_matches_a_date() {
        let etag = ETag::from_token("abc");
        assert!(etag.if_range_allows(&HeaderMap::new()));
        assert!(etag.if_range_allows(&with(header::IF_RANGE, "\"abc\"")));
        for other in ["W/\"abc\"", "\"abd\"", "Tue, 01 Dec 2026 10:00:00 GMT", "*"] {
            assert!(
                !etag.if_range_allows(&with(header::IF_RANGE, other)),
                "{other}"
            );
        }
    }
}
