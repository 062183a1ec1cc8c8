//! The service on PostgreSQL and DynamoDB, over HTTP: the real `Application` on a random port, against
//! the servers `scripts/test-services.sh` starts (PostgreSQL with TLS, moto).
//!
//! Covered: TLS (`sslmode=require`, `verify-full` with `PGSSLROOTCERT`), every password source (file, SSM,
//! Secrets Manager), the password never in logs or answers, start-up while the store is down, outage ->
//! 503 -> recovery within 5 s without a restart (PostgreSQL stopped and started with `pg_ctl`; DynamoDB cut
//! off behind a TCP proxy, and a moto that only comes up later), and the `DescribeTable` check.
//!
//! Tests that stop PostgreSQL hold [`PG_SERVER`] for writing; every other PostgreSQL test holds it for
//! reading, so no test sees another's outage.

#[path = "contract/support.rs"]
mod support;

use std::{
    net::SocketAddr,
    sync::{Mutex, Once},
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use stratus::{
    app::startup::Application,
    config::{LogFormat, LogSettings},
    telemetry,
};
use support::{DynamoTable, PgDatabase, aws_settings, service_env, settings, unique};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{RwLock, oneshot},
    task::{JoinHandle, JoinSet},
};

/// Held for writing while a test has PostgreSQL stopped.
static PG_SERVER: RwLock<()> = RwLock::const_new(());

/// Everything the service logged in this test binary (JSON lines).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = LOGS.lock() {
            logs.extend_from_slice(buf);
        }
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        telemetry::init_logs(
            &LogSettings {
                format: LogFormat::Json,
                filter: "info,stratus=debug,sqlx=debug".into(),
                flush_every: std::time::Duration::ZERO,
            },
            || LogSink,
        );
    });
}

fn logs() -> String {
    LOGS.lock()
        .map(|logs| String::from_utf8_lossy(&logs).into_owned())
        .unwrap_or_default()
}

fn services_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-services.sh")
}

async fn services(command: &str) {
    service_env("STRATUS_TEST_SERVICES_DIR");
    let status = tokio::process::Command::new(services_script())
        .arg(command)
        .status()
        .await
        .unwrap_or_else(|err| panic!("test-services.sh {command}: {err}"));
    assert!(status.success(), "test-services.sh {command} failed");
}

/// A running service.
struct App {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

async fn build(args: &[&str]) -> anyhow::Result<Application> {
    capture_logs();
    Application::build(settings(args)).await
}

async fn spawn(args: &[&str]) -> App {
    let app = build(args)
        .await
        .unwrap_or_else(|err| panic!("the application builds: {err:#}"));
    let base = format!("http://{}", app.address());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    App {
        base,
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client builds"),
        stop: Some(stop),
        task: Some(task),
    }
}

impl App {
    async fn get(&self, path: &str) -> Reply {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        read(response).await
    }

    /// The CSRF token of this client's cookie (from `GET /`, which needs the store).
    async fn csrf_token(&self) -> String {
        let page = self.get("/").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.body.find(marker).expect("the board has a CSRF token") + marker.len();
        let end = page.body[start..].find('"').expect("token ends") + start;
        page.body[start..end].to_owned()
    }

    /// After an outage: a new write is accepted, and every write acknowledged before it is still stored.
    async fn assert_writes_survived(&self, token: &str, acknowledged: &[String]) {
        let posted = self.post_board(token, "ada", "77777777").await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        for id in acknowledged {
            let found = self.get(&format!("/api/v1/submissions/{id}")).await;
            assert_eq!(
                found.status,
                StatusCode::OK,
                "acknowledged {id} lost: {}",
                found.body
            );
        }
    }

    async fn post_board(&self, token: &str, username: &str, number: &str) -> Reply {
        let response = self
            .client
            .post(format!("{}/", self.base))
            .form(&[
                ("csrf_token", token),
                ("username", username),
                ("number", number),
            ])
            .send()
            .await
            .expect("POST / sent");
        read(response).await
    }

    async fn submit(&self, username: &str, number: &str) -> Reply {
        let response = self
            .client
            .post(format!("{}/api/v1/submissions", self.base))
            .json(&json!({ "username": username, "number": number }))
            .send()
            .await
            .expect("POST sent");
        read(response).await
    }

    /// Polls `/health` until it answers `want`, failing after `within`. Returns how long it took.
    async fn wait_for_health(&self, want: StatusCode, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let health = self.get("/health").await;
            if health.status == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "/health still answers {} after {within:?} (wanted {want}): {}",
                health.status,
                health.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What every page and API call answers while the store is down.
    async fn assert_store_is_unavailable(&self) {
        let live = self.get("/health/live").await;
        assert_eq!(
            live.status,
            StatusCode::OK,
            "liveness never depends on the store"
        );
        let health = self.get("/health").await;
        assert_eq!(
            health.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            health.body
        );
        assert_eq!(health.json()["database"], "disconnected");
        let ready = self.get("/health/ready").await;
        assert_eq!(
            ready.status,
            StatusCode::OK,
            "the load balancer's readiness never asks the store: {}",
            ready.body
        );
        let page = self.get("/").await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.body
        );
        assert!(page.headers.contains_key("retry-after"));
        assert!(page.body.contains("unavailable"), "{}", page.body);
        let api = self.get("/api/v1/submissions/latest").await;
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE, "{}", api.body);
        assert!(api.headers.contains_key("retry-after"));
        assert_eq!(api.json()["status"], 503);
        let posted = self.submit("ada", "12345678").await;
        assert_eq!(
            posted.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            posted.body
        );
    }

    /// Board, counter and API work end to end.
    async fn assert_board_works(&self) {
        let token = self.csrf_token().await;
        let posted = self.post_board(&token, "Zoë 🚀", "00012345").await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        let page = self.get("/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Zoë 🚀") && page.body.contains("00012345"),
            "{}",
            page.body
        );
        let latest = self.get("/api/v1/submissions/latest").await.json();
        assert_eq!(latest["number"], "00012345");
        let id = latest["id"].as_str().expect("an id").to_owned();
        let by_id = self.get(&format!("/api/v1/submissions/{id}")).await;
        assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
        let history = self
            .get("/api/v1/users/Zo%C3%AB%20%F0%9F%9A%80/submissions")
            .await
            .json();
        assert_eq!(history["items"][0]["id"], id.as_str());
        let visits = self.get("/api/v1/visits").await.json();
        assert!(visits["count"].as_u64().is_some_and(|n| n >= 2), "{visits}");
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

async fn read(response: reqwest::Response) -> Reply {
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body reads"),
    }
}

/// A TCP proxy that can be cut and restored: a store server that goes away and comes back on the same
/// address, without losing its data.
struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Reserves a port; nothing listens on it until [`Proxy::up`].
    async fn reserve(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        Self {
            address,
            target,
            task: None,
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .unwrap_or_else(|err| panic!("proxy rebinds {}: {err}", self.address));
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection: a real outage.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

fn postgres_address() -> SocketAddr {
    let url = url::Url::parse(&service_env("STRATUS_TEST_POSTGRES_URL")).expect("URL");
    format!("127.0.0.1:{}", url.port().unwrap_or(5432))
        .parse()
        .expect("address")
}

fn moto_address() -> SocketAddr {
    let url = url::Url::parse(&service_env("AWS_ENDPOINT_URL")).expect("URL");
    format!("127.0.0.1:{}", url.port().unwrap_or(80))
        .parse()
        .expect("address")
}

// ---- PostgreSQL ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_sslmode_require_serves_the_board_over_tls() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let url = db.url("sslmode=require");
    let app = spawn(&["--database-url", &url]).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    assert_eq!(app.get("/health").await.json()["backend"], "postgres");
    app.assert_board_works().await;
    // Every connection the service opened is encrypted.
    let plain = db
        .admin_query_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = '{}' AND NOT s.ssl",
            db.name
        ))
        .await;
    let encrypted = db
        .admin_query_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = '{}' AND s.ssl",
            db.name
        ))
        .await;
    assert_eq!(plain, 0);
    assert!(encrypted > 0);
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verify_full_accepts_the_server_with_pgsslrootcert_and_refuses_it_without() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let root = service_env("STRATUS_TEST_POSTGRES_TLS_ROOT_CERT");
    let url = db.localhost_url("sslmode=verify-full");
    let app = spawn(&["--database-url", &url, "--pg-ssl-root-cert", &root]).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    app.assert_board_works().await;
    app.stop().await;
    // Without the CA the certificate cannot be verified: the service starts, but never trusts the server.
    let app = spawn(&["--database-url", &url, "--database-connect-timeout", "1s"]).await;
    app.assert_store_is_unavailable().await;
    app.stop().await;
    assert!(logs().contains("certificate"), "the TLS failure is logged");
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_password_from_a_file() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{}\n", db.password)).expect("write the password file");
    let url = db.url_without_password("sslmode=require");
    let file = file.display().to_string();
    let app = spawn(&["--database-url", &url, "--database-password-file", &file]).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    app.assert_board_works().await;
    app.stop().await;
    // A missing file is a configuration error: start-up stops and says which file.
    let missing = dir.path().join("nope").display().to_string();
    let err = build(&["--database-url", &url, "--database-password-file", &missing])
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("DATABASE_PASSWORD_FILE") && err.contains("nope"),
        "{err}"
    );
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_picks_up_a_rotated_password_without_a_restart() {
    use sqlx::{Connection as _, Executor as _};
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("password");
    std::fs::write(&file, &db.password).expect("write the password file");
    let url = db.url_without_password("sslmode=require");
    let file_arg = file.display().to_string();
    let app = spawn(&[
        "--database-url",
        &url,
        "--database-password-file",
        &file_arg,
    ])
    .await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    app.assert_board_works().await;

    // Rotate, as RDS does every 7 days: a new password on the server and at the source, and every open
    // connection cut so that the next ones must log in again.
    let rotated = unique();
    let mut admin = sqlx::PgConnection::connect(&service_env("STRATUS_TEST_POSTGRES_URL"))
        .await
        .expect("admin connects");
    admin
        .execute(format!("ALTER ROLE \"{}\" PASSWORD '{rotated}'", db.name).as_str())
        .await
        .expect("password changed");
    std::fs::write(&file, &rotated).expect("rotate the password file");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&db.name)
        .fetch_all(&mut admin)
        .await
        .expect("connections cut");

    // The first login with the old password is refused (503); the service reads the source again and
    // serves. Without the re-read it would keep failing until restarted. `GET /` counts (and reads the
    // latest) on the pool's connections, the latest-submission API reads on the board's reader
    // connections: both sets must have logged in again.
    let started = Instant::now();
    loop {
        let visits = app.get("/").await;
        let latest = app.get("/api/v1/submissions/latest").await;
        if visits.status == StatusCode::OK && latest.status == StatusCode::OK {
            break;
        }
        for answer in [&visits, &latest] {
            assert!(
                matches!(
                    answer.status,
                    StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE
                ),
                "{}",
                answer.body
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still refused 10 s after the rotation: {} / {}",
            visits.body,
            latest.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    app.assert_board_works().await;
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
            .bind(&db.name)
            .fetch_one(&mut admin)
            .await
            .expect("sessions counted");
    assert!(
        sessions > 0,
        "new sessions logged in with the rotated password"
    );
    eprintln!("rotated password picked up in {took:?}");
    let _ = admin.close().await;
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_password_from_an_ssm_securestring_parameter() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let name = format!("/stratus/test/{}/db-password", unique());
    let config = stratus::storage::aws::sdk_config(&aws_settings()).await;
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(&name)
        .value(&db.password)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        // An SDK retry of a put that went through must not fail on "already exists".
        .overwrite(true)
        .send()
        .await
        .expect("moto stores the parameter");
    let url = db.url_without_password("sslmode=require");
    let app = spawn(&[
        "--database-url",
        &url,
        "--database-password-ssm-parameter",
        &name,
    ])
    .await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    app.assert_board_works().await;
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_credentials_from_a_secrets_manager_secret() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let config = stratus::storage::aws::sdk_config(&aws_settings()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("stratus-test-{}", unique()))
        .secret_string(json!({ "username": db.name, "password": db.password }).to_string())
        .send()
        .await
        .expect("moto stores the secret");
    let arn = secret.arn().expect("an ARN").to_owned();
    // The URL names another user: the secret's user name wins, as with RDS's managed master password.
    let url = db
        .url_without_password("sslmode=require")
        .replace(&format!("//{}@", db.name), "//someone_else@");
    let app = spawn(&["--database-url", &url, "--database-secret-arn", &arn]).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    app.assert_board_works().await;
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_in_no_log_line_and_no_answer() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let wrong = format!("Wr0ngPassw0rd{}", unique());
    let url = db.url_without_password("sslmode=require");
    let app = spawn(&[
        "--database-url",
        &url,
        "--database-password",
        &wrong,
        "--database-connect-timeout",
        "1s",
    ])
    .await;
    app.assert_store_is_unavailable().await;
    // Let the background retries log a few times.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let health = app.get("/health").await;
    let page = app.get("/").await;
    app.stop().await;
    let logs = logs();
    assert!(
        logs.contains("password authentication failed"),
        "the failure itself is logged"
    );
    for (what, text) in [
        ("logs", &logs),
        ("/health", &health.body),
        ("GET /", &page.body),
    ] {
        assert!(!text.contains(&wrong), "the password leaked into {what}");
    }
    // Nor does the password in a URL.
    let url_with_password = url.replace(
        &format!("//{}@", db.name),
        &format!("//{}:{wrong}@", db.name),
    );
    let settings = settings(&["--database-url", &url_with_password]);
    assert!(!format!("{settings:?}").contains(&wrong));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_within_5_s_without_a_restart() {
    let _server = PG_SERVER.write().await;
    let db = PgDatabase::create().await;
    let url = db.url("sslmode=require");
    let app = spawn(&["--database-url", &url, "--database-connect-timeout", "1s"]).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    let token = app.csrf_token().await;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let reply = app.submit("ada", &format!("{i:08}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        acknowledged.push(reply.json()["id"].as_str().expect("id").to_owned());
    }

    services("pg-stop").await;
    app.wait_for_health(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(3))
        .await;
    app.assert_store_is_unavailable().await;
    let refused = app.post_board(&token, "ada", "99999999").await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );

    services("pg-start").await;
    let took = app
        .wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    eprintln!("postgres: healthy again {took:?} after the server came back");
    app.assert_writes_survived(&token, &acknowledged).await;
    let history = app
        .get("/api/v1/users/ada/submissions?limit=100")
        .await
        .json();
    let numbers: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["number"].as_str())
        .collect();
    assert_eq!(
        numbers,
        [
            "77777777", "00000004", "00000003", "00000002", "00000001", "00000000"
        ],
        "what was refused during the outage was not stored"
    );
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_service_starts_while_the_store_is_down_and_migrates_when_it_comes_up() {
    let _server = PG_SERVER.read().await;
    let db = PgDatabase::create().await;
    let mut proxy = Proxy::reserve(postgres_address()).await;
    let url = db
        .url("sslmode=require")
        .replace(&db.host_port, &proxy.address.to_string());
    let started = Instant::now();
    let app = spawn(&["--database-url", &url, "--database-connect-timeout", "1s"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "start-up waited {:?} for a store that is down",
        started.elapsed()
    );
    app.assert_store_is_unavailable().await;
    proxy.up().await;
    let took = app
        .wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    eprintln!("postgres: ready {took:?} after the server came up");
    app.assert_board_works().await;
    let migrated = db
        .admin_query_i64("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .await;
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the migrations directory")
        .count() as i64;
    assert_eq!(migrated, shipped, "every migration ran once");
    app.stop().await;
    proxy.down().await;
    db.drop_now().await;
}

// ---- DynamoDB --------------------------------------------------------------------------------------

/// The service on a DynamoDB table at `endpoint`, creating the table, with short connect timeouts.
async fn spawn_on_dynamodb(table: &str, endpoint: &str) -> App {
    let url = format!("dynamodb://{table}");
    spawn(&[
        "--board-url",
        &url,
        "--create-tables",
        "true",
        "--aws-endpoint-url",
        endpoint,
        "--database-connect-timeout",
        "1s",
        // moto answers one request at a time; under a parallel test run a call may queue.
        "--database-statement-timeout",
        "9s",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_outage_answers_503_and_recovers_within_5_s_without_a_restart() {
    let table = DynamoTable::new();
    let mut proxy = Proxy::reserve(moto_address()).await;
    proxy.up().await;
    let app = spawn_on_dynamodb(&table.name, &format!("http://{}", proxy.address)).await;
    app.wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    assert_eq!(app.get("/health").await.json()["backend"], "dynamodb");
    app.assert_board_works().await;
    let token = app.csrf_token().await;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let reply = app.submit("ada", &format!("{i:08}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        acknowledged.push(reply.json()["id"].as_str().expect("id").to_owned());
    }

    proxy.down().await;
    app.wait_for_health(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(5))
        .await;
    app.assert_store_is_unavailable().await;

    proxy.up().await;
    let took = app
        .wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    eprintln!("dynamodb: healthy again {took:?} after the endpoint came back");
    app.assert_writes_survived(&token, &acknowledged).await;
    let history = app
        .get("/api/v1/users/ada/submissions?limit=100")
        .await
        .json();
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(6),
        "{history}"
    );
    app.stop().await;
    proxy.down().await;
    table.delete_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_service_starts_while_no_server_answers_and_sets_up_when_one_comes_up() {
    service_env("STRATUS_TEST_SERVICES_DIR");
    let table = DynamoTable::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let app = spawn_on_dynamodb(&table.name, &format!("http://127.0.0.1:{port}")).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "start-up waited {:?}",
        started.elapsed()
    );
    app.assert_store_is_unavailable().await;

    // A second moto, started only now, on the port the service was told about.
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log_path = log_dir.path().join("moto.log");
    let log = std::fs::File::create(&log_path).expect("moto log");
    let mut moto = tokio::process::Command::new(services_script())
        .args(["moto-run", &port.to_string()])
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("moto starts");
    let up = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "the second moto did not come up: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = app
        .wait_for_health(StatusCode::OK, Duration::from_secs(5))
        .await;
    eprintln!("dynamodb: ready {took:?} after moto came up");
    app.assert_board_works().await;
    app.stop().await;
    let _ = moto.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_other_keys_stops_start_up_saying_what_was_expected_and_found() {
    let table = DynamoTable::new();
    let client = DynamoTable::client().await;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("valid"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("valid"),
        )
        .send()
        .await
        .expect("moto creates the table");
    let url = format!("dynamodb://{}", table.name);
    // Even with STRATUS_CREATE_TABLES=true: an existing table is never changed.
    let err = build(&["--board-url", &url, "--create-tables", "true"])
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(
        err.contains(
            "expected: partition key username (S), sort key timestamp (S), index by_submission_id \
             (partition key submission_id (S), sort key none, projection ALL)"
        ),
        "{err}"
    );
    assert!(
        err.contains("found:    partition key id (S), sort key none, no global secondary index"),
        "{err}"
    );
    table.delete_now().await;

    // A missing table is not created unless asked.
    let missing = DynamoTable::new();
    let url = format!("dynamodb://{}", missing.name);
    let err = build(&["--board-url", &url])
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("does not exist") && err.contains("STRATUS_CREATE_TABLES=true"),
        "{err}"
    );
}

/// The backends issue's spelling, on the real binary: `DATABASE_URL=dynamodb://TABLE` puts the board in that
/// table (created with STRATUS_CREATE_TABLES=true) and keeps users, blog and sessions in the embedded SQLite
/// default under the working directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_url_dynamodb_runs_the_binary_with_the_board_in_that_table() {
    use tokio::io::{AsyncBufReadExt as _, BufReader};

    let table = DynamoTable::new();
    let aws = aws_settings();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", format!("dynamodb://{}", table.name))
        .env("STRATUS_CREATE_TABLES", "true")
        .env(
            "AWS_ENDPOINT_URL",
            aws.endpoint_url.as_deref().unwrap_or_default(),
        )
        .env("AWS_REGION", aws.region.as_deref().unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("DATABASE_STATEMENT_TIMEOUT", "9s")
        .env("STRATUS_DRAIN_SECONDS", "0")
        .env("STRATUS_INSTANCE_METADATA", "hostname")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if entry["message"] == "listening" {
                return entry["address"].as_str().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the binary listens within 60 s");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let base = format!("http://{address}");
    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("health JSON");
    assert_eq!(health["status"], "healthy", "{health}");
    let created = client
        .post(format!("{base}/api/v1/submissions"))
        .json(&json!({"username": "ddb-user", "number": "00000042"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), StatusCode::CREATED);
    let latest: Value = client
        .get(format!("{base}/api/v1/submissions/latest"))
        .send()
        .await
        .expect("GET latest")
        .json()
        .await
        .expect("latest JSON");
    assert_eq!(latest["number"], "00000042", "{latest}");

    // The submission is an item of seed 000's shape in that table ...
    let items = DynamoTable::client()
        .await
        .query()
        .table_name(&table.name)
        .key_condition_expression("username = :u")
        .expression_attribute_values(
            ":u",
            aws_sdk_dynamodb::types::AttributeValue::S("ddb-user".into()),
        )
        .send()
        .await
        .expect("query the board table");
    assert_eq!(items.count(), 1, "{items:?}");
    // ... and the relational features work on the embedded SQLite file in the working directory.
    let user = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"name": "Ada", "email": "ada@example.com"}))
        .send()
        .await
        .expect("POST user");
    assert_eq!(user.status(), StatusCode::CREATED);
    assert!(dir.path().join("data/stratus.db").is_file());

    let pid = child.id().expect("running").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    table.delete_now().await;
}
