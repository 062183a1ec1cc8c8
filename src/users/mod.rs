//! Users: records with a name and a unique email address, kept in the relational
//! database (`DATABASE_URL`).

mod domain;
pub mod http;
mod store;

pub use domain::{Email, EmailError, PersonName, PersonNameError, User, UserId, UserIdError};
pub use http::router;
pub use store::{DuplicateEmail, UserStore};
