//! What an outside attacker tries against a public deployment, each kept out: work before
//! authentication, parallel password guessing, locking the admin out, reading private records, links
//! built from a forged `Host`, and cross-site writes riding the admin's session (docs/security.md).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::{
    admin::{ADMIN, PASSWORD, cheap_hash, csrf, post_form, signed_in_app, spawn_admin_app},
    helpers::{client, csrf_token_in, read},
    process::{Running, start},
};

/// The real binary with an admin configured, and more settings.
async fn start_with_admin(extra: &[(&str, &str)]) -> Running {
    let hash = cheap_hash(PASSWORD);
    let mut env = vec![("STRATUS_ADMIN_PASSWORD_HASH", hash.as_str())];
    env.extend_from_slice(extra);
    start(&env).await
}

/// The value of a Prometheus sample (`name{labels}`) in `/metrics`, 0 when absent.
async fn metric(http: &reqwest::Client, base: &str, sample: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn nobody_signed_in_gets_markdown_rendered_and_the_service_stays_live() {
    let server = start_with_admin(&[]).await;
    let base = format!("http://{}", server.address);
    let http = client();
    let token = csrf_token_in(
        &read(http.get(&base).send().await.expect("board"))
            .await
            .body,
    );
    // Nested block quotes: before the fix, two of these froze every worker for 8-16 s.
    let body = ">".repeat(90_000);
    let attack = || {
        let (http, base, token, body) = (http.clone(), base.clone(), token.clone(), body.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let reply = http
                .post(format!("{base}/admin/posts"))
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("title", "t"),
                    ("body", body.as_str()),
                    ("action", "preview"),
                ])
                .send()
                .await
                .expect("answered");
            (
                reply.status(),
                reply.text().await.unwrap_or_default(),
                started.elapsed(),
            )
        })
    };
    let attacks = [attack(), attack()];
    // Liveness answers all the while.
    for _ in 0..5 {
        let live = tokio::time::timeout(
            Duration::from_secs(5),
            http.get(format!("{base}/health/live")).send(),
        )
        .await
        .expect("liveness answers within 5 s while previews are refused")
        .expect("liveness");
        assert_eq!(live.status(), StatusCode::OK);
    }
    for attack in attacks {
        let (status, page, _took) = attack.await.expect("attack task");
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("Your session has ended"), "{page}");
        // Their text comes back, unrendered.
        assert!(!page.contains("<blockquote>"));
    }
}

#[tokio::test]
async fn deeply_nested_text_is_refused_with_422_and_a_sentence_even_for_the_admin() {
    let app = signed_in_app(&[]).await;
    for (payload, kind) in [
        (">".repeat(90_000), "quotes"),
        ("<div>".repeat(10_000), "raw html"),
        (
            (0..60)
                .map(|i| format!("{}- item\n", "  ".repeat(i)))
                .collect::<String>(),
            "lists",
        ),
    ] {
        for action in ["preview", "save"] {
            let reply = post_form(
                &app,
                "/admin/posts",
                &[
                    ("title", "Deep"),
                    ("slug", ""),
                    ("body", payload.as_str()),
                    ("action", action),
                ],
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{kind} {action}"
            );
            assert!(
                reply.body.contains("more than 32 levels deep"),
                "{kind} {action}: {}",
                reply.body
            );
        }
    }
    // Ordinary nesting still previews.
    let fine = post_form(
        &app,
        "/admin/posts",
        &[
            ("title", "Fine"),
            ("slug", ""),
            ("body", "> quoted\n> > twice\n\n- a\n  - b"),
            ("action", "preview"),
        ],
    )
    .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.body);
    assert!(fine.body.contains("<blockquote>"));
}

#[tokio::test]
async fn parallel_guesses_get_at_most_the_client_limit_of_password_checks() {
    let server = start_with_admin(&[]).await;
    let base = format!("http://{}", server.address);
    let http = client();
    let token = csrf_token_in(
        &read(http.get(&base).send().await.expect("board"))
            .await
            .body,
    );
    let guesses: Vec<_> = (0..300)
        .map(|n| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/admin/login"))
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", ADMIN),
                        ("password", &format!("guess {n}")),
                    ])
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("task").expect("answered"));
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    // Five guesses were checked (the fifth is told it was the last, with 429); the rest never were.
    assert_eq!((wrong, refused), (4, 296), "{statuses:?}");
    let checked = metric(&http, &base, "stratus_logins_total{outcome=\"failure\"}").await;
    assert_eq!(checked, 5.0, "passwords verified");
    // The right password from this client now waits too.
    let right = read(
        http.post(format!("{base}/admin/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", ADMIN),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
}

/// One sign-in attempt as `client` (through the trusted proxy on loopback), with optional cookies.
async fn attempt_from(
    app: &crate::helpers::TestApp,
    http: &reqwest::Client,
    client: &str,
    password: &str,
    cookie: Option<&str>,
) -> crate::helpers::Reply {
    let page = read(http.get(app.url("/")).send().await.expect("board")).await;
    let token = csrf_token_in(&page.body);
    let mut request = http
        .post(app.url("/admin/login"))
        .header("x-forwarded-for", client)
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", ADMIN),
            ("password", password),
        ]);
    if let Some(cookie) = cookie {
        // A cookie header set by hand replaces the jar's: send the CSRF cookie with it.
        request = request.header("cookie", format!("stratus_csrf={token}; {cookie}"));
    }
    read(request.send().await.expect("sent")).await
}

#[tokio::test]
async fn a_guessing_crowd_cannot_lock_the_admin_out() {
    let app = spawn_admin_app(&["--trusted-proxies", "127.0.0.1/32"]).await;
    // The admin's own browser signed in once before the attack: it holds a device cookie.
    let browser = client();
    let first = attempt_from(&app, &browser, "192.0.2.10", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let device = first
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("stratus_device="))
        .expect("a device cookie")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin/login"] {
        assert!(device.contains(part), "{device} lacks {part}");
    }
    let device_pair = device.split(';').next().unwrap_or_default().to_owned();

    // Five wrong guesses from each of four addresses: the account reaches its limit.
    let attacker = client();
    for n in 1..=4 {
        for _ in 0..5 {
            let reply =
                attempt_from(&app, &attacker, &format!("198.51.100.{n}"), "guess", None).await;
            assert!([StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS].contains(&reply.status));
        }
    }
    // A guesser who already failed stays out, even with the right password.
    let guesser = attempt_from(&app, &attacker, "198.51.100.1", PASSWORD, None).await;
    assert_eq!(guesser.status, StatusCode::TOO_MANY_REQUESTS);
    // The admin, from an address with no failures, gets in (before the fix: 429 for 15 minutes).
    let fresh = attempt_from(&app, &client(), "203.0.113.7", PASSWORD, None).await;
    assert_eq!(fresh.status, StatusCode::SEE_OTHER, "{}", fresh.body);

    // A crowd of one-guess addresses runs the account up to its ceiling; then new addresses wait...
    for n in 0..80 {
        let reply = attempt_from(
            &app,
            &attacker,
            &format!("203.0.113.{}", 100 + n),
            "guess",
            None,
        )
        .await;
        assert_ne!(reply.status, StatusCode::SEE_OTHER);
    }
    let late = attempt_from(&app, &client(), "192.0.2.200", PASSWORD, None).await;
    assert_eq!(late.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!late.header("retry-after").is_empty());
    // ...but the admin's browser, from anywhere, still signs in.
    let trusted = attempt_from(&app, &client(), "192.0.2.201", PASSWORD, Some(&device_pair)).await;
    assert_eq!(trusted.status, StatusCode::SEE_OTHER, "{}", trusted.body);
    // A forged device cookie counts for nothing.
    let forged = format!("stratus_device={}.{}", "a".repeat(32), "b".repeat(64));
    let forged = attempt_from(&app, &client(), "192.0.2.202", PASSWORD, Some(&forged)).await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Uploads `bytes` as `name` through the API, with the signed-in client from this site's origin;
/// returns the file's id.
async fn upload_as_admin(app: &crate::helpers::TestApp, name: &str, bytes: &[u8]) -> String {
    let form = crate::files::multipart(&[("file", Some(name), bytes)]);
    let uploaded = read(
        app.client
            .post(app.url("/api/v1/files"))
            .header("origin", app.base.as_str())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={}", crate::files::BOUNDARY),
            )
            .body(form)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    uploaded.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn private_records_need_the_admin_once_one_is_configured() {
    let app = signed_in_app(&[]).await;
    // The admin adds a user and uploads a file.
    let created = read(
        app.client
            .post(app.url("/api/v1/users"))
            .header("origin", app.base.as_str())
            .json(&serde_json::json!({"name": "Ada", "email": "ada@example.com"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let user_id = created.json()["id"].as_str().unwrap_or_default().to_owned();
    let file_id = upload_as_admin(&app, "secret.txt", b"private bytes").await;

    // Anyone else: no names, no e-mail addresses, no files.
    let stranger = client();
    for path in [
        "/api/v1/users".to_owned(),
        format!("/api/v1/users/{user_id}"),
        "/api/v1/files".to_owned(),
        format!("/api/v1/files/{file_id}"),
        format!("/api/v1/files/{file_id}/content"),
    ] {
        let reply = read(stranger.get(app.url(&path)).send().await.expect("sent")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!reply.body.contains("ada@example.com"), "{path}");
        assert!(!reply.body.contains("private bytes"), "{path}");
    }
    for path in ["/users", "/files"] {
        let page = read(stranger.get(app.url(path)).send().await.expect("sent")).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains("Sign in"), "{path}");
        assert!(!page.body.contains("ada@example.com"), "{path}");
        assert!(!page.body.contains("Ada"), "{path}");
        assert!(!page.body.contains("secret.txt"), "{path}");
    }
    // The admin sees everything.
    let listed = app.get("/api/v1/users").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.body.contains("ada@example.com"));
    let content = app.get(&format!("/api/v1/files/{file_id}/content")).await;
    assert_eq!(content.status, StatusCode::OK);
    assert_eq!(content.body, "private bytes");
}

#[tokio::test]
async fn files_are_public_only_when_configured_so() {
    let app = signed_in_app(&["--files-public", "true"]).await;
    let file_id = upload_as_admin(&app, "notice.txt", b"public bytes").await;
    let stranger = client();
    let content = read(
        stranger
            .get(app.url(&format!("/api/v1/files/{file_id}/content")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(content.status, StatusCode::OK);
    // Users stay private.
    let users = read(
        stranger
            .get(app.url("/api/v1/users"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(users.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn absolute_links_use_only_the_public_url_and_forged_hosts_are_not_cached() {
    let configured = signed_in_app(&["--public-url", "https://blog.example"]).await;
    crate::admin::create_published(&configured, "Hello", "Text").await;
    for path in ["/blog/feed.xml", "/sitemap.xml"] {
        let reply = read(
            client()
                .get(configured.url(path))
                .header("host", "evil.example")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(
            !reply.body.contains("evil.example"),
            "{path}: {}",
            reply.body
        );
        assert!(reply.body.contains("https://blog.example/blog"), "{path}");
        assert!(
            reply.header("cache-control").starts_with("public"),
            "{path}"
        );
    }
    // Without it, links follow the request but shared caches may not keep them.
    let plain = signed_in_app(&[]).await;
    crate::admin::create_published(&plain, "Hello", "Text").await;
    for path in ["/blog/feed.xml", "/sitemap.xml"] {
        let reply = read(
            client()
                .get(plain.url(path))
                .header("host", "evil.example")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(
            reply.header("cache-control").starts_with("private"),
            "{path}"
        );
        assert!(reply.header("vary").contains("Host"), "{path}");
    }
}

/// The status line of a raw HTTP/1.1 request sent over TCP (for headers no client library sends).
async fn raw_status(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn requests_with_no_host_or_two_hosts_are_refused_with_400() {
    let app = crate::helpers::spawn_app().await;
    let two = raw_status(
        app.address,
        "GET /blog/feed.xml HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let none = raw_status(
        app.address,
        "GET /blog/feed.xml HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(none.starts_with("HTTP/1.1 400"), "{none}");
    let one = raw_status(
        app.address,
        "GET /health/live HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(one.starts_with("HTTP/1.1 200"), "{one}");
}

#[tokio::test]
async fn api_writes_riding_the_session_need_this_sites_origin_or_the_token() {
    let app = signed_in_app(&[]).await;
    let upload = |origin: Option<&'static str>, header: Option<String>| {
        let form = crate::files::multipart(&[("file", Some("x.txt"), b"x")]);
        let mut request = app
            .client
            .post(app.url("/api/v1/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={}", crate::files::BOUNDARY),
            )
            .body(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(token) = header {
            request = request.header("x-csrf-token", token);
        }
        async move { read(request.send().await.expect("sent")).await }
    };
    let evil = upload(Some("http://evil.example"), None).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN, "{}", evil.body);
    assert!(evil.body.contains("another origin"), "{}", evil.body);
    let none = upload(None, None).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    // The session's form token in the header passes; so does this site's own origin.
    let token = csrf(&app).await;
    let with_token = upload(None, Some(token)).await;
    assert_eq!(
        with_token.status,
        StatusCode::CREATED,
        "{}",
        with_token.body
    );
    let own = app.base.clone();
    let same = read(
        app.client
            .post(app.url("/api/v1/users"))
            .header("origin", own)
            .json(&serde_json::json!({"name": "Bo", "email": "bo@example.com"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.body);
    nothing_stored_from_evil(&app).await;
}

async fn nothing_stored_from_evil(app: &crate::helpers::TestApp) {
    let files = app.get("/api/v1/files").await.json();
    let count = files["items"].as_array().map_or(0, Vec::len);
    assert_eq!(
        count, 1,
        "only the upload with the token was stored: {files}"
    );
}

#[tokio::test]
async fn a_planted_csrf_cookie_pair_no_longer_passes_for_a_signed_in_admin() {
    let app = spawn_admin_app(&[]).await;
    // Sign in by hand, to hold the session cookie and send it with a cookie of our choosing.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let planted = "p".repeat(43);
    let planted_cookie = format!("stratus_csrf={planted}");
    let signed_in = read(
        bare.post(app.url("/admin/login"))
            .header("cookie", planted_cookie.as_str())
            .form(&[
                ("csrf_token", planted.as_str()),
                ("username", ADMIN),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let session = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("stratus_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let cookies = format!("{session}; {planted_cookie}");
    let admin = read(
        bare.get(app.url("/admin"))
            .header("cookie", cookies.as_str())
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(admin.status, StatusCode::OK, "signed in");
    // A sibling domain could plant `stratus_csrf` and submit the matching field; the admin's session
    // cookie rides along. The token is bound to the session now, so the pair is refused.
    let forged = read(
        bare.post(app.url("/admin/posts"))
            .header("cookie", cookies.as_str())
            .form(&[
                ("csrf_token", planted.as_str()),
                ("title", "Planted"),
                ("body", "x"),
                ("action", "save"),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    // The token the admin's own pages carry still works.
    let token = csrf_token_in(&admin.body);
    assert_ne!(token, planted);
    let own = read(
        bare.post(app.url("/admin/posts"))
            .header("cookie", cookies.as_str())
            .form(&[
                ("csrf_token", token.as_str()),
                ("title", "Mine"),
                ("body", "x"),
                ("action", "save"),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
    let list = read(
        bare.get(app.url("/admin"))
            .header("cookie", cookies.as_str())
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(list.body.contains("Mine") && !list.body.contains("Planted"));
}

#[tokio::test]
async fn paths_that_are_not_utf8_get_the_services_own_404_page() {
    let app = signed_in_app(&[]).await;
    for path in [
        "/blog/%FF",
        "/admin/posts/%FF/edit",
        "/admin/posts/%C3%28/delete",
    ] {
        let reply = app.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
        assert!(
            reply.header("content-type").starts_with("text/html"),
            "{path}: {}",
            reply.header("content-type")
        );
        assert!(
            reply.body.contains("<!doctype html>"),
            "{path}: {}",
            reply.body
        );
    }
}
