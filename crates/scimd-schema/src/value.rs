//! The two value normalisations every layer must agree on: case folding and dateTime text.
//!
//! The in-memory evaluator, the validator and the filter→SQL compiler all call these, so a
//! case-insensitive comparison or a dateTime ordering means the same in Rust and in the database:
//! the store keeps a folded copy of each case-insensitive value, folded here, and compares it with a
//! literal folded here.

use std::borrow::Cow;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The case folding behind every case-insensitive comparison (RFC 7643 §2.2 `caseExact: false`).
///
/// Unicode lower-casing (`str::to_lowercase`), not ASCII only, so `JÖNS` and `jöns` are the same
/// userName; borrowed when the text is already folded, which is the common case.
#[must_use]
pub fn fold_case(s: &str) -> Cow<'_, str> {
    if s.chars().all(|c| !c.is_uppercase() && c.to_lowercase().eq(std::iter::once(c))) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// RFC 7643 §2.3.5: parses an `xsd:dateTime` (RFC 3339 with an offset) and renders it as scimd
/// stores it: UTC, `Z`, exactly three fractional digits (`2026-11-23T07:46:00.000Z`).
///
/// Fixed width makes text order equal time order, so the database can sort and compare dateTimes
/// as plain text. Precision beyond milliseconds is dropped. Returns `None` for text that is not an
/// RFC 3339 date-time.
#[must_use]
pub fn canonical_datetime(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    Some(format_datetime(t))
}

/// Renders a time as [`canonical_datetime`] does.
#[must_use]
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    // Written digit by digit: every listed resource renders two of these, and `format!` with
    // seven padded fields, each accessor recomputing the calendar date, was a tenth of a page's
    // CPU time in the load benchmark's profile.
    let (year, month, day) = t.to_calendar_date();
    let (hour, minute, second, milli) = t.to_hms_milli();
    if !(0..=9999).contains(&year) {
        // Outside RFC 3339's four-digit years (`time` allows ±9999 and more): the general path.
        return format!(
            "{year:04}-{:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z",
            u8::from(month)
        );
    }
    let mut out = String::with_capacity(24);
    for (value, width, then) in [
        (year.unsigned_abs(), 4, '-'),
        (u32::from(u8::from(month)), 2, '-'),
        (u32::from(day), 2, 'T'),
        (u32::from(hour), 2, ':'),
        (u32::from(minute), 2, ':'),
        (u32::from(second), 2, '.'),
        (u32::from(milli), 3, 'Z'),
    ] {
        for i in (0..width).rev() {
            let digit = (value / 10u32.pow(i)) % 10;
            out.push(char::from_digit(digit, 10).unwrap_or('0'));
        }
        out.push(then);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_unicode_and_borrows_when_already_folded() {
        assert_eq!(fold_case("BJensen@Example.COM"), "bjensen@example.com");
        assert_eq!(fold_case("JÖNS"), "jöns");
        assert!(matches!(fold_case("already lower"), Cow::Borrowed(_)));
    }

    #[test]
    fn canonical_datetime_is_utc_millis_and_orders_as_text() {
        assert_eq!(canonical_datetime("2011-05-13T04:42:34Z").as_deref(), Some("2011-05-13T04:42:34.000Z"));
        assert_eq!(
            canonical_datetime("2011-05-13T06:42:34.123456+02:00").as_deref(),
            Some("2011-05-13T04:42:34.123Z")
        );
        assert_eq!(canonical_datetime("yesterday"), None);
        let a = canonical_datetime("2011-05-13T04:42:34.9Z").unwrap();
        let b = canonical_datetime("2011-05-13T04:42:35Z").unwrap();
        assert!(a < b);
    }

    proptest::proptest! {
        #[test]
        fn format_datetime_writes_what_the_format_string_would(
            // From 0000-01-02 to 9999-12-30 (a day inside the years `time` can hold, whatever the
            // offset), any millisecond, any offset.
            secs in -62_167_132_800_i64..253_402_214_399,
            milli in 0_u16..1000,
            offset in -86_399_i32..86_399,
        ) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap()
                + time::Duration::milliseconds(i64::from(milli));
            let t = t.to_offset(UtcOffset::from_whole_seconds(offset).unwrap());
            let u = t.to_offset(UtcOffset::UTC);
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                u.year(), u8::from(u.month()), u.day(), u.hour(), u.minute(), u.second(), u.millisecond()
            );
            proptest::prop_assert_eq!(format_datetime(t), expected);
        }
    }
}
