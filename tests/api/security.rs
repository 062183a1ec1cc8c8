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
    let _ = csrf;
}
