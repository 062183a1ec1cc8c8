//! User records: who a person is and how to reach them.

use std::fmt;

use email_address::EmailAddress;
use time::OffsetDateTime;
use uuid::Uuid;

/// The public id of a user: a UUIDv7, so ids sort roughly by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

/// The text is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This is not a user id: user ids look like 01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80.")]
pub struct UserIdError;

impl UserId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated form the API hands out (and only that form).
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        if raw.len() != 36 {
            return Err(UserIdError);
        }
        Uuid::try_parse(raw).map(Self).map_err(|_| UserIdError)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A person's name as they want it shown: trimmed, 1 to [`PersonName::MAX_CHARS`] characters, no control
/// characters. Everything else (accents, scripts, apostrophes, `<`) is kept; escaping is the templates' job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// Why a string is not a name. `Display` is the sentence a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    /// Empty or only whitespace.
    #[error("Enter a name.")]
    Empty,
    /// Too long after trimming.
    #[error("The name is too long: {found} characters, at most {max} allowed.", max = PersonName::MAX_CHARS)]
    TooLong {
        /// Characters found.
        found: usize,
    },
    /// A control character (NUL, CR, LF, TAB, DEL...).
    #[error("The name contains a control character (U+{code:04X}); remove it.")]
    ControlCharacter {
        /// The code point.
        code: u32,
    },
}

impl PersonName {
    /// The longest name accepted, in Unicode scalar values.
    pub const MAX_CHARS: usize = 100;

    /// Trims surrounding whitespace, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, PersonNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PersonNameError::Empty);
        }
        if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            return Err(PersonNameError::ControlCharacter { code: u32::from(c) });
        }
        let found = trimmed.chars().count();
        if found > Self::MAX_CHARS {
            return Err(PersonNameError::TooLong { found });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, checked by the `email_address` crate (RFC 5322 `addr-spec`, with a domain part) and
/// kept as typed, apart from surrounding whitespace.
///
/// Two addresses are the same person when their [`Email::key`]s are equal: the domain is case-insensitive
/// by the DNS, and although the local part may be case-sensitive by the RFC, no mail provider in use treats
/// `Ada@x` and `ada@x` as different people, so uniqueness ignores case throughout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing entered.
    #[error("Enter an email address.")]
    Empty,
    /// Longer than RFC 5321 allows for a path.
    #[error("The email address is too long: at most {max} characters.", max = Email::MAX_LEN)]
    TooLong,
    /// Not an address.
    #[error("Enter an email address such as ada@example.com ({0}).")]
    Invalid(String),
}

impl Email {
    /// RFC 5321's limit on a forward path, less the angle brackets.
    pub const MAX_LEN: usize = 254;

    /// Trims surrounding whitespace, then validates. Display-name forms (`Ada <ada@x.org>`) and addresses
    /// without a domain dot-atom are refused: a record holds one bare address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        // A domain needs a dot (`ada@localhost` is valid RFC 5322 but never a reachable address here).
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        let parsed = EmailAddress::parse_with_options(trimmed, options).map_err(|err| {
            let text = err.to_string();
            let mut reason = text.trim_end_matches('.').to_owned();
            if let Some(first) = reason.get(..1) {
                reason = format!("{}{}", first.to_lowercase(), &reason[1..]);
            }
            EmailError::Invalid(reason)
        })?;
        Ok(Self(parsed.as_str().to_owned()))
    }

    /// The address as entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What uniqueness is checked on: the address in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Public id.
    pub id: UserId,
    /// Display name.
    pub name: PersonName,
    /// Email address, unique (ignoring case).
    pub email: Email,
    /// When it was created, UTC, microsecond precision.
    pub created_at: OffsetDateTime,
}

impl User {
    /// A new record stamped now.
    pub fn new(name: PersonName, email: Email) -> Self {
        Self {
            id: UserId::generate(),
            name,
            email,
            created_at: crate::files::now_micros(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted_and_kept_as_typed() {
        for raw in [
            "ada@example.com",
            " Ada.Lovelace+tag@Example.org ",
            "o'brien@mail.example.ie",
        ] {
            let email = Email::parse(raw);
            assert_eq!(email.as_ref().map(Email::as_str), Ok(raw.trim()), "{raw}");
        }
        assert_eq!(
            Email::parse("Ada@Example.COM").map(|e| e.key()),
            Ok("ada@example.com".to_owned())
        );
    }

    #[test]
    fn non_addresses_are_refused_with_a_sentence() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@@example.com",
            "Ada <ada@example.com>",
            "ada@localhost",
            "ada@example.com\r\nBcc: x@y.z",
            "a b@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} must be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            PersonName::parse("  Ada Lovelace ").map(|n| n.to_string()),
            Ok("Ada Lovelace".into())
        );
        assert_eq!(PersonName::parse(" "), Err(PersonNameError::Empty));
        assert!(matches!(
            PersonName::parse("a\u{0}b"),
            Err(PersonNameError::ControlCharacter { code: 0 })
        ));
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
        assert!(matches!(
            PersonName::parse(&"é".repeat(101)),
            Err(PersonNameError::TooLong { found: 101 })
        ));
    }

    #[test]
    fn user_ids_round_trip_and_other_forms_are_refused() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        assert!(UserId::parse("ada").is_err());
        assert!(UserId::parse(&format!("{{{id}}}")).is_err());
    }
}
