//! The blog's readers (issue 6): sanitized Markdown, the Atom feed and sitemap as XML, caching headers
//! and 304s, paging, the friendly 404, compressed static assets.

use reqwest::StatusCode;

use crate::{
    admin::{create_draft, create_published, post_form, signed_in_app, version_in},
    helpers::{TestApp, read, spawn_app, spawn_app_with},
};

const ATOM: &str = "http://www.w3.org/2005/Atom";
const SITEMAP: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

/// The rendered body of a post page (between the post-body div and the end of the article).
fn post_body(page: &str) -> &str {
    let start = page
        .find("class=\"post-body\"")
        .expect("page has a post body");
    let end = page[start..]
        .find("</article>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

/// Payloads from the XSS filter-evasion literature, each stored as a post's Markdown body.
const XSS_PAYLOADS: &[(&str, &str)] = &[
    ("script tag", "<script>alert(1)</script>"),
    ("script src", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>"),
    ("javascript link", "[click](javascript:alert(1))"),
    ("mixed-case scheme", "[click](JaVaScRiPt:alert(1))"),
    ("entity-encoded scheme", "[click](&#106;avascript:alert(1))"),
    ("image with javascript", "![x](javascript:alert(1))"),
    ("img onerror", "<img src=x onerror=alert(1)>"),
    ("svg onload", "<svg onload=alert(1)>"),
    ("a href javascript", "<a href=\"javascript:alert(1)\">x</a>"),
    (
        "hex-entity href",
        "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
    ),
    ("iframe", "<iframe src=\"https://evil.example\"></iframe>"),
    ("object", "<object data=\"x.swf\"></object>"),
    (
        "style attribute",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
    ),
    (
        "mutation XSS",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ),
    (
        "form",
        "<form action=\"https://evil.example\"><button>go</button></form>",
    ),
    (
        "data URL link",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ),
    ("details ontoggle", "<details open ontoggle=alert(1)>"),
    ("reference link", "[x][1]\n\n[1]: javascript:alert(1)"),
    ("autolink", "<javascript:alert(1)>"),
    (
        "event on allowed tag",
        "<p onmouseover=\"alert(1)\">hover</p>",
    ),
];

/// What would let script run or style leak in: tags, event attributes, script and data URLs in attributes
/// (as text, `javascript:alert(1)` is harmless and may be shown).
const FORBIDDEN: &[&str] = &[
    "<script",
    "=\"javascript:",
    "=javascript:",
    "=\"vbscript:",
    "=\"data:",
    " onerror",
    " onload",
    " onmouseover",
    " ontoggle",
    "<iframe",
    "<object",
    "<style",
    "style=",
    "<form",
    "<svg",
];

#[tokio::test]
async fn no_xss_payload_survives_markdown_rendering_on_the_page_or_in_the_feed() {
    let app = signed_in_app(&[]).await;
    let mut slugs = Vec::new();
    for (i, (case, payload)) in XSS_PAYLOADS.iter().enumerate() {
        let (_, slug) = create_published(&app, &format!("Payload {i}"), payload).await;
        slugs.push((case, slug));
    }
    for (case, slug) in &slugs {
        let page = app.get(&format!("/blog/{slug}")).await;
        assert_eq!(page.status, StatusCode::OK, "{case}");
        let body = post_body(&page.body).to_ascii_lowercase();
        for forbidden in FORBIDDEN {
            assert!(
                !body.contains(forbidden),
                "{case}: the page contains {forbidden:?}: {body}"
            );
        }
    }
    let feed = app.get("/blog/feed.xml").await;
    let doc = roxmltree::Document::parse(&feed.body).expect("the feed is XML");
    let contents: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name((ATOM, "content")))
        .map(|n| n.text().unwrap_or_default().to_ascii_lowercase())
        .collect();
    assert_eq!(contents.len(), XSS_PAYLOADS.len());
    for html in contents {
        for forbidden in FORBIDDEN {
            assert!(
                !html.contains(forbidden),
                "feed content has {forbidden:?}: {html}"
            );
        }
    }
}

#[tokio::test]
async fn titles_with_markup_are_shown_as_text() {
    let app = signed_in_app(&[]).await;
    let (_, slug) = create_published(&app, "<img src=x onerror=alert(1)> & more", "body").await;
    let page = app.get(&format!("/blog/{slug}")).await;
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(
        page.body
            .contains("&#60;img src=x onerror=alert(1)&#62; &#38; more")
    );
}

#[tokio::test]
async fn the_feed_is_valid_atom_with_absolute_links_and_the_latest_20_posts() {
    let app = signed_in_app(&[]).await;
    for n in 1..=21 {
        create_published(
            &app,
            &format!("Post {n} <&> \"quoted\""),
            &format!("Text *{n}*"),
        )
        .await;
    }
    // A draft never appears.
    create_draft(&app, "Secret draft", "not yet").await;

    let feed = app.get("/blog/feed.xml").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(
        feed.header("content-type"),
        "application/atom+xml; charset=utf-8"
    );
    let doc = roxmltree::Document::parse(&feed.body).expect("the feed is XML");
    let root = doc.root_element();
    assert!(root.has_tag_name((ATOM, "feed")));
    for required in ["id", "title", "updated", "author"] {
        assert!(
            root.children().any(|n| n.has_tag_name((ATOM, required))),
            "feed lacks <{required}>"
        );
    }
    let base = app.base.clone();
    let self_link = root
        .children()
        .find(|n| n.has_tag_name((ATOM, "link")) && n.attribute("rel") == Some("self"))
        .and_then(|n| n.attribute("href"));
    assert_eq!(self_link, Some(format!("{base}/blog/feed.xml").as_str()));
    let entries: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name((ATOM, "entry")))
        .collect();
    assert_eq!(entries.len(), 20, "the latest 20");
    let first = entries[0];
    let title = first
        .children()
        .find(|n| n.has_tag_name((ATOM, "title")))
        .and_then(|n| n.text());
    assert_eq!(
        title,
        Some("Post 21 <&> \"quoted\""),
        "newest first, text intact"
    );
    let link = first
        .children()
        .find(|n| n.has_tag_name((ATOM, "link")))
        .and_then(|n| n.attribute("href"))
        .unwrap_or_default();
    assert!(link.starts_with(&format!("{base}/blog/post-21")), "{link}");
    for required in ["id", "updated", "content"] {
        assert!(
            first.children().any(|n| n.has_tag_name((ATOM, required))),
            "entry lacks <{required}>"
        );
    }
    assert!(!feed.body.contains("Secret draft"));
    // Every page links the feed.
    for page in ["/", "/blog", "/admin"] {
        assert!(
            app.get(page).await.body.contains(
                "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Stratus blog\" href=\"/blog/feed.xml\">"
            ),
            "{page}"
        );
    }
}

#[tokio::test]
async fn absolute_links_use_the_scheme_and_host_the_client_saw_through_trusted_proxies_only() {
    let fetch = |app: &TestApp, path: &str| {
        app.client
            .get(app.url(path))
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "blog.example.com")
            .header("x-forwarded-for", "203.0.113.9")
            .send()
    };
    let trusted = spawn_app_with(&["--trusted-proxies", "127.0.0.1/32"]).await;
    let feed = read(fetch(&trusted, "/blog/feed.xml").await.expect("sent")).await;
    assert!(
        feed.body
            .contains("href=\"https://blog.example.com/blog/feed.xml\""),
        "{}",
        feed.body
    );
    let sitemap = read(fetch(&trusted, "/sitemap.xml").await.expect("sent")).await;
    assert!(
        sitemap
            .body
            .contains("<loc>https://blog.example.com/blog</loc>"),
        "{}",
        sitemap.body
    );

    let untrusted = spawn_app().await;
    let feed = read(fetch(&untrusted, "/blog/feed.xml").await.expect("sent")).await;
    assert!(!feed.body.contains("blog.example.com"), "{}", feed.body);
    assert!(
        feed.body
            .contains(&format!("href=\"{}/blog/feed.xml\"", untrusted.base))
    );
}

#[tokio::test]
async fn the_sitemap_is_valid_xml_listing_published_posts() {
    let app = signed_in_app(&[]).await;
    let (_, slug) = create_published(&app, "Mapped", "x").await;
    create_draft(&app, "Hidden draft", "x").await;
    let reply = app.get("/sitemap.xml").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        "application/xml; charset=utf-8"
    );
    let doc = roxmltree::Document::parse(&reply.body).expect("the sitemap is XML");
    assert!(doc.root_element().has_tag_name((SITEMAP, "urlset")));
    let locs: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name((SITEMAP, "loc")))
        .filter_map(|n| n.text())
        .collect();
    let base = &app.base;
    assert_eq!(
        locs,
        vec![
            format!("{base}/"),
            format!("{base}/blog"),
            format!("{base}/blog/{slug}")
        ]
    );
}

#[tokio::test]
async fn public_pages_are_cacheable_with_strong_etags_and_304s() {
    // With the public address configured, the feed's and sitemap's links never come from the request.
    let app = signed_in_app(&["--public-url", "https://blog.example"]).await;
    let (_, slug) = create_published(&app, "Cached", "Some text").await;
    for path in [
        "/blog".to_owned(),
        format!("/blog/{slug}"),
        "/blog/feed.xml".into(),
        "/sitemap.xml".into(),
    ] {
        let first = app.get(&path).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        assert_eq!(
            first.header("cache-control"),
            "public, max-age=60, stale-while-revalidate=300",
            "{path}"
        );
        assert!(
            first.header("set-cookie").is_empty(),
            "{path} sets no cookie"
        );
        let etag = first.header("etag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{path}: strong ETag {etag}"
        );
        let again = read(
            app.client
                .get(app.url(&path))
                .header("if-none-match", &etag)
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), etag);
        assert_eq!(
            again.header("cache-control"),
            "public, max-age=60, stale-while-revalidate=300"
        );
        let other = read(
            app.client
                .get(app.url(&path))
                .header("if-none-match", "\"something-else\"")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(other.status, StatusCode::OK, "{path}");
    }
    // A new post changes the list, so its ETag.
    let before = app.get("/blog").await.header("etag").to_owned();
    create_published(&app, "Newer", "x").await;
    assert_ne!(app.get("/blog").await.header("etag"), before);
    // Admin pages are never cached.
    assert_eq!(
        app.get("/admin").await.header("cache-control"),
        "private, no-store"
    );
}

#[tokio::test]
async fn unknown_and_unpublished_posts_get_a_friendly_404() {
    let app = signed_in_app(&[]).await;
    let id = create_draft(&app, "Not yet", "x").await;
    for path in ["/blog/no-such-post", "/blog/Not_A_Slug", "/blog/not-yet"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.body.contains("This post is not here"), "{path}");
        assert!(reply.body.contains("href=\"/blog\""), "{path}");
        assert_eq!(reply.header("cache-control"), "no-store");
    }
    // Published, it is there.
    let edit = app.get(&format!("/admin/posts/{id}/edit")).await;
    let version = version_in(&edit.body);
    post_form(
        &app,
        &format!("/admin/posts/{id}/publish"),
        &[("version", &version)],
    )
    .await;
    assert_eq!(app.get("/blog/not-yet").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_blog_is_paged_newest_first() {
    let app = signed_in_app(&[]).await;
    for n in 1..=12 {
        create_published(&app, &format!("Numbered {n:02}"), "x").await;
    }
    let first = app.get("/blog").await;
    assert_eq!(
        first.body.matches("class=\"card post-summary\"").count(),
        10
    );
    assert!(first.body.contains("Numbered 12"));
    assert!(!first.body.contains("Numbered 02"));
    assert!(first.body.contains("href=\"/blog?page=2\" rel=\"next\""));
    let second = app.get("/blog?page=2").await;
    assert_eq!(
        second.body.matches("class=\"card post-summary\"").count(),
        2
    );
    assert!(second.body.contains("Numbered 01"));
    assert!(second.body.contains("href=\"/blog\" rel=\"prev\""));
    assert_eq!(app.get("/blog?page=3").await.status, StatusCode::NOT_FOUND);
    for bad in ["0", "x", "-1", "99999"] {
        let reply = app.get(&format!("/blog?page={bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "page={bad}");
        assert!(reply.body.contains("page must be a whole number"));
    }
}

#[tokio::test]
async fn the_empty_blog_says_so() {
    let app = spawn_app().await;
    let reply = app.get("/blog").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("No posts yet"));
    let feed = app.get("/blog/feed.xml").await;
    roxmltree::Document::parse(&feed.body).expect("an empty feed is XML too");
}

#[tokio::test]
async fn static_assets_are_precompressed_and_vary_on_accept_encoding() {
    let app = spawn_app().await;
    let page = app.get("/").await.body;
    let start = page.find("/static/app.").expect("stylesheet link");
    let path = page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let get = |encoding: Option<&'static str>| {
        let mut request = app.client.get(app.url(&path));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let plain = read(get(None).await.expect("sent")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.header("content-encoding").is_empty());
    assert_eq!(plain.header("vary"), "accept-encoding");
    assert_eq!(
        plain.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let br = get(Some("gzip, deflate, br")).await.expect("sent");
    assert_eq!(br.headers()["content-encoding"], "br");
    assert!(
        br.headers()["etag"]
            .to_str()
            .unwrap_or_default()
            .ends_with("-br\"")
    );
    let br_len = br.bytes().await.expect("body").len();
    assert!(br_len < plain.body.len(), "{br_len} < {}", plain.body.len());
    let gz = get(Some("gzip")).await.expect("sent");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz_etag = gz.headers()["etag"].to_str().unwrap_or_default().to_owned();
    assert!(gz_etag.ends_with("-gz\""));
    let revalidated = app
        .client
        .get(app.url(&path))
        .header("accept-encoding", "gzip")
        .header("if-none-match", &gz_etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
}
