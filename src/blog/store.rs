//! Posts in the relational database (`migrations/<engine>/0002_admin_blog.sql`), one SQL text per engine.
//!
//! Every change is optimistic: it names the version it was based on (`... WHERE post_id = $1 AND version
//! = $2`), bumps it, and changes nothing when another save came first. The caller then hears
//! [`ChangeRefused::Stale`] with the post as it is now, so the author's text is never overwritten
//! silently and their own text is never lost either (the page shows it again).
//!
//! Slugs are unique by constraint, not by a check before the insert, so two authors racing for one
//! address cannot both get it.

use sqlx::{Row as _, postgres::PgRow, sqlite::SqliteRow};
use time::OffsetDateTime;

use super::post::{
    NewPost, PageNumber, Post, PostBody, PostEdit, PostId, PostTitle, PostVersion, Slug,
};
use crate::{
    storage::{SqlConn, SqlDb, SqlPool, StoreError, is_unique_violation},
    time::{format_timestamp, parse_timestamp},
};

/// How a new post's address is chosen.
#[derive(Debug, Clone)]
pub enum SlugChoice {
    /// The author typed it: a clash is refused ([`SlugTaken`]).
    Given(Slug),
    /// Made from the title: a clash gets a suffix (`hello-2`, `hello-3`, ...).
    FromTitle(Slug),
}

/// Another post already has this address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Another post already uses the address /blog/{0}. Choose another one.")]
pub struct SlugTaken(pub Slug);

/// Why a change to a post was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRefused {
    /// No such post (deleted meanwhile, or never existed).
    NotFound,
    /// Someone saved the post after it was loaded; this is how it is now.
    Stale(Box<Post>),
    /// The new address belongs to another post.
    SlugTaken(SlugTaken),
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlogPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// This page's number.
    pub page: PageNumber,
    /// Whether a further page has items.
    pub has_next: bool,
}

/// Suffixes tried for a generated slug before giving up with [`SlugTaken`].
const MAX_SUFFIX: u32 = 50;

const SQLITE_COLUMNS: &str =
    "post_id, slug, title, body_markdown, published_at, created_at, updated_at, version";
const PG_COLUMNS: &str = "post_id::text AS post_id, slug, title, body_markdown, published_at, created_at, updated_at, version";

/// Now, at the microsecond precision both engines store, so a post reads back equal to what was written.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_microsecond(now.microsecond()).unwrap_or(now)
}

/// Stored data that does not parse as a post: a bug or a hand edit, reported as a decode error.
fn corrupt(column: &'static str, err: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("stored value is not valid: {err}").into(),
    }
}

fn post_from_parts(
    id: &str,
    slug: &str,
    title: &str,
    body: &str,
    version: i64,
    times: (Option<OffsetDateTime>, OffsetDateTime, OffsetDateTime),
) -> Result<Post, sqlx::Error> {
    let (published_at, created_at, updated_at) = times;
    Ok(Post {
        id: PostId::parse(id).map_err(|e| corrupt("post_id", e))?,
        slug: Slug::parse(slug).map_err(|e| corrupt("slug", e))?,
        title: PostTitle::parse(title).map_err(|e| corrupt("title", e))?,
        body: PostBody::from_stored(body).map_err(|e| corrupt("body_markdown", e))?,
        published_at,
        created_at,
        updated_at,
        version: PostVersion::from_stored(version),
    })
}

fn sqlite_time(row: &SqliteRow, column: &'static str) -> Result<OffsetDateTime, sqlx::Error> {
    let text: String = row.try_get(column)?;
    parse_timestamp(&text).map_err(|e| corrupt(column, e))
}

fn post_from_sqlite(row: &SqliteRow) -> Result<Post, sqlx::Error> {
    let published: Option<String> = row.try_get("published_at")?;
    let published_at = published
        .map(|t| parse_timestamp(&t).map_err(|e| corrupt("published_at", e)))
        .transpose()?;
    post_from_parts(
        row.try_get("post_id")?,
        row.try_get("slug")?,
        row.try_get("title")?,
        row.try_get("body_markdown")?,
        row.try_get("version")?,
        (
            published_at,
            sqlite_time(row, "created_at")?,
            sqlite_time(row, "updated_at")?,
        ),
    )
}

/// A post as the inline reads (rusqlite) see it: `SQLITE_COLUMNS` by position.
fn post_from_rusqlite(row: &rusqlite::Row<'_>) -> anyhow::Result<Post> {
    let text = |index: usize| row.get::<_, String>(index);
    let time = |index: usize, column: &'static str| -> anyhow::Result<OffsetDateTime> {
        Ok(parse_timestamp(&text(index)?).map_err(|e| corrupt(column, e))?)
    };
    let published_at = row
        .get::<_, Option<String>>(4)?
        .map(|t| parse_timestamp(&t).map_err(|e| corrupt("published_at", e)))
        .transpose()?;
    Ok(post_from_parts(
        &text(0)?,
        &text(1)?,
        &text(2)?,
        &text(3)?,
        row.get(7)?,
        (published_at, time(5, "created_at")?, time(6, "updated_at")?),
    )?)
}

fn post_from_pg(row: &PgRow) -> Result<Post, sqlx::Error> {
    post_from_parts(
        row.try_get("post_id")?,
        row.try_get("slug")?,
        row.try_get("title")?,
        row.try_get("body_markdown")?,
        row.try_get("version")?,
        (
            row.try_get("published_at")?,
            row.try_get("created_at")?,
            row.try_get("updated_at")?,
        ),
    )
}

/// Creates a draft. `Ok(Err(SlugTaken))` when the address is taken (a typed one), or when even
/// [`MAX_SUFFIX`] suffixes of a generated one are.
#[tracing::instrument(name = "Storing a new post", skip_all)]
pub async fn create_post(
    db: &SqlDb,
    post: NewPost,
    slug: SlugChoice,
) -> Result<Result<Post, SlugTaken>, StoreError> {
    db.write("storing a new post", move |conn| async move {
        let (base, may_suffix) = match slug {
            SlugChoice::Given(slug) => (slug, false),
            SlugChoice::FromTitle(slug) => (slug, true),
        };
        let at = now();
        let mut conn = conn;
        for n in 1..=MAX_SUFFIX {
            let candidate = if n == 1 {
                base.clone()
            } else {
                base.with_suffix(n)
            };
            let stored = Post {
                id: PostId::new(),
                slug: candidate,
                title: post.title.clone(),
                body: post.body.clone(),
                published_at: None,
                created_at: at,
                updated_at: at,
                version: PostVersion::FIRST,
            };
            let inserted = match &mut conn {
                SqlConn::Sqlite(conn) => sqlx::query(
                    "INSERT INTO post (post_id, slug, title, body_markdown, published_at, created_at, updated_at, version) \
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?5, ?6)",
                )
                .bind(stored.id.to_string())
                .bind(stored.slug.as_str())
                .bind(stored.title.as_str())
                .bind(stored.body.as_str())
                .bind(format_timestamp(at))
                .bind(stored.version.get())
                .execute(&mut **conn)
                .await
                .map(|_| ()),
                SqlConn::Postgres(conn) => sqlx::query(
                    "INSERT INTO post (post_id, slug, title, body_markdown, published_at, created_at, updated_at, version) \
                     VALUES ($1::uuid, $2, $3, $4, NULL, $5, $5, $6)",
                )
                .bind(stored.id.to_string())
                .bind(stored.slug.as_str())
                .bind(stored.title.as_str())
                .bind(stored.body.as_str())
                .bind(at)
                .bind(stored.version.get())
                .execute(&mut **conn)
                .await
                .map(|_| ()),
            };
            match inserted {
                Ok(()) => return Ok(Ok(stored)),
                Err(err) if is_unique_violation(&err) && may_suffix => {}
                Err(err) if is_unique_violation(&err) => return Ok(Err(SlugTaken(stored.slug))),
                Err(err) => return Err(err),
            }
        }
        Ok(Err(SlugTaken(base)))
    })
    .await
}

/// The post with this id, published or not (admin).
pub async fn post_by_id(db: &SqlDb, id: PostId) -> Result<Option<Post>, StoreError> {
    db.read("reading a post", move |pool| async move {
        match pool {
            SqlPool::Sqlite(pool) => {
                let sql = format!("SELECT {SQLITE_COLUMNS} FROM post WHERE post_id = ?1");
                let row = sqlx::query(&sql)
                    .bind(id.to_string())
                    .fetch_optional(&pool)
                    .await?;
                row.as_ref().map(post_from_sqlite).transpose()
            }
            SqlPool::Postgres(pool) => {
                let sql = format!("SELECT {PG_COLUMNS} FROM post WHERE post_id = $1::uuid");
                let row = sqlx::query(&sql)
                    .bind(id.to_string())
                    .fetch_optional(&pool)
                    .await?;
                row.as_ref().map(post_from_pg).transpose()
            }
        }
    })
    .await
}

/// The published post at this address, if there is one (readers never see drafts).
pub async fn published_post(db: &SqlDb, slug: Slug) -> Result<Option<Post>, StoreError> {
    let wanted = slug.clone();
    db.read_inline(
        "reading a published post",
        move |conn| {
            let sql = format!(
                "SELECT {SQLITE_COLUMNS} FROM post WHERE slug = ?1 AND published_at IS NOT NULL"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query([wanted.as_str()])?;
            rows.next()?.map(post_from_rusqlite).transpose()
        },
        move |pool| async move {
            let sql = format!(
                "SELECT {PG_COLUMNS} FROM post WHERE slug = $1 AND published_at IS NOT NULL"
            );
            let row = sqlx::query(&sql)
                .bind(slug.as_str())
                .fetch_optional(&pool)
                .await?;
            row.as_ref().map(post_from_pg).transpose()
        },
    )
    .await
}

/// Which posts a listing shows, and in what order.
#[derive(Debug, Clone, Copy)]
enum Listing {
    /// Published posts, newest publication first (readers, the feed, the sitemap).
    Published,
    /// Every post, most recently changed first (the admin's list).
    All,
}

impl Listing {
    fn clause(self) -> &'static str {
        match self {
            Self::Published => {
                "WHERE published_at IS NOT NULL ORDER BY published_at DESC, post_seq DESC"
            }
            Self::All => "ORDER BY updated_at DESC, post_seq DESC",
        }
    }
}

async fn list(
    db: &SqlDb,
    listing: Listing,
    limit: u32,
    offset: u64,
) -> Result<Vec<Post>, StoreError> {
    let (limit, offset) = (i64::from(limit), i64::try_from(offset).unwrap_or(i64::MAX));
    db.read_inline(
        "listing posts",
        move |conn| {
            let sql = format!(
                "SELECT {SQLITE_COLUMNS} FROM post {} LIMIT ?1 OFFSET ?2",
                listing.clause()
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(rusqlite::params![limit, offset])?;
            let mut posts = Vec::new();
            while let Some(row) = rows.next()? {
                posts.push(post_from_rusqlite(row)?);
            }
            Ok(posts)
        },
        move |pool| async move {
            let sql = format!(
                "SELECT {PG_COLUMNS} FROM post {} LIMIT $1 OFFSET $2",
                listing.clause()
            );
            let rows = sqlx::query(&sql)
                .bind(limit)
                .bind(offset)
                .fetch_all(&pool)
                .await?;
            rows.iter().map(post_from_pg).collect()
        },
    )
    .await
}

async fn page_of(
    db: &SqlDb,
    listing: Listing,
    page: PageNumber,
    per_page: u32,
) -> Result<BlogPage<Post>, StoreError> {
    let offset = u64::from(page.get() - 1) * u64::from(per_page);
    // One row more than shown says whether there is a next page.
    let mut items = list(db, listing, per_page + 1, offset).await?;
    let has_next = items.len() > per_page as usize;
    items.truncate(per_page as usize);
    Ok(BlogPage {
        items,
        page,
        has_next,
    })
}

/// A page of published posts, newest first.
pub async fn published_page(
    db: &SqlDb,
    page: PageNumber,
    per_page: u32,
) -> Result<BlogPage<Post>, StoreError> {
    page_of(db, Listing::Published, page, per_page).await
}

/// A page of all posts, drafts included, most recently changed first.
pub async fn all_posts_page(
    db: &SqlDb,
    page: PageNumber,
    per_page: u32,
) -> Result<BlogPage<Post>, StoreError> {
    page_of(db, Listing::All, page, per_page).await
}

/// The latest `n` published posts (the feed, the sitemap).
pub async fn latest_published(db: &SqlDb, n: u32) -> Result<Vec<Post>, StoreError> {
    list(db, Listing::Published, n, 0).await
}

/// The post as it is now, to explain why a change was refused.
async fn refusal_sqlite(
    conn: &mut sqlx::SqliteConnection,
    id: PostId,
) -> Result<ChangeRefused, sqlx::Error> {
    let sql = format!("SELECT {SQLITE_COLUMNS} FROM post WHERE post_id = ?1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(match row.as_ref().map(post_from_sqlite).transpose()? {
        Some(current) => ChangeRefused::Stale(Box::new(current)),
        None => ChangeRefused::NotFound,
    })
}

async fn refusal_pg(
    conn: &mut sqlx::PgConnection,
    id: PostId,
) -> Result<ChangeRefused, sqlx::Error> {
    let sql = format!("SELECT {PG_COLUMNS} FROM post WHERE post_id = $1::uuid");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(match row.as_ref().map(post_from_pg).transpose()? {
        Some(current) => ChangeRefused::Stale(Box::new(current)),
        None => ChangeRefused::NotFound,
    })
}

/// What an optimistic change sets besides the version and `updated_at`.
#[derive(Debug, Clone)]
enum Change {
    Content(PostEdit),
    Published(Option<OffsetDateTime>),
}

async fn change(
    db: &SqlDb,
    what: &'static str,
    id: PostId,
    based_on: PostVersion,
    change: Change,
) -> Result<Result<Post, ChangeRefused>, StoreError> {
    db.write(what, move |conn| async move {
        let at = now();
        let (id_text, version) = (id.to_string(), based_on.get());
        match conn {
            SqlConn::Sqlite(mut conn) => {
                let updated = match &change {
                    Change::Content(edit) => {
                        sqlx::query(
                            "UPDATE post SET title = ?1, body_markdown = ?2, slug = COALESCE(?3, slug), \
                             updated_at = ?4, version = version + 1 WHERE post_id = ?5 AND version = ?6",
                        )
                        .bind(edit.title.as_str())
                        .bind(edit.body.as_str())
                        .bind(edit.slug.as_ref().map(Slug::as_str))
                        .bind(format_timestamp(at))
                        .bind(&id_text)
                        .bind(version)
                        .execute(&mut *conn)
                        .await
                    }
                    Change::Published(published_at) => {
                        sqlx::query(
                            "UPDATE post SET published_at = ?1, updated_at = ?2, version = version + 1 \
                             WHERE post_id = ?3 AND version = ?4",
                        )
                        .bind(published_at.map(format_timestamp))
                        .bind(format_timestamp(at))
                        .bind(&id_text)
                        .bind(version)
                        .execute(&mut *conn)
                        .await
                    }
                };
                match updated {
                    Ok(done) if done.rows_affected() == 1 => {}
                    Ok(_) => return Ok(Err(refusal_sqlite(&mut conn, id).await?)),
                    Err(err) => return clash_or(err, &change),
                }
                let sql = format!("SELECT {SQLITE_COLUMNS} FROM post WHERE post_id = ?1");
                let row = sqlx::query(&sql)
                    .bind(&id_text)
                    .fetch_one(&mut *conn)
                    .await?;
                post_from_sqlite(&row).map(Ok)
            }
            SqlConn::Postgres(mut conn) => {
                let updated = match &change {
                    Change::Content(edit) => {
                        let sql = format!(
                            "UPDATE post SET title = $1, body_markdown = $2, slug = COALESCE($3, slug), \
                             updated_at = $4, version = version + 1 WHERE post_id = $5::uuid AND version = $6 \
                             RETURNING {PG_COLUMNS}"
                        );
                        sqlx::query(&sql)
                            .bind(edit.title.as_str())
                            .bind(edit.body.as_str())
                            .bind(edit.slug.as_ref().map(Slug::as_str))
                            .bind(at)
                            .bind(&id_text)
                            .bind(version)
                            .fetch_optional(&mut *conn)
                            .await
                    }
                    Change::Published(published_at) => {
                        let sql = format!(
                            "UPDATE post SET published_at = $1, updated_at = $2, version = version + 1 \
                             WHERE post_id = $3::uuid AND version = $4 RETURNING {PG_COLUMNS}"
                        );
                        sqlx::query(&sql)
                            .bind(*published_at)
                            .bind(at)
                            .bind(&id_text)
                            .bind(version)
                            .fetch_optional(&mut *conn)
                            .await
                    }
                };
                match updated {
                    Ok(Some(row)) => post_from_pg(&row).map(Ok),
                    Ok(None) => Ok(Err(refusal_pg(&mut conn, id).await?)),
                    Err(err) => clash_or(err, &change),
                }
            }
        }
    })
    .await
}

/// The address a change gives the post, if it gives a new one: the only thing a change can clash on.
fn new_slug(change: &Change) -> Option<&Slug> {
    match change {
        Change::Content(edit) => edit.slug.as_ref(),
        Change::Published(_) => None,
    }
}

/// A unique violation on a change that gives a new address is that address being taken; any other
/// error is the database's.
fn clash_or<T>(err: sqlx::Error, change: &Change) -> Result<Result<T, ChangeRefused>, sqlx::Error> {
    match new_slug(change) {
        Some(slug) if is_unique_violation(&err) => {
            Ok(Err(ChangeRefused::SlugTaken(SlugTaken(slug.clone()))))
        }
        _ => Err(err),
    }
}

/// Saves a new title, text and (optionally) address, if the post is still at `edit.based_on`.
#[tracing::instrument(name = "Saving a post", skip_all)]
pub async fn update_post(
    db: &SqlDb,
    id: PostId,
    edit: PostEdit,
) -> Result<Result<Post, ChangeRefused>, StoreError> {
    let based_on = edit.based_on;
    change(db, "saving a post", id, based_on, Change::Content(edit)).await
}

/// Publishes (now) or unpublishes a post, if it is still at `based_on`.
#[tracing::instrument(name = "Publishing or unpublishing a post", skip_all, fields(publish))]
pub async fn set_published(
    db: &SqlDb,
    id: PostId,
    based_on: PostVersion,
    publish: bool,
) -> Result<Result<Post, ChangeRefused>, StoreError> {
    let published_at = publish.then(now);
    change(
        db,
        "publishing a post",
        id,
        based_on,
        Change::Published(published_at),
    )
    .await
}

/// Deletes a post, if it is still at `based_on` (nobody changed it since the author looked at it).
#[tracing::instrument(name = "Deleting a post", skip_all)]
pub async fn delete_post(
    db: &SqlDb,
    id: PostId,
    based_on: PostVersion,
) -> Result<Result<(), ChangeRefused>, StoreError> {
    db.write("deleting a post", move |conn| async move {
        match conn {
            SqlConn::Sqlite(mut conn) => {
                let done = sqlx::query("DELETE FROM post WHERE post_id = ?1 AND version = ?2")
                    .bind(id.to_string())
                    .bind(based_on.get())
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 1 {
                    Ok(Ok(()))
                } else {
                    Ok(Err(refusal_sqlite(&mut conn, id).await?))
                }
            }
            SqlConn::Postgres(mut conn) => {
                let done =
                    sqlx::query("DELETE FROM post WHERE post_id = $1::uuid AND version = $2")
                        .bind(id.to_string())
                        .bind(based_on.get())
                        .execute(&mut *conn)
                        .await?;
                if done.rows_affected() == 1 {
                    Ok(Ok(()))
                } else {
                    Ok(Err(refusal_pg(&mut conn, id).await?))
                }
            }
        }
    })
    .await
}
