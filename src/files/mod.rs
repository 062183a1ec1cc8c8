//! Files: bytes in an object store (a local directory or S3), metadata
//! in the relational database or DynamoDB.
//!
//! Consistency between the two stores, which share no transaction:
//! - upload: the object first, then the metadata. A listing only shows metadata, so it never shows a file
//!   whose bytes are still arriving. When the metadata write fails, the object is deleted; if that delete
//!   fails too (or the process dies between the two writes), an orphan object remains, which no listing
//!   shows and `stratus files sweep` removes.
//! - delete: the metadata first, then the object, for the same reason: a listed file always has its bytes
//!   (unless someone removed them behind the service's back, which the sweep reports).

mod domain;
mod dynamodb;
pub mod http;
mod metadata;
mod objects;
pub mod sweep;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

pub use domain::{
    ContentType, DigestError, FileId, FileIdError, FileMeta, FileName, Sha256Digest, now_micros,
};
pub use dynamodb::DynamoFileMetadata;
pub use http::router;
pub use metadata::{FileMetadataStore, SqlFileMetadata};
pub use objects::{
    BUFFER_BYTES, IngestError, Ingested, ListedObject, ObjectRead, Objects, PART_BUFFERS,
    PART_SIZE, PARTS_IN_FLIGHT,
};

use crate::{
    config::FilesSettings,
    storage::PageRequest,
    storage::{Page, SqlDb, StoreError},
    users::UserId,
};

/// The file service: object store + metadata store, kept consistent.
#[derive(Debug, Clone)]
pub struct Files {
    /// Where the bytes are.
    pub objects: Objects,
    /// Where the metadata is.
    pub metadata: Arc<dyn FileMetadataStore>,
    /// `STRATUS_MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
}

impl Files {
    /// Opens the object store and the metadata store the settings name (metadata defaults to `sql`).
    pub async fn open(settings: &FilesSettings, sql: &SqlDb) -> anyhow::Result<Self> {
        let objects = Objects::open(
            &settings.objects,
            &settings.sse,
            &settings.aws,
            &settings.spool_dir,
        )
        .await?;
        let metadata: Arc<dyn FileMetadataStore> = match &settings.metadata {
            Some(dynamodb) => Arc::new(DynamoFileMetadata::open(dynamodb).await?),
            None => Arc::new(SqlFileMetadata::new(sql.clone())),
        };
        Ok(Self {
            objects,
            metadata,
            max_upload_bytes: settings.max_upload_bytes,
        })
    }

    /// Stores the bytes of `body` and then their metadata. When the metadata cannot be written, the
    /// object is deleted again (the sweep removes it if even that fails).
    #[tracing::instrument(name = "Store a file", skip_all, fields(file_id = tracing::field::Empty))]
    pub async fn upload<S, E>(
        &self,
        name: FileName,
        owner: Option<UserId>,
        body: S,
    ) -> Result<FileMeta, IngestError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<anyhow::Error>,
    {
        let id = FileId::generate();
        tracing::Span::current().record("file_id", tracing::field::display(id));
        let ingested = self
            .objects
            .put_stream(id, body, self.max_upload_bytes)
            .await?;
        let content_type = ingested.content_type.or_text_by_name(&name, ingested.text);
        let meta = FileMeta {
            id,
            name,
            size: ingested.size,
            sha256: ingested.sha256,
            content_type,
            owner,
            created_at: now_micros(),
        };
        if let Err(err) = self.metadata.insert(&meta).await {
            self.forget_object(id).await;
            return Err(err.into());
        }
        Ok(meta)
    }

    /// Deletes an object whose metadata was never written (or is being refused).
    pub async fn forget_object(&self, id: FileId) {
        match self.objects.delete(id).await {
            Ok(()) => {
                tracing::info!(file_id = %id, "deleted the object of a file whose metadata was not stored")
            }
            Err(err) => tracing::warn!(
                file_id = %id, error.message = %err, error.cause_chain = ?err,
                "could not delete the object of a file whose metadata was not stored; `stratus files sweep` will"
            ),
        }
    }

    /// One file's metadata.
    pub async fn get(&self, id: FileId) -> Result<Option<FileMeta>, StoreError> {
        self.metadata.get(id).await
    }

    /// Files, newest first.
    pub async fn list(
        &self,
        owner: Option<UserId>,
        page: &PageRequest,
    ) -> Result<Page<FileMeta>, StoreError> {
        self.metadata.list(owner, page).await
    }

    /// Deletes a file: its metadata, then its object. `false` when there was no such file. An object that
    /// cannot be deleted is left to the sweep (the file is already gone from every listing).
    #[tracing::instrument(name = "Delete a file", skip_all, fields(file_id = %id))]
    pub async fn delete(&self, id: FileId) -> Result<bool, StoreError> {
        if !self.metadata.delete(id).await? {
            return Ok(false);
        }
        if let Err(err) = self.objects.delete(id).await {
            tracing::warn!(error.message = %err, error.cause_chain = ?err, "the file's object could not be deleted; `stratus files sweep` will");
        }
        Ok(true)
    }
}
