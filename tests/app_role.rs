//! The application's own PostgreSQL role, end to end with the real binary: `stratus migrate` as the owner
//! (given `CREATEROLE CREATEDB` and no superuser, like RDS's master user) sets the role up; `stratus serve`
//! as that role with `STRATUS_MIGRATE_ON_START=false` serves the board, the blog and users, while
//! PostgreSQL refuses the role any DDL; `serve` refuses a database that lacks migrations; a second migrate
//! with a new password rotates it.
//!
//! Needs the PostgreSQL and moto servers of `scripts/test-services.sh`; fails, never skips, without them.

#[path = "contract/support.rs"]
mod support;

use std::{
    process::{Output, Stdio},
    time::{Duration, Instant},
};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version, password_hash::SaltString};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sqlx::{Connection as _, Executor as _, PgConnection};
use support::{PgDatabase, service_env, unique};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_stratus");
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const API_TOKEN: &str = "app-role-test-token";

/// The owner of a throwaway database, with the rights RDS gives its master user (and no more), and the
/// name of the application role the test has migrate create.
struct Fixture {
    db: PgDatabase,
    app_role: String,
    files: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let db = PgDatabase::create().await;
        admin_execute(&format!("ALTER ROLE \"{}\" CREATEROLE CREATEDB", db.name)).await;
        Self {
            app_role: format!("{}_app", db.name),
            db,
            files: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The owner's URL, password included.
    fn owner_url(&self) -> String {
        self.db.url("")
    }

    /// A URL for the application role, password included.
    fn app_url(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.db.url("")).expect("a URL");
        url.set_username(&self.app_role).expect("a user name");
        url.set_password(Some(password)).expect("a password");
        url.to_string()
    }

    /// What every run of the binary needs: the test servers, no ambient configuration.
    fn command(&self, subcommand: &str, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg(subcommand)
            .env_clear()
            .env("STRATUS_LISTEN", "127.0.0.1:0")
            .env("STRATUS_INSTANCE_METADATA", "hostname")
            .env("STRATUS_LOG_FLUSH", "0")
            .env(
                "STRATUS_FILES_URL",
                format!("file://{}", self.files.path().display()),
            )
            .env("AWS_ENDPOINT_URL", service_env("AWS_ENDPOINT_URL"))
            .env("AWS_REGION", service_env("AWS_REGION"))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `stratus migrate` as the owner with `env` added, and returns what it printed.
    async fn migrate(&self, env: &[(&str, &str)]) -> Output {
        let owner = self.owner_url();
        let mut all = vec![("DATABASE_URL", owner.as_str())];
        all.extend_from_slice(env);
        run_to_end(self.command("migrate", &all)).await
    }

    /// Drops the database, the owner and the application role.
    async fn drop_now(self) {
        let owner = self.db.name.clone();
        self.db.drop_now().await;
        for role in [&self.app_role, &owner] {
            admin_execute_ignoring_errors(&format!("DROP ROLE IF EXISTS \"{role}\"")).await;
        }
    }
}

/// A `stratus serve` process that is listening.
struct Serving {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Serving {
    /// Starts `serve` and waits for its "listening" line; panics with its output if it exits instead.
    async fn start(fixture: &Fixture, env: &[(&str, &str)]) -> Self {
        let mut child = fixture
            .command("serve", env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .expect("listening within 30 s")
                .expect("stdout reads")
                .unwrap_or_else(|| panic!("serve exited before listening"));
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if entry["message"] == "listening" {
                break entry["address"].as_str().expect("address").to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base: format!("http://{address}"),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()
                .expect("client builds"),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        (response.status(), response.text().await.unwrap_or_default())
    }

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(API_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// A form post with the CSRF token of the board page; returns the status and `Location`.
    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let (_, page) = self.get("/").await;
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).expect("the board has a CSRF token") + marker.len();
        let token = page[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(&fields)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status(), location)
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

fn admin_url() -> String {
    service_env("STRATUS_TEST_POSTGRES_URL")
}

/// The admin URL pointed at the fixture's database.
fn admin_url_in(db: &PgDatabase) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("admin URL");
    url.set_path(&db.name);
    url.to_string()
}

async fn admin_execute_in(url: &str, sql: &str) {
    let mut admin = PgConnection::connect(url).await.expect("admin connects");
    admin
        .execute(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    let _ = admin.close().await;
}

async fn admin_execute(sql: &str) {
    admin_execute_in(&admin_url(), sql).await;
}

async fn admin_execute_ignoring_errors(sql: &str) {
    if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
        let _ = admin.execute(sql).await;
        let _ = admin.close().await;
    }
}

fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("valid argon2 parameters");
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .expect("hashes")
        .to_string()
}

/// Runs a command that must exit by itself (a refused start-up) and returns what it printed.
async fn run_to_end(mut command: Command) -> Output {
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the command exits within 30 s")
        .expect("the command runs")
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The SQLSTATE PostgreSQL answers `sql` with, run as `url`'s user; `None` when it succeeds.
async fn sqlstate_of(url: &str, sql: &str) -> Option<String> {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|err| panic!("the role connects: {err}"));
    let code = match conn.execute(sql).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        Err(err) => panic!("{sql}: {err}"),
    };
    let _ = conn.close().await;
    code
}

/// Whether PostgreSQL accepts the login (`28P01`: wrong password).
async fn logs_in(url: &str) -> bool {
    match PgConnection::connect(url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("28P01") => false,
        Err(err) => panic!("connecting failed otherwise than by a wrong password: {err}"),
    }
}

/// The highest migration version the binary embeds (the newest file in `migrations/postgres`).
fn newest_migration() -> i64 {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the migrations directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .expect("at least one migration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_sets_up_an_app_role_that_serves_everything_and_may_change_no_schema() {
    let fixture = Fixture::new().await;
    // Quote, backslash and a non-ASCII letter: the verifier must be computed from exactly these bytes.
    let app_password = format!("O'Brien\\pässword-{}", unique());
    let config = stratus::storage::aws::sdk_config(&support::aws_settings()).await;
    let arn = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("stratus-test-app-{}", unique()))
        .secret_string(
            json!({ "username": fixture.app_role, "password": app_password }).to_string(),
        )
        .send()
        .await
        .expect("moto stores the secret")
        .arn()
        .expect("an ARN")
        .to_owned();

    // The deploy step: migrate as the owner, the app role from its secret.
    let migrated = fixture
        .migrate(&[("STRATUS_APP_DATABASE_SECRET_ARN", &arn)])
        .await;
    let output = printed(&migrated);
    assert!(migrated.status.success(), "{output}");
    assert!(
        output.contains("the application's database role is set up"),
        "{output}"
    );
    assert!(
        !output.contains("pässword"),
        "the password was printed: {output}"
    );

    // The service: the app role, its credentials from the same secret, no migrations at start-up.
    let app_url = format!(
        "postgres://{}@{}/{}",
        fixture.app_role, fixture.db.host_port, fixture.db.name
    );
    let hash = cheap_hash(ADMIN_PASSWORD);
    let token_sha = hex::encode(Sha256::digest(API_TOKEN.as_bytes()));
    let app = Serving::start(
        &fixture,
        &[
            ("DATABASE_URL", &app_url),
            ("DATABASE_SECRET_ARN", &arn),
            ("STRATUS_MIGRATE_ON_START", "false"),
            ("STRATUS_ADMIN_PASSWORD_HASH", &hash),
            ("STRATUS_API_TOKEN_SHA256", &token_sha),
        ],
    )
    .await;
    assert_eq!(app.get("/health").await.0, StatusCode::OK);

    // Board: write, read.
    let (status, body) = app
        .post_json(
            "/api/v1/submissions",
            &json!({ "username": "app role", "number": "00012345" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.get("/api/v1/submissions/latest").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("00012345"), "{body}");
    let (_, visits) = app.get("/api/v1/visits").await;
    assert!(visits.contains("\"count\""), "{visits}");

    // Blog: the admin signs in (a session row, the sign-in throttle), writes and publishes a post.
    let (status, _) = app
        .post_form(
            "/admin/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, location) = app
        .post_form(
            "/admin/posts",
            &[
                ("title", "Least privilege"),
                ("slug", "least-privilege"),
                ("body", "Written by a role that cannot *drop* tables."),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let id = location
        .strip_prefix("/admin/posts/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected location {location}"))
        .to_owned();
    let (_, edit) = app.get(&format!("/admin/posts/{id}/edit")).await;
    let marker = "name=\"version\" value=\"";
    let start = edit.find(marker).expect("a version field") + marker.len();
    let version = edit[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = app
        .post_form(
            &format!("/admin/posts/{id}/publish"),
            &[("version", &version)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = app.get("/blog/least-privilege").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<em>drop</em>"), "{page}");

    // Users: create, list.
    let (status, body) = app
        .post_json(
            "/api/v1/users",
            &json!({ "name": "Ada Lovelace", "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.get("/api/v1/users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("ada@example.com"), "{body}");

    // Every connection of the service is the app role's.
    let owner_sessions = fixture
        .db
        .admin_query_i64(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'stratus' \
             AND datname = '{}' AND usename <> '{}'",
            fixture.db.name, fixture.app_role
        ))
        .await;
    assert_eq!(owner_sessions, 0);
    app.stop().await;

    // PostgreSQL refuses the role every change to the schema: 42501 insufficient_privilege.
    let direct = fixture.app_url(&app_password);
    for ddl in [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE submission",
        "ALTER TABLE submission ADD COLUMN intruder int",
        "TRUNCATE submission",
        "CREATE INDEX intruder ON submission (number)",
        "CREATE SCHEMA intruder",
        "CREATE ROLE intruder",
        "DELETE FROM _sqlx_migrations",
    ] {
        assert_eq!(
            sqlstate_of(&direct, ddl).await.as_deref(),
            Some("42501"),
            "{ddl} must be refused"
        );
    }
    assert_eq!(
        sqlstate_of(&direct, "SELECT count(*) FROM _sqlx_migrations").await,
        None
    );
    fixture.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_migrate_on_start_refuses_a_database_that_lacks_migrations() {
    let fixture = Fixture::new().await;
    let owner = fixture.owner_url();
    let env = [
        ("DATABASE_URL", owner.as_str()),
        ("STRATUS_MIGRATE_ON_START", "false"),
    ];
    let newest = newest_migration();

    let refused = run_to_end(fixture.command("serve", &env)).await;
    let output = printed(&refused);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains(&format!(
            "the database has no migrations applied (no `_sqlx_migrations` table visible to this role) but this binary needs migration {newest}: run `stratus migrate` first"
        )),
        "{output}"
    );
    // Nothing was created: the check changed nothing.
    assert_eq!(
        fixture
            .db
            .admin_query_i64("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            .await,
        0
    );

    // One migration short.
    let migrated = fixture.migrate(&[]).await;
    assert!(migrated.status.success(), "{}", printed(&migrated));
    admin_execute_in(
        &admin_url_in(&fixture.db),
        &format!("DELETE FROM _sqlx_migrations WHERE version = {newest}"),
    )
    .await;
    let refused = run_to_end(fixture.command("serve", &env)).await;
    let output = printed(&refused);
    assert!(!refused.status.success(), "{output}");
    let at = fixture
        .db
        .admin_query_i64("SELECT max(version) FROM _sqlx_migrations")
        .await;
    assert!(
        output.contains(&format!(
            "the database is at migration {at} but this binary needs {newest} (missing: {newest}): run `stratus migrate` first"
        )),
        "{output}"
    );
    fixture.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_migrate_keeps_the_role_and_rotates_its_password() {
    let fixture = Fixture::new().await;
    // As before PostgreSQL 15: every role may create in `public`. Migrate must take that away.
    admin_execute_in(
        &admin_url_in(&fixture.db),
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
    )
    .await;
    let first = format!("first-{}", unique());
    let second = format!("second-{}", unique());
    let with = |password: &str| {
        [
            ("STRATUS_APP_DATABASE_USER", fixture.app_role.clone()),
            ("STRATUS_APP_DATABASE_PASSWORD", password.to_owned()),
        ]
    };
    for _ in 0..2 {
        let env = with(&first);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let migrated = fixture.migrate(&env).await;
        assert!(migrated.status.success(), "{}", printed(&migrated));
    }
    assert!(logs_in(&fixture.app_url(&first)).await);
    assert_eq!(
        sqlstate_of(&fixture.app_url(&first), "CREATE TABLE intruder (id int)")
            .await
            .as_deref(),
        Some("42501"),
        "CREATE on public was not taken from PUBLIC"
    );

    let env = with(&second);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rotated = fixture.migrate(&env).await;
    assert!(rotated.status.success(), "{}", printed(&rotated));
    assert!(
        !logs_in(&fixture.app_url(&first)).await,
        "the old password still works"
    );
    assert!(logs_in(&fixture.app_url(&second)).await);
    assert_eq!(
        sqlstate_of(&fixture.app_url(&second), "SELECT count(*) FROM submission").await,
        None
    );

    // The owner's own name is never made the app role (it would take the owner's password).
    let owner_as_app = [
        ("STRATUS_APP_DATABASE_USER", fixture.db.name.as_str()),
        ("STRATUS_APP_DATABASE_PASSWORD", second.as_str()),
    ];
    let refused = fixture.migrate(&owner_as_app).await;
    let output = printed(&refused);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains("is the user `stratus migrate` connects as"),
        "{output}"
    );
    assert!(
        logs_in(&fixture.db.url("")).await,
        "the owner's password changed"
    );
    fixture.drop_now().await;
}
