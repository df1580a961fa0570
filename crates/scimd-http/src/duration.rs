//! Durations as people type them on the command line and in the admin API's filters: a positive
//! whole number and a unit, `s`, `m`, `h`, `d` or `w` (`90d`, `12h`, `30m`, `2w`). One parser for
//! token expiry, access-token lifetime, log retention and `--since`.

use time::Duration;

/// Parses `90d`, `12h`, `30m`, `45s`, `2w`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().map_err(|_| format!("{s:?} is not a duration like 90d, 12h, 30m or 2w"))?;
    if n <= 0 {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        "w" => Ok(Duration::weeks(n)),
        _ => Err(format!("{s:?}: the unit must be one of s, m, h, d, w (e.g. 90d)")),
    }
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
}
