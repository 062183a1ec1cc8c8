//! Wiring: settings in, a bound, running service out. Tests and `main` share this path.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use anyhow::Context as _;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    app::{instance::Instance, lifecycle::Lifecycle, server},
    board::VisitCounter,
    config::Settings,
    http::{AppParts, AppState, Limits, Readiness, router},
    storage::{self, Storage},
    telemetry,
};

/// A service that is built and bound but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    storage: Storage,
    visit_writer: JoinHandle<()>,
    settings: Settings,
}

impl Application {
    /// Opens the store (migrating it), binds the listener, starts background work.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let started = Instant::now();
        telemetry::emf::start(&settings.metrics);
        let storage = storage::open(
            &settings.database,
            settings.board.as_ref(),
            storage::Role::Serve,
        )
        .await?;
        let store = Arc::clone(&storage.board);
        let (visits, visit_writer) = VisitCounter::spawn(Arc::clone(&store));
        let instance = Instance::from_hostname();
        instance.spawn_lookup(&settings.instance);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("could not listen on {}", settings.listen))?;
        let address = listener
            .local_addr()
            .context("could not read the bound address")?;
        let files = crate::files::Files::open(&settings.files, &storage.sql).await?;
        let state = AppState::new(AppParts {
            store: Arc::clone(&store),
            sql: storage.sql.clone(),
            auth: Arc::new(crate::auth::Auth::new(&settings.admin)),
            files,
            body_idle_timeout: settings.http.request_timeout,
            upload_min_rate: settings.http.upload_min_rate,
            capacity: crate::http::middleware::Capacity::new(
                settings.http.max_concurrent_requests,
                settings.http.max_concurrent_uploads,
            ),
            visits,
            readiness: Arc::new(
                Readiness::new(storage.all())
                    .with_disks(storage::disk_space::DiskWatch::from_settings(&settings)),
            ),
            lifecycle: Lifecycle::new(),
            instance,
            proxies: settings.http.trusted_proxies.clone().into(),
            public_origin: settings.http.public_origin.as_deref().map(Arc::from),
            files_public: settings.http.files_public,
            metrics: telemetry::metrics_handle(),
            counters: telemetry::Counters::new(),
        });
        if state.auth.writes_are_open() {
            tracing::warn!(
                "no admin and no API token are configured: EVERYTHING IS OPEN. Anyone can add users, upload and delete files, list every user's name and e-mail address and download every file. Set STRATUS_ADMIN_PASSWORD_HASH (see `stratus hash-password`) or STRATUS_API_TOKEN_SHA256 before exposing this service"
            );
        }
        if state.public_origin.is_none() {
            tracing::info!(
                "STRATUS_PUBLIC_URL is not set: the feed and sitemap take their links' host from each request and are not cached by shared caches"
            );
        }
        tracing::info!(
            %address,
            backend = store.backend(),
            database = storage.sql.backend(),
            startup_ms = started.elapsed().as_secs_f64() * 1000.0,
            version = env!("CARGO_PKG_VERSION"),
            "listening"
        );
        // Start-up is worth seeing at once, whatever the log buffer's interval.
        telemetry::flush_logs();
        Ok(Self {
            listener,
            address,
            state,
            storage,
            visit_writer,
            settings,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` resolves, then drains and stops:
    /// 1. `/health` answers 503 `draining` at once; everything else is still served;
    /// 2. after `drain` the listener closes and open connections finish their request, then close;
    /// 3. the store flushes and closes.
    ///
    /// Returns an error if step 2 did not finish within `shutdown_timeout`.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            storage,
            visit_writer,
            settings,
            ..
        } = self;
        let lifecycle = state.lifecycle.clone();
        let limits = Limits {
            request_timeout: settings.http.request_timeout,
            write_grace: settings.write_grace(),
            upload_timeout: settings.http.upload_timeout,
        };
        let app = router(state, limits);
        let mut serving = tokio::spawn(server::serve(
            listener,
            app,
            settings.http.keep_alive_timeout,
            lifecycle.stop_accepting_token(),
        ));

        tokio::select! {
            () = shutdown => {}
            result = &mut serving => {
                return result.context("the server task failed");
            }
        }
        let deadline = Instant::now() + settings.lifecycle.shutdown_timeout;
        lifecycle.start_draining();
        tracing::info!(
            drain_seconds = settings.lifecycle.drain.as_secs_f64(),
            "draining: /health now answers 503"
        );
        tokio::time::sleep(settings.lifecycle.drain).await;
        lifecycle.stop_accepting();
        tracing::info!("stopped accepting connections; waiting for in-flight requests");
        let finished = tokio::time::timeout_at(deadline.into(), &mut serving).await;
        // The router (and with it every `VisitCounter` clone) is gone once serving ended: the visit writer
        // then drains its queue and stops.
        if finished.is_ok() {
            let _ = tokio::time::timeout_at(deadline.into(), visit_writer).await;
        } else {
            visit_writer.abort();
        }
        // Closing waits for pooled connections to come back; a stuck one must not hold the exit past the
        // shutdown deadline (ECS would SIGKILL us anyway).
        if tokio::time::timeout_at(deadline.into(), storage.close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close before the shutdown deadline; exiting anyway");
        }
        match finished {
            Ok(result) => {
                result.context("the server task failed")?;
                tracing::info!("shutdown complete");
                Ok(())
            }
            Err(_) => {
                serving.abort();
                anyhow::bail!(
                    "connections were still open after STRATUS_SHUTDOWN_TIMEOUT ({} s); they were cut",
                    settings.lifecycle.shutdown_timeout.as_secs_f64()
                )
            }
        }
    }
}
