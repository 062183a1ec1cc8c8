//! The files API: upload, list, metadata, download and delete.

use axum::{
    Json,
    body::Body,
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    FileBody, FilePage, UploadForm, file_id, find, owner_filter,
    range::{RangeRequest, parse_range},
    upload::{Uploader, receive_upload},
};
use crate::http::{
    AppState,
    auth::{FileRead, WriteAccess},
    error::{ApiError, Problem},
    etag::ETag,
    extract::{Fields, page_request},
};

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
    let etag = ETag::from_token(&meta.sha256.to_string());
    let mut response = Response::builder();
    {
        let h = response
            .headers_mut()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("response builder")))?;
        h.insert(
            header::ETAG,
            etag.header_value()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an ETag that is no header")))?,
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
            HeaderValue::from_str(&meta.content_type.header_value())
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        );
    }
    if etag.none_match(&headers) {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.into()));
    }
    // If-Range with another validator: the file changed since the client's partial copy, send it whole.
    let range_header = if etag.if_range_allows(&headers) {
        headers.get(header::RANGE).and_then(|v| v.to_str().ok())
    } else {
        None
    };
    let (status, range) = match parse_range(range_header, meta.size) {
        RangeRequest::Whole => (StatusCode::OK, None),
        RangeRequest::Part(start, end) => (StatusCode::PARTIAL_CONTENT, Some(start..end)),
        RangeRequest::Unsatisfiable => {
            let mut refused = ApiError::RangeNotSatisfiable(format!(
                "The range is outside the file, which has {} bytes.",
                meta.size
            ))
            .into_response();
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
