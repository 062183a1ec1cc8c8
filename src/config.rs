//! Configuration: the only place that reads flags and the environment.
//!
//! Every flag has an environment variable of the same meaning (`--listen` / `STRATUS_LISTEN`), parsed into
//! typed settings before anything binds a port, so a bad value stops start-up with one readable line.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

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
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
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

    /// Where data lives: `sqlite://PATH` (embedded, the default).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/stratus.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Connections per pool (SQLite: read connections beside the single writer).
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub database_pool_size: u32,

    /// Log line format: `json` (one object per line, for machines) or `pretty` (for people).
    #[arg(long, env = "STRATUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` directive syntax (e.g. `info,stratus=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log_filter: String,

    /// After SIGTERM: how long to keep serving while `/health` says draining, so the load balancer notices.
    #[arg(long, env = "STRATUS_DRAIN_SECONDS", default_value = "5", value_parser = parse_duration, global = true)]
    pub drain_seconds: Duration,

    /// After SIGTERM: the most the whole shutdown may take, drain included (keep it under ECS's 30 s).
    #[arg(long, env = "STRATUS_SHUTDOWN_TIMEOUT", default_value = "25", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// The longest a request may take before it is answered 503.
    #[arg(long, env = "STRATUS_REQUEST_TIMEOUT", default_value = "10", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Requests handled at once; more are shed at once with 503 and `Retry-After` instead of queueing.
    #[arg(long, env = "STRATUS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_concurrent_requests: u32,

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
    /// Which store.
    pub database: DatabaseUrl,
    /// Logging.
    pub log: LogSettings,
    /// HTTP serving.
    pub http: HttpSettings,
    /// Shutdown timing.
    pub lifecycle: LifecycleSettings,
    /// Instance identity lookup.
    pub instance: InstanceSettings,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// Filter directives.
    pub filter: String,
}

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Concurrency limit before shedding.
    pub max_concurrent_requests: usize,
    /// Idle keep-alive timeout.
    pub keep_alive_timeout: Duration,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
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

/// The store `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`.
    Sqlite(SqliteSettings),
}

/// SQLite settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// The database file.
    pub path: PathBuf,
    /// Read connections.
    pub read_connections: u32,
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
}

impl SettingsArgs {
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
            database: parse_database_url(&self.database_url, self.database_pool_size)?,
            log: LogSettings {
                format: self.log_format,
                filter: self.log_filter.clone(),
            },
            http: HttpSettings {
                request_timeout: self.request_timeout,
                max_concurrent_requests: self.max_concurrent_requests as usize,
                keep_alive_timeout: self.keep_alive_timeout,
                trusted_proxies: self.trusted_proxies.clone(),
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

fn parse_database_url(raw: &str, pool_size: u32) -> Result<DatabaseUrl, ConfigError> {
    let (scheme, rest) = raw.split_once(':').ok_or_else(|| {
        ConfigError::DatabaseUrl("expected a URL such as sqlite://data/stratus.db".into())
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
            Ok(DatabaseUrl::Sqlite(SqliteSettings {
                path: PathBuf::from(path),
                read_connections: pool_size,
            }))
        }
        other => Err(ConfigError::DatabaseUrl(format!(
            "unsupported scheme `{other}`; supported: sqlite://PATH"
        ))),
    }
}

/// Parses a duration: plain seconds (`25`), or a number with `ms`, `s` or `m` (`250ms`, `25s`, `1m`).
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
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{raw}` (use ms, s or m)"
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
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            parse_database_url("sqlite://data/stratus.db", 4).ok(),
            Some(DatabaseUrl::Sqlite(SqliteSettings {
                path: "data/stratus.db".into(),
                read_connections: 4
            }))
        );
        assert!(parse_database_url("sqlite::memory:", 4).is_err());
        assert!(parse_database_url("mysql://x", 4).is_err());
        assert!(parse_database_url("nonsense", 4).is_err());
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
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
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
    }
}
