//! Storage: one trait for everything the board and counter keep, one implementation per engine (the
//! relational database of `DATABASE_URL`, or DynamoDB with `STRATUS_BOARD_URL`), and the relational handle
//! ([`SqlDb`]) that users, the blog, sessions and file metadata share.
//!
//! Handlers hold an `Arc<dyn Store>`: a trait object keeps the HTTP layer free of generics, and one virtual
//! call per request costs nothing next to a database round trip.

mod app_role;
pub mod aws;
pub mod aws_metrics;
mod detached;
pub mod disk_space;
mod dynamodb;
pub mod dynamodb_tables;
mod paging;
mod password;
mod postgres;
mod ready;
mod schema_version;
pub mod sql;
mod sqlite;
mod visits;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

pub use app_role::{RoleName, RoleNameError};
pub use detached::Detached;
pub use detached::with_deadline;
pub(crate) use detached::{claim_queued, claim_write, current_call, detach};
pub use dynamodb::DynamoDbStore;
pub(crate) use dynamodb::check_table as check_dynamodb_table;
pub use postgres::PostgresStore;
pub(crate) use ready::InitError;
pub use sql::{SqlConn, SqlDb, SqlPool, is_unique_violation};
pub use sqlite::{SqliteStore, WriterQueue};
pub use visits::{Visit, VisitCounter};

use crate::{
    config::{DatabaseUrl, DynamoDbSettings},
    domain::{Cursor, PageRequest, Submission, SubmissionId, Username},
};

/// A page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// What can go wrong in a store, as far as a caller must tell cases apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time; retrying later may work.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A cursor that this store did not write (or that was tampered with).
    #[error("the cursor is not one this store wrote")]
    InvalidCursor,
}

impl StoreError {
    /// Wraps any infrastructure error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Whether a failed group write may have failed because of one of its writes (a constraint, or a value
    /// the database refused), so that making the writes one by one can save the others.
    ///
    /// Timeouts, lock waits and lost connections fail every write of a group alike. Retrying those one by
    /// one would keep callers whose writes were already claimed waiting past the time they were promised an
    /// answer in (the request's deadline plus the statement timeout); a retry that then succeeds after the
    /// caller was answered 503 is exactly the lie `storage::detached` exists to prevent (the fault suite's
    /// slow-database fault found it: writes answered 503 and stored).
    pub(crate) fn is_row_specific(&self) -> bool {
        let Self::Unavailable(err) = self else {
            return false;
        };
        err.chain().any(|cause| {
            if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
                return db.kind() != sqlx::error::ErrorKind::Other
                    || db.code().is_some_and(|code| code.starts_with("22"));
            }
            // SQLite's writer thread (rusqlite): a constraint, or a value of the wrong type or size.
            cause
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code)
                .is_some_and(|code| {
                    matches!(
                        code,
                        rusqlite::ErrorCode::ConstraintViolation
                            | rusqlite::ErrorCode::TypeMismatch
                            | rusqlite::ErrorCode::TooBig
                    )
                })
        })
    }
}

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

/// The stores a running service uses.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The board's store: the relational database, or DynamoDB when `STRATUS_BOARD_URL` says so.
    pub board: Arc<dyn Store>,
    /// The relational database (`DATABASE_URL`).
    pub sql: SqlDb,
    /// The relational database's own store (for readiness and closing; the same as `board` unless the
    /// board lives in DynamoDB).
    relational: Arc<dyn Store>,
}

impl Storage {
    /// Every distinct store, for readiness checks.
    pub fn all(&self) -> Vec<Arc<dyn Store>> {
        if Arc::ptr_eq(&self.board, &self.relational) {
            vec![Arc::clone(&self.board)]
        } else {
            vec![Arc::clone(&self.relational), Arc::clone(&self.board)]
        }
    }

    /// Finishes pending work and closes every connection. Called once, at shutdown.
    pub async fn close(&self) {
        for store in self.all() {
            store.close().await;
        }
    }
}

/// What the process opening the stores does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `stratus serve`: writes the board's rows. On SQLite, the one process that may (the file's serving
    /// lock; a second one fails to start), which lets it keep the newest submission in memory.
    Serve,
    /// A maintenance command (`stratus migrate`, `stratus files sweep`): runs beside a serving process,
    /// writes no submissions or visits, keeps nothing in memory.
    Maintain,
}

/// Opens the relational database (migrating it) and the board's store.
///
/// PostgreSQL and DynamoDB return within their connect timeout even when the server is down: the store
/// then answers `Unavailable` and finishes its set-up in the background (see `ready`).
pub async fn open(
    database: &DatabaseUrl,
    board: Option<&DynamoDbSettings>,
    role: Role,
) -> anyhow::Result<Storage> {
    let (relational, sql): (Arc<dyn Store>, SqlDb) = match database {
        DatabaseUrl::Sqlite(settings) => {
            let store = SqliteStore::open(settings, role).await?;
            let sql = SqlDb::sqlite(&store, settings.statement_timeout);
            (Arc::new(store), sql)
        }
        DatabaseUrl::Postgres(settings) => {
            let store = Arc::new(PostgresStore::open(settings).await?);
            (Arc::clone(&store) as Arc<dyn Store>, SqlDb::postgres(store))
        }
    };
    // Requests time out and clients go away; store calls must not be cancelled half-way by that.
    let relational: Arc<dyn Store> = Arc::new(Detached::new(relational));
    let board: Arc<dyn Store> = match board {
        None => Arc::clone(&relational),
        Some(settings) => Arc::new(Detached::new(Arc::new(
            DynamoDbStore::open(settings).await?,
        ))),
    };
    Ok(Storage {
        board,
        sql,
        relational,
    })
}
