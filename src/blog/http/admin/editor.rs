//! The editor: a new post, an edit, the preview, and saving with the version the edit was based on.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, Request, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};

use crate::{
    blog::{
        ChangeRefused, NewPost, Post, PostBody, PostEdit, PostTitle, Slug, SlugChoice, SlugTaken,
        http::public::human_date, render_markdown, store,
    },
    http::{
        AppState,
        auth::{AdminSession, Viewer},
        csrf,
        error::{ApiError, HtmlError},
        extract::{ClientContext, Fields},
        pages::{self, PageChrome},
    },
};

use super::{
    MAX_EDITOR_BYTES, TOKEN_CHANGED, csrf_for, notice_of, post_id, private_page,
    read_form_unverified, see_other, version_field,
};

#[derive(Debug, Default)]
struct EditorForm {
    title: String,
    slug: String,
    body: String,
    title_error: Option<String>,
    slug_error: Option<String>,
    body_error: Option<String>,
}

/// What is saved, shown above the publishing buttons.
#[derive(Debug)]
struct SavedState {
    slug: String,
    published_human: Option<String>,
    version: i64,
}

/// The post as someone else saved it, shown beside the author's text after a stale edit.
#[derive(Debug)]
struct TheirVersion {
    title: String,
    slug: String,
    body: String,
    version: i64,
}

#[derive(Template)]
#[template(path = "admin/editor.html")]
struct EditorPage {
    page: PageChrome,
    bar_username: String,
    csrf_token: String,
    heading: String,
    action: String,
    version: Option<i64>,
    notice: Option<&'static str>,
    problem: Option<String>,
    form: EditorForm,
    saved: Option<SavedState>,
    preview_html: Option<String>,
    current: Option<TheirVersion>,
}

impl EditorPage {
    fn new(admin: &str, csrf_token: String, editing: Option<&Post>, form: EditorForm) -> Self {
        Self {
            page: PageChrome::current(),
            bar_username: admin.to_owned(),
            csrf_token,
            heading: editing
                .map_or_else(|| "New post".to_owned(), |p| format!("Edit “{}”", p.title)),
            action: editing.map_or_else(
                || "/admin/posts".to_owned(),
                |p| format!("/admin/posts/{}", p.id),
            ),
            version: editing.map(|p| p.version.get()),
            notice: None,
            problem: None,
            form,
            saved: editing.map(|p| SavedState {
                slug: p.slug.to_string(),
                published_human: p.published_at.map(human_date),
                version: p.version.get(),
            }),
            preview_html: None,
            current: None,
        }
    }
}

/// A valid editor form.
#[derive(Debug)]
struct ValidEditor {
    title: PostTitle,
    slug: Option<Slug>,
    body: PostBody,
}

impl EditorForm {
    /// The fields as typed, unchecked: what is shown back to the author.
    fn as_typed(fields: &Fields) -> Self {
        Self {
            title: fields.get("title").unwrap_or_default().to_owned(),
            slug: fields.get("slug").unwrap_or_default().to_owned(),
            body: fields.get("body").unwrap_or_default().to_owned(),
            ..Self::default()
        }
    }
}

/// The fields as typed (kept for showing again), then parsed; every wrong field gets its message.
fn parse_editor(fields: &Fields) -> (EditorForm, Option<ValidEditor>) {
    let mut form = EditorForm::as_typed(fields);
    let title = PostTitle::parse(&form.title).map_err(|e| e.to_string());
    let slug = if form.slug.trim().is_empty() {
        Ok(None)
    } else {
        Slug::parse(&form.slug).map(Some).map_err(|e| e.to_string())
    };
    let body = PostBody::parse(&form.body).map_err(|e| e.to_string());
    match (title, slug, body) {
        (Ok(title), Ok(slug), Ok(body)) => (form, Some(ValidEditor { title, slug, body })),
        (title, slug, body) => {
            form.title_error = title.err();
            form.slug_error = slug.err();
            form.body_error = body.err();
            (form, None)
        }
    }
}

/// Whether the editor's `Preview` button was pressed (else `Save`, also the default on Enter).
fn wants_preview(fields: &Fields) -> bool {
    fields.get("action") == Some("preview")
}

/// The editor's form parsed, and its preview when asked for and the text is valid, on a blocking
/// thread within the render budget (parsing a body measures its nesting, which is linear but not free;
/// rendering is the costly part). Only ever called for a signed-in admin.
async fn parse_and_preview(
    fields: Fields<'static>,
) -> Result<(EditorForm, Option<ValidEditor>, Option<String>), HtmlError> {
    let preview = wants_preview(&fields);
    let parsed = crate::blog::markdown::off_runtime(move || {
        let (form, valid) = parse_editor(&fields);
        let html = if preview && form.body_error.is_none() {
            PostBody::parse(&form.body)
                .ok()
                .map(|body| render_markdown(body.as_str()))
        } else {
            None
        };
        (form, valid, html)
    })
    .await
    .map_err(ApiError::from)?;
    Ok(parsed)
}

/// `GET /admin/posts/new`: an empty editor.
pub(super) async fn new_post_form(
    admin: AdminSession,
    client: ClientContext,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let body = pages::render(&EditorPage::new(
        &admin.username,
        csrf_token,
        None,
        EditorForm::default(),
    ))?;
    Ok(private_page(StatusCode::OK, body, cookies))
}

/// Shows the editor again with the author's text and why nothing was saved.
fn editor_again(
    status: StatusCode,
    mut page: EditorPage,
    problem: Option<String>,
    cookies: Vec<HeaderValue>,
) -> Result<Response, HtmlError> {
    page.problem = problem;
    Ok(private_page(status, pages::render(&page)?, cookies))
}

const SESSION_ENDED: &str = "Your session has ended, so nothing was saved. Your text is still below: sign in again in another tab (at /admin/login), then come back here and save again.";

/// `POST /admin/posts`: saves a new draft (303 to its editor), or shows a preview.
#[tracing::instrument(name = "Creating a post", skip_all)]
pub(super) async fn create_post(
    State(state): State<AppState>,
    client: ClientContext,
    viewer: Viewer,
    request: Request,
) -> Result<Response, HtmlError> {
    let (headers, fields) = read_form_unverified(request, MAX_EDITOR_BYTES).await?;
    let token_ok = csrf::verify(&headers, fields.get("csrf_token")).is_ok();
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let admin = match (viewer.admin, token_ok) {
        (Some(admin), true) => admin,
        (admin, _) => {
            // Nothing is parsed, rendered or saved: they only get their own text back.
            let problem = if admin.is_some() {
                TOKEN_CHANGED
            } else {
                SESSION_ENDED
            };
            let name = admin.as_ref().map_or("", |a| a.username.as_str());
            let page = EditorPage::new(name, csrf_token, None, EditorForm::as_typed(&fields));
            return editor_again(StatusCode::FORBIDDEN, page, Some(problem.into()), cookies);
        }
    };
    let (form, valid, preview) = parse_and_preview(fields).await?;
    let mut page = EditorPage::new(&admin.username, csrf_token, None, form);
    page.preview_html = preview;
    if page.preview_html.is_some() {
        return editor_again(StatusCode::OK, page, None, cookies);
    }
    let Some(valid) = valid else {
        return editor_again(
            StatusCode::UNPROCESSABLE_ENTITY,
            page,
            Some("Nothing was saved. Please fix the fields marked below.".into()),
            cookies,
        );
    };
    let slug = match valid.slug {
        Some(slug) => SlugChoice::Given(slug),
        None => SlugChoice::FromTitle(Slug::from_title(&valid.title)),
    };
    let new = NewPost {
        title: valid.title,
        body: valid.body,
    };
    match store::create_post(&state.sql, new, slug).await? {
        Ok(post) => {
            metrics::counter!("stratus_posts_created_total").increment(1);
            tracing::info!(post_id = %post.id, slug = %post.slug, "post created");
            Ok(see_other(
                &format!("/admin/posts/{}/edit?notice=created", post.id),
                cookies,
            ))
        }
        Err(SlugTaken(slug)) => {
            page.form.slug_error = Some(SlugTaken(slug).to_string());
            editor_again(
                StatusCode::CONFLICT,
                page,
                Some("Nothing was saved: the address is taken.".into()),
                cookies,
            )
        }
    }
}

/// `GET /admin/posts/{id}/edit`: the editor, filled with the saved post.
#[tracing::instrument(name = "Showing the editor", skip_all)]
pub(super) async fn edit_post_form(
    State(state): State<AppState>,
    admin: AdminSession,
    client: ClientContext,
    raw_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let Some(post) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "There is no post with this id; it may have been deleted.".into(),
        )
        .into());
    };
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let form = EditorForm {
        title: post.title.to_string(),
        slug: post.slug.to_string(),
        body: post.body.as_str().to_owned(),
        ..EditorForm::default()
    };
    let mut page = EditorPage::new(&admin.username, csrf_token, Some(&post), form);
    page.notice = notice_of(query.as_deref());
    Ok(private_page(StatusCode::OK, pages::render(&page)?, cookies))
}

/// `POST /admin/posts/{id}`: saves the post if nobody saved it since the author loaded it (303 back to
/// the editor), or shows a preview. A stale save is refused with 409: the author's text stays in the
/// form, the version saved meanwhile is shown beside it, and the form now carries that version, so a
/// second save (after reading theirs) is a deliberate overwrite.
#[tracing::instrument(name = "Saving a post", skip_all)]
pub(super) async fn save_post(
    State(state): State<AppState>,
    client: ClientContext,
    viewer: Viewer,
    raw_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, HtmlError> {
    let id = post_id(raw_id)?;
    let (headers, fields) = read_form_unverified(request, MAX_EDITOR_BYTES).await?;
    let token_ok = csrf::verify(&headers, fields.get("csrf_token")).is_ok();
    let based_on = version_field(&fields)?;
    let (csrf_token, cookies) = csrf_for(&headers, client);
    let admin = match (viewer.admin, token_ok) {
        (Some(admin), true) => admin,
        (admin, _) => {
            // Nothing is read, parsed, rendered or saved; the page only gives them their own text back.
            let problem = if admin.is_some() {
                TOKEN_CHANGED
            } else {
                SESSION_ENDED
            };
            let name = admin.as_ref().map_or("", |a| a.username.as_str());
            let mut page = EditorPage::new(name, csrf_token, None, EditorForm::as_typed(&fields));
            page.action = format!("/admin/posts/{id}");
            page.heading = "Edit a post".into();
            page.version = Some(based_on.get());
            return editor_again(StatusCode::FORBIDDEN, page, Some(problem.into()), cookies);
        }
    };
    let Some(saved) = store::post_by_id(&state.sql, id).await? else {
        return Err(ApiError::NotFound(
            "This post was deleted meanwhile, so nothing was saved. Use your browser's Back button to copy your text, then create a new post with it."
                .into(),
        )
        .into());
    };
    let (form, valid, preview) = parse_and_preview(fields).await?;
    let mut page = EditorPage::new(&admin.username, csrf_token, Some(&saved), form);
    // The form goes on carrying the version the author started from, not the one just read.
    page.version = Some(based_on.get());
    page.preview_html = preview;
    if page.preview_html.is_some() {
        return editor_again(StatusCode::OK, page, None, cookies);
    }
    let Some(valid) = valid else {
        return editor_again(
            StatusCode::UNPROCESSABLE_ENTITY,
            page,
            Some("Nothing was saved. Please fix the fields marked below.".into()),
            cookies,
        );
    };
    let edit = PostEdit {
        title: valid.title,
        body: valid.body,
        slug: valid.slug,
        based_on,
    };
    match store::update_post(&state.sql, id, edit).await? {
        Ok(post) => {
            tracing::info!(post_id = %post.id, version = post.version.get(), "post saved");
            Ok(see_other(
                &format!("/admin/posts/{}/edit?notice=saved", post.id),
                cookies,
            ))
        }
        Err(ChangeRefused::Stale(theirs)) => {
            page.version = Some(theirs.version.get());
            let problem = format!(
                "Not saved: someone saved this post after you opened it (you started from version {}, it is now at version {}). Your text is still in the form below; their version is shown underneath. Merge what you need, then press Save again to replace theirs.",
                based_on.get(),
                theirs.version.get()
            );
            page.saved = Some(SavedState {
                slug: theirs.slug.to_string(),
                published_human: theirs.published_at.map(human_date),
                version: theirs.version.get(),
            });
            page.current = Some(TheirVersion {
                title: theirs.title.to_string(),
                slug: theirs.slug.to_string(),
                body: theirs.body.as_str().to_owned(),
                version: theirs.version.get(),
            });
            editor_again(StatusCode::CONFLICT, page, Some(problem), cookies)
        }
        Err(ChangeRefused::SlugTaken(taken)) => {
            page.form.slug_error = Some(taken.to_string());
            editor_again(
                StatusCode::CONFLICT,
                page,
                Some("Nothing was saved: the address is taken.".into()),
                cookies,
            )
        }
        Err(ChangeRefused::NotFound) => Err(ApiError::NotFound(
            "This post was deleted meanwhile, so nothing was saved. Use your browser's Back button to copy your text, then create a new post with it."
                .into(),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_keeps_typed_text_and_marks_each_wrong_field() {
        let fields = Fields::parse(b"title=&slug=Bad+Slug&body=kept+text").unwrap_or_default();
        let (form, valid) = parse_editor(&fields);
        assert!(valid.is_none());
        assert_eq!(form.body, "kept text");
        assert_eq!(form.slug, "Bad Slug");
        assert!(form.title_error.is_some());
        assert!(form.slug_error.is_some());
        assert!(form.body_error.is_none());
    }
}
