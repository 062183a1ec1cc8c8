//! The embedded default: one SQLite file in WAL mode.
//!
//! The board's writes (submissions, visits) go through one writer thread with group commit
//! ([`writer`]): writes that queue while a commit is being made to disk are written together in the next
//! transaction, so N concurrent writes cost one `fsync`, not N. Its connection uses `synchronous=FULL`, so
//! a commit that returned is on disk: the service acknowledges a write only after that. The board's reads
//! run inline on read-only connections ([`Readers`]).
//!
//! The other features (users, the blog, sessions, file metadata) use two sqlx pools on the same file: a
//! single writer connection (also `synchronous=FULL`) and several read-only connections that WAL lets run
//! beside the writers.
//!
//! One process serves a file ([`ServingLock`]); its writer thread keeps the newest submission in memory
//! ([`LatestCache`]), which every view of the board reads.

mod writer;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::OptionalExtension as _;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
pub use writer::WriterQueue;
use writer::{Write, Written, unexpected_answer};

use super::Store;
use crate::{
    board::{EightDigits, Submission, SubmissionId, Username},
    config::SqliteSettings,
    storage::{Page, PageRequest, Role, SeqCursor, StoreError},
    time::{format_timestamp, parse_timestamp},
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The board's own reads (latest, one submission, history, count, ping); `reader` serves the other
    /// features' tables.
    reads: Arc<Readers>,
    /// The board's writer thread.
    board_writer: WriterQueue,
    /// The newest submission, kept by the writer thread; only in the serving process (see [`Role`]).
    latest: Option<Arc<LatestCache>>,
    /// Held by the serving process until the store is dropped.
    _serving: Option<ServingLock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    ///
    /// [`Role::Serve`] first takes the file's serving lock (an exclusive `flock` on `<file>.lock`) and
    /// fails at once when another process serves the file; that process is then the only writer of the
    /// board's rows and keeps the newest submission in memory.
    pub async fn open(settings: &SqliteSettings, role: Role) -> anyhow::Result<Self> {
        let path = &settings.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("could not create the database directory {}", dir.display())
            })?;
        }
        let serving = match role {
            Role::Serve => Some(ServingLock::take(path)?),
            Role::Maintain => None,
        };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // `test_before_acquire(false)`: a local file does not go stale the way a network connection does,
        // and the ping would cost a round trip to the connection's worker thread on every query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await
            .with_context(|| format!("could not open the SQLite database {}", path.display()))?;
        if settings.migrate_on_start {
            migrate(&writer).await?;
        } else {
            crate::storage::schema_version::check_sqlite(&writer, &MIGRATOR).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_connections)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(base.clone().read_only(true))
            .await
            .with_context(|| {
                format!(
                    "could not open the SQLite database {} for reading",
                    path.display()
                )
            })?;
        let latest = serving.as_ref().map(|_| Arc::new(LatestCache::default()));
        let board_writer = WriterQueue::start(path, latest.clone())?;
        Ok(Self {
            writer,
            reader,
            reads: Arc::new(Readers::new(path.clone(), settings.read_connections)),
            board_writer,
            latest,
            _serving: serving,
        })
    }

    /// Queues one write for the writer thread and waits until its transaction has committed.
    async fn write(&self, write: Write) -> Result<Written, StoreError> {
        self.board_writer.write(write).await
    }

    /// The writer and read-only pools, for the other features' tables in the same file.
    pub(crate) fn pools(&self) -> (SqlitePool, SqlitePool) {
        (self.writer.clone(), self.reader.clone())
    }

    /// The inline read connections, for the other features' hot reads (`SqlDb::read_inline`).
    pub(crate) fn inline_reads(&self) -> Arc<Readers> {
        Arc::clone(&self.reads)
    }

    /// Opens the file and runs the migrations, nothing else (`stratus migrate`, whatever
    /// `STRATUS_MIGRATE_ON_START` says).
    pub async fn migrate_only(settings: &SqliteSettings) -> anyhow::Result<()> {
        let settings = SqliteSettings {
            migrate_on_start: true,
            ..settings.clone()
        };
        let store = Self::open(&settings, Role::Maintain).await?;
        store.close().await;
        Ok(())
    }
}

/// Read-only connections for the board's reads, run inline on the calling task.
///
/// The board's reads are one indexed lookup each (the latest row by its sequence number, one row by id, a
/// page of one user's history, the counter row): SQLite answers them from the page cache in a few
/// microseconds. sqlx runs every SQLite statement on a worker thread of its connection and hands the rows
/// back through channels; for these statements that hand-off (two thread wake-ups, allocations, the
/// detached task around it) cost ten times the query itself (profile of `GET /api/v1/submissions/latest`:
/// 17 % of all CPU on sqlx's worker threads, the statement 0.8 %). Here the statement runs on the request's
/// own thread through rusqlite, over the same SQLite library sqlx links.
///
/// Blocking is bounded: WAL lets readers run beside the writer without locks; the rare wait (another
/// process recovering the WAL) is capped by a short busy timeout, after which the read fails as
/// unavailable. A synchronous call has no await point, so a request timeout cannot cut it in half, and
/// it needs no detached task (see `storage::detached`).
#[derive(Debug)]
pub(crate) struct Readers {
    path: std::path::PathBuf,
    /// Connections not in use; at most `max` are kept.
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    max: usize,
    closed: std::sync::atomic::AtomicBool,
}

/// The longest a board read waits for a lock (only WAL recovery by another process takes one).
const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(500);

impl Readers {
    /// Opens connections lazily; keeps up to `max` idle.
    fn new(path: std::path::PathBuf, max: u32) -> Self {
        let max = usize::try_from(max.max(1)).unwrap_or(1);
        Self {
            path,
            idle: std::sync::Mutex::new(Vec::with_capacity(max)),
            max,
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(READ_BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// Runs `statement` on an idle connection (opening one if none is idle); a failure is `Unavailable`,
    /// with `what` ("reading the latest submission") as its context. A connection whose statement failed
    /// is closed rather than kept.
    pub(crate) fn run<T, E: Into<anyhow::Error>>(
        &self,
        what: &'static str,
        statement: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        self.try_run(statement)
            .map_err(|err| StoreError::unavailable(err.context(what)))
    }

    fn try_run<T, E: Into<anyhow::Error>>(
        &self,
        statement: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
    ) -> anyhow::Result<T> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            anyhow::bail!("the SQLite store is closed");
        }
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = statement(&conn).map_err(Into::into)?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max
            && !self.closed.load(std::sync::atomic::Ordering::Acquire)
        {
            idle.push(conn);
        }
        Ok(result)
    }

    /// Closes the idle connections; reads after this fail.
    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// The serving process's hold on its SQLite file: an exclusive `flock` on `<file>.lock` beside it, kept
/// until the process exits (the kernel releases it even after `kill -9`).
///
/// One serving process per file is what the embedded default supports (several instances share
/// PostgreSQL); the lock makes that a checked fact rather than a hope, which is what lets the serving
/// process keep the newest submission in memory ([`LatestCache`]): nothing else writes the board's rows.
/// Maintenance commands (`stratus migrate`, `stratus files sweep`) do not take it and may run beside a
/// serving process; they write neither submissions nor visits.
#[derive(Debug)]
struct ServingLock {
    _file: std::fs::File,
}

impl ServingLock {
    fn take(database: &std::path::Path) -> anyhow::Result<Self> {
        let mut name = database.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another Stratus process is serving the SQLite database {} (it holds {}); \
                 one process serves a SQLite file: stop that one first, or use PostgreSQL \
                 (DATABASE_URL=postgres://...) for several instances",
                database.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(anyhow::Error::new(err).context(format!("could not lock {}", path.display())))
            }
        }
    }
}

/// The newest submission, as the serving process's writer thread committed it.
///
/// `GET /` and `GET /api/v1/submissions/latest` read it on every request; from the file that read costs a
/// read transaction, whose WAL read lock is two `fcntl` calls under a mutex every reader of the file in
/// the process shares. The writer thread is the only writer of the board's rows ([`ServingLock`]), so it
/// knows the newest row the moment it commits it: it stores it here before answering the caller. A
/// failed write that held an insert empties the cache and the next read fills it from the file; a fill
/// is dropped if the writer changed the cache while the read ran (the `generation`), so an older row
/// never replaces a newer one.
#[derive(Debug, Default)]
struct LatestCache {
    state: std::sync::RwLock<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Counts the writer's changes.
    generation: u64,
    /// `None`: not known (at start, after a failed write); `Some(None)`: no submission yet.
    latest: Option<Option<Submission>>,
}

/// What the cache knows.
enum Lookup {
    Known(Option<Submission>),
    /// Read the file, then [`LatestCache::fill`] with this generation.
    Unknown(u64),
}

impl LatestCache {
    /// A poisoned lock (a panic while it was held) reads as unknown forever: every read goes to the file.
    fn lookup(&self) -> Lookup {
        match self.state.read() {
            Ok(state) => match &state.latest {
                Some(latest) => Lookup::Known(latest.clone()),
                None => Lookup::Unknown(state.generation),
            },
            Err(_) => Lookup::Unknown(u64::MAX),
        }
    }

    /// Keeps what a read of the file found, unless the writer changed the cache since `generation`.
    fn fill(&self, generation: u64, latest: Option<&Submission>) {
        if let Ok(mut state) = self.state.write()
            && state.generation == generation
            && state.latest.is_none()
        {
            state.latest = Some(latest.cloned());
        }
    }

    /// After a commit: the last insert of the group is the newest row (rows take their sequence numbers in
    /// queue order). Kept as it reads back from the file (timestamps at the stored precision, in UTC).
    fn committed<'a>(&self, writes: impl DoubleEndedIterator<Item = &'a Write>) {
        let newest = writes.rev().find_map(|write| match write {
            Write::Insert(submission) => Some(submission),
            Write::AddVisits(_) | Write::View => None,
        });
        let Some(submission) = newest else { return };
        match (stored_form(submission), self.state.write()) {
            (Ok(stored), Ok(mut state)) => {
                state.generation = state.generation.wrapping_add(1);
                state.latest = Some(Some(stored));
            }
            (Err(_), Ok(mut state)) => {
                state.generation = state.generation.wrapping_add(1);
                state.latest = None;
            }
            (_, Err(_)) => {}
        }
    }

    /// After a failed write that held an insert: whether it committed is not known for sure.
    fn forget(&self) {
        if let Ok(mut state) = self.state.write() {
            state.generation = state.generation.wrapping_add(1);
            state.latest = None;
        }
    }
}

/// The newest submission: what `cache` knows, else what `read` finds in the file (which then fills the
/// cache, unless the writer changed it meanwhile).
fn latest_through(
    cache: Option<&LatestCache>,
    read: impl FnOnce() -> Result<Option<StoredRow>, StoreError>,
) -> Result<Option<Submission>, StoreError> {
    let generation = match cache.map(LatestCache::lookup) {
        Some(Lookup::Known(latest)) => return Ok(latest),
        Some(Lookup::Unknown(generation)) => Some(generation),
        None => None,
    };
    let latest = read()?.as_ref().map(StoredRow::submission).transpose()?;
    if let (Some(cache), Some(generation)) = (cache, generation) {
        cache.fill(generation, latest.as_ref());
    }
    Ok(latest)
}

/// The newest row of the board, on any connection to the file.
fn latest_row(conn: &rusqlite::Connection) -> rusqlite::Result<Option<StoredRow>> {
    conn.prepare_cached(LATEST_SQL)?
        .query_row([], StoredRow::read)
        .optional()
}

/// A submission as it reads back from the file: its timestamp at the stored precision, in UTC.
fn stored_form(submission: &Submission) -> Result<Submission, time::error::Parse> {
    parse_timestamp(&format_timestamp(submission.created_at)).map(|created_at| Submission {
        created_at,
        ..submission.clone()
    })
}

/// Runs the embedded migrations. SQLite has no advisory lock for sqlx to take, so when several processes
/// migrate one file at once (`stratus migrate` runs beside a starting server, or several of them in a
/// deploy), the loser of the race fails on "table already exists"; running again then finds the migration
/// recorded and does nothing. A few tries make that safe.
async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < 5 => {
                tracing::debug!(error.message = %err, attempt, "migration raced another instance; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(err) => return Err(err).context("could not migrate the SQLite database"),
        }
    }
}

/// Cursors of this store.
const CURSORS: SeqCursor = SeqCursor::new("sqlite:");

// The statements as constants rather than `format!`ed per call: one allocation less, and the text is the
// key of each connection's prepared-statement cache either way.
const COUNT_SQL: &str = "SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1";
/// The one column list of `submission` on SQLite, in the order [`StoredRow::read`] reads it (a macro, so
/// each statement below stays one constant string).
macro_rules! submission_columns {
    () => {
        "submission_seq, submission_id, username, number, created_at"
    };
}
const LATEST_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission ORDER BY submission_seq DESC LIMIT 1"
);
const BY_ID_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission WHERE submission_id = ?1"
);
const BY_USER_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission WHERE username = ?1 AND submission_seq < ?2 ORDER BY submission_seq DESC LIMIT ?3"
);

/// The columns of `submission_columns!`, as read by rusqlite.
struct StoredRow {
    seq: i64,
    id: String,
    username: String,
    number: String,
    created_at: String,
}

impl StoredRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            username: row.get(2)?,
            number: row.get(3)?,
            created_at: row.get(4)?,
        })
    }

    /// Stored text becomes domain values again; text that no longer parses is a corrupt row, reported as
    /// the store being unavailable rather than shown.
    fn submission(&self) -> Result<Submission, StoreError> {
        let parse = || -> anyhow::Result<Submission> {
            Ok(Submission {
                id: SubmissionId::parse(&self.id)?,
                username: Username::parse(&self.username)?,
                number: EightDigits::parse(&self.number)?,
                created_at: parse_timestamp(&self.created_at)?,
            })
        };
        parse().map_err(|err| {
            StoreError::unavailable(err.context("a stored submission could not be read"))
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn reads_inline(&self) -> bool {
        true
    }

    /// Inserts go to the writer thread's queue; the caller only waits for the answer.
    fn inserts_queued(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.reads.run("pinging SQLite", |conn| {
            conn.prepare_cached(COUNT_SQL)?
                .query_row([], |row| row.get::<_, i64>(0))
                .map(drop)
        })
    }

    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        match self
            .write(Write::Insert(Box::new(submission.clone())))
            .await?
        {
            Written::Inserted => Ok(()),
            Written::VisitTotal(_) | Written::Viewed(_) => Err(unexpected_answer()),
        }
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        latest_through(self.latest.as_deref(), || {
            self.reads.run("reading the latest submission", latest_row)
        })
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.reads
            .run("reading a submission", |conn| {
                conn.prepare_cached(BY_ID_SQL)?
                    .query_row([id.to_string()], StoredRow::read)
                    .optional()
            })?
            .as_ref()
            .map(StoredRow::submission)
            .transpose()
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let (before, fetch) = CURSORS.bounds(page)?;
        // One extra row tells whether another page exists, so the last page has no dangling cursor.
        let rows = self.reads.run("reading a user's submissions", |conn| {
            conn.prepare_cached(BY_USER_SQL)?
                .query_map(
                    rusqlite::params![username.as_str(), before, fetch],
                    StoredRow::read,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        CURSORS.page(&rows, page, |row| Ok(row.seq), StoredRow::submission)
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        let n = i64::try_from(n).map_err(StoreError::unavailable)?;
        match self.write(Write::AddVisits(n)).await? {
            Written::VisitTotal(total) => u64::try_from(total).map_err(StoreError::unavailable),
            Written::Inserted | Written::Viewed(_) => Err(unexpected_answer()),
        }
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let total: i64 = self.reads.run("reading the visit count", |conn| {
            conn.prepare_cached(COUNT_SQL)?
                .query_row([], |row| row.get(0))
        })?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    fn view_queue(&self) -> Option<WriterQueue> {
        Some(self.board_writer.clone())
    }

    async fn close(&self) {
        self.reads.close();
        self.board_writer.close().await;
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests;
