//! The `/files` page: the upload form, the files newest first, and the delete buttons.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, header},
    response::{Html, IntoResponse, Redirect, Response},
};

use super::{
    file_id, human_size, owner_filter,
    upload::{Uploader, receive_upload},
};
use crate::{
    http::{
        AppState,
        auth::{Viewer, WriteAccess},
        csrf,
        error::{ApiError, HtmlError},
        extract::{CheckedForm, ClientContext, Fields, page_request},
        pages::{self, PageChrome},
    },
    storage::{PageLimit, PageRequest},
    time::{format_for_people, format_timestamp},
    users::UserStore,
};

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
    _form: CheckedForm,
) -> Result<Response, HtmlError> {
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
