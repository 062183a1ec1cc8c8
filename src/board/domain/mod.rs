//! The board's values. Each is parsed once, at the edge, and is valid for the rest of its life.

mod digits;
mod submission;
mod username;

pub use digits::{DigitsError, EightDigits};
pub use submission::{Submission, SubmissionId, SubmissionIdError};
pub use username::{Username, UsernameError};
