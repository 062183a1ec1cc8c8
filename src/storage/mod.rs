//! Storage infrastructure every feature stands on: the relational handle ([`SqlDb`]) that users, the blog,
//! sessions and file metadata share, opening the databases ([`open`]), store calls detached from the
//! requests that make them ([`Detached`], [`with_deadline`]), paging and cursors, AWS clients, the DynamoDB
//! table schemas, schema versions and the application's database role.
//!
//! What each feature keeps lives in the feature (`board::store`, `users::store`, `files::metadata`,
//! `blog::store`); this module holds nothing of theirs.

pub(crate) mod app_role;
pub mod aws;
pub mod aws_metrics;
pub(crate) mod db_password;
pub(crate) mod detached;
pub mod disk_space;
pub mod dynamodb_tables;
pub mod failures;
mod paging;
pub(crate) mod ready;
pub(crate) mod schema_version;
pub mod sql;

use std::sync::Arc;

pub use app_role::{RoleName, RoleNameError};
pub use detached::{Detached, with_deadline};
pub(crate) use detached::{claim_queued, claim_write, current_call, detach};
pub(crate) use paging::SeqCursor;
pub use paging::{Cursor, CursorError, PageLimit, PageLimitError, PageRequest};
pub(crate) use ready::InitError;
pub use sql::{SqlConn, SqlDb, SqlPool, is_unique_violation};

use crate::{
    board::store::{DynamoDbStore, PostgresStore, SqliteStore, Store},
    config::{DatabaseUrl, DynamoDbSettings},
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
