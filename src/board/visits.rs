//! The visit counter, batched.
//!
//! Every successful `GET /` counts once. Under load, one row updated per request is the hot spot of the
//! whole service (one writer at a time on SQLite, a row lock on PostgreSQL, one partition on DynamoDB).
//! So visits queue here, and one task adds each batch with a single atomic `add_visits(n)`. Each caller
//! gets its own exact position in the sequence, and only after the batch's write has returned `Ok`.
//!
//! The page also shows the latest submission, so the batch reads it too
//! (`Store::add_visits_and_read_latest`): one read per batch instead of one per view, in the same
//! statement as the count on PostgreSQL. It is still a fresh read for every caller: the batch starts
//! after each of its callers queued, so it sees every submission acknowledged before the view began.
//!
//! A store with a writer of its own that groups writes anyway (SQLite's writer thread, see
//! [`Store::view_queue`]) gets each view directly instead: it counts the views of a group with one
//! statement and knows the newest submission itself, and the hand-offs to this task and back are saved.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{
    Submission,
    store::{Store, WriterQueue},
};
use crate::storage::StoreError;

type Reply = oneshot::Sender<Result<Visit, Arc<StoreError>>>;

/// One counted view.
#[derive(Debug, Clone)]
pub struct Visit {
    /// This view's position in the count: the total including it.
    pub number: u64,
    /// The latest submission, read after the view began; shared by the views of one batch.
    pub latest: Option<Arc<Submission>>,
}

/// Counts visits: through one batching task, or straight to the store's own writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VisitCounter {
    route: Route,
}

#[derive(Debug, Clone)]
enum Route {
    /// To this module's batching task.
    Batches(mpsc::Sender<Reply>),
    /// To the store's own writer.
    Writer(WriterQueue),
}

/// The most visits written in one statement.
const MAX_BATCH: usize = 1024;

impl VisitCounter {
    /// Starts the writer task. It ends when every `VisitCounter` clone is dropped and the queue is empty.
    /// (With a store that counts views itself, the task has nothing to do and ends at once.)
    pub fn spawn(store: Arc<dyn Store>) -> (Self, tokio::task::JoinHandle<()>) {
        if let Some(writer) = store.view_queue() {
            let route = Route::Writer(writer);
            return (Self { route }, tokio::spawn(async {}));
        }
        let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
        let task = tokio::spawn(write_batches(store, rx));
        let route = Route::Batches(queue);
        (Self { route }, task)
    }

    /// Counts one visit; returns the total including it and the latest submission.
    pub async fn record(&self) -> Result<Visit, Arc<StoreError>> {
        let queue = match &self.route {
            Route::Batches(queue) => queue,
            Route::Writer(writer) => {
                return writer.view().await.map_err(|err| {
                    crate::storage::failures::count("add_visits");
                    Arc::new(err)
                });
            }
        };
        let (reply, answer) = oneshot::channel();
        let closed = || {
            Arc::new(StoreError::unavailable(anyhow::anyhow!(
                "the visit counter has stopped"
            )))
        };
        queue.send(reply).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Reply>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A caller whose request was abandoned (timeout, client gone) no longer waits: do not count it.
        batch.retain(|reply: &Reply| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        crate::telemetry::record_visit_batch(n);
        match store.add_visits_and_read_latest(n).await {
            Ok((total, latest)) => {
                let first = total.saturating_sub(n) + 1;
                let latest = latest.map(Arc::new);
                for (offset, reply) in (0..).zip(batch.drain(..)) {
                    let _ = reply.send(Ok(Visit {
                        number: first + offset,
                        latest: latest.clone(),
                    }));
                }
            }
            Err(err) => {
                tracing::warn!(error.message = %err, error.cause_chain = ?err, batch = n, "counting visits failed");
                let err = Arc::new(err);
                for reply in batch.drain(..) {
                    let _ = reply.send(Err(Arc::clone(&err)));
                }
            }
        }
    }
}
