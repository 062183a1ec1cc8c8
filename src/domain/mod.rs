//! Domain values. Each type is parsed once, at the edge, and is valid for the rest of its life.

mod digits;
mod page;
pub mod submission;
mod username;

pub use digits::{DigitsError, EightDigits};
pub use page::{Cursor, CursorError, PageLimit, PageLimitError, PageRequest};
pub use submission::{Submission, SubmissionId, SubmissionIdError};
pub use username::{Username, UsernameError};
