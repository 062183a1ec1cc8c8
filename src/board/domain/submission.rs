//! A stored submission: who, which number, when.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{EightDigits, Username};

/// The public id of a submission: a UUIDv7, so ids sort roughly by creation time on every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubmissionId(Uuid);

/// The text is not a submission id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This is not a submission id.")]
pub struct SubmissionIdError;

impl SubmissionId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated form the API hands out.
    pub fn parse(raw: &str) -> Result<Self, SubmissionIdError> {
        // `Uuid::try_parse` also accepts braced and URN forms; we hand out one form and accept one form.
        if raw.len() != 36 {
            return Err(SubmissionIdError);
        }
        Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| SubmissionIdError)
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A submission as stored. Stores receive it whole: the id and the time are assigned by the service, so
/// every backend stores exactly the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Public id.
    pub id: SubmissionId,
    /// Who submitted.
    pub username: Username,
    /// What they submitted.
    pub number: EightDigits,
    /// When the service accepted it, UTC, microsecond precision (what every store keeps).
    pub created_at: OffsetDateTime,
}

impl Submission {
    /// A new submission stamped now.
    pub fn new(username: Username, number: EightDigits) -> Self {
        let now = OffsetDateTime::now_utc();
        // Truncate to microseconds: PostgreSQL keeps no more, and a value must read back equal.
        let micros = now.microsecond();
        let created_at = now.replace_microsecond(micros).unwrap_or(now);
        Self {
            id: SubmissionId::generate(),
            username,
            number,
            created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any text parses only when it is the hyphenated form we hand out, and then prints back unchanged
        /// (lowercase); nothing panics.
        #[test]
        fn an_id_is_the_hyphenated_form_or_refused(
            raw in "\\PC{0,40}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        ) {
            if let Ok(id) = SubmissionId::parse(&raw) {
                proptest::prop_assert_eq!(id.to_string(), raw.to_ascii_lowercase());
            } else {
                proptest::prop_assert!(raw.len() != 36 || Uuid::try_parse(&raw).is_err());
            }
        }
    }

    #[test]
    fn submission_ids_round_trip_and_other_forms_are_refused() {
        let id = SubmissionId::generate();
        assert_eq!(SubmissionId::parse(&id.to_string()), Ok(id));
        assert!(SubmissionId::parse("not-an-id").is_err());
        assert!(SubmissionId::parse(&format!("{{{id}}}")).is_err());
    }
}
