//! Retries and failed attempts of the AWS SDK's calls, counted in `/metrics`.
//!
//! The SDK retries throttling errors, 5xx answers and transient connection failures by itself (standard
//! mode, `storage::aws`), except where a call turns retries off (the visit counter's `ADD`). Those retries
//! are invisible to the service's own error counts, which see only the calls that failed in the end; an
//! interceptor on each client counts them:
//! - `stratus_aws_retries_total{service}`: attempts after the first;
//! - `stratus_aws_attempt_errors_total{service, status}`: attempts that failed, by HTTP status (`none`:
//!   no answer, a connection failure or a timeout), whether or not a retry then succeeded.

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::context::{
            BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
        },
        retries::RequestAttempts,
    },
};

/// Counts one client's retries and failed attempts under `service`.
#[derive(Debug, Clone, Copy)]
pub struct CallMetrics {
    service: &'static str,
}

impl CallMetrics {
    /// An interceptor for a client of `service` (`dynamodb`, ...).
    pub fn new(service: &'static str) -> Self {
        metrics::counter!("stratus_aws_retries_total", "service" => service).absolute(0);
        Self { service }
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "StratusCallMetrics"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|attempts| attempts.attempts() > 1)
        {
            metrics::counter!("stratus_aws_retries_total", "service" => self.service).increment(1);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(_)) = context.output_or_error() {
            let status = context
                .response()
                .map_or_else(|| "none".to_owned(), |r| r.status().as_u16().to_string());
            metrics::counter!(
                "stratus_aws_attempt_errors_total",
                "service" => self.service,
                "status" => status
            )
            .increment(1);
        }
        Ok(())
    }
}

/// A DynamoDB client configuration from the shared SDK configuration, with [`CallMetrics`].
pub fn dynamodb_config(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Config {
    aws_sdk_dynamodb::config::Builder::from(config)
        .interceptor(CallMetrics::new("dynamodb"))
        .build()
}

/// object_store's S3 client retries by itself too (5xx, 429, connection failures); this connector counts
/// each failed attempt as `stratus_aws_attempt_errors_total{service="s3"}`.
#[derive(Debug, Default)]
pub struct CountingS3Connector(object_store::client::ReqwestConnector);

impl object_store::client::HttpConnector for CountingS3Connector {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        metrics::counter!("stratus_aws_attempt_errors_total", "service" => "s3", "status" => "none")
            .absolute(0);
        let inner = self.0.connect(options)?;
        Ok(object_store::client::HttpClient::new(CountingS3(inner)))
    }
}

#[derive(Debug)]
struct CountingS3(object_store::client::HttpClient);

#[async_trait::async_trait]
impl object_store::client::HttpService for CountingS3 {
    async fn call(
        &self,
        request: object_store::client::HttpRequest,
    ) -> Result<object_store::client::HttpResponse, object_store::client::HttpError> {
        let result = self.0.execute(request).await;
        let failed = match &result {
            Ok(response) if response.status().is_server_error() || response.status() == 429 => {
                Some(response.status().as_u16().to_string())
            }
            Ok(_) => None,
            Err(_) => Some("none".to_owned()),
        };
        if let Some(status) = failed {
            metrics::counter!("stratus_aws_attempt_errors_total", "service" => "s3", "status" => status)
                .increment(1);
        }
        result
    }
}
