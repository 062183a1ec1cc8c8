//! Timestamps as every feature writes and reads them: RFC 3339 UTC with exactly six fractional digits in
//! stores, APIs and logs ([`format_timestamp`], [`parse_timestamp`]), and `2026-11-23 10:30:00 UTC` on pages
//! ([`format_for_people`]).

use std::fmt;

use ::time::OffsetDateTime;

/// Formats a time for people: `2026-11-23 10:30:00 UTC` (pages show it; `<time datetime>` carries the
/// machine form of [`format_timestamp`]).
pub fn format_for_people(at: OffsetDateTime) -> String {
    let at = at.to_offset(::time::UtcOffset::UTC);
    let mut text = *b"0000-00-00 00:00:00 UTC";
    if put_date_and_time(&mut text, at) {
        return String::from_utf8_lossy(&text).into_owned();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Formats a time as RFC 3339 UTC with exactly six fractional digits (`2026-11-23T10:30:00.123456Z`):
/// fixed width, so the text sorts in time order.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let mut text = String::with_capacity(27);
    // Writing into a `String` cannot fail.
    let _ = write_timestamp(&mut text, at);
    text
}

/// Writes what [`format_timestamp`] returns, without a `String` of its own (each log line has one).
pub fn write_timestamp(w: &mut impl fmt::Write, at: OffsetDateTime) -> fmt::Result {
    // `None` only for an instant whose UTC date is past year ±9999, which nothing here makes.
    let at = at
        .checked_to_offset(::time::UtcOffset::UTC)
        .ok_or(fmt::Error)?;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    if !put_date_and_time(&mut text, at) {
        return write_timestamp_slowly(w, at);
    }
    put_digits(&mut text[20..26], at.microsecond());
    w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
}

/// Puts `at`'s `YYYY-MM-DD?HH:MM:SS` digits into the first 19 bytes of `text` (both forms above share
/// them), by hand: `write!` with six padded fields cost about 2,000 instructions, and every log line, every
/// submission shown and every board view pays it. `false`, with `text` unchanged, for a year outside
/// 0-9999, which four digits cannot hold.
fn put_date_and_time(text: &mut [u8], at: OffsetDateTime) -> bool {
    let (year, month, day) = at.to_calendar_date();
    let Some(year) = u32::try_from(year).ok().filter(|year| *year <= 9999) else {
        return false;
    };
    let (hour, minute, second) = at.to_hms();
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], u32::from(u8::from(month)));
    put_digits(&mut text[8..10], u32::from(day));
    put_digits(&mut text[11..13], u32::from(hour));
    put_digits(&mut text[14..16], u32::from(minute));
    put_digits(&mut text[17..19], u32::from(second));
    true
}

/// Years outside 0-9999, which the fixed-width form cannot hold: the same fields, through `write!`.
#[cold]
fn write_timestamp_slowly(w: &mut impl fmt::Write, at: OffsetDateTime) -> fmt::Result {
    write!(
        w,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Writes the low `slots.len()` decimal digits of `value` into `slots`, zero-padded.
fn put_digits(slots: &mut [u8], mut value: u32) {
    for slot in slots.iter_mut().rev() {
        // A digit is below 10, so the cast keeps it whole.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Parses what [`format_timestamp`] wrote (any RFC 3339 time is accepted).
pub fn parse_timestamp(raw: &str) -> Result<OffsetDateTime, ::time::error::Parse> {
    OffsetDateTime::parse(raw, &::time::format_description::well_known::Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_microseconds() {
        let at = ::time::macros::datetime!(2026-01-02 03:04:05.678901 UTC);
        let text = format_timestamp(at);
        assert_eq!(text, "2026-01-02T03:04:05.678901Z");
        assert_eq!(parse_timestamp(&text).ok(), Some(at));
    }

    proptest::proptest! {
        /// The hand-placed digits (both forms) say what `write!` says for every instant `time` can hold (years
        /// -9999 to 9999, offsets included), and what they write parses back to the same instant.
        #[test]
        fn the_fast_timestamp_writer_matches_the_formatted_one(
            nanos in -377_705_116_800_000_000_000i128..253_402_300_800_000_000_000i128,
            offset in -86_399i32..86_400,
        ) {
            let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
                return Ok(());
            };
            let offset = ::time::UtcOffset::from_whole_seconds(offset).unwrap_or(::time::UtcOffset::UTC);
            let Some(at) = at.checked_to_offset(offset) else {
                return Ok(());
            };
            let (mut fast, mut slow) = (String::new(), String::new());
            proptest::prop_assert!(write_timestamp(&mut fast, at).is_ok());
            proptest::prop_assert!(write_timestamp_slowly(&mut slow, at.to_offset(::time::UtcOffset::UTC)).is_ok());
            proptest::prop_assert_eq!(&fast, &slow);
            let utc = at.to_offset(::time::UtcOffset::UTC);
            let people = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                utc.year(), u8::from(utc.month()), utc.day(), utc.hour(), utc.minute(), utc.second()
            );
            proptest::prop_assert_eq!(format_for_people(at), people);
            if (0..=9999).contains(&at.year()) {
                let truncated = at.replace_nanosecond(at.microsecond() * 1000).unwrap_or(at);
                proptest::prop_assert_eq!(parse_timestamp(&fast).ok(), Some(truncated));
            }
        }

    }
}
