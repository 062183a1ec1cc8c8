//! File metadata: one trait, kept in the relational database (default) or DynamoDB.

use std::fmt;

use async_trait::async_trait;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::domain::{ContentType, FileId, FileMeta, FileName, Sha256Digest};
use crate::{
    storage::PageRequest,
    storage::{Page, SeqCursor, SqlConn, SqlDb, StoreError},
    time::{format_timestamp, parse_timestamp},
    users::UserId,
};

/// Where file metadata is kept.
///
/// Contract, for every implementation: `insert` is durable when it returns `Ok`; a record is never
/// overwritten; listings are newest first and page with opaque cursors; `list` with an owner reads an
/// index (no scan).
#[async_trait]
pub trait FileMetadataStore: Send + Sync + fmt::Debug + 'static {
    /// `sqlite`, `postgres` or `dynamodb`.
    fn backend(&self) -> &'static str;

    /// Stores a new record.
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError>;

    /// One record.
    async fn get(&self, id: FileId) -> Result<Option<FileMeta>, StoreError>;

    /// Records, newest first, all of them or one owner's.
    async fn list(
        &self,
        owner: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<FileMeta>, StoreError>;

    /// Deletes a record; `false` when there was none.
    async fn delete(&self, id: FileId) -> Result<bool, StoreError>;
}

/// Metadata in the relational database's `file` table (migration 0003).
#[derive(Debug, Clone)]
pub struct SqlFileMetadata {
    db: SqlDb,
}

impl SqlFileMetadata {
    /// The `file` table of `db`.
    pub fn new(db: SqlDb) -> Self {
        Self { db }
    }

    fn cursors(&self) -> SeqCursor {
        match self.db {
            SqlDb::Sqlite(_) => SeqCursor::new("files-sqlite:"),
            SqlDb::Postgres(_) => SeqCursor::new("files-postgres:"),
        }
    }
}

const SQLITE_COLUMNS: &str =
    "file_seq, file_id, name, size_bytes, sha256, content_type, owner_user_id, created_at";
const POSTGRES_COLUMNS: &str = "file_seq, file_id::text AS file_id, name, size_bytes, sha256, content_type, \
     owner_user_id::text AS owner_user_id, created_at";

/// A row before parsing.
struct RawFile {
    seq: i64,
    id: String,
    name: String,
    size: i64,
    sha256: String,
    content_type: String,
    owner: Option<String>,
    created_at: OffsetDateTime,
}

impl RawFile {
    /// `SQLITE_COLUMNS` by position, as the inline reads (rusqlite) see them.
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> anyhow::Result<Self> {
        let created_at: String = row.get(7)?;
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            name: row.get(2)?,
            size: row.get(3)?,
            sha256: row.get(4)?,
            content_type: row.get(5)?,
            owner: row.get(6)?,
            created_at: parse_timestamp(&created_at)?,
        })
    }

    fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: row.try_get("file_seq")?,
            id: row.try_get("file_id")?,
            name: row.try_get("name")?,
            size: row.try_get("size_bytes")?,
            sha256: row.try_get("sha256")?,
            content_type: row.try_get("content_type")?,
            owner: row.try_get("owner_user_id")?,
            created_at: row.try_get("created_at")?,
        })
    }

    fn parse(self) -> Result<(i64, FileMeta), StoreError> {
        let parse = || -> anyhow::Result<FileMeta> {
            Ok(FileMeta {
                id: FileId::parse(&self.id)?,
                name: FileName::from_stored(&self.name),
                size: u64::try_from(self.size)?,
                sha256: Sha256Digest::parse(&self.sha256)?,
                content_type: ContentType::from_stored(&self.content_type),
                owner: self.owner.as_deref().map(UserId::parse).transpose()?,
                created_at: self.created_at,
            })
        };
        parse().map(|meta| (self.seq, meta)).map_err(|err| {
            StoreError::unavailable(err.context("a stored file record could not be read"))
        })
    }
}

#[async_trait]
impl FileMetadataStore for SqlFileMetadata {
    fn backend(&self) -> &'static str {
        self.db.backend()
    }

    #[tracing::instrument(name = "Store file metadata", skip_all, fields(file_id = %meta.id, backend = self.db.backend()))]
    async fn insert(&self, meta: &FileMeta) -> Result<(), StoreError> {
        let meta = meta.clone();
        let size = i64::try_from(meta.size).map_err(StoreError::unavailable)?;
        self.db
            .write("storing file metadata", move |conn| async move {
                match conn {
                    SqlConn::Sqlite(mut conn) => sqlx::query(
                        "INSERT INTO file (file_id, name, size_bytes, sha256, content_type, owner_user_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .bind(meta.id.to_string())
                    .bind(meta.name.as_str())
                    .bind(size)
                    .bind(meta.sha256.to_string())
                    .bind(meta.content_type.as_str())
                    .bind(meta.owner.map(|o| o.to_string()))
                    .bind(format_timestamp(meta.created_at))
                    .execute(&mut *conn)
                    .await
                    .map(drop),
                    SqlConn::Postgres(mut conn) => sqlx::query(
                        "INSERT INTO file (file_id, name, size_bytes, sha256, content_type, owner_user_id, created_at) \
                         VALUES ($1::uuid, $2, $3, $4, $5, $6::uuid, $7)",
                    )
                    .bind(meta.id.to_string())
                    .bind(meta.name.as_str())
                    .bind(size)
                    .bind(meta.sha256.to_string())
                    .bind(meta.content_type.as_str())
                    .bind(meta.owner.map(|o| o.to_string()))
                    .bind(meta.created_at)
                    .execute(&mut *conn)
                    .await
                    .map(drop),
                }
            })
            .await
    }

    async fn get(&self, id: FileId) -> Result<Option<FileMeta>, StoreError> {
        let raw = self
            .db
            .read_inline(
                "reading file metadata",
                move |conn| {
                    let sql = format!("SELECT {SQLITE_COLUMNS} FROM file WHERE file_id = ?1");
                    let mut statement = conn.prepare_cached(&sql)?;
                    let mut rows = statement.query([id.to_string()])?;
                    rows.next()?.map(RawFile::from_rusqlite).transpose()
                },
                move |pool| async move {
                    let sql =
                        format!("SELECT {POSTGRES_COLUMNS} FROM file WHERE file_id = $1::uuid");
                    let row = sqlx::query(&sql)
                        .bind(id.to_string())
                        .fetch_optional(&pool)
                        .await?;
                    row.as_ref().map(RawFile::from_postgres).transpose()
                },
            )
            .await?;
        raw.map(|raw| raw.parse().map(|(_, meta)| meta)).transpose()
    }

    async fn list(
        &self,
        owner: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<FileMeta>, StoreError> {
        let cursors = self.cursors();
        let (before, fetch) = cursors.bounds(page)?;
        let owner = owner.map(|o| o.to_string());
        let rows = self
            .db
            .read_inline(
                "listing files",
                {
                    let owner = owner.clone();
                    move |conn| {
                        let filter = if owner.is_some() { "AND owner_user_id = ?3" } else { "" };
                        let sql = format!(
                            "SELECT {SQLITE_COLUMNS} FROM file WHERE file_seq < ?1 {filter} ORDER BY file_seq DESC LIMIT ?2"
                        );
                        let mut statement = conn.prepare_cached(&sql)?;
                        let mut rows = match &owner {
                            Some(owner) => statement.query(rusqlite::params![before, fetch, owner])?,
                            None => statement.query(rusqlite::params![before, fetch])?,
                        };
                        let mut files = Vec::new();
                        while let Some(row) = rows.next()? {
                            files.push(RawFile::from_rusqlite(row)?);
                        }
                        Ok(files)
                    }
                },
                move |pool| async move {
                    let filter = if owner.is_some() { "AND owner_user_id = $3::uuid" } else { "" };
                    let sql = format!(
                        "SELECT {POSTGRES_COLUMNS} FROM file WHERE file_seq < $1 {filter} ORDER BY file_seq DESC LIMIT $2"
                    );
                    let mut query = sqlx::query(&sql).bind(before).bind(fetch);
                    if let Some(owner) = owner {
                        query = query.bind(owner);
                    }
                    let rows = query.fetch_all(&pool).await?;
                    rows.iter().map(RawFile::from_postgres).collect::<Result<Vec<_>, _>>()
                },
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(RawFile::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursors.page_of_pairs(rows, page))
    }

    #[tracing::instrument(name = "Delete file metadata", skip_all, fields(file_id = %id))]
    async fn delete(&self, id: FileId) -> Result<bool, StoreError> {
        self.db
            .write("deleting file metadata", move |conn| async move {
                let done = match conn {
                    SqlConn::Sqlite(mut conn) => sqlx::query("DELETE FROM file WHERE file_id = ?1")
                        .bind(id.to_string())
                        .execute(&mut *conn)
                        .await?
                        .rows_affected(),
                    SqlConn::Postgres(mut conn) => {
                        sqlx::query("DELETE FROM file WHERE file_id = $1::uuid")
                            .bind(id.to_string())
                            .execute(&mut *conn)
                            .await?
                            .rows_affected()
                    }
                };
                Ok(done > 0)
            })
            .await
    }
}
