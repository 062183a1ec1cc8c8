//! The visit counter, batched.
//!
//! Every successful `GET /` counts once. Under load, one row updated per request is the hot spot of the
//! whole service (one writer at a time on SQLite, a row lock on PostgreSQL, one partition on DynamoDB).
//! So visits queue here, and one task adds each batch with a single atomic `add_visits(n)`. Each caller
//! gets its own exact position in the sequence, and only after the batch's write has returned `Ok`.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};

type Reply = oneshot::Sender<Result<u64, Arc<StoreError>>>;

/// Counts visits through one writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VisitCounter {
    queue: mpsc::Sender<Reply>,
}

/// The most visits written in one statement.
const MAX_BATCH: usize = 1024;

impl VisitCounter {
    /// Starts the writer task. It ends when every `VisitCounter` clone is dropped and the queue is empty.
    pub fn spawn(store: Arc<dyn Store>) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
        let task = tokio::spawn(write_batches(store, rx));
        (Self { queue }, task)
    }

    /// Counts one visit and returns the total including it.
    pub async fn record(&self) -> Result<u64, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        let closed = || {
            Arc::new(StoreError::unavailable(anyhow::anyhow!(
                "the visit counter has stopped"
            )))
        };
        self.queue.send(reply).await.map_err(|_| closed())?;
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
        match store.add_visits(n).await {
            Ok(total) => {
                let first = total.saturating_sub(n) + 1;
                for (offset, reply) in (0..).zip(batch.drain(..)) {
                    let _ = reply.send(Ok(first + offset));
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
