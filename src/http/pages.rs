//! What every HTML page shares: the stylesheet and script (fingerprinted), the instance footer, the version.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

use super::middleware::current_instance;

/// A static file compiled into the binary and served under a content-hashed name.
#[derive(Debug)]
pub(crate) struct Asset {
    /// The URL path, e.g. `/static/app.1a2b3c4d5e.css`.
    pub(crate) path: String,
    /// The strong ETag (the full hash).
    pub(crate) etag: String,
    /// Media type.
    pub(crate) content_type: &'static str,
    /// The bytes.
    pub(crate) body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Self {
        let hash = Sha256::digest(body);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            path: format!("/static/{stem}.{}.{ext}", &hex[..10]),
            etag: format!("\"{hex}\""),
            content_type,
            body,
        }
    }
}

/// All static assets.
#[derive(Debug)]
pub(crate) struct Assets {
    /// The one stylesheet.
    pub(crate) css: Asset,
    /// The board's progressive enhancement script.
    pub(crate) board_js: Asset,
}

/// Built once: hashing two small files costs microseconds.
pub(crate) static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: Asset::new(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    board_js: Asset::new(
        "board",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/board.js"),
    ),
});

/// `GET /static/{file}`: a fingerprinted asset, cacheable for a year (its name changes with its content).
pub(crate) async fn serve_asset(
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let path = format!("/static/{file}");
    let Some(asset) = [&ASSETS.css, &ASSETS.board_js]
        .into_iter()
        .find(|a| a.path == path)
    else {
        return super::middleware::not_found(axum::http::Uri::from_static("/static")).await;
    };
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag = HeaderValue::from_str(&asset.etag).ok();
    if headers
        .get(header::IF_NONE_MATCH)
        .zip(etag.as_ref())
        .is_some_and(|(given, ours)| given == ours)
    {
        return (StatusCode::NOT_MODIFIED, [(header::CACHE_CONTROL, cache)]).into_response();
    }
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The parts of the layout every page fills the same way.
#[derive(Debug, Clone)]
pub(crate) struct PageChrome {
    /// Stylesheet URL.
    pub(crate) css_href: &'static str,
    /// Board script URL.
    pub(crate) board_js_href: &'static str,
    /// Instance that rendered the page.
    pub(crate) instance: String,
    /// Service version.
    pub(crate) version: &'static str,
}

impl PageChrome {
    /// The chrome for the request being handled.
    pub(crate) fn current() -> Self {
        Self {
            css_href: &ASSETS.css.path,
            board_js_href: &ASSETS.board_js.path,
            instance: current_instance()
                .map(|i| i.to_string())
                .unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}
