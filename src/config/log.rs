//! Logging: the line format, the filter and how long a line may wait to be written.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse_duration;

/// Log settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log line format: `json` (one object per line, for machines) or `pretty` (for people).
    #[arg(long, env = "STRATUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` directive syntax (e.g. `info,stratus=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// How long a log line may wait in memory before it is written, so that many go out in one write
    /// (`WARN` and `ERROR` lines go at once); `0` writes each line as it is made.
    #[arg(long, env = "STRATUS_LOG_FLUSH", default_value = "100ms", value_parser = parse_duration)]
    pub log_flush: Duration,
}

impl LogArgs {
    /// The log settings.
    pub fn settings(&self) -> LogSettings {
        LogSettings {
            format: self.log_format,
            filter: self.log_filter.clone(),
            flush_every: self.log_flush,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
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
