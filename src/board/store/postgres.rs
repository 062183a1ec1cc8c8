//! PostgreSQL (RDS in production): `DATABASE_URL=postgres://...`.
//!
//! - `DATABASE_POOL_SIZE` connections, opened lazily: half (rounded up) serve the board's reads on
//!   connections of their own ([`Readers`]: no ping after every query), the rest are a sqlx pool for
//!   writes and the other features. The service starts while the server is down and reconnects by itself
//!   when it is back (a connection that sat idle for a second or more is checked before use, and one that
//!   failed is replaced, not handed out again).
//! - TLS as the URL's `sslmode` says (`require`, `verify-full` with `PGSSLROOTCERT`), rustls underneath.
//! - The embedded `migrations/postgres` run at start-up under sqlx's advisory lock, so instances that
//!   start together migrate once; with `STRATUS_MIGRATE_ON_START=false` start-up only checks them
//!   (`schema_version`), and `stratus migrate` also sets up the application's role (`app_role`).
//! - `statement_timeout` is set on every connection, and every call is also bounded on the client side
//!   (connect + statement timeout), so a server that stops answering cannot hold a request.
//! - Latest: the highest `submission_seq`, read backwards on the primary key: O(log n), one page.
//!   Counter: one `UPDATE ... SET visit_count = visit_count + $1 ... RETURNING`, atomic under the row lock.

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures_util::FutureExt as _;
use secrecy::ExposeSecret as _;
use sqlx::{
    ConnectOptions as _, Connection as _, PgConnection, PgPool, Row as _,
    migrate::MigrateError,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};
use time::OffsetDateTime;

use tokio::sync::{mpsc, oneshot};

use super::Store;
use crate::{
    board::{EightDigits, Submission, SubmissionId, Username},
    config::PostgresSettings,
    storage::{
        Page, PageRequest, SeqCursor, StoreError, app_role, claim_queued, current_call,
        db_password as password,
        detached::CallState,
        ready::{InitError, Ready, bring_up},
        schema_version,
    },
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store. `Debug` shows neither the URL nor the password.
pub struct PostgresStore {
    calls: Calls,
    /// Inserts, for the insert writer task (see [`write_insert_groups`]).
    inserts: mpsc::Sender<QueuedInsert>,
}

/// What one call needs: the pool and its limits. Shared by the store and its insert writer task.
#[derive(Clone)]
struct Calls {
    pool: Arc<Ready<PgPool>>,
    /// The board's reads, on connections of their own (see [`Readers`]).
    readers: Arc<Readers>,
    /// Connect + statement timeout: the most one call may take, client side.
    call_timeout: Duration,
    /// Where the password comes from, to read it again after it was rotated.
    settings: Arc<PostgresSettings>,
    /// When the credentials were last re-read (at most every [`CREDENTIAL_REFRESH_INTERVAL`]).
    credentials_refreshed: Arc<Mutex<Option<Instant>>>,
}

/// A connection idle for this long is checked (a round trip) before it is handed out.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The least time between two re-reads of the password after authentication failures.
const CREDENTIAL_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("ready", &self.calls.pool.value().is_some())
            .field("call_timeout", &self.calls.call_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Reads the password, connects and migrates (or, with `STRATUS_MIGRATE_ON_START=false`, checks the
    /// migrations), within the connect timeout (plus the statement timeout for the migrations). When the
    /// server cannot be reached in that time, returns a store that answers `Unavailable` and keeps trying
    /// in the background. Fails only on a definite misconfiguration (missing password file, migrations
    /// that do not match the database's).
    pub async fn open(settings: &PostgresSettings) -> anyhow::Result<Self> {
        let ready = Ready::new("postgres");
        let budget = settings.connect_timeout + settings.statement_timeout;
        let settings_for_attempts = settings.clone();
        let schema = if settings.migrate_on_start {
            Schema::Migrate
        } else {
            Schema::Check
        };
        bring_up(&ready, budget, move || {
            connect_and_migrate(settings_for_attempts.clone(), schema)
        })
        .await?;
        let calls = Calls {
            pool: ready,
            readers: Arc::new(Readers::new(readers_for(settings.pool_size))),
            call_timeout: settings.connect_timeout + settings.statement_timeout,
            settings: Arc::new(settings.clone()),
            credentials_refreshed: Arc::new(Mutex::new(None)),
        };
        let (inserts, queue) = mpsc::channel(MAX_INSERT_GROUP * 4);
        // The task ends when the store (the only sender) is dropped and the queue is empty.
        tokio::spawn(write_insert_groups(calls.clone(), queue));
        Ok(Self { calls, inserts })
    }

    /// Connects and migrates, then sets up the application role when one is configured, retrying for up
    /// to `wait` while the server cannot be reached (`stratus migrate`, e.g. a deploy step).
    pub async fn migrate_only(settings: &PostgresSettings, wait: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let budget = settings.connect_timeout + settings.statement_timeout;
            let attempt = async {
                let pool = connect_and_migrate(settings.clone(), Schema::Migrate).await?;
                if let Some(source) = &settings.app_role {
                    let set_up = app_role::set_up(&pool, source, &settings.aws).await;
                    if set_up.is_err() {
                        pool.close().await;
                    }
                    set_up?;
                }
                Ok(pool)
            };
            let outcome = tokio::time::timeout(budget, attempt).await;
            let err = match outcome {
                Ok(Ok(pool)) => {
                    pool.close().await;
                    return Ok(());
                }
                Ok(Err(InitError::Fatal(err))) => return Err(err),
                Ok(Err(InitError::Retry(err))) => err,
                Err(_) => anyhow::anyhow!("no answer within {budget:?}"),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(
                    err.context(format!("PostgreSQL could not be migrated within {wait:?}"))
                );
            }
            tracing::warn!(error.message = %err, "PostgreSQL not reachable yet; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Runs one call with the client-side deadline, mapping every failure to `Unavailable`.
    pub(crate) async fn call<T, F, Fut>(&self, what: &'static str, run: F) -> Result<T, StoreError>
    where
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.calls.call(what, run).await
    }
}

/// How many of `DATABASE_POOL_SIZE` connections serve the board's reads (half, rounded up); the sqlx pool
/// keeps the rest (at least one), so one instance opens at most the configured number (one more when it
/// is 1).
fn readers_for(pool_size: u32) -> u32 {
    pool_size.div_ceil(2).max(1)
}

/// Connections for the board's reads (latest, one submission, a history page, the count, the health
/// check), outside sqlx's pool.
///
/// sqlx 0.8 returns every pooled connection through a new task that first pings the server: one more
/// round trip to PostgreSQL, and a task, per query, after the answer is already in hand. For the board's
/// one-statement reads that doubled the round trips. Here a connection goes back to a plain list as soon
/// as its statement succeeded; one that sat idle for [`CHECK_IF_IDLE_FOR`] is pinged before use (the
/// server may have dropped it), one whose statement failed or was cancelled is closed, and the next read
/// opens a fresh one with the pool's current options (so a re-read password applies here too).
#[derive(Debug)]
struct Readers {
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: tokio::sync::Semaphore,
}

impl Readers {
    fn new(max: u32) -> Self {
        let max = usize::try_from(max).unwrap_or(1).max(1);
        Self {
            idle: Mutex::new(Vec::with_capacity(max)),
            permits: tokio::sync::Semaphore::new(max),
        }
    }

    /// Runs `statement` on a reader connection.
    async fn run<T>(
        &self,
        pool: &PgPool,
        statement: impl for<'c> FnOnce(
            &'c mut PgConnection,
        )
            -> futures_util::future::BoxFuture<'c, Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some((mut conn, since)) if since.elapsed() >= CHECK_IF_IDLE_FOR => {
                if conn.ping().await.is_ok() {
                    conn
                } else {
                    pool.connect_options().connect().await?
                }
            }
            Some((conn, _)) => conn,
            None => pool.connect_options().connect().await?,
        };
        let result = statement(&mut conn).await;
        if result.is_ok()
            && !self.permits.is_closed()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push((conn, Instant::now()));
        }
        result
    }

    /// Closes the idle connections; reads after this fail.
    async fn close(&self) {
        self.permits.close();
        let idle = self
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        for (conn, _) in idle {
            let _ = conn.close().await;
        }
    }
}

impl Calls {
    /// Runs one of the board's reads on a reader connection, with the same deadline and error mapping as
    /// [`Calls::call`].
    async fn read<T>(
        &self,
        what: &'static str,
        statement: impl for<'c> FnOnce(
            &'c mut PgConnection,
        )
            -> futures_util::future::BoxFuture<'c, Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        self.call(what, |pool| async move {
            self.readers.run(&pool, statement).await
        })
        .await
    }

    /// Runs one call with the client-side deadline, mapping every failure to `Unavailable`.
    async fn call<T, F, Fut>(&self, what: &'static str, run: F) -> Result<T, StoreError>
    where
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let pool = self.pool.get()?.clone();
        match tokio::time::timeout(self.call_timeout, run(pool.clone())).await {
            Ok(Err(err)) if is_authentication_failure(&err) => {
                self.refresh_credentials(pool);
                Err(unavailable(what)(err))
            }
            Ok(result) => result.map_err(unavailable(what)),
            Err(_) => Err(StoreError::unavailable(anyhow::anyhow!(
                "{what}: no answer from PostgreSQL within {:?}",
                self.call_timeout
            ))),
        }
    }
}

impl Calls {
    /// The server refused our credentials: the password was probably rotated (RDS rotates its managed
    /// master password every 7 days by default). Reads the configured source again, in the background
    /// and at most every [`CREDENTIAL_REFRESH_INTERVAL`], and gives the pool the new options: connections
    /// already open keep working, new ones use the new password. A password given inline
    /// (`DATABASE_PASSWORD`, the URL) reads back the same value, so deployments that rotate should use
    /// `DATABASE_SECRET_ARN`, `DATABASE_PASSWORD_SSM_PARAMETER` or `DATABASE_PASSWORD_FILE`.
    fn refresh_credentials(&self, pool: PgPool) {
        {
            let Ok(mut last) = self.credentials_refreshed.lock() else {
                return;
            };
            if last.is_some_and(|at| at.elapsed() < CREDENTIAL_REFRESH_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let settings = Arc::clone(&self.settings);
        tokio::spawn(async move {
            match credentialed_options(&settings).await {
                Ok(options) => {
                    pool.set_connect_options(options);
                    tracing::info!(
                        "PostgreSQL refused the credentials; read them again for new connections"
                    );
                }
                Err(InitError::Retry(err) | InitError::Fatal(err)) => {
                    tracing::warn!(error.message = %err, error.cause_chain = ?err,
                        "PostgreSQL refused the credentials, and reading them again failed");
                }
            }
        });
    }
}

/// The most inserts written by one statement.
const MAX_INSERT_GROUP: usize = 128;

/// One insert for the writer task.
#[derive(Debug)]
struct QueuedInsert {
    submission: Submission,
    reply: oneshot::Sender<Result<(), StoreError>>,
    /// The detached call this insert belongs to, if any: the writer claims the write before making it.
    call: Option<Arc<CallState>>,
}

impl QueuedInsert {
    /// Whether the insert may still be made: its caller has not given up (timeout, client gone), and from
    /// now on waits for the outcome (see `storage::detached`).
    fn claim(&self) -> bool {
        claim_queued(&self.reply, self.call.as_ref())
    }
}

/// Inserts through one task, grouped: the inserts that queue while one statement is being committed go
/// into the next statement together, one multi-row `INSERT` (one transaction, one WAL flush, one round
/// trip) instead of one each. Each caller is answered only after the statement holding its row has
/// committed; if it fails because of a row (a constraint), each row of the group is tried again alone, so
/// one bad row never fails its neighbours. A single insert costs what it did before.
async fn write_insert_groups(calls: Calls, mut queue: mpsc::Receiver<QueuedInsert>) {
    let mut group = Vec::with_capacity(MAX_INSERT_GROUP);
    while queue.recv_many(&mut group, MAX_INSERT_GROUP).await > 0 {
        // Callers already gone are skipped here; the others are claimed once the connection is held.
        group.retain(|queued: &QueuedInsert| !queued.reply.is_closed());
        if group.is_empty() {
            continue;
        }
        let (claims, outcome) = insert_group(&calls, &group).await;
        let claimed = claims.iter().filter(|c| **c == Some(true)).count();
        match outcome {
            Ok(()) => {
                for (queued, claim) in group.drain(..).zip(claims) {
                    let answer = if claim == Some(true) {
                        Ok(())
                    } else {
                        Err(gave_up())
                    };
                    let _ = queued.reply.send(answer);
                }
            }
            // Failed before any claim (no connection), with one row, or for a reason that is not one row's
            // (a timeout, a lock, a lost connection): that failure is each answer; nothing was written.
            Err(err) if claimed <= 1 || !err.is_row_specific() => {
                let mut err = Some(err);
                for (queued, claim) in group.drain(..).zip(claims) {
                    let answer = match claim {
                        Some(false) => Err(gave_up()),
                        _ => Err(err.take().unwrap_or_else(|| {
                            StoreError::unavailable(anyhow::anyhow!(
                                "inserting submissions failed; nothing was written"
                            ))
                        })),
                    };
                    let _ = queued.reply.send(answer);
                }
            }
            Err(err) => {
                tracing::debug!(error.message = %err, size = claimed, "group insert failed; inserting one by one");
                for (queued, claim) in group.drain(..).zip(claims) {
                    let answer = if claim == Some(true) {
                        insert_rows(&calls, &[&queued.submission]).await
                    } else {
                        Err(gave_up())
                    };
                    let _ = queued.reply.send(answer);
                }
            }
        }
    }
}

/// Gets a connection, claims each insert of `group` (in order), and inserts the claimed ones in one
/// statement (atomic: on failure nothing of the group was written). Returns, per insert, whether it was
/// claimed (`None`: the call failed before claiming), and the statement's outcome.
async fn insert_group(
    calls: &Calls,
    group: &[QueuedInsert],
) -> (Vec<Option<bool>>, Result<(), StoreError>) {
    let claims = Mutex::new(vec![None; group.len()]);
    let seen_claims = &claims;
    let outcome = calls
        .call("inserting submissions", |pool| async move {
            let mut conn = pool.acquire().await?;
            // Waiting for a connection can outlast the request (a database outage): a caller that has
            // been answered 503 meanwhile must not have its write happen after all; one that still waits
            // will now wait for this statement's outcome.
            let marks: Vec<bool> = group.iter().map(QueuedInsert::claim).collect();
            let rows: Vec<&Submission> = group
                .iter()
                .zip(&marks)
                .filter(|(_, claimed)| **claimed)
                .map(|(queued, _)| &queued.submission)
                .collect();
            if let Ok(mut seen) = seen_claims.lock() {
                *seen = marks.into_iter().map(Some).collect();
            }
            if rows.is_empty() {
                return Ok(());
            }
            insert_statement(&rows).execute(&mut *conn).await.map(drop)
        })
        .await;
    (claims.into_inner().unwrap_or_default(), outcome)
}

/// Inserts `rows` (already claimed) in one statement.
async fn insert_rows(calls: &Calls, rows: &[&Submission]) -> Result<(), StoreError> {
    calls
        .call("inserting a submission", |pool| async move {
            insert_statement(rows).execute(&pool).await.map(drop)
        })
        .await
}

/// One `INSERT` of every row, as arrays: the statement's text is the same for any number of rows, so
/// each connection prepares it once. `UNNEST` yields the rows in array order, so `submission_seq`
/// follows the order in which the inserts were queued.
fn insert_statement<'a>(
    rows: &[&Submission],
) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let ids: Vec<String> = rows.iter().map(|s| s.id.to_string()).collect();
    let usernames: Vec<String> = rows
        .iter()
        .map(|s| s.username.as_str().to_owned())
        .collect();
    let numbers: Vec<String> = rows.iter().map(|s| s.number.as_str().to_owned()).collect();
    let created: Vec<OffsetDateTime> = rows.iter().map(|s| s.created_at).collect();
    sqlx::query(
        "INSERT INTO submission (submission_id, username, number, created_at) \
         SELECT * FROM UNNEST($1::text[]::uuid[], $2::text[], $3::text[], $4::timestamptz[])",
    )
    .bind(ids)
    .bind(usernames)
    .bind(numbers)
    .bind(created)
}

fn gave_up() -> StoreError {
    StoreError::unavailable(anyhow::anyhow!(
        "the request gave up before its submission could be written; nothing was written"
    ))
}

/// `28P01 invalid_password` / `28000 invalid_authorization_specification`.
fn is_authentication_failure(err: &sqlx::Error) -> bool {
    let code = match err {
        sqlx::Error::Database(db) => db.code(),
        _ => None,
    };
    matches!(code.as_deref(), Some("28P01" | "28000"))
}

/// The URL's options with the credentials from the configured password source.
async fn credentialed_options(settings: &PostgresSettings) -> Result<PgConnectOptions, InitError> {
    let mut options = settings
        .connect_options()
        .map_err(|err| InitError::Fatal(err.into()))?;
    let credentials = password::resolve(&settings.password, &settings.aws).await?;
    if let Some(username) = &credentials.username {
        options = options.username(username);
    }
    if let Some(password) = &credentials.password {
        options = options.password(password.expose_secret());
    }
    Ok(options)
}

/// What a set-up attempt does with the schema.
#[derive(Debug, Clone, Copy)]
enum Schema {
    /// Apply the embedded migrations.
    Migrate,
    /// Only check that the database has them (a role without DDL rights can).
    Check,
}

/// One set-up attempt: credentials, a lazy pool, migrations under sqlx's advisory lock (or their check).
async fn connect_and_migrate(
    settings: PostgresSettings,
    schema: Schema,
) -> Result<PgPool, InitError> {
    let options = credentialed_options(&settings).await?;
    let pool = PgPoolOptions::new()
        .max_connections(
            settings
                .pool_size
                .saturating_sub(readers_for(settings.pool_size))
                .max(1),
        )
        .min_connections(0)
        .acquire_timeout(settings.connect_timeout)
        // sqlx's default pings every connection before handing it out, and it also pings each one when it
        // comes back (that one cannot be turned off in sqlx 0.8): three round trips per query, two of them
        // checks. A connection that went back less than a second ago has just passed the second check, so
        // only one idle for longer (long enough for a restart or fail-over to have dropped it) is checked.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        // Recycle connections now and then, so a fail-over is picked up (a rotated password is re-read
        // when the server refuses it: see `refresh_credentials`).
        .idle_timeout(Some(Duration::from_secs(300)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        .connect_lazy_with(options);
    let outcome = match schema {
        Schema::Migrate => MIGRATOR.run(&pool).await.map_err(classify_migrate_error),
        Schema::Check => schema_version::check_postgres(&pool, &MIGRATOR).await,
    };
    match outcome {
        Ok(()) => Ok(pool),
        Err(err) => {
            pool.close().await;
            Err(err)
        }
    }
}

/// Connection trouble is worth retrying; migrations that disagree with the database's record are not.
fn classify_migrate_error(err: MigrateError) -> InitError {
    let transient = match &err {
        MigrateError::Execute(_) => true,
        MigrateError::ExecuteMigration(inner, _) => !matches!(inner, sqlx::Error::Database(_)),
        _ => false,
    };
    let err = anyhow::Error::new(err).context("could not connect to and migrate PostgreSQL");
    if transient {
        InitError::Retry(err)
    } else {
        InitError::Fatal(err)
    }
}

/// Cursors of this store.
const CURSORS: SeqCursor = SeqCursor::new("postgres:");

const COUNT_SQL: &str = "SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1";
/// The one column list of `submission` on PostgreSQL, in the order [`submission_from_row`] reads it (a
/// macro, so each statement below stays one constant string).
macro_rules! submission_columns {
    () => {
        "submission_seq, submission_id::text AS submission_id, username, number, created_at"
    };
}
const LATEST_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission ORDER BY submission_seq DESC LIMIT 1"
);
/// `add_visits_and_read_latest`: the counter's one row, with the latest submission beside it (NULLs when
/// there is none).
const COUNT_AND_LATEST_SQL: &str = concat!(
    "WITH counted AS (UPDATE visit_counter \
     SET visit_count = visit_count + $1 WHERE visit_counter_id = 1 RETURNING visit_count) \
     SELECT counted.visit_count, latest.* FROM counted LEFT JOIN LATERAL (SELECT ",
    submission_columns!(),
    " FROM submission ORDER BY submission_seq DESC LIMIT 1) latest ON true"
);
const BY_ID_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission WHERE submission_id = $1::uuid"
);
const BY_USER_SQL: &str = concat!(
    "SELECT ",
    submission_columns!(),
    " FROM submission WHERE username = $1 AND submission_seq < $2 \
     ORDER BY submission_seq DESC LIMIT $3"
);

fn submission_from_row(row: &PgRow) -> Result<Submission, StoreError> {
    let parse = || -> anyhow::Result<Submission> {
        let id: String = row.try_get("submission_id")?;
        let username: String = row.try_get("username")?;
        let number: String = row.try_get("number")?;
        let created_at: OffsetDateTime = row.try_get("created_at")?;
        Ok(Submission {
            id: SubmissionId::parse(&id)?,
            username: Username::parse(&username)?,
            number: EightDigits::parse(&number)?,
            created_at,
        })
    };
    parse().map_err(|err| {
        StoreError::unavailable(err.context("a stored submission could not be read"))
    })
}

fn unavailable(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| StoreError::unavailable(anyhow::Error::new(err).context(what))
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.calls
            .read("pinging PostgreSQL", |conn| {
                sqlx::query(COUNT_SQL)
                    .fetch_one(conn)
                    .map(|row| row.map(drop))
                    .boxed()
            })
            .await
    }

    /// Inserts go to the writer task's queue; the caller only waits for the answer.
    fn inserts_queued(&self) -> bool {
        true
    }

    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped =
            || StoreError::unavailable(anyhow::anyhow!("the PostgreSQL insert writer has stopped"));
        self.inserts
            .send(QueuedInsert {
                submission: submission.clone(),
                reply,
                call: current_call(),
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        let row = self
            .calls
            .read("reading the latest submission", |conn| {
                sqlx::query(LATEST_SQL).fetch_optional(conn).boxed()
            })
            .await?;
        row.as_ref().map(submission_from_row).transpose()
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        let id = id.to_string();
        let row = self
            .calls
            .read("reading a submission", |conn| {
                sqlx::query(BY_ID_SQL).bind(id).fetch_optional(conn).boxed()
            })
            .await?;
        row.as_ref().map(submission_from_row).transpose()
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let (before, fetch) = CURSORS.bounds(page)?;
        // One extra row tells whether another page exists, so the last page has no dangling cursor.
        let username = username.as_str().to_owned();
        let rows = self
            .calls
            .read("reading a user's submissions", |conn| {
                sqlx::query(BY_USER_SQL)
                    .bind(username)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(conn)
                    .boxed()
            })
            .await?;
        CURSORS.page(
            &rows,
            page,
            |row| {
                row.try_get("submission_seq")
                    .map_err(unavailable("reading a cursor"))
            },
            submission_from_row,
        )
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        let n = i64::try_from(n).map_err(StoreError::unavailable)?;
        let total: i64 = self
            .call("counting visits", |pool| async move {
                sqlx::query_scalar(
                    "UPDATE visit_counter SET visit_count = visit_count + $1 \
                     WHERE visit_counter_id = 1 RETURNING visit_count",
                )
                .bind(n)
                .fetch_one(&pool)
                .await
            })
            .await?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    /// One statement: the count's `UPDATE` and the latest row share its snapshot, taken when the batch's
    /// statement starts (after each of its views began), and one round trip.
    async fn add_visits_and_read_latest(
        &self,
        n: u64,
    ) -> Result<(u64, Option<Submission>), StoreError> {
        let n = i64::try_from(n).map_err(StoreError::unavailable)?;
        let row = self
            .call(
                "counting visits and reading the latest submission",
                |pool| async move {
                    sqlx::query(COUNT_AND_LATEST_SQL)
                        .bind(n)
                        .fetch_one(&pool)
                        .await
                },
            )
            .await?;
        let total: i64 = row
            .try_get("visit_count")
            .map_err(unavailable("reading the visit count"))?;
        let total = u64::try_from(total).map_err(StoreError::unavailable)?;
        let found: Option<String> = row
            .try_get("submission_id")
            .map_err(unavailable("reading the latest submission"))?;
        let latest = found.map(|_| submission_from_row(&row)).transpose()?;
        Ok((total, latest))
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let total: i64 = self
            .calls
            .read("reading the visit count", |conn| {
                sqlx::query_scalar(COUNT_SQL).fetch_one(conn).boxed()
            })
            .await?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    async fn close(&self) {
        self.calls.readers.close().await;
        self.calls.pool.stop();
        if let Some(pool) = self.calls.pool.value() {
            pool.close().await;
        }
    }
}
