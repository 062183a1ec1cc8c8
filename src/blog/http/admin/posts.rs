//! The list of posts, publishing and unpublishing, and deleting with a confirmation page.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode},
    response::Response,
};

use crate::{
    blog::{ChangeRefused, PageNumber, Post, PostId, http::public::human_date, store},
    http::{
        AppState,
        auth::AdminSession,
        error::{ApiError, HtmlError},
        extract::{ClientContext, Fields, MAX_BODY_BYTES},
        pages::{self, PageChrome},
    },
    time::format_timestamp,
};

use super::{
    POSTS_PER_PAGE, csrf_for, notice_of, post_id, private_page, read_form, see_other, version_field,
};

/// A post as the admin's list shows it.
#[derive(Debug)]
struct PostRow {
    id: String,
    slug: String,
    title: String,
    published: bool,
    updated_machine: String,
    updated_human: String,
    version: i64,
}

impl From<&Post> for PostRow {
    fn from(post: &Post) -> Self {
        Self {
            id: post.id.to_string(),
            slug: post.slug.to_string(),
            title: post.title.to_string(),
            published: post.is_published(),
            updated_machine: format_timestamp(post.updated_at),
            updated_human: human_date(post.updated_at),
            version: post.version.get(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/posts.html")]
struct PostsPage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    notice: Option<&'static str>,
    posts: Vec<PostRow>,
    page_number: u32,
    newer: Option<u32>,
    older: Option<u32>,
}

/// `GET /admin`: every post, drafts included, most recently changed first.
#[tracing::instrument(name = "Listing posts for the admin", skip_all)]
pub(super) async fn list_posts(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let number = match fields.get("page") {
        None => PageNumber::FIRST,
        Some(raw) => PageNumber::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    let page = store::all_posts_page(&state.sql, number, POSTS_PER_PAGE).await?;
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&PostsPage {
        page: PageChrome::current(),
        bar_username: admin.username,
        csrf_token,
        notice: notice_of(query.as_deref()),
        posts: page.items.iter().map(PostRow::from).collect(),
        page_number: number.get(),
        newer: number.previous().map(PageNumber::get),
        older: page
            .has_next
            .then(|| number.next())
            .flatten()
            .map(PageNumber::get),
    })?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// The editor's fields as typed, with a message per wrong field.
#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    title: String,
    message: String,
    link_href: String,
    link_text: String,
}

/// The page for a publish/unpublish/delete that was refused.
fn refused(
    admin: &AdminSession,
    headers: &HeaderMap,
    client: ClientContext,
    id: PostId,
    refusal: ChangeRefused,
) -> Result<Response, HtmlError> {
    let (csrf_token, cookies) = csrf_for(headers, client);
    let (status, message, link_href, link_text) = match refusal {
        ChangeRefused::Stale(theirs) => (
            StatusCode::CONFLICT,
            format!(
                "Nothing was changed: the post was saved by someone else after you loaded this page (it is now at version {}). Look at it again, then decide.",
                theirs.version.get()
            ),
            format!("/admin/posts/{id}/edit"),
            "Open the post as it is now".to_owned(),
        ),
        ChangeRefused::NotFound => (
            StatusCode::NOT_FOUND,
            "Nothing was changed: this post does not exist any more.".to_owned(),
            "/admin".to_owned(),
            "Back to the posts".to_owned(),
        ),
        ChangeRefused::SlugTaken(taken) => (
            StatusCode::CONFLICT,
            taken.to_string(),
            format!("/admin/posts/{id}/edit"),
            "Open the post".to_owned(),
        ),
    };
    let body = pages::render(&MessagePage {
        page: PageChrome::current(),
        bar_username: admin.username.clone(),
        csrf_token,
        title: "Not changed".into(),
        message,
        link_href,
        link_text,
    })?;
    Ok(private_page(status, body, cookies))
}

async fn set_published(
    state: AppState,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
    publish: bool,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (headers, fields) = read_form(request, MAX_BODY_BYTES).await?;
    let based_on = version_field(&fields)?;
    match store::set_published(&state.sql, id, based_on, publish).await? {
        Ok(post) => {
            tracing::info!(post_id = %post.id, publish, "post publication changed");
            let notice = if publish { "published" } else { "unpublished" };
            Ok(see_other(&format!("/admin?notice={notice}"), Vec::new()))
        }
        Err(refusal) => refused(&admin, &headers, client, id, refusal),
    }
}

/// `POST /admin/posts/{id}/publish`: readers see it from now on (if still at the form's version).
pub(super) async fn publish(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    set_published(state, admin, client, raw_id, request, true).await
}

/// `POST /admin/posts/{id}/unpublish`: back to a draft (if still at the form's version).
pub(super) async fn unpublish(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    set_published(state, admin, client, raw_id, request, false).await
}

#[derive(Template)]
#[template(path = "admin/confirm_delete.html")]
struct ConfirmDeletePage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    id: String,
    title: String,
    published: bool,
    version: i64,
}

/// `GET /admin/posts/{id}/delete`: asks before deleting (a link never deletes anything).
pub(super) async fn confirm_delete(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let Some(post) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "There is no post with this id; it may have been deleted already.".into(),
        )
        .into());
    };
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&ConfirmDeletePage {
        page: PageChrome::current(),
        bar_username: admin.username,
        csrf_token,
        id: post.id.to_string(),
        title: post.title.to_string(),
        published: post.is_published(),
        version: post.version.get(),
    })?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// `POST /admin/posts/{id}/delete`: deletes the post, if it is still as the author last saw it.
#[tracing::instrument(name = "Deleting a post", skip_all)]
pub(super) async fn delete_post(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (headers, fields) = read_form(request, MAX_BODY_BYTES).await?;
    let based_on = version_field(&fields)?;
    match store::delete_post(&state.sql, id, based_on).await? {
        Ok(()) => {
            tracing::info!(post_id = %id, "post deleted");
            Ok(see_other("/admin?notice=deleted", Vec::new()))
        }
        Err(refusal) => refused(&admin, &headers, client, id, refusal),
    }
}
