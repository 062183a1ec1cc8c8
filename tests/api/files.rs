//! Files over HTTP on the default backends (SQLite metadata, a local directory for the bytes): round
//! trips, limits, hostile names, concurrency, ranges, deletes, listings, a metadata failure after the object
//! was written, the sweep, and the memory a 1 GiB upload costs the real binary.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::helpers::{Reply, StalledUpload, TestApp, csrf_token_in, read, spawn_app_with};

pub const BOUNDARY: &str = "stratus-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart body: `(name, filename, bytes)` parts in order.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(filename) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The app with its files in its own directory (returned) and extra flags.
pub async fn spawn_files_app(flags: &[&str]) -> (TestApp, tempfile::TempDir) {
    let files = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", files.path().display());
    let mut args = vec!["--files-url", url.as_str()];
    args.extend_from_slice(flags);
    (spawn_app_with(&args).await, files)
}

/// The names of the files in the objects directory (ids only, once uploads settle).
fn stored_objects(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub async fn upload_raw(app: &TestApp, body: Vec<u8>) -> Reply {
    read(
        app.client
            .post(app.url("/api/v1/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .expect("upload sent"),
    )
    .await
}

pub async fn upload(app: &TestApp, filename: &str, bytes: &[u8], owner: Option<&str>) -> Value {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = Vec::new();
    if let Some(owner) = owner {
        parts.push(("owner", None, owner.as_bytes()));
    }
    parts.push(("file", Some(filename), bytes));
    let reply = upload_raw(app, multipart(&parts)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()
}

pub async fn download(
    app: &TestApp,
    id: &str,
    range: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/files/{id}/content")));
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("download sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, headers, bytes)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn zero_one_and_fifty_mib_files_round_trip_byte_for_byte() {
    let (app, dir) = spawn_files_app(&[]).await;
    for (len, name) in [
        (0usize, "empty.bin"),
        (1, "one.bin"),
        (50 * 1024 * 1024, "fifty.bin"),
    ] {
        let bytes = pattern(len, 7);
        let meta = upload(&app, name, &bytes, None).await;
        assert_eq!(meta["size"], len as u64, "{name}");
        assert_eq!(meta["sha256"], sha256_hex(&bytes), "{name}");
        assert_eq!(meta["name"], name);
        assert_eq!(meta["owner"], Value::Null);
        let id = meta["id"].as_str().expect("id");
        let (status, headers, got) = download(&app, id, None).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(got == bytes, "{name}: the bytes differ");
        assert_eq!(header(&headers, "content-length"), len.to_string());
        assert_eq!(
            header(&headers, "etag"),
            format!("\"{}\"", sha256_hex(&bytes))
        );
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert!(
            header(&headers, "content-disposition").starts_with("attachment; filename=\""),
            "{headers:?}"
        );
        let found = app.get(&format!("/api/v1/files/{id}")).await;
        assert_eq!(found.json(), meta);
    }
    assert_eq!(stored_objects(&dir).len(), 3);
}

#[tokio::test]
async fn the_type_is_sniffed_from_the_bytes_and_html_is_never_served_inline() {
    let (app, _dir) = spawn_files_app(&[]).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    let meta = upload(&app, "notes.txt", png, None).await;
    assert_eq!(
        meta["content_type"], "image/png",
        "the name and the declared type are not believed"
    );
    let html = b"<!doctype html><html><script>alert(document.cookie)</script></html>";
    let meta = upload(&app, "page.html", html, None).await;
    let (_, headers, _) = download(&app, meta["id"].as_str().expect("id"), None).await;
    assert!(header(&headers, "content-disposition").starts_with("attachment;"));
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    // Whatever the type, the browser saves it; it never renders it as part of this site.
    assert_eq!(meta["content_type"], header(&headers, "content-type"));
    // A control character in the part's header is not a header value at all: refused, nothing kept.
    let reply = upload_raw(&app, multipart(&[("file", Some("a\u{1}b.txt"), b"x")])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

#[tokio::test]
async fn a_file_over_the_limit_gets_413_and_leaves_nothing_behind() {
    let (app, dir) = spawn_files_app(&["--max-upload-bytes", "1048576"]).await;
    // Exactly the limit is accepted.
    upload(&app, "max.bin", &pattern(1024 * 1024, 1), None).await;
    let before = stored_objects(&dir);
    // Over it, whether or not the length is declared up front (multipart framing hides the file's size),
    // and over a part boundary of the object store (6 MiB): refused while streaming.
    for len in [1024 * 1024 + 1, 6 * 1024 * 1024] {
        let reply = upload_raw(
            &app,
            multipart(&[("file", Some("big.bin"), &pattern(len, 2))]),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{len}: {}",
            reply.body
        );
        assert!(
            reply.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("too large"),
            "{}",
            reply.body
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stored_objects(&dir),
        before,
        "no object, part or staging file is left"
    );
    let listed = app.get("/api/v1/files").await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn path_traversal_and_control_characters_in_names_are_neutralised() {
    let (app, dir) = spawn_files_app(&[]).await;
    for (sent, shown) in [
        ("../../../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("..", "file"),
        ("a\tb\tname.txt", "abname.txt"),
        ("evil\u{202e}gpj.exe", "evilgpj.exe"),
        ("x'; filename=evil.html", "x'; filename=evil.html"),
    ] {
        let meta = upload(&app, sent, b"data", None).await;
        assert_eq!(meta["name"], shown, "{sent:?}");
        let (_, headers, _) = download(&app, meta["id"].as_str().expect("id"), None).await;
        let disposition = header(&headers, "content-disposition");
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{sent:?}: {disposition}"
        );
        assert_eq!(
            disposition.matches('"').count(),
            2,
            "{sent:?}: {disposition}"
        );
    }
    // Every object is named by its id: nothing was written outside the directory or under a client's name.
    for name in stored_objects(&dir) {
        assert!(uuid::Uuid::try_parse(&name).is_ok(), "{name}");
    }
}

#[tokio::test]
async fn concurrent_uploads_are_all_stored_intact() {
    let (app, _dir) = spawn_files_app(&[]).await;
    let uploads = (0..8u8).map(|i| {
        let bytes = pattern(300_000 + usize::from(i) * 1000, i);
        let app = &app;
        async move {
            let meta = upload(app, &format!("f{i}.bin"), &bytes, None).await;
            (meta, bytes)
        }
    });
    let results = futures::future::join_all(uploads).await;
    for (meta, bytes) in &results {
        let (_, _, got) = download(&app, meta["id"].as_str().expect("id"), None).await;
        assert!(&got == bytes, "{}", meta["name"]);
    }
    let listed = app.get("/api/v1/files?limit=100").await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(8));
}

#[tokio::test]
async fn ranges_get_206_and_unsatisfiable_ones_416() {
    let (app, _dir) = spawn_files_app(&[]).await;
    let bytes = pattern(1000, 3);
    let meta = upload(&app, "r.bin", &bytes, None).await;
    let id = meta["id"].as_str().expect("id");
    for (range, want, content_range) in [
        ("bytes=0-9", &bytes[..10], "bytes 0-9/1000"),
        ("bytes=990-", &bytes[990..], "bytes 990-999/1000"),
        ("bytes=-5", &bytes[995..], "bytes 995-999/1000"),
        ("bytes=500-5000", &bytes[500..], "bytes 500-999/1000"),
    ] {
        let (status, headers, got) = download(&app, id, Some(range)).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(got, want, "{range}");
        assert_eq!(header(&headers, "content-range"), content_range);
        assert_eq!(header(&headers, "content-length"), want.len().to_string());
    }
    // A file larger than what is read in one go (256 KiB): a short range deep inside it is read in one go,
    // a long one streams; both byte-exact.
    let large = pattern(700 * 1024, 7);
    let large_id = upload(&app, "large.bin", &large, None).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for (range, want) in [
        ("bytes=600000-600099", &large[600_000..600_100]),
        ("bytes=1-", &large[1..]),
        ("bytes=100000-399999", &large[100_000..400_000]),
    ] {
        let (status, _, got) = download(&app, &large_id, Some(range)).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert!(got == want, "{range}: {} bytes", got.len());
    }
    let (status, _, got) = download(&app, &large_id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(got == large, "the whole large file");

    let (status, headers, _) = download(&app, id, Some("bytes=1000-")).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&headers, "content-range"), "bytes */1000");
    let (status, _, got) = download(&app, id, Some("bytes=0-1,5-6")).await;
    assert_eq!(
        (status, got.len()),
        (StatusCode::OK, 1000),
        "several ranges: the whole file"
    );
    let head = app
        .client
        .head(app.url(&format!("/api/v1/files/{id}/content")))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(head.headers(), "content-length"), "1000");
    let etag = format!("\"{}\"", sha256_hex(&bytes));
    let cached = app
        .client
        .get(app.url(&format!("/api/v1/files/{id}/content")))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional GET");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_deleted_file_is_gone_from_the_store_the_listing_and_the_api() {
    let (app, dir) = spawn_files_app(&[]).await;
    let meta = upload(&app, "gone.txt", b"bye", None).await;
    let id = meta["id"].as_str().expect("id");
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/files/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/files/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(download(&app, id, None).await.0, StatusCode::NOT_FOUND);
    assert!(stored_objects(&dir).is_empty());
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/files/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/files/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn files_are_listed_newest_first_by_owner_and_paged() {
    let (app, _dir) = spawn_files_app(&[]).await;
    let ada = crate::users::create_user(&app, "Ada", "ada@example.com").await;
    let ada = ada["id"].as_str().expect("id").to_owned();
    let first = upload(&app, "1.txt", b"1", Some(&ada)).await;
    upload(&app, "2.txt", b"2", None).await;
    let third = upload(&app, "3.txt", b"3", Some(&ada)).await;
    assert_eq!(third["owner"], ada.as_str());
    let mine = app
        .get(&format!("/api/v1/files?owner={ada}&limit=1"))
        .await
        .json();
    assert_eq!(mine["items"][0]["id"], third["id"]);
    let cursor = mine["next_cursor"].as_str().expect("a second page");
    let next = app
        .get(&format!(
            "/api/v1/files?owner={ada}&limit=1&cursor={cursor}"
        ))
        .await
        .json();
    assert_eq!(next["items"][0]["id"], first["id"]);
    assert_eq!(next["next_cursor"], Value::Null);
    let all = app.get("/api/v1/files").await.json();
    let names: Vec<&str> = all["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["3.txt", "2.txt", "1.txt"]);
    // Owners must exist; bad filters and cursors are 400.
    let stranger = uuid::Uuid::now_v7().to_string();
    let reply = upload_raw(
        &app,
        multipart(&[
            ("owner", None, stranger.as_bytes()),
            ("file", Some("x"), b"x"),
        ]),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(
        app.get("/api/v1/files?owner=ada").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/v1/files?cursor=bm9wZQ").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn malformed_uploads_are_refused_with_a_sentence() {
    let (app, dir) = spawn_files_app(&[]).await;
    let not_multipart = app
        .client
        .post(app.url("/api/v1/files"))
        .body("x")
        .header("content-type", "text/plain")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_multipart.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for (body, why) in [
        (multipart(&[("owner", None, b"")]), "no file"),
        (
            multipart(&[("other", None, b"x"), ("file", Some("a"), b"a")]),
            "unknown part",
        ),
        (
            multipart(&[("file", Some("a"), b"a"), ("file", Some("b"), b"b")]),
            "two files",
        ),
        (b"--nope\r\n".to_vec(), "broken body"),
    ] {
        let reply = upload_raw(&app, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            reply.body
        );
        assert!(
            !reply.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
    }
    assert!(
        stored_objects(&dir).is_empty(),
        "a refused upload keeps nothing"
    );
}

#[tokio::test]
async fn the_page_uploads_lists_and_deletes_with_its_csrf_token() {
    let (app, dir) = spawn_files_app(&[]).await;
    let page = app.get("/files").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("anyone can upload"),
        "the open state is said"
    );
    let token = csrf_token_in(&page.body);
    let body = multipart(&[
        ("csrf_token", None, token.as_bytes()),
        ("owner", None, b""),
        ("file", Some("<b>hi</b>.txt"), b"hello"),
    ]);
    let posted = read(
        app.client
            .post(app.url("/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let page = app.get("/files").await;
    assert!(
        page.body.contains("hi") && !page.body.contains("<b>hi</b>"),
        "names are escaped"
    );
    // Without the token nothing is stored.
    let forged = multipart(&[("file", Some("x.txt"), b"x")]);
    let refused = app
        .client
        .post(app.url("/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(forged)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored_objects(&dir).len(), 1);
    let id = stored_objects(&dir).remove(0);
    let deleted = app
        .client
        .post(app.url(&format!("/files/{id}/delete")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(stored_objects(&dir).is_empty());
}

/// The test hook for "the metadata write fails after the object was written": a trigger that makes every
/// insert into `file` fail, added to the running service's database behind its back.
async fn break_metadata_writes(app: &TestApp) {
    let url = format!("sqlite://{}", app.db_path.display());
    let mut conn: sqlx::SqliteConnection = sqlx::Connection::connect(&url).await.expect("opens");
    sqlx::query("CREATE TRIGGER fail_file_insert BEFORE INSERT ON file BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        .execute(&mut conn)
        .await
        .expect("trigger created");
}

#[tokio::test]
async fn when_the_metadata_write_fails_the_object_is_removed_and_503_said() {
    let (app, dir) = spawn_files_app(&[]).await;
    upload(&app, "kept.txt", b"kept", None).await;
    break_metadata_writes(&app).await;
    for len in [10, 6 * 1024 * 1024] {
        let reply = upload_raw(
            &app,
            multipart(&[("file", Some("lost.bin"), &pattern(len, 9))]),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(!reply.header("retry-after").is_empty());
    }
    assert_eq!(
        stored_objects(&dir).len(),
        1,
        "the objects of failed uploads were deleted"
    );
    let listed = app.get("/api/v1/files").await.json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "nothing half-written is listed"
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

async fn sweep(db: &std::path::Path, files: &std::path::Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("STRATUS_FILES_URL", format!("file://{}", files.display()))
        .env("RUST_LOG", "warn")
        .args(["files", "sweep"])
        .args(args)
        .output()
        .await
        .expect("sweep runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_sweep_removes_orphans_and_reports_missing_objects() {
    let (app, dir) = spawn_files_app(&[]).await;
    let kept = upload(&app, "kept.txt", b"kept", None).await;
    let lost = upload(&app, "lost.txt", b"lost", None).await;
    // A process that died between the two writes leaves an object without metadata; simulate one.
    let orphan = uuid::Uuid::now_v7().to_string();
    std::fs::write(dir.path().join(&orphan), b"orphan").expect("orphan written");
    // Someone removed an object behind the service's back.
    let lost_id = lost["id"].as_str().expect("id");
    std::fs::remove_file(dir.path().join(lost_id)).expect("removed");
    let db = app.db_path.clone();

    let young = sweep(&db, dir.path(), &[]).await;
    assert!(
        young.contains("0 orphan objects"),
        "the default 1h spares young objects: {young}"
    );
    let dry = sweep(&db, dir.path(), &["--older-than", "0s", "--dry-run"]).await;
    assert!(
        dry.contains(&format!("orphan object {orphan}")) && dry.contains("would be removed"),
        "{dry}"
    );
    assert!(
        dir.path().join(&orphan).exists(),
        "a dry run removes nothing"
    );
    let swept = sweep(&db, dir.path(), &["--older-than", "0s"]).await;
    assert!(
        swept.contains(&format!("orphan object {orphan}")) && swept.contains("removed"),
        "{swept}"
    );
    assert!(
        swept.contains(&format!("metadata without an object: file {lost_id}")),
        "{swept}"
    );
    assert!(!dir.path().join(&orphan).exists());
    assert!(
        dir.path().join(kept["id"].as_str().expect("id")).exists(),
        "listed files are never swept"
    );
}

/// Peak resident memory (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// The real binary serving files from a temporary directory, and the address it listens on.
struct Binary {
    child: tokio::process::Child,
    pid: u32,
    address: std::net::SocketAddr,
    files: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts `stratus` on a random port with its database and files in a temporary directory, plus `env`.
async fn start_binary(env: &[(&str, &str)]) -> Binary {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = dir.path().join("files");
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .env("STRATUS_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/stratus.db", dir.path().display()),
        )
        .env("STRATUS_FILES_URL", format!("file://{}", files.display()))
        .env("STRATUS_INSTANCE_METADATA", "hostname")
        .envs(env.iter().copied())
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
    Binary {
        child,
        pid,
        address,
        files,
        _dir: dir,
    }
}

/// Uploading 1 GiB to the real binary raises its peak RSS by less than 32 MiB: the body is streamed to
/// disk in bounded parts, never held. The bytes are generated on the fly and sent over loopback.
#[tokio::test]
async fn a_one_gib_upload_keeps_the_binary_memory_flat() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const GIB: u64 = 1024 * 1024 * 1024;
    let Binary {
        mut child,
        pid,
        address,
        files,
        _dir,
    } = start_binary(&[
        ("STRATUS_MAX_UPLOAD_BYTES", &(2 * GIB).to_string()),
        ("STRATUS_REQUEST_TIMEOUT", "600"),
    ])
    .await;
    // Warm up: one small upload, so allocator pools, connections and the page cache of the binary exist.
    let warm = multipart(&[("file", Some("warm.bin"), &pattern(6 * 1024 * 1024, 1))]);
    let client = reqwest::Client::new();
    let warmed = client
        .post(format!("http://{address}/api/v1/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(warm)
        .send()
        .await
        .expect("warm-up");
    assert_eq!(warmed.status(), StatusCode::CREATED);
    let before = peak_rss_kib(pid);

    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() as u64 + GIB + tail.len() as u64;
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let request = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{head}"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("head sent");
    let chunk = pattern(1024 * 1024, 5);
    let mut hasher = Sha256::new();
    for _ in 0..1024 {
        stream.write_all(&chunk).await.expect("chunk sent");
        hasher.update(&chunk);
    }
    stream.write_all(tail.as_bytes()).await.expect("tail sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(answer.contains(&expected), "the digest matches: {answer}");

    let after = peak_rss_kib(pid);
    let grew_mib = (after.saturating_sub(before)) as f64 / 1024.0;
    println!(
        "peak RSS before {before} KiB, after {after} KiB: +{grew_mib:.1} MiB for a 1 GiB upload"
    );
    assert!(grew_mib < 32.0, "peak RSS grew by {grew_mib:.1} MiB");
    let stored = std::fs::read_dir(&files)
        .expect("files dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max();
    assert_eq!(stored, Some(GIB));
    let _ = child.kill().await;
}

/// Current resident memory (VmRSS) of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Bytes in the store's staging files (uploads under way: `<id>#<n>` beside the objects).
fn staged_bytes(files: &std::path::Path) -> u64 {
    std::fs::read_dir(files)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains('#'))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A hundred unauthenticated uploads that send 4 MiB each and then withhold the rest raise the real
/// binary's resident memory by less than 64 MiB: what has arrived is on disk, and a stalled upload holds
/// only a small buffer. Once they go on, they finish intact.
#[tokio::test]
async fn a_hundred_stalled_uploads_keep_the_binary_memory_small() {
    const MIB: usize = 1024 * 1024;
    const UPLOADS: usize = 100;
    let server = start_binary(&[
        ("STRATUS_MAX_CONCURRENT_UPLOADS", "128"),
        ("STRATUS_REQUEST_TIMEOUT", "120"),
        ("STRATUS_UPLOAD_MIN_BYTES_PER_SECOND", "0"),
    ])
    .await;
    let client = reqwest::Client::new();
    let warm = multipart(&[("file", Some("warm.bin"), &pattern(6 * MIB, 1))]);
    let warmed = client
        .post(format!("http://{}/api/v1/files", server.address))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(warm)
        .send()
        .await
        .expect("warm-up");
    assert_eq!(warmed.status(), StatusCode::CREATED);
    let idle = rss_kib(server.pid);

    let mut uploads = futures::future::join_all(
        (0..UPLOADS).map(|_| StalledUpload::start(server.address, 5 * MIB, 4 * MIB)),
    )
    .await;
    // Until the server has taken in what was sent (it is on disk), for at most 10 s; the highest
    // resident memory seen on the way counts.
    let arrived = (UPLOADS * (4 * MIB - 64 * 1024)) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut held = 0;
    loop {
        held = held.max(rss_kib(server.pid));
        if staged_bytes(&server.files) >= arrived || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    held = held.max(rss_kib(server.pid));
    let grew_mib = held.saturating_sub(idle) as f64 / 1024.0;
    println!("RSS idle {idle} KiB, with {UPLOADS} stalled uploads {held} KiB: +{grew_mib:.1} MiB");
    assert!(
        grew_mib < 64.0,
        "{UPLOADS} stalled uploads grew RSS by {grew_mib:.1} MiB"
    );
    assert!(
        staged_bytes(&server.files) >= arrived,
        "what arrived is on disk: {} of {arrived} bytes",
        staged_bytes(&server.files)
    );
    for upload in &mut uploads {
        assert_eq!(
            upload.answer_within(Duration::ZERO).await,
            None,
            "every upload is still open"
        );
    }
    let finished = futures::future::join_all(uploads.drain(..10).map(StalledUpload::finish)).await;
    assert!(
        finished.iter().all(|status| *status == Some(201)),
        "stalled uploads finish once the bytes come: {finished:?}"
    );
}

/// A chunked upload (no length declared) over the limit is 413 with the file-size sentence, as
/// problem+json for the API and as a page for the form, and nothing is kept.
#[tokio::test]
async fn a_chunked_upload_over_the_limit_gets_413_with_a_sentence() {
    let (app, dir) = spawn_files_app(&["--max-upload-bytes", "1048576"]).await;
    let chunked = |body: Vec<u8>| {
        reqwest::Body::wrap_stream(futures::stream::iter(
            body.chunks(512 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        ))
    };
    let big = pattern(3 * 1024 * 1024, 4);
    let api = read(
        app.client
            .post(app.url("/api/v1/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(chunked(multipart(&[("file", Some("big.bin"), &big)])))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(api.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", api.body);
    assert_eq!(api.header("content-type"), "application/problem+json");
    assert!(
        api.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("too large")),
        "{}",
        api.body
    );

    let token = csrf_token_in(&app.get("/files").await.body);
    let page = read(
        app.client
            .post(app.url("/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(chunked(multipart(&[
                ("csrf_token", None, token.as_bytes()),
                ("file", Some("big.bin"), &big),
            ])))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", page.body);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("too large"), "{}", page.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        stored_objects(&dir).is_empty(),
        "{:?}",
        stored_objects(&dir)
    );
}
