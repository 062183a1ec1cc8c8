//! Files on the production backends, over HTTP: S3 and DynamoDB (moto) for the bytes and the metadata,
//! PostgreSQL for users and metadata. Needs the servers `scripts/test-services.sh` starts; never skips.

#[path = "contract/support.rs"]
mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stratus::startup::Application;
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
