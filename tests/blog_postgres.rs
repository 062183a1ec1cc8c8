//! The blog and the admin account on PostgreSQL, over HTTP: the same behaviour as on SQLite (which
//! `tests/api/{blog,admin}.rs` cover), checked where the SQL differs: post storage round trip, stale-edit
//! refusal, unique addresses, sessions (`BYTEA` keys, `TIMESTAMPTZ` expiry) and the shared sign-in
//! throttle (`INSERT ... ON CONFLICT`, also under concurrent failures).
//!
//! Needs the PostgreSQL server of `scripts/test-services.sh` (`STRATUS_TEST_POSTGRES_URL`); fails, never
//! skips, without it.

#[path = "contract/support.rs"]
mod support;

use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version, password_hash::SaltString};
use reqwest::StatusCode;
use stratus::app::startup::Application;
use support::{PgDatabase, settings};
use tokio::{sync::oneshot, task::JoinHandle};

const PASSWORD: &str = "correct horse battery staple";

fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("valid argon2 parameters");
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hashes")
        .to_string()
}

struct App {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    location: String,
    body: String,
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Reply {
        status,
        location,
        body: response.text().await.expect("body reads"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client builds")
}

impl App {
    async fn spawn(db: &PgDatabase, extra: &[&str]) -> Self {
        let url = db.url("");
        let hash = cheap_hash(PASSWORD);
        let mut args = vec![
            "--database-url",
            url.as_str(),
            "--admin-password-hash",
            &hash,
        ];
        args.extend_from_slice(extra);
        let app = Application::build(settings(&args))
            .await
            .unwrap_or_else(|err| panic!("the application builds: {err:#}"));
        let base = format!("http://{}", app.address());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: client(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        read(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap_or_else(|err| panic!("GET {path}: {err}")),
        )
        .await
    }

    async fn csrf(&self) -> String {
        let page = self.get("/").await;
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.body.find(marker).expect("the board has a CSRF token") + marker.len();
        page.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.csrf().await;
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        read(
            self.client
                .post(format!("{}{path}", self.base))
                .form(&fields)
                .send()
                .await
                .unwrap_or_else(|err| panic!("POST {path}: {err}")),
        )
        .await
    }

    async fn sign_in(&self, password: &str) -> Reply {
        self.post(
            "/admin/login",
            &[
                ("username", "admin"),
                ("password", password),
                ("next", "/admin"),
            ],
        )
        .await
    }

    async fn create(&self, title: &str, slug: &str, body: &str) -> Reply {
        self.post(
            "/admin/posts",
            &[
                ("title", title),
                ("slug", slug),
                ("body", body),
                ("action", "save"),
            ],
        )
        .await
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

fn id_of(location: &str) -> String {
    location
        .strip_prefix("/admin/posts/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected location {location}"))
        .to_owned()
}

fn version_in(page: &str) -> String {
    let marker = "name=\"version\" value=\"";
    let start = page.find(marker).expect("a version field") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_round_trip_refuse_stale_edits_and_keep_addresses_unique_on_postgres() {
    let db = PgDatabase::create().await;
    let app = App::spawn(&db, &[]).await;
    assert_eq!(app.sign_in(PASSWORD).await.status, StatusCode::SEE_OTHER);

    // Round trip: what was written is what is read, Unicode and Markdown intact.
    let created = app
        .create("Ünïcode & <tags>", "", "# Über\n\nText with *emphasis*.")
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id = id_of(&created.location);
    let edit = app.get(&format!("/admin/posts/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains("value=\"unicode-tags\""),
        "{}",
        edit.body
    );
    assert!(edit.body.contains("# Über\n\nText with *emphasis*."));
    let version = version_in(&edit.body);
    assert_eq!(version, "1");
    let published = app
        .post(
            &format!("/admin/posts/{id}/publish"),
            &[("version", &version)],
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let page = app.get("/blog/unicode-tags").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h2>Über</h2>") && page.body.contains("<em>emphasis</em>"));
    assert!(
        app.get("/blog/feed.xml")
            .await
            .body
            .contains("/blog/unicode-tags")
    );
    assert!(
        app.get("/sitemap.xml")
            .await
            .body
            .contains("/blog/unicode-tags")
    );

    // Stale edit: the second save from version 2 is refused, the first one stays.
    let save = |body: &'static str, version: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post(
                &format!("/admin/posts/{id}"),
                &[
                    ("title", "Ünïcode & <tags>"),
                    ("slug", ""),
                    ("body", body),
                    ("version", version),
                    ("action", "save"),
                ],
            )
            .await
        }
    };
    assert_eq!(
        save("First saver.", "2").await.status,
        StatusCode::SEE_OTHER
    );
    let stale = save("Second saver.", "2").await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(
        stale.body.contains("Second saver."),
        "the author's text is kept"
    );
    let stored = app.get(&format!("/admin/posts/{id}/edit")).await;
    assert!(stored.body.contains("First saver.") && !stored.body.contains("Second saver."));
    assert_eq!(version_in(&stored.body), "3");

    // Unique addresses: a generated one gets a suffix, a typed one a 409.
    let twin = app.create("Ünïcode & <tags>", "", "twin").await;
    assert_eq!(twin.status, StatusCode::SEE_OTHER);
    let twin_edit = app
        .get(&format!("/admin/posts/{}/edit", id_of(&twin.location)))
        .await;
    assert!(twin_edit.body.contains("value=\"unicode-tags-2\""));
    let clash = app.create("Other", "unicode-tags", "clash").await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert!(
        clash
            .body
            .contains("Another post already uses the address /blog/unicode-tags")
    );
    assert_eq!(
        db.admin_query_i64("SELECT count(*) FROM post").await,
        2,
        "nothing stored for the clash"
    );

    // Delete with the current version.
    let deleted = app
        .post(&format!("/admin/posts/{id}/delete"), &[("version", "3")])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/blog/unicode-tags").await.status,
        StatusCode::NOT_FOUND
    );

    app.stop().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_the_sign_in_throttle_work_on_postgres() {
    let db = PgDatabase::create().await;
    let app = App::spawn(&db, &["--session-ttl", "1s"]).await;

    // Sessions: stored as a digest, refused once expired.
    let signed_in = app.sign_in(PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(app.get("/admin").await.status, StatusCode::OK);
    assert_eq!(
        db.admin_query_i64(
            "SELECT count(*) FROM admin_session WHERE octet_length(session_token_sha256) = 32"
        )
        .await,
        1
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.get("/admin").await.status, StatusCode::SEE_OTHER);

    // The throttle counts concurrent failures exactly: 5 at once from one client lock it out.
    let other = App {
        base: app.base.clone(),
        client: client(),
        stop: None,
        task: None,
    };
    let token = other.csrf().await;
    let attempts = (0..5).map(|_| {
        let request = other
            .client
            .post(format!("{}/admin/login", other.base))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", "admin"),
                ("password", "guess"),
            ])
            .send();
        async move { request.await.map(|r| r.status()) }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(statuses.iter().all(|s| s.is_ok()), "{statuses:?}");
    let locked = other.sign_in(PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert_eq!(
        db.admin_query_i64("SELECT max(failure_count) FROM login_throttle")
            .await,
        5
    );

    app.stop().await;
    db.drop_now().await;
}
