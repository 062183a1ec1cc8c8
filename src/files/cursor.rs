//! Listing cursors for the SQL tables of users and files: `<tag>:<seq>` in URL-safe base64.
//!
//! Opaque to clients; a cursor of another listing or engine is refused rather than misread. A page is
//! fetched with one row more than asked: that row only says whether another page exists, so the last page
//! carries no cursor to an empty one.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    domain::{Cursor, PageRequest},
    storage::{Page, StoreError},
};

/// Cursors of one listing on one engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqCursor {
    tag: &'static str,
}

impl SeqCursor {
    /// Cursors tagged with `tag` (e.g. `files-sqlite:`).
    pub(crate) const fn new(tag: &'static str) -> Self {
        Self { tag }
    }

    fn encode(self, seq: i64) -> Cursor {
        Cursor::from_store(URL_SAFE_NO_PAD.encode(format!("{}{seq}", self.tag)))
    }

    fn decode(self, cursor: &Cursor) -> Result<i64, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.as_str())
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        text.strip_prefix(self.tag)
            .and_then(|seq| seq.parse::<i64>().ok())
            .filter(|seq| *seq > 0)
            .ok_or(StoreError::InvalidCursor)
    }

    /// Where a page starts (exclusive) and how many rows to fetch: `(before, limit + 1)`.
    pub(crate) fn bounds(self, page: &PageRequest) -> Result<(i64, i64), StoreError> {
        let before = page
            .cursor
            .as_ref()
            .map(|c| self.decode(c))
            .transpose()?
            .unwrap_or(i64::MAX);
        Ok((before, i64::from(page.limit.get()) + 1))
    }

    /// The page from rows fetched with [`SeqCursor::bounds`], newest first, as `(seq, item)`.
    pub(crate) fn page<T>(self, mut rows: Vec<(i64, T)>, page: &PageRequest) -> Page<T> {
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
    use crate::domain::PageLimit;

    #[test]
    fn cursors_round_trip_and_other_listings_cursors_are_refused() {
        let files = SeqCursor::new("files-sqlite:");
        assert_eq!(files.decode(&files.encode(42)).ok(), Some(42));
        assert!(
            files
                .decode(&SeqCursor::new("users-sqlite:").encode(42))
                .is_err()
        );
        let request = PageRequest {
            limit: PageLimit::parse("2").unwrap_or_default(),
            cursor: None,
        };
        let page = files.page(vec![(9, 'a'), (8, 'b'), (7, 'c')], &request);
        assert_eq!(page.items, vec!['a', 'b']);
        assert_eq!(page.next_cursor, Some(files.encode(8)));
        assert_eq!(files.page(vec![(9, 'a')], &request).next_cursor, None);
    }
}
