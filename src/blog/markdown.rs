//! Markdown to HTML that is safe to put in a page, and plain-text excerpts.
//!
//! Two steps, and the second is the one that makes it safe: pulldown-cmark renders CommonMark (raw HTML
//! in the Markdown passes through it untouched), then ammonia parses the result as a browser would and
//! keeps only an allow-list of tags, attributes and URL schemes. So `<script>`, `<iframe>`, `on*=`
//! attributes, `style`, and `javascript:`/`data:` URLs never reach a reader, however they are spelled
//! (entities, mixed case, broken markup that a browser would "repair" into something else).
//!
//! Headings in a post start at `<h2>`: the page's `<h1>` is the post's title.

use std::{collections::HashSet, sync::LazyLock};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

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
