//! The embedded default: one SQLite file in WAL mode.
//!
//! Two pools: a single writer connection (SQLite allows one writer at a time anyway; queueing in the pool
//! is fairer and cheaper than every connection spinning on `SQLITE_BUSY`), and several read-only
//! connections that WAL lets run beside the writer. The writer uses `synchronous=FULL`, so a commit that
//! returned is on disk: the service acknowledges a write only after that.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sqlx::{
    Row as _, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use super::{Page, Store, StoreError};
use crate::{
    config::SqliteSettings,
    domain::{
        Cursor, EightDigits, PageRequest, Submission, SubmissionId, Username,
        submission::{format_timestamp, parse_timestamp},
    },
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(settings: &SqliteSettings) -> anyhow::Result<Self> {
        let path = &settings.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("could not create the database directory {}", dir.display())
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
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
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(base.read_only(true))
            .await
            .with_context(|| {
                format!(
                    "could not open the SQLite database {} for reading",
                    path.display()
                )
            })?;
        Ok(Self { writer, reader })
    }

    /// Opens the file and runs the migrations, nothing else (`stratus migrate`).
    pub async fn migrate_only(settings: &SqliteSettings) -> anyhow::Result<()> {
        let store = Self::open(settings).await?;
        store.close().await;
        Ok(())
    }
}

/// Runs the embedded migrations. SQLite has no advisory lock for sqlx to take, so when several instances
/// start on one file at once, the loser of the race fails on "table already exists"; running again then
/// finds the migration recorded and does nothing. A few tries make concurrent start-up safe.
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

const SUBMISSION_COLUMNS: &str = "submission_seq, submission_id, username, number, created_at";

fn submission_from_row(row: &SqliteRow) -> Result<Submission, StoreError> {
    let parse = || -> anyhow::Result<Submission> {
        let id: String = row.try_get("submission_id")?;
        let username: String = row.try_get("username")?;
        let number: String = row.try_get("number")?;
        let created_at: String = row.try_get("created_at")?;
        Ok(Submission {
            id: SubmissionId::parse(&id)?,
            username: Username::parse(&username)?,
            number: EightDigits::parse(&number)?,
            created_at: parse_timestamp(&created_at)?,
        })
    };
    parse().map_err(|err| {
        StoreError::unavailable(err.context("a stored submission could not be read"))
    })
}

fn encode_cursor(seq: i64) -> Cursor {
    Cursor::from_store(URL_SAFE_NO_PAD.encode(format!("sqlite:{seq}")))
}

fn decode_cursor(cursor: &Cursor) -> Result<i64, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_str())
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    text.strip_prefix("sqlite:")
        .and_then(|seq| seq.parse::<i64>().ok())
        .filter(|seq| *seq > 0)
        .ok_or(StoreError::InvalidCursor)
}

fn unavailable(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| StoreError::unavailable(anyhow::Error::new(err).context(what))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1")
            .fetch_one(&self.reader)
            .await
            .map(drop)
            .map_err(unavailable("pinging SQLite"))
    }

    #[tracing::instrument(name = "Insert a submission", skip_all, fields(backend = "sqlite"))]
    async fn insert_submission(&self, submission: &Submission) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO submission (submission_id, username, number, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(submission.id.to_string())
        .bind(submission.username.as_str())
        .bind(submission.number.as_str())
        .bind(format_timestamp(submission.created_at))
        .execute(&self.writer)
        .await
        .map(drop)
        .map_err(unavailable("inserting a submission"))
    }

    async fn latest_submission(&self) -> Result<Option<Submission>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submission ORDER BY submission_seq DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .fetch_optional(&self.reader)
            .await
            .map_err(unavailable("reading the latest submission"))?;
        row.as_ref().map(submission_from_row).transpose()
    }

    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submission WHERE submission_id = ?1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(unavailable("reading a submission"))?;
        row.as_ref().map(submission_from_row).transpose()
    }

    async fn submissions_by_user(
        &self,
        username: &Username,
        page: &PageRequest,
    ) -> Result<Page<Submission>, StoreError> {
        let before = page
            .cursor
            .as_ref()
            .map(decode_cursor)
            .transpose()?
            .unwrap_or(i64::MAX);
        let limit = i64::from(page.limit.get());
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submission WHERE username = ?1 AND submission_seq < ?2 \
             ORDER BY submission_seq DESC LIMIT ?3"
        );
        // One extra row tells whether another page exists, so the last page has no dangling cursor.
        let rows = sqlx::query(&sql)
            .bind(username.as_str())
            .bind(before)
            .bind(limit + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(unavailable("reading a user's submissions"))?;
        let has_more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let next_cursor = match rows.last() {
            Some(last) if has_more => {
                let seq: i64 = last
                    .try_get("submission_seq")
                    .map_err(unavailable("reading a cursor"))?;
                Some(encode_cursor(seq))
            }
            _ => None,
        };
        let items = rows
            .iter()
            .map(submission_from_row)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn add_visits(&self, n: u64) -> Result<u64, StoreError> {
        let n = i64::try_from(n).map_err(StoreError::unavailable)?;
        let total: i64 = sqlx::query_scalar(
            "UPDATE visit_counter SET visit_count = visit_count + ?1 WHERE visit_counter_id = 1 \
             RETURNING visit_count",
        )
        .bind(n)
        .fetch_one(&self.writer)
        .await
        .map_err(unavailable("counting visits"))?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    async fn visit_count(&self) -> Result<u64, StoreError> {
        let total: i64 =
            sqlx::query_scalar("SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1")
                .fetch_one(&self.reader)
                .await
                .map_err(unavailable("reading the visit count"))?;
        u64::try_from(total).map_err(StoreError::unavailable)
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
