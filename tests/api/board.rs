//! The board page: form, post/redirect/get, latest, visit counter, CSRF, escaping.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::helpers::{csrf_token_in, read, spawn_app, visits_in};

#[tokio::test]
async fn an_empty_board_says_there_are_no_submissions_yet() {
    let app = spawn_app().await;
    let page = app.get_board().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("No submissions yet"), "{}", page.body);
    assert_eq!(visits_in(&page.body), 1);
}

#[tokio::test]
async fn the_form_has_a_username_and_eight_labelled_numeric_boxes() {
    let app = spawn_app().await;
    let page = app.get_board().await.body;
    assert!(page.contains(r#"name="username""#));
    assert!(page.contains(r#"<label for="username">"#));
    for i in 1..=8 {
        assert!(page.contains(&format!(r#"name="digit{i}""#)), "digit{i}");
        assert!(page.contains(&format!(
            r#"<label class="visually-hidden" for="digit{i}">Digit {i} of 8</label>"#
        )));
    }
    assert_eq!(
        page.matches(r#"inputmode="numeric" maxlength="1" pattern="[0-9]""#)
            .count(),
        8
    );
    // The script is a static file, never inline.
    assert!(page.contains(r#"<script src="/static/board."#));
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn a_valid_form_is_stored_then_redirected_to_the_board_with_303() {
    let app = spawn_app().await;
    let reply = app.post_board_digits("ada", "01234567").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/");

    let page = app.get_board().await.body;
    assert!(
        page.contains(r#"<dd class="latest-username">ada</dd>"#),
        "{page}"
    );
    assert!(page.contains(r#"<dd class="latest-number digits-display">01234567</dd>"#));
    assert!(page.contains(" UTC</time>"));
    assert_eq!(app.stored_state().await.submissions, 1);
}

#[tokio::test]
async fn a_single_number_field_is_accepted_as_in_the_seed() {
    let app = spawn_app().await;
    let reply = app
        .post_board_form(&[("username", "curl user"), ("number", "00000042")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(app.latest().await.json()["number"], "00000042");
}

#[tokio::test]
async fn an_invalid_form_is_shown_again_with_messages_and_the_typed_values() {
    let app = spawn_app().await;
    let token = csrf_token_in(&app.get_board().await.body);
    let before = app.stored_state().await;
    let fields = [
        ("username", "grace"),
        ("digit1", "1"),
        ("digit2", "2"),
        ("digit3", "x"),
        ("digit4", "4"),
        ("digit5", "5"),
        ("digit6", "6"),
        ("digit7", "7"),
        ("csrf_token", token.as_str()),
    ];
    let reply = read(
        app.client
            .post(app.url("/"))
            .form(&fields)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.body.contains("Digit 3 must be a single digit 0-9."),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("Digit 8 is missing."));
    assert!(
        reply.body.contains(r#"value="grace""#),
        "typed username kept"
    );
    assert!(reply.body.contains(r#"value="x""#), "typed digit kept");
    assert!(reply.body.contains(r#"aria-describedby="digit3-error""#));
    assert!(reply.body.contains(r#"role="alert""#));
    // Shown again, not counted as a visit, and nothing stored.
    assert_eq!(app.stored_state().await, before);
}

#[tokio::test]
async fn a_form_without_a_matching_csrf_token_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let _ = app.get_board().await;
    let before = app.stored_state().await;
    let fields = [
        ("username", "mallory"),
        ("number", "12345678"),
        ("csrf_token", "forged"),
    ];
    let reply = read(
        app.client
            .post(app.url("/"))
            .form(&fields)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("security token"), "{}", reply.body);

    // A fresh client has no cookie at all.
    let stranger = crate::helpers::client();
    let token = csrf_token_in(&app.get_board().await.body);
    let fields = [
        ("username", "mallory"),
        ("number", "12345678"),
        ("csrf_token", token.as_str()),
    ];
    let reply = read(
        stranger
            .post(app.url("/"))
            .form(&fields)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    assert_eq!(app.stored_state().await.submissions, before.submissions);
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let token = csrf_token_in(&app.get_board().await.body);
    let fields = [
        ("username", "mallory"),
        ("number", "12345678"),
        ("csrf_token", token.as_str()),
    ];
    let reply = read(
        app.client
            .post(app.url("/"))
            .header("sec-fetch-site", "cross-site")
            .form(&fields)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("another site"));
    assert_eq!(app.stored_state().await.submissions, 0);
}

#[tokio::test]
async fn the_csrf_cookie_is_http_only_and_lax_and_secure_only_over_trusted_https() {
    let app = spawn_app_with_proxy().await;
    let plain = app.get_board().await;
    let cookie = plain.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"));

    let https = read(
        crate::helpers::client()
            .get(app.url("/"))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(
        https.header("set-cookie").contains("; Secure"),
        "trusted proxy said https"
    );
    assert!(
        https
            .header("strict-transport-security")
            .contains("max-age=")
    );
}

async fn spawn_app_with_proxy() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&["--trusted-proxies", "127.0.0.1/32"]).await
}

#[tokio::test]
async fn forwarded_proto_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    let reply = read(
        crate::helpers::client()
            .get(app.url("/"))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(!reply.header("set-cookie").contains("Secure"));
    assert_eq!(reply.header("strict-transport-security"), "");
}

#[tokio::test]
async fn html_and_sql_looking_usernames_are_stored_exactly_and_escaped_on_the_page() {
    let app = spawn_app().await;
    let nasty = "<script>alert('x')</script>\"&";
    assert_eq!(
        app.post_board_digits(nasty, "11111111").await.status,
        StatusCode::SEE_OTHER
    );
    let page = app.get_board().await.body;
    assert!(
        !page.contains("<script>alert"),
        "raw markup must never reach the page"
    );
    assert!(
        page.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#34;&#38;"),
        "{page}"
    );
    assert_eq!(app.latest().await.json()["username"], nasty);

    let sql = "Robert'); DROP TABLE submission;--";
    app.submit(sql, "22222222").await;
    assert_eq!(app.latest().await.json()["username"], sql);
    assert_eq!(app.stored_state().await.submissions, 2);
}

#[tokio::test]
async fn every_successful_view_counts_once_and_other_requests_do_not() {
    let app = spawn_app().await;
    for expected in 1..=3 {
        assert_eq!(visits_in(&app.get_board().await.body), expected);
    }
    for path in [
        "/health",
        "/health/live",
        "/health/ready",
        "/api/v1/visits",
        "/api/v1/submissions/latest",
        "/metrics",
        "/nope",
    ] {
        let _ = app.get(path).await;
    }
    let css = app.get_board().await.body;
    let css_path = css
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("stylesheet link")
        .to_owned();
    assert_eq!(app.get(&css_path).await.status, StatusCode::OK);
    // HEAD / (a monitor, a link checker) answers like GET but is not a page view.
    let head = crate::helpers::client()
        .head(app.url("/"))
        .send()
        .await
        .expect("HEAD /");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(app.visit_count().await, 4);
}

#[tokio::test]
async fn the_counter_is_exact_under_400_concurrent_views() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let views = (0..400).map(|_| {
        let client = client.clone();
        let url = app.url("/");
        tokio::spawn(async move {
            let reply = client.get(url).send().await.expect("sent");
            assert_eq!(reply.status(), StatusCode::OK);
            visits_in(&reply.text().await.expect("body"))
        })
    });
    let mut seen = BTreeSet::new();
    for view in futures::future::join_all(views).await {
        seen.insert(view.expect("task joins"));
    }
    // Every view saw its own number, and together they are exactly 1..=400.
    assert_eq!(seen, (1..=400).collect::<BTreeSet<u64>>());
    assert_eq!(app.visit_count().await, 400);
    assert_eq!(app.stored_state().await.visits, 400);
}

#[tokio::test]
async fn static_assets_are_fingerprinted_and_cached_for_a_year() {
    let app = spawn_app().await;
    let page = app.get_board().await.body;
    let js = page
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("script")
        .to_owned();
    let reply = app.get(&js).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/javascript"));
    assert_eq!(
        reply.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let etag = reply.header("etag").to_owned();
    let again = read(
        app.client
            .get(app.url(&js))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.get("/static/board.0000000000.js").await.status,
        StatusCode::NOT_FOUND
    );
}
