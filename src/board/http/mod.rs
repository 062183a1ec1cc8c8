//! The board's HTTP side: the page at `/` ([`page`]) and the JSON API ([`api`]).

pub mod api;
pub mod page;

use axum::routing::get;
use utoipa_axum::{router::OpenApiRouter, routes};

#[doc(hidden)]
pub use page::render_board_for_bench;

use crate::http::AppState;

/// The board's routes: the page, and the API with its OpenAPI operations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/", get(page::show_board).post(page::submit_from_form))
        .routes(routes!(api::create_submission))
        .routes(routes!(api::latest_submission))
        .routes(routes!(api::get_submission))
        .routes(routes!(api::user_submissions))
        .routes(routes!(api::visits))
}
