//! The databases: `DATABASE_URL` (SQLite or PostgreSQL, with the password's source and the application's
//! role) and the board's DynamoDB table.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use super::{AwsArgs, AwsSettings, ConfigError, parse_duration, parse_secret};
use crate::storage::RoleName;

/// Database settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// The database: `sqlite://PATH` (embedded, the default) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=..]` hold everything (board, users, blog, sessions,
    /// file metadata); `dynamodb://TABLE` keeps the board in DynamoDB and the rest in the embedded
    /// SQLite default (use `STRATUS_BOARD_URL` with a `postgres://` `DATABASE_URL` for both on servers).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Connections per pool (SQLite: read connections beside the single writer; PostgreSQL: the most
    /// connections this instance opens, so instances x pool size must stay under the server's limit).
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub database_pool_size: u32,

    /// PostgreSQL password (ECS injects it from Secrets Manager). At most one password source may be set.
    #[arg(long, env = "DATABASE_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub database_password: Option<SecretString>,

    /// A file holding the PostgreSQL password (surrounding whitespace is ignored).
    #[arg(long, env = "DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,

    /// An SSM SecureString parameter holding the PostgreSQL password, read at start-up.
    #[arg(long, env = "DATABASE_PASSWORD_SSM_PARAMETER")]
    pub database_password_ssm_parameter: Option<String>,

    /// A Secrets Manager secret with the JSON `{"username": .., "password": ..}` (what RDS's managed master
    /// password writes), read at start-up; its username replaces the URL's.
    #[arg(long, env = "DATABASE_SECRET_ARN")]
    pub database_secret_arn: Option<String>,

    /// `serve`: apply the embedded migrations at start-up (`true`), or only check that the database has
    /// exactly this binary's migrations and refuse to start when it has not (`false`: the schema is changed
    /// by a `stratus migrate` step, and the service may connect as a role without DDL rights).
    #[arg(long, env = "STRATUS_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// `stratus migrate` on PostgreSQL: a Secrets Manager secret with the JSON `{"username": .., "password": ..}`
    /// of the application's own role, which migrate then creates (or sets the password of) and grants row
    /// access (SELECT, INSERT, UPDATE, DELETE) to the schema's tables, and no DDL. `serve` ignores it.
    #[arg(long, env = "STRATUS_APP_DATABASE_SECRET_ARN")]
    pub app_database_secret_arn: Option<String>,

    /// The application role's name, for `STRATUS_APP_DATABASE_PASSWORD`, or when the secret has no `username`.
    #[arg(long, env = "STRATUS_APP_DATABASE_USER")]
    pub app_database_user: Option<String>,

    /// The application role's password, given directly (local set-ups and tests; production uses
    /// `STRATUS_APP_DATABASE_SECRET_ARN`).
    #[arg(long, env = "STRATUS_APP_DATABASE_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub app_database_password: Option<SecretString>,

    /// The longest a new database connection (TCP, TLS, authentication) may take; DynamoDB: the TCP/TLS connect.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub database_connect_timeout: Duration,

    /// The longest one database statement may run (PostgreSQL `statement_timeout`); DynamoDB: one call,
    /// retries included.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub database_statement_timeout: Duration,

    /// CA bundle that verifies the PostgreSQL server (the RDS bundle) for `sslmode=verify-ca`/`verify-full`.
    #[arg(long, env = "PGSSLROOTCERT")]
    pub pg_ssl_root_cert: Option<PathBuf>,

    /// Create missing DynamoDB tables at start-up (local development and tests; production tables come
    /// from Terraform).
    #[arg(long, env = "STRATUS_CREATE_TABLES", default_value_t = false, action = clap::ArgAction::Set)]
    pub create_tables: bool,

    /// Keep the board (submissions and the visit counter) in DynamoDB: `dynamodb://TABLE`.
    /// Unset: the board lives in `DATABASE_URL`'s database.
    #[arg(long, env = "STRATUS_BOARD_URL")]
    pub board_url: Option<String>,
}

/// The embedded database: the default `DATABASE_URL`, and where relational data goes when `DATABASE_URL` names
/// a DynamoDB table.
const DEFAULT_DATABASE_URL: &str = "sqlite://data/stratus.db";

/// Which URL names the relational database and which (setting, URL) names the board's DynamoDB table.
pub(super) struct StoreUrls<'a> {
    relational: &'a str,
    board: Option<(&'static str, &'a str)>,
}

impl DatabaseArgs {
    /// `DATABASE_URL=dynamodb://TABLE` (a shorter spelling of `STRATUS_BOARD_URL`): the board in that table, everything
    /// relational in the embedded default.
    pub(super) fn split_database_url(&self) -> Result<StoreUrls<'_>, ConfigError> {
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

    /// The board's DynamoDB table, when it has one (`STRATUS_BOARD_URL`, or `DATABASE_URL=dynamodb://`).
    pub(super) fn board(&self, aws: &AwsArgs) -> Result<Option<DynamoDbSettings>, ConfigError> {
        self.split_database_url()?
            .board
            .map(|(name, url)| self.dynamodb(name, url, aws))
            .transpose()
    }

    /// The relational database, with its password source and application role.
    pub(super) fn database(&self, aws: &AwsArgs) -> Result<DatabaseUrl, ConfigError> {
        if self.database_connect_timeout.is_zero() || self.database_statement_timeout.is_zero() {
            return Err(ConfigError::Inconsistent(
                "DATABASE_CONNECT_TIMEOUT and DATABASE_STATEMENT_TIMEOUT must be longer than zero."
                    .into(),
            ));
        }
        if let Some(path) = self.pg_ssl_root_cert.as_ref().filter(|p| !p.is_file()) {
            return Err(ConfigError::Invalid {
                name: "PGSSLROOTCERT",
                message: format!("{} is not a readable file", path.display()),
            });
        }
        let aws = self.aws(aws);
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
    pub(super) fn aws(&self, aws: &AwsArgs) -> AwsSettings {
        aws.settings(
            self.database_connect_timeout,
            self.database_statement_timeout,
        )
    }

    /// A `dynamodb://TABLE` setting.
    pub(super) fn dynamodb(
        &self,
        name: &'static str,
        raw: &str,
        aws: &AwsArgs,
    ) -> Result<DynamoDbSettings, ConfigError> {
        Ok(DynamoDbSettings {
            table: parse_dynamodb_url(raw)
                .map_err(|message| ConfigError::Invalid { name, message })?,
            create_tables: self.create_tables,
            aws: self.aws(aws),
        })
    }
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
pub(super) enum ParsedUrl {
    Sqlite(SqliteSettings),
    Postgres {
        url: String,
        password: Option<SecretString>,
    },
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

pub(super) fn parse_database_url(
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
