//! Markdown to HTML that is safe to put in a page, and plain-text excerpts.
//!
//! Two steps, and the second is the one that makes it safe: pulldown-cmark renders CommonMark (raw HTML
//! in the Markdown passes through it untouched), then ammonia parses the result as a browser would and
//! keeps only an allow-list of tags, attributes and URL schemes. So `<script>`, `<iframe>`, `on*=`
//! attributes, `style`, and `javascript:`/`data:` URLs never reach a reader, however they are spelled
//! (entities, mixed case, broken markup that a browser would "repair" into something else).
//!
//! Headings in a post start at `<h2>`: the page's `<h1>` is the post's title.
//!
//! Cost: parsing is linear, but the sanitizer's HTML tree builder is quadratic in how deeply elements
//! nest (`">" * 8000` or `"<div>" * 8000` took seconds). So a post may nest at most [`MAX_NESTING`]
//! levels ([`nesting_depth`], checked when a body is parsed), and every render runs on a blocking
//! thread through [`off_runtime`]: at most as many at once as there are cores, each within a time budget,
//! so no input can stall the async workers that answer every other request.

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock},
    time::Duration,
};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use tokio::sync::Semaphore;

/// How deeply quotes, lists, emphasis and raw HTML elements may nest in a post. Real writing stays
/// below ten; the sanitizer's cost grows with the square of this.
pub const MAX_NESTING: usize = 32;

/// How long a render may wait for a slot and run before the request is answered 503.
pub const RENDER_BUDGET: Duration = Duration::from_secs(2);

/// Renders at once: one per core, so renders can never hold more than the machine.
static RENDER_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    Arc::new(Semaphore::new(cores))
});

/// Why a render did not produce its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Every slot stayed busy, or the render ran past [`RENDER_BUDGET`].
    #[error("Rendering took too long because the server is busy; try again in a moment.")]
    Busy,
    /// The blocking task panicked (a bug; logged).
    #[error("Rendering failed.")]
    Failed,
}

/// Runs CPU-bound Markdown work (`work`) on a blocking thread, at most one per core at once, and gives
/// up waiting after [`RENDER_BUDGET`]. A render that overruns keeps its slot until it ends, so even
/// then no more than one per core can run.
pub async fn off_runtime<T, F>(work: F) -> Result<T, RenderError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + RENDER_BUDGET;
    let permit = tokio::time::timeout_at(deadline, Arc::clone(&RENDER_SLOTS).acquire_owned())
        .await
        .map_err(|_| RenderError::Busy)?
        .map_err(|_| RenderError::Failed)?;
    let task = tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(err)) => {
            tracing::error!(error.message = %err, "markdown render task failed");
            Err(RenderError::Failed)
        }
        Err(_) => {
            tracing::warn!("markdown render ran past its budget");
            Err(RenderError::Busy)
        }
    }
}

/// Elements without content, which never nest (`<br>`, `<img>`, ...).
const VOID_ELEMENTS: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// How many raw HTML elements `html` opens minus how many it closes, counted from `start` (never
/// below zero); the largest value reached is returned with the final one.
fn raw_html_depth(html: &str, start: usize) -> (usize, usize) {
    let (mut depth, mut deepest) = (start, start);
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset + 1;
        match bytes.get(i) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b) if b.is_ascii_alphabetic() => {
                let name_len = bytes[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
                    .count();
                let name = &html[i..i + name_len];
                let tag_end = bytes[i..].iter().position(|&b| b == b'>');
                let self_closing = tag_end.is_some_and(|end| end > 0 && bytes[i + end - 1] == b'/');
                if !self_closing && !VOID_ELEMENTS.iter().any(|v| v.eq_ignore_ascii_case(name)) {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
            _ => {}
        }
    }
    (depth, deepest)
}

/// How deeply `markdown`'s elements nest once rendered: Markdown containers (quotes, lists, emphasis,
/// links) plus raw HTML elements. Stops counting once past `MAX_NESTING`.
pub fn nesting_depth(markdown: &str) -> usize {
    let (mut containers, mut raw, mut deepest) = (0usize, 0usize, 0usize);
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(_) => containers += 1,
            Event::End(_) => containers = containers.saturating_sub(1),
            Event::Html(html) | Event::InlineHtml(html) => {
                let (now, most) = raw_html_depth(&html, raw);
                deepest = deepest.max(containers + most);
                raw = now;
            }
            _ => {}
        }
        deepest = deepest.max(containers + raw);
        if deepest > MAX_NESTING {
            break;
        }
    }
    deepest
}

/// The sanitizer, configured once: ammonia's default allow-list (no script, style, forms, frames,
/// objects or event attributes) with links limited to web and mail addresses, and every link marked
/// `rel="noopener noreferrer nofollow"`.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
});

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION
}

/// One heading level down (`#` becomes `<h2>`); `######` stays `<h6>`.
fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// Renders Markdown to sanitized HTML, ready to embed in a page or an Atom `<content type="html">`.
pub fn render_markdown(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: demote(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demote(level))),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

/// The first paragraph's text, without markup, cut at a word to at most `max_chars` (with `…` when cut).
/// Used on the post list; raw HTML in the Markdown is dropped, not shown as text.
pub fn excerpt(markdown: &str, max_chars: usize) -> String {
    let mut text = String::new();
    let mut in_paragraph = false;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Paragraph) => in_paragraph = true,
            Event::End(TagEnd::Paragraph) if in_paragraph => break,
            Event::Text(t) | Event::Code(t) if in_paragraph => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak if in_paragraph => text.push(' '),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars).collect();
    let at_word = cut.rfind(' ').map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end_matches([',', '.', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_with_headings_below_the_title() {
        let html = render_markdown(
            "# Intro\n\nSome *emphasis* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(html.contains("<h2>Intro</h2>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn links_keep_their_address_and_get_a_safe_rel() {
        let html = render_markdown("[site](https://example.com/a?b=1)");
        assert!(
            html.contains(
                r#"<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">site</a>"#
            ),
            "{html}"
        );
    }

    /// Payloads from the XSS filter-evasion literature; none may leave a way to run script.
    #[test]
    fn no_script_survives_rendering() {
        let payloads = [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](&#106;avascript:alert(1))",
            "[click](java\tscript:alert(1))",
            "![img](javascript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "<svg onload=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<object data=\"x.swf\"></object>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<form action=\"https://evil.example\"><button>go</button></form>",
            "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "[x](vbscript:msgbox(1))",
            "<details open ontoggle=alert(1)>",
            "<p title=\"x\" onmouseover=\"alert(1)\">hover</p>",
            "<javascript:alert(1)>",
            "[x][1]\n\n[1]: javascript:alert(1)",
        ];
        for payload in payloads {
            let html = render_markdown(payload).to_ascii_lowercase();
            // As text, `javascript:alert(1)` is harmless; in an attribute it is not.
            for forbidden in [
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
            ] {
                assert!(
                    !html.contains(forbidden),
                    "{payload:?} rendered to {html:?}, which contains {forbidden:?}"
                );
            }
        }
    }

    #[test]
    fn nesting_counts_markdown_containers_and_raw_html_elements() {
        assert_eq!(nesting_depth("plain text"), 1);
        assert_eq!(nesting_depth("> > quoted"), 3);
        assert!(nesting_depth(&">".repeat(30_000)) > MAX_NESTING);
        assert!(nesting_depth(&"<div>".repeat(5_000)) > MAX_NESTING);
        assert!(nesting_depth(&"<b>x".repeat(5_000)) > MAX_NESTING);
        let lists: String = (0..60)
            .map(|i| format!("{}- x\n", "  ".repeat(i)))
            .collect();
        assert!(nesting_depth(&lists) > MAX_NESTING);
        // Void and self-closing elements, and closed ones, do not deepen anything.
        let flat = "line<br>line<br/><img src=x><hr>\n\n<p>a</p><p>b</p>".repeat(100);
        assert!(nesting_depth(&flat) <= 3, "{}", nesting_depth(&flat));
    }

    #[tokio::test]
    async fn renders_run_off_the_runtime_and_answer_within_the_budget() {
        let html = off_runtime(|| render_markdown("*hi*")).await;
        assert_eq!(html.as_deref(), Ok("<p><em>hi</em></p>\n"));
    }

    #[test]
    fn excerpts_are_the_first_paragraph_as_plain_text() {
        assert_eq!(
            excerpt(
                "# Title\n\nFirst *para*\ngraph with <b>html</b>.\n\nSecond.",
                200
            ),
            "First para graph with html."
        );
        assert_eq!(excerpt("one two three four", 9), "one two…");
        assert_eq!(excerpt("", 10), "");
    }
}
