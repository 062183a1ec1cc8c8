//! AWS clients: region and endpoint, shared by DynamoDB, S3, SSM and Secrets Manager.

use std::time::Duration;

use clap::Args;

/// AWS settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS region for DynamoDB, SSM and Secrets Manager (else the SDK's default chain decides).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// Send AWS calls here instead of the real endpoints (a local DynamoDB or moto).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The client settings, with the connect and whole-call timeouts of the store they serve.
    pub fn settings(&self, connect_timeout: Duration, call_timeout: Duration) -> AwsSettings {
        AwsSettings {
            region: self.aws_region.clone().filter(|r| !r.is_empty()),
            endpoint_url: self.aws_endpoint_url.clone().filter(|u| !u.is_empty()),
            connect_timeout,
            call_timeout,
        }
    }
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
