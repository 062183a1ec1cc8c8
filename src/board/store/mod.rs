//! The board's storage: one trait, [`Store`], and one implementation per engine.
//!
//! - [`sqlite`]: the embedded default, one file, with a writer thread that commits in groups;
//! - [`postgres`]: RDS or any PostgreSQL, with inserts grouped per round trip;
//! - [`dynamodb`]: one table, submissions and the counter side by side.
//!
//! The SQLite and PostgreSQL stores are also the handles of the relational database that users, the blog,
//! sessions and file metadata share ([`crate::storage::SqlDb`]): one pool per process, opened once.
//!
//! Handlers hold an `Arc<dyn Store>`: a trait object keeps the HTTP layer free of generics, and one virtual
//! call per request costs nothing next to a database round trip.

pub mod dynamodb;
pub mod postgres;
pub mod sqlite;

use std::fmt;

use async_trait::async_trait;

pub use dynamodb::DynamoDbStore;
pub use postgres::PostgresStore;
pub use sqlite::{SqliteStore, WriterQueue};

use super::{Submission, SubmissionId, Username};
use crate::storage::{Page, PageRequest, StoreError};

/// Everything the board and the visit counter need from a database.
///
/// Contract, for every implementation (the contract tests check it against each):
/// - every submission is kept; none is ever overwritten;
/// - `latest_submission` and `visit_count` cost the same with 10 or 10 million rows;
/// - `add_visits` is atomic and exact under any concurrency, and returns the new total;
/// - a method that returns `Ok` has made its write durable.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Short engine name for logs and health (`sqlite`, `postgres`, `dynamodb`).
    fn backend(&self) -> &'static str;

    /// A cheap round trip that proves the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new submission.
    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError>;

    /// The most recent submission of anyone, if there is one.
    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError>;

    /// One submission by id.
    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError>;

    /// A user's submissions, newest first.
    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError>;

    /// Adds `n` visits atomically and returns the new total.
    async fn add_visits(&self, n: u64) -> Result<u64, StoreError>;

    /// Adds `n` visits and reads the latest submission, both begun after this call was made (so the read
    /// sees every submission acknowledged before it), and the visits counted only if the read succeeded:
    /// what a batch of `GET /` views needs, in one round trip where the engine allows it. The default reads
    /// first, then counts.
    async fn add_visits_and_read_latest(
        &self,
        n: u64,
    ) -> Result<(u64, Option<Submission>), StoreError> {
        let latest = self.latest_submission().await?;
        let total = self.add_visits(n).await?;
        Ok((total, latest))
    }

    /// The total number of visits, without counting one.
    async fn visit_count(&self) -> Result<u64, StoreError>;

    /// True when this store's reads (everything but `insert_submission` and `add_visits`) run to completion
    /// synchronously, with no await point, so that a caller's cancellation cannot interrupt them and
    /// `Detached` may call them directly instead of on their own task.
    fn reads_inline(&self) -> bool {
        false
    }

    /// The queue of a writer of the store's own that counts views of the board one by one, grouping
    /// them with whatever else it commits (SQLite's writer thread): [`VisitCounter`] then sends each view
    /// straight to it. `None` (the default): views are batched by [`VisitCounter`]'s task and counted
    /// with [`Store::add_visits_and_read_latest`].
    fn view_queue(&self) -> Option<WriterQueue> {
        None
    }

    /// True when `insert_submission` only queues the row for a writer of the store's own and waits
    /// for its answer, so that a dropped caller cannot interrupt the write (the writer skips a write whose
    /// caller left before it was claimed, see `detached`): `Detached` then runs it on the caller's task.
    fn inserts_queued(&self) -> bool {
        false
    }

    /// Finishes pending work and closes connections. Called once, at shutdown.
    async fn close(&self);
}
