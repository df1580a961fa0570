//! Per-credential rate limits: a tenant's `rate_limit` requests per second for each credential,
//! with a burst of one second's worth; beyond it 429 with `Retry-After` (RFC 6585 §4), which Entra
//! honours by retrying (Microsoft's SCIM provisioning documentation: "Throttling, 429"). The
//! counting is GCRA from the `governor` crate, kept per process: with several replicas behind a
//! load balancer each enforces the limit on the requests it sees.
//!
//! Requests that fail authentication (no credential, an unknown one, another tenant's) have no
//! credential to count against: they are limited per peer address instead ([`RateLimits::refused`]),
//! so a flood of them costs little and cannot reach any tenant's provisioning log.

use std::collections::HashMap;
use std::net::IpAddr;
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
    by_address: Mutex<Option<(NonZeroU32, Arc<DefaultKeyedRateLimiter<IpAddr>>)>>,
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
        check_key(&limiter, &key)
    }

    /// Counts one refused (unauthenticated or foreign) request from `address` against
    /// `per_second` per address (0: unlimited); `Err(seconds)` as for [`RateLimits::check`].
    pub fn refused(&self, address: IpAddr, per_second: u32) -> Result<(), u64> {
        let Some(rate) = NonZeroU32::new(per_second) else { return Ok(()) };
        let limiter = {
            let Ok(mut slot) = self.by_address.lock() else { return Ok(()) };
            match &*slot {
                Some((r, l)) if *r == rate => l.clone(),
                _ => {
                    let l = Arc::new(RateLimiter::keyed(Quota::per_second(rate)));
                    *slot = Some((rate, l.clone()));
                    l
                }
            }
        };
        // Addresses are chosen by whoever connects: unlike credentials, their number has no
        // bound of its own. When every tracked address is still recent, the map is full and a
        // flood of distinct addresses is answered 429 until old ones are forgotten, rather than
        // letting the map grow (OWASP Denial of Service Cheat Sheet: bound what a client can
        // make the server keep).
        if limiter.len() >= MAX_KEYS {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            if limiter.len() >= MAX_KEYS {
                return Err(1);
            }
        }
        check_key(&limiter, &address)
    }
}

/// One request of `key`; idle keys are forgotten once there are more than [`MAX_KEYS`], so memory
/// stays bounded whatever the number of distinct keys.
fn check_key<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), u64> {
    if limiter.len() > MAX_KEYS {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
    match limiter.check_key(key) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(wait.as_secs().max(1))
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

    #[test]
    fn refused_requests_are_limited_per_address_in_bounded_memory() {
        let limits = RateLimits::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..3 {
            assert!(limits.refused(a, 3).is_ok());
        }
        assert_eq!(limits.refused(a, 3), Err(1));
        assert!(limits.refused([192, 0, 2, 2].into(), 3).is_ok(), "another address has its own budget");
        for i in 0..(MAX_KEYS as u32 + 100) {
            let _ = limits.refused(IpAddr::from(i.to_be_bytes()), 3);
        }
        let len = limits.by_address.lock().unwrap().as_ref().map_or(0, |(_, l)| l.len());
        assert!(len <= MAX_KEYS, "{len}");
        // Full of recent addresses: one more new address is refused rather than remembered.
        assert_eq!(limits.refused([198, 51, 100, 7].into(), 3), Err(1));
    }
}
