//! Per-credential rate limits (issue 5): a tenant's `rate_limit` requests per second for each
//! credential, with a burst of one second's worth; beyond it 429 with `Retry-After`, which Entra
//! honours by retrying (IDP-BEHAVIOUR §2.1). The counting is GCRA from the `governor` crate, kept
//! per process: with several replicas behind a load balancer each enforces the limit on the
//! requests it sees.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys kept per limiter before idle ones are forgotten.
const MAX_KEYS: usize = 10_000;

/// The limiters, one per distinct rate (tenants may set different ones).
#[derive(Default)]
pub struct RateLimits {
    by_rate: Mutex<HashMap<NonZeroU32, Arc<DefaultKeyedRateLimiter<String>>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Counts one request of `key` against `per_second` (0: unlimited). `Err(seconds)` when over
    /// the limit: how long until the next request would be allowed (at least 1, for
    /// `Retry-After`).
    pub fn check(&self, key: String, per_second: u32) -> Result<(), u64> {
        let Some(rate) = NonZeroU32::new(per_second) else { return Ok(()) };
        let limiter = {
            let Ok(mut map) = self.by_rate.lock() else { return Ok(()) };
            map.entry(rate).or_insert_with(|| Arc::new(RateLimiter::keyed(Quota::per_second(rate)))).clone()
        };
        if limiter.len() > MAX_KEYS {
            limiter.retain_recent();
        }
        match limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(wait.as_secs().max(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_per_key() {
        let limits = RateLimits::default();
        // The burst is one second's worth: 5 pass, the 6th in the same instant does not.
        for _ in 0..5 {
            assert!(limits.check("a".into(), 5).is_ok());
        }
        assert_eq!(limits.check("a".into(), 5), Err(1));
        assert!(limits.check("b".into(), 5).is_ok(), "another credential has its own budget");
        for _ in 0..10_000 {
            assert!(limits.check("c".into(), 0).is_ok(), "0 means unlimited");
        }
    }
}
