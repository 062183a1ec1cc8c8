//! The admin account (issue 6): set-up page, sign-in and sign-out, sessions and their expiry, brute-force
//! limiting, CSRF, the editor (preview, stale edits, unique addresses), `stratus hash-password`.
//!
//! Also the helpers the blog tests share: an app with an admin, signing in, creating and publishing posts.

use std::{process::Stdio, time::Duration};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version, password_hash::SaltString};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt as _;

use crate::helpers::{Reply, TestApp, csrf_token_in, read, spawn_app, spawn_app_with};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery staple";

/// An argon2id hash with the smallest cost: the service reads the cost from the hash, so tests stay fast
/// while the code path is the production one.
pub fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("valid argon2 parameters");
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hashes")
        .to_string()
}

/// The application with an admin (`admin` / [`PASSWORD`]) and extra flags.
pub async fn spawn_admin_app(extra: &[&str]) -> TestApp {
    let hash = cheap_hash(PASSWORD);
    let mut flags = vec!["--admin-password-hash", hash.as_str()];
    flags.extend_from_slice(extra);
    spawn_app_with(&flags).await
}

/// A CSRF token for this client (the board always has a form).
pub async fn csrf(app: &TestApp) -> String {
    csrf_token_in(&app.get("/").await.body)
}

/// Posts a form with the client's CSRF token added.
pub async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Reply {
    let token = csrf(app).await;
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", &token));
    read(
        app.client
            .post(app.url(path))
            .form(&fields)
            .send()
            .await
            .expect("request sent"),
    )
    .await
}

/// Signs in through the form, with `next`.
pub async fn sign_in_to(app: &TestApp, username: &str, password: &str, next: &str) -> Reply {
    post_form(
        app,
        "/admin/login",
        &[
            ("username", username),
            ("password", password),
            ("next", next),
        ],
    )
    .await
}

/// An app with an admin, and its client signed in.
pub async fn signed_in_app(extra: &[&str]) -> TestApp {
    let app = spawn_admin_app(extra).await;
    let reply = sign_in_to(&app, ADMIN, PASSWORD, "/admin").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    app
}

/// Creates a draft through the editor and returns its id.
pub async fn create_draft(app: &TestApp, title: &str, body: &str) -> String {
    let reply = post_form(
        app,
        "/admin/posts",
        &[
            ("title", title),
            ("slug", ""),
            ("body", body),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.header("location");
    location
        .strip_prefix("/admin/posts/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected location {location}"))
        .to_owned()
}

/// The value of the first `name="version" value="..."` in a page.
pub fn version_in(page: &str) -> String {
    let marker = "name=\"version\" value=\"";
    let start = page.find(marker).expect("page has a version field") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The value of a text input or textarea named `name` in a page.
pub fn field_in(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &page[at..];
    if let Some(value) = rest.split_once("value=\"") {
        let before_close = rest.find('>').unwrap_or(rest.len());
        if rest.find("value=\"").is_some_and(|v| v < before_close) {
            return value.1.split('"').next().unwrap_or_default().to_owned();
        }
    }
    let start = rest.find('>').unwrap_or(0) + 1;
    rest[start..]
        .split("</textarea>")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Publishes a post (at its current version) and returns its slug.
pub async fn publish(app: &TestApp, id: &str) -> String {
    let edit = app.get(&format!("/admin/posts/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.body);
    let version = version_in(&edit.body);
    let reply = post_form(
        app,
        &format!("/admin/posts/{id}/publish"),
        &[("version", &version)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    field_in(&edit.body, "slug")
}

/// Creates and publishes a post; returns (id, slug).
pub async fn create_published(app: &TestApp, title: &str, body: &str) -> (String, String) {
    let id = create_draft(app, title, body).await;
    let slug = publish(app, &id).await;
    (id, slug)
}

/// The `stratus_session=...` pair from a reply's `Set-Cookie`, if one was set.
fn session_cookie_of(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("stratus_session=") && !v.starts_with("stratus_session=;"))
        .map(str::to_owned)
}

/// A client without a cookie jar, to replay a cookie by hand.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn without_an_admin_the_pages_explain_the_set_up_and_nobody_can_sign_in() {
    let app = spawn_app().await;

    let login = app.get("/admin/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.body.contains("No admin account is set up"),
        "{}",
        login.body
    );
    assert!(login.body.contains("stratus hash-password"));
    assert!(login.body.contains("STRATUS_ADMIN_PASSWORD_HASH"));
    assert!(login.body.contains("open to everyone"));
    assert!(!login.body.contains("type=\"password\""));
    assert_eq!(login.header("cache-control"), "private, no-store");

    let admin = app.get("/admin").await;
    assert_eq!(admin.status, StatusCode::SEE_OTHER);
    assert_eq!(admin.header("location"), "/admin/login?next=%2Fadmin");

    let attempt = sign_in_to(&app, "admin", "anything at all", "/admin").await;
    assert_eq!(attempt.status, StatusCode::FORBIDDEN);
    assert!(session_cookie_of(&attempt).is_none());
}

#[tokio::test]
async fn the_whole_admin_flow_works_without_javascript() {
    let app = spawn_admin_app(&[]).await;

    // Not signed in: sent to sign in, and back where they wanted to go.
    let wanted = app.get("/admin/posts/new").await;
    assert_eq!(wanted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        wanted.header("location"),
        "/admin/login?next=%2Fadmin%2Fposts%2Fnew"
    );
    let form = app.get("/admin/login?next=%2Fadmin%2Fposts%2Fnew").await;
    assert!(
        form.body.contains("value=\"/admin/posts/new\""),
        "{}",
        form.body
    );
    let signed_in = sign_in_to(&app, ADMIN, PASSWORD, "/admin/posts/new").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.header("location"), "/admin/posts/new");
    let cookie = session_cookie_of(&signed_in).expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    // Preview renders and stores nothing.
    let preview = post_form(
        &app,
        "/admin/posts",
        &[
            ("title", "First post"),
            ("slug", ""),
            ("body", "# Hello\n\nSome *text*."),
            ("action", "preview"),
        ],
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.body.contains("<h2>Hello</h2>"), "{}", preview.body);
    assert!(preview.body.contains("<em>text</em>"));
    assert!(!app.get("/admin").await.body.contains("First post"));

    // Save a draft: readers cannot see it.
    let id = create_draft(&app, "First post", "# Hello\n\nSome *text*.").await;
    let list = app.get("/admin").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.header("cache-control"), "private, no-store");
    assert!(list.body.contains("Signed in as <strong>admin</strong>"));
    assert!(list.body.contains("First post") && list.body.contains("Draft"));
    assert_eq!(
        app.get("/blog/first-post").await.status,
        StatusCode::NOT_FOUND
    );

    // Publish: it is on the blog.
    let slug = publish(&app, &id).await;
    assert_eq!(slug, "first-post");
    let post = app.get("/blog/first-post").await;
    assert_eq!(post.status, StatusCode::OK);
    assert!(post.body.contains("First post") && post.body.contains("<em>text</em>"));
    assert!(app.get("/blog").await.body.contains("/blog/first-post"));

    // Edit: the new text shows; the address stays.
    let edit = app.get(&format!("/admin/posts/{id}/edit")).await;
    let version = version_in(&edit.body);
    let saved = post_form(
        &app,
        &format!("/admin/posts/{id}"),
        &[
            ("title", "First post, revised"),
            ("slug", "first-post"),
            ("body", "New text."),
            ("version", &version),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let post = app.get("/blog/first-post").await;
    assert!(post.body.contains("First post, revised") && post.body.contains("New text."));

    // Unpublish: gone for readers, kept for the admin.
    let edit = app.get(&format!("/admin/posts/{id}/edit")).await;
    let version = version_in(&edit.body);
    let reply = post_form(
        &app,
        &format!("/admin/posts/{id}/unpublish"),
        &[("version", &version)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/blog/first-post").await.status,
        StatusCode::NOT_FOUND
    );

    // Delete, after a confirmation page.
    let confirm = app.get(&format!("/admin/posts/{id}/delete")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let version = version_in(&confirm.body);
    let deleted = post_form(
        &app,
        &format!("/admin/posts/{id}/delete"),
        &[("version", &version)],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(!app.get("/admin").await.body.contains("First post"));
    assert_eq!(
        app.get(&format!("/admin/posts/{id}/edit")).await.status,
        StatusCode::NOT_FOUND
    );

    // Sign out: the session is gone on the server, not only from this browser.
    let out = post_form(&app, "/admin/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(app.get("/admin").await.status, StatusCode::SEE_OTHER);
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let replay = bare_client()
        .get(app.url("/admin"))
        .header("cookie", pair)
        .send()
        .await
        .expect("sent");
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_user_name_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_admin_app(&[]).await;
    let wrong_user = sign_in_to(&app, "root", PASSWORD, "/admin").await;
    let wrong_password = sign_in_to(&app, ADMIN, "not the password", "/admin").await;
    assert_eq!(
        wrong_user.status,
        StatusCode::FORBIDDEN,
        "{}",
        wrong_user.body
    );
    assert_eq!(wrong_password.status, StatusCode::FORBIDDEN);
    let message = "The user name or password is wrong.";
    assert!(wrong_user.body.contains(message));
    assert!(wrong_password.body.contains(message));
    assert!(session_cookie_of(&wrong_user).is_none());
    assert!(session_cookie_of(&wrong_password).is_none());
    // The password is never echoed back; the user name is.
    assert!(!wrong_password.body.contains("not the password"));
    assert!(wrong_user.body.contains("value=\"root\""));
    // Empty fields are a different, earlier refusal.
    let empty = sign_in_to(&app, ADMIN, "", "/admin").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn repeated_failures_from_one_client_are_refused_with_429_and_retry_after() {
    let app = spawn_admin_app(&[]).await;
    for attempt in 1..=4 {
        let reply = sign_in_to(&app, ADMIN, "guess", "/admin").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "attempt {attempt}");
    }
    // The fifth failure is the last: it says so.
    let fifth = sign_in_to(&app, ADMIN, "guess", "/admin").await;
    assert_eq!(fifth.status, StatusCode::TOO_MANY_REQUESTS);
    // Now even the right password is refused, before it is checked.
    let locked = sign_in_to(&app, ADMIN, PASSWORD, "/admin").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=15 * 60 + 1).contains(&retry), "{retry}");
    assert!(
        locked.body.contains("Too many failed sign-ins"),
        "{}",
        locked.body
    );
    assert!(session_cookie_of(&locked).is_none());
    // Other user names from the same client too: the client is locked out.
    let other = sign_in_to(&app, "someone", "guess", "/admin").await;
    assert_eq!(other.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn many_clients_guessing_one_account_are_refused_too() {
    // Through a trusted proxy, each request comes from the address X-Forwarded-For names.
    let app = spawn_admin_app(&["--trusted-proxies", "127.0.0.1/32"]).await;
    let token = csrf(&app).await;
    let attempt = |client: String, password: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            read(
                app.client
                    .post(app.url("/admin/login"))
                    .header("x-forwarded-for", client)
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", ADMIN),
                        ("password", password),
                    ])
                    .send()
                    .await
                    .expect("sent"),
            )
            .await
        }
    };
    for n in 1..=19 {
        let reply = attempt(format!("198.51.100.{n}"), "guess").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "client {n}");
    }
    let twentieth = attempt("198.51.100.20".into(), "guess").await;
    assert_eq!(twentieth.status, StatusCode::TOO_MANY_REQUESTS);
    // A client that has guessed before is out now, whatever it sends; clients with no failures are
    // still let through, one try each (security::a_guessing_crowd_cannot_lock_the_admin_out).
    let again = attempt("198.51.100.3".into(), PASSWORD).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!again.header("retry-after").is_empty());
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = signed_in_app(&[]).await;

    let no_token = read(
        app.client
            .post(app.url("/admin/posts"))
            .form(&[("title", "Sneaky"), ("body", "x"), ("action", "save")])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(
        no_token.body.contains("security token"),
        "{}",
        no_token.body
    );

    let token = csrf(&app).await;
    let cross_site = read(
        app.client
            .post(app.url("/admin/posts"))
            .header("sec-fetch-site", "cross-site")
            .form(&[
                ("csrf_token", token.as_str()),
                ("title", "Sneaky"),
                ("body", "x"),
                ("action", "save"),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(
        !app.get("/admin").await.body.contains("Sneaky"),
        "nothing stored"
    );

    // Sign-in and sign-out need it too.
    let login = read(
        app.client
            .post(app.url("/admin/login"))
            .form(&[("username", ADMIN), ("password", PASSWORD)])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    let logout = read(
        app.client
            .post(app.url("/admin/logout"))
            .form(&[("x", "y")])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/admin").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_session_ends_after_its_ttl_on_the_server() {
    let app = spawn_admin_app(&["--session-ttl", "1s"]).await;
    let reply = sign_in_to(&app, ADMIN, PASSWORD, "/admin").await;
    let cookie = session_cookie_of(&reply).expect("session cookie");
    assert!(cookie.contains("Max-Age=1"), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let with_cookie = || {
        bare_client()
            .get(app.url("/admin"))
            .header("cookie", pair.clone())
            .send()
    };
    assert_eq!(with_cookie().await.expect("sent").status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The browser would have dropped the cookie; the server refuses it anyway.
    let expired = with_cookie().await.expect("sent");
    assert_eq!(expired.status(), StatusCode::SEE_OTHER);
    assert!(
        expired
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/admin/login"))
    );
}

#[tokio::test]
async fn an_ended_session_keeps_the_authors_text_and_saves_nothing() {
    let app = spawn_admin_app(&[]).await;
    let token = csrf(&app).await;
    let reply = read(
        app.client
            .post(app.url("/admin/posts"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("title", "Unsaved work"),
                ("body", "Three hours of writing"),
                ("action", "save"),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.body.contains("Three hours of writing"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("Your session has ended"));
}

#[tokio::test]
async fn a_stale_edit_is_refused_and_both_texts_are_kept() {
    let app = signed_in_app(&[]).await;
    let id = create_draft(&app, "Shared post", "Original text.").await;
    // Two editors open the post at the same version.
    let opened = app.get(&format!("/admin/posts/{id}/edit")).await;
    let version = version_in(&opened.body);
    let save = |body: &'static str, version: String| {
        let app = &app;
        let id = id.clone();
        async move {
            post_form(
                app,
                &format!("/admin/posts/{id}"),
                &[
                    ("title", "Shared post"),
                    ("slug", ""),
                    ("body", body),
                    ("version", &version),
                    ("action", "save"),
                ],
            )
            .await
        }
    };
    let first = save("Alice's text.", version.clone()).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let second = save("Bob's text.", version.clone()).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert!(
        second
            .body
            .contains("someone saved this post after you opened it")
    );
    assert!(
        second.body.contains("Bob&#39;s text.") || second.body.contains("Bob&#x27;s text."),
        "Bob's text is kept: {}",
        second.body
    );
    assert!(
        second.body.contains("Alice&#39;s text.") || second.body.contains("Alice&#x27;s text."),
        "Alice's text is shown"
    );
    // What is stored is Alice's, untouched.
    let stored = app.get(&format!("/admin/posts/{id}/edit")).await;
    assert!(
        stored.body.contains("Alice&#39;s text.") || stored.body.contains("Alice&#x27;s text.")
    );
    assert!(!stored.body.contains("Bob"));
    // The refusal page now carries the current version: saving again is a deliberate overwrite.
    let again = save("Bob's text.", version_in(&second.body)).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    // Publishing with the old version is refused too.
    let stale_publish = post_form(
        &app,
        &format!("/admin/posts/{id}/publish"),
        &[("version", &version)],
    )
    .await;
    assert_eq!(stale_publish.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn addresses_are_unique_generated_ones_get_a_suffix_typed_ones_a_409() {
    let app = signed_in_app(&[]).await;
    let (_, first) = create_published(&app, "Same title", "one").await;
    let (_, second) = create_published(&app, "Same title", "two").await;
    assert_eq!(first, "same-title");
    assert_eq!(second, "same-title-2");

    let clash = post_form(
        &app,
        "/admin/posts",
        &[
            ("title", "Another"),
            ("slug", "same-title"),
            ("body", "three"),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert!(
        clash
            .body
            .contains("Another post already uses the address /blog/same-title")
    );
    assert!(clash.body.contains("\nthree</textarea>"), "text kept");
    assert!(!app.get("/admin").await.body.contains("Another"));
}

#[tokio::test]
async fn invalid_fields_are_refused_with_a_message_each_and_the_text_kept() {
    let app = signed_in_app(&[]).await;
    let reply = post_form(
        &app,
        "/admin/posts",
        &[
            ("title", "   "),
            ("slug", "Not A Slug"),
            ("body", "My body text"),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("Enter a title."));
    assert!(reply.body.contains("lower-case letters a-z"));
    assert!(reply.body.contains("My body text"));
    assert!(reply.body.contains("aria-invalid=\"true\""));
    // A version that is not one, an id that is not one.
    let bad_version = post_form(
        &app,
        "/admin/posts/0190f5c2-0000-7000-8000-000000000000/publish",
        &[("version", "x")],
    )
    .await;
    assert_eq!(bad_version.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/admin/posts/nope/edit").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sign_in_never_redirects_to_another_site() {
    let app = spawn_admin_app(&[]).await;
    let reply = sign_in_to(&app, ADMIN, PASSWORD, "//evil.example/").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/admin");
}

#[tokio::test]
async fn api_writes_need_the_bearer_token_once_an_admin_is_configured() {
    let token = "a-long-random-api-token-for-tests";
    let digest: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let app = spawn_admin_app(&["--api-token-sha256", &digest]).await;
    let body = serde_json::json!({ "username": "ada", "email": "ada@example.com" });
    let without = read(
        app.client
            .post(app.url("/api/v1/users"))
            .json(&body)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        without.header("www-authenticate"),
        "Bearer realm=\"stratus\""
    );
    assert_eq!(without.header("content-type"), "application/problem+json");
    let wrong = read(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth("wrong")
            .json(&body)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = read(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_ne!(right.status, StatusCode::UNAUTHORIZED, "{}", right.body);
}

#[tokio::test]
async fn hash_password_prints_an_argon2id_hash_of_stdin() {
    let run = |input: &'static [u8]| async move {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
            .arg("hash-password")
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).await.expect("writes");
        drop(stdin);
        child.wait_with_output().await.expect("finishes")
    };
    let out = run(b"correct horse battery staple\n").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let hash = stdout.trim_end_matches('\n');
    assert!(!hash.contains('\n'), "one line: {stdout:?}");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    let parsed = argon2::PasswordHash::new(hash).expect("a PHC string");
    assert!(
        argon2::PasswordVerifier::verify_password(
            &Argon2::default(),
            b"correct horse battery staple",
            &parsed
        )
        .is_ok()
    );
    // The printed hash is accepted by the service and lets the admin in.
    let app = spawn_app_with(&["--admin-password-hash", hash]).await;
    let reply = sign_in_to(&app, ADMIN, "correct horse battery staple", "/admin").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    let short = run(b"short\n").await;
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
    assert!(short.stdout.is_empty());
}
