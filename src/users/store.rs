//! User records in the relational database (`app_user`, migration 0003), through [`SqlDb`].

use sqlx::Row as _;
use time::OffsetDateTime;

use super::domain::{Email, PersonName, User, UserId};
use crate::{
    storage::{
        Page, PageRequest, SeqCursor, SqlConn, SqlDb, SqlPool, StoreError, is_unique_violation,
    },
    time::{format_timestamp, parse_timestamp},
};

/// Another record already has this email address (compared ignoring case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("A user with this email address already exists.")]
pub struct DuplicateEmail;

/// The user records.
#[derive(Debug, Clone)]
pub struct UserStore {
    db: SqlDb,
}

const SQLITE_CURSORS: SeqCursor = SeqCursor::new("users-sqlite:");
const POSTGRES_CURSORS: SeqCursor = SeqCursor::new("users-postgres:");

const SQLITE_COLUMNS: &str = "user_seq, user_id, name, email, created_at";
const POSTGRES_COLUMNS: &str = "user_seq, user_id::text AS user_id, name, email, created_at";

/// A row as read, before parsing.
struct RawUser {
    seq: i64,
    id: String,
    name: String,
    email: String,
    created_at: OffsetDateTime,
}

impl RawUser {
    fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        let created_at: String = row.try_get("created_at")?;
        Ok(Self {
            seq: row.try_get("user_seq")?,
            id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            created_at: parse_timestamp(&created_at).map_err(|e| sqlx::Error::Decode(e.into()))?,
        })
    }

    fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: row.try_get("user_seq")?,
            id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            created_at: row.try_get("created_at")?,
        })
    }

    fn parse(self) -> Result<(i64, User), StoreError> {
        let parse = || -> anyhow::Result<User> {
            Ok(User {
                id: UserId::parse(&self.id)?,
                name: PersonName::parse(&self.name)?,
                email: Email::parse(&self.email)?,
                created_at: self.created_at,
            })
        };
        parse()
            .map(|user| (self.seq, user))
            .map_err(|err| StoreError::unavailable(err.context("a stored user could not be read")))
    }
}

impl UserStore {
    /// User records in `db`.
    pub fn new(db: SqlDb) -> Self {
        Self { db }
    }

    /// Stores a new record, or says that its email address is taken.
    #[tracing::instrument(name = "Store a user", skip_all, fields(user_id = %user.id))]
    pub async fn insert(&self, user: &User) -> Result<Result<(), DuplicateEmail>, StoreError> {
        let user = user.clone();
        self.db
            .write("storing a user", move |conn| async move {
                let result = match conn {
                    SqlConn::Sqlite(mut conn) => sqlx::query(
                        "INSERT INTO app_user (user_id, name, email, email_key, created_at) \
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .bind(user.id.to_string())
                    .bind(user.name.as_str())
                    .bind(user.email.as_str())
                    .bind(user.email.key())
                    .bind(format_timestamp(user.created_at))
                    .execute(&mut *conn)
                    .await
                    .map(drop),
                    SqlConn::Postgres(mut conn) => sqlx::query(
                        "INSERT INTO app_user (user_id, name, email, email_key, created_at) \
                             VALUES ($1::uuid, $2, $3, $4, $5)",
                    )
                    .bind(user.id.to_string())
                    .bind(user.name.as_str())
                    .bind(user.email.as_str())
                    .bind(user.email.key())
                    .bind(user.created_at)
                    .execute(&mut *conn)
                    .await
                    .map(drop),
                };
                match result {
                    Ok(_) => Ok(Ok(())),
                    Err(err) if is_unique_violation(&err) => Ok(Err(DuplicateEmail)),
                    Err(err) => Err(err),
                }
            })
            .await
    }

    /// One record by id.
    pub async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let raw = self
            .db
            .read("reading a user", move |pool| async move {
                match pool {
                    SqlPool::Sqlite(pool) => {
                        let sql =
                            format!("SELECT {SQLITE_COLUMNS} FROM app_user WHERE user_id = ?1");
                        let row = sqlx::query(&sql)
                            .bind(id.to_string())
                            .fetch_optional(&pool)
                            .await?;
                        row.as_ref().map(RawUser::from_sqlite).transpose()
                    }
                    SqlPool::Postgres(pool) => {
                        let sql = format!(
                            "SELECT {POSTGRES_COLUMNS} FROM app_user WHERE user_id = $1::uuid"
                        );
                        let row = sqlx::query(&sql)
                            .bind(id.to_string())
                            .fetch_optional(&pool)
                            .await?;
                        row.as_ref().map(RawUser::from_postgres).transpose()
                    }
                }
            })
            .await?;
        raw.map(|raw| raw.parse().map(|(_, user)| user)).transpose()
    }

    /// Whether a record with this id exists (a file's owner must).
    pub async fn exists(&self, id: UserId) -> Result<bool, StoreError> {
        Ok(self.get(id).await?.is_some())
    }

    /// Records, newest first.
    pub async fn list(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let cursors = match self.db {
            SqlDb::Sqlite(_) => SQLITE_CURSORS,
            SqlDb::Postgres(_) => POSTGRES_CURSORS,
        };
        let (before, fetch) = cursors.bounds(page)?;
        let rows = self
            .db
            .read("listing users", move |pool| async move {
                match pool {
                    SqlPool::Sqlite(pool) => {
                        let sql = format!(
                            "SELECT {SQLITE_COLUMNS} FROM app_user WHERE user_seq < ?1 ORDER BY user_seq DESC LIMIT ?2"
                        );
                        let rows = sqlx::query(&sql).bind(before).bind(fetch).fetch_all(&pool).await?;
                        rows.iter().map(RawUser::from_sqlite).collect::<Result<Vec<_>, _>>()
                    }
                    SqlPool::Postgres(pool) => {
                        let sql = format!(
                            "SELECT {POSTGRES_COLUMNS} FROM app_user WHERE user_seq < $1 ORDER BY user_seq DESC LIMIT $2"
                        );
                        let rows = sqlx::query(&sql).bind(before).bind(fetch).fetch_all(&pool).await?;
                        rows.iter().map(RawUser::from_postgres).collect::<Result<Vec<_>, _>>()
                    }
                }
            })
            .await?;
        let rows = rows
            .into_iter()
            .map(RawUser::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursors.page_of_pairs(rows, page))
    }
}
