//! Durations as people type them on the command line and in the admin API's filters: a positive
//! whole number and a unit, `s`, `m`, `h`, `d` or `w` (`90d`, `12h`, `30m`, `2w`). One parser for
//! token expiry, access-token lifetime, log retention and `--since`.
//!
//! Every duration is at most [`MAX`] (1,000 years), so a parsed duration added to or subtracted from
//! today's date stays inside the calendar `time` represents (years −9999 to 9999); callers still use
//! checked arithmetic ([`before`], [`after`]) and report an out-of-range time as bad input, never
//! as a panic.

use time::{Duration, OffsetDateTime};

/// The longest duration accepted: 1,000 years of 365.25 days.
pub const MAX: Duration = Duration::days(365_250);

/// Parses `90d`, `12h`, `30m`, `45s`, `2w`; anything longer than [`MAX`] is an error.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let too_long = || format!("{s:?}: the duration must be at most 1000 years (365250d)");
    let n: i64 = match digits.parse() {
        Ok(n) => n,
        // All digits but more than i64 holds.
        Err(_) if !digits.is_empty() => return Err(too_long()),
        Err(_) => return Err(format!("{s:?} is not a duration like 90d, 12h, 30m or 2w")),
    };
    if n <= 0 {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    let unit_seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{s:?}: the unit must be one of s, m, h, d, w (e.g. 90d)")),
    };
    let seconds = n.checked_mul(unit_seconds).ok_or_else(too_long)?;
    let d = Duration::seconds(seconds);
    if d > MAX { Err(too_long()) } else { Ok(d) }
}

/// `now - d`, or an error naming the duration when that is before the calendar's start.
pub fn before(now: OffsetDateTime, d: Duration) -> Result<OffsetDateTime, String> {
    now.checked_sub(d).ok_or_else(|| format!("{d} before now is outside the representable dates"))
}

/// `now + d`, or an error naming the duration when that is past the calendar's end.
pub fn after(now: OffsetDateTime, d: Duration) -> Result<OffsetDateTime, String> {
    now.checked_add(d).ok_or_else(|| format!("{d} after now is outside the representable dates"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("90d"), Ok(Duration::days(90)));
        assert_eq!(parse("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse("2w"), Ok(Duration::weeks(2)));
        assert!(parse("0d").is_err());
        assert!(parse("90").is_err());
        assert!(parse("d").is_err());
        assert!(parse("-1d").is_err());
        assert!(parse("3y").is_err());
    }

    #[test]
    fn huge_durations_are_errors_not_panics() {
        for s in ["99999999999d", "99999999999w", "99999999999999999999s", "365251d", "9223372036854775807w"]
        {
            let e = parse(s).unwrap_err();
            assert!(e.contains("at most"), "{s}: {e}");
        }
        assert_eq!(parse("365250d"), Ok(MAX));
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        assert!(before(now, MAX).is_ok());
        assert!(after(now, MAX).is_ok());
        assert!(before(time::macros::datetime!(-9999-01-01 0:00 UTC), Duration::days(1)).is_err());
        assert!(after(time::macros::datetime!(9999-12-31 0:00 UTC), Duration::days(1)).is_err());
    }
}
