//! Metrics beyond `/metrics`: CloudWatch Embedded Metric Format documents on stdout.

use std::time::Duration;

use clap::Args;

use super::parse_duration;

/// Metrics settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Write the key service metrics to stdout once a minute as CloudWatch Embedded Metric Format
    /// documents (`1`/`true` on), which CloudWatch Logs turns into metrics with no agent.
    #[arg(long, env = "STRATUS_METRICS_EMF", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_emf: bool,

    /// The CloudWatch namespace of those metrics.
    #[arg(long, env = "STRATUS_METRICS_NAMESPACE", default_value = "Stratus", value_parser = cloudwatch_name)]
    pub metrics_namespace: String,

    /// This service's name: the `Service` dimension of every metric.
    #[arg(long, env = "STRATUS_SERVICE_NAME", default_value = "stratus", value_parser = cloudwatch_name)]
    pub service_name: String,

    /// How often the documents are written. A minute is CloudWatch's standard resolution and what the
    /// dashboard assumes; shorter is for tests.
    #[arg(long, env = "STRATUS_METRICS_EMF_INTERVAL", default_value = "60s", value_parser = positive_duration, hide = true)]
    pub metrics_emf_interval: Duration,
}

impl MetricsArgs {
    /// The metrics settings.
    pub fn settings(&self) -> MetricsSettings {
        MetricsSettings {
            emf: self.metrics_emf,
            namespace: self.metrics_namespace.clone(),
            service: self.service_name.clone(),
            emf_every: self.metrics_emf_interval,
        }
    }
}

/// Metrics settings.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Whether EMF documents are written.
    pub emf: bool,
    /// Their CloudWatch namespace.
    pub namespace: String,
    /// The `Service` dimension.
    pub service: String,
    /// How often they are written.
    pub emf_every: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            emf: false,
            namespace: "Stratus".into(),
            service: "stratus".into(),
            emf_every: Duration::from_secs(60),
        }
    }
}

/// A namespace or dimension value CloudWatch accepts: 1 to 255 characters, none of them a control
/// character.
fn cloudwatch_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.chars().count() > 255 || raw.chars().any(char::is_control) {
        return Err("must be 1 to 255 characters, none of them a control character".into());
    }
    Ok(raw.to_owned())
}

fn positive_duration(raw: &str) -> Result<Duration, String> {
    let every = parse_duration(raw)?;
    if every.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(every)
}
