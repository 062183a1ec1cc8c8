//! Paging: how many items, and where to continue.

/// How many items a page holds: 1 to [`PageLimit::MAX`], [`PageLimit::DEFAULT`] when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

/// The limit is not a whole number in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be a whole number from 1 to {max}.", max = PageLimit::MAX)]
pub struct PageLimitError;

impl PageLimit {
    /// Used when the client does not say.
    pub const DEFAULT: Self = Self(20);
    /// The most a client may ask for.
    pub const MAX: u32 = 100;

    /// Parses the `limit` query parameter.
    pub fn parse(raw: &str) -> Result<Self, PageLimitError> {
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(PageLimitError),
        }
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An opaque position in a listing, handed out as `next_cursor` and given back as `cursor`.
///
/// Its content belongs to the store that wrote it; at the edge we only check that it is a plausible token
/// (URL-safe base64, bounded length) so junk never reaches a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

/// The cursor is not one this service hands out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not valid: pass back the next_cursor of a previous page unchanged.")]
pub struct CursorError;

impl Cursor {
    const MAX_LEN: usize = 2048;

    /// Checks the shape of a cursor from a client.
    pub fn parse(raw: &str) -> Result<Self, CursorError> {
        let plausible = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plausible {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CursorError)
        }
    }

    /// Wraps a cursor a store made.
    pub fn from_store(token: String) -> Self {
        Self(token)
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A page request: size and starting point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: PageLimit,
    /// Where to continue; `None` for the first page.
    pub cursor: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_one_to_one_hundred_are_accepted() {
        assert_eq!(PageLimit::parse("1").map(PageLimit::get), Ok(1));
        assert_eq!(PageLimit::parse("100").map(PageLimit::get), Ok(100));
    }

    #[test]
    fn zero_too_large_negative_and_junk_limits_are_refused() {
        for raw in ["0", "101", "-1", "ten", "", "1e2", "4294967296"] {
            assert!(PageLimit::parse(raw).is_err(), "{raw}");
        }
    }

    proptest::proptest! {
        /// Every string either parses to a limit in 1..=100 that prints back as the same number, or is
        /// refused; nothing panics.
        #[test]
        fn a_limit_is_in_range_or_refused(raw in ".{0,12}") {
            match PageLimit::parse(&raw) {
                Ok(limit) => {
                    proptest::prop_assert!((1..=PageLimit::MAX).contains(&limit.get()));
                    proptest::prop_assert_eq!(raw.parse::<u32>().ok(), Some(limit.get()));
                }
                Err(_) => proptest::prop_assert!(
                    raw.parse::<u32>().map_or(true, |n| n == 0 || n > PageLimit::MAX)
                ),
            }
        }

        /// Every number in range is accepted.
        #[test]
        fn every_limit_in_range_parses(n in 1u32..=PageLimit::MAX) {
            proptest::prop_assert_eq!(PageLimit::parse(&n.to_string()).map(PageLimit::get), Ok(n));
        }

        /// A cursor is accepted exactly when it is 1..=2048 URL-safe characters, and kept unchanged.
        #[test]
        fn a_cursor_is_a_url_safe_token_kept_as_is(raw in "\\PC{0,40}|[A-Za-z0-9_-]{1,2100}") {
            let url_safe = !raw.is_empty()
                && raw.len() <= 2048
                && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            match Cursor::parse(&raw) {
                Ok(cursor) => {
                    proptest::prop_assert!(url_safe);
                    proptest::prop_assert_eq!(cursor.as_str(), raw.as_str());
                }
                Err(_) => proptest::prop_assert!(!url_safe),
            }
        }
    }

    #[test]
    fn cursors_must_be_url_safe_tokens() {
        assert!(Cursor::parse("abc-_123").is_ok());
        for raw in ["", "a b", "a/b", "a+b", "é", &"a".repeat(2049)] {
            assert!(Cursor::parse(raw).is_err(), "{raw}");
        }
    }
}
