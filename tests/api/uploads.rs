//! Uploads outlive the request timeout while they keep moving, a stalled one is answered 408 and leaves
//! nothing behind, and with an admin configured every write needs the sign-in or the API token.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{
    admin::cheap_hash,
    files::{multipart, pattern, spawn_files_app},
    helpers::{TestApp, read},
};

const BOUNDARY: &str = "stratus-test-boundary-7MA4YWxkTrZu0gW";

/// Sends a multipart upload of `chunks` x `chunk` bytes by hand, pausing `pause` between chunks, and
/// returns the raw answer.
async fn trickle(
    app: &TestApp,
    chunks: usize,
    chunk: usize,
    pause: Duration,
    finish: bool,
) -> String {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() + chunks * chunk + tail.len();
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connects");
    let request = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{head}",
        app.address
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("head sent");
    let bytes = pattern(chunk, 3);
    for _ in 0..chunks {
        stream.write_all(&bytes).await.expect("chunk sent");
        tokio::time::sleep(pause).await;
    }
    if finish {
        stream.write_all(tail.as_bytes()).await.expect("tail sent");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

const FAST: [&str; 4] = [
    "--request-timeout",
    "1",
    "--database-statement-timeout",
    "500ms",
];

#[tokio::test]
async fn an_upload_that_keeps_moving_outlives_the_request_timeout() {
    let (app, _files) = spawn_files_app(&FAST).await;
    // ~2.4 s of upload against a 1 s request timeout, never idle for more than 0.4 s.
    let answer = trickle(&app, 6, 64 * 1024, Duration::from_millis(400), true).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let digest: String = Sha256::digest(
        pattern(64 * 1024, 3)
            .iter()
            .copied()
            .cycle()
            .take(6 * 64 * 1024)
            .collect::<Vec<u8>>(),
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect();
    assert!(
        answer.contains(&digest),
        "the bytes arrived whole: {answer}"
    );
    // Ordinary requests still have the ordinary deadline: the app is fine.
    assert_eq!(
        read(
            app.client
                .get(app.url("/api/v1/files"))
                .send()
                .await
                .expect("lists")
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_stalled_upload_is_answered_408_and_nothing_is_kept() {
    let (app, files) = spawn_files_app(&FAST).await;
    // Some bytes, then silence longer than the request timeout.
    let answer = trickle(&app, 1, 64 * 1024, Duration::from_millis(1800), false).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stalled"), "a sentence says why: {answer}");
    let listing = read(
        app.client
            .get(app.url("/api/v1/files"))
            .send()
            .await
            .expect("lists"),
    )
    .await;
    assert_eq!(
        listing.json()["items"],
        Value::Array(vec![]),
        "nothing is listed"
    );
    let mut left = Vec::new();
    if let Ok(entries) = std::fs::read_dir(files.path()) {
        for entry in entries.flatten() {
            left.push(entry.path());
        }
    }
    // The store may keep its own empty staging directory; no object stays.
    assert!(
        left.iter().all(|p| p.is_dir()
            && std::fs::read_dir(p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true)),
        "nothing left behind: {left:?}"
    );
}

#[tokio::test]
async fn with_an_admin_every_write_needs_the_token_or_the_sign_in() {
    let token = "a-long-random-api-token-for-tests";
    let token_sha: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hash = cheap_hash("correct horse battery staple");
    let (app, _files) = spawn_files_app(&[
        "--admin-password-hash",
        &hash,
        "--api-token-sha256",
        &token_sha,
    ])
    .await;
    let body = multipart(&[("file", Some("a.txt"), b"hello")]);
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let upload = |auth: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/files"))
            .header("content-type", content_type.clone())
            .body(body.clone());
        if let Some(auth) = auth {
            request = request.header("authorization", auth.to_owned());
        }
        request.send()
    };

    let refused = read(upload(None).await.expect("sent")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.header("www-authenticate").starts_with("Bearer"),
        "{refused:?}"
    );
    let wrong = read(upload(Some("Bearer not-the-token")).await.expect("sent")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let stored = read(
        upload(Some(&format!("Bearer {token}")))
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(stored.status, StatusCode::CREATED, "{stored:?}");
    let id = stored.json()["id"].as_str().expect("an id").to_owned();

    // Reading needs the token too once one is configured (security::private_records_need_the_admin);
    // so does deleting.
    let anonymous = read(
        app.client
            .get(app.url("/api/v1/files"))
            .send()
            .await
            .expect("lists"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let listed = read(
        app.client
            .get(app.url("/api/v1/files"))
            .bearer_auth(token)
            .send()
            .await
            .expect("lists"),
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    let delete = read(
        app.client
            .delete(app.url(&format!("/api/v1/files/{id}")))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(delete.status, StatusCode::UNAUTHORIZED);
    let delete = read(
        app.client
            .delete(app.url(&format!("/api/v1/files/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);

    // Users: creating one needs it as well.
    let user = serde_json::json!({"name": "Ada", "email": "ada@example.com"});
    let refused = read(
        app.client
            .post(app.url("/api/v1/users"))
            .json(&user)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let created = read(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&user)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");

    // The pages no longer say writes are open, and their forms send visitors to sign in.
    let page = read(
        app.client
            .get(app.url("/files"))
            .send()
            .await
            .expect("page"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let form = read(
        app.client
            .post(app.url("/users"))
            .form(&[
                ("name", "Bob"),
                ("email", "bob@example.com"),
                ("csrf_token", "x"),
            ])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(
        form.status == StatusCode::FORBIDDEN || form.status.is_redirection(),
        "an anonymous form write is refused: {form:?}"
    );
}

#[tokio::test]
async fn a_form_sent_without_choosing_a_file_is_422_and_stores_nothing() {
    let (app, _files) = spawn_files_app(&[]).await;
    // What a browser sends for an empty file input: the part, an empty file name, no bytes.
    let body = multipart(&[("file", Some(""), b"")]);
    let reply = read(
        app.client
            .post(app.url("/api/v1/files"))
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
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert!(reply.body.contains("Choose a file"), "{reply:?}");
    let listing = read(
        app.client
            .get(app.url("/api/v1/files"))
            .send()
            .await
            .expect("lists"),
    )
    .await;
    assert_eq!(listing.json()["items"], Value::Array(vec![]));
}

/// An upload that keeps moving, but slower than the minimum rate, is answered 408 with a sentence once
/// the first window is over, long before the idle timeout or the upload budget would end it.
#[tokio::test]
async fn an_upload_below_the_minimum_rate_is_answered_408() {
    let (app, files) = spawn_files_app(&[
        "--upload-min-bytes-per-second",
        "4096",
        "--upload-rate-window",
        "1s",
    ])
    .await;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\r\n"
    );
    let stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let request = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        app.address,
        head.len() + 1024 * 1024
    );
    writer
        .write_all(request.as_bytes())
        .await
        .expect("head sent");
    // 100 bytes every 100 ms: about 1 KiB/s, never idle long enough for the 10 s idle timeout, which the
    // answer comes before (its sentence is another).
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(&[b'x'; 100]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("too slowly"),
        "a sentence says why: {answer}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left: Vec<_> = std::fs::read_dir(files.path())
        .map(|entries| entries.flatten().filter(|e| e.path().is_file()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}
