//! Configuration: the only place that reads flags and the environment.
//!
//! Every flag has an environment variable of the same meaning (`--listen` / `STRATUS_LISTEN`), parsed into
//! typed settings before anything binds a port, so a bad value stops start-up with one readable line.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    num::NonZeroU64,
    path::PathBuf,
    time::Duration,
};

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::{ExposeSecret as _, SecretString};

use crate::storage::RoleName;

/// `stratus`: the submission board, visit counter and more, as one service.
#[derive(Debug, Parser)]
#[command(name = "stratus", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP until SIGTERM or Ctrl-C (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Exit 0 when URL answers 200 within the timeout: a container HEALTHCHECK that needs no curl.
    Healthcheck {
        /// What to check; defaults to `/health/live` on the `--listen` port of this host.
        #[arg(env = "STRATUS_HEALTHCHECK_URL")]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, env = "STRATUS_HEALTHCHECK_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Facts about this build's configuration, for tooling (the Terraform checks use them).
    Config {
        /// Print every environment variable this binary reads, one per line.
        #[arg(long)]
        list_env: bool,
        /// Print the DynamoDB tables this binary expects, as JSON.
        #[arg(long)]
        dynamodb_schemas: bool,
    },
    /// Read a password from stdin (asked twice, without echo, on a terminal) and print its argon2id hash
    /// for STRATUS_ADMIN_PASSWORD_HASH.
    HashPassword,
    /// Uploaded files: maintenance.
    Files {
        /// What to do.
        #[command(subcommand)]
        command: FilesCommand,
    },
}

/// `stratus files ...`.
#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Remove objects without metadata (orphans of failed uploads) older than `--older-than`, and report
    /// metadata whose object is missing.
    Sweep {
        /// Only objects at least this old are orphans (younger ones may be uploads in progress).
        #[arg(long, env = "STRATUS_SWEEP_OLDER_THAN", default_value = "1h", value_parser = parse_duration)]
        older_than: Duration,
        /// List what would be removed, remove nothing.
        #[arg(long, env = "STRATUS_SWEEP_DRY_RUN")]
        dry_run: bool,
    },
}

/// Flags and environment variables, as given.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(
        long,
        env = "STRATUS_LISTEN",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub listen: SocketAddr,

    /// The database: `sqlite://PATH` (embedded, the default) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=..]` hold everything (board, users, blog, sessions,
    /// file metadata); `dynamodb://TABLE` keeps the board in DynamoDB (seed 000) and the rest in the embedded
    /// SQLite default (use `STRATUS_BOARD_URL` with a `postgres://` `DATABASE_URL` for both on servers).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Connections per pool (SQLite: read connections beside the single writer; PostgreSQL: the most
    /// connections this instance opens, so instances x pool size must stay under the server's limit).
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub database_pool_size: u32,

    /// PostgreSQL password (ECS injects it from Secrets Manager). At most one password source may be set.
    #[arg(long, env = "DATABASE_PASSWORD", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub database_password: Option<SecretString>,

    /// A file holding the PostgreSQL password (surrounding whitespace is ignored).
    #[arg(long, env = "DATABASE_PASSWORD_FILE", global = true)]
    pub database_password_file: Option<PathBuf>,

    /// An SSM SecureString parameter holding the PostgreSQL password, read at start-up.
    #[arg(long, env = "DATABASE_PASSWORD_SSM_PARAMETER", global = true)]
    pub database_password_ssm_parameter: Option<String>,

    /// A Secrets Manager secret with the JSON `{"username": .., "password": ..}` (what RDS's managed master
    /// password writes), read at start-up; its username replaces the URL's.
    #[arg(long, env = "DATABASE_SECRET_ARN", global = true)]
    pub database_secret_arn: Option<String>,

    /// `serve`: apply the embedded migrations at start-up (`true`), or only check that the database has
    /// exactly this binary's migrations and refuse to start when it has not (`false`: the schema is changed
    /// by a `stratus migrate` step, and the service may connect as a role without DDL rights).
    #[arg(long, env = "STRATUS_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub migrate_on_start: bool,

    /// `stratus migrate` on PostgreSQL: a Secrets Manager secret with the JSON `{"username": .., "password": ..}`
    /// of the application's own role, which migrate then creates (or sets the password of) and grants row
    /// access (SELECT, INSERT, UPDATE, DELETE) to the schema's tables, and no DDL. `serve` ignores it.
    #[arg(long, env = "STRATUS_APP_DATABASE_SECRET_ARN", global = true)]
    pub app_database_secret_arn: Option<String>,

    /// The application role's name, for `STRATUS_APP_DATABASE_PASSWORD`, or when the secret has no `username`.
    #[arg(long, env = "STRATUS_APP_DATABASE_USER", global = true)]
    pub app_database_user: Option<String>,

    /// The application role's password, given directly (local set-ups and tests; production uses
    /// `STRATUS_APP_DATABASE_SECRET_ARN`).
    #[arg(long, env = "STRATUS_APP_DATABASE_PASSWORD", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub app_database_password: Option<SecretString>,

    /// The longest a new database connection (TCP, TLS, authentication) may take; DynamoDB: the TCP/TLS connect.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub database_connect_timeout: Duration,

    /// The longest one database statement may run (PostgreSQL `statement_timeout`); DynamoDB: one call,
    /// retries included.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub database_statement_timeout: Duration,

    /// CA bundle that verifies the PostgreSQL server (the RDS bundle) for `sslmode=verify-ca`/`verify-full`.
    #[arg(long, env = "PGSSLROOTCERT", global = true)]
    pub pg_ssl_root_cert: Option<PathBuf>,

    /// Create missing DynamoDB tables at start-up (local development and tests; production tables come
    /// from Terraform).
    #[arg(long, env = "STRATUS_CREATE_TABLES", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub create_tables: bool,

    /// AWS region for DynamoDB, SSM and Secrets Manager (else the SDK's default chain decides).
    #[arg(long, env = "AWS_REGION", global = true)]
    pub aws_region: Option<String>,

    /// Send AWS calls here instead of the real endpoints (a local DynamoDB or moto).
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    pub aws_endpoint_url: Option<String>,

    /// Log line format: `json` (one object per line, for machines) or `pretty` (for people).
    #[arg(long, env = "STRATUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` directive syntax (e.g. `info,stratus=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log_filter: String,

    /// How long a log line may wait in memory before it is written, so that many go out in one write
    /// (`WARN` and `ERROR` lines go at once); `0` writes each line as it is made.
    #[arg(long, env = "STRATUS_LOG_FLUSH", default_value = "100ms", value_parser = parse_duration, global = true)]
    pub log_flush: Duration,

    /// After SIGTERM: how long to keep serving while `/health` says draining, so the load balancer notices.
    #[arg(long, env = "STRATUS_DRAIN_SECONDS", default_value = "5", value_parser = parse_duration, global = true)]
    pub drain_seconds: Duration,

    /// After SIGTERM: the most the whole shutdown may take, drain included (keep it under ECS's 30 s).
    #[arg(long, env = "STRATUS_SHUTDOWN_TIMEOUT", default_value = "25", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// The longest a request may take before it is answered 503.
    #[arg(long, env = "STRATUS_REQUEST_TIMEOUT", default_value = "10", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// The longest an upload (`POST /files`, `POST /api/v1/files`) may take; its body must also keep moving:
    /// a pause longer than `STRATUS_REQUEST_TIMEOUT` is answered 408.
    #[arg(long, env = "STRATUS_UPLOAD_TIMEOUT", default_value = "15m", value_parser = parse_duration, global = true)]
    pub upload_timeout: Duration,

    /// Requests handled at once; more are shed at once with 503 and `Retry-After` instead of queueing.
    /// Uploads have their own pool (`STRATUS_MAX_CONCURRENT_UPLOADS`) and take none of these.
    #[arg(long, env = "STRATUS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_concurrent_requests: u32,

    /// Uploads received at once; more are refused at once with 503 and `Retry-After`. A pool of their
    /// own, so slow or stalled uploads never take the slots pages and the API are served from.
    #[arg(long, env = "STRATUS_MAX_CONCURRENT_UPLOADS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_concurrent_uploads: u32,

    /// The slowest an upload may arrive, in bytes per second, averaged over each
    /// `STRATUS_UPLOAD_RATE_WINDOW` of waiting for the client; slower is answered 408. `0` turns the check
    /// off (the idle timeout and `STRATUS_UPLOAD_TIMEOUT` still apply).
    #[arg(
        long,
        env = "STRATUS_UPLOAD_MIN_BYTES_PER_SECOND",
        default_value_t = 1024,
        global = true
    )]
    pub upload_min_bytes_per_second: u64,

    /// The window `STRATUS_UPLOAD_MIN_BYTES_PER_SECOND` is averaged over; the first one is the grace
    /// period every upload gets before it is judged.
    #[arg(long, env = "STRATUS_UPLOAD_RATE_WINDOW", default_value = "30s", value_parser = parse_duration, global = true)]
    pub upload_rate_window: Duration,

    /// How long an idle keep-alive connection stays open; keep it above the load balancer's (ALB: 60 s).
    #[arg(long, env = "STRATUS_KEEP_ALIVE_TIMEOUT", default_value = "75", value_parser = parse_duration, global = true)]
    pub keep_alive_timeout: Duration,

    /// Comma-separated CIDRs of proxies whose `X-Forwarded-For`/`-Proto` headers are believed.
    #[arg(
        long,
        env = "STRATUS_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// The public address people reach the service at (`https://blog.example`, the CloudFront domain):
    /// the only host written into absolute links (feed, sitemap). Unset: the request's own host is used
    /// and those answers are not cached by shared caches.
    #[arg(long, env = "STRATUS_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,

    /// Make files public on purpose: anyone may list and download them, even with an admin configured.
    #[arg(long, env = "STRATUS_FILES_PUBLIC", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub files_public: bool,

    /// Keep the board (submissions and the visit counter) in DynamoDB, as seed 000 does: `dynamodb://TABLE`.
    /// Unset: the board lives in `DATABASE_URL`'s database.
    #[arg(long, env = "STRATUS_BOARD_URL", global = true)]
    pub board_url: Option<String>,

    /// Where uploaded files are kept: `file://PATH` (a local directory, the default) or `s3://BUCKET/PREFIX`
    /// (the AWS credential chain; `AWS_ENDPOINT_URL` for an S3-compatible server).
    #[arg(
        long,
        env = "STRATUS_FILES_URL",
        default_value = "file://./data/files",
        global = true
    )]
    pub files_url: String,

    /// Keep file metadata in DynamoDB, as seed 004 does: `dynamodb://TABLE`. Unset: in `DATABASE_URL`'s database.
    #[arg(long, env = "STRATUS_FILE_METADATA_URL", global = true)]
    pub file_metadata_url: Option<String>,

    /// Server-side encryption of S3 objects: `AES256` (SSE-S3, the default) or `aws:kms` (SSE-KMS).
    #[arg(long, env = "STRATUS_S3_SSE", default_value = "AES256", value_parser = parse_sse_mode, global = true)]
    pub s3_sse: SseMode,

    /// The KMS key for `STRATUS_S3_SSE=aws:kms` (id, ARN or alias); unset: the bucket's default key.
    #[arg(long, env = "STRATUS_S3_SSE_KMS_KEY_ID", global = true)]
    pub s3_sse_kms_key_id: Option<String>,

    /// Where uploads to S3 gather each 5 MiB part on disk before sending it (unnamed temporary files, at
    /// most one part per upload in progress); unset: the system's temporary directory (`TMPDIR`, else
    /// `/tmp`).
    #[arg(long, env = "STRATUS_UPLOAD_SPOOL_DIR", global = true)]
    pub upload_spool_dir: Option<PathBuf>,

    /// The largest upload accepted, in bytes; larger ones are refused with 413.
    #[arg(long, env = "STRATUS_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_upload_bytes: u64,

    /// The admin account's user name.
    #[arg(
        long,
        env = "STRATUS_ADMIN_USERNAME",
        default_value = "admin",
        global = true
    )]
    pub admin_username: String,

    /// The admin password's argon2id hash (a PHC string from `stratus hash-password`). Unset (and no
    /// `_FILE`): no admin; nobody can sign in, and uploads and user creation are open.
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD_HASH", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub admin_password_hash: Option<SecretString>,

    /// A file holding the admin password's argon2id hash.
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD_HASH_FILE", global = true)]
    pub admin_password_hash_file: Option<PathBuf>,

    /// The hex SHA-256 of the API's bearer token (`Authorization: Bearer TOKEN` on writes when an admin
    /// is configured); the token itself is never configured.
    #[arg(
        long,
        env = "STRATUS_API_TOKEN_SHA256",
        hide_env_values = true,
        global = true
    )]
    pub api_token_sha256: Option<String>,

    /// How long an admin session lasts after sign-in.
    #[arg(long, env = "STRATUS_SESSION_TTL", default_value = "12h", value_parser = parse_duration, global = true)]
    pub session_ttl: Duration,

    /// Where the instance name comes from: `auto` (ECS task metadata when on ECS, IMDSv2 on EC2, else the
    /// hostname) or `hostname` (never ask a metadata service).
    #[arg(long, env = "STRATUS_INSTANCE_METADATA", value_enum, default_value_t = InstanceMetadata::Auto, global = true)]
    pub instance_metadata: InstanceMetadata,

    /// ECS task metadata endpoint v4 (ECS sets it).
    #[arg(
        long,
        env = "ECS_CONTAINER_METADATA_URI_V4",
        hide = true,
        global = true
    )]
    pub ecs_metadata_uri: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Where the instance identity is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstanceMetadata {
    /// ECS metadata if present, IMDSv2 when the machine says it is EC2, else the hostname.
    Auto,
    /// The hostname only.
    Hostname,
}

/// Settings, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The relational database.
    pub database: DatabaseUrl,
    /// The board in DynamoDB (`STRATUS_BOARD_URL`); `None`: in the relational database.
    pub board: Option<DynamoDbSettings>,
    /// Uploaded files and their metadata.
    pub files: FilesSettings,
    /// The admin account and API token.
    pub admin: AdminSettings,
    /// Logging.
    pub log: LogSettings,
    /// HTTP serving.
    pub http: HttpSettings,
    /// Shutdown timing.
    pub lifecycle: LifecycleSettings,
    /// Instance identity lookup.
    pub instance: InstanceSettings,
}

/// Time for a write that ran to its statement timeout to commit and be answered (see
/// [`Settings::write_grace`]).
const COMMIT_MARGIN: Duration = Duration::from_millis(500);

impl Settings {
    /// How much longer than the request timeout a request may take when its write is already under way
    /// (see `storage::with_deadline`): the database's statement timeout, plus [`COMMIT_MARGIN`] for the
    /// commit and the answer after the statement's last moment.
    pub fn write_grace(&self) -> Duration {
        COMMIT_MARGIN
            + match &self.database {
                DatabaseUrl::Postgres(settings) => settings.statement_timeout,
                DatabaseUrl::Sqlite(settings) => settings.statement_timeout,
            }
            .max(
                self.board
                    .as_ref()
                    .map_or(Duration::ZERO, |b| b.aws.call_timeout),
            )
    }
}

/// Uploaded files: where the bytes go, where their metadata goes.
#[derive(Debug, Clone)]
pub struct FilesSettings {
    /// `STRATUS_FILES_URL`.
    pub objects: ObjectStoreUrl,
    /// Server-side encryption for S3.
    pub sse: S3Sse,
    /// File metadata in DynamoDB (`STRATUS_FILE_METADATA_URL`); `None`: in the relational database.
    pub metadata: Option<DynamoDbSettings>,
    /// `STRATUS_MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
    /// `STRATUS_UPLOAD_SPOOL_DIR`, or the system's temporary directory.
    pub spool_dir: PathBuf,
    /// AWS client settings for S3.
    pub aws: AwsSettings,
}

/// Where uploaded files' bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreUrl {
    /// A local directory.
    File(PathBuf),
    /// An S3 bucket, keys under `prefix` (empty, or ending without `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

/// S3 server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Sse {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`), with the key, or the bucket's default key when `None`.
    Kms {
        /// `STRATUS_S3_SSE_KMS_KEY_ID`.
        key_id: Option<String>,
    },
}

/// `STRATUS_S3_SSE` as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseMode {
    /// `AES256`.
    Aes256,
    /// `aws:kms`.
    Kms,
}

fn parse_sse_mode(raw: &str) -> Result<SseMode, String> {
    match raw {
        "AES256" => Ok(SseMode::Aes256),
        "aws:kms" => Ok(SseMode::Kms),
        other => Err(format!("`{other}` is not AES256 or aws:kms")),
    }
}

/// The admin account. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `STRATUS_ADMIN_USERNAME`.
    pub username: String,
    /// The argon2id PHC string (checked to parse as one); `None`: no admin is configured.
    pub password_hash: Option<SecretString>,
    /// SHA-256 of the API bearer token.
    pub api_token_sha256: Option<[u8; 32]>,
    /// `STRATUS_SESSION_TTL`.
    pub session_ttl: Duration,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// Filter directives.
    pub filter: String,
    /// Longest wait of a buffered line; zero: unbuffered.
    pub flush_every: Duration,
}

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// An upload's deadline.
    pub upload_timeout: Duration,
    /// Concurrency limit before shedding.
    pub max_concurrent_requests: usize,
    /// Uploads at once before refusing more.
    pub max_concurrent_uploads: usize,
    /// The slowest an upload may arrive; `None`: no minimum.
    pub upload_min_rate: Option<MinTransferRate>,
    /// Idle keep-alive timeout.
    pub keep_alive_timeout: Duration,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `STRATUS_PUBLIC_URL` as an origin (`scheme://host[:port]`, lower case, no trailing slash).
    pub public_origin: Option<String>,
    /// `STRATUS_FILES_PUBLIC`.
    pub files_public: bool,
}

/// The slowest a request body may arrive: at least `bytes_per_second`, averaged over each `window` of
/// time spent waiting for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinTransferRate {
    /// `STRATUS_UPLOAD_MIN_BYTES_PER_SECOND`, never zero.
    pub bytes_per_second: NonZeroU64,
    /// `STRATUS_UPLOAD_RATE_WINDOW`, never zero.
    pub window: Duration,
}

impl MinTransferRate {
    /// The rule, or `None` for a rate of zero (no minimum). A zero window with a rate is refused.
    pub fn new(bytes_per_second: u64, window: Duration) -> Result<Option<Self>, ConfigError> {
        let Some(bytes_per_second) = NonZeroU64::new(bytes_per_second) else {
            return Ok(None);
        };
        if window.is_zero() {
            return Err(ConfigError::Inconsistent(
                "STRATUS_UPLOAD_RATE_WINDOW must be longer than zero while STRATUS_UPLOAD_MIN_BYTES_PER_SECOND is set.".into(),
            ));
        }
        Ok(Some(Self {
            bytes_per_second,
            window,
        }))
    }

    /// The bytes a window must bring.
    pub fn bytes_per_window(&self) -> u64 {
        (self.bytes_per_second.get() as f64 * self.window.as_secs_f64()).ceil() as u64
    }
}

/// Shutdown timing.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleSettings {
    /// Serve-while-draining period.
    pub drain: Duration,
    /// Upper bound of the whole shutdown.
    pub shutdown_timeout: Duration,
}

/// Instance identity lookup.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    /// Lookup mode.
    pub mode: InstanceMetadata,
    /// ECS metadata endpoint, when running on ECS.
    pub ecs_metadata_uri: Option<String>,
}

/// The relational database `DATABASE_URL` names.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`.
    Sqlite(SqliteSettings),
    /// `postgres://...`.
    Postgres(PostgresSettings),
}

/// PostgreSQL settings. `Debug` shows no password: the URL is kept without it.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// The URL with any password removed.
    pub url: String,
    /// Where the password comes from.
    pub password: PasswordSource,
    /// Pool size.
    pub pool_size: u32,
    /// Connect (and pool acquire) timeout.
    pub connect_timeout: Duration,
    /// Server-side statement timeout.
    pub statement_timeout: Duration,
    /// `PGSSLROOTCERT`.
    pub ssl_root_cert: Option<PathBuf>,
    /// For the SSM and Secrets Manager password sources.
    pub aws: AwsSettings,
    /// `STRATUS_MIGRATE_ON_START`: `serve` migrates (`true`) or only checks the migrations (`false`).
    pub migrate_on_start: bool,
    /// The application's own role, which `stratus migrate` sets up; `None`: none.
    pub app_role: Option<AppRoleSource>,
}

impl PostgresSettings {
    /// Connection options for the pool; the password is added by whoever resolved it.
    pub fn connect_options(&self) -> Result<sqlx::postgres::PgConnectOptions, ConfigError> {
        let mut options: sqlx::postgres::PgConnectOptions = self
            .url
            .parse()
            .map_err(|err| ConfigError::DatabaseUrl(format!("not a PostgreSQL URL: {err}")))?;
        if let Some(cert) = &self.ssl_root_cert {
            options = options.ssl_root_cert(cert);
        }
        let statement_ms = self.statement_timeout.as_millis().to_string();
        Ok(options
            .application_name("stratus")
            .options([("statement_timeout", statement_ms.as_str())]))
    }
}

/// Where the PostgreSQL password comes from. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// None configured (trust/peer auth, or libpq's `PGPASSWORD` / `~/.pgpass`, which sqlx reads itself).
    None,
    /// In `DATABASE_URL` or `DATABASE_PASSWORD`.
    Inline(SecretString),
    /// `DATABASE_PASSWORD_FILE`.
    File(PathBuf),
    /// `DATABASE_PASSWORD_SSM_PARAMETER`.
    SsmParameter(String),
    /// `DATABASE_SECRET_ARN`.
    SecretsManager(String),
}

/// Where `stratus migrate` finds the application role's name and password. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub enum AppRoleSource {
    /// `STRATUS_APP_DATABASE_SECRET_ARN`: name and password from the secret's JSON.
    SecretsManager {
        /// The secret.
        arn: String,
        /// `STRATUS_APP_DATABASE_USER`: the name when the secret has no `username` (when it has one, the
        /// two must agree).
        username: Option<RoleName>,
    },
    /// `STRATUS_APP_DATABASE_USER` and `STRATUS_APP_DATABASE_PASSWORD`.
    Inline {
        /// The role.
        username: RoleName,
        /// Its password.
        password: SecretString,
    },
}

/// DynamoDB settings (the board's table, or the file metadata table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbSettings {
    /// The table.
    pub table: String,
    /// `STRATUS_CREATE_TABLES`.
    pub create_tables: bool,
    /// Region, endpoint, timeouts.
    pub aws: AwsSettings,
}

/// How AWS clients are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// `AWS_REGION`; `None` lets the SDK's default chain decide.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-call timeout, retries included.
    pub call_timeout: Duration,
}

/// SQLite settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// The database file.
    pub path: PathBuf,
    /// Read connections.
    pub read_connections: u32,
    /// The longest one call may take (`DATABASE_STATEMENT_TIMEOUT`).
    pub statement_timeout: Duration,
    /// `STRATUS_MIGRATE_ON_START`: migrate on opening (`true`) or only check the migrations (`false`).
    pub migrate_on_start: bool,
}

/// A setting is wrong; `Display` says which and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `DATABASE_URL` names no supported store.
    #[error("DATABASE_URL: {0}")]
    DatabaseUrl(String),
    /// Two settings contradict each other.
    #[error("{0}")]
    Inconsistent(String),
    /// A single setting is wrong.
    #[error("{name}: {message}")]
    Invalid {
        /// The environment variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The embedded database: the default `DATABASE_URL`, and where relational data goes when `DATABASE_URL` names
/// a DynamoDB table.
const DEFAULT_DATABASE_URL: &str = "sqlite://data/stratus.db";

/// Which URL names the relational database and which (setting, URL) names the board's DynamoDB table.
struct StoreUrls<'a> {
    relational: &'a str,
    board: Option<(&'static str, &'a str)>,
}

impl SettingsArgs {
    /// `DATABASE_URL=dynamodb://TABLE` (the backends issue's spelling): the board in that table, everything
    /// relational in the embedded default.
    fn split_database_url(&self) -> Result<StoreUrls<'_>, ConfigError> {
        let board_url = self.board_url.as_deref().filter(|url| !url.is_empty());
        if self.database_url.starts_with("dynamodb:") {
            if board_url.is_some() {
                return Err(ConfigError::Inconsistent(
                    "DATABASE_URL=dynamodb://... and STRATUS_BOARD_URL both name the board's table: set one. (DATABASE_URL=postgres://... with STRATUS_BOARD_URL=dynamodb://TABLE keeps the board in DynamoDB and the rest in PostgreSQL.)".into(),
                ));
            }
            return Ok(StoreUrls {
                relational: DEFAULT_DATABASE_URL,
                board: Some(("DATABASE_URL", self.database_url.as_str())),
            });
        }
        Ok(StoreUrls {
            relational: &self.database_url,
            board: board_url.map(|url| ("STRATUS_BOARD_URL", url)),
        })
    }

    /// Checks the arguments and builds typed settings.
    pub fn parse_settings(&self) -> Result<Settings, ConfigError> {
        if self.shutdown_timeout <= self.drain_seconds {
            return Err(ConfigError::Inconsistent(format!(
                "STRATUS_SHUTDOWN_TIMEOUT ({}) must be longer than STRATUS_DRAIN_SECONDS ({}): in-flight requests need time to finish after draining.",
                humanize(self.shutdown_timeout),
                humanize(self.drain_seconds)
            )));
        }
        if self.request_timeout.is_zero() || self.keep_alive_timeout.is_zero() {
            return Err(ConfigError::Inconsistent(
                "STRATUS_REQUEST_TIMEOUT and STRATUS_KEEP_ALIVE_TIMEOUT must be longer than zero."
                    .into(),
            ));
        }
        Ok(Settings {
            listen: self.listen,
            database: self.database()?,
            board: self
                .split_database_url()?
                .board
                .map(|(name, url)| self.dynamodb(name, url))
                .transpose()?,
            files: self.files()?,
            admin: self.admin()?,
            log: LogSettings {
                format: self.log_format,
                filter: self.log_filter.clone(),
                flush_every: self.log_flush,
            },
            http: HttpSettings {
                request_timeout: self.request_timeout,
                upload_timeout: self.upload_timeout.max(self.request_timeout),
                max_concurrent_requests: self.max_concurrent_requests as usize,
                max_concurrent_uploads: self.max_concurrent_uploads as usize,
                upload_min_rate: MinTransferRate::new(
                    self.upload_min_bytes_per_second,
                    self.upload_rate_window,
                )?,
                keep_alive_timeout: self.keep_alive_timeout,
                trusted_proxies: self.trusted_proxies.clone(),
                public_origin: self.public_url.clone(),
                files_public: self.files_public,
            },
            lifecycle: LifecycleSettings {
                drain: self.drain_seconds,
                shutdown_timeout: self.shutdown_timeout,
            },
            instance: InstanceSettings {
                mode: self.instance_metadata,
                ecs_metadata_uri: self.ecs_metadata_uri.clone(),
            },
        })
    }

    fn database(&self) -> Result<DatabaseUrl, ConfigError> {
        if self.database_connect_timeout.is_zero() || self.database_statement_timeout.is_zero() {
            return Err(ConfigError::Inconsistent(
                "DATABASE_CONNECT_TIMEOUT and DATABASE_STATEMENT_TIMEOUT must be longer than zero."
                    .into(),
            ));
        }
        if self.database_statement_timeout >= self.request_timeout {
            return Err(ConfigError::Inconsistent(format!(
                "DATABASE_STATEMENT_TIMEOUT ({}) must be shorter than STRATUS_REQUEST_TIMEOUT ({}): a slow query must fail before its request does.",
                humanize(self.database_statement_timeout),
                humanize(self.request_timeout)
            )));
        }
        if let Some(path) = self.pg_ssl_root_cert.as_ref().filter(|p| !p.is_file()) {
            return Err(ConfigError::Invalid {
                name: "PGSSLROOTCERT",
                message: format!("{} is not a readable file", path.display()),
            });
        }
        let aws = self.aws();
        let url = parse_database_url(
            self.split_database_url()?.relational,
            self.database_pool_size,
            self.database_statement_timeout,
        )?;
        let mut sources: Vec<(&'static str, PasswordSource)> = Vec::new();
        if let Some(password) = &self.database_password {
            sources.push((
                "DATABASE_PASSWORD",
                PasswordSource::Inline(password.clone()),
            ));
        }
        if let Some(path) = &self.database_password_file {
            sources.push(("DATABASE_PASSWORD_FILE", PasswordSource::File(path.clone())));
        }
        if let Some(name) = self.database_password_ssm_parameter.clone() {
            sources.push((
                "DATABASE_PASSWORD_SSM_PARAMETER",
                PasswordSource::SsmParameter(name),
            ));
        }
        if let Some(arn) = self.database_secret_arn.clone() {
            sources.push(("DATABASE_SECRET_ARN", PasswordSource::SecretsManager(arn)));
        }
        let app_role = self.app_role()?;
        match url {
            ParsedUrl::Sqlite(settings) => {
                refuse_password_sources(&sources, "sqlite")?;
                if app_role.is_some() {
                    return Err(ConfigError::Inconsistent(
                        "an application role is configured (STRATUS_APP_DATABASE_SECRET_ARN or STRATUS_APP_DATABASE_USER), but the relational database is SQLite, which has no roles: unset it, or use a postgres:// DATABASE_URL.".into(),
                    ));
                }
                Ok(DatabaseUrl::Sqlite(SqliteSettings {
                    migrate_on_start: self.migrate_on_start,
                    ..settings
                }))
            }
            ParsedUrl::Postgres {
                url,
                password: in_url,
            } => {
                if let Some(password) = in_url {
                    sources.insert(
                        0,
                        (
                            "the password in DATABASE_URL",
                            PasswordSource::Inline(password),
                        ),
                    );
                }
                if sources.len() > 1 {
                    let names: Vec<&str> = sources.iter().map(|(name, _)| *name).collect();
                    return Err(ConfigError::Inconsistent(format!(
                        "set one password source, not several: {} are all set.",
                        names.join(", ")
                    )));
                }
                let settings = PostgresSettings {
                    url,
                    password: sources
                        .pop()
                        .map_or(PasswordSource::None, |(_, source)| source),
                    pool_size: self.database_pool_size,
                    connect_timeout: self.database_connect_timeout,
                    statement_timeout: self.database_statement_timeout,
                    ssl_root_cert: self.pg_ssl_root_cert.clone(),
                    aws,
                    migrate_on_start: self.migrate_on_start,
                    app_role,
                };
                settings.connect_options()?;
                Ok(DatabaseUrl::Postgres(settings))
            }
        }
    }

    /// The application role `stratus migrate` sets up: from a secret, or a name and a password.
    fn app_role(&self) -> Result<Option<AppRoleSource>, ConfigError> {
        let arn = self
            .app_database_secret_arn
            .clone()
            .filter(|arn| !arn.is_empty());
        let username = self
            .app_database_user
            .as_deref()
            .filter(|name| !name.is_empty())
            .map(|name| {
                RoleName::parse(name).map_err(|err| ConfigError::Invalid {
                    name: "STRATUS_APP_DATABASE_USER",
                    message: err.to_string(),
                })
            })
            .transpose()?;
        match (arn, username, self.app_database_password.clone()) {
            (None, None, None) => Ok(None),
            (Some(_), _, Some(_)) => Err(ConfigError::Inconsistent(
                "set STRATUS_APP_DATABASE_SECRET_ARN or STRATUS_APP_DATABASE_PASSWORD, not both.".into(),
            )),
            (Some(arn), username, None) => Ok(Some(AppRoleSource::SecretsManager { arn, username })),
            (None, Some(username), Some(password)) => {
                Ok(Some(AppRoleSource::Inline { username, password }))
            }
            (None, None, Some(_)) => Err(ConfigError::Inconsistent(
                "STRATUS_APP_DATABASE_PASSWORD is set without STRATUS_APP_DATABASE_USER: name the role too.".into(),
            )),
            (None, Some(_), None) => Err(ConfigError::Inconsistent(
                "STRATUS_APP_DATABASE_USER is set without a password: set STRATUS_APP_DATABASE_SECRET_ARN or STRATUS_APP_DATABASE_PASSWORD too.".into(),
            )),
        }
    }

    /// How AWS clients are built (DynamoDB, S3, SSM, Secrets Manager).
    fn aws(&self) -> AwsSettings {
        AwsSettings {
            region: self.aws_region.clone().filter(|r| !r.is_empty()),
            endpoint_url: self.aws_endpoint_url.clone().filter(|u| !u.is_empty()),
            connect_timeout: self.database_connect_timeout,
            call_timeout: self.database_statement_timeout,
        }
    }

    /// A `dynamodb://TABLE` setting.
    fn dynamodb(&self, name: &'static str, raw: &str) -> Result<DynamoDbSettings, ConfigError> {
        Ok(DynamoDbSettings {
            table: parse_dynamodb_url(raw)
                .map_err(|message| ConfigError::Invalid { name, message })?,
            create_tables: self.create_tables,
            aws: self.aws(),
        })
    }

    fn files(&self) -> Result<FilesSettings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            name: "STRATUS_FILES_URL",
            message,
        };
        let objects = if let Some(path) = self.files_url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid(
                    "file:// needs a directory, e.g. file://./data/files".into(),
                ));
            }
            ObjectStoreUrl::File(PathBuf::from(path))
        } else if let Some(rest) = self.files_url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            // S3's rules for bucket names (the common subset: no dots, which break virtual-hosted TLS).
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !bucket.starts_with('-')
                && !bucket.ends_with('-');
            if !valid_bucket {
                return Err(invalid(format!(
                    "`{bucket}` is not an S3 bucket name (3 to 63 of a-z, 0-9 and `-`); expected s3://BUCKET/PREFIX"
                )));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|part| part == "." || part == "..")
                || prefix.contains("//")
                || prefix.chars().any(char::is_control)
            {
                return Err(invalid(format!("`{prefix}` is not a usable key prefix")));
            }
            ObjectStoreUrl::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            }
        } else {
            return Err(invalid(
                "expected file://DIRECTORY or s3://BUCKET/PREFIX".into(),
            ));
        };
        let sse = match (self.s3_sse, &self.s3_sse_kms_key_id) {
            (SseMode::Aes256, Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "STRATUS_S3_SSE_KMS_KEY_ID is set, but STRATUS_S3_SSE is AES256: set STRATUS_S3_SSE=aws:kms to use the key.".into(),
                ));
            }
            (SseMode::Aes256, None) => S3Sse::S3,
            (SseMode::Kms, key) => S3Sse::Kms {
                key_id: key.clone().filter(|k| !k.is_empty()),
            },
        };
        Ok(FilesSettings {
            objects,
            sse,
            metadata: self
                .file_metadata_url
                .as_deref()
                .filter(|url| !url.is_empty())
                .map(|url| self.dynamodb("STRATUS_FILE_METADATA_URL", url))
                .transpose()?,
            max_upload_bytes: self.max_upload_bytes,
            spool_dir: self
                .upload_spool_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
            aws: self.aws(),
        })
    }

    fn admin(&self) -> Result<AdminSettings, ConfigError> {
        let username = self.admin_username.trim();
        if username.is_empty()
            || username.chars().count() > 64
            || username.chars().any(char::is_control)
        {
            return Err(ConfigError::Invalid {
                name: "STRATUS_ADMIN_USERNAME",
                message: "must be 1 to 64 characters, none of them control characters".into(),
            });
        }
        let hash = match (&self.admin_password_hash, &self.admin_password_hash_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "set STRATUS_ADMIN_PASSWORD_HASH or STRATUS_ADMIN_PASSWORD_HASH_FILE, not both."
                        .into(),
                ));
            }
            (Some(hash), None) => Some(("STRATUS_ADMIN_PASSWORD_HASH", hash.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Invalid {
                    name: "STRATUS_ADMIN_PASSWORD_HASH_FILE",
                    message: format!("could not read {}: {err}", path.display()),
                })?;
                Some((
                    "STRATUS_ADMIN_PASSWORD_HASH_FILE",
                    SecretString::from(text.trim().to_owned()),
                ))
            }
            (None, None) => None,
        };
        if let Some((name, hash)) = &hash {
            check_argon2id(hash.expose_secret())
                .map_err(|message| ConfigError::Invalid { name, message })?;
        }
        let api_token_sha256 = self
            .api_token_sha256
            .as_deref()
            .map(str::trim)
            .filter(|hex| !hex.is_empty())
            .map(|hex| {
                parse_sha256_hex(hex).ok_or_else(|| ConfigError::Invalid {
                    name: "STRATUS_API_TOKEN_SHA256",
                    message: "expected 64 hexadecimal digits: the SHA-256 of the token, e.g. `printf %s \"$TOKEN\" | sha256sum`".into(),
                })
            })
            .transpose()?;
        if api_token_sha256.is_some() && hash.is_none() {
            return Err(ConfigError::Inconsistent(
                "STRATUS_API_TOKEN_SHA256 is set but no admin is: writes are open to everyone without an admin, so the token would protect nothing. Set STRATUS_ADMIN_PASSWORD_HASH too.".into(),
            ));
        }
        if self.session_ttl < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                name: "STRATUS_SESSION_TTL",
                message: "must be at least 1s".into(),
            });
        }
        Ok(AdminSettings {
            username: username.to_owned(),
            password_hash: hash.map(|(_, hash)| hash),
            api_token_sha256,
            session_ttl: self.session_ttl,
        })
    }

    /// The URL `stratus healthcheck` checks when none is given: `/health/live` on the listen port, on
    /// loopback when listening on every address.
    pub fn default_healthcheck_url(&self) -> String {
        let ip = match self.listen.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!(
            "http://{}/health/live",
            SocketAddr::new(ip, self.listen.port())
        )
    }
}

fn refuse_password_sources(
    sources: &[(&'static str, PasswordSource)],
    backend: &str,
) -> Result<(), ConfigError> {
    match sources.first() {
        Some((name, _)) => Err(ConfigError::Inconsistent(format!(
            "{name} is set, but DATABASE_URL names {backend}, which takes no password: unset it or use a postgres:// URL."
        ))),
        None => Ok(()),
    }
}

/// `DATABASE_URL`, parsed; the PostgreSQL password is taken out of the URL at once.
#[derive(Debug)]
enum ParsedUrl {
    Sqlite(SqliteSettings),
    Postgres {
        url: String,
        password: Option<SecretString>,
    },
}

/// Checks that `hash` is an argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$SALT$HASH`).
fn check_argon2id(hash: &str) -> Result<(), String> {
    let parsed = argon2::PasswordHash::new(hash).map_err(|err| {
        format!("not a password hash in PHC format ({err}); make one with `stratus hash-password`")
    })?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.hash.is_none() {
        return Err(format!(
            "an argon2id hash is expected, not {}; make one with `stratus hash-password`",
            parsed.algorithm
        ));
    }
    Ok(())
}

fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// `dynamodb://TABLE` -> the table name.
fn parse_dynamodb_url(raw: &str) -> Result<String, String> {
    let table = raw
        .strip_prefix("dynamodb://")
        .ok_or_else(|| format!("expected dynamodb://TABLE, not `{raw}`"))?;
    // DynamoDB's own rule for table names.
    let valid = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return Err(format!(
            "`{table}` is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, `_`, `-`, `.`); expected dynamodb://TABLE"
        ));
    }
    Ok(table.to_owned())
}

fn parse_database_url(
    raw: &str,
    pool_size: u32,
    statement_timeout: Duration,
) -> Result<ParsedUrl, ConfigError> {
    let (scheme, rest) = raw.split_once(':').ok_or_else(|| {
        ConfigError::DatabaseUrl(
            "expected a URL such as sqlite://data/stratus.db or postgres://user@host/db".into(),
        )
    })?;
    match scheme {
        "sqlite" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path.is_empty() || path == ":memory:" {
                return Err(ConfigError::DatabaseUrl(
                    "sqlite needs a file path (sqlite://data/stratus.db); an in-memory database would lose every write on restart".into(),
                ));
            }
            Ok(ParsedUrl::Sqlite(SqliteSettings {
                path: PathBuf::from(path),
                read_connections: pool_size,
                statement_timeout,
                migrate_on_start: true,
            }))
        }
        "postgres" | "postgresql" => parse_postgres_url(raw),
        other => Err(ConfigError::DatabaseUrl(format!(
            "unsupported scheme `{other}`; supported: sqlite://PATH, postgres://USER@HOST/DB, dynamodb://TABLE"
        ))),
    }
}

/// Splits the password out of a PostgreSQL URL. Error messages never quote the URL: it may hold a password.
fn parse_postgres_url(raw: &str) -> Result<ParsedUrl, ConfigError> {
    let mut url = url::Url::parse(raw).map_err(|err| {
        ConfigError::DatabaseUrl(format!(
            "not a valid URL ({err}); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        ))
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::DatabaseUrl(
            "the PostgreSQL URL has no host; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                .into(),
        ));
    }
    for (key, value) in url.query_pairs() {
        if key == "sslmode" || key == "ssl-mode" {
            value
                .parse::<sqlx::postgres::PgSslMode>()
                .map_err(|_| {
                    ConfigError::DatabaseUrl(format!(
                        "sslmode `{value}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ))
                })?;
        }
    }
    let password = match url.password() {
        Some(encoded) => {
            let decoded = percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .map_err(|_| {
                    ConfigError::DatabaseUrl("the password in the URL is not valid UTF-8".into())
                })?;
            Some(SecretString::from(decoded.into_owned()))
        }
        None => None,
    };
    // `set_password` fails only for URLs that cannot have one, and this one has a host.
    let _ = url.set_password(None);
    Ok(ParsedUrl::Postgres {
        url: url.into(),
        password,
    })
}

fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.is_empty() {
        Err("is empty".into())
    } else {
        Ok(SecretString::from(raw.to_owned()))
    }
}

/// `STRATUS_PUBLIC_URL`: an `http` or `https` URL with a host and nothing after it but `/`, kept as its
/// origin (`https://blog.example`, `http://127.0.0.1:8000`).
pub fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| format!("not a URL ({e}); write it as https://blog.example"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it needs a host name: https://blog.example".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain a user name or password".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(
            "give the origin only (scheme, host and port), with no path, query or fragment".into(),
        );
    }
    Ok(url.origin().ascii_serialization())
}

/// Parses a duration: plain seconds (`25`), or a number with `ms`, `s`, `m` or `h` (`250ms`, `25s`, `1m`, `12h`).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (try 25, 25s or 250ms)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{raw}` (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{raw}` is out of range"))
}

fn humanize(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Every environment variable the binary reads, sorted (`stratus config --list-env`).
pub fn environment_variables() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut commands = vec![Cli::command()];
    while let Some(command) = commands.pop() {
        names.extend(
            command
                .get_arguments()
                .filter_map(|arg| arg.get_env())
                .map(|env| env.to_string_lossy().into_owned()),
        );
        commands.extend(command.get_subcommands().cloned());
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_plain_seconds_and_units() {
        assert_eq!(parse_duration("25"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert!(matches!(
            parse_database_url("sqlite://data/stratus.db", 4, Duration::from_secs(5)),
            Ok(ParsedUrl::Sqlite(SqliteSettings { path, read_connections: 4, .. })) if path == std::path::Path::new("data/stratus.db")
        ));
        assert!(parse_database_url("sqlite::memory:", 4, Duration::from_secs(5)).is_err());
        assert!(parse_database_url("mysql://x", 4, Duration::from_secs(5)).is_err());
        assert!(parse_database_url("nonsense", 4, Duration::from_secs(5)).is_err());
    }

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut argv = vec!["stratus"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.settings.parse_settings(),
            Err(err) => Err(ConfigError::Inconsistent(err.to_string())),
        }
    }

    #[test]
    fn postgres_urls_lose_their_password_to_a_secret() {
        let Ok(DatabaseUrl::Postgres(pg)) = settings(&[
            "--database-url",
            "postgres://app:s3cr%40t@db.example:5433/board?sslmode=require",
        ])
        .map(|s| s.database) else {
            panic!("a postgres URL must parse");
        };
        assert_eq!(
            pg.url,
            "postgres://app@db.example:5433/board?sslmode=require"
        );
        let PasswordSource::Inline(password) = &pg.password else {
            panic!("the URL's password must become the password source");
        };
        assert_eq!(secrecy::ExposeSecret::expose_secret(password), "s3cr@t");
    }

    #[test]
    fn the_password_never_shows_in_debug_output_or_errors() {
        for args in [
            &["--database-url", "postgres://app:hunter2hunter2@db/board"][..],
            &[
                "--database-url",
                "postgres://app@db/board",
                "--database-password",
                "hunter2hunter2",
            ][..],
        ] {
            let Ok(settings) = settings(args) else {
                panic!("{args:?} must parse");
            };
            let debug = format!("{settings:?}");
            assert!(!debug.contains("hunter2"), "{debug}");
        }
        // An error about the URL must not quote it either.
        let err = settings(&[
            "--database-url",
            "postgres://app:hunter2hunter2@db/board?sslmode=bogus",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("sslmode"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = settings(&[
            "--database-url",
            "postgres://app:hunter2hunter2@db/board",
            "--database-password-file",
            "/run/pw",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("one password source"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn only_one_password_source_may_be_set() {
        let err = settings(&[
            "--database-url",
            "postgres://app@db/board",
            "--database-password-ssm-parameter",
            "/stratus/db",
            "--database-secret-arn",
            "arn:aws:secretsmanager:eu-west-1:1:secret:x",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("DATABASE_PASSWORD_SSM_PARAMETER, DATABASE_SECRET_ARN"),
            "{err}"
        );
    }

    #[test]
    fn a_password_for_a_store_without_one_is_refused() {
        let err = settings(&[
            "--database-url",
            "sqlite://data/x.db",
            "--database-password",
            "x",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("DATABASE_PASSWORD is set"), "{err}");
    }

    #[test]
    fn migrate_on_start_is_on_unless_turned_off() {
        let on = settings(&["--database-url", "postgres://app@db/board"]);
        assert!(
            matches!(on.map(|s| s.database), Ok(DatabaseUrl::Postgres(pg)) if pg.migrate_on_start)
        );
        let off = settings(&[
            "--database-url",
            "postgres://app@db/board",
            "--migrate-on-start",
            "false",
        ]);
        assert!(
            matches!(off.map(|s| s.database), Ok(DatabaseUrl::Postgres(pg)) if !pg.migrate_on_start)
        );
        let sqlite = settings(&["--migrate-on-start", "false"]);
        assert!(
            matches!(sqlite.map(|s| s.database), Ok(DatabaseUrl::Sqlite(s)) if !s.migrate_on_start)
        );
        assert!(settings(&["--migrate-on-start", "no"]).is_err());
    }

    #[test]
    fn the_app_role_comes_from_a_secret_or_a_name_and_password() {
        let pg = ["--database-url", "postgres://master@db/board"];
        let role = |extra: &[&str]| {
            let mut args = pg.to_vec();
            args.extend_from_slice(extra);
            settings(&args).map(|s| match s.database {
                DatabaseUrl::Postgres(pg) => pg.app_role,
                DatabaseUrl::Sqlite(_) => None,
            })
        };
        assert!(matches!(role(&[]), Ok(None)));
        assert!(matches!(
            role(&[
                "--app-database-secret-arn",
                "arn:aws:secretsmanager:eu-west-1:1:secret:app"
            ]),
            Ok(Some(AppRoleSource::SecretsManager { username: None, .. }))
        ));
        let Ok(Some(AppRoleSource::Inline { username, password })) = role(&[
            "--app-database-user",
            "stratus_app",
            "--app-database-password",
            "hunter2hunter2",
        ]) else {
            panic!("a name and a password must parse");
        };
        assert_eq!(username.as_ref(), "stratus_app");
        assert_eq!(password.expose_secret(), "hunter2hunter2");
        for (extra, says) in [
            (
                &["--app-database-password", "hunter2hunter2"][..],
                "without STRATUS_APP_DATABASE_USER",
            ),
            (
                &["--app-database-user", "stratus_app"][..],
                "without a password",
            ),
            (
                &[
                    "--app-database-secret-arn",
                    "arn:x",
                    "--app-database-password",
                    "hunter2hunter2",
                ][..],
                "not both",
            ),
            (
                &[
                    "--app-database-user",
                    "app\"; DROP ROLE master; --",
                    "--app-database-password",
                    "hunter2hunter2",
                ][..],
                "STRATUS_APP_DATABASE_USER: the role name has `\"` at position 4",
            ),
        ] {
            let err = role(extra).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(says), "{extra:?}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn an_app_role_on_sqlite_is_refused() {
        for database in ["sqlite://data/x.db", "dynamodb://board"] {
            let err = settings(&[
                "--database-url",
                database,
                "--app-database-secret-arn",
                "arn:aws:secretsmanager:eu-west-1:1:secret:app",
            ])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(
                err.contains("SQLite, which has no roles"),
                "{database}: {err}"
            );
        }
    }

    #[test]
    fn the_board_may_live_in_dynamodb() {
        let Ok(Some(board)) = settings(&[
            "--board-url",
            "dynamodb://stratus-prod.submissions",
            "--create-tables",
            "true",
            "--aws-region",
            "eu-west-1",
        ])
        .map(|s| s.board) else {
            panic!("a dynamodb board URL must parse");
        };
        assert_eq!(board.table, "stratus-prod.submissions");
        assert!(board.create_tables);
        assert_eq!(board.aws.region.as_deref(), Some("eu-west-1"));
        assert!(settings(&["--board-url", "dynamodb://x"]).is_err());
        assert!(settings(&["--board-url", "dynamodb://a/b"]).is_err());
        assert!(settings(&["--board-url", "postgres://x@y/z"]).is_err());
        // DATABASE_URL=dynamodb://TABLE: the board there, users/blog/sessions in the embedded default.
        let Ok(both) = settings(&["--database-url", "dynamodb://board"]) else {
            panic!("DATABASE_URL=dynamodb://TABLE must parse");
        };
        assert_eq!(both.board.map(|b| b.table).as_deref(), Some("board"));
        let DatabaseUrl::Sqlite(sqlite) = both.database else {
            panic!("the relational data must stay in the embedded SQLite");
        };
        assert_eq!(sqlite.path, PathBuf::from("data/stratus.db"));
        let err = settings(&["--database-url", "dynamodb://a/b"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("DATABASE_URL:"), "{err}");
        let err = settings(&[
            "--database-url",
            "dynamodb://board",
            "--board-url",
            "dynamodb://other",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("set one"), "{err}");
    }

    #[test]
    fn files_go_to_a_directory_or_a_bucket() {
        let Ok(files) = settings(&[]).map(|s| s.files) else {
            panic!("the defaults must parse");
        };
        assert_eq!(
            files.objects,
            ObjectStoreUrl::File(PathBuf::from("./data/files"))
        );
        assert_eq!(files.sse, S3Sse::S3);
        assert_eq!(files.metadata, None);
        assert_eq!(files.max_upload_bytes, 100 * 1024 * 1024);
        let Ok(files) = settings(&[
            "--files-url",
            "s3://stratus-files/uploads/",
            "--s3-sse",
            "aws:kms",
            "--s3-sse-kms-key-id",
            "alias/stratus",
            "--file-metadata-url",
            "dynamodb://stratus-files",
        ])
        .map(|s| s.files) else {
            panic!("an s3 URL must parse");
        };
        assert_eq!(
            files.objects,
            ObjectStoreUrl::S3 {
                bucket: "stratus-files".into(),
                prefix: "uploads".into()
            }
        );
        assert_eq!(
            files.sse,
            S3Sse::Kms {
                key_id: Some("alias/stratus".into())
            }
        );
        assert_eq!(
            files.metadata.map(|m| m.table).as_deref(),
            Some("stratus-files")
        );
        for bad in [
            ["--files-url", "s3://Bad_Bucket/x"],
            ["--files-url", "s3://ok-bucket/../x"],
            ["--files-url", "ftp://x"],
            ["--files-url", "file://"],
            ["--s3-sse", "rot13"],
            ["--s3-sse-kms-key-id", "k"],
            ["--max-upload-bytes", "0"],
            ["--file-metadata-url", "sqlite://x"],
        ] {
            assert!(settings(&bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_admin_hash_must_be_argon2id_and_the_token_a_sha256() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3o8pnoqFGWZPVBa/p3VnVwvvMkJNDl7pvBpKnCC6ZV4";
        let token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let Ok(admin) = settings(&[
            "--admin-password-hash",
            hash,
            "--api-token-sha256",
            token,
            "--session-ttl",
            "30m",
        ])
        .map(|s| s.admin) else {
            panic!("a valid hash and token must parse");
        };
        assert_eq!(admin.username, "admin");
        assert!(admin.password_hash.is_some());
        assert_eq!(admin.api_token_sha256.map(|t| t[0]), Some(0x9f));
        assert_eq!(admin.session_ttl, Duration::from_secs(1800));
        assert!(settings(&["--admin-password-hash", "hunter2"]).is_err());
        assert!(
            settings(&[
                "--admin-password-hash",
                "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$6sPd4rJyT5K5tRlJ+1v0ZQ"
            ])
            .is_err(),
            "argon2i is not argon2id"
        );
        assert!(settings(&["--admin-password-hash", hash, "--api-token-sha256", "abc"]).is_err());
        assert!(
            settings(&["--api-token-sha256", token]).is_err(),
            "a token without an admin"
        );
        assert!(settings(&["--admin-username", " "]).is_err());
        let none = settings(&[]).map(|s| s.admin.password_hash.is_none());
        assert!(matches!(none, Ok(true)));
    }

    #[test]
    fn a_statement_timeout_must_be_shorter_than_the_request_timeout() {
        assert!(settings(&["--database-statement-timeout", "10s"]).is_err());
        assert!(settings(&["--database-statement-timeout", "9s"]).is_ok());
    }

    #[test]
    fn uploads_get_their_own_pool_and_a_minimum_rate_that_zero_turns_off() {
        let http = settings(&[]).expect("defaults").http;
        assert_eq!(http.max_concurrent_uploads, 64);
        let rate = http.upload_min_rate.expect("on by default");
        assert_eq!(rate.bytes_per_second.get(), 1024);
        assert_eq!(rate.bytes_per_window(), 30 * 1024);
        let off = settings(&["--upload-min-bytes-per-second", "0"]).expect("valid");
        assert_eq!(off.http.upload_min_rate, None);
        assert!(settings(&["--upload-rate-window", "0"]).is_err());
        assert!(settings(&["--max-concurrent-uploads", "0"]).is_err());
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The README's settings table names every variable the binary reads, and nothing it does not.
    #[test]
    fn the_readme_lists_every_variable() {
        let readme = include_str!("../../README.md");
        let names = environment_variables();
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !readme.contains(&format!("| `{name}` |")))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md's settings table lacks {missing:?}"
        );
        let stale: Vec<&str> = readme
            .lines()
            .filter_map(|line| {
                line.strip_prefix("| `")?
                    .split_once("` |")
                    .map(|(name, _)| name)
            })
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .filter(|name| !names.iter().any(|known| known == name))
            .collect();
        assert!(
            stale.is_empty(),
            "README.md documents variables the binary does not read: {stale:?}"
        );
    }

    #[test]
    fn public_urls_are_origins_only() {
        assert_eq!(
            parse_public_url("https://Blog.Example/").as_deref(),
            Ok("https://blog.example")
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8000").as_deref(),
            Ok("http://127.0.0.1:8000")
        );
        for bad in [
            "blog.example",
            "ftp://blog.example",
            "https://blog.example/blog",
            "https://u:p@blog.example",
            "https://blog.example/?a=1",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_documented_variable_is_listed() {
        let names = environment_variables();
        for name in [
            "STRATUS_LISTEN",
            "DATABASE_URL",
            "RUST_LOG",
            "STRATUS_DRAIN_SECONDS",
            "STRATUS_TRUSTED_PROXIES",
            "DATABASE_PASSWORD",
            "DATABASE_PASSWORD_FILE",
            "DATABASE_PASSWORD_SSM_PARAMETER",
            "DATABASE_SECRET_ARN",
            "DATABASE_POOL_SIZE",
            "STRATUS_BOARD_URL",
            "STRATUS_FILES_URL",
            "STRATUS_FILE_METADATA_URL",
            "STRATUS_S3_SSE",
            "STRATUS_S3_SSE_KMS_KEY_ID",
            "STRATUS_MAX_UPLOAD_BYTES",
            "STRATUS_ADMIN_USERNAME",
            "STRATUS_ADMIN_PASSWORD_HASH",
            "STRATUS_ADMIN_PASSWORD_HASH_FILE",
            "STRATUS_API_TOKEN_SHA256",
            "STRATUS_SESSION_TTL",
            "STRATUS_UPLOAD_TIMEOUT",
            "DATABASE_CONNECT_TIMEOUT",
            "DATABASE_STATEMENT_TIMEOUT",
            "PGSSLROOTCERT",
            "STRATUS_CREATE_TABLES",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "STRATUS_MIGRATE_ON_START",
            "STRATUS_APP_DATABASE_SECRET_ARN",
            "STRATUS_APP_DATABASE_USER",
            "STRATUS_APP_DATABASE_PASSWORD",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
    }
}
