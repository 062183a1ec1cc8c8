//! The eight-digit number of the submission board.

use std::fmt;

/// Exactly eight ASCII digits `0`-`9`, kept as text so that leading zeros survive (`00012345`).
///
/// Only ASCII digits count: Python's `str.isdigit()` in the seed also accepts `٣`, `３` and `²`; we do not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EightDigits(String);

/// Why a string is not an eight-digit number. `Display` is the sentence a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitsError {
    /// Nothing was entered.
    #[error("Enter an 8-digit number.")]
    Empty,
    /// The number has the wrong length.
    #[error("The number must have exactly 8 digits; it has {found}.")]
    WrongLength {
        /// How many characters were found.
        found: usize,
    },
    /// A character that is not an ASCII digit.
    #[error("Character {position} ({found:?}) is not a digit 0-9.")]
    NotADigit {
        /// 1-based position of the offending character.
        position: usize,
        /// The character that was found.
        found: char,
    },
}

impl EightDigits {
    /// The number of digits.
    pub const LEN: usize = 8;

    /// Parses exactly eight ASCII digits. Surrounding whitespace is not trimmed: the form's boxes and the
    /// API both send digits only, and a stray space is more likely a mistake than intent.
    pub fn parse(raw: &str) -> Result<Self, DigitsError> {
        if raw.is_empty() {
            return Err(DigitsError::Empty);
        }
        let found = raw.chars().count();
        // Report a bad character before a bad length: "position 3 is not a digit" helps more than "9 long".
        if let Some((index, found)) = raw.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(DigitsError::NotADigit {
                position: index + 1,
                found,
            });
        }
        if found != Self::LEN {
            return Err(DigitsError::WrongLength { found });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The digits as text, leading zeros kept.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EightDigits {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EightDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eight_ascii_digits_are_accepted() {
        assert_eq!(
            EightDigits::parse("12345678").map(|d| d.to_string()),
            Ok("12345678".into())
        );
    }

    #[test]
    fn leading_zeros_are_kept() {
        assert_eq!(
            EightDigits::parse("00000007").map(|d| d.to_string()),
            Ok("00000007".into())
        );
    }

    #[test]
    fn seven_digits_are_too_few() {
        assert_eq!(
            EightDigits::parse("1234567"),
            Err(DigitsError::WrongLength { found: 7 })
        );
    }

    #[test]
    fn nine_digits_are_too_many() {
        assert_eq!(
            EightDigits::parse("123456789"),
            Err(DigitsError::WrongLength { found: 9 })
        );
    }

    #[test]
    fn empty_is_its_own_error() {
        assert_eq!(EightDigits::parse(""), Err(DigitsError::Empty));
    }

    #[test]
    fn arabic_indic_full_width_and_superscript_digits_are_rejected() {
        for raw in ["1234567٣", "1234567３", "1234567²", "½2345678"] {
            assert!(
                matches!(EightDigits::parse(raw), Err(DigitsError::NotADigit { .. })),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_error_names_the_position_of_the_bad_character() {
        assert_eq!(
            EightDigits::parse("12a45678"),
            Err(DigitsError::NotADigit {
                position: 3,
                found: 'a'
            })
        );
    }

    #[test]
    fn whitespace_is_not_a_digit() {
        assert!(EightDigits::parse(" 12345678").is_err());
        assert!(EightDigits::parse("1234 5678").is_err());
    }

    proptest! {
        #[test]
        fn every_eight_ascii_digit_string_round_trips(s in "[0-9]{8}") {
            let parsed = EightDigits::parse(&s).map(|d| d.to_string());
            prop_assert_eq!(parsed, Ok(s));
        }

        #[test]
        fn any_other_length_is_rejected(s in "[0-9]{0,7}|[0-9]{9,20}") {
            prop_assert!(EightDigits::parse(&s).is_err());
        }

        #[test]
        fn any_string_with_a_non_ascii_digit_is_rejected(prefix in "[0-9]{0,7}", bad in any::<char>().prop_filter("not an ASCII digit", |c| !c.is_ascii_digit()), suffix in "[0-9]{0,7}") {
            let raw = format!("{prefix}{bad}{suffix}");
            prop_assert!(EightDigits::parse(&raw).is_err());
        }
    }
}
