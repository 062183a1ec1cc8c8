//! `Range` requests of downloads: one range is served, several get the whole file.

/// A parsed `Range` header, as far as it matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RangeRequest {
    /// No range, several ranges, or one we do not understand: the whole file (RFC 9110 lets a server ignore
    /// `Range`).
    Whole,
    /// Bytes `start..end` (end exclusive), within the file.
    Part(u64, u64),
    /// A range outside the file: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a file of `size` bytes.
pub(super) fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(size.saturating_sub(n), size),
            None => RangeRequest::Whole,
        },
        (start, "") => match number(start) {
            Some(start) if start < size => RangeRequest::Part(start, size),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start > end => RangeRequest::Whole,
            (Some(start), Some(_)) if start >= size => RangeRequest::Unsatisfiable,
            (Some(start), Some(end)) => RangeRequest::Part(start, end.min(size - 1) + 1),
            _ => RangeRequest::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_understood_and_others_ignored() {
        use RangeRequest::{Part, Unsatisfiable, Whole};
        for (header, want) in [
            (None, Whole),
            (Some("bytes=0-9"), Part(0, 10)),
            (Some("bytes=90-"), Part(90, 100)),
            (Some("bytes=-10"), Part(90, 100)),
            (Some("bytes=-1000"), Part(0, 100)),
            (Some("bytes=50-1000"), Part(50, 100)),
            (Some("bytes=99-99"), Part(99, 100)),
            (Some("bytes=100-"), Unsatisfiable),
            (Some("bytes=100-200"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=0-1,5-6"), Whole),
            (Some("bytes=5-1"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=a-b"), Whole),
            (Some("bytes=+1-2"), Whole),
        ] {
            assert_eq!(parse_range(header, 100), want, "{header:?}");
        }
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=-5"), 0),
            RangeRequest::Unsatisfiable
        );
    }
}
