//! What every HTML page shares: the stylesheet and script (fingerprinted), the instance footer, the version.
//!
//! Assets are compressed once, when first needed (gzip and brotli at their best settings: a few
//! milliseconds for these small files), and the encoding is chosen per request from `Accept-Encoding`,
//! with `Vary: Accept-Encoding` so that CloudFront keeps one copy per encoding. Each encoding has its own
//! strong ETag (`"<hash>"`, `"<hash>-br"`, `"<hash>-gz"`): they are different bytes.

use std::sync::{Arc, LazyLock};

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

use super::{error::ApiError, etag::ETag, middleware::current_instance};

/// Renders a page into a buffer sized for it: askama's own size hint counts the template's text but not
/// what fills it, so the board page (4 KB against a 2.8 KB hint) grew and was copied once per view.
pub(crate) fn render_html<T: askama::Template>(page: &T) -> askama::Result<String> {
    let mut html = String::with_capacity(T::SIZE_HINT * 2);
    page.render_into(&mut html)?;
    Ok(html)
}

/// [`render_html`], a failure being this service's fault (500).
pub(crate) fn render(page: &impl askama::Template) -> Result<String, ApiError> {
    render_html(page).map_err(|e| ApiError::Internal(e.into()))
}

/// A static file compiled into the binary and served under a content-hashed name.
#[derive(Debug)]
pub(crate) struct Asset {
    /// The URL path, e.g. `/static/app.1a2b3c4d5e.css`.
    pub(crate) path: String,
    /// The full hash, hex: the strong ETag of the identity encoding (with `-br`/`-gz` for the others).
    pub(crate) etag: String,
    /// Media type.
    pub(crate) content_type: &'static str,
    /// The bytes.
    pub(crate) body: &'static [u8],
    /// The bytes, brotli-compressed (`None` when that is not smaller).
    pub(crate) brotli: Option<Vec<u8>>,
    /// The bytes, gzip-compressed (`None` when that is not smaller).
    pub(crate) gzip: Option<Vec<u8>>,
}

/// Brotli at its densest setting (quality 11, 4 MiB window).
fn compress_brotli(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    writer.write_all(body).ok()?;
    writer.flush().ok()?;
    Some(writer.into_inner()).filter(|c| c.len() < body.len())
}

/// Gzip at its densest setting.
fn compress_gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().filter(|c| c.len() < body.len())
}

/// A content coding we can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

/// The best coding the client accepts (`Accept-Encoding`, RFC 9110 section 12.5.3): brotli, then gzip,
/// by the client's `q` values, never one it gave `q=0`; identity when it named neither.
fn preferred_coding(headers: &axum::http::HeaderMap) -> Coding {
    let mut best = (Coding::Identity, 0.0_f32);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let coding = match name.as_str() {
            "br" => Coding::Brotli,
            "gzip" | "x-gzip" => Coding::Gzip,
            _ => continue,
        };
        // Ties go to brotli (listed first in the match, and denser).
        if q > 0.0 && (q > best.1 || (q == best.1 && coding == Coding::Brotli)) {
            best = (coding, q);
        }
    }
    best.0
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Self {
        let hash = Sha256::digest(body);
        let hex = hex::encode(hash);
        Self {
            path: format!("/static/{stem}.{}.{ext}", &hex[..10]),
            etag: hex,
            content_type,
            body,
            brotli: compress_brotli(body),
            gzip: compress_gzip(body),
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
    /// The site's icon.
    pub(crate) favicon: Asset,
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
    favicon: Asset::new(
        "favicon",
        "svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
});

/// `GET /favicon.ico`, which browsers ask for on their own: a redirect to the fingerprinted icon (pages
/// name it in `<link rel="icon">`), cached for a day so a new icon is picked up.
pub(crate) async fn favicon() -> Response {
    let mut response = axum::response::Redirect::to(&ASSETS.favicon.path).into_response();
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

/// `GET /static/{file}`: a fingerprinted asset, cacheable for a year (its name changes with its content).
pub(crate) async fn serve_asset(
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let path = format!("/static/{file}");
    let Some(asset) = [&ASSETS.css, &ASSETS.board_js, &ASSETS.favicon]
        .into_iter()
        .find(|a| a.path == path)
    else {
        return super::middleware::not_found(axum::http::Uri::from_static("/static")).await;
    };
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let (bytes, encoding, etag): (&'static [u8], Option<&'static str>, String) =
        match preferred_coding(&headers) {
            Coding::Brotli if asset.brotli.is_some() => (
                asset.brotli.as_deref().unwrap_or(asset.body),
                Some("br"),
                format!("{}-br", asset.etag),
            ),
            Coding::Gzip if asset.gzip.is_some() => (
                asset.gzip.as_deref().unwrap_or(asset.body),
                Some("gzip"),
                format!("{}-gz", asset.etag),
            ),
            _ => (asset.body, None, asset.etag.clone()),
        };
    let etag = ETag::from_token(&etag);
    let vary = HeaderValue::from_static("accept-encoding");
    if etag.none_match(&headers) {
        let mut response =
            (StatusCode::NOT_MODIFIED, [(header::CACHE_CONTROL, cache)]).into_response();
        response.headers_mut().insert(header::VARY, vary);
        if let Some(etag) = etag.header_value() {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return response;
    }
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, cache),
            (header::VARY, vary),
        ],
        bytes,
    )
        .into_response();
    if let Some(encoding) = encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if let Some(etag) = etag.header_value() {
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
    /// Icon URL.
    pub(crate) favicon_href: &'static str,
    /// Instance that rendered the page.
    pub(crate) instance: Arc<str>,
    /// Service version.
    pub(crate) version: &'static str,
}

impl PageChrome {
    /// The chrome for the request being handled.
    pub(crate) fn current() -> Self {
        Self {
            css_href: &ASSETS.css.path,
            board_js_href: &ASSETS.board_js.path,
            favicon_href: &ASSETS.favicon.path,
            instance: current_instance().unwrap_or_else(|| Arc::from("")),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[cfg(test)]
mod compression_tests {
    use super::*;
    use axum::http::HeaderMap;

    fn coding(accept: &str) -> Coding {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(accept) {
            headers.insert(header::ACCEPT_ENCODING, value);
        }
        preferred_coding(&headers)
    }

    #[test]
    fn the_best_accepted_coding_is_chosen() {
        assert_eq!(coding(""), Coding::Identity);
        assert_eq!(coding("gzip, deflate, br, zstd"), Coding::Brotli);
        assert_eq!(coding("gzip"), Coding::Gzip);
        assert_eq!(coding("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(coding("br;q=0.5, gzip;q=0.9"), Coding::Gzip);
        assert_eq!(coding("identity, *;q=0"), Coding::Identity);
    }

    #[test]
    fn compressed_assets_decompress_to_the_original() {
        use std::io::Read as _;
        let asset = &ASSETS.css;
        let gz = asset.gzip.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        assert!(
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut out)
                .is_ok()
        );
        assert_eq!(out, asset.body);
        let br = asset.brotli.as_deref().unwrap_or_default();
        let mut out = Vec::new();
        assert!(
            brotli::Decompressor::new(br, 4096)
                .read_to_end(&mut out)
                .is_ok()
        );
        assert_eq!(out, asset.body);
    }
}
