//! Process lifecycle: the shutdown signal and the draining state everyone can see.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio_util::sync::CancellationToken;

/// Shared lifecycle state. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    stop_accepting: CancellationToken,
}

impl Lifecycle {
    /// A lifecycle in the serving state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Readiness turns 503 `draining`; requests are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the process is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Fires when the server must stop accepting connections.
    pub fn stop_accepting_token(&self) -> CancellationToken {
        self.stop_accepting.clone()
    }

    /// Stops accepting connections; in-flight requests still finish.
    pub fn stop_accepting(&self) {
        self.stop_accepting.cancel();
    }
}

/// Resolves on SIGTERM (ECS, systemd, Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error.message = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error.message = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {
            tracing::info!(
                signal = "SIGINT",
                "shutdown requested: draining, then stopping; press Ctrl-C again to stop at once"
            );
            tokio::spawn(stop_on_second_ctrl_c());
        }
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// A second Ctrl-C while draining: the person at the terminal does not want to wait. In-flight requests
/// are cut off; what was acknowledged is already durable.
async fn stop_on_second_ctrl_c() {
    if tokio::signal::ctrl_c().await.is_ok() {
        tracing::warn!(signal = "SIGINT", "second Ctrl-C: stopping at once");
        crate::telemetry::flush_logs();
        std::process::exit(130);
    }
}
