//! Set-up shared by the store contract suite and the HTTP backend tests: settings through the real command
//! line, and one throwaway PostgreSQL database (with its own role) or DynamoDB table per test.
//!
//! The servers come from `scripts/test-services.sh` (run by `scripts/test.sh`). Without them these tests
//! fail, saying so: they never skip.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use clap::Parser as _;
use sqlx::{Connection as _, Executor as _, PgConnection};
use stratus::config::{AwsSettings, Cli, Settings};

/// An environment variable `scripts/test-services.sh start` exports.
pub fn service_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: these tests need the PostgreSQL and moto servers that `scripts/test.sh` starts \
             (or run `eval \"$(scripts/test-services.sh start)\"` in this shell first)"
        ),
    }
}

/// Settings exactly as the binary would build them from these flags (and the test environment).
pub fn settings(args: &[&str]) -> Settings {
    let mut argv = vec![
        "stratus",
        "--listen",
        "127.0.0.1:0",
        "--instance-metadata",
        "hostname",
        "--drain-seconds",
        "0",
        "--shutdown-timeout",
        "5",
    ];
    argv.extend_from_slice(args);
    // A board in DynamoDB still needs the relational database: a throwaway SQLite file, never ./data.
    let scratch = std::env::temp_dir().join(format!("stratus-test-{}.db", unique()));
    let scratch = format!("sqlite://{}", scratch.display());
    if !args.contains(&"--database-url") {
        argv.extend(["--database-url", scratch.as_str()]);
    }
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|err| panic!("test flags: {err}"));
    cli.settings
        .parse_settings()
        .unwrap_or_else(|err| panic!("test settings: {err}"))
}

/// A short unique suffix for names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// A throwaway database owned by a throwaway role with a random password, on the test server.
#[derive(Debug)]
pub struct PgDatabase {
    /// Database (and role) name.
    pub name: String,
    /// The role's password.
    pub password: String,
    /// `127.0.0.1:PORT`.
    pub host_port: String,
    admin_url: String,
}

impl PgDatabase {
    /// Creates the role and the database.
    pub async fn create() -> Self {
        let admin_url = service_env("STRATUS_TEST_POSTGRES_URL");
        let parsed = url::Url::parse(&admin_url).expect("STRATUS_TEST_POSTGRES_URL is a URL");
        let host_port = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432)
        );
        let name = format!("stratus_test_{}", unique());
        let password = unique();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("the test PostgreSQL server accepts the admin URL");
        // One statement each: CREATE DATABASE refuses the implicit transaction of a multi-statement query.
        for sql in [
            format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""),
        ] {
            admin
                .execute(sql.as_str())
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
        }
        let _ = admin.close().await;
        Self {
            name,
            password,
            host_port,
            admin_url,
        }
    }

    /// A URL for the role, without password, with extra query parameters (`sslmode=require`).
    pub fn url_without_password(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://{}@{}/{}{query}",
            self.name, self.host_port, self.name
        )
    }

    /// A URL for the role, password included.
    pub fn url(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://{}:{}@{}/{}{query}",
            self.name, self.password, self.host_port, self.name
        )
    }

    /// Same, with `localhost` instead of the IP (the test certificate names both).
    pub fn localhost_url(&self, query: &str) -> String {
        self.url(query).replace("@127.0.0.1:", "@localhost:")
    }

    /// Runs SQL as the admin in this database.
    pub async fn admin_query_i64(&self, sql: &str) -> i64 {
        let url = url::Url::parse(&self.admin_url)
            .map(|mut u| {
                u.set_path(&self.name);
                u.to_string()
            })
            .expect("admin URL");
        let mut conn = PgConnection::connect(&url).await.expect("admin connects");
        let value: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        let _ = conn.close().await;
        value
    }

    /// Drops the database (closing its connections) and the role.
    pub async fn drop_now(self) {
        let Ok(mut admin) = PgConnection::connect(&self.admin_url).await else {
            return;
        };
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            format!("DROP ROLE IF EXISTS \"{}\"", self.name),
        ] {
            let _ = admin.execute(sql.as_str()).await;
        }
        let _ = admin.close().await;
    }
}

/// AWS settings for clients the tests use directly (to seed moto, to delete tables).
pub fn aws_settings() -> AwsSettings {
    AwsSettings {
        region: Some(service_env("AWS_REGION")),
        endpoint_url: Some(service_env("AWS_ENDPOINT_URL")),
        // moto answers one request at a time: under a parallel test run, give it time.
        connect_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(30),
    }
}

/// A DynamoDB table name no other test uses; the store creates it (`STRATUS_CREATE_TABLES=true`).
#[derive(Debug)]
pub struct DynamoTable {
    /// Table name.
    pub name: String,
}

impl DynamoTable {
    /// A fresh name (nothing is created yet).
    pub fn new() -> Self {
        service_env("AWS_ENDPOINT_URL");
        Self {
            name: format!("stratus-test-{}", unique()),
        }
    }

    /// A client of the test DynamoDB.
    pub async fn client() -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&stratus::storage::aws::sdk_config(&aws_settings()).await)
    }

    /// Deletes the table, if it exists.
    pub async fn delete_now(self) {
        let _ = Self::client()
            .await
            .delete_table()
            .table_name(&self.name)
            .send()
            .await;
    }
}
