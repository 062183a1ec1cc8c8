//! Streaming a multipart upload into the file store, under the upload limits: the size, the idle
//! timeout, the minimum rate, and the owner that must exist.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{
    body::Body,
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt as _;

use super::human_size;
use crate::{
    config::MinTransferRate,
    files::{FileId, FileMeta, FileName, IngestError},
    http::{
        AppState, csrf,
        error::{ApiError, FieldError, HtmlError},
        extract::{self, BodyCut},
    },
    storage::StoreError,
    users::{UserId, UserStore},
};

/// Room for the multipart framing and the small fields around the file part.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// The largest small field (`owner`, `csrf_token`).
const SMALL_FIELD_BYTES: u64 = 1024;

/// Why an upload was refused; rendered as problem+json (API) or an HTML page.
#[derive(Debug)]
pub(super) enum UploadError {
    /// Anything `ApiError` says well.
    Api(ApiError),
    /// Over `STRATUS_MAX_UPLOAD_BYTES`.
    TooLarge(u64),
    /// No byte of the body arrived for this long.
    Stalled(Duration),
    /// The body arrived below the minimum rate.
    TooSlow(MinTransferRate),
}

impl From<BodyCut> for UploadError {
    fn from(cut: BodyCut) -> Self {
        match cut {
            BodyCut::Stalled(idle) => Self::Stalled(idle),
            BodyCut::TooSlow(rate) => Self::TooSlow(rate),
        }
    }
}

impl From<ApiError> for UploadError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<StoreError> for UploadError {
    fn from(err: StoreError) -> Self {
        Self::Api(ApiError::from(err).for_upload())
    }
}

impl From<IngestError> for UploadError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::TooLarge { limit } => Self::TooLarge(limit),
            IngestError::Body(cause) => Self::Api(ApiError::BadRequest(format!(
                "The upload could not be read: {}.",
                multipart_reason(&cause)
            ))),
            IngestError::Store(err) => Self::Api(ApiError::from(err).for_upload()),
        }
    }
}

/// An upload that failed while streaming its file, under a file limit of `limit` bytes.
///
/// The body as a whole has a limit too (the file's plus room for the framing and small fields), enforced
/// by multer as it reads ahead of the file's bytes; a body over it (which only a chunked upload can send:
/// a declared length over it is refused before reading) arrives here as a broken body. It means the same
/// as the file limit, so it is answered the same: 413, not 400.
fn ingest_error(err: IngestError, limit: u64) -> UploadError {
    match err {
        IngestError::Body(cause) if body_over_limit(&cause) => UploadError::TooLarge(limit),
        other => other.into(),
    }
}

/// Whether `cause` is multer's whole-body limit, however it was wrapped.
fn body_over_limit(cause: &anyhow::Error) -> bool {
    cause.chain().any(|e| {
        matches!(
            e.downcast_ref::<multer::Error>(),
            Some(multer::Error::StreamSizeExceeded { .. })
        )
    })
}

fn stalled_sentence(idle: Duration) -> String {
    format!(
        "The upload stalled: no data arrived for {} s. Nothing was stored; please try again.",
        idle.as_secs()
    )
}

fn too_slow_sentence(rate: MinTransferRate) -> String {
    format!(
        "The upload arrived too slowly: less than {} bytes per second over {} s. Nothing was stored; please try again on a faster connection.",
        rate.bytes_per_second,
        rate.window.as_secs_f64()
    )
}

fn too_large_sentence(limit: u64) -> String {
    format!(
        "The file is too large: at most {} ({limit} bytes) can be uploaded. Nothing was stored.",
        human_size(limit)
    )
}

impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::Api(err) => err,
            UploadError::TooLarge(limit) => Self::TooLarge(too_large_sentence(limit)),
            UploadError::Stalled(idle) => Self::TimedOut(stalled_sentence(idle)),
            UploadError::TooSlow(rate) => Self::TimedOut(too_slow_sentence(rate)),
        }
    }
}

impl UploadError {
    /// The answer to an API client: problem+json.
    pub(super) fn api_response(self) -> Response {
        ApiError::from(self).into_response()
    }

    /// The answer to the page: an HTML page with the same status and sentence.
    pub(super) fn html_response(self) -> Response {
        HtmlError(ApiError::from(self)).into_response()
    }
}

/// A sentence for a broken multipart body (multer's own text names the problem well).
fn multipart_reason(cause: &anyhow::Error) -> String {
    let text = cause.root_cause().to_string();
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "the body ended early".into(),
    }
}

/// Which kind of client is uploading: the page checks its CSRF token before accepting any bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Uploader {
    Api,
    Page,
}

/// Streams a multipart upload into the file store and returns its metadata.
pub(super) async fn receive_upload(
    state: &AppState,
    parts: &Parts,
    body: Body,
    uploader: Uploader,
) -> Result<FileMeta, UploadError> {
    let limit = state.files.max_upload_bytes;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::UnsupportedMediaType(
            "Content-Type must be multipart/form-data (with a boundary), the file in a part named `file`.".into(),
        )
    })?;
    // Refuse at once what says it is too large: no byte of it is read or stored.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.saturating_add(MULTIPART_SLACK)) {
        return Err(UploadError::TooLarge(limit));
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limit.saturating_add(MULTIPART_SLACK))
            .for_field("owner", SMALL_FIELD_BYTES)
            .for_field("csrf_token", SMALL_FIELD_BYTES),
    );
    let cut = Arc::new(OnceLock::new());
    let body = extract::paced(
        body,
        state.body_idle_timeout,
        state.upload_min_rate,
        Arc::clone(&cut),
    );
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut owner: Option<UserId> = None;
    let mut owner_checked = false;
    let mut csrf_token: Option<String> = None;
    let mut stored: Option<FileMeta> = None;
    let users = UserStore::new(state.sql.clone());
    let result: Result<(), UploadError> = async {
        while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(e, limit))? {
            match field.name() {
                Some("owner") => {
                    let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                    let text = text.trim();
                    owner = if text.is_empty() {
                        None
                    } else {
                        Some(UserId::parse(text).map_err(|e| owner_error(e.to_string()))?)
                    };
                    if stored.is_none() {
                        check_owner(&users, owner).await?;
                        owner_checked = true;
                    } else {
                        owner_checked = false;
                    }
                }
                Some("csrf_token") if uploader == Uploader::Page => {
                    csrf_token = Some(field.text().await.map_err(|e| multipart_error(e, limit))?);
                }
                Some("file") => {
                    if stored.is_some() {
                        return Err(ApiError::BadRequest("Send one file per upload: there are two `file` parts.".into()).into());
                    }
                    if uploader == Uploader::Page {
                        csrf::verify(&parts.headers, csrf_token.as_deref())?;
                    }
                    // A browser sends an empty file name (and no bytes) when no file was chosen.
                    if field.file_name().is_some_and(|name| name.trim().is_empty()) {
                        return Err(ApiError::Validation(vec![FieldError::new(
                            "file",
                            "Choose a file to upload.",
                        )])
                        .into());
                    }
                    let name = FileName::sanitize(field.file_name().unwrap_or_default());
                    let bytes = field.map(|chunk| chunk.map_err(anyhow::Error::new));
                    let meta = state
                        .files
                        .upload(name, owner, bytes)
                        .await
                        .map_err(|e| ingest_error(e, limit))?;
                    stored = Some(meta);
                }
                Some(other) => {
                    let other: String = other.chars().filter(|c| !c.is_control()).take(40).collect();
                    return Err(ApiError::BadRequest(format!(
                        "Unknown part `{other}`: an upload has a `file` part and optionally an `owner` part."
                    ))
                    .into());
                }
                None => {
                    return Err(ApiError::BadRequest("Every part of the upload needs a name (`file`, `owner`).".into()).into());
                }
            }
        }
        Ok(())
    }
    .await;
    match (result, stored) {
        (Ok(()), Some(meta)) if owner_checked || owner.is_none() && meta.owner.is_none() => {
            Ok(meta)
        }
        (Ok(()), Some(mut meta)) => {
            // `owner` came after the file: check it now, and undo the upload if it is wrong.
            if let Err(err) = check_owner(&users, owner).await {
                undo(state, meta.id).await;
                return Err(err);
            }
            if meta.owner != owner {
                undo(state, meta.id).await;
                return Err(ApiError::BadRequest(
                    "Send `owner` before `file`: an owner after the file cannot be applied.".into(),
                )
                .into());
            }
            meta.owner = owner;
            Ok(meta)
        }
        (Ok(()), None) => Err(ApiError::BadRequest(
            "The upload has no file: send it in a multipart/form-data part named `file`.".into(),
        )
        .into()),
        (Err(err), stored) => {
            if let Some(meta) = stored {
                undo(state, meta.id).await;
            }
            // However the read error was wrapped on its way up: a body that stopped arriving, or came too
            // slowly, is a 408.
            if let Some(cut) = cut.get() {
                return Err((*cut).into());
            }
            Err(err)
        }
    }
}

/// Removes a file stored by a request that is then refused.
async fn undo(state: &AppState, id: FileId) {
    if let Err(err) = state.files.delete(id).await {
        tracing::warn!(file_id = %id, error.message = %err, "could not remove a refused upload; `stratus files sweep` will");
    }
}

fn owner_error(message: String) -> UploadError {
    UploadError::Api(ApiError::Validation(vec![FieldError::new(
        "owner", message,
    )]))
}

async fn check_owner(users: &UserStore, owner: Option<UserId>) -> Result<(), UploadError> {
    match owner {
        Some(id) if !users.exists(id).await? => {
            Err(owner_error(format!("There is no user with the id {id}.")))
        }
        _ => Ok(()),
    }
}

fn multipart_error(err: multer::Error, limit: u64) -> UploadError {
    match err {
        multer::Error::StreamSizeExceeded { .. } => UploadError::TooLarge(limit),
        multer::Error::FieldSizeExceeded { field_name, .. } => {
            UploadError::Api(ApiError::BadRequest(format!(
                "The `{}` field is too long.",
                field_name
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(40)
                    .collect::<String>()
            )))
        }
        other => UploadError::Api(ApiError::BadRequest(format!(
            "The upload could not be read: {}.",
            multipart_reason(&anyhow::Error::new(other))
        ))),
    }
}
