//! Paging: how many items a page holds, where the next one starts, and the cursors the SQL stores hand out.
//!
//! A cursor is opaque to clients. The SQL stores write `<listing>:<seq>` in URL-safe base64 ([`SeqCursor`]),
//! so a cursor of another listing or engine is refused rather than misread. A page is fetched with one row
//! more than asked: that row is not returned, it only says whether another page exists, so the last page
//! carries no cursor to an empty one.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{Page, StoreError};

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

/// Cursors of one engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqCursor {
    /// `sqlite:`, `files-postgres:`: the engine, and the listing when a database has several.
    prefix: &'static str,
}

impl SeqCursor {
    /// Cursors tagged with `prefix`.
    pub(crate) const fn new(prefix: &'static str) -> Self {
        Self { prefix }
    }

    /// The cursor that continues after `seq`.
    pub(crate) fn encode(self, seq: i64) -> Cursor {
        Cursor::from_store(URL_SAFE_NO_PAD.encode(format!("{}{seq}", self.prefix)))
    }

    /// The sequence number a cursor of this engine holds.
    pub(crate) fn decode(self, cursor: &Cursor) -> Result<i64, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.as_str())
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        text.strip_prefix(self.prefix)
            .and_then(|seq| seq.parse::<i64>().ok())
            .filter(|seq| *seq > 0)
            .ok_or(StoreError::InvalidCursor)
    }

    /// Where a page starts (exclusive) and how many rows to fetch for it: `(before, limit + 1)`.
    pub(crate) fn bounds(self, page: &PageRequest) -> Result<(i64, i64), StoreError> {
        let before = page
            .cursor
            .as_ref()
            .map(|c| self.decode(c))
            .transpose()?
            .unwrap_or(i64::MAX);
        Ok((before, i64::from(page.limit.get()) + 1))
    }

    /// Builds the page from the rows fetched with [`SeqCursor::bounds`], newest first.
    pub(crate) fn page<R, T>(
        self,
        rows: &[R],
        page: &PageRequest,
        seq_of: impl Fn(&R) -> Result<i64, StoreError>,
        item_of: impl Fn(&R) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let pairs = rows
            .iter()
            .map(|row| Ok((seq_of(row)?, item_of(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(self.page_of_pairs(pairs, page))
    }

    /// The page from rows fetched with [`SeqCursor::bounds`], newest first, as `(seq, item)`.
    pub(crate) fn page_of_pairs<T>(self, mut rows: Vec<(i64, T)>, page: &PageRequest) -> Page<T> {
        let limit = page.limit.get() as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some((seq, _)) if more => Some(self.encode(*seq)),
            _ => None,
        };
        Page {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const PG: SeqCursor = SeqCursor::new("postgres:");

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(PG.decode(&PG.encode(42)).ok(), Some(42));
        let sqlite_style = SeqCursor::new("sqlite:").encode(42);
        assert!(PG.decode(&sqlite_style).is_err());
        assert!(PG.decode(&Cursor::from_store("junk".into())).is_err());
        let negative = Cursor::from_store(URL_SAFE_NO_PAD.encode("postgres:-1"));
        assert!(PG.decode(&negative).is_err());
    }

    #[test]
    fn the_extra_row_only_says_another_page_exists() {
        let request = PageRequest {
            limit: PageLimit::parse("2").unwrap_or_default(),
            cursor: None,
        };
        let ok = |r: &i64| Ok::<_, StoreError>(*r);
        let full = PG.page(&[9, 8, 7], &request, ok, ok).ok();
        assert_eq!(full.as_ref().map(|p| p.items.clone()), Some(vec![9, 8]));
        assert_eq!(full.and_then(|p| p.next_cursor), Some(PG.encode(8)));
        let last = PG.page(&[9, 8], &request, ok, ok).ok();
        assert_eq!(last.map(|p| p.next_cursor), Some(None));
    }

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
