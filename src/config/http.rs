//! HTTP serving: the address, timeouts, concurrency limits, upload rates, proxies, the public URL,
//! shutdown timing and the instance's identity.

use std::{net::SocketAddr, num::NonZeroU64, time::Duration};

use clap::{Args, ValueEnum};
use ipnet::IpNet;

use super::{ConfigError, parse_duration};

/// HTTP settings, as given.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Address to listen on, `HOST:PORT` (an IP address or a host name such as `localhost`; a name that
    /// resolves to several addresses listens on the first IPv4 one); port 0 picks a free port (the bound
    /// address is logged).
    #[arg(long, env = "STRATUS_LISTEN", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The longest a request may take before it is answered 503.
    #[arg(long, env = "STRATUS_REQUEST_TIMEOUT", default_value = "10", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// The longest an upload (`POST /files`, `POST /api/v1/files`) may take; its body must also keep moving:
    /// a pause longer than `STRATUS_REQUEST_TIMEOUT` is answered 408.
    #[arg(long, env = "STRATUS_UPLOAD_TIMEOUT", default_value = "15m", value_parser = parse_duration)]
    pub upload_timeout: Duration,

    /// Requests handled at once; more are shed at once with 503 and `Retry-After` instead of queueing.
    /// Uploads have their own pool (`STRATUS_MAX_CONCURRENT_UPLOADS`) and take none of these.
    #[arg(long, env = "STRATUS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Uploads received at once; more are refused at once with 503 and `Retry-After`. A pool of their
    /// own, so slow or stalled uploads never take the slots pages and the API are served from.
    #[arg(long, env = "STRATUS_MAX_CONCURRENT_UPLOADS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_uploads: u32,

    /// The slowest an upload may arrive, in bytes per second, averaged over each
    /// `STRATUS_UPLOAD_RATE_WINDOW` of waiting for the client; slower is answered 408. `0` turns the check
    /// off (the idle timeout and `STRATUS_UPLOAD_TIMEOUT` still apply).
    #[arg(
        long,
        env = "STRATUS_UPLOAD_MIN_BYTES_PER_SECOND",
        default_value_t = 1024
    )]
    pub upload_min_bytes_per_second: u64,

    /// The window `STRATUS_UPLOAD_MIN_BYTES_PER_SECOND` is averaged over; the first one is the grace
    /// period every upload gets before it is judged.
    #[arg(long, env = "STRATUS_UPLOAD_RATE_WINDOW", default_value = "30s", value_parser = parse_duration)]
    pub upload_rate_window: Duration,

    /// How long an idle keep-alive connection stays open; keep it above the load balancer's (ALB: 60 s).
    #[arg(long, env = "STRATUS_KEEP_ALIVE_TIMEOUT", default_value = "75", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,

    /// Comma-separated CIDRs of proxies whose `X-Forwarded-For`/`-Proto` headers are believed.
    #[arg(long, env = "STRATUS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// The public address people reach the service at (`https://blog.example`, the CloudFront domain):
    /// the only host written into absolute links (feed, sitemap). Unset: the request's own host is used
    /// and those answers are not cached by shared caches.
    #[arg(long, env = "STRATUS_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// After SIGTERM: how long to keep serving while `/health` says draining, so the load balancer notices.
    #[arg(long, env = "STRATUS_DRAIN_SECONDS", default_value = "5", value_parser = parse_duration)]
    pub drain_seconds: Duration,

    /// After SIGTERM: the most the whole shutdown may take, drain included (keep it under ECS's 30 s).
    #[arg(long, env = "STRATUS_SHUTDOWN_TIMEOUT", default_value = "25", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Where the instance name comes from: `auto` (ECS task metadata when on ECS, IMDSv2 on EC2, else the
    /// hostname) or `hostname` (never ask a metadata service).
    #[arg(long, env = "STRATUS_INSTANCE_METADATA", value_enum, default_value_t = InstanceMetadata::Auto)]
    pub instance_metadata: InstanceMetadata,

    /// ECS task metadata endpoint v4 (ECS sets it).
    #[arg(long, env = "ECS_CONTAINER_METADATA_URI_V4", hide = true)]
    pub ecs_metadata_uri: Option<String>,
}

/// Where the instance identity is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstanceMetadata {
    /// ECS metadata if present, IMDSv2 when the machine says it is EC2, else the hostname.
    Auto,
    /// The hostname only.
    Hostname,
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

/// `STRATUS_LISTEN`: `IP:PORT`, or `HOST:PORT` with a host name resolved once, now (IPv4 preferred, as
/// `localhost` usually means 127.0.0.1 to the clients that will connect).
pub fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    if let Ok(address) = raw.parse::<SocketAddr>() {
        return Ok(address);
    }
    if raw
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!(
            "`{raw}` is not HOST:PORT (e.g. 127.0.0.1:8000, localhost:8000 or [::1]:8000)"
        ));
    }
    let addresses: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(raw)
        .map_err(|err| format!("cannot resolve `{raw}`: {err}"))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| format!("`{raw}` resolves to no address"))
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
