//! The submission board and the visit counter: eight-digit numbers submitted under a user name, the newest
//! shown on the page with the number of visits.
//!
//! - [`domain`]: the parsed values ([`EightDigits`], [`Username`], [`Submission`], ...);
//! - [`store`]: the [`Store`] trait and its engines (SQLite, PostgreSQL, DynamoDB);
//! - [`visits`]: views counted in batches, exact under any concurrency;
//! - [`http`]: the page (`/`) and the JSON API (`/api/v1/submissions`, `/api/v1/visits`).

pub mod domain;
pub mod http;
pub mod store;
pub mod visits;

pub use domain::{
    DigitsError, EightDigits, Submission, SubmissionId, SubmissionIdError, Username, UsernameError,
};
pub use http::router;
pub use store::Store;
pub use visits::{Visit, VisitCounter};
