//! The real binary: command line, JSON logs, SIGTERM with requests in flight, concurrent start-up.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

use crate::helpers::SlowRequest;

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) address: std::net::SocketAddr,
    pub(crate) lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    _dir: tempfile::TempDir,
}

/// Starts `stratus serve` on a random port and waits for its "listening" log line.
pub(crate) async fn start(extra_env: &[(&str, &str)]) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env_clear()
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/stratus.db", dir.path().display()),
        )
        .env("STRATUS_INSTANCE_METADATA", "hostname")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.recv())
            .await
            .expect("listening within 20 s")
            .expect("a log line");
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            panic!("log line is not JSON: {line}")
        };
        if entry["message"] == "listening" {
            break entry["address"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .expect("address logged");
        }
    };
    Running {
        child,
        address,
        lines,
        _dir: dir,
    }
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_drains_finishes_in_flight_requests_and_exits_0() {
    // A drain long enough that the requests below fit in it even on a loaded 2-core machine.
    let mut app = start(&[
        ("STRATUS_DRAIN_SECONDS", "4"),
        ("STRATUS_SHUTDOWN_TIMEOUT", "15"),
    ])
    .await;
    let base = format!("http://{}", app.address);
    let client = reqwest::Client::new();
    let in_flight: Vec<SlowRequest> = futures::future::join_all(
        (0..5).map(|i| SlowRequest::start(app.address, if i % 2 == 0 { "even" } else { "odd" })),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    sigterm(&app.child);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("still answering");
    assert_eq!(health.status(), 503);
    // New requests during the drain period are still served.
    for _ in 0..10 {
        let reply = client
            .get(format!("{base}/"))
            .send()
            .await
            .expect("served while draining");
        assert_eq!(reply.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(4200)).await;
    for request in in_flight {
        assert_eq!(request.finish().await, 201, "in-flight request completed");
    }
    let status = tokio::time::timeout(Duration::from_secs(15), app.child.wait())
        .await
        .expect("exits in time")
        .expect("waited");
    assert!(status.success(), "exit code {status:?}");
    // The process has exited; its last lines may still be on their way from the pipe's reader.
    let messages: Vec<String> = lines_until(&mut app.lines, Duration::from_secs(5), |entry| {
        entry["message"] == "shutdown complete"
    })
    .await
    .iter()
    .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
    .collect();
    assert!(
        messages.iter().any(|m| m == "shutdown complete"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn each_request_is_one_json_log_line_with_method_route_status_latency_and_request_id() {
    let mut app = start(&[]).await;
    let reply = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/users/someone/submissions",
            app.address
        ))
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let entry = loop {
        let line = tokio::time::timeout_at(deadline.into(), app.lines.recv())
            .await
            .expect("logged")
            .expect("line");
        let entry: Value = serde_json::from_str(&line).expect("JSON line");
        if entry["message"] == "request finished" {
            break entry;
        }
    };
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["route"], "/api/v1/users/{username}/submissions");
    assert_eq!(entry["request_id"], "log-test-1");
    assert_eq!(entry["status"], 200);
    assert!(entry["latency_ms"].is_number());
    assert_eq!(entry["level"], "INFO");
}

/// Reads log lines until `until` matches one or `wait` passes; returns them all.
async fn lines_until(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    wait: Duration,
    until: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline.into(), lines.recv()).await {
        let entry: Value = serde_json::from_str(&line).expect("JSON line");
        let done = until(&entry);
        seen.push(entry);
        if done {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn buffered_log_lines_wait_but_a_warning_and_a_clean_exit_write_them_all_in_order() {
    // An interval no test waits for: what shows up came from a warning's wake-up or the exit's flush.
    let mut app = start(&[
        ("STRATUS_LOG_FLUSH", "1h"),
        ("STRATUS_DRAIN_SECONDS", "0"),
        ("STRATUS_MAX_CONCURRENT_REQUESTS", "1"),
    ])
    .await;
    let base = format!("http://{}", app.address);
    let client = reqwest::Client::new();
    let get = |path: &str, id: String| {
        client
            .get(format!("{base}{path}"))
            .header("x-request-id", id)
    };
    let visits = |ids: std::ops::Range<u32>| {
        let requests: Vec<_> = ids
            .map(|i| get("/api/v1/visits", format!("buffered-{i}")))
            .collect();
        async move {
            // One after the other: the log's order is the order sent.
            for request in requests {
                assert_eq!(request.send().await.expect("sent").status(), 200);
            }
        }
    };
    visits(0..20).await;
    let early = lines_until(&mut app.lines, Duration::from_millis(500), |_| false).await;
    assert!(early.is_empty(), "INFO lines wait: {early:?}");

    // A 5xx is logged at WARN: one request holds the only slot, the next is shed with 503.
    let holder = SlowRequest::start(app.address, "holder").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = get("/api/v1/visits", "buffered-shed".into())
        .send()
        .await
        .expect("sent");
    assert_eq!(shed.status(), 503);
    let warned = lines_until(&mut app.lines, Duration::from_secs(10), |entry| {
        entry["request_id"] == "buffered-shed"
    })
    .await;
    let ids = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["message"] == "request finished")
            .filter_map(|e| e["request_id"].as_str().map(str::to_owned))
            .collect()
    };
    let mut expected: Vec<String> = (0..20).map(|i| format!("buffered-{i}")).collect();
    expected.push("buffered-shed".into());
    assert_eq!(
        ids(&warned),
        expected,
        "the warning and every line before it, in order"
    );
    assert_eq!(
        warned.last().map(|e| e["level"].clone()),
        Some(Value::from("WARN"))
    );

    assert_eq!(holder.finish().await, 201);
    visits(20..30).await;
    sigterm(&app.child);
    let status = tokio::time::timeout(Duration::from_secs(15), app.child.wait())
        .await
        .expect("exits in time")
        .expect("waited");
    assert!(status.success(), "exit code {status:?}");
    let rest = lines_until(&mut app.lines, Duration::from_secs(10), |entry| {
        entry["message"] == "shutdown complete"
    })
    .await;
    let expected: Vec<String> = (20..30).map(|i| format!("buffered-{i}")).collect();
    let logged = ids(&rest);
    assert!(
        logged
            .iter()
            .filter(|id| id.starts_with("buffered-"))
            .eq(expected.iter()),
        "every line written by the exit, in order: {logged:?}"
    );
    assert_eq!(
        rest.last().map(|e| e["message"].clone()),
        Some(Value::from("shutdown complete"))
    );
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_live_service_and_1_otherwise() {
    let app = start(&[]).await;
    let url = format!("http://{}/health/live", app.address);
    let ok = Command::new(BIN)
        .args(["healthcheck", &url])
        .status()
        .await
        .expect("runs");
    assert!(ok.success());
    let closed = Command::new(BIN)
        .args([
            "healthcheck",
            "http://127.0.0.1:9/health/live",
            "--timeout",
            "1s",
        ])
        .output()
        .await
        .expect("runs");
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("healthcheck:"));
    // Without a URL it checks the --listen port.
    let by_listen = Command::new(BIN)
        .env_clear()
        .env("STRATUS_LISTEN", app.address.to_string())
        .arg("healthcheck")
        .status()
        .await
        .expect("runs");
    assert!(by_listen.success());
}

#[tokio::test]
async fn version_and_environment_listing_work() {
    let version = Command::new(BIN)
        .arg("--version")
        .output()
        .await
        .expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let env = Command::new(BIN)
        .args(["config", "--list-env"])
        .output()
        .await
        .expect("runs");
    let names = String::from_utf8_lossy(&env.stdout).to_string();
    for name in [
        "STRATUS_LISTEN",
        "DATABASE_URL",
        "STRATUS_DRAIN_SECONDS",
        "STRATUS_SHUTDOWN_TIMEOUT",
        "RUST_LOG",
        "STRATUS_LOG_FORMAT",
    ] {
        assert!(names.lines().any(|l| l == name), "{name} missing: {names}");
    }
    let schemas = Command::new(BIN)
        .args(["config", "--dynamodb-schemas"])
        .output()
        .await
        .expect("runs");
    let schemas: Value = serde_json::from_slice(&schemas.stdout).expect("JSON");
    assert_eq!(schemas[0]["hash_key"]["name"], "username");
    assert_eq!(schemas[0]["range_key"]["name"], "timestamp");
}

#[tokio::test]
async fn contradictory_settings_stop_start_up_with_one_readable_line() {
    let out = Command::new(BIN)
        .env_clear()
        .env("STRATUS_DRAIN_SECONDS", "30")
        .env("STRATUS_SHUTDOWN_TIMEOUT", "25")
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "STRATUS_SHUTDOWN_TIMEOUT (25s) must be longer than STRATUS_DRAIN_SECONDS (30s)"
        ),
        "{stderr}"
    );

    let bad_url = Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", "mysql://x")
        .output()
        .await
        .expect("runs");
    assert_eq!(bad_url.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_url.stderr).contains("unsupported scheme `mysql`"));
}

#[tokio::test]
async fn several_instances_migrating_one_database_at_once_all_succeed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/nested/dir/stratus.db", dir.path().display());
    let runs = (0..4).map(|_| {
        Command::new(BIN)
            .env_clear()
            .env("DATABASE_URL", &url)
            .arg("migrate")
            .output()
    });
    for out in futures::future::join_all(runs).await {
        let out = out.expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("nested/dir/stratus.db").exists());
}

#[tokio::test]
async fn a_second_server_on_one_sqlite_file_is_refused_while_maintenance_runs_beside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/stratus.db", dir.path().display());
    let mut first = start(&[("DATABASE_URL", &url), ("STRATUS_DRAIN_SECONDS", "0")]).await;
    let base = format!("http://{}", first.address);
    let client = reqwest::Client::new();
    let posted = client
        .post(format!("{base}/api/v1/submissions"))
        .json(&serde_json::json!({"username": "ada", "number": "12345678"}))
        .send()
        .await
        .expect("posted");
    assert_eq!(posted.status(), 201);

    let second = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", &url)
        .output();
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second server gives up at once")
        .expect("runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another Stratus process is serving the SQLite database"),
        "{stderr}"
    );

    // Maintenance commands do not take the lock.
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .await
        .expect("runs");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert_eq!(latest_number(&client, first.address).await, "12345678");

    // Once the first has exited, the file is free again.
    sigterm(&first.child);
    let status = tokio::time::timeout(Duration::from_secs(15), first.child.wait())
        .await
        .expect("exits in time")
        .expect("waited");
    assert!(status.success(), "exit code {status:?}");
    let mut next = start(&[("DATABASE_URL", &url)]).await;
    assert_eq!(latest_number(&client, next.address).await, "12345678");
    next.child.kill().await.expect("killed");
}

/// The number of the latest submission a running server shows.
async fn latest_number(client: &reqwest::Client, address: std::net::SocketAddr) -> Value {
    let latest: Value = client
        .get(format!("http://{address}/api/v1/submissions/latest"))
        .send()
        .await
        .expect("served")
        .json()
        .await
        .expect("JSON");
    latest["number"].clone()
}

/// The series lines of a Prometheus text page (neither comments nor blank).
fn series_lines(page: &str) -> Vec<&str> {
    page.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// A flood of invented methods (up to 2,000 characters) and paths adds no series to `/metrics`: every
/// label comes from a fixed set. Measured on the real binary, whose recorder no other test shares.
#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = start(&[]).await;
    let base = format!("http://{}", app.address);
    let client = reqwest::Client::new();
    // One request of each shape: an invented method on a route (405) and on no route (404), a GET on no
    // route (404), an invented method on the upload route, and `/metrics` itself.
    let round = |i: usize| {
        let invented = format!("X{i}{}", "Q".repeat(i * 7 % 2000));
        let method = reqwest::Method::from_bytes(invented.as_bytes()).expect("a method token");
        [
            (method.clone(), "/".to_owned()),
            (
                method.clone(),
                format!("/invented/{i}/{}", "p".repeat(i % 500)),
            ),
            (reqwest::Method::GET, format!("/no/such/page/{i}")),
            (method, "/api/v1/files".to_owned()),
            (reqwest::Method::GET, "/metrics".to_owned()),
        ]
    };
    let send = |requests: Vec<(reqwest::Method, String)>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            for (method, path) in requests {
                let status = client
                    .request(method, format!("{base}{path}"))
                    .send()
                    .await
                    .expect("answered")
                    .status();
                assert!(
                    status.is_client_error() || status.is_success(),
                    "{path}: {status}"
                );
            }
        }
    };
    send(round(0).to_vec()).await;
    let page = |client: reqwest::Client| {
        let url = format!("{base}/metrics");
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text")
        }
    };
    let before = page(client.clone()).await;

    // 4 connections x 100 rounds: 2,000 requests, 400 invented methods.
    futures::future::join_all((0..4).map(|lane| {
        send(
            (1..=100)
                .flat_map(|r| round(lane * 100 + r))
                .collect::<Vec<_>>(),
        )
    }))
    .await;
    let after = page(client.clone()).await;

    let (was, is) = (series_lines(&before).len(), series_lines(&after).len());
    println!(
        "/metrics: {was} series ({} bytes) before the flood, {is} ({} bytes) after",
        before.len(),
        after.len()
    );
    assert_eq!(
        was, is,
        "the series are the same before and after the flood"
    );
    assert!(
        !after.contains(r#"method="X"#) && !after.contains("/invented/"),
        "no invented method or path is a label"
    );
    assert!(after.contains(r#"method="_OTHER""#), "{after}");
}
