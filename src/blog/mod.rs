//! The blog: posts written in Markdown by the admin, read by everyone under `/blog`.
//!
//! - [`post`]: the parsed values a post is made of ([`Slug`], [`PostTitle`], [`PostBody`], ...), each
//!   checked once at the edge.
//! - [`markdown`]: Markdown to HTML that is safe to put in a page (pulldown-cmark, then ammonia).
//! - [`store`]: posts in the relational database (SQLite or PostgreSQL), with optimistic concurrency: every
//!   change names the version it was based on and is refused when someone saved in between.

pub mod http;
pub mod markdown;
pub mod post;
pub mod store;

pub use http::router;
pub use markdown::render_markdown;
pub use post::{
    NewPost, PageNumber, PageNumberError, Post, PostBody, PostBodyError, PostEdit, PostId,
    PostIdError, PostTitle, PostTitleError, PostVersion, PostVersionError, Slug, SlugError,
};
pub use store::{BlogPage, ChangeRefused, SlugChoice, SlugTaken};
