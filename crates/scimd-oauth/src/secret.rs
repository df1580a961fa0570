//! The secrets the authorization server hands out — client secrets, authorization codes, refresh
//! tokens, session cookies, CSRF tokens — generated from the clock's CSPRNG, shown once, and
//! stored as SHA-256 digests ([`scimd_store::token::digest`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scimd_store::Clock;

/// Prefix of client secrets, so people and secret scanners recognise one in a paste.
pub const CLIENT_SECRET_PREFIX: &str = "scimd_cs_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "scimd_rt_";

/// A generated secret. `Debug` redacts it; the plaintext leaves only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `prefix` followed by 32 random bytes (256 bits), base64url without padding.
    #[must_use]
    pub fn generate(clock: &dyn Clock, prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        clock.random_bytes(&mut bytes);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The plaintext, to hand to its owner once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        scimd_store::token::digest(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
