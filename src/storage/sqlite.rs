//! The embedded default: one SQLite file in WAL mode.
//!
//! Two pools: a single writer connection (SQLite allows one writer at a time anyway; queueing in the pool
//! is fairer and cheaper than every connection spinning on `SQLITE_BUSY`), and several read-only
//! connections that WAL lets run beside the writer. The writer uses `synchronous=FULL`, so a commit that
//! returned is on disk: the service acknowledges a write only after that.
//!
//! Writes go through one writer task with group commit: inserts and visit batches that queue while a
//! commit is being made to disk are written together in the next transaction, so N concurrent writes cost
//! one `fsync`, not N (the commit, not the insert, is what costs). Each caller is answered only after the
//! transaction holding its write has committed. If a statement of a group fails because of one write (a
//! constraint), the group is rolled back and each write is retried alone, so one bad write never fails its
//! neighbours; any other failure (busy, I/O) fails the group, as it would each of its writes.
//!
//! One process serves a file ([`ServingLock`]); its writer task keeps the newest submission in memory
//! ([`LatestCache`]), which every view of the board reads.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::OptionalExtension as _;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::{mpsc, oneshot};

use super::{
    Page, Role, Store, StoreError, claim_queued, current_call, detached::CallState,
    paging::SeqCursor,
};
use crate::{
    config::SqliteSettings,
    domain::{
        EightDigits, PageRequest, Submission, SubmissionId, Username,
        submission::{format_timestamp, parse_timestamp},
    },
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
    writes: mpsc::Sender<Queued>,
    /// The newest submission, kept by the writer task; only in the serving process (see [`Role`]).
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
        migrate(&writer).await?;
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
        let (writes, queue) = mpsc::channel(MAX_GROUP * 4);
        // The task ends when the store (the only sender) is dropped and the queue is empty.
        let latest = serving.as_ref().map(|_| Arc::new(LatestCache::default()));
        tokio::spawn(write_groups(writer.clone(), queue, latest.clone()));
        Ok(Self {
            writer,
            reader,
            reads: Arc::new(Readers::new(path.clone(), settings.read_connections)),
            writes,
            latest,
            _serving: serving,
        })
    }

    /// Queues one write for the writer task and waits until its transaction has committed.
    async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::unavailable(anyhow::anyhow!("the SQLite writer has stopped"));
        self.writes
            .send(Queued {
                write,
                reply,
                call: current_call(),
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The writer and read-only pools, for the other features' tables in the same file.
    pub(crate) fn pools(&self) -> (SqlitePool, SqlitePool) {
        (self.writer.clone(), self.reader.clone())
    }

    /// The inline read connections, for the other features' hot reads (`SqlDb::read_inline`).
    pub(crate) fn inline_reads(&self) -> Arc<Readers> {
        Arc::clone(&self.reads)
    }

    /// Opens the file and runs the migrations, nothing else (`stratus migrate`).
    pub async fn migrate_only(settings: &SqliteSettings) -> anyhow::Result<()> {
        let store = Self::open(settings, Role::Maintain).await?;
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

/// The newest submission, as the serving process's writer task committed it.
///
/// `GET /` and `GET /api/v1/submissions/latest` read it on every request; from the file that read costs a
/// read transaction, whose WAL read lock is two `fcntl` calls under a mutex every reader of the file in
/// the process shares. The writer task is the only writer of the board's rows ([`ServingLock`]), so it
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
    fn committed<'a>(&self, writes: impl DoubleEndedIterator<Item = (&'a Write, &'a Written)>) {
        let newest = writes.rev().find_map(|written| match written {
            (Write::Insert(submission), Written::Inserted) => Some(submission),
            _ => None,
        });
        let Some(submission) = newest else { return };
        let stored = parse_timestamp(&format_timestamp(submission.created_at)).map(|created_at| {
            Submission {
                created_at,
                ..(**submission).clone()
            }
        });
        match (stored, self.state.write()) {
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

/// The most writes committed in one transaction.
const MAX_GROUP: usize = 256;

/// One write for the writer task.
#[derive(Debug)]
enum Write {
    Insert(Box<Submission>),
    AddVisits(i64),
}

/// What a committed write returns.
#[derive(Debug)]
enum Written {
    Inserted,
    VisitTotal(i64),
}

#[derive(Debug)]
struct Queued {
    write: Write,
    reply: oneshot::Sender<Result<Written, StoreError>>,
    /// The detached call this write belongs to, if any: the writer claims the write before making it.
    call: Option<Arc<CallState>>,
}

impl Queued {
    /// Whether the write may still be made: its caller has not given up (timeout, client gone), and from
    /// now on waits for the outcome. A caller that gave up was answered 503; its write is skipped, as a
    /// dropped request would have been before reaching the database.
    fn claim(&self) -> bool {
        claim_queued(&self.reply, self.call.as_ref())
    }
}

/// Commits queued writes in groups until the store is dropped.
///
/// With a `latest` cache (the serving process), the newest committed insert goes into it before any
/// caller of its group is answered, so an acknowledged submission is what the next read of the latest
/// sees; a failed group that held an insert empties it (the next read goes to the file).
async fn write_groups(
    writer: SqlitePool,
    mut queue: mpsc::Receiver<Queued>,
    latest: Option<Arc<LatestCache>>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let forget = |group: &[Queued]| {
        if let Some(latest) = &latest
            && group.iter().any(|q| matches!(q.write, Write::Insert(_)))
        {
            latest.forget();
        }
    };
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        group.retain(Queued::claim);
        if group.is_empty() {
            continue;
        }
        let writes: Vec<&Write> = group.iter().map(|q| &q.write).collect();
        let result = commit_group(&writer, &writes).await;
        if result.is_err() {
            forget(&group);
        }
        match result {
            Ok(results) => {
                if let Some(latest) = &latest {
                    latest.committed(group.iter().map(|q| &q.write).zip(&results));
                }
                for (queued, written) in group.drain(..).zip(results) {
                    let _ = queued.reply.send(Ok(written));
                }
            }
            Err(err) if group.len() == 1 => {
                if let Some(queued) = group.pop() {
                    let _ = queued.reply.send(Err(err));
                }
            }
            // Busy, I/O, a closed writer: every write of the group fails alike and none was made (the
            // transaction rolled back); retrying one by one would outlast the callers' grace.
            Err(err) if !err.is_row_specific() => {
                // Each caller gets the whole cause chain (StoreError's own text is only its kind).
                let cause = format!("{:#}", anyhow::Error::from(err));
                for queued in group.drain(..) {
                    let _ = queued
                        .reply
                        .send(Err(StoreError::unavailable(anyhow::anyhow!(
                            "the group write failed; nothing was written: {cause}"
                        ))));
                }
            }
            Err(err) => {
                tracing::debug!(error.message = %err, size = group.len(), "group commit failed; writing one by one");
                for queued in group.drain(..) {
                    let result = commit_group(&writer, &[&queued.write])
                        .await
                        .and_then(|mut one| one.pop().ok_or_else(unexpected_answer));
                    match (&latest, &result) {
                        (Some(latest), Ok(written)) => {
                            latest.committed(std::iter::once((&queued.write, written)));
                        }
                        (Some(_), Err(_)) => forget(std::slice::from_ref(&queued)),
                        (None, _) => {}
                    }
                    let _ = queued.reply.send(result);
                }
            }
        }
    }
}

/// Runs `writes` in one transaction; `Ok` only once it has committed (durably: `synchronous=FULL`).
async fn commit_group(writer: &SqlitePool, writes: &[&Write]) -> Result<Vec<Written>, StoreError> {
    if let [write] = writes {
        // Alone, the statement is its own (autocommit) transaction: the same durability, two round trips
        // to the connection's thread fewer than BEGIN ... COMMIT.
        let mut conn = writer
            .acquire()
            .await
            .map_err(unavailable("getting the writer connection"))?;
        return Ok(vec![apply(&mut conn, write).await?]);
    }
    let mut tx = writer
        .begin()
        .await
        .map_err(unavailable("starting a write transaction"))?;
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        results.push(apply(&mut tx, write).await?);
    }
    // Dropping `tx` on an early return above rolls the whole group back.
    tx.commit()
        .await
        .map_err(unavailable("committing writes"))?;
    Ok(results)
}

/// One write's statement, on the writer connection.
async fn apply(conn: &mut sqlx::SqliteConnection, write: &Write) -> Result<Written, StoreError> {
    match write {
            Write::Insert(submission) => sqlx::query(
                "INSERT INTO submission (submission_id, username, number, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(submission.id.to_string())
            .bind(submission.username.as_str())
            .bind(submission.number.as_str())
            .bind(format_timestamp(submission.created_at))
            .execute(&mut *conn)
            .await
            .map(|_| Written::Inserted)
            .map_err(unavailable("inserting a submission")),
            Write::AddVisits(n) => sqlx::query_scalar(
                "UPDATE visit_counter SET visit_count = visit_count + ?1 WHERE visit_counter_id = 1 \
                 RETURNING visit_count",
            )
            .bind(n)
            .fetch_one(&mut *conn)
            .await
            .map(Written::VisitTotal)
            .map_err(unavailable("counting visits")),
    }
}

/// Cursors of this store.
const CURSORS: SeqCursor = SeqCursor::new("sqlite:");

// The statements as constants rather than `format!`ed per call: one allocation less, and the text is the
// key of each connection's prepared-statement cache either way.
const COUNT_SQL: &str = "SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1";
const LATEST_SQL: &str = "SELECT submission_seq, submission_id, username, number, created_at \
     FROM submission ORDER BY submission_seq DESC LIMIT 1";
const BY_ID_SQL: &str = "SELECT submission_seq, submission_id, username, number, created_at \
     FROM submission WHERE submission_id = ?1";
const BY_USER_SQL: &str = "SELECT submission_seq, submission_id, username, number, created_at \
     FROM submission WHERE username = ?1 AND submission_seq < ?2 ORDER BY submission_seq DESC LIMIT ?3";

/// The columns of `SUBMISSION_COLUMNS`, as read by rusqlite.
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

fn unexpected_answer() -> StoreError {
    StoreError::unavailable(anyhow::anyhow!(
        "the SQLite writer answered another kind of write"
    ))
}

fn unavailable(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| StoreError::unavailable(anyhow::Error::new(err).context(what))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn reads_inline(&self) -> bool {
        true
    }

    /// Inserts go to the writer task's queue; the caller only waits for the answer.
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
            Written::VisitTotal(_) => Err(unexpected_answer()),
        }
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        let generation = match self.latest.as_deref().map(LatestCache::lookup) {
            Some(Lookup::Known(latest)) => return Ok(latest),
            Some(Lookup::Unknown(generation)) => Some(generation),
            None => None,
        };
        let latest = self
            .reads
            .run("reading the latest submission", |conn| {
                conn.prepare_cached(LATEST_SQL)?
                    .query_row([], StoredRow::read)
                    .optional()
            })?
            .as_ref()
            .map(StoredRow::submission)
            .transpose()?;
        if let (Some(cache), Some(generation)) = (&self.latest, generation) {
            cache.fill(generation, latest.as_ref());
        }
        Ok(latest)
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
            Written::Inserted => Err(unexpected_answer()),
        }
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let total: i64 = self.reads.run("reading the visit count", |conn| {
            conn.prepare_cached(COUNT_SQL)?
                .query_row([], |row| row.get(0))
        })?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    async fn close(&self) {
        self.reads.close();
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use time::UtcOffset;

    use super::*;

    fn settings(dir: &tempfile::TempDir) -> SqliteSettings {
        SqliteSettings {
            path: dir.path().join("stratus.db"),
            read_connections: 4,
            statement_timeout: Duration::from_secs(10),
        }
    }

    async fn open(dir: &tempfile::TempDir, role: Role) -> SqliteStore {
        SqliteStore::open(&settings(dir), role)
            .await
            .unwrap_or_else(|err| panic!("store opens: {err:#}"))
    }

    fn submission(user: &str, digits: &str) -> Submission {
        let parse = || -> anyhow::Result<Submission> {
            Ok(Submission::new(
                Username::parse(user)?,
                EightDigits::parse(digits)?,
            ))
        };
        parse().unwrap_or_else(|err| panic!("test submission: {err:#}"))
    }

    /// What the file holds, read by a maintenance store (which keeps nothing in memory).
    async fn latest_in_file(dir: &tempfile::TempDir) -> Option<Submission> {
        let file = open(dir, Role::Maintain).await;
        let latest = file.latest_submission().await.ok().flatten();
        file.close().await;
        latest
    }

    #[tokio::test]
    async fn one_process_serves_a_file_and_maintenance_runs_beside_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let serving = open(&dir, Role::Serve).await;
        let refused = SqliteStore::open(&settings(&dir), Role::Serve)
            .await
            .err()
            .map(|err| format!("{err:#}"))
            .unwrap_or_default();
        assert!(
            refused.contains("another Stratus process is serving the SQLite database")
                && refused.contains("use PostgreSQL"),
            "{refused}"
        );
        let maintenance = open(&dir, Role::Maintain).await;
        assert_eq!(maintenance.latest_submission().await.ok(), Some(None));
        maintenance.close().await;

        serving.close().await;
        drop(serving);
        let next = open(&dir, Role::Serve).await;
        next.close().await;
    }

    #[tokio::test]
    async fn the_latest_in_memory_is_what_the_file_holds_after_concurrent_inserts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(open(&dir, Role::Serve).await);
        assert_eq!(store.latest_submission().await.ok(), Some(None));
        // Concurrent inserts commit in groups; the newest row of the file is the last of the last group.
        let inserts = (0..200).map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let s = submission(&format!("user{}", i % 7), &format!("{i:08}"));
                store.insert_submission(&s).await.map(|()| s)
            })
        });
        let mut acknowledged = Vec::new();
        for insert in futures::future::join_all(inserts).await {
            if let Ok(Ok(s)) = insert {
                acknowledged.push(s);
            }
        }
        assert_eq!(acknowledged.len(), 200);
        let cached = store.latest_submission().await.ok().flatten();
        assert!(cached.is_some());
        assert_eq!(cached, latest_in_file(&dir).await);

        // A timestamp finer than the file keeps, at another offset: the memory holds it as the file does.
        let mut odd = submission("ada", "12345678");
        odd.created_at = odd
            .created_at
            .replace_nanosecond(123_456_789)
            .map(|t| t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC)))
            .unwrap_or(odd.created_at);
        assert!(store.insert_submission(&odd).await.is_ok());
        let cached = store.latest_submission().await.ok().flatten();
        assert_eq!(cached, latest_in_file(&dir).await);
        assert_eq!(cached.map(|s| s.id), Some(odd.id));
        store.close().await;
    }

    #[tokio::test]
    async fn a_failed_insert_leaves_the_latest_correct() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(open(&dir, Role::Serve).await);
        let first = submission("ada", "11111111");
        assert!(store.insert_submission(&first).await.is_ok());
        // The same id again breaks the primary key: refused alone, and in a group beside good inserts.
        assert!(store.insert_submission(&first).await.is_err());
        assert_eq!(
            store.latest_submission().await.ok(),
            Some(Some(first.clone()))
        );
        let good = submission("grace", "22222222");
        let (dup, ok) = tokio::join!(
            store.insert_submission(&first),
            store.insert_submission(&good)
        );
        assert!(dup.is_err());
        assert!(ok.is_ok());
        assert_eq!(store.latest_submission().await.ok(), Some(Some(good)));
        assert_eq!(
            store.latest_submission().await.ok().flatten(),
            latest_in_file(&dir).await
        );
        store.close().await;
    }

    #[test]
    fn a_read_that_raced_a_commit_never_replaces_the_newer_row() {
        let cache = LatestCache::default();
        let older = submission("ada", "11111111");
        let newer = submission("grace", "22222222");
        let Lookup::Unknown(before) = cache.lookup() else {
            panic!("nothing is known at start")
        };
        // A commit lands while a read of the file (which found `older`) is running.
        cache.committed(std::iter::once((
            &Write::Insert(Box::new(newer.clone())),
            &Written::Inserted,
        )));
        cache.fill(before, Some(&older));
        assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == newer));

        // After a failed write nothing is known; a read after it fills the cache.
        cache.forget();
        let Lookup::Unknown(after) = cache.lookup() else {
            panic!("a failed write empties the cache")
        };
        cache.fill(after, Some(&older));
        assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == older));
        // Visits alone change nothing.
        cache.committed(std::iter::once((
            &Write::AddVisits(3),
            &Written::VisitTotal(3),
        )));
        assert!(matches!(cache.lookup(), Lookup::Known(Some(s)) if s == older));
    }
}
