//! Stores that start while their server is down.
//!
//! A store's set-up (read the password, connect, migrate, check the table) is tried once while the service
//! starts, bounded in time. When it cannot finish because the server is unreachable, the service starts
//! anyway: every store call answers [`StoreError::Unavailable`] (so pages and the API answer 503 and
//! `/health` 503), and a background task retries until the set-up succeeds. Only a definite
//! misconfiguration found on that first try (a table whose keys are wrong, a password file that does not
//! exist, an edited migration) stops start-up.

use std::{
    future::Future,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use rand::Rng as _;
use tokio_util::sync::CancellationToken;

use super::StoreError;

/// Why a set-up attempt failed.
#[derive(Debug)]
pub(crate) enum InitError {
    /// The server is unreachable, slow or refusing for now: trying again may work.
    Retry(anyhow::Error),
    /// The configuration or the server's content is wrong: trying again will not help until someone acts.
    Fatal(anyhow::Error),
}

/// The longest wait between two background attempts: a server that comes back is noticed within it.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// After a fatal answer, someone must act (fix the table, the grant); ask again only this often.
const FATAL_BACKOFF: Duration = Duration::from_secs(10);

/// A value (a pool, a client) that exists once the set-up has succeeded.
#[derive(Debug)]
pub(crate) struct Ready<T> {
    backend: &'static str,
    value: OnceLock<T>,
    last_error: Mutex<Option<String>>,
    stop: CancellationToken,
}

impl<T: Send + Sync + 'static> Ready<T> {
    /// Not ready yet.
    pub(crate) fn new(backend: &'static str) -> Arc<Self> {
        Arc::new(Self {
            backend,
            value: OnceLock::new(),
            last_error: Mutex::new(None),
            stop: CancellationToken::new(),
        })
    }

    /// The value, or `Unavailable` while the set-up has not succeeded yet.
    pub(crate) fn get(&self) -> Result<&T, StoreError> {
        self.value.get().ok_or_else(|| {
            let last = self
                .last_error
                .lock()
                .ok()
                .and_then(|last| last.clone())
                .unwrap_or_else(|| "still starting".into());
            StoreError::unavailable(anyhow::anyhow!(
                "the {} store is not set up yet (last attempt: {last})",
                self.backend
            ))
        })
    }

    /// The value, if the set-up has succeeded.
    pub(crate) fn value(&self) -> Option<&T> {
        self.value.get()
    }

    /// Stops the background attempts (at shutdown).
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    fn set(&self, value: T) {
        // Only one task ever sets the value: the first attempt, or else the background loop.
        let _ = self.value.set(value);
        if let Ok(mut last) = self.last_error.lock() {
            *last = None;
        }
    }

    fn record(&self, err: &anyhow::Error) -> bool {
        let text = format!("{err:#}");
        match self.last_error.lock() {
            Ok(mut last) => {
                let changed = last.as_deref() != Some(text.as_str());
                *last = Some(text);
                changed
            }
            Err(_) => true,
        }
    }
}

/// Runs `attempt` once within `budget`. Success: ready. Fatal: the error, for start-up to stop with.
/// Otherwise a background task retries (each attempt within `budget`, with jittered backoff up to
/// [`MAX_BACKOFF`]) until an attempt succeeds or [`Ready::stop`] is called.
pub(crate) async fn bring_up<T, F, Fut>(
    ready: &Arc<Ready<T>>,
    budget: Duration,
    attempt: F,
) -> anyhow::Result<()>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, InitError>> + Send + 'static,
{
    let backend = ready.backend;
    match tokio::time::timeout(budget, attempt()).await {
        Ok(Ok(value)) => {
            ready.set(value);
            return Ok(());
        }
        Ok(Err(InitError::Fatal(err))) => return Err(err),
        Ok(Err(InitError::Retry(err))) => {
            ready.record(&err);
            tracing::warn!(backend, error.message = %err, error.cause_chain = ?err,
                "the store is not reachable; serving 503 and retrying in the background");
        }
        Err(_) => {
            ready.record(&anyhow::anyhow!("no answer within {budget:?}"));
            tracing::warn!(
                backend,
                budget_ms = budget.as_millis() as u64,
                "the store did not answer in time; serving 503 and retrying in the background"
            );
        }
    }
    let ready = Arc::clone(ready);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut attempts: u64 = 1;
        loop {
            let jittered = backoff.mul_f64(rand::rng().random_range(0.5..=1.0));
            tokio::select! {
                () = ready.stop.cancelled() => return,
                () = tokio::time::sleep(jittered) => {}
            }
            attempts += 1;
            let outcome = tokio::select! {
                () = ready.stop.cancelled() => return,
                outcome = tokio::time::timeout(budget, attempt()) => outcome,
            };
            match outcome {
                Ok(Ok(value)) => {
                    ready.set(value);
                    tracing::info!(backend, attempts, "the store is set up; serving again");
                    return;
                }
                Ok(Err(InitError::Retry(err))) => {
                    // One warning per distinct problem (and every 60 attempts), not one per second.
                    if ready.record(&err) || attempts.is_multiple_of(60) {
                        tracing::warn!(backend, attempts, error.message = %err, error.cause_chain = ?err,
                            "the store is still not reachable; retrying");
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Ok(Err(InitError::Fatal(err))) => {
                    ready.record(&err);
                    tracing::error!(backend, attempts, error.message = %err, error.cause_chain = ?err,
                        "the store cannot be used until this is fixed; retrying");
                    backoff = FATAL_BACKOFF;
                }
                Err(_) => {
                    ready.record(&anyhow::anyhow!("no answer within {budget:?}"));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
    Ok(())
}
