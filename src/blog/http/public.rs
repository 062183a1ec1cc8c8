//! The blog's readers: `/blog`, `/blog/{slug}`, `/blog/feed.xml` and `/sitemap.xml`.
//!
//! Every page here is the same for everyone (no session, no form, no cookie set), so CloudFront may cache
//! it: `Cache-Control: public, max-age=60, stale-while-revalidate=300`, a strong `ETag` that is the hash of
//! the body, and `304 Not Modified` when the browser or CDN already has that body. A post edit shows
//! within a minute, and an origin that is briefly down is hidden for five more.
//!
//! Absolute links (feed, sitemap) use the scheme and host the client saw: `X-Forwarded-Proto` and
//! `X-Forwarded-Host` are believed only from `STRATUS_TRUSTED_PROXIES`, else the connection and `Host`.

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use time::OffsetDateTime;

use crate::{
    blog::{PageNumber, Post, Slug, markdown, render_markdown, store},
    http::{
        AppState,
        error::{ApiError, HtmlError},
        etag::cacheable,
        extract::Fields,
        origin::PublicOrigin,
        pages::{self, PageChrome},
    },
    time::format_timestamp,
};

/// Posts per page of `/blog`.
const POSTS_PER_PAGE: u32 = 10;
/// Entries in the feed.
const FEED_ENTRIES: u32 = 20;
/// Posts in the sitemap (the protocol's limit per file).
const SITEMAP_POSTS: u32 = 50_000;
/// Characters of a post's first paragraph shown in the list.
const EXCERPT_CHARS: usize = 280;

/// The readers' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/blog", get(index))
        .route("/blog/feed.xml", get(feed))
        .route("/blog/{slug}", get(show_post))
        .route("/sitemap.xml", get(sitemap))
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
    fn dates_read_as_day_month_year() {
        assert_eq!(
            human_date(time::macros::datetime!(2026-01-02 23:59:59 UTC)),
            "2 January 2026"
        );
    }
}
