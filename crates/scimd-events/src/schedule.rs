//! When a failed delivery is tried again.
//!
//! Standard Webhooks 1.0, "Deliverability and reliability": "It's recommended to retry delivery
//! following a retry schedule spanning multiple days, with an exponential backoff. It's
//! recommended to also add some level of random jitter to retries". Its "Example retry schedule"
//! (immediately, then 5 seconds, 5 minutes, 30 minutes, 2 hours, 5 hours, 10 hours, 14 hours,
//! 20 hours and 24 hours: 75 h 35 min 5 s in all) is [`RetrySchedule::DEFAULT`].

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::EventsError;

/// The longest wait a `Retry-After` header can impose on one retry (see [`retry_after`]).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The longest single delay a schedule may have. Beyond a week the endpoint should be disabled
/// and its owner told (Standard Webhooks 1.0: "notify the consumers using other channels … and
/// is recommended to disable future delivery to the endpoint"), not waited for; the cap also
/// catches `24d` typed for `24h`.
const MAX_DELAY_MS: u64 = 7 * 24 * 3600 * 1000;

/// How far a delay is moved by jitter, either way.
const JITTER: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Ms,
    S,
    M,
    H,
    D,
}

impl Unit {
    const ALL: [Unit; 5] = [Unit::Ms, Unit::S, Unit::M, Unit::H, Unit::D];

    fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::M => "m",
            Unit::H => "h",
            Unit::D => "d",
        }
    }

    fn millis(self) -> u64 {
        match self {
            Unit::Ms => 1,
            Unit::S => 1000,
            Unit::M => 60_000,
            Unit::H => 3_600_000,
            Unit::D => 86_400_000,
        }
    }
}

/// One delay as written: kept in its unit so the schedule prints back as it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    amount: u64,
    unit: Unit,
}

impl Step {
    const fn new(amount: u64, unit: Unit) -> Self {
        Self { amount, unit }
    }

    fn duration(self) -> Duration {
        // Parsing bounds every step by MAX_DELAY_MS, so this does not overflow.
        Duration::from_millis(self.amount.saturating_mul(self.unit.millis()))
    }
}

/// The delays between the attempts of one delivery: the first attempt is immediate, then one
/// retry after each delay, then the delivery has failed.
///
/// Written as comma-separated delays, each a positive whole number and a unit: `ms`, `s`, `m`,
/// `h` or `d` (`ms` is there for tests, which cannot wait seconds). `Display` writes the same form
/// back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    steps: Vec<Step>,
}

impl RetrySchedule {
    /// The default, Standard Webhooks 1.0's example schedule.
    pub const DEFAULT: &'static str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

    /// Parses a schedule such as [`Self::DEFAULT`]; spaces around the delays are ignored.
    ///
    /// # Errors
    /// [`EventsError::Schedule`] for an empty schedule or delay, a delay without a number or with
    /// an unknown unit, a zero delay, or one longer than seven days.
    pub fn parse(input: &str) -> Result<Self, EventsError> {
        let fail = |reason: String| EventsError::Schedule { input: input.to_owned(), reason };
        if input.trim().is_empty() {
            return Err(fail(format!("it is empty; give comma-separated delays such as {}", Self::DEFAULT)));
        }
        let mut steps = Vec::new();
        for (i, item) in input.split(',').map(str::trim).enumerate() {
            let n = i + 1;
            if item.is_empty() {
                return Err(fail(format!("delay {n} is empty")));
            }
            let digits = item.bytes().take_while(u8::is_ascii_digit).count();
            let (number, suffix) = item.split_at(digits);
            if number.is_empty() {
                return Err(fail(format!("delay {n} ({item:?}) does not start with a whole number")));
            }
            let Some(unit) = Unit::ALL.into_iter().find(|u| u.suffix() == suffix) else {
                return Err(fail(format!(
                    "delay {n} ({item:?}) has no unit or an unknown one; use ms, s, m, h or d"
                )));
            };
            let too_long = || fail(format!("delay {n} ({item:?}) is longer than 7d"));
            let amount: u64 = number.parse().map_err(|_| too_long())?;
            if amount == 0 {
                return Err(fail(format!(
                    "delay {n} is zero; every retry must wait (the first attempt is already immediate)"
                )));
            }
            if amount.checked_mul(unit.millis()).is_none_or(|ms| ms > MAX_DELAY_MS) {
                return Err(too_long());
            }
            steps.push(Step::new(amount, unit));
        }
        Ok(Self { steps })
    }

    /// How many retries the schedule allows (the delivery has that many attempts plus one).
    #[must_use]
    pub fn retries(&self) -> usize {
        self.steps.len()
    }

    /// The delays without jitter.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        self.steps.iter().map(|s| s.duration())
    }

    /// How long to wait before retry number `retry` (0 for the retry after the first attempt
    /// failed), or `None` once the schedule is used up: the delivery has failed.
    ///
    /// `jitter` is the caller's random number in `[0, 1)` (values outside are clamped); it moves
    /// the delay by up to 10 % either way. Standard Webhooks 1.0 recommends jitter "to prevent
    /// cases where the failures are due to recurring load caused by the webhook attempts
    /// themselves": after a receiver's outage every pending delivery would otherwise come back
    /// in the same second, and fail again under that burst. A tenth spreads a burst retried after
    /// five minutes over a minute while keeping the schedule recognisable in the delivery log.
    #[must_use]
    pub fn delay(&self, retry: usize, jitter: f64) -> Option<Duration> {
        let base = self.steps.get(retry)?.duration();
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.5 };
        let factor = 1.0 - JITTER + 2.0 * JITTER * jitter;
        Some(Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base))
    }

    /// [`Self::delay`], but never sooner than the receiver's `Retry-After` (from [`retry_after`]).
    ///
    /// Standard Webhooks 1.0, "Delivery success and failure": "some responses may also include a
    /// `Retry-After` header (e.g. `503 Service Unavailable`), which should be taken into
    /// consideration when scheduling the next attempt". The header lengthens a wait but each
    /// retry still uses up one step, so a receiver cannot keep a delivery pending forever.
    #[must_use]
    pub fn next(&self, retry: usize, jitter: f64, retry_after: Option<Duration>) -> Option<Duration> {
        let delay = self.delay(retry, jitter)?;
        Some(retry_after.map_or(delay, |asked| delay.max(asked)))
    }
}

impl Default for RetrySchedule {
    /// [`RetrySchedule::DEFAULT`].
    fn default() -> Self {
        use Unit::{H, M, S};
        Self {
            steps: vec![
                Step::new(5, S),
                Step::new(5, M),
                Step::new(30, M),
                Step::new(2, H),
                Step::new(5, H),
                Step::new(10, H),
                Step::new(14, H),
                Step::new(20, H),
                Step::new(24, H),
            ],
        }
    }
}

impl FromStr for RetrySchedule {
    type Err = EventsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}{}", step.amount, step.unit.suffix())?;
        }
        Ok(())
    }
}

/// The wait a `Retry-After` response header asks for, at most [`MAX_RETRY_AFTER`]; `None` when
/// the header is neither form. `now` is the current time in Unix seconds.
///
/// RFC 9110 §10.2.3: "The value of this field can be either an HTTP-date or a number of seconds to
/// delay after receiving the response", `Retry-After = HTTP-date / delay-seconds` with
/// `delay-seconds = 1*DIGIT`. An HTTP-date is any of the three forms a recipient must accept
/// (RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms); one in the past
/// asks for no wait.
///
/// The cap: the receiver chooses this number, and without a bound a hostile or broken one could
/// park deliveries for years. A day is the longest step of the default schedule.
#[must_use]
pub fn retry_after(header: &str, now: i64) -> Option<Duration> {
    let value = header.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so parsing fails only on overflow: an enormous number, capped like the rest.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let wait = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
    Some(Duration::from_secs(wait).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3600;

    #[test]
    fn the_default_is_the_standard_webhooks_example() {
        let parsed = RetrySchedule::parse(RetrySchedule::DEFAULT).unwrap();
        assert_eq!(parsed, RetrySchedule::default());
        assert_eq!(parsed.to_string(), RetrySchedule::DEFAULT);
        assert_eq!(parsed.retries(), 9);
        // The table's "Time since start" column ends at 75:35:05.
        let total: Duration = parsed.delays().sum();
        assert_eq!(total, Duration::from_secs(75 * HOUR + 35 * 60 + 5));
    }

    #[test]
    fn parses_every_unit_and_prints_it_back() {
        let s = RetrySchedule::parse(" 10ms, 2s ,3m,4h,1d ").unwrap();
        assert_eq!(
            s.delays().collect::<Vec<_>>(),
            [
                Duration::from_millis(10),
                Duration::from_secs(2),
                Duration::from_secs(180),
                Duration::from_secs(4 * HOUR),
                Duration::from_secs(24 * HOUR),
            ]
        );
        assert_eq!(s.to_string(), "10ms,2s,3m,4h,1d");
        assert_eq!("7d".parse::<RetrySchedule>().unwrap().to_string(), "7d");
        assert_eq!("24h".parse::<RetrySchedule>().unwrap().to_string(), "24h", "not rewritten as 1d");
    }

    #[test]
    fn refuses_bad_schedules_with_a_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("5s,,5m", "delay 2 is empty"),
            ("5s,", "delay 2 is empty"),
            ("0s", "zero"),
            ("5s,0ms", "zero"),
            ("5", "unit"),
            ("5x", "unit"),
            ("5 s", "unit"),
            ("5sec", "unit"),
            ("5S", "unit"),
            ("s", "whole number"),
            ("-5s", "whole number"),
            ("1.5h", "unit"),
            ("8d", "longer than 7d"),
            ("169h", "longer than 7d"),
            ("99999999999999999999999s", "longer than 7d"),
            ("18446744073709551615d", "longer than 7d"),
        ] {
            let e = RetrySchedule::parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input:?}: {e}");
        }
    }

    #[test]
    fn delay_jitters_within_ten_percent_and_ends() {
        let s = RetrySchedule::parse("100s,200s").unwrap();
        assert_eq!(s.delay(0, 0.0), Some(Duration::from_secs(90)));
        assert_eq!(s.delay(0, 0.5), Some(Duration::from_secs(100)));
        let high = s.delay(0, 0.999_999).unwrap();
        assert!(high > Duration::from_secs(109) && high < Duration::from_secs(110), "{high:?}");
        assert_eq!(s.delay(1, 0.5), Some(Duration::from_secs(200)));
        assert_eq!(s.delay(2, 0.5), None, "no third retry");
        // Out-of-range jitter is clamped, not trusted.
        assert_eq!(s.delay(0, -3.0), Some(Duration::from_secs(90)));
        assert_eq!(s.delay(0, 7.0), Some(Duration::from_secs(110)));
        assert_eq!(s.delay(0, f64::NAN), Some(Duration::from_secs(100)));
        for j in 0..100 {
            let d = s.delay(1, f64::from(j) / 100.0).unwrap();
            assert!(d >= Duration::from_secs(180) && d <= Duration::from_secs(220), "{d:?}");
        }
    }

    #[test]
    fn next_honours_retry_after_but_not_past_the_schedule() {
        let s = RetrySchedule::parse("5s,5m").unwrap();
        assert_eq!(s.next(0, 0.5, None), Some(Duration::from_secs(5)));
        assert_eq!(s.next(0, 0.5, Some(Duration::from_secs(120))), Some(Duration::from_secs(120)));
        assert_eq!(s.next(1, 0.5, Some(Duration::from_secs(1))), Some(Duration::from_secs(300)));
        assert_eq!(s.next(2, 0.5, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn retry_after_reads_both_forms_and_caps_them() {
        // RFC 9110 §10.2.3's examples: "Fri, 31 Dec 1999 23:59:59 GMT" and "120".
        let dec_31_1999 = 946_684_799;
        assert_eq!(retry_after("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 120 ", 0), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("0", 0), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:59:59 GMT", dec_31_1999 - 60),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:59:59 GMT", dec_31_1999 + 60),
            Some(Duration::ZERO),
            "past"
        );
        // The obsolete forms a recipient must still accept (RFC 9110 §5.6.7).
        assert_eq!(
            retry_after("Friday, 31-Dec-99 23:59:59 GMT", dec_31_1999 - 1),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_after("Fri Dec 31 23:59:59 1999", dec_31_1999 - 1), Some(Duration::from_secs(1)));
        // A hostile receiver cannot park a delivery for longer than a day.
        assert_eq!(retry_after("31536000", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("99999999999999999999999999", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("Fri, 31 Dec 2100 23:59:59 GMT", dec_31_1999), Some(MAX_RETRY_AFTER));
        for bad in ["", "soon", "-1", "1.5", "+5", "12 s", "Fri, 32 Dec 1999 23:59:59 GMT"] {
            assert_eq!(retry_after(bad, 0), None, "{bad:?}");
        }
    }
}
