//! The submission board and visit counter as a good Rust engineer would write them in a day, with the
//! usual crates and no hand-tuning: axum 0.8, one sqlx pool (SQLite or PostgreSQL), askama,
//! tracing-subscriber's JSON layer, tower-http's request trace and timeout. One transaction per request.
//!
//! It answers the routes bench/drive.py drives, in Stratus's shapes: `GET /` (latest + counted visit),
//! `POST /` (form with a double-submit CSRF token, 303), `POST /api/v1/submissions` (201),
//! `GET /api/v1/submissions/latest`, `GET /api/v1/users/{username}/submissions?limit=`,
//! `GET /api/v1/visits`, `GET /health` (checks the database).
//!
//! Environment: PLAIN_LISTEN (127.0.0.1:8000), DATABASE_URL (`sqlite://PATH` or `postgres://...`),
//! DATABASE_POOL_SIZE (8), RUST_LOG (info).

use std::time::Duration;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Form, Json, Router,
};
use serde::{Deserialize, Serialize};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use tower_http::{
    timeout::TimeoutLayer,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

const COOKIE: &str = "board_csrf";

#[derive(Clone)]
struct AppState {
    db: Db,
}

/// One pool per engine, the engine's own driver (sqlx's `Any` driver would hide its types).
#[derive(Clone)]
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[derive(Serialize, Clone)]
struct Submission {
    id: String,
    username: String,
    number: String,
    created_at: String,
}

type Row = (String, String, String, String);

fn to_submission((id, username, number, created_at): Row) -> Submission {
    Submission { id, username, number, created_at }
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage<'a> {
    latest: Option<Submission>,
    visits: i64,
    csrf_token: &'a str,
    errors: Vec<&'static str>,
}

enum AppError {
    Db(sqlx::Error),
    Render(askama::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Render(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Db(e) => {
                tracing::error!(error = %e, "database error");
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
            }
            AppError::Render(e) => {
                tracing::error!(error = %e, "template error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a timestamp formats")
}

fn validate(username: &str, number: &str) -> Result<(String, String), Vec<&'static str>> {
    let mut errors = Vec::new();
    let username = username.trim();
    if username.is_empty() || username.chars().count() > 64 || username.chars().any(char::is_control) {
        errors.push("username must be 1-64 characters");
    }
    if number.len() != 8 || !number.bytes().all(|b| b.is_ascii_digit()) {
        errors.push("number must be exactly 8 digits");
    }
    if errors.is_empty() {
        Ok((username.to_owned(), number.to_owned()))
    } else {
        Err(errors)
    }
}

impl Db {
    /// One transaction: count the visit, read the latest submission.
    async fn visit(&self) -> Result<(i64, Option<Submission>), sqlx::Error> {
        const COUNT: &str = "UPDATE visits SET count = count + 1 WHERE id = 1 RETURNING count";
        const LATEST: &str =
            "SELECT id, username, number, created_at FROM submissions ORDER BY seq DESC LIMIT 1";
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let (count,): (i64,) = sqlx::query_as(COUNT).fetch_one(&mut *tx).await?;
                let latest: Option<Row> = sqlx::query_as(LATEST).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok((count, latest.map(to_submission)))
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let (count,): (i64,) = sqlx::query_as(COUNT).fetch_one(&mut *tx).await?;
                let latest: Option<Row> = sqlx::query_as(LATEST).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok((count, latest.map(to_submission)))
            }
        }
    }

    async fn insert(&self, username: &str, number: &str) -> Result<Submission, sqlx::Error> {
        let s = Submission {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            number: number.to_owned(),
            created_at: now(),
        };
        const INSERT: &str = "INSERT INTO submissions (id, username, number, created_at) VALUES ($1, $2, $3, $4)";
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT).bind(&s.id).bind(&s.username).bind(&s.number).bind(&s.created_at)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT).bind(&s.id).bind(&s.username).bind(&s.number).bind(&s.created_at)
                    .execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(s)
    }

    async fn latest(&self) -> Result<Option<Submission>, sqlx::Error> {
        const LATEST: &str =
            "SELECT id, username, number, created_at FROM submissions ORDER BY seq DESC LIMIT 1";
        let row: Option<Row> = match self {
            Db::Sqlite(pool) => sqlx::query_as(LATEST).fetch_optional(pool).await?,
            Db::Postgres(pool) => sqlx::query_as(LATEST).fetch_optional(pool).await?,
        };
        Ok(row.map(to_submission))
    }

    async fn history(&self, username: &str, limit: i64) -> Result<Vec<Submission>, sqlx::Error> {
        const HISTORY: &str = "SELECT id, username, number, created_at FROM submissions \
                               WHERE username = $1 ORDER BY seq DESC LIMIT $2";
        let rows: Vec<Row> = match self {
            Db::Sqlite(pool) => sqlx::query_as(HISTORY).bind(username).bind(limit).fetch_all(pool).await?,
            Db::Postgres(pool) => sqlx::query_as(HISTORY).bind(username).bind(limit).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(to_submission).collect())
    }

    async fn visits(&self) -> Result<i64, sqlx::Error> {
        const COUNT: &str = "SELECT count FROM visits WHERE id = 1";
        let (n,): (i64,) = match self {
            Db::Sqlite(pool) => sqlx::query_as(COUNT).fetch_one(pool).await?,
            Db::Postgres(pool) => sqlx::query_as(COUNT).fetch_one(pool).await?,
        };
        Ok(n)
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        }
    }
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == COOKIE).then(|| value.to_owned())
    })
}

async fn board(db: &Db, headers: &HeaderMap, status: StatusCode, errors: Vec<&'static str>) -> Result<Response, AppError> {
    let (visits, latest) = db.visit().await?;
    let cookie = csrf_cookie(headers);
    let token = cookie.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let body = BoardPage { latest, visits, csrf_token: &token, errors }.render()?;
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    if cookie.as_deref() != Some(token.as_str()) {
        let value = format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/");
        response.headers_mut().insert(header::SET_COOKIE, value.parse().expect("a valid cookie"));
    }
    Ok(response)
}

async fn show_board(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    board(&state.db, &headers, StatusCode::OK, Vec::new()).await
}

#[derive(Deserialize)]
struct BoardForm {
    csrf_token: String,
    username: String,
    number: String,
}

async fn submit_board(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<BoardForm>,
) -> Result<Response, AppError> {
    if csrf_cookie(&headers).as_deref() != Some(form.csrf_token.as_str()) {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    match validate(&form.username, &form.number) {
        Ok((username, number)) => {
            state.db.insert(&username, &number).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(errors) => board(&state.db, &headers, StatusCode::UNPROCESSABLE_ENTITY, errors).await,
    }
}

#[derive(Deserialize)]
struct NewSubmission {
    username: String,
    number: String,
}

async fn create_submission(
    State(state): State<AppState>,
    Json(body): Json<NewSubmission>,
) -> Result<Response, AppError> {
    match validate(&body.username, &body.number) {
        Ok((username, number)) => {
            let s = state.db.insert(&username, &number).await?;
            let location = format!("/api/v1/submissions/{}", s.id);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(s)).into_response())
        }
        Err(errors) => Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "errors": errors }))).into_response()),
    }
}

async fn latest(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(match state.db.latest().await? {
        Some(s) => Json(s).into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no submissions yet" }))).into_response(),
    })
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<i64>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Submission>,
    next_cursor: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    Path(username): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Json<Page>, AppError> {
    let limit = paging.limit.unwrap_or(20).clamp(1, 100);
    let items = state.db.history(&username, limit).await?;
    Ok(Json(Page { items, next_cursor: None }))
}

async fn visits(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(serde_json::json!({ "count": state.db.visits().await? })))
}

async fn health(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(1), state.db.ping()).await {
        Ok(Ok(())) => Json(serde_json::json!({ "status": "healthy" })).into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unhealthy" }))).into_response(),
    }
}

async fn connect(url: &str, size: u32) -> Result<Db, sqlx::Error> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable before the answer, as Stratus is (a 303/201 only after the commit is on disk).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(size).connect_with(options).await?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS submissions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, \
             username TEXT NOT NULL, number TEXT NOT NULL, created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS submissions_user ON submissions (username, seq DESC)",
            "CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, count INTEGER NOT NULL)",
            "INSERT INTO visits (id, count) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
        ] {
            sqlx::query(stmt).execute(&pool).await?;
        }
        Ok(Db::Sqlite(pool))
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS submissions (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, \
             username TEXT NOT NULL, number TEXT NOT NULL, created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS submissions_user ON submissions (username, seq DESC)",
            "CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY, count BIGINT NOT NULL)",
            "INSERT INTO visits (id, count) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
        ] {
            sqlx::query(stmt).execute(&pool).await?;
        }
        Ok(Db::Postgres(pool))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://plain.db".into());
    let size = std::env::var("DATABASE_POOL_SIZE").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let listen = std::env::var("PLAIN_LISTEN").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let state = AppState { db: connect(&url, size).await? };
    let app = Router::new()
        .route("/", get(show_board).post(submit_board))
        .route("/api/v1/submissions", axum::routing::post(create_submission))
        .route("/api/v1/submissions/latest", get(latest))
        .route("/api/v1/users/{username}/submissions", get(history))
        .route("/api/v1/visits", get(visits))
        .route("/health", get(health))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(10)))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        })
        .await?;
    Ok(())
}
