//! Password hashing with Argon2id (RFC 9106), off the async runtime: the hash's deliberate cost
//! (tens of milliseconds) would otherwise stall every request sharing the worker thread. Used for
//! tenant admins' passwords and for SCIM users' `password` attribute.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use scimd_store::Clock;

/// Why hashing or checking failed (not "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password or stored hash could not be processed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task was cancelled (runtime shutting down).
    #[error("password hashing was interrupted")]
    Interrupted,
}

/// Hashes with Argon2id (the `argon2` crate's defaults follow OWASP's minimum: m=19 MiB, t=2, p=1)
/// and a 16-byte salt from the clock's CSPRNG; returns the PHC string.
pub async fn hash(plain: String, clock: &Arc<dyn Clock>) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    clock.random_bytes(&mut salt);
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
        argon2::Argon2::default()
            .hash_password(plain.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|_| PasswordError::Interrupted)?
}

/// Checks `plain` against a PHC string, in constant time with respect to the password (the
/// `argon2` crate compares the outputs with `subtle`). `phc` of `None` (no such account) still
/// spends the time of one check, so a response's timing does not say whether the account exists.
pub async fn verify(plain: String, phc: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let stored = phc.as_deref().unwrap_or(DUMMY_HASH);
        let parsed = PasswordHash::new(stored).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let ok = argon2::Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok();
        Ok(ok && phc.is_some())
    })
    .await
    .map_err(|_| PasswordError::Interrupted)?
}

/// An Argon2id hash with the default parameters, of a password nobody knows; checked against when
/// the account does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2NpbWQtZHVtbXktc2FsdA$4RSbF2eEXLxAJi4nb/Wt7MrMKLNzbPbaFu0k4m/wjE8";

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use scimd_store::MockClock;

    #[tokio::test]
    async fn hashes_verify_and_differ_from_the_plaintext() {
        let clock: Arc<dyn Clock> = Arc::new(MockClock::new(datetime!(2026-01-01 0:00 UTC)));
        let phc = hash("correct horse".into(), &clock).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!verify("wrong".into(), Some(phc)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
