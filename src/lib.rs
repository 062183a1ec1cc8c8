//! Stratus: the seeds' submission board and visit counter as one production-grade Rust service.
//!
//! `main.rs` only parses the command line and calls in here; tests drive the same code.
//!
//! # Layout
//!
//! One room per feature, beside the shared edge and the infrastructure every feature stands on. A feature
//! holds its domain values, its storage and its HTTP handlers, and exports one router.
//!
//! - [`board`]: the eight-digit submission board and the visit counter (`/`, `/api/v1/submissions`,
//!   `/api/v1/visits`): its domain values, the [`board::store::Store`] trait with one implementation per
//!   engine (SQLite, PostgreSQL, DynamoDB), the batched visit counter, the page and the JSON API.
//! - [`users`]: user records with a unique e-mail address (`/users`, `/api/v1/users`).
//! - [`files`]: uploads, bytes in an object store (a directory or S3) and metadata in the relational
//!   database or DynamoDB (`/files`, `/api/v1/files`), and the orphan sweep.
//! - [`blog`]: posts in Markdown, their public pages, feed and sitemap, and the admin's editor (`/blog`,
//!   `/admin`).
//! - [`auth`]: the admin account: password hashes, sessions, the sign-in throttle and the write policy
//!   that users, files and the blog's admin share.
//! - [`http`]: the shared edge: router assembly, the layer stack (request ids, logs, metrics, limits),
//!   errors as problem+json or HTML pages, extractors, page chrome, CSRF, cookies, ETags, health checks and
//!   the OpenAPI document.
//! - [`storage`]: infrastructure only: the SQL pools shared by every feature, store calls detached from
//!   their callers, paging and cursors, AWS clients, DynamoDB table schemas, schema versions and the
//!   application's database role.
//! - [`config`]: every flag and environment variable, one file per group, parsed into typed settings.
//! - [`telemetry`]: log lines and metrics.
//! - [`app`]: the command line, start-up, the server loop and graceful shutdown.
//! - [`time`]: the timestamp formats every feature writes and reads.

pub mod app;
pub mod auth;
pub mod blog;
pub mod board;
pub mod config;
pub mod files;
pub mod http;
pub mod storage;
pub mod telemetry;
pub mod time;
pub mod users;
