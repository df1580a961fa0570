//! The secret half of a static bearer token: generated, shown once, digested, forgotten.
//!
//! docs/architecture.md "Data": secrets are never stored. A [`TokenSecret`] exists in memory only between its
//! generation and the moment it is printed; the store keeps [`TokenSecret::digest`]. A token
//! presented on a request is digested with [`digest`] and looked up by that digest.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::clock::Clock;

/// Every scimd token starts with this, so secret scanners (and people) recognise one in a paste.
pub const PREFIX: &str = "scimd_";

/// Random bytes per token: 32 bytes = 256 bits, beyond guessing.
pub const SECRET_BYTES: usize = 32;

/// A token's plaintext. `Debug` prints `TokenSecret(***)`; there is deliberately no `Display`, so
/// the secret reaches output only through an explicit [`TokenSecret::expose`].
#[derive(Clone)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// A fresh token: [`PREFIX`] followed by [`SECRET_BYTES`] bytes from the clock's CSPRNG,
    /// base64url without padding (RFC 4648 §5), so it is safe in headers, URLs and shells.
    #[must_use]
    pub fn generate(clock: &dyn Clock) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        clock.random_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The plaintext, to show once to the person who asked for it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the plaintext: what the store keeps and looks up.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        digest(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(***)")
    }
}

/// SHA-256 of a presented token. A plain hash suffices (no salt, no slow KDF): the input has 256
/// bits of entropy, so there is nothing to brute-force, and the lookup must be an index lookup.
#[must_use]
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two digests in constant time, so the time taken says nothing about where they differ.
#[must_use]
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::clock::MockClock;

    #[test]
    fn generates_prefixed_256_bit_tokens() {
        let clock = MockClock::new(datetime!(2026-01-01 0:00 UTC));
        let a = TokenSecret::generate(&clock);
        let b = TokenSecret::generate(&clock);
        assert!(a.expose().starts_with(PREFIX));
        let body = &a.expose()[PREFIX.len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(body.len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn debug_redacts() {
        let clock = MockClock::new(datetime!(2026-01-01 0:00 UTC));
        let t = TokenSecret::generate(&clock);
        assert_eq!(format!("{t:?}"), "TokenSecret(***)");
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn digest_is_sha256_and_compares() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let d = digest("abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert!(digests_equal(&d, &digest("abc")));
        assert!(!digests_equal(&d, &digest("abd")));
    }
}
