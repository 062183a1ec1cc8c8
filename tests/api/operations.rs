//! Operations: health, draining, metrics, request ids, security headers, load shedding, timeouts,
//! keep-alive.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{SlowRequest, StalledUpload, read, spawn_app, spawn_app_with};

#[tokio::test]
async fn readiness_checks_the_database_and_liveness_does_not() {
    let app = spawn_app().await;
    let ready = app.get("/health").await;
    assert_eq!(ready.status, StatusCode::OK);
    let report = ready.json();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["database"], "connected");
    assert_eq!(report["backend"], "sqlite");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert!(report["instance"].as_str().is_some_and(|i| !i.is_empty()));
    assert_eq!(ready.header("cache-control"), "no-store");

    let live = app.get("/health/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "alive");
}

#[tokio::test]
async fn draining_turns_readiness_503_while_requests_are_still_served() {
    let mut app = spawn_app_with(&["--drain-seconds", "2"]).await;
    let client = reqwest::Client::new();
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let ready = read(client.get(app.url("/health")).send().await.expect("sent")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["status"], "draining");
    let shallow = read(
        client
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(shallow.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shallow.json()["status"], "draining");
    let live = read(
        client
            .get(app.url("/health/live"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(live.status, StatusCode::OK);
    let page = read(client.get(app.url("/")).send().await.expect("sent")).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "pages are still served while draining"
    );
    assert_eq!(
        page.header("connection"),
        "close",
        "clients are asked to reconnect elsewhere"
    );

    app.wait().await.0.expect("clean shutdown");
}

#[tokio::test]
async fn an_in_flight_request_finishes_during_shutdown_and_its_write_is_kept() {
    let mut app = spawn_app_with(&["--drain-seconds", "0.2"]).await;
    let slow = SlowRequest::start(app.address, "in-flight").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        slow.finish().await,
        201,
        "the acknowledged request completed after the signal"
    );
    let db = app.db_path.clone();
    let (result, _dir) = app.wait().await;
    result.expect("clean shutdown");
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn: sqlx::SqliteConnection = sqlx::Connection::connect(&url).await.expect("opens");
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM submission WHERE username = 'in-flight'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn metrics_are_prometheus_text_by_route_template_and_status() {
    let app = spawn_app().await;
    let _ = app.get_board().await;
    app.submit("metrics", "12345678").await;
    let _ = app.get("/api/v1/users/metrics/submissions").await;
    let _ = app.get("/no/such/page").await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/plain"));
    let text = reply.body;
    for needle in [
        r#"http_requests_total{method="GET",route="/",status="200"}"#,
        r#"http_requests_total{method="POST",route="/api/v1/submissions",status="201"}"#,
        r#"route="/api/v1/users/{username}/submissions""#,
        r#"route="unmatched",status="404""#,
        "http_request_duration_seconds_bucket{",
        "http_requests_in_flight",
        "stratus_submissions_created_total",
        "stratus_visits_total",
        "stratus_build_info{version=",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    assert!(
        !text.contains("/api/v1/users/metrics/"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_a_valid_incoming_one_is_kept() {
    let app = spawn_app().await;
    let generated = app.get("/health/live").await;
    assert!(uuid::Uuid::parse_str(generated.header("x-request-id")).is_ok());

    let kept = read(
        app.client
            .get(app.url("/health/live"))
            .header("x-request-id", "lb-trace-42")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(kept.header("x-request-id"), "lb-trace-42");

    let forged = read(
        app.client
            .get(app.url("/health/live"))
            .header("x-request-id", "evil id\" injected")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_ne!(forged.header("x-request-id"), "evil id\" injected");
    assert!(uuid::Uuid::parse_str(forged.header("x-request-id")).is_ok());
    assert!(
        !generated.header("x-served-by").is_empty(),
        "X-Served-By on every response"
    );
}

#[tokio::test]
async fn html_responses_carry_a_strict_content_security_policy_and_friends() {
    let app = spawn_app().await;
    for path in ["/", "/nothing", "/api/v1/visits"] {
        let reply = app.get(path).await;
        let csp = reply.header("content-security-policy");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert_eq!(
            reply.header("referrer-policy"),
            "strict-origin-when-cross-origin"
        );
    }
}

#[tokio::test]
async fn over_the_concurrency_limit_requests_are_shed_with_503_and_retry_after_but_liveness_answers()
 {
    let app = spawn_app_with(&["--max-concurrent-requests", "1"]).await;
    let holder = SlowRequest::start(app.address, "holder").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = app.get("/api/v1/visits").await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.header("retry-after"), "1");
    assert!(
        shed.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("busy"))
    );
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    assert_eq!(holder.finish().await, 201);
    assert_eq!(
        app.get("/api/v1/visits").await.status,
        StatusCode::OK,
        "capacity is back"
    );
}

/// Stalled uploads (more of them than there are request slots) fill only the upload pool: the rest are
/// refused at once with 503, and the board, the API and readiness keep answering 200.
#[tokio::test]
async fn stalled_uploads_fill_only_their_own_pool_and_pages_are_still_served() {
    let app = spawn_app_with(&[
        "--max-concurrent-requests",
        "8",
        "--max-concurrent-uploads",
        "3",
    ])
    .await;
    let mut uploads = Vec::new();
    for _ in 0..12 {
        uploads.push(StalledUpload::start(app.address, 64 * 1024, 1024).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    for path in ["/", "/api/v1/visits", "/blog"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);

    let mut held = 0;
    let mut refused = 0;
    for upload in &mut uploads {
        match upload.answer_within(Duration::from_millis(200)).await {
            None => held += 1,
            Some(503) => refused += 1,
            Some(other) => panic!("a stalled upload was answered {other}"),
        }
    }
    assert_eq!(
        (held, refused),
        (3, 9),
        "the pool holds 3, the rest are refused"
    );

    let full = read(
        app.client
            .post(app.url("/api/v1/files"))
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x--\r\n")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!full.header("retry-after").is_empty(), "Retry-After is set");
    assert!(
        full.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("uploads")),
        "{}",
        full.body
    );
}

/// `/health/ready` turns 503 `saturated` while every request slot is taken (the next request would be
/// shed) and 200 again once they free; `/health` reports the same in its JSON.
#[tokio::test]
async fn readiness_turns_503_while_request_slots_are_exhausted_and_200_after() {
    let app = spawn_app_with(&["--max-concurrent-requests", "2"]).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.header("cache-control"), "no-store");

    let holders = [
        SlowRequest::start(app.address, "holder-a").await,
        SlowRequest::start(app.address, "holder-b").await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let saturated = app.get("/health/ready").await;
    assert_eq!(saturated.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        saturated.json()["status"],
        "saturated",
        "{}",
        saturated.body
    );
    let deep = app.get("/health").await;
    assert_eq!(deep.json()["saturated"], true, "{}", deep.body);
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);

    for holder in holders {
        assert_eq!(holder.finish().await, 201);
    }
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(app.get("/health").await.json()["saturated"], false);
}

/// A request head over 64 KiB (the connection's read buffer, and the ALB's header limit) is refused with
/// 431, and the service goes on answering.
#[tokio::test]
async fn a_request_head_over_64_kib_is_refused_with_431() {
    let app = spawn_app().await;
    let fits = read(
        app.client
            .get(app.url("/health/live"))
            .header("x-padding", "a".repeat(32 * 1024))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(fits.status, StatusCode::OK);
    let too_big = reqwest::Client::new()
        .get(app.url("/health/live"))
        .header("x-padding", "a".repeat(80 * 1024))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        too_big.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_over_the_timeout_is_answered_503() {
    let app = spawn_app_with(&[
        "--request-timeout",
        "0.5",
        "--database-statement-timeout",
        "0.2",
    ])
    .await;
    let stuck = SlowRequest::start(app.address, "stuck").await;
    assert_eq!(stuck.status_without_finishing().await, 503);
    assert_eq!(app.stored_state().await.submissions, 0);
}

async fn get_on(stream: &mut tokio::net::TcpStream) -> usize {
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("sent");
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered")
        .expect("read")
}

#[tokio::test]
async fn idle_keep_alive_connections_close_after_the_keep_alive_timeout_not_before() {
    let app = spawn_app_with(&["--keep-alive-timeout", "1.5"]).await;
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connects");
    assert!(get_on(&mut stream).await > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        get_on(&mut stream).await > 0,
        "still open well inside the timeout"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("closed by then");
    assert_eq!(n.ok(), Some(0), "the server closed the idle connection");
}

#[tokio::test]
async fn on_ecs_the_task_id_and_zone_name_the_instance_everywhere() {
    // A loopback stand-in for the ECS task metadata endpoint v4, serving its documented `/task` shape.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let metadata = format!("http://{}", listener.local_addr().expect("address"));
    let task = axum::Router::new().route(
        "/task",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "Cluster": "stratus",
                "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/stratus/0123456789abcdef",
                "AvailabilityZone": "eu-west-1b"
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, task).await });

    let app = spawn_app_with(&[
        "--instance-metadata",
        "auto",
        "--ecs-metadata-uri",
        &metadata,
    ])
    .await;
    let expected = "0123456789abcdef (eu-west-1b)";
    let mut served_by = String::new();
    for _ in 0..50 {
        served_by = app
            .get("/health/live")
            .await
            .header("x-served-by")
            .to_owned();
        if served_by == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_by, expected);
    assert_eq!(app.get("/health").await.json()["instance"], expected);
    assert!(
        app.get_board().await.body.contains(expected),
        "shown in the page footer"
    );
}

#[tokio::test]
async fn start_up_does_not_wait_for_an_unreachable_metadata_service() {
    // Nothing listens on port 9 of loopback: the lookup fails and the hostname stays.
    let app = spawn_app_with(&[
        "--instance-metadata",
        "auto",
        "--ecs-metadata-uri",
        "http://127.0.0.1:9",
    ])
    .await;
    let reply = app.get("/health/live").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.header("x-served-by").is_empty());
}
