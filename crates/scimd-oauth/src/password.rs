//! Password hashing with Argon2id (RFC 9106), off the async runtime and bounded: the hash's
//! deliberate cost (tens of milliseconds and 19 MiB of memory per call) would otherwise stall
//! every request sharing the worker thread, and an unauthenticated flood of sign-ins would grow
//! memory without limit. Used for tenant admins' passwords and for SCIM users' `password`
//! attribute — every Argon2 use of the process goes through the one [`Hasher`].
//!
//! The bound (OWASP Password Storage Cheat Sheet, "Argon2id": memory cost is per hash, so
//! concurrency must be limited): at most one hash per CPU core at a time (a
//! [`tokio::sync::Semaphore`]); a request that cannot get a turn within [`WAIT`] fails with
//! [`PasswordError::Busy`], which the HTTP layer answers 503 with `Retry-After`. Each turn owns
//! one Argon2 memory block set that is reused from call to call, so the memory used for hashing
//! is allocated once and stays at `permits × 19 MiB` instead of depending on the allocator
//! returning per-call allocations (glibc keeps freed ones in per-thread arenas).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use scimd_store::Clock;
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

/// How long a hash waits for a turn before the request is refused as busy.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why hashing or checking failed (not "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password or stored hash could not be processed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task was cancelled (runtime shutting down).
    #[error("password hashing was interrupted")]
    Interrupted,
    /// Every hashing turn stayed taken for [`WAIT`]: too many sign-ins at once; retry shortly.
    #[error("too many password checks at once; retry shortly")]
    Busy,
}

/// OWASP's minimum for Argon2id (the `argon2` crate's defaults): m=19 MiB, t=2, p=1, 32 bytes.
const PARAMS: Params = Params::DEFAULT;

/// The bounded Argon2id hasher: a semaphore of turns and one reusable memory block set per turn.
pub struct Hasher {
    turns: Arc<Semaphore>,
    permits: usize,
    wait: std::time::Duration,
    /// Memory block sets not in use; at most `permits` exist.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    hashes: Arc<AtomicU64>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("permits", &self.permits).field("wait", &self.wait).finish()
    }
}

/// The process's hasher: one turn per available core.
pub fn hasher() -> &'static Hasher {
    static HASHER: OnceLock<Hasher> = OnceLock::new();
    HASHER.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Hasher::new(cores, WAIT)
    })
}

/// An Argon2id hash of a password nobody knows, made once with [`PARAMS`]: checked against when
/// the account does not exist, so that costs exactly what a real check costs.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut memory = vec![Block::new(); PARAMS.block_count()];
        compute(b"scimd: no such account", b"scimd-dummy-salt", &mut memory)
            .map_or_else(|_| String::new(), |out| phc(b"scimd-dummy-salt", &out))
    })
}

fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn compute(plain: &[u8], salt: &[u8], memory: &mut [Block]) -> Result<Vec<u8>, PasswordError> {
    let mut out = vec![0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id(PARAMS)
        .hash_password_into_with_memory(plain, salt, &mut out, memory)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(out)
}

/// The PHC string format (as the `password-hash` crate writes it: B64 without padding).
fn phc(salt: &[u8], out: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        PARAMS.m_cost(),
        PARAMS.t_cost(),
        PARAMS.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

/// Checks `plain` against a PHC string with the given memory (grown for a stored hash with a
/// larger memory cost than today's), comparing in constant time.
fn check(plain: &[u8], stored: &str, memory: &mut Vec<Block>) -> Result<bool, PasswordError> {
    let bad = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let parsed = PasswordHash::new(stored).map_err(|e| bad(&e))?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(PasswordError::Hash(format!("unsupported algorithm {}", parsed.algorithm)));
    }
    let params = Params::try_from(&parsed).map_err(|e| bad(&e))?;
    let expected = parsed.hash.ok_or_else(|| PasswordError::Hash("the stored hash has no output".into()))?;
    let mut salt = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or_else(|| PasswordError::Hash("the stored hash has no salt".into()))?
        .decode_b64(&mut salt)
        .map_err(|e| bad(&e))?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    argon2id(params)
        .hash_password_into_with_memory(plain, salt, &mut out, &mut memory[..])
        .map_err(|e| bad(&e))?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

impl Hasher {
    /// A hasher allowing `permits` hashes at once (at least one); a caller waits at most `wait`.
    #[must_use]
    pub fn new(permits: usize, wait: std::time::Duration) -> Self {
        let permits = permits.max(1);
        Self {
            turns: Arc::new(Semaphore::new(permits)),
            permits,
            wait,
            memory: Arc::default(),
            in_flight: Arc::default(),
            peak: Arc::default(),
            hashes: Arc::default(),
        }
    }

    /// How many hashes may run at once.
    #[must_use]
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// The most hashes that ever ran at once (never above [`Hasher::permits`]).
    #[must_use]
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// How many hashes or checks ran.
    #[must_use]
    pub fn runs(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool with a turn and a memory block set. The turn is owned by
    /// the blocking task, so a caller that goes away (client disconnected) does not free it before
    /// the hash is done: the bound holds for work in progress, not just for waiting callers.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Interrupted)?;
        let (pool, in_flight, peak, runs) =
            (self.memory.clone(), self.in_flight.clone(), self.peak.clone(), self.hashes.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            runs.fetch_add(1, Ordering::Relaxed);
            let mut memory = pool
                .lock()
                .ok()
                .and_then(|mut p| p.pop())
                .unwrap_or_else(|| vec![Block::new(); PARAMS.block_count()]);
            let result = work(&mut memory);
            if let Ok(mut p) = pool.lock() {
                p.push(memory);
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
            result
        })
        .await
        .map_err(|_| PasswordError::Interrupted)?
    }

    /// Hashes with Argon2id (`PARAMS`) and a 16-byte salt from the clock's CSPRNG; returns the
    /// PHC string.
    pub async fn hash(&self, plain: String, clock: &Arc<dyn Clock>) -> Result<String, PasswordError> {
        let mut salt = [0u8; 16];
        clock.random_bytes(&mut salt);
        self.run(move |memory| compute(plain.as_bytes(), &salt, memory).map(|out| phc(&salt, &out))).await
    }

    /// Checks `plain` against a PHC string, in constant time with respect to the password. `phc`
    /// of `None` (no such account) checks against `dummy_hash`, so the answer costs the same
    /// time whether or not the account exists (OWASP Authentication Cheat Sheet, "Authentication
    /// Responses").
    pub async fn verify(&self, plain: String, phc: Option<String>) -> Result<bool, PasswordError> {
        self.run(move |memory| {
            let ok = check(plain.as_bytes(), phc.as_deref().unwrap_or_else(|| dummy_hash()), memory)?;
            Ok(ok && phc.is_some())
        })
        .await
    }
}

/// [`Hasher::hash`] on the process's hasher.
pub async fn hash(plain: String, clock: &Arc<dyn Clock>) -> Result<String, PasswordError> {
    hasher().hash(plain, clock).await
}

/// [`Hasher::verify`] on the process's hasher.
pub async fn verify(plain: String, phc: Option<String>) -> Result<bool, PasswordError> {
    hasher().verify(plain, phc).await
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier as _;
    use time::macros::datetime;

    use super::*;
    use scimd_store::MockClock;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(MockClock::new(datetime!(2026-01-01 0:00 UTC)))
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_from_the_plaintext() {
        let phc = hash("correct horse".into(), &clock()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(phc)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_password_hash_crate() {
        // Ours verify with the argon2 crate's own verifier, and hashes it made (stored before
        // this module reused memory) verify with ours.
        let ours = hash("correct horse".into(), &clock()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        let theirs = "$argon2id$v=19$m=19456,t=2,p=1$c2NpbWQtZHVtbXktc2FsdA$4RSbF2eEXLxAJi4nb/Wt7MrMKLNzbPbaFu0k4m/wjE8";
        let mut memory = Vec::new();
        assert!(!check(b"guess", theirs, &mut memory).unwrap());
        assert!(PasswordHash::new(dummy_hash()).is_ok(), "the dummy hash is a real PHC string");
        assert!(dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test]
    async fn a_caller_that_gets_no_turn_is_told_busy() {
        let hasher = Hasher::new(1, std::time::Duration::from_millis(10));
        // Hold the one turn: the next caller cannot have it within its wait.
        let held = hasher.turns.clone().acquire_owned().await.unwrap();
        assert!(matches!(hasher.verify("x".into(), None).await, Err(PasswordError::Busy)));
        drop(held);
        assert!(!hasher.verify("x".into(), None).await.unwrap());
        assert_eq!(hasher.runs(), 1);
    }

    #[tokio::test]
    async fn concurrent_hashes_never_exceed_the_permits() {
        let hasher = Arc::new(Hasher::new(2, std::time::Duration::from_secs(600)));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let h = hasher.clone();
            set.spawn(async move { h.verify("x".into(), None).await });
        }
        while let Some(r) = set.join_next().await {
            assert!(!r.unwrap().unwrap());
        }
        assert_eq!(hasher.runs(), 8);
        assert!(hasher.peak_in_flight() <= 2, "peak {}", hasher.peak_in_flight());
        assert!(hasher.memory.lock().unwrap().len() <= 2, "one memory block set per turn at most");
    }
}
