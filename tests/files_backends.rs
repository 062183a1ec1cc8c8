//! Files on the production backends, over HTTP: S3 and DynamoDB (moto) for the bytes and the metadata,
//! PostgreSQL for users and metadata. Needs the servers `scripts/test-services.sh` starts; never skips.

#[path = "contract/support.rs"]
mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stratus::app::startup::Application;
use support::{DynamoTable, PgDatabase, service_env, settings, unique};
use tokio::{sync::oneshot, task::JoinHandle};

const BOUNDARY: &str = "stratus-backend-boundary-x81";

struct App {
    base: String,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _task: JoinHandle<anyhow::Result<()>>,
}

async fn spawn(args: &[&str]) -> App {
    let app = Application::build(settings(args))
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
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        _stop: stop,
        _task: task,
    }
}

fn multipart(owner: Option<&str>, name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(owner) = owner {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"owner\"\r\n\r\n{owner}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

impl App {
    async fn upload(&self, owner: Option<&str>, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/files", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(owner, name, bytes))
            .send()
            .await
            .expect("upload sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn content(&self, id: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut request = self
            .client
            .get(format!("{}/api/v1/files/{id}/content", self.base));
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let response = request.send().await.expect("sent");
        (
            response.status(),
            response.bytes().await.expect("body").to_vec(),
        )
    }

    async fn create_user(&self, name: &str, email: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/users", self.base))
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .expect("sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A bucket on moto (which creates buckets on an unsigned PUT).
async fn create_bucket() -> String {
    let bucket = format!("stratus-test-{}", unique());
    let endpoint = service_env("AWS_ENDPOINT_URL");
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        created.status().is_success(),
        "bucket created: {}",
        created.status()
    );
    bucket
}

/// The keys in a bucket (ListObjectsV2 on moto).
async fn bucket_keys(bucket: &str) -> Vec<String> {
    let endpoint = service_env("AWS_ENDPOINT_URL");
    let listing = reqwest::Client::new()
        .get(format!("{endpoint}/{bucket}?list-type=2"))
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .expect("listing");
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next().map(str::to_owned))
        .collect()
}

fn s3_flags<'a>(files_url: &'a str, metadata_url: &'a str, db_url: &'a str) -> Vec<&'a str> {
    vec![
        "--database-url",
        db_url,
        "--files-url",
        files_url,
        "--file-metadata-url",
        metadata_url,
        "--create-tables",
        "true",
        "--database-statement-timeout",
        "5s",
        "--request-timeout",
        "30",
    ]
}

#[tokio::test]
async fn s3_and_dynamodb_keep_files_byte_exact_listed_by_owner_and_deleted() {
    let bucket = create_bucket().await;
    let table = DynamoTable::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/stratus.db", dir.path().display());
    let files_url = format!("s3://{bucket}/uploads");
    let metadata_url = format!("dynamodb://{}", table.name);
    let app = spawn(&s3_flags(&files_url, &metadata_url, &db_url)).await;

    let (status, ada) = app.create_user("Ada", "ada@example.com").await;
    assert_eq!(status, StatusCode::CREATED);
    let ada = ada["id"].as_str().expect("id").to_owned();
    let mut ids = Vec::new();
    // 0 and 1 byte go up in one PUT, 11 MiB as a multipart upload of three parts.
    for (len, owner) in [
        (0usize, Some(ada.as_str())),
        (1, None),
        (11 * 1024 * 1024, Some(ada.as_str())),
    ] {
        let bytes = pattern(len, 3);
        let (status, meta) = app.upload(owner, "data.bin", &bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{len}: {meta}");
        assert_eq!(meta["size"], len as u64);
        let id = meta["id"].as_str().expect("id").to_owned();
        let (status, got) = app.content(&id, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(got == bytes, "{len} bytes round trip");
        ids.push(id);
    }
    let (status, part) = app.content(&ids[2], Some("bytes=5242870-5242889")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, pattern(11 * 1024 * 1024, 3)[5_242_870..5_242_890]);
    let keys = bucket_keys(&bucket).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("uploads/")), "{keys:?}");

    let (_, mine) = app.get_json(&format!("/api/v1/files?owner={ada}")).await;
    let listed: Vec<&str> = mine["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        [ids[2].as_str(), ids[0].as_str()],
        "newest first, one owner's"
    );
    let (_, page) = app.get_json("/api/v1/files?limit=2").await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("second page")
        .to_owned();
    let (_, rest) = app
        .get_json(&format!("/api/v1/files?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"][0]["id"], ids[0].as_str());
    assert_eq!(rest["next_cursor"], Value::Null);

    let deleted = app
        .client
        .delete(format!("{}/api/v1/files/{}", app.base, ids[1]))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(bucket_keys(&bucket).await.len(), 2);
    assert_eq!(
        app.get_json(&format!("/api/v1/files/{}", ids[1])).await.0,
        StatusCode::NOT_FOUND
    );
    table.delete_now().await;
}

#[tokio::test]
async fn a_metadata_table_that_disappears_gets_503_no_object_left_and_the_sweep_cleans_up() {
    let bucket = create_bucket().await;
    let table = DynamoTable::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/stratus.db", dir.path().display());
    let files_url = format!("s3://{bucket}/uploads");
    let metadata_url = format!("dynamodb://{}", table.name);
    let flags = s3_flags(&files_url, &metadata_url, &db_url);
    let app = spawn(&flags).await;
    let (status, kept) = app.upload(None, "kept.txt", b"kept").await;
    assert_eq!(status, StatusCode::CREATED);

    // The failure between the two writes: the metadata table is gone after the service checked it.
    DynamoTable::client()
        .await
        .delete_table()
        .table_name(&table.name)
        .send()
        .await
        .expect("table deleted");
    let (status, problem) = app
        .upload(None, "lost.txt", &pattern(6 * 1024 * 1024, 1))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(
        bucket_keys(&bucket).await.len(),
        1,
        "the failed upload's object was deleted"
    );

    // An orphan as a crash between the writes leaves it, then the sweep (the table recreated empty, so the
    // kept file's record is gone too: its object becomes an orphan as well).
    let orphan = format!("uploads/{}", uuid::Uuid::now_v7());
    let endpoint = service_env("AWS_ENDPOINT_URL");
    reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}/{orphan}"))
        .body("orphan")
        .send()
        .await
        .expect("put");
    let settings = settings(&flags);
    let storage =
        stratus::storage::open(&settings.database, None, stratus::storage::Role::Maintain)
            .await
            .expect("storage");
    let files = stratus::files::Files::open(&settings.files, &storage.sql)
        .await
        .expect("files");
    let dry = stratus::files::sweep::sweep(&files, Duration::ZERO, true)
        .await
        .expect("dry run");
    assert_eq!(dry.orphans.len(), 2, "{dry:?}");
    assert_eq!(
        bucket_keys(&bucket).await.len(),
        2,
        "a dry run removes nothing"
    );
    let swept = stratus::files::sweep::sweep(&files, Duration::ZERO, false)
        .await
        .expect("sweep");
    assert_eq!(swept.removed, 2);
    assert!(bucket_keys(&bucket).await.is_empty());
    let _ = kept;
    table.delete_now().await;
}

#[tokio::test]
async fn postgresql_keeps_users_and_file_metadata() {
    let db = PgDatabase::create().await;
    let url = db.url("");
    let dir = tempfile::tempdir().expect("temp dir");
    let files_url = format!("file://{}", dir.path().display());
    let app = spawn(&["--database-url", &url, "--files-url", &files_url]).await;
    let (status, ada) = app.create_user("Ada", "ada@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let (status, duplicate) = app.create_user("Ada again", "ADA@example.COM").await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");
    let ada = ada["id"].as_str().expect("id").to_owned();
    let (status, first) = app.upload(Some(&ada), "a.txt", b"a").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, _) = app.upload(None, "b.txt", b"b").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = app.get_json(&format!("/api/v1/files?owner={ada}")).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["items"][0], first);
    let (_, all) = app.get_json("/api/v1/files?limit=1").await;
    assert!(all["next_cursor"].is_string());
    let id = first["id"].as_str().expect("id");
    let deleted = app
        .client
        .delete(format!("{}/api/v1/files/{id}", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(db.admin_query_i64("SELECT count(*) FROM file").await, 1);
    drop(app);
    db.drop_now().await;
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes in the upload spool files `pid` has open under `spool` (unnamed files: only their descriptors
/// show them).
fn spooled_bytes(pid: u32, spool: &std::path::Path) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(spool)))
        .filter_map(|fd| std::fs::metadata(fd.path()).ok())
        .map(|meta| meta.len())
        .sum()
}

/// Current resident memory (VmRSS) of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .expect("VmRSS")
}

/// An upload that sends its head and `sent` of `file_len` bytes, then stops until `finish`.
struct Stalled {
    stream: tokio::net::TcpStream,
    file_len: usize,
    sent: usize,
}

impl Stalled {
    async fn start(address: std::net::SocketAddr, file_len: usize, sent: usize) -> Self {
        use tokio::io::AsyncWriteExt as _;
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.bin\"\r\n\r\n"
        );
        let length = head.len() + file_len + format!("\r\n--{BOUNDARY}--\r\n").len();
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");
        let request = format!(
            "POST /api/v1/files HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{head}"
        );
        stream.write_all(request.as_bytes()).await.expect("head");
        stream
            .write_all(&pattern(file_len, 9)[..sent])
            .await
            .expect("bytes");
        Self {
            stream,
            file_len,
            sent,
        }
    }

    /// Sends the rest and returns the answer's head and body.
    async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let rest = pattern(self.file_len, 9)[self.sent..].to_vec();
        self.stream.write_all(&rest).await.expect("rest");
        self.stream
            .write_all(format!("\r\n--{BOUNDARY}--\r\n").as_bytes())
            .await
            .expect("tail");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            self.stream.read_to_end(&mut answer),
        )
        .await;
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Uploads to S3 that send 4 MiB (most of a part) and then withhold the rest keep those bytes in the
/// spool on disk, not in memory: 100 of them raise the real binary's RSS by less than 64 MiB. Once they
/// go on, they are stored intact (a part from the spool, then the last part).
#[tokio::test]
async fn stalled_uploads_to_s3_keep_their_bytes_on_disk_not_in_memory() {
    const MIB: usize = 1024 * 1024;
    const UPLOADS: usize = 100;
    let bucket = create_bucket().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).expect("spool dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_stratus"));
    command.arg("serve").env_clear();
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        command.env(name, service_env(name));
    }
    let mut child = command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/stratus.db", dir.path().display()),
        )
        .env("STRATUS_FILES_URL", format!("s3://{bucket}/uploads"))
        .env("STRATUS_UPLOAD_SPOOL_DIR", &spool)
        .env("STRATUS_MAX_CONCURRENT_UPLOADS", "128")
        .env("STRATUS_REQUEST_TIMEOUT", "120")
        .env("STRATUS_UPLOAD_MIN_BYTES_PER_SECOND", "0")
        .env("STRATUS_INSTANCE_METADATA", "hostname")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let pid = child.id().expect("pid");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout);
    let address: std::net::SocketAddr = loop {
        let mut line = String::new();
        let n = tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line)
            .await
            .expect("reads");
        assert!(n > 0, "the binary exited before listening");
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if entry["message"] == "listening" {
            break entry["address"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .expect("address");
        }
    };
    tokio::spawn(async move {
        while tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut String::new())
            .await
            .is_ok_and(|n| n > 0)
        {}
    });
    let client = reqwest::Client::new();
    let warmed = client
        .post(format!("http://{address}/api/v1/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(None, "warm.bin", &pattern(6 * MIB, 1)))
        .send()
        .await
        .expect("warm-up");
    assert_eq!(warmed.status(), StatusCode::CREATED);
    let idle = rss_kib(pid);

    let mut uploads =
        futures::future::join_all((0..UPLOADS).map(|_| Stalled::start(address, 6 * MIB, 4 * MIB)))
            .await;
    let arrived = (UPLOADS * (4 * MIB - 64 * 1024)) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut held = 0;
    while spooled_bytes(pid, &spool) < arrived && std::time::Instant::now() < deadline {
        held = rss_kib(pid).max(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    held = rss_kib(pid).max(held);
    let grew_mib = held.saturating_sub(idle) as f64 / 1024.0;
    println!(
        "RSS idle {idle} KiB, with {UPLOADS} stalled S3 uploads {held} KiB: +{grew_mib:.1} MiB"
    );
    assert!(
        spooled_bytes(pid, &spool) >= arrived,
        "what arrived is in the spool: {} of {arrived} bytes",
        spooled_bytes(pid, &spool)
    );
    assert!(
        grew_mib < 64.0,
        "{UPLOADS} stalled uploads grew RSS by {grew_mib:.1} MiB"
    );
    let finished = futures::future::join_all(uploads.drain(..4).map(Stalled::finish)).await;
    let digest = sha256_hex(&pattern(6 * MIB, 9));
    for answer in &finished {
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        assert!(answer.contains(&digest), "stored intact: {answer}");
    }
    drop(uploads);
    let _ = child.kill().await;
}
