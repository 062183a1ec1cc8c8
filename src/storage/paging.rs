//! Paging by sequence number, shared by the SQL stores.
//!
//! A cursor is `<engine>:<seq>` in URL-safe base64: opaque to clients, and refused by another engine. A
//! page is fetched with one row more than asked: that row is not returned, it only says whether another
//! page exists, so the last page carries no cursor to an empty one.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{Page, StoreError};
use crate::domain::{Cursor, PageRequest};

/// Cursors of one engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqCursor {
    /// `sqlite:`, `postgres:`.
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
        let limit = page.limit.get() as usize;
        let shown = &rows[..rows.len().min(limit)];
        let next_cursor = match shown.last() {
            Some(last) if rows.len() > limit => Some(self.encode(seq_of(last)?)),
            _ => None,
        };
        let items = shown.iter().map(item_of).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PageLimit;

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
}
