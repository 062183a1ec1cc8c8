//! The blog's HTTP side: the public pages, feed and sitemap ([`public`]), and the admin's sign-in and editor
//! ([`admin`]).

pub mod admin;
pub mod public;

use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;

/// The blog's routes: pages only, none of them in the API document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::from(public::routes().merge(admin::routes()))
}
