//! The relational database behind `DATABASE_URL`, shared by everything that is not the board's store:
//! users, the blog, admin sessions, file metadata (and the board itself unless `STRATUS_BOARD_URL` moves
//! it to DynamoDB).
//!
//! One handle, two engines: each feature writes its SQL per engine (`match` on [`SqlPool`]/[`SqlConn`]);
//! the handle supplies what every call needs and is easy to forget:
//! - the pools the board's store already opened (one pool per process, not one per feature);
//! - the call runs on its own task ([`detach`]): a request timeout cannot cut it in half;
//! - a client-side deadline (connect + statement timeout), errors mapped to [`StoreError::Unavailable`];
//! - on PostgreSQL, a rotated password is re-read after an authentication failure;
//! - writes get a connection first, then [`claim_write`]: a request answered 503 never has its write made
//!   afterwards, and one that waits hears the write's real outcome.
//!
//! For a unique-constraint clash that the caller should answer 409, let the closure return
//! `Ok(Err(Conflict))` when [`is_unique_violation`] says so.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use sqlx::{PgPool, SqlitePool, pool::PoolConnection};

use super::{StoreError, claim_write, detach, failures::counted};
use crate::board::store::{PostgresStore, SqliteStore, sqlite::Readers};

/// The relational database.
#[derive(Clone)]
pub enum SqlDb {
    /// The embedded default.
    Sqlite(SqliteDb),
    /// PostgreSQL (RDS).
    Postgres(PgDb),
}

impl fmt::Debug for SqlDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "SqlDb::Sqlite",
            Self::Postgres(_) => "SqlDb::Postgres",
        })
    }
}

/// A pool to read with (SQLite: the read-only connections).
#[derive(Debug, Clone)]
pub enum SqlPool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A connection to write with, already held (SQLite: the single writer connection). Use `&mut *conn`
/// as the executor, or `conn.begin()` for a transaction.
#[derive(Debug)]
pub enum SqlConn {
    /// SQLite.
    Sqlite(PoolConnection<sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// The SQLite side: the board store's pools and inline read connections.
#[derive(Clone)]
pub struct SqliteDb {
    reader: SqlitePool,
    writer: SqlitePool,
    inline: Arc<Readers>,
    timeout: Duration,
}

impl fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDb")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL side: the board store's lazily connected pool.
#[derive(Debug, Clone)]
pub struct PgDb(Arc<PostgresStore>);

impl PgDb {
    /// A read on the pool, detached, with the store's deadline, error mapping and credential refresh.
    async fn read<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(PgPool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.0);
        detach(async move { store.call(what, f).await }).await
    }
}

impl SqlDb {
    pub(crate) fn sqlite(store: &SqliteStore, timeout: Duration) -> Self {
        let (writer, reader) = store.pools();
        Self::Sqlite(SqliteDb {
            reader,
            writer,
            inline: store.inline_reads(),
            timeout,
        })
    }

    pub(crate) fn postgres(store: Arc<PostgresStore>) -> Self {
        Self::Postgres(PgDb(store))
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Runs a read. `what` names it in errors ("listing posts").
    pub async fn read<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(SqlPool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let result = match self {
            Self::Sqlite(db) => {
                let (pool, timeout) = (db.reader.clone(), db.timeout);
                detach(async move {
                    bounded(what, timeout, f(SqlPool::Sqlite(pool)))
                        .await?
                        .map_err(unavailable(what))
                })
                .await
            }
            Self::Postgres(db) => db.read(what, move |pool| f(SqlPool::Postgres(pool))).await,
        };
        counted(what, result)
    }

    /// Runs a hot read whose SQLite half is synchronous: on SQLite, `sqlite` runs on the calling task
    /// through rusqlite, on one of the board's read-only connections (the board's reads do the same: no
    /// hand-off to sqlx's connection thread and back, and with no await point a timeout cannot cut it, so
    /// no detached task either; a lock wait is capped at 500 ms, and in WAL mode only another process
    /// recovering the WAL takes one). On PostgreSQL, `postgres` runs as [`SqlDb::read`] runs it.
    pub async fn read_inline<T, S, P, Fut>(
        &self,
        what: &'static str,
        sqlite: S,
        postgres: P,
    ) -> Result<T, StoreError>
    where
        S: FnOnce(&rusqlite::Connection) -> anyhow::Result<T>,
        P: FnOnce(PgPool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let result = match self {
            Self::Sqlite(db) => db.inline.run(what, sqlite),
            Self::Postgres(db) => db.read(what, postgres).await,
        };
        counted(what, result)
    }

    /// Runs a write on a connection it holds; the write is made only if its request still waits (see the
    /// module documentation). Anything the closure does runs on that one connection.
    pub async fn write<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(SqlConn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        counted(what, self.write_uncounted(what, f).await)
    }

    /// [`SqlDb::write`] before its failure is counted.
    async fn write_uncounted<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(SqlConn) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let written = match self {
            Self::Sqlite(db) => {
                let (pool, timeout) = (db.writer.clone(), db.timeout);
                detach(async move {
                    bounded(what, timeout, async move {
                        let conn = pool.acquire().await?;
                        if !claim_write() {
                            return Ok(None);
                        }
                        f(SqlConn::Sqlite(conn)).await.map(Some)
                    })
                    .await?
                    .map_err(unavailable(what))
                })
                .await?
            }
            Self::Postgres(db) => {
                let store = Arc::clone(&db.0);
                detach(async move {
                    store
                        .call(what, move |pool| async move {
                            let conn = pool.acquire().await?;
                            if !claim_write() {
                                return Ok(None);
                            }
                            f(SqlConn::Postgres(conn)).await.map(Some)
                        })
                        .await
                })
                .await?
            }
        };
        written.ok_or_else(|| {
            StoreError::unavailable(anyhow::anyhow!(
                "{what}: the request gave up before the write was made"
            ))
        })
    }
}

/// True when `err` is a unique-constraint violation (SQLite `2067`/`1555`, PostgreSQL `23505`).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

async fn bounded<T>(
    what: &'static str,
    timeout: Duration,
    call: impl Future<Output = T>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call).await.map_err(|_| {
        StoreError::unavailable(anyhow::anyhow!(
            "{what}: no answer from the database within {timeout:?}"
        ))
    })
}

fn unavailable(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| StoreError::unavailable(anyhow::Error::new(err).context(what))
}
