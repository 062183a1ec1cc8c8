//! The board's writer: one thread with a connection of its own, committing in groups.
//!
//! Inserts, visit counts and views of the board queue here. The thread takes everything queued (up to
//! [`MAX_GROUP`]) into one transaction and commits it (`synchronous=FULL`: on disk once `COMMIT` returns),
//! then answers each caller: N concurrent writes cost one `fsync`, not N. If a statement fails because of
//! one write (a constraint), the group is rolled back and each write is retried alone, so one bad write
//! never fails its neighbours; any other failure (busy, I/O) fails the group, as it would each write.
//!
//! Views are counted by the group they fall in: one `UPDATE` adds them all, and each view gets its own
//! exact position in the count and the newest submission as of its commit (the group's own newest insert,
//! or the one [`LatestCache`] knows). A view is answered only once its count is durable.
//!
//! Why a thread of its own, and not a task on sqlx's connection: a view waited for four hand-offs between
//! tasks and threads (to the batching task, its detached store call, the writer task, sqlx's connection
//! thread, and all the way back), and under load each task hand-off queued behind the pages being rendered
//! on the runtime's two workers. This thread starts the next commit as soon as the last one is on disk,
//! whatever the runtime is doing. It is the only writer of the board's rows in the serving process; the
//! other features' writes use sqlx's writer connection, and the two meet only on SQLite's write lock
//! (which a `stratus migrate` beside the server takes as well), waited for up to [`BUSY_TIMEOUT`].

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{LatestCache, latest_row, latest_through, stored_form};
use crate::{
    board::{Submission, Visit},
    storage::{StoreError, claim_queued, current_call, detached::CallState},
    time::format_timestamp,
};

/// The most writes committed in one transaction.
const MAX_GROUP: usize = 256;

/// How long a commit waits for SQLite's write lock while another connection holds it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const INSERT_SQL: &str =
    "INSERT INTO submission (submission_id, username, number, created_at) VALUES (?1, ?2, ?3, ?4)";
const ADD_VISITS_SQL: &str = "UPDATE visit_counter SET visit_count = visit_count + ?1 \
     WHERE visit_counter_id = 1 RETURNING visit_count";

/// One write for the writer.
#[derive(Debug)]
pub(super) enum Write {
    Insert(Box<Submission>),
    AddVisits(i64),
    /// One view of the board: counted, answered with its position and the newest submission.
    View,
}

/// What a committed write returns.
#[derive(Debug)]
pub(super) enum Written {
    Inserted,
    VisitTotal(i64),
    Viewed(Visit),
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

    fn answer(self, result: Result<Written, StoreError>) {
        let _ = self.reply.send(result);
    }
}

#[derive(Debug)]
enum Message {
    Write(Queued),
    /// Make what was queued before, close the connection, then say so.
    Close(oneshot::Sender<()>),
}

/// The queue to the SQLite writer thread (see [`crate::storage::Store::view_queue`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct WriterQueue {
    queue: mpsc::Sender<Message>,
}

impl WriterQueue {
    /// Opens the writer's connection to the (migrated) file at `path` and starts its thread, which keeps
    /// `latest` (the serving process's cache) up to date. The thread ends once every queue handle is
    /// dropped, or at [`WriterQueue::close`].
    pub(super) fn start(path: &Path, latest: Option<Arc<LatestCache>>) -> anyhow::Result<Self> {
        let conn = open(path)
            .with_context(|| format!("could not open the SQLite database {}", path.display()))?;
        let (queue, rx) = mpsc::channel(MAX_GROUP * 4);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, latest.as_deref()))
            .context("could not start the SQLite writer thread")?;
        Ok(Self { queue })
    }

    /// Queues one write and waits until its transaction has committed.
    pub(super) async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            write,
            reply,
            call: current_call(),
        };
        self.queue
            .send(Message::Write(queued))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Counts one view of the board; answers once the count is durable.
    pub(crate) async fn view(&self) -> Result<Visit, StoreError> {
        match self.write(Write::View).await? {
            Written::Viewed(visit) => Ok(visit),
            Written::Inserted | Written::VisitTotal(_) => Err(unexpected_answer()),
        }
    }

    /// Makes the writes queued so far, closes the connection and stops the thread; later writes fail.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

pub(super) fn unexpected_answer() -> StoreError {
    StoreError::unavailable(anyhow::anyhow!(
        "the SQLite writer answered another kind of write"
    ))
}

fn stopped() -> StoreError {
    StoreError::unavailable(anyhow::anyhow!("the SQLite writer has stopped"))
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The file is already in WAL mode (a property of the file); durability is the connection's own
    // setting: FULL syncs the WAL at every commit.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// The thread: takes what is queued, commits it as one group, answers, and again.
fn run(mut conn: Connection, mut queue: mpsc::Receiver<Message>, latest: Option<&LatestCache>) {
    let mut group: Vec<Queued> = Vec::with_capacity(MAX_GROUP);
    let mut close = None;
    while close.is_none() {
        let Some(mut message) = queue.blocking_recv() else {
            break;
        };
        loop {
            match message {
                Message::Write(queued) => group.push(queued),
                Message::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if group.len() >= MAX_GROUP {
                break;
            }
            match queue.try_recv() {
                Ok(next) => message = next,
                Err(_) => break,
            }
        }
        group.retain(Queued::claim);
        if !group.is_empty() {
            write_group(&mut conn, &mut group, latest);
        }
    }
    // Writes queued after the close are dropped with the queue: their callers hear that it stopped.
    drop(queue);
    if let Err((_, err)) = conn.close() {
        tracing::warn!(error.message = %err, "closing the SQLite writer's connection failed");
    }
    if let Some(done) = close {
        let _ = done.send(());
    }
}

/// Commits `group` (emptied on return) and answers each of its writes.
fn write_group(conn: &mut Connection, group: &mut Vec<Queued>, cache: Option<&LatestCache>) {
    // Views show the newest submission; nothing else writes the board's rows, so what the cache knows (or
    // the file holds now) is what they will see unless this group inserts a newer one.
    let mut newest = None;
    if group.iter().any(|q| matches!(q.write, Write::View)) {
        let read = || latest_row(conn).map_err(unavailable("reading the latest submission"));
        match latest_through(cache, read) {
            Ok(found) => newest = found.map(Arc::new),
            Err(err) => {
                // The view was not successful, so it is not counted; the other writes go ahead.
                let cause = format!("{:#}", anyhow::Error::from(err));
                let (views, others) = std::mem::take(group)
                    .into_iter()
                    .partition::<Vec<_>, _>(|q| matches!(q.write, Write::View));
                for view in views {
                    view.answer(Err(StoreError::unavailable(anyhow::anyhow!(
                        "reading the latest submission: {cause}"
                    ))));
                }
                *group = others;
                if group.is_empty() {
                    return;
                }
            }
        }
    }
    let writes: Vec<&Write> = group.iter().map(|q| &q.write).collect();
    let result = commit_group(conn, &writes, newest.as_ref());
    drop(writes);
    match result {
        Ok(results) => {
            if let Some(cache) = cache {
                cache.committed(group.iter().map(|q| &q.write));
            }
            for (queued, written) in group.drain(..).zip(results) {
                queued.answer(Ok(written));
            }
        }
        Err(err) => {
            if let Some(cache) = cache
                && group.iter().any(|q| matches!(q.write, Write::Insert(_)))
            {
                cache.forget();
            }
            if group.len() == 1 {
                if let Some(queued) = group.pop() {
                    queued.answer(Err(err));
                }
                return;
            }
            if !err.is_row_specific() {
                // Busy, I/O: every write of the group fails alike and none was made (the transaction
                // rolled back); retrying one by one would outlast the callers' grace. Each caller gets
                // the whole cause chain (StoreError's own text is only its kind).
                let cause = format!("{:#}", anyhow::Error::from(err));
                for queued in group.drain(..) {
                    queued.answer(Err(StoreError::unavailable(anyhow::anyhow!(
                        "the group write failed; nothing was written: {cause}"
                    ))));
                }
                return;
            }
            tracing::debug!(error.message = %err, size = group.len(), "group commit failed; writing one by one");
            for queued in group.drain(..) {
                let result = commit_group(conn, &[&queued.write], newest.as_ref())
                    .and_then(|mut one| one.pop().ok_or_else(unexpected_answer));
                match (cache, &result) {
                    (Some(cache), Ok(_)) => cache.committed(std::iter::once(&queued.write)),
                    (Some(cache), Err(_)) if matches!(queued.write, Write::Insert(_)) => {
                        cache.forget();
                    }
                    _ => {}
                }
                if let (Ok(Written::Inserted), Write::Insert(submission)) = (&result, &queued.write)
                    && let Ok(stored) = stored_form(submission)
                {
                    newest = Some(Arc::new(stored));
                }
                queued.answer(result);
            }
        }
    }
}

/// Runs `writes` in one transaction; `Ok` only once it has committed (durably: `synchronous=FULL`).
/// `newest` is the newest submission before them, for the views among them.
fn commit_group(
    conn: &mut Connection,
    writes: &[&Write],
    newest: Option<&Arc<Submission>>,
) -> Result<Vec<Written>, StoreError> {
    if let [_] = writes {
        // Alone, the statement is its own (autocommit) transaction: the same durability, without
        // BEGIN and COMMIT.
        return apply(conn, writes, newest);
    }
    // IMMEDIATE: the write lock is taken (or waited for) up front, never upgraded half-way.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable("starting a write transaction"))?;
    // Dropping `tx` on an early return rolls the whole group back.
    let results = apply(&tx, writes, newest)?;
    tx.commit().map_err(unavailable("committing writes"))?;
    Ok(results)
}

/// The statements of `writes`, in order; the views among them counted by one statement at the end.
fn apply(
    conn: &Connection,
    writes: &[&Write],
    newest: Option<&Arc<Submission>>,
) -> Result<Vec<Written>, StoreError> {
    let mut results = Vec::with_capacity(writes.len());
    let mut newest = newest.cloned();
    let mut views = 0_i64;
    for write in writes {
        results.push(match write {
            Write::Insert(submission) => {
                conn.prepare_cached(INSERT_SQL)
                    .and_then(|mut statement| {
                        statement.execute(rusqlite::params![
                            submission.id.to_string(),
                            submission.username.as_str(),
                            submission.number.as_str(),
                            format_timestamp(submission.created_at),
                        ])
                    })
                    .map_err(unavailable("inserting a submission"))?;
                // Views of this group show it, even those queued before it: it commits with them.
                if let Ok(stored) = stored_form(submission) {
                    newest = Some(Arc::new(stored));
                }
                Written::Inserted
            }
            Write::AddVisits(n) => Written::VisitTotal(add_visits(conn, *n)?),
            Write::View => {
                views += 1;
                // Numbered below, once the group's count is known.
                Written::Viewed(Visit {
                    number: 0,
                    latest: None,
                })
            }
        });
    }
    if views > 0 {
        crate::telemetry::record_visit_batch(views.unsigned_abs());
        let total = u64::try_from(add_visits(conn, views)?).map_err(StoreError::unavailable)?;
        let mut number = total.saturating_sub(views.unsigned_abs());
        for written in &mut results {
            if let Written::Viewed(visit) = written {
                number += 1;
                visit.number = number;
                visit.latest.clone_from(&newest);
            }
        }
    }
    Ok(results)
}

fn add_visits(conn: &Connection, n: i64) -> Result<i64, StoreError> {
    conn.prepare_cached(ADD_VISITS_SQL)
        .and_then(|mut statement| {
            let mut rows = statement.query([n])?;
            let total = rows
                .next()?
                .ok_or(rusqlite::Error::QueryReturnedNoRows)?
                .get(0)?;
            // Step to the end. Alone (autocommit), the statement commits there, and a failed commit (a
            // full disk) is reported only by that step: `query_row` would leave it to the reset, which
            // drops the error, and answer a view whose count was never stored.
            while rows.next()?.is_some() {}
            Ok(total)
        })
        .map_err(unavailable("counting visits"))
}

fn unavailable(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |err| StoreError::unavailable(anyhow::Error::new(err).context(what))
}
