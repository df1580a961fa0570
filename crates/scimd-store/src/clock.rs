//! Time and randomness, passed in (docs/architecture.md "Data").
//!
//! Nothing else in scimd reads the system clock or the thread RNG (clippy.toml bans the calls), so
//! tests can pin `lastModified`, token expiry and ids with [`MockClock`].

use std::sync::Arc;
use std::sync::Mutex;

use time::OffsetDateTime;
use uuid::Uuid;

/// A source of the current time and of fresh ids and secrets.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;

    /// A new UUIDv7 (time-ordered, docs/architecture.md "Data"): ids sort by creation time, which gives lists
    /// a stable order for free.
    fn new_id(&self) -> Uuid;

    /// `N` random bytes from a cryptographically secure source (tokens, secrets, salts).
    fn random_bytes(&self, out: &mut [u8]);
}

/// The real clock and the operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "this is the one wrapper around the system clock")]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[expect(clippy::disallowed_methods, reason = "this is the one wrapper around the id source")]
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }

    fn random_bytes(&self, out: &mut [u8]) {
        use rand::RngCore;
        rand::rngs::OsRng.fill_bytes(out);
    }
}

/// A clock for tests: time stands still until [`MockClock::advance`]; ids and bytes come from a
/// counter, so every run produces the same values.
#[derive(Debug, Clone)]
pub struct MockClock {
    inner: Arc<Mutex<MockState>>,
}

#[derive(Debug)]
struct MockState {
    now: OffsetDateTime,
    counter: u64,
}

impl MockClock {
    /// A clock that reads `now` until advanced.
    #[must_use]
    pub fn new(now: OffsetDateTime) -> Self {
        Self { inner: Arc::new(Mutex::new(MockState { now, counter: 0 })) }
    }

    /// Moves time forward.
    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut s) = self.inner.lock() {
            s.now += by;
        }
    }

    fn next(&self) -> (OffsetDateTime, u64) {
        match self.inner.lock() {
            Ok(mut s) => {
                s.counter += 1;
                (s.now, s.counter)
            }
            Err(_) => (OffsetDateTime::UNIX_EPOCH, 0),
        }
    }
}

impl Clock for MockClock {
    fn now(&self) -> OffsetDateTime {
        self.inner.lock().map(|s| s.now).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn new_id(&self) -> Uuid {
        // A well-formed UUIDv7 (RFC 9562 §5.7) built with no randomness: the 48-bit millisecond
        // timestamp, then the call counter, so ids made while time stands still still sort in
        // creation order, as real UUIDv7s from one process do.
        let (now, n) = self.next();
        let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[0..6].copy_from_slice(&millis.to_be_bytes()[2..8]);
        bytes[6] = 0x70; // version 7
        bytes[8..16].copy_from_slice(&n.to_be_bytes());
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
        Uuid::from_bytes(bytes)
    }

    fn random_bytes(&self, out: &mut [u8]) {
        let (_, n) = self.next();
        for (i, b) in out.iter_mut().enumerate() {
            *b = (n as u8).wrapping_mul(31).wrapping_add(i as u8);
        }
    }
}
