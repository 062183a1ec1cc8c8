//! Configuration: the only place that reads flags and the environment.
//!
//! Every flag has an environment variable of the same meaning (`--listen` / `STRATUS_LISTEN`), parsed into
//! typed settings before anything binds a port, so a bad value stops start-up with one readable line.

mod admin;
mod aws;
mod database;
mod files;
mod http;
mod log;
mod metrics;

use std::{net::SocketAddr, time::Duration};

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use secrecy::SecretString;

pub use admin::{AdminArgs, AdminSettings};
pub use aws::{AwsArgs, AwsSettings};
pub use database::{
    AppRoleSource, DatabaseArgs, DatabaseUrl, DynamoDbSettings, PasswordSource, PostgresSettings,
    SqliteSettings,
};
pub use files::{FilesArgs, FilesSettings, ObjectStoreUrl, S3Sse, SseMode};
pub use http::{
    HttpArgs, HttpSettings, InstanceMetadata, InstanceSettings, LifecycleSettings, MinTransferRate,
    parse_listen, parse_public_url,
};
pub use log::{LogArgs, LogFormat, LogSettings};
pub use metrics::{MetricsArgs, MetricsSettings};

/// `stratus`: the submission board, visit counter and more, as one service.
#[derive(Debug, Parser)]
#[command(
    name = "stratus",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s settings, for `stratus` with no command.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP until SIGTERM or Ctrl-C (the default).
    Serve(Box<SettingsArgs>),
    /// Create or upgrade the database schema, then exit.
    Migrate(Box<MigrateArgs>),
    /// Exit 0 when URL answers 200 within the timeout: a container HEALTHCHECK that needs no curl.
    Healthcheck {
        /// What to check; defaults to `/health/live` on the `--listen` port of this host.
        #[arg(env = "STRATUS_HEALTHCHECK_URL")]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, env = "STRATUS_HEALTHCHECK_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
        /// The address the service listens on, for the default URL.
        #[arg(long, env = "STRATUS_LISTEN", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
        listen: SocketAddr,
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
    /// Print a completion script for SHELL (`stratus completions bash > /etc/bash_completion.d/stratus`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
        /// Where the files and their metadata are.
        #[command(flatten)]
        store: Box<StoreArgs>,
    },
}

/// Everything `serve` reads, by group (each group is a heading of `stratus serve --help`).
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// HTTP serving.
    #[command(flatten)]
    pub http: HttpArgs,
    /// The databases.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Uploaded files.
    #[command(flatten)]
    pub files: FilesArgs,
    /// The admin account.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// Metrics.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// AWS clients.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What `stratus migrate` reads: the databases, AWS and logging.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The databases.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// AWS clients.
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl MigrateArgs {
    /// The relational database and the board's DynamoDB table, if any.
    pub fn parse(&self) -> Result<(DatabaseUrl, Option<DynamoDbSettings>), ConfigError> {
        Ok((
            self.database.database(&self.aws)?,
            self.database.board(&self.aws)?,
        ))
    }
}

/// What `stratus files sweep` reads: where files and their metadata are, AWS and logging.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The databases.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Uploaded files.
    #[command(flatten)]
    pub files: FilesArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// AWS clients.
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl StoreArgs {
    /// The relational database and the files' stores.
    pub fn parse(&self) -> Result<(DatabaseUrl, FilesSettings), ConfigError> {
        Ok((
            self.database.database(&self.aws)?,
            self.files.settings(&self.database, &self.aws)?,
        ))
    }
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
    /// Metrics.
    pub metrics: MetricsSettings,
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

impl SettingsArgs {
    /// Checks the arguments and builds typed settings.
    pub fn parse_settings(&self) -> Result<Settings, ConfigError> {
        let http = &self.http;
        if http.shutdown_timeout <= http.drain_seconds {
            return Err(ConfigError::Inconsistent(format!(
                "STRATUS_SHUTDOWN_TIMEOUT ({}) must be longer than STRATUS_DRAIN_SECONDS ({}): in-flight requests need time to finish after draining.",
                humanize(http.shutdown_timeout),
                humanize(http.drain_seconds)
            )));
        }
        if http.request_timeout.is_zero() || http.keep_alive_timeout.is_zero() {
            return Err(ConfigError::Inconsistent(
                "STRATUS_REQUEST_TIMEOUT and STRATUS_KEEP_ALIVE_TIMEOUT must be longer than zero."
                    .into(),
            ));
        }
        if self.database.database_statement_timeout >= http.request_timeout {
            return Err(ConfigError::Inconsistent(format!(
                "DATABASE_STATEMENT_TIMEOUT ({}) must be shorter than STRATUS_REQUEST_TIMEOUT ({}): a slow query must fail before its request does.",
                humanize(self.database.database_statement_timeout),
                humanize(http.request_timeout)
            )));
        }
        Ok(Settings {
            listen: http.listen,
            database: self.database.database(&self.aws)?,
            board: self.database.board(&self.aws)?,
            files: self.files.settings(&self.database, &self.aws)?,
            admin: self.admin.settings()?,
            log: self.log.settings(),
            metrics: self.metrics.settings(),
            http: HttpSettings {
                request_timeout: http.request_timeout,
                upload_timeout: http.upload_timeout.max(http.request_timeout),
                max_concurrent_requests: http.max_concurrent_requests as usize,
                max_concurrent_uploads: http.max_concurrent_uploads as usize,
                upload_min_rate: MinTransferRate::new(
                    http.upload_min_bytes_per_second,
                    http.upload_rate_window,
                )?,
                keep_alive_timeout: http.keep_alive_timeout,
                trusted_proxies: http.trusted_proxies.clone(),
                public_origin: http.public_url.clone(),
                files_public: self.files.files_public,
            },
            lifecycle: LifecycleSettings {
                drain: http.drain_seconds,
                shutdown_timeout: http.shutdown_timeout,
            },
            instance: InstanceSettings {
                mode: http.instance_metadata,
                ecs_metadata_uri: http.ecs_metadata_uri.clone(),
            },
        })
    }
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

fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.is_empty() {
        Err("is empty".into())
    } else {
        Ok(SecretString::from(raw.to_owned()))
    }
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

/// Parses the process's command line and environment, or prints why not and exits (2). A bad value that
/// came from an environment variable is named by that variable, not only by its flag.
pub fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => name_the_variable(err).exit(),
    }
}

/// Adds "the value comes from STRATUS_X" to an invalid-value error whose flag was not on the command
/// line but whose variable is set.
fn name_the_variable(mut err: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let Some(long) = arg
        .split_whitespace()
        .next()
        .and_then(|flag| flag.strip_prefix("--"))
        .map(str::to_owned)
    else {
        return err;
    };
    let flag = format!("--{long}");
    let on_command_line = std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let variable = env_of(&Cli::command(), &long);
    if let Some(variable) = variable.filter(|v| !on_command_line && std::env::var_os(v).is_some()) {
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![
                format!("the value comes from the environment variable {variable}").into(),
            ]),
        );
    }
    err
}

/// The environment variable of the flag `--long`, anywhere in the command tree.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .or_else(|| command.get_subcommands().find_map(|sub| env_of(sub, long)))
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
mod tests;
