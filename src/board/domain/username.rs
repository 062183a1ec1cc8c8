//! The name a person types on the board.

use std::fmt;

/// A trimmed, non-empty name of at most [`Username::MAX_CHARS`] Unicode scalar values with no control
/// characters. Every other character (emoji, RTL text, `<`, `'`) is kept exactly; output escaping is the
/// template engine's job, not this type's.
///
/// Length is counted in `char`s (Unicode scalar values), not graphemes: a grapheme limit would let one
/// "character" carry hundreds of combining marks, so storage and DynamoDB key sizes would be unbounded.
/// 64 chars are at most 256 bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

/// Why a string is not a username. `Display` is the sentence a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty, or only whitespace.
    #[error("Enter a username.")]
    Empty,
    /// Longer than the limit after trimming.
    #[error("The username is too long: {found} characters, at most {max} allowed.", max = Username::MAX_CHARS)]
    TooLong {
        /// Characters found after trimming.
        found: usize,
    },
    /// Contains a control character (NUL, CR, LF, TAB, BEL, DEL, C1 controls).
    #[error(
        "The username contains a control character (U+{code:04X}) at position {position}; remove it."
    )]
    ControlCharacter {
        /// 1-based position in the trimmed name.
        position: usize,
        /// The code point found.
        code: u32,
    },
}

impl Username {
    /// The longest name accepted, in Unicode scalar values.
    pub const MAX_CHARS: usize = 64;

    /// Trims surrounding whitespace, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UsernameError::Empty);
        }
        if let Some((index, c)) = trimmed.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(UsernameError::ControlCharacter {
                position: index + 1,
                code: u32::from(c),
            });
        }
        let found = trimmed.chars().count();
        if found > Self::MAX_CHARS {
            return Err(UsernameError::TooLong { found });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(
            Username::parse("  ada \u{3000}").map(|u| u.to_string()),
            Ok("ada".into())
        );
    }

    #[test]
    fn an_empty_or_blank_name_is_rejected() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(Username::parse(" \u{a0} "), Err(UsernameError::Empty));
    }

    #[test]
    fn sixty_four_characters_are_accepted_and_sixty_five_are_not() {
        let ok = "é".repeat(64);
        assert_eq!(Username::parse(&ok).map(|u| u.to_string()), Ok(ok));
        assert_eq!(
            Username::parse(&"é".repeat(65)),
            Err(UsernameError::TooLong { found: 65 })
        );
    }

    #[test]
    fn control_characters_inside_the_name_are_rejected() {
        for (raw, code) in [
            ("a\0b", 0),
            ("a\rb", 13),
            ("a\nb", 10),
            ("a\tb", 9),
            ("a\u{7}b", 7),
            ("a\u{7f}b", 0x7f),
            ("a\u{85}b", 0x85),
        ] {
            assert_eq!(
                Username::parse(raw),
                Err(UsernameError::ControlCharacter { position: 2, code }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn markup_quotes_and_emoji_are_kept_exactly() {
        for raw in [
            "<script>alert(1)</script>",
            "Robert'); DROP TABLE submission;--",
            "👩🏽‍💻 ada",
            "שלום",
            "a&amp;b",
        ] {
            assert_eq!(
                Username::parse(raw).map(|u| u.to_string()),
                Ok(raw.to_owned())
            );
        }
    }

    proptest! {
        #[test]
        fn any_trimmed_name_without_controls_round_trips(raw in "[^\\p{Cc}\\s][^\\p{Cc}]{0,62}[^\\p{Cc}\\s]") {
            let parsed = Username::parse(&raw).map(|u| u.to_string());
            prop_assert_eq!(parsed, Ok(raw));
        }

        #[test]
        fn a_parsed_name_never_holds_a_control_character(raw in any::<String>()) {
            if let Ok(name) = Username::parse(&raw) {
                prop_assert!(!name.as_str().chars().any(char::is_control));
                prop_assert!(name.as_str().chars().count() <= Username::MAX_CHARS);
                prop_assert_eq!(name.as_str(), name.as_str().trim());
            }
        }
    }
}
