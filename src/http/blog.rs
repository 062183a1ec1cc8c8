//! The blog's readers (seed 002): `/blog`, `/blog/{slug}`, `/blog/feed.xml` and `/sitemap.xml`.
//!
//! Every page here is the same for everyone (no session, no form, no cookie set), so CloudFront may cache
//! it: `Cache-Control: public, max-age=60, stale-while-revalidate=300`, a strong `ETag` that is the hash of
//! the body, and `304 Not Modified` when the browser or CDN already has that body. A post edit shows
//! within a minute, and an origin that is briefly down is hidden for five more.
//!
//! Absolute links (feed, sitemap) use the scheme and host the client saw: `X-Forwarded-Proto` and
//! `X-Forwarded-Host` are believed only from `STRATUS_TRUSTED_PROXIES`, else the connection and `Host`.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::{
    AppState,
    error::{ApiError, HtmlError},
    extract::{ClientContext, Fields},
    pages::{self, PageChrome},
};
use crate::{
    blog::{PageNumber, Post, Slug, markdown, render_markdown, store},
    domain::submission::format_timestamp,
};

/// Posts per page of `/blog`.
const POSTS_PER_PAGE: u32 = 10;
/// Entries in the feed.
const FEED_ENTRIES: u32 = 20;
/// Posts in the sitemap (the protocol's limit per file).
const SITEMAP_POSTS: u32 = 50_000;
/// Characters of a post's first paragraph shown in the list.
const EXCERPT_CHARS: usize = 280;

/// What public pages may be cached for: a minute fresh, five more minutes served stale while refreshed.
pub(crate) const PUBLIC_CACHE: &str = "public, max-age=60, stale-while-revalidate=300";

/// The readers' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/blog", get(index))
        .route("/blog/feed.xml", get(feed))
        .route("/blog/{slug}", get(show_post))
        .route("/sitemap.xml", get(sitemap))
}

/// `scheme://host` for absolute links: `STRATUS_PUBLIC_URL` when set, and only it; otherwise the host
/// the client asked for (a trusted proxy's `X-Forwarded-Host`, else `Host`), in which case the answer
/// must not be kept by a shared cache ([`PublicOrigin::configured`]): a forged `Host` would otherwise
/// be served to everyone from the CDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicOrigin {
    origin: String,
    configured: bool,
}

impl PublicOrigin {
    /// The origin text (`https://blog.example`), no trailing slash.
    pub(crate) fn as_str(&self) -> &str {
        &self.origin
    }

    /// A cacheable answer whose body holds this origin's links: public when the origin is configured,
    /// else private to the client and varying by the headers the origin came from.
    fn cacheable(&self, headers: &HeaderMap, content_type: &'static str, body: String) -> Response {
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

/// A strong validator for a body: its SHA-256, quoted.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names this ETag (or is `*`). Comparison is weak, as RFC 9110 asks for this
/// header: `W/"x"` matches `"x"`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// A public, cacheable answer: the body with its ETag, or 304 when the client has it already.
pub(crate) fn cacheable(headers: &HeaderMap, content_type: &'static str, body: String) -> Response {
    let etag = etag_of(body.as_bytes());
    let cache = HeaderValue::from_static(PUBLIC_CACHE);
    let etag_value = HeaderValue::from_str(&etag).ok();
    let mut response = if none_match(headers, &etag) {
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

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2 January 2026` (UTC).
pub(crate) fn human_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let month = MONTHS[usize::from(u8::from(at.month())).saturating_sub(1) % 12];
    format!("{} {month} {}", at.day(), at.year())
}

/// A post as the reader's pages show it.
#[derive(Debug)]
struct PostView {
    slug: String,
    title: String,
    published_machine: String,
    published_human: String,
    updated_machine: String,
    excerpt: String,
    /// Sanitized HTML (only built where shown).
    html: String,
    id: String,
}

impl PostView {
    fn new(post: &Post, with_html: bool) -> Self {
        let published = post.published_at.unwrap_or(post.created_at);
        Self {
            slug: post.slug.to_string(),
            title: post.title.to_string(),
            published_machine: format_timestamp(published),
            published_human: human_date(published),
            updated_machine: format_timestamp(post.updated_at),
            excerpt: markdown::excerpt(post.body.as_str(), EXCERPT_CHARS),
            html: if with_html {
                render_markdown(post.body.as_str())
            } else {
                String::new()
            },
            id: post.id.to_string(),
        }
    }
}

/// The views of `posts` (excerpts, and the HTML when `with_html`), built off the async workers: parsing
/// and sanitizing Markdown is CPU work that grows with the posts' size (`markdown::off_runtime`).
async fn views(posts: Vec<Post>, with_html: bool) -> Result<Vec<PostView>, ApiError> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(
        markdown::off_runtime(move || posts.iter().map(|p| PostView::new(p, with_html)).collect())
            .await?,
    )
}

#[derive(Template)]
#[template(path = "blog/index.html")]
struct IndexPage {
    page: PageChrome,
    posts: Vec<PostView>,
    page_number: u32,
    /// Link to the page of newer posts (`/blog` for the first).
    newer: Option<String>,
    /// Link to the page of older posts.
    older: Option<String>,
}

/// `/blog` for the first page, `/blog?page=N` for the others (one address per page, for caches).
fn page_href(n: PageNumber) -> String {
    if n == PageNumber::FIRST {
        "/blog".to_owned()
    } else {
        format!("/blog?page={}", n.get())
    }
}

#[derive(Template)]
#[template(path = "blog/post.html")]
struct PostPage {
    page: PageChrome,
    post: PostView,
}

#[derive(Template)]
#[template(path = "blog/not_found.html")]
struct NotFoundPage {
    page: PageChrome,
}

#[derive(Template)]
#[template(path = "blog/feed.xml")]
struct FeedDocument {
    origin: String,
    updated: String,
    posts: Vec<PostView>,
}

#[derive(Template)]
#[template(path = "blog/sitemap.xml")]
struct SitemapDocument {
    origin: String,
    blog_updated: Option<String>,
    posts: Vec<PostView>,
}

/// `?page=N` (absent: the first page). Other parameters are ignored, as a CDN's tracking tags would be.
fn page_number(query: Option<&str>) -> Result<PageNumber, ApiError> {
    let fields = Fields::parse(query.unwrap_or_default().as_bytes())?;
    match fields.get("page") {
        None => Ok(PageNumber::FIRST),
        Some(raw) => PageNumber::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string())),
    }
}

/// `GET /blog`: published posts, newest first, [`POSTS_PER_PAGE`] a page (`?page=2`).
pub(crate) async fn index(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let number = page_number(query.as_deref())?;
    let page = store::published_page(&state.sql, number, POSTS_PER_PAGE).await?;
    if page.items.is_empty() && number != PageNumber::FIRST {
        return Ok(not_found_page()?);
    }
    let body = pages::render(&IndexPage {
        page: PageChrome::current(),
        posts: views(page.items, false).await?,
        page_number: number.get(),
        newer: number.previous().map(page_href),
        older: page
            .has_next
            .then(|| number.next())
            .flatten()
            .map(page_href),
    })?;
    Ok(cacheable(&headers, "text/html; charset=utf-8", body))
}

/// The friendly 404 for the blog: a page that says what happened and where to go.
fn not_found_page() -> Result<Response, ApiError> {
    let body = pages::render(&NotFoundPage {
        page: PageChrome::current(),
    })?;
    let mut response = (StatusCode::NOT_FOUND, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /blog/{slug}`: one published post, or the friendly 404.
pub(crate) async fn show_post(
    State(state): State<AppState>,
    raw: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    // A path that is not UTF-8 (`/blog/%FF`) is no post either: the same friendly 404.
    let Ok(Path(raw)) = raw else {
        return Ok(not_found_page()?);
    };
    let Ok(slug) = Slug::parse(&raw) else {
        return Ok(not_found_page()?);
    };
    let Some(post) = store::published_post(&state.sql, slug).await? else {
        return Ok(not_found_page()?);
    };
    let post = views(vec![post], true)
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a rendered post went missing")))?;
    let body = pages::render(&PostPage {
        page: PageChrome::current(),
        post,
    })?;
    Ok(cacheable(&headers, "text/html; charset=utf-8", body))
}

/// `GET /blog/feed.xml`: an Atom feed (RFC 4287) of the latest [`FEED_ENTRIES`] posts, full text.
pub(crate) async fn feed(
    State(state): State<AppState>,
    origin: PublicOrigin,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let posts = store::latest_published(&state.sql, FEED_ENTRIES).await?;
    // The feed changed when its newest change did; a fixed date for an empty feed keeps its ETag stable.
    let updated = posts
        .iter()
        .map(|p| p.updated_at)
        .max()
        .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), format_timestamp);
    let body = pages::render(&FeedDocument {
        origin: origin.as_str().to_owned(),
        updated,
        posts: views(posts, true).await?,
    })?;
    Ok(origin.cacheable(&headers, "application/atom+xml; charset=utf-8", body))
}

/// `GET /sitemap.xml`: the board, the blog and every published post (sitemaps.org protocol 0.9).
pub(crate) async fn sitemap(
    State(state): State<AppState>,
    origin: PublicOrigin,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let posts = store::latest_published(&state.sql, SITEMAP_POSTS).await?;
    let blog_updated = posts
        .iter()
        .map(|p| p.updated_at)
        .max()
        .map(format_timestamp);
    let body = pages::render(&SitemapDocument {
        origin: origin.as_str().to_owned(),
        blog_updated,
        posts: views(posts, false).await?,
    })?;
    Ok(origin.cacheable(&headers, "application/xml; charset=utf-8", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_exactly_weakly_or_by_star() {
        let etag = etag_of(b"body");
        let mut headers = HeaderMap::new();
        assert!(!none_match(&headers, &etag));
        for given in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            headers.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(&given).unwrap_or(HeaderValue::from_static("")),
            );
            assert!(none_match(&headers, &etag), "{given}");
        }
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!none_match(&headers, &etag));
    }

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

    #[test]
    fn dates_read_as_day_month_year() {
        assert_eq!(
            human_date(time::macros::datetime!(2026-01-02 23:59:59 UTC)),
            "2 January 2026"
        );
    }
}
