//! The object store: where file bytes live, under keys this service generates (`<prefix>/<file id>`).
//!
//! `STRATUS_FILES_URL` picks the backend through the `object_store` crate: a local directory
//! (`file://./data/files`, the zero-set-up default) or S3 (`s3://BUCKET/PREFIX`). S3 uses the same AWS
//! credential chain, region and `AWS_ENDPOINT_URL` as the DynamoDB clients (one chain per process, see
//! [`crate::storage::aws`]), path-style requests when an endpoint is given (moto, MinIO), and server-side
//! encryption on every write (SSE-S3 by default, SSE-KMS with `STRATUS_S3_SSE=kms`).
//!
//! Uploads stream, and what has arrived is never held in memory for long: an upload keeps at most
//! [`BUFFER_BYTES`] of received bytes before writing them out, so a client that sends most of a file and
//! then stops (or trickles) costs the service that buffer, not the bytes it sent.
//! - Local directory: each full buffer is written to the upload's staging file at once (a multipart upload
//!   of the local backend, renamed into place when complete).
//! - S3: parts must be at least 5 MiB (all but the last), so each part is first gathered on disk, in an
//!   unnamed temporary file in the spool directory (`STRATUS_UPLOAD_SPOOL_DIR`); once [`PART_SIZE`] bytes
//!   are there they are read back and sent, at most [`PARTS_IN_FLIGHT`] parts of one upload and
//!   [`PART_BUFFERS`] of all uploads at once. A part is in memory only while it is being sent, and only
//!   once all its bytes have arrived.
//!
//! A file that fits in the buffer (local) or in one part (S3) is written with one `PUT`. An upload that
//! fails, is refused or is abandoned (its request dropped) is aborted: S3 discards the parts, the local
//! backend deletes its staging file, and the spool file, which has no name, disappears with its handle.

use std::{
    fmt,
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    ops::Range,
    path::Path as FsPath,
    pin::pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _, TryStreamExt as _, stream::BoxStream};
use object_store::{
    ClientOptions, CredentialProvider, GetOptions, GetRange, MultipartUpload, ObjectStore,
    ObjectStoreExt as _, PutPayload, RetryConfig,
    aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsCredential},
    local::LocalFileSystem,
    path::Path,
};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};

use super::domain::{ContentType, FileId, Sha256Digest};
use crate::{
    config::{AwsSettings, ObjectStoreUrl, S3Sse},
    storage::{StoreError, aws, aws_metrics::CountingS3Connector},
};

/// Bytes per uploaded S3 part: S3's smallest allowed part (all but the last). Every part but the last is
/// exactly this long, which every S3-compatible store accepts.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploading at once, per upload.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Received bytes an upload holds in memory before writing them out (to the staging file, or to the part
/// gathering on disk): all that a stalled upload keeps, whatever it has sent.
pub const BUFFER_BYTES: usize = 64 * 1024;
/// S3 parts in memory at once, across all uploads (each [`PART_SIZE`]): 80 MiB. An upload whose part is
/// ready waits for one of these, and meanwhile reads no more of its body.
pub const PART_BUFFERS: usize = 16;

// A part is a whole number of buffers, so the parts gathered on disk come out exactly `PART_SIZE` long.
const _: () = assert!(PART_SIZE.is_multiple_of(BUFFER_BYTES));

/// What streaming an upload found out about the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Bytes stored.
    pub size: u64,
    /// Their SHA-256.
    pub sha256: Sha256Digest,
    /// Sniffed from the first bytes.
    pub content_type: ContentType,
    /// Whether the first bytes read as text ([`ContentType::looks_like_text`]).
    pub text: bool,
}

/// Why an upload did not store an object.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is larger than the limit; nothing was kept.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request body broke off or was malformed.
    #[error("the upload could not be read")]
    Body(#[source] anyhow::Error),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An object as listed (for the sweep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key under the prefix, when it is a file id; `None` for keys this service did not write.
    pub id: Option<FileId>,
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub last_modified: OffsetDateTime,
}

/// A readable object (or a range of it).
/// Reads up to this size are read whole into memory and sent from there (see [`Objects::get`]); at 64
/// concurrent downloads that is at most 16 MiB.
const SMALL_READ_BYTES: u64 = 256 * 1024;

pub struct ObjectRead {
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// The byte range returned.
    pub range: Range<u64>,
    /// The whole object's size.
    pub size: u64,
}

impl fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectRead")
            .field("range", &self.range)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// What [`read_small_local`] found.
enum LocalRead {
    Missing,
    Small {
        bytes: Bytes,
        range: Range<u64>,
        size: u64,
    },
    Large,
}

/// A local object's `range` (all of it when `None`) read in one go, on the calling thread: open, size and,
/// up to [`SMALL_READ_BYTES`], read. A range object_store would refuse (it starts at or past the end) is
/// refused the same way: as an error.
///
/// It runs on the runtime's worker, as the SQLite reads do (`storage::sqlite`), not on the blocking pool:
/// at most 256 KiB from a local file, almost always from the page cache (microseconds; a cold read from
/// an SSD is a fraction of a millisecond). The hand-off to a blocking thread and back cost more than the
/// read: 6.5 futex calls per download, and 149 -> 80 µs of CPU per 64 KiB download once it was gone
/// (1.64x the downloads/s at 64 connections). object_store's own `get_opts` then `bytes()` was two such
/// trips. Larger and S3 reads stream through object_store, asynchronously.
fn read_small_local(
    path: &std::path::Path,
    range: Option<Range<u64>>,
) -> std::io::Result<LocalRead> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(LocalRead::Missing),
        Err(err) => return Err(err),
    };
    let size = file.metadata()?.len();
    let range = match range {
        None => 0..size,
        Some(r) if r.start < size && r.start < r.end => r.start..r.end.min(size),
        Some(r) => {
            return Err(std::io::Error::other(format!(
                "range {r:?} is outside the object's {size} bytes"
            )));
        }
    };
    let len = range.end - range.start;
    if len > SMALL_READ_BYTES {
        return Ok(LocalRead::Large);
    }
    if range.start > 0 {
        file.seek(SeekFrom::Start(range.start))?;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).map_err(std::io::Error::other)?);
    file.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the object ended after {} of {len} bytes", bytes.len()),
        ));
    }
    Ok(LocalRead::Small {
        bytes: Bytes::from(bytes),
        range,
        size,
    })
}

/// The configured object store.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    backend: &'static str,
    /// The same store when it is a local directory, for small reads in one trip (see [`Objects::get`]).
    local: Option<Arc<LocalFileSystem>>,
    /// Where remote uploads gather each part on disk.
    spool_dir: Arc<FsPath>,
    /// One permit per part in memory ([`PART_BUFFERS`]).
    part_buffers: Arc<Semaphore>,
}

impl Objects {
    /// Opens the store `url` names. A local directory is created if missing; S3 is not contacted here (the
    /// bucket is Terraform's), so the service starts while S3 is unreachable and answers 503 for files.
    ///
    /// For S3, `spool_dir` is where uploads gather their parts; it is checked to be writable here, since
    /// without it no upload larger than a buffer could be stored.
    pub async fn open(
        url: &ObjectStoreUrl,
        sse: &S3Sse,
        aws: &AwsSettings,
        spool_dir: &FsPath,
    ) -> anyhow::Result<Self> {
        match url {
            ObjectStoreUrl::File(dir) => {
                tokio::fs::create_dir_all(dir).await.with_context(|| {
                    format!("could not create the files directory {}", dir.display())
                })?;
                let store = Arc::new(LocalFileSystem::new_with_prefix(dir).with_context(|| {
                    format!("could not open the files directory {}", dir.display())
                })?);
                Ok(Self {
                    local: Some(Arc::clone(&store)),
                    ..Self::from_store(store, "", "file")
                })
            }
            ObjectStoreUrl::S3 { bucket, prefix } => {
                let config = aws::sdk_config(aws).await;
                let region = config
                    .region()
                    .map(|r| r.as_ref().to_owned())
                    .unwrap_or_else(|| "us-east-1".to_owned());
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(aws.connect_timeout)
                            // One request carries a whole part or a whole download: bounded, but not by
                            // the per-call timeout of small DynamoDB calls.
                            .with_timeout(Duration::from_secs(300))
                            .with_allow_http(
                                aws.endpoint_url
                                    .as_deref()
                                    .is_some_and(|u| u.starts_with("http://")),
                            ),
                    )
                    .with_http_connector(CountingS3Connector::default())
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: aws.call_timeout.max(Duration::from_secs(10)),
                        ..RetryConfig::default()
                    });
                if let Some(provider) = config.credentials_provider() {
                    builder = builder.with_credentials(Arc::new(SdkCredentials::new(provider)));
                }
                if let Some(endpoint) = &aws.endpoint_url {
                    // A local S3 (moto, MinIO) answers on one host: bucket in the path, not the host name.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                // The encryption key type is not exported by name; its configuration key parses.
                let sse_key: AmazonS3ConfigKey = "aws_server_side_encryption"
                    .parse()
                    .context("object_store no longer knows aws_server_side_encryption")?;
                builder = match sse {
                    S3Sse::S3 => builder.with_config(sse_key, "AES256"),
                    S3Sse::Kms { key_id: Some(key) } => builder.with_sse_kms_encryption(key),
                    S3Sse::Kms { key_id: None } => builder.with_config(sse_key, "aws:kms"),
                };
                aws::use_ring_for_tls();
                let store = builder
                    .build()
                    .context("could not configure the S3 client")?;
                let dir = spool_dir.to_owned();
                tokio::task::spawn_blocking(move || tempfile::tempfile_in(&dir).map(drop))
                    .await
                    .context("checking the upload spool directory")?
                    .with_context(|| {
                        format!(
                            "cannot write to the upload spool directory {} (STRATUS_UPLOAD_SPOOL_DIR)",
                            spool_dir.display()
                        )
                    })?;
                Ok(Self::from_store(Arc::new(store), prefix, "s3").with_spool_dir(spool_dir))
            }
        }
    }

    /// Wraps any `object_store` implementation (tests use the in-memory one). Uploads to it gather their
    /// parts in the system's temporary directory unless [`Objects::with_spool_dir`] says otherwise.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, backend: &'static str) -> Self {
        Self {
            store,
            prefix: Path::from(prefix.trim_matches('/')),
            backend,
            local: None,
            spool_dir: Arc::from(std::env::temp_dir().as_path()),
            part_buffers: Arc::new(Semaphore::new(PART_BUFFERS)),
        }
    }

    /// Gathers remote uploads' parts in `dir`.
    pub fn with_spool_dir(self, dir: &FsPath) -> Self {
        Self {
            spool_dir: Arc::from(dir),
            ..self
        }
    }

    /// `file` or `s3`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    fn key(&self, id: FileId) -> Path {
        self.prefix.clone().join(id.to_string().as_str())
    }

    /// Streams `body` into the object `id`, hashing and sniffing on the way, refusing more than `limit`
    /// bytes. At most [`BUFFER_BYTES`] of the body are held in memory between writes (see the module
    /// doc). On any failure nothing is left behind (best effort: a failed abort is logged, the sweep finds
    /// what remains).
    #[tracing::instrument(name = "Store an object", skip_all, fields(backend = self.backend, file_id = %id))]
    pub async fn put_stream<S, E>(
        &self,
        id: FileId,
        body: S,
        limit: u64,
    ) -> Result<Ingested, IngestError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<anyhow::Error>,
    {
        let mut body = pin!(body);
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let mut writer = ObjectWriter::new(self, self.key(id));
        let streamed: Result<(), IngestError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| IngestError::Body(e.into()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(IngestError::TooLarge { limit });
                }
                hasher.update(&chunk);
                if head.len() < ContentType::SNIFF_BYTES {
                    let take = (ContentType::SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                writer.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(err) = streamed {
            // Abort now rather than on drop: the answer (413, 400) promises that nothing was kept.
            writer.abort().await;
            return Err(err);
        }
        writer.finish().await?;
        Ok(Ingested {
            size,
            sha256: Sha256Digest::from_bytes(hasher.finalize().into()),
            content_type: ContentType::sniff(&head),
            text: ContentType::looks_like_text(&head),
        })
    }

    /// Reads the object `id`, or `range` of it; `None` when it does not exist.
    pub async fn get(
        &self,
        id: FileId,
        range: Option<Range<u64>>,
    ) -> Result<Option<ObjectRead>, StoreError> {
        if let Some(local) = &self.local {
            let path = local
                .path_to_filesystem(&self.key(id))
                .map_err(|e| unavailable("reading an object", e))?;
            let small = read_small_local(&path, range.clone()).map_err(|e| {
                StoreError::unavailable(anyhow::Error::new(e).context("reading an object"))
            })?;
            match small {
                LocalRead::Missing => return Ok(None),
                LocalRead::Small { bytes, range, size } => {
                    return Ok(Some(ObjectRead {
                        stream: futures_util::stream::once(std::future::ready(Ok(bytes))).boxed(),
                        range,
                        size,
                    }));
                }
                // Streamed through object_store below (one more open for a read that is long anyway).
                LocalRead::Large => {}
            }
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.key(id), options).await {
            Ok(result) => {
                let (range, size) = (result.range.clone(), result.meta.size);
                // A small read in one go: object_store streams a local file in 8 KiB chunks, each its own
                // trip to the blocking pool (a 64 KiB download was 9 thread hand-offs and ~550 µs of CPU);
                // `bytes()` reads the whole range in one. Larger reads stream, so memory stays bounded.
                let stream = if range.end - range.start <= SMALL_READ_BYTES {
                    let bytes = result
                        .bytes()
                        .await
                        .map_err(|e| unavailable("reading an object", e))?;
                    futures_util::stream::once(std::future::ready(Ok(bytes))).boxed()
                } else {
                    result.into_stream().map_err(std::io::Error::other).boxed()
                };
                Ok(Some(ObjectRead {
                    stream,
                    range,
                    size,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(unavailable("reading an object", err)),
        }
    }

    /// Whether the object `id` exists.
    pub async fn exists(&self, id: FileId) -> Result<bool, StoreError> {
        match self.store.head(&self.key(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(unavailable("checking an object", err)),
        }
    }

    /// Deletes the object `id`; deleting one that does not exist succeeds.
    pub async fn delete(&self, id: FileId) -> Result<(), StoreError> {
        self.delete_key(&self.key(id)).await
    }

    /// Deletes an object by its full key (the sweep).
    pub async fn delete_key(&self, key: &Path) -> Result<(), StoreError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(unavailable("deleting an object", err)),
        }
    }

    /// Every object under the prefix (the sweep; never on a request path).
    pub fn list(&self) -> BoxStream<'static, Result<ListedObject, StoreError>> {
        let prefix = self.prefix.clone();
        self.store
            .list(Some(&self.prefix))
            .map(move |item| {
                let meta = item.map_err(|e| unavailable("listing objects", e))?;
                let name = meta.location.prefix_match(&prefix).map(|mut parts| {
                    let first = parts.next().map(|p| p.as_ref().to_owned());
                    (first, parts.next().is_none())
                });
                let id = match name {
                    Some((Some(first), true)) => FileId::parse(&first).ok(),
                    _ => None,
                };
                let last_modified = OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                    meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
                ))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                Ok(ListedObject {
                    id,
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified,
                })
            })
            .boxed()
    }

    /// The key path of a listed object.
    pub fn path_of(listed: &ListedObject) -> Path {
        Path::from(listed.key.as_str())
    }
}

fn unavailable(what: &'static str, err: object_store::Error) -> StoreError {
    crate::storage::failures::count(what);
    StoreError::unavailable(anyhow::Error::new(err).context(what))
}

/// One upload's way into the store: a buffer of at most [`BUFFER_BYTES`], then the staging file (local)
/// or the part gathering on disk (remote), and the multipart upload once one is needed.
struct ObjectWriter<'a> {
    objects: &'a Objects,
    key: Path,
    /// Received bytes not yet written out. Written out when full and more bytes come, so a file that fits
    /// in it is one `PUT`.
    buffer: BytesMut,
    /// Remote stores: the current part so far, on disk.
    spool: Option<Spool>,
    /// The multipart upload, once the file outgrew the buffer (local) or a part (remote).
    upload: Option<Upload>,
}

/// The bytes of the part being gathered, in an unnamed temporary file (gone when its handle closes).
struct Spool {
    file: std::fs::File,
    len: usize,
}

/// A started multipart upload and its parts in flight. Dropped unfinished (a request timeout, a client
/// that went away), its part tasks stop and the upload is aborted.
struct Upload {
    multipart: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

impl<'a> ObjectWriter<'a> {
    fn new(objects: &'a Objects, key: Path) -> Self {
        Self {
            objects,
            key,
            buffer: BytesMut::new(),
            spool: None,
            upload: None,
        }
    }

    /// Takes `bytes` in, writing the buffer out each time it is full and more bytes follow.
    async fn write(&mut self, mut bytes: &[u8]) -> Result<(), IngestError> {
        while !bytes.is_empty() {
            if self.buffer.len() == BUFFER_BYTES {
                self.write_out().await?;
            }
            if self.buffer.capacity() == 0 {
                self.buffer.reserve(BUFFER_BYTES);
            }
            let take = (BUFFER_BYTES - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        Ok(())
    }

    /// Writes the (full) buffer out: as the next part of the local staging file, or onto the remote part
    /// gathering on disk, which is sent once it is [`PART_SIZE`] long.
    async fn write_out(&mut self) -> Result<(), IngestError> {
        let full = self.buffer.split().freeze();
        if self.objects.local.is_some() {
            return self.send_part(PutPayload::from(full), None).await;
        }
        let spool = match self.spool.take() {
            Some(spool) => spool,
            None => Spool::create(&self.objects.spool_dir).await?,
        };
        let spool = spool.append(full).await?;
        if spool.len < PART_SIZE {
            self.spool = Some(spool);
            return Ok(());
        }
        // Room for the part before it is read into memory: this upload's own limit, then everyone's.
        self.wait_for_parts(PARTS_IN_FLIGHT - 1).await?;
        let permit = self.part_buffer().await?;
        let (spool, part) = spool.take_all().await?;
        self.spool = Some(spool);
        self.send_part(PutPayload::from(part), Some(permit)).await
    }

    /// Waits for one of the [`PART_BUFFERS`] (the semaphore is never closed, so it always comes).
    /// The future does not borrow `self`: it must be `Send`, and the multipart upload in `self` is not
    /// `Sync`.
    fn part_buffer(
        &self,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, IngestError>> + Send + 'static {
        let buffers = Arc::clone(&self.objects.part_buffers);
        async move {
            buffers
                .acquire_owned()
                .await
                .map_err(|e| IngestError::Store(StoreError::unavailable(e)))
        }
    }

    /// Starts the multipart upload if need be, and sends `part` in a task of its own (holding `permit`
    /// until it is sent), so parts go on uploading while the body is awaited.
    async fn send_part(
        &mut self,
        part: PutPayload,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), IngestError> {
        if self.upload.is_none() {
            let multipart = self
                .objects
                .store
                .put_multipart(&self.key)
                .await
                .map_err(|e| unavailable("starting a multipart upload", e))?;
            self.upload = Some(Upload {
                multipart: Some(multipart),
                parts: JoinSet::new(),
            });
        }
        self.wait_for_parts(PARTS_IN_FLIGHT - 1).await?;
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        let Some(multipart) = upload.multipart.as_mut() else {
            return Ok(());
        };
        let sending = multipart.put_part(part);
        upload.parts.spawn(async move {
            let sent = sending.await;
            drop(permit);
            sent
        });
        Ok(())
    }

    /// Waits until at most `most` parts are in flight; the first failed part fails the upload.
    async fn wait_for_parts(&mut self, most: usize) -> Result<(), IngestError> {
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        while upload.parts.len() > most {
            match upload.parts.join_next().await {
                Some(Ok(Ok(()))) | None => {}
                Some(Ok(Err(err))) => return Err(unavailable("uploading a part", err).into()),
                Some(Err(err)) => {
                    return Err(IngestError::Store(StoreError::unavailable(
                        anyhow::Error::new(err).context("uploading a part"),
                    )));
                }
            }
        }
        Ok(())
    }

    /// Writes what is left and makes the object visible: one `PUT` when nothing was written out yet,
    /// else the last part and the completion of the multipart upload. When that fails, the multipart
    /// upload is aborted before the error is returned.
    async fn finish(mut self) -> Result<(), IngestError> {
        let finished = self.complete().await;
        if finished.is_err() {
            self.abort().await;
        }
        finished
    }

    async fn complete(&mut self) -> Result<(), IngestError> {
        let last = self.buffer.split().freeze();
        let mut permit = None;
        let rest = match self.spool.take() {
            Some(spool) if spool.len > 0 => {
                permit = Some(self.part_buffer().await?);
                let (_, gathered) = spool.take_all().await?;
                PutPayload::from_iter([gathered, last])
            }
            _ => PutPayload::from(last),
        };
        if self.upload.is_none() {
            self.objects
                .store
                .put(&self.key, rest)
                .await
                .map_err(|e| unavailable("storing an object", e))?;
            drop(permit);
            return Ok(());
        }
        if rest.content_length() > 0 {
            self.send_part(rest, permit).await?;
        }
        self.wait_for_parts(0).await?;
        let Some(multipart) = self.upload.as_mut().and_then(|u| u.multipart.as_mut()) else {
            return Ok(());
        };
        multipart
            .complete()
            .await
            .map_err(|e| unavailable("completing a multipart upload", e))?;
        // Complete: nothing is left to abort.
        if let Some(upload) = self.upload.as_mut() {
            upload.multipart = None;
        }
        Ok(())
    }

    /// Stops the parts in flight and aborts the multipart upload, if one was started.
    async fn abort(&mut self) {
        let Some(upload) = self.upload.as_mut() else {
            return;
        };
        upload.parts.shutdown().await;
        if let Some(mut multipart) = upload.multipart.take()
            && let Err(err) = multipart.abort().await
        {
            tracing::warn!(error.message = %err, "could not abort a multipart upload; the sweep will remove it");
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.parts.abort_all();
        if let Some(mut multipart) = self.multipart.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(err) = multipart.abort().await {
                    tracing::warn!(error.message = %err, "could not abort an abandoned multipart upload");
                }
            });
        }
    }
}

impl Spool {
    /// An unnamed temporary file in `dir` (`O_TMPFILE` where the file system has it).
    async fn create(dir: &Arc<FsPath>) -> Result<Self, IngestError> {
        let dir = Arc::clone(dir);
        let file = blocking("creating an upload spool file", move || {
            tempfile::tempfile_in(&*dir)
        })
        .await?;
        Ok(Self { file, len: 0 })
    }

    /// Appends `bytes` (on a blocking thread: a disk write).
    async fn append(self, bytes: Bytes) -> Result<Self, IngestError> {
        let Self { mut file, len } = self;
        blocking("writing to an upload spool file", move || {
            file.write_all(&bytes)?;
            Ok(Self {
                file,
                len: len + bytes.len(),
            })
        })
        .await
    }

    /// Reads everything gathered into memory and empties the file for the next part.
    async fn take_all(self) -> Result<(Self, Bytes), IngestError> {
        let Self { mut file, len } = self;
        blocking("reading an upload spool file", move || {
            let mut gathered = Vec::with_capacity(len);
            file.seek(SeekFrom::Start(0))?;
            (&mut file).take(len as u64).read_to_end(&mut gathered)?;
            if gathered.len() != len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the spool file ended after {} of {len} bytes",
                        gathered.len()
                    ),
                ));
            }
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            Ok((Self { file, len: 0 }, Bytes::from(gathered)))
        })
        .await
    }
}

/// Runs file I/O on the blocking pool, as a store error when it fails.
async fn blocking<T, F>(what: &'static str, work: F) -> Result<T, IngestError>
where
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(IngestError::Store(StoreError::unavailable(
            anyhow::Error::new(err).context(what),
        ))),
        Err(err) => Err(IngestError::Store(StoreError::unavailable(
            anyhow::Error::new(err).context(what),
        ))),
    }
}

/// The AWS SDK's credential chain (environment, profile, web identity, ECS task role, EC2 instance profile)
/// for `object_store`, with the credentials cached until five minutes before they expire.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        let margin = Duration::from_secs(300);
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| at > SystemTime::now() + margin);
            if fresh {
                return Ok(Arc::clone(credential));
            }
        }
        let credentials = self.provider.provide_credentials().await.map_err(|err| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(err),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *cached = Some((Arc::clone(&credential), credentials.expiry()));
        Ok(credential)
    }
}

#[cfg(test)]
mod tests;
