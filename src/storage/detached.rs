//! Store calls that a caller's cancellation cannot cut in half.
//!
//! A request that times out (or whose client goes away) drops its future. If that future was inside a
//! store call, the call is cancelled wherever it was: sqlx 0.8's pool is not cancel-safe while acquiring
//! a connection, and the fault tests saw a pool stop handing out connections for good after a burst of
//! request timeouts, while PostgreSQL showed them idle. Here every call runs in its own task: the caller
//! may stop waiting, the call itself finishes (each store bounds its calls with its own deadline, so these
//! tasks cannot pile up).

use std::sync::Arc;

use async_trait::async_trait;

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

/// Runs `call` on its own task and waits for it.
async fn detached<T, F, Fut>(store: &Arc<dyn Store>, call: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    tokio::spawn(call(Arc::clone(store))).await.map_err(|err| {
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
