//! The files' HTTP side: `/files` (upload form, list, delete) and `/api/v1/files`.
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

//! - [`api`]: the JSON API; [`page`]: the HTML page; [`upload`]: streaming a multipart body into the
//!   stores under the upload limits; [`range`]: `Range` requests of downloads.

mod api;
mod page;
mod range;
mod upload;

use axum::{
    extract::{Path, rejection::PathRejection},
    routing::{get, post},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    files::{FileId, FileMeta},
    http::{AppState, error::ApiError, extract::Fields},
    time::format_timestamp,
    users::UserId,
};

/// The pages and API of files, without the uploads ([`upload_router`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/files", get(page::show_files))
        .route("/files/{id}/delete", post(page::delete_from_form))
        .routes(routes!(api::list_files))
        .routes(routes!(api::get_file, api::delete_file))
        .routes(routes!(api::download_file))
}

/// The two upload routes, which the router gives a pool and a budget of their own.
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/files", post(page::upload_from_form))
        .routes(routes!(api::upload_file))
}

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

pub(super) fn owner_filter(fields: &Fields) -> Result<Option<UserId>, ApiError> {
    fields
        .get("owner")
        .filter(|raw| !raw.is_empty())
        .map(|raw| UserId::parse(raw).map_err(|e| ApiError::BadRequest(format!("owner: {e}"))))
        .transpose()
}

pub(super) fn file_id(id: Result<Path<String>, PathRejection>) -> Result<FileId, ApiError> {
    let not_found = || ApiError::NotFound("There is no file with this id.".into());
    let Path(raw) = id.map_err(|_| not_found())?;
    FileId::parse(&raw).map_err(|_| not_found())
}

pub(super) async fn find(state: &AppState, id: FileId) -> Result<FileMeta, ApiError> {
    state
        .files
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("There is no file with this id.".into()))
}

pub(super) fn human_size(bytes: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
    }
}
