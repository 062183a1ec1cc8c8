//! Test set-up: the real application on a random port, and one typed helper per endpoint.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser as _;
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;
use stratus::{
    app::startup::Application,
    config::{Cli, LogSettings},
    telemetry,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// A running application with its own temporary database.
pub struct TestApp {
    pub address: SocketAddr,
    pub base: String,
    /// Keeps cookies (the CSRF cookie), never follows redirects.
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    dir: Option<tempfile::TempDir>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// What is stored, to prove a refused request changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct StoredState {
    pub submissions: i64,
    pub visits: i64,
    pub latest: Option<String>,
}

fn init_logs() {
    // Set TEST_LOG=1 to see the service's logs while debugging a test.
    if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init_logs(
            &LogSettings {
                format: stratus::config::LogFormat::Pretty,
                filter: "info".into(),
                flush_every: std::time::Duration::ZERO,
            },
            std::io::stdout,
        );
    }
}

/// The application with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The application with extra command-line flags (`["--request-timeout", "1"]`).
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("stratus.db");
    let database_url = format!("sqlite://{}", db_path.display());
    // Uploaded files go to the test's own directory, never ./data.
    let files_url = format!("file://{}", dir.path().join("files").display());
    let defaults = [
        ("--listen", "127.0.0.1:0"),
        ("--database-url", database_url.as_str()),
        ("--files-url", files_url.as_str()),
        ("--instance-metadata", "hostname"),
        ("--drain-seconds", "0"),
        ("--shutdown-timeout", "5"),
    ];
    let mut args = vec!["stratus"];
    for (flag, value) in defaults {
        if !flags.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(flags);
    let cli = Cli::try_parse_from(args).expect("valid test flags");
    let settings = cli.settings.parse_settings().expect("valid test settings");
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let address = app.address();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        base: format!("http://{address}"),
        client: client(),
        db_path,
        stop: Some(stop),
        task: Some(task),
        dir: Some(dir),
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client builds")
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body reads");
    Reply {
        status,
        headers,
        body,
    }
}

/// The value of `name="csrf_token" value="..."` in a page.
pub fn csrf_token_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a CSRF token");
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The number in "Page visited N times".
pub fn visits_in(page: &str) -> u64 {
    let marker = "Page visited <strong>";
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page shows the visit count");
    page[start..]
        .split('<')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    pub async fn get_board(&self) -> Reply {
        self.get("/").await
    }

    /// Loads the board for its CSRF token, then posts `fields` plus that token as a form.
    pub async fn post_board_form(&self, fields: &[(&str, &str)]) -> Reply {
        let token = csrf_token_in(&self.get_board().await.body);
        let mut fields: Vec<(&str, &str)> = fields.to_vec();
        fields.push(("csrf_token", &token));
        read(
            self.client
                .post(self.url("/"))
                .form(&fields)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// A form with 8 boxes.
    pub async fn post_board_digits(&self, username: &str, number: &str) -> Reply {
        let digits: Vec<String> = number.chars().map(String::from).collect();
        let names: Vec<String> = (1..=8).map(|i| format!("digit{i}")).collect();
        let mut fields = vec![("username", username)];
        for (name, digit) in names.iter().zip(&digits) {
            fields.push((name, digit));
        }
        self.post_board_form(&fields).await
    }

    pub async fn post_submission(&self, body: &Value) -> Reply {
        read(
            self.client
                .post(self.url("/api/v1/submissions"))
                .json(body)
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    pub async fn submit(&self, username: &str, number: &str) -> Value {
        let reply = self
            .post_submission(&serde_json::json!({ "username": username, "number": number }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()
    }

    pub async fn latest(&self) -> Reply {
        self.get("/api/v1/submissions/latest").await
    }

    pub async fn visit_count(&self) -> u64 {
        self.get("/api/v1/visits").await.json()["count"]
            .as_u64()
            .expect("count is a number")
    }

    /// Reads the database file directly: what is really stored, not what the API says.
    pub async fn stored_state(&self) -> StoredState {
        let url = format!("sqlite://{}?mode=ro", self.db_path.display());
        let mut conn: sqlx::SqliteConnection = sqlx::Connection::connect(&url)
            .await
            .expect("database opens read-only");
        let submissions: i64 = sqlx::query_scalar("SELECT count(*) FROM submission")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        let visits: i64 = sqlx::query_scalar("SELECT visit_count FROM visit_counter")
            .fetch_one(&mut conn)
            .await
            .expect("visits");
        let latest: Option<String> = sqlx::query_scalar(
            "SELECT submission_id FROM submission ORDER BY submission_seq DESC LIMIT 1",
        )
        .fetch_optional(&mut conn)
        .await
        .expect("latest");
        StoredState {
            submissions,
            visits,
            latest,
        }
    }

    /// Triggers shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for the shutdown to finish; the data directory outlives the application for inspection.
    pub async fn wait(mut self) -> (anyhow::Result<()>, Option<tempfile::TempDir>) {
        let result = match self.task.take() {
            Some(task) => task.await.expect("application task joins"),
            None => Ok(()),
        };
        (result, self.dir.take())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request whose body is still arriving: it is in flight until [`SlowRequest::finish`] sends the rest.
pub struct SlowRequest {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    /// Sends the head and the first half of a JSON submission to `POST /api/v1/submissions`.
    pub async fn start(address: SocketAddr, username: &str) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let body = serde_json::json!({ "username": username, "number": "12345678" })
            .to_string()
            .into_bytes();
        let (first, rest) = body.split_at(body.len() / 2);
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");
        let head = format!(
            "POST /api/v1/submissions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        stream.write_all(first).await.expect("first half sent");
        stream.flush().await.expect("flushed");
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body and reads the status code of the answer.
    pub async fn finish(mut self) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(&self.rest).await.expect("rest sent");
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut buf))
                .await
                .expect("answer within 20 s")
                .expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Waits for whatever the server answers without sending more.
    pub async fn status_without_finishing(self) -> u16 {
        let rest = Vec::new();
        Self {
            stream: self.stream,
            rest,
        }
        .finish()
        .await
    }
}

/// The multipart boundary of [`StalledUpload`].
const STALLED_BOUNDARY: &str = "stratus-stalled-upload-boundary-5c1d";

/// An upload to `POST /api/v1/files` that sends its head and the first `sent` bytes of a `file_len`-byte
/// file, then stops: it holds its connection, and whatever the server keeps for it, until it is
/// finished or dropped.
pub struct StalledUpload {
    stream: tokio::net::TcpStream,
    file_len: usize,
    sent: usize,
}

/// The file byte at `index`: a pattern that is not all one value.
fn stalled_byte(index: usize) -> u8 {
    (index % 251) as u8
}

impl StalledUpload {
    pub async fn start(address: SocketAddr, file_len: usize, sent: usize) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let head = format!(
            "--{STALLED_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.bin\"\r\n\r\n"
        );
        let tail = format!("\r\n--{STALLED_BOUNDARY}--\r\n");
        let length = head.len() + file_len + tail.len();
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");
        let request = format!(
            "POST /api/v1/files HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary={STALLED_BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{head}"
        );
        let mut upload = Self {
            stream,
            file_len,
            sent: 0,
        };
        // A server that refused the upload may close the connection while the bytes are still going out:
        // that is an answer, read later, not a failure here.
        if upload.stream.write_all(request.as_bytes()).await.is_ok() {
            let _ = upload.send_file_bytes(sent).await;
        }
        upload
    }

    async fn send_file_bytes(&mut self, count: usize) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let end = (self.sent + count).min(self.file_len);
        while self.sent < end {
            let chunk: Vec<u8> = (self.sent..end.min(self.sent + 256 * 1024))
                .map(stalled_byte)
                .collect();
            self.stream.write_all(&chunk).await?;
            self.sent += chunk.len();
        }
        self.stream.flush().await
    }

    /// The status the server has answered with, if it answers within `wait`; `None` while it still waits
    /// for the rest of the body.
    pub async fn answer_within(&mut self, wait: Duration) -> Option<u16> {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                Ok(_) => break,
                Err(_) if got.is_empty() => return None,
                Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&got);
        text.split(' ').nth(1).and_then(|s| s.parse().ok())
    }

    /// Sends the rest of the file and the closing boundary, and returns the status of the answer.
    pub async fn finish(mut self) -> Option<u16> {
        use tokio::io::AsyncWriteExt as _;
        let rest = self.file_len - self.sent;
        self.send_file_bytes(rest).await.ok()?;
        let tail = format!("\r\n--{STALLED_BOUNDARY}--\r\n");
        self.stream.write_all(tail.as_bytes()).await.ok()?;
        self.answer_within(Duration::from_secs(30)).await
    }
}
