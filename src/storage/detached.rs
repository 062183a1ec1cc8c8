//! Store calls that a caller's cancellation cannot cut in half.
//!
//! A request that times out (or whose client goes away) drops its future. If that future was inside a
//! store call, the call is cancelled wherever it was: sqlx 0.8's pool is not cancel-safe while acquiring
//! a connection, and the fault tests saw a pool stop handing out connections for good after a burst of
//! request timeouts, while PostgreSQL showed them idle. Here every call runs in its own task: the caller
//! may stop waiting, the call itself finishes (each store bounds its calls with its own deadline, so these
//! tasks cannot pile up).
//!
//! A write whose caller has already given up (and so was answered 503) should not happen at all, or the
//! client's 503 would be a lie. The call knows through [`caller_is_waiting`]: a store checks it once it has
//! its connection, just before the statement that writes.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{Page, Store, StoreError};
use crate::domain::{PageRequest, Submission, SubmissionId, Username};

/// Wraps a store so that each call runs to completion in its own task.
#[derive(Debug)]
pub struct Detached(Arc<dyn Store>);

impl Detached {
    /// Wraps `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }
}

tokio::task_local! {
    /// Closed once the caller of the current detached call has stopped waiting for it.
    static CALLER: oneshot::Sender<()>;
}

/// Whether the caller of the current store call still waits for its answer (always true outside
/// [`Detached`]).
pub(crate) fn caller_is_waiting() -> bool {
    CALLER
        .try_with(|caller| !caller.is_closed())
        .unwrap_or(true)
}

/// Runs `call` on its own task and waits for it.
async fn detached<T, F, Fut>(store: &Arc<dyn Store>, call: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    // The caller holds `waiting` while it awaits the task; dropping the caller's future drops it too.
    let (caller, waiting) = oneshot::channel::<()>();
    let result = tokio::spawn(CALLER.scope(caller, call(Arc::clone(store)))).await;
    drop(waiting);
    result.map_err(|err| {
        StoreError::unavailable(anyhow::Error::new(err).context("a store call panicked"))
    })?
}

#[async_trait]
impl Store for Detached {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        detached(&self.0, |store| async move { store.ping().await }).await
    }

    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        let submission = submission.clone();
        detached(&self.0, |store| async move {
            store.insert_submission(&submission).await
        })
        .await
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        detached(
            &self.0,
            |store| async move { store.latest_submission().await },
        )
        .await
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        detached(&self.0, |store| async move { store.submission(id).await }).await
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let (username, page) = (username.clone(), page.clone());
        detached(&self.0, |store| async move {
            store.submissions_by_user(&username, &page).await
        })
        .await
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        detached(&self.0, |store| async move { store.add_visits(n).await }).await
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        detached(&self.0, |store| async move { store.visit_count().await }).await
    }

    async fn close(&self) {
        self.0.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use tokio::sync::Notify;

    use super::*;
    use crate::domain::{EightDigits, Username};

    /// Holds each insert until released, then records whether its caller was still waiting.
    #[derive(Debug, Default)]
    struct Probe {
        release: Notify,
        seen: Mutex<Option<bool>>,
    }

    fn not_used<T>() -> Result<T, StoreError> {
        Err(StoreError::unavailable(anyhow::anyhow!(
            "not used in this test"
        )))
    }

    #[async_trait]
    impl Store for Probe {
        fn backend(&self) -> &'static str {
            "probe"
        }
        async fn ping(&self) -> Result<(), StoreError> {
            not_used()
        }
        async fn insert_submission(&self, _: &Submission) -> Result<(), StoreError> {
            self.release.notified().await;
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Some(caller_is_waiting());
            }
            Ok(())
        }
        async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
            not_used()
        }
        async fn submission(&self, _: SubmissionId) -> Result<Option<Submission>, StoreError> {
            not_used()
        }
        async fn submissions_by_user(
            &self,
            _: &Username,
            _: &PageRequest,
        ) -> Result<Page<Submission>, StoreError> {
            not_used()
        }
        async fn add_visits(&self, _: u64) -> Result<u64, StoreError> {
            not_used()
        }
        async fn visit_count(&self) -> Result<u64, StoreError> {
            not_used()
        }
        async fn close(&self) {}
    }

    fn submission() -> Option<Submission> {
        Some(Submission::new(
            Username::parse("ada").ok()?,
            EightDigits::parse("01234567").ok()?,
        ))
    }

    async fn seen_after(probe: &Probe) -> Option<bool> {
        for _ in 0..100 {
            if let Some(seen) = probe.seen.lock().ok().and_then(|s| *s) {
                return Some(seen);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn a_call_whose_caller_waits_sees_it_waiting() {
        let probe = Arc::new(Probe::default());
        let store = Detached::new(Arc::clone(&probe) as Arc<dyn Store>);
        let new = submission().expect("valid test values");
        let releaser = Arc::clone(&probe);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            releaser.release.notify_one();
        });
        assert!(store.insert_submission(&new).await.is_ok());
        assert_eq!(seen_after(&probe).await, Some(true));
    }

    #[tokio::test]
    async fn a_call_whose_caller_gave_up_finishes_and_sees_it_gone() {
        let probe = Arc::new(Probe::default());
        let store = Detached::new(Arc::clone(&probe) as Arc<dyn Store>);
        let new = submission().expect("valid test values");
        // The caller stops waiting (a request timeout), then the call gets its turn.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), store.insert_submission(&new))
                .await
                .is_err()
        );
        probe.release.notify_one();
        assert_eq!(
            seen_after(&probe).await,
            Some(false),
            "the call ran on and knew its caller was gone"
        );
    }
}
