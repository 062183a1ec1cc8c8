//! Files (seed 004): `/files` (upload form, list, delete) and `/api/v1/files`.
//!
//! Uploads are `multipart/form-data` with the bytes in a part named `file` and an optional `owner` (a user
//! id). The part is streamed to the object store as it arrives (see `files::Objects`): nothing buffers the
//! whole file, and `STRATUS_MAX_UPLOAD_BYTES` is enforced while streaming (413, nothing kept). The client's
//! `Content-Type` and file name are never trusted: the type is sniffed from the bytes, the name sanitized,
//! and the object key is a generated id.
//!
//! Downloads are always attachments with `X-Content-Type-Options: nosniff`, whatever the sniffed type, so an
//! uploaded HTML or SVG file is never rendered by the browser as part of this site (no stored XSS). They
//! carry `Content-Length`, a strong `ETag` (the SHA-256) and answer single `Range` requests with 206.
//!
//! Uploads and deletes need write access (`auth::WriteAccess`); with no admin configured they are open and
//! the page says so.
//!
//! An upload takes a slot of its own pool (`STRATUS_MAX_CONCURRENT_UPLOADS`; full: 503 at once), so slow
//! uploads never take the slots pages and the API are served from. It must finish within
//! `STRATUS_UPLOAD_TIMEOUT`, never pause longer than `STRATUS_REQUEST_TIMEOUT`, and arrive at
//! `STRATUS_UPLOAD_MIN_BYTES_PER_SECOND` or faster (averaged over `STRATUS_UPLOAD_RATE_WINDOW`); a body
//! that does not is answered 408 and nothing is kept.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use askama::Template;
use axum::{
    Json,
    body::Body,
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
};
use futures_util::StreamExt as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    AppState,
    auth::{FileRead, Viewer, WriteAccess},
    csrf,
    error::{ApiError, HtmlError, Problem},
    extract::{
        self, BodyCut, ClientContext, Fields, MAX_BODY_BYTES, MediaType, read_body,
        require_content_type,
    },
    middleware::current_request_id,
    pages::{self, PageChrome},
};
use crate::{
    config::MinTransferRate,
    domain::{
        Cursor, PageLimit, PageRequest,
        submission::{format_for_people, format_timestamp},
    },
    files::{FileId, FileMeta, FileName, IngestError},
    storage::StoreError,
    users::{UserId, UserStore},
};

/// Room for the multipart framing and the small fields around the file part.
const MULTIPART_SLACK: u64 = 64 * 1024;
/// The largest small field (`owner`, `csrf_token`).
const SMALL_FIELD_BYTES: u64 = 1024;

/// A stored file's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileBody {
    /// Public id (UUID), also the object key.
    #[schema(example = "01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80")]
    pub(crate) id: String,
    /// The file name as sent, sanitized (no path, control characters or quotes).
    #[schema(example = "report.pdf")]
    pub(crate) name: String,
    /// Size in bytes.
    #[schema(example = 52_431)]
    pub(crate) size: u64,
    /// SHA-256 of the bytes, hex; also the download's ETag.
    #[schema(
        example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        pattern = "^[0-9a-f]{64}$"
    )]
    pub(crate) sha256: String,
    /// Sniffed from the bytes (`application/octet-stream` when unknown); never the client's claim.
    #[schema(example = "application/pdf")]
    pub(crate) content_type: String,
    /// The owning user's id, or `null`.
    #[schema(example = "01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b81")]
    pub(crate) owner: Option<String>,
    /// When it was stored (RFC 3339, UTC).
    #[schema(example = "2026-11-23T10:30:00.123456Z", format = DateTime)]
    pub(crate) created_at: String,
}

impl From<&FileMeta> for FileBody {
    fn from(meta: &FileMeta) -> Self {
        Self {
            id: meta.id.to_string(),
            name: meta.name.to_string(),
            size: meta.size,
            sha256: meta.sha256.to_string(),
            content_type: meta.content_type.to_string(),
            owner: meta.owner.map(|o| o.to_string()),
            created_at: format_timestamp(meta.created_at),
        }
    }
}

/// One page of files, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FilePage {
    /// The files of this page.
    pub(crate) items: Vec<FileBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// An upload (for the OpenAPI document; the handler streams the parts itself). Other parts are refused,
/// which `deny_unknown_fields` tells the document (`additionalProperties: false`).
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The file. Its name is kept (sanitized); its declared type is ignored.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The owning user's id (optional; it must be a user that exists, else 422). Send it before `file` to
    /// have a wrong one refused before the bytes.
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    owner: Option<String>,
}

/// An RFC 9457 problem answer for the cases `ApiError` has no variant for (409, 413 with a file-specific
/// sentence, 416), rendered the same way and never cached.
pub(crate) fn problem(status: StatusCode, detail: String) -> Response {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        request_id: current_request_id(),
        errors: Vec::new(),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `limit` and `cursor` from a query.
pub(crate) fn page_request(fields: &Fields) -> Result<PageRequest, ApiError> {
    let limit = fields
        .get("limit")
        .map(PageLimit::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let cursor = fields
        .get("cursor")
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(PageRequest {
        limit: limit.unwrap_or_default(),
        cursor,
    })
}

fn owner_filter(fields: &Fields) -> Result<Option<UserId>, ApiError> {
    fields
        .get("owner")
        .filter(|raw| !raw.is_empty())
        .map(|raw| UserId::parse(raw).map_err(|e| ApiError::BadRequest(format!("owner: {e}"))))
        .transpose()
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Why an upload was refused; rendered as problem+json (API) or an HTML page.
#[derive(Debug)]
enum UploadError {
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

impl UploadError {
    fn api_response(self) -> Response {
        match self {
            Self::Api(err) => err.into_response(),
            Self::TooLarge(limit) => {
                problem(StatusCode::PAYLOAD_TOO_LARGE, too_large_sentence(limit))
            }
            Self::Stalled(idle) => problem(StatusCode::REQUEST_TIMEOUT, stalled_sentence(idle)),
            Self::TooSlow(rate) => problem(StatusCode::REQUEST_TIMEOUT, too_slow_sentence(rate)),
        }
    }

    fn html_response(self) -> Response {
        match self {
            Self::Api(err) => HtmlError(err).into_response(),
            // ApiError's 413 speaks of bytes in a body; a person uploading a file needs this sentence.
            Self::TooLarge(limit) => {
                let mut response =
                    HtmlError(ApiError::BadRequest(too_large_sentence(limit))).into_response();
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                response
            }
            Self::Stalled(idle) => {
                let mut response =
                    HtmlError(ApiError::BadRequest(stalled_sentence(idle))).into_response();
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                response
            }
            Self::TooSlow(rate) => {
                let mut response =
                    HtmlError(ApiError::BadRequest(too_slow_sentence(rate))).into_response();
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                response
            }
        }
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
enum Uploader {
    Api,
    Page,
}

/// Streams a multipart upload into the file store and returns its metadata.
async fn receive_upload(
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
                        return Err(ApiError::Validation(vec![super::error::FieldError::new(
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
    UploadError::Api(ApiError::Validation(vec![super::error::FieldError::new(
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

/// Upload a file.
#[utoipa::path(
    post,
    path = "/api/v1/files",
    tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored: bytes in the object store, then the metadata", body = FileBody,
         headers(("Location" = String, description = "URL of the new file's metadata"))),
        (status = 400, description = "Not a readable upload (no `file` part, an unknown part, a broken body)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "An admin is configured and no valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving (no byte for STRATUS_REQUEST_TIMEOUT) or arrived below STRATUS_UPLOAD_MIN_BYTES_PER_SECOND; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over STRATUS_MAX_UPLOAD_BYTES; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The owner is not a user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many uploads in progress (STRATUS_MAX_CONCURRENT_UPLOADS; Retry-After says when to try again), or the object store or the metadata store is unavailable; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "The file does not fit: the server's disk is full (Retry-After says when to try again); nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn upload_file(
    access: WriteAccess,
    State(state): State<AppState>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    match receive_upload(&state, &parts, body, Uploader::Api).await {
        Ok(meta) => {
            metrics::counter!("stratus_files_uploaded_total").increment(1);
            tracing::info!(file_id = %meta.id, size = meta.size, by = %access, "file stored");
            let location = format!("/api/v1/files/{}", meta.id);
            let mut response = (StatusCode::CREATED, Json(FileBody::from(&meta))).into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(err) => err.api_response(),
    }
}

/// Files, newest first, paged; `owner` lists one user's.
#[utoipa::path(
    get,
    path = "/api/v1/files",
    tag = "files",
    params(
        ("owner" = Option<String>, Query, description = "Only this user's files (a user id; empty: everyone's)", pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page, unchanged", pattern = "^[A-Za-z0-9_-]{1,2048}$"),
    ),
    responses(
        (status = 401, description = "An admin or API token is configured and neither the session nor a valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "A page of files", body = FilePage),
        (status = 400, description = "Bad owner, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The metadata store is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_files(
    _reader: FileRead,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<FilePage>, ApiError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let owner = owner_filter(&fields)?;
    let page = state.files.list(owner, &page_request(&fields)?).await?;
    Ok(Json(FilePage {
        items: page.items.iter().map(FileBody::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

fn file_id(id: Result<Path<String>, PathRejection>) -> Result<FileId, ApiError> {
    let not_found = || ApiError::NotFound("There is no file with this id.".into());
    let Path(raw) = id.map_err(|_| not_found())?;
    FileId::parse(&raw).map_err(|_| not_found())
}

async fn find(state: &AppState, id: FileId) -> Result<FileMeta, ApiError> {
    state
        .files
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("There is no file with this id.".into()))
}

/// One file's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}",
    tag = "files",
    params(("id" = String, Path, description = "File id (UUID)")),
    responses(
        (status = 401, description = "An admin or API token is configured and neither the session nor a valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The file's metadata", body = FileBody),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The metadata store is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_file(
    _reader: FileRead,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FileBody>, ApiError> {
    let meta = find(&state, file_id(id)?).await?;
    Ok(Json(FileBody::from(&meta)))
}

/// A parsed `Range` header, as far as it matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RangeRequest {
    /// No range, several ranges, or one we do not understand: the whole file (RFC 9110 lets a server ignore
    /// `Range`).
    Whole,
    /// Bytes `start..end` (end exclusive), within the file.
    Part(u64, u64),
    /// A range outside the file: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a file of `size` bytes.
fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(size.saturating_sub(n), size),
            None => RangeRequest::Whole,
        },
        (start, "") => match number(start) {
            Some(start) if start < size => RangeRequest::Part(start, size),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start > end => RangeRequest::Whole,
            (Some(start), Some(_)) if start >= size => RangeRequest::Unsatisfiable,
            (Some(start), Some(end)) => RangeRequest::Part(start, end.min(size - 1) + 1),
            _ => RangeRequest::Whole,
        },
    }
}

fn etag_of(meta: &FileMeta) -> String {
    format!("\"{}\"", meta.sha256)
}

/// Whether an `If-None-Match` / `If-Range` value names this ETag.
fn names_etag(value: Option<&HeaderValue>, etag: &str) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .any(|tag| tag.trim() == etag || tag.trim() == "*")
    })
}

/// A file's bytes, always as an attachment.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}/content",
    tag = "files",
    params(
        ("id" = String, Path, description = "File id (UUID)"),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX`; several ranges get the whole file"),
    ),
    responses(
        (status = 401, description = "An admin or API token is configured and neither the session nor a valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The bytes (Content-Type as sniffed from them, Content-Disposition: attachment, X-Content-Type-Options: nosniff)",
         content_type = "*/*",
         headers(("ETag" = String, description = "The SHA-256, quoted"), ("Content-Disposition" = String, description = "attachment, with filename and filename*"))),
        (status = 206, description = "The requested range", content_type = "*/*",
         headers(("Content-Range" = String, description = "bytes START-END/SIZE"))),
        (status = 304, description = "If-None-Match named the ETag"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is outside the file", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn download_file(
    _reader: FileRead,
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let meta = find(&state, file_id(id)?).await?;
    let etag = etag_of(&meta);
    let mut response = Response::builder();
    {
        let h = response
            .headers_mut()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("response builder")))?;
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.into()))?,
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&meta.name.content_disposition())
                .map_err(|e| ApiError::Internal(e.into()))?,
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(meta.content_type.as_str())
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        );
    }
    if names_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.into()));
    }
    // If-Range with another validator: the file changed since the client's partial copy, send it whole.
    let range_header = match headers.get(header::IF_RANGE) {
        Some(_) if !names_etag(headers.get(header::IF_RANGE), &etag) => None,
        _ => headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
    };
    let (status, range) = match parse_range(range_header, meta.size) {
        RangeRequest::Whole => (StatusCode::OK, None),
        RangeRequest::Part(start, end) => (StatusCode::PARTIAL_CONTENT, Some(start..end)),
        RangeRequest::Unsatisfiable => {
            let mut refused = problem(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!(
                    "The range is outside the file, which has {} bytes.",
                    meta.size
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                refused.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(refused);
        }
    };
    let length = range.as_ref().map_or(meta.size, |r| r.end - r.start);
    response = response
        .status(status)
        .header(header::CONTENT_LENGTH, length);
    if let Some(r) = &range {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size),
        );
    }
    if method == Method::HEAD {
        // The metadata answers HEAD: the object store is not asked.
        return response
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.into()));
    }
    // An empty file needs no read (and a zero-length range is not one an object store accepts).
    let body = if meta.size == 0 {
        Body::empty()
    } else {
        match state.files.objects.get(meta.id, range.clone()).await? {
            Some(read) => Body::from_stream(read.stream),
            None => {
                tracing::error!(file_id = %meta.id, "a file's metadata exists but its object does not; `stratus files sweep` reports these");
                return Err(ApiError::NotFound(
                    "This file's contents are missing from storage. The operators have been told."
                        .into(),
                ));
            }
        }
    };
    response
        .body(body)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Delete a file: its metadata, then its bytes.
#[utoipa::path(
    delete,
    path = "/api/v1/files/{id}",
    tag = "files",
    params(("id" = String, Path, description = "File id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "An admin is configured and no valid bearer token was sent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_file(
    access: WriteAccess,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = file_id(id)?;
    if state.files.delete(id).await? {
        tracing::info!(file_id = %id, by = %access, "file deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("There is no file with this id.".into()))
    }
}

/// A file as listed on the page.
#[derive(Debug)]
struct FileRow {
    id: String,
    name: String,
    size: String,
    size_bytes: u64,
    content_type: String,
    owner: Option<String>,
    created_at: String,
    created_at_machine: String,
}

/// A user offered as an owner.
#[derive(Debug)]
struct OwnerOption {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "files/index.html")]
struct FilesPage {
    page: PageChrome,
    files: Vec<FileRow>,
    next_cursor: Option<String>,
    owner_filter: Option<String>,
    owners: Vec<OwnerOption>,
    csrf_token: String,
    can_write: bool,
    writes_open: bool,
    /// Whether this viewer may see the list (files are private once an admin or token is configured,
    /// unless `STRATUS_FILES_PUBLIC`).
    can_read: bool,
    max_upload: String,
}

/// `GET /files`: the upload form and the files, newest first (`?owner=` filters, `?cursor=` pages).
pub(crate) async fn show_files(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientContext,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HtmlError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let owner = owner_filter(&fields)?;
    // People's names and e-mail addresses are private like the users page; files may be public.
    let can_read_people = viewer.can_write();
    let can_read = state.files_public || can_read_people;
    let listed = if can_read {
        state.files.list(owner, &page_request(&fields)?).await?
    } else {
        crate::storage::Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let users = if can_read_people {
        UserStore::new(state.sql.clone())
            .list(&PageRequest {
                limit: PageLimit::parse("100").unwrap_or_default(),
                cursor: None,
            })
            .await?
    } else {
        crate::storage::Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    let names: std::collections::HashMap<String, String> = users
        .items
        .iter()
        .map(|u| (u.id.to_string(), u.name.to_string()))
        .collect();
    let (csrf_token, set_cookie) = csrf::issue(&headers, client.https);
    let page = FilesPage {
        page: PageChrome::current(),
        files: listed
            .items
            .iter()
            .map(|f| {
                let owner = f.owner.map(|o| o.to_string());
                FileRow {
                    id: f.id.to_string(),
                    name: f.name.to_string(),
                    size: human_size(f.size),
                    size_bytes: f.size,
                    content_type: f.content_type.to_string(),
                    owner: owner.map(|id| names.get(&id).cloned().unwrap_or(id)),
                    created_at: format_for_people(f.created_at),
                    created_at_machine: format_timestamp(f.created_at),
                }
            })
            .collect(),
        next_cursor: listed.next_cursor.map(|c| c.as_str().to_owned()),
        owner_filter: owner.map(|o| o.to_string()),
        owners: users
            .items
            .iter()
            .map(|u| OwnerOption {
                id: u.id.to_string(),
                label: format!("{} <{}>", u.name, u.email),
            })
            .collect(),
        csrf_token,
        can_write: viewer.can_write(),
        writes_open: viewer.writes_open,
        can_read,
        max_upload: human_size(state.files.max_upload_bytes),
    };
    let body = pages::render(&page)?;
    let mut response = Html(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /files`: the page's upload (multipart, `csrf_token` and `owner` before `file`), then 303 to `/files`.
pub(crate) async fn upload_from_form(
    access: WriteAccess,
    State(state): State<AppState>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(err) = csrf::refuse_cross_site(&parts.headers) {
        return HtmlError(err).into_response();
    }
    match receive_upload(&state, &parts, body, Uploader::Page).await {
        Ok(meta) => {
            metrics::counter!("stratus_files_uploaded_total").increment(1);
            tracing::info!(file_id = %meta.id, size = meta.size, by = %access, "file stored");
            Redirect::to("/files").into_response()
        }
        Err(err) => err.html_response(),
    }
}

/// `POST /files/{id}/delete`: the page's delete button, then 303 to `/files`.
pub(crate) async fn delete_from_form(
    access: WriteAccess,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    let (parts, body) = request.into_parts();
    csrf::refuse_cross_site(&parts.headers)?;
    require_content_type(&parts.headers, MediaType::Form)?;
    let bytes = read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
    let fields = Fields::parse(&bytes)?;
    csrf::verify(&parts.headers, fields.get("csrf_token"))?;
    let id = file_id(id)?;
    if !state.files.delete(id).await? {
        return Err(ApiError::NotFound(
            "There is no file with this id (it may have been deleted already).".into(),
        )
        .into());
    }
    tracing::info!(file_id = %id, by = %access, "file deleted");
    Ok(Redirect::to("/files").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_understood_and_others_ignored() {
        use RangeRequest::{Part, Unsatisfiable, Whole};
        for (header, want) in [
            (None, Whole),
            (Some("bytes=0-9"), Part(0, 10)),
            (Some("bytes=90-"), Part(90, 100)),
            (Some("bytes=-10"), Part(90, 100)),
            (Some("bytes=-1000"), Part(0, 100)),
            (Some("bytes=50-1000"), Part(50, 100)),
            (Some("bytes=99-99"), Part(99, 100)),
            (Some("bytes=100-"), Unsatisfiable),
            (Some("bytes=100-200"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=0-1,5-6"), Whole),
            (Some("bytes=5-1"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=a-b"), Whole),
            (Some("bytes=+1-2"), Whole),
        ] {
            assert_eq!(parse_range(header, 100), want, "{header:?}");
        }
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-5"), 0),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
    }
}
