//! AWS clients, configured once: the SDK's default credential chain (environment, profile, ECS task role,
//! EC2 instance profile), `AWS_REGION`, `AWS_ENDPOINT_URL` for a local server, standard retries
//! (exponential backoff with full jitter, plus the retry quota that stops retry storms during an outage)
//! and timeouts on every call.
//!
//! The HTTPS client is rustls with ring, the same TLS stack sqlx uses, so the binary carries one.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::config::AwsSettings;

/// Attempts per call (the first one included).
const MAX_ATTEMPTS: u32 = 3;

/// The shared SDK configuration every AWS client of this process is built from.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    // One attempt may use half the call's budget, so a stalled attempt still leaves time for a retry.
    let attempt_timeout = (settings.call_timeout / 2).max(Duration::from_millis(100));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(25))
                .with_max_backoff(Duration::from_millis(500)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(settings.call_timeout)
                .build(),
        );
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Makes ring the process's default rustls provider (once; later calls do nothing), for the HTTPS clients
/// that take the default instead of being given one: object_store's S3 client is reqwest 0.13 built without
/// a provider of its own (so that the binary does not carry aws-lc beside ring), and refuses to build until
/// one is installed. Call it before building such a client.
pub fn use_ring_for_tls() {
    // `Err` only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An SDK error with its whole context (service code, message, request id), for logs. SDK errors'
/// own `Display` says only "service error".
pub(crate) fn describe<E: std::error::Error + Send + Sync + 'static>(err: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err))
}
