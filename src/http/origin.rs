//! The public origin written into absolute links (feed, sitemap): `STRATUS_PUBLIC_URL` when set, else the
//! host the client asked for, in which case the answer is private to that client.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::Response,
};

use super::{AppState, etag::cacheable, extract::ClientContext};

/// `scheme://host` for absolute links: `STRATUS_PUBLIC_URL` when set, and only it; otherwise the host
/// the client asked for (a trusted proxy's `X-Forwarded-Host`, else `Host`), in which case the answer
/// must not be kept by a shared cache ([`PublicOrigin::configured`]): a forged `Host` would otherwise
/// be served to everyone from the CDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    origin: String,
    configured: bool,
}

impl PublicOrigin {
    /// The origin text (`https://blog.example`), no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// A cacheable answer whose body holds this origin's links: public when the origin is configured,
    /// else private to the client and varying by the headers the origin came from.
    pub fn cacheable(
        &self,
        headers: &HeaderMap,
        content_type: &'static str,
        body: String,
    ) -> Response {
        let mut response = cacheable(headers, content_type, body);
        if !self.configured {
            let out = response.headers_mut();
            out.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60"),
            );
            out.insert(
                header::VARY,
                HeaderValue::from_static("Host, X-Forwarded-Host, X-Forwarded-Proto"),
            );
        }
        response
    }
}

/// A `Host` value we are willing to print into links: a DNS name or bracketed IPv6 literal, optional port.
fn plausible_host(host: &str) -> bool {
    (1..=255).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl FromRequestParts<AppState> for PublicOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(origin) = &state.public_origin {
            return Ok(Self {
                origin: origin.to_string(),
                configured: true,
            });
        }
        let https = ClientContext::from_request_parts(parts, state)
            .await
            .is_ok_and(|client| client.https);
        let peer_trusted = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| {
                state.proxies.iter().any(|net| net.contains(&peer.ip()))
            });
        let header_text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|h| plausible_host(h))
        };
        let forwarded = if peer_trusted {
            header_text("x-forwarded-host")
        } else {
            None
        };
        let host = forwarded
            .or_else(|| header_text(header::HOST.as_str()))
            .or_else(|| {
                parts
                    .uri
                    .authority()
                    .map(|a| a.as_str())
                    .filter(|h| plausible_host(h))
            })
            .unwrap_or("localhost");
        let scheme = if https { "https" } else { "http" };
        Ok(Self {
            origin: format!("{scheme}://{}", host.to_ascii_lowercase()),
            configured: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_markup_or_spaces_are_not_printed_into_links() {
        assert!(plausible_host("blog.example.com"));
        assert!(plausible_host("127.0.0.1:8000"));
        assert!(plausible_host("[::1]:8000"));
        for bad in [
            "",
            "a b",
            "evil.example/\"><script>",
            "x@y",
            &"a".repeat(256),
        ] {
            assert!(!plausible_host(bad), "{bad:?}");
        }
    }
}
