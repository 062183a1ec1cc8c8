//! Logs and metrics as tools expect them: JSON request lines with the request id, route, path, latency and
//! trace context at the top level; no colour codes off a terminal; `/metrics` with every counter from the
//! start and the `process_*` metrics; CloudWatch EMF documents on stdout; 405 answers as problem+json.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};

use crate::{
    helpers::{SlowRequest, read, spawn_app},
    process::{Running, start},
};

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

/// Reads stdout lines (raw text) until `until` holds for one or `wait` passes.
async fn raw_lines_until(
    app: &mut Running,
    wait: Duration,
    until: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline.into(), app.lines.recv()).await {
        let done = until(&line);
        seen.push(line);
        if done {
            break;
        }
    }
    seen
}

/// The request line of the request with id `id`, as its raw text and parsed.
async fn request_line(app: &mut Running, id: &str) -> (String, Value) {
    let marker = format!("\"request_id\":\"{id}\"");
    let lines = raw_lines_until(app, Duration::from_secs(10), |line| {
        line.contains(&marker) && line.contains("request finished")
    })
    .await;
    let line = lines
        .into_iter()
        .rfind(|line| line.contains(&marker))
        .unwrap_or_else(|| panic!("no request line for {id}"));
    let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (line, value)
}

/// The text of a JSON member's value in a raw line (`"latency_ms":0.089,` gives `0.089`).
fn raw_member<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("\"{name}\":"))
        .map(|at| at + name.len() + 3)
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    let rest = &line[start..];
    &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
}

fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 4
        && parts[0] == "00"
        && parts[1].len() == 32
        && parts[2].len() == 16
        && parts[3] == "01"
        && parts[1..3].iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[tokio::test]
async fn request_lines_carry_id_method_route_path_status_latency_and_trace_at_the_top_level() {
    let mut app = start(&[]).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", app.address);

    // A matched route, with a W3C traceparent: kept, logged and returned.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = client
        .get(format!("{base}/api/v1/users/someone/submissions?limit=5"))
        .header("x-request-id", "obs-matched")
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["traceparent"], traceparent);
    let (raw, line) = request_line(&mut app, "obs-matched").await;
    assert_eq!(line["message"], "request finished");
    assert_eq!(line["request_id"], "obs-matched", "{raw}");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/api/v1/users/{username}/submissions");
    assert_eq!(
        line["path"], "/api/v1/users/someone/submissions",
        "no query"
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["traceparent"], traceparent);
    assert!(line.get("span").is_none(), "nothing nested: {raw}");
    assert!(line["latency_us"].is_u64(), "{raw}");
    let latency_ms = raw_member(&raw, "latency_ms");
    let decimals = latency_ms.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(
        latency_ms.parse::<f64>().is_ok() && decimals <= 3 && !latency_ms.contains('e'),
        "latency_ms prints as {latency_ms}"
    );
    let (us, ms) = (
        line["latency_us"].as_u64().unwrap_or_default(),
        line["latency_ms"].as_f64().unwrap_or_default(),
    );
    assert!((us as f64 / 1000.0 - ms).abs() < 1e-9, "{us} µs vs {ms} ms");

    // No route: a fixed route value, the path as sent; the ALB's trace id is logged, returned, and its
    // root is the trace id.
    let amzn = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    let reply = client
        .get(format!("{base}/no/such/page?secret=1"))
        .header("x-request-id", "obs-unmatched")
        .header("x-amzn-trace-id", amzn)
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status(), 404);
    assert_eq!(reply.headers()["x-amzn-trace-id"], amzn);
    let returned = reply.headers()["traceparent"].to_str().expect("ASCII");
    assert!(
        returned.starts_with("00-5759e988bd862e3fe1be46a994272793-"),
        "{returned}"
    );
    let (raw, line) = request_line(&mut app, "obs-unmatched").await;
    assert_eq!(line["route"], "unmatched", "{raw}");
    assert_eq!(line["path"], "/no/such/page");
    assert_eq!(line["status"], 404);
    assert_eq!(line["amzn_trace_id"], amzn);
    assert_eq!(line["trace_id"], "5759e988bd862e3fe1be46a994272793");
    assert_eq!(line["traceparent"], returned);

    // Neither: a fresh traceparent, the one logged.
    let reply = client
        .get(format!("{base}/health/live"))
        .header("x-request-id", "obs-fresh")
        .send()
        .await
        .expect("sent");
    let fresh = reply.headers()["traceparent"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(is_traceparent(&fresh), "{fresh}");
    assert!(!reply.headers().contains_key("x-amzn-trace-id"));
    let (_, line) = request_line(&mut app, "obs-fresh").await;
    assert_eq!(line["traceparent"], fresh.as_str());
    assert_eq!(line["trace_id"], &fresh[3..35]);

    // EMF is off by default: no document among the lines.
    let rest = raw_lines_until(&mut app, Duration::from_millis(300), |_| false).await;
    assert!(!rest.iter().any(|l| l.contains("\"_aws\"")), "{rest:?}");
}

#[tokio::test]
async fn pretty_logs_have_no_colour_codes_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/stratus.db", dir.path().display()),
        )
        .env("STRATUS_INSTANCE_METADATA", "hostname")
        .env("STRATUS_LOG_FORMAT", "pretty")
        .env("STRATUS_LOG_FLUSH", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(Ok(Some(line))) = tokio::time::timeout_at(deadline.into(), lines.next_line()).await
    {
        let listening = line.contains("listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    child.kill().await.expect("killed");
    let text = seen.join("\n");
    assert!(text.contains("listening"), "{text}");
    assert!(text.contains("INFO"), "still the pretty format: {text}");
    assert!(!text.contains('\u{1b}'), "no ANSI escape codes: {text:?}");
}

#[tokio::test]
async fn metrics_start_with_every_counter_at_zero_and_export_process_metrics() {
    let app = start(&[]).await;
    let page = reqwest::get(format!("http://{}/metrics", app.address))
        .await
        .expect("served")
        .text()
        .await
        .expect("text");
    for zero in [
        r#"stratus_load_shed_total{reason="overloaded"} 0"#,
        r#"stratus_load_shed_total{reason="uploads"} 0"#,
        r#"stratus_load_shed_total{reason="timeout"} 0"#,
        r#"stratus_store_errors_total{operation="insert_submission"} 0"#,
        r#"stratus_store_errors_total{operation="add_visits"} 0"#,
        r#"stratus_store_errors_total{operation="users_insert"} 0"#,
        r#"stratus_store_errors_total{operation="files_get"} 0"#,
        r#"stratus_logins_total{outcome="failure"} 0"#,
        "stratus_files_uploaded_total 0",
        "stratus_posts_created_total 0",
    ] {
        assert!(page.lines().any(|l| l == zero), "{zero} missing:\n{page}");
    }
    assert!(
        !page
            .lines()
            .any(|l| l.starts_with("stratus_store_errors_total ")),
        "always by operation"
    );
    let value = |name: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{page}"))
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_cpu_seconds_total") >= 0.0);
    let started = value("process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    assert!(
        started <= now + 1.0 && started > now - 120.0,
        "{started} vs {now}"
    );
}

#[tokio::test]
async fn emf_documents_follow_the_cloudwatch_contract_each_interval() {
    let mut app = start(&[
        ("STRATUS_METRICS_EMF", "1"),
        ("STRATUS_METRICS_EMF_INTERVAL", "1s"),
        ("STRATUS_METRICS_NAMESPACE", "StratusTest"),
        ("STRATUS_SERVICE_NAME", "svc-test"),
        ("STRATUS_MAX_CONCURRENT_REQUESTS", "1"),
    ])
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", app.address);
    for _ in 0..3 {
        assert_eq!(
            client
                .get(format!("{base}/"))
                .send()
                .await
                .expect("sent")
                .status(),
            200
        );
    }
    let missing = client
        .get(format!("{base}/no/such"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    // One request holds the only slot; the next is shed with 503.
    let holder = SlowRequest::start(app.address, "emf").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = client
        .get(format!("{base}/api/v1/visits"))
        .send()
        .await
        .expect("sent");
    assert_eq!(shed.status(), 503);
    assert_eq!(holder.finish().await, 201);
    let sent = 6; // 3 pages, a 404, the shed request, the slow submission

    // Documents until every request is counted (the interval may split them).
    let mut documents: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let counted = |docs: &[Value]| -> u64 {
        docs.iter()
            .filter(|d| d.get("Route").is_none())
            .map(|d| d["Requests"].as_u64().unwrap_or_default())
            .sum()
    };
    while counted(&documents) < sent && Instant::now() < deadline {
        for line in raw_lines_until(&mut app, Duration::from_millis(500), |_| false).await {
            // Each document is a line of its own, a JSON object with `_aws` at the top.
            if line.contains("\"_aws\"") {
                let document: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(
                    document.get("message").is_none(),
                    "not inside a log line: {line}"
                );
                documents.push(document);
            }
        }
    }
    assert_eq!(counted(&documents), sent, "{documents:#?}");

    let sum = |route: Option<&str>, name: &str| -> f64 {
        documents
            .iter()
            .filter(|d| d.get("Route").and_then(Value::as_str) == route)
            .filter_map(|d| d[name].as_f64())
            .sum()
    };
    for document in &documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert!(document["_aws"]["Timestamp"].is_u64());
        assert_eq!(directive["Namespace"], "StratusTest");
        assert_eq!(document["Service"], "svc-test");
        let dimensions = if document.get("Route").is_some() {
            serde_json::json!([["Service", "Route"]])
        } else {
            serde_json::json!([["Service"]])
        };
        assert_eq!(directive["Dimensions"], dimensions);
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            let unit = if name.starts_with("Latency") {
                "Milliseconds"
            } else {
                "Count"
            };
            assert_eq!(metric["Unit"], unit, "{name}");
            assert!(
                document[name].is_number(),
                "{name} declared and present: {document}"
            );
        }
    }
    assert_eq!(sum(None, "Http4xx"), 1.0);
    assert_eq!(sum(None, "Http5xx"), 1.0);
    assert_eq!(sum(None, "LoadShed"), 1.0);
    assert_eq!(sum(None, "StoreErrors"), 0.0);
    assert!(
        sum(None, "VisitBatchSize") >= 1.0,
        "visits were counted in batches"
    );
    let service_with_requests = documents
        .iter()
        .find(|d| d.get("Route").is_none() && d["Requests"].as_u64() > Some(0))
        .expect("a service document with requests");
    for name in ["LatencyP50", "LatencyP90", "LatencyP99"] {
        assert!(
            service_with_requests[name]
                .as_f64()
                .is_some_and(|ms| ms > 0.0),
            "{name}"
        );
    }
    // By route: the page, the unmatched request under one fixed value, the shed 503.
    assert_eq!(sum(Some("GET /"), "Requests"), 3.0);
    assert_eq!(sum(Some("unmatched"), "Requests"), 1.0);
    assert_eq!(sum(Some("GET /api/v1/visits"), "Http5xx"), 1.0);
    assert_eq!(sum(Some("POST /api/v1/submissions"), "Requests"), 1.0);
    let route_names: Vec<&str> = documents
        .iter()
        .filter_map(|d| d.get("Route").and_then(Value::as_str))
        .collect();
    assert!(
        !route_names.iter().any(|r| r.contains("/no/such")),
        "{route_names:?}"
    );
}

#[tokio::test]
async fn a_405_is_problem_json_naming_the_allowed_methods_and_keeps_allow() {
    let app = spawn_app().await;
    let reply = read(
        app.client
            .put(app.url("/api/v1/visits"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    let allow = reply.header("allow").to_owned();
    assert!(allow.contains("GET"), "{allow}");
    let problem = reply.json();
    assert_eq!(problem["status"], 405);
    assert_eq!(problem["title"], "Method Not Allowed");
    assert_eq!(problem["type"], "about:blank");
    assert_eq!(problem["request_id"], reply.header("x-request-id"));
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&allow), "{detail}");
    assert_eq!(reply.header("cache-control"), "no-store");
    // A page's address too.
    let page = read(app.client.delete(app.url("/")).send().await.expect("sent")).await;
    assert_eq!(page.status, 405);
    assert_eq!(page.json()["status"], 405);
}
