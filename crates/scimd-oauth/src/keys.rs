//! The keys access tokens are signed with: Ed25519 (JWS `EdDSA`, RFC 8037), kept in the database
//! so every replica signs and verifies with the same keys, served as a JWK Set (RFC 7517) at
//! `/oauth2/jwks`.
//!
//! Rotation (`scimd key rotate`) adds a key that is published in the JWK Set at once but signs
//! only after [`PUBLICATION_DELAY`]; then the others retire. RFC 7517 §5 / RFC 8414 §2
//! (`jwks_uri`): a verifier that caches the JWK Set must be able to learn a key before any token
//! signed with it reaches it, so the delay covers both this server's key cache ([`REFRESH`]) and
//! the JWK Set's `Cache-Control: max-age` ([`JWKS_MAX_AGE`]). A retired key keeps verifying until
//! the tokens it signed have expired, then a later rotation prunes it. A token with an unknown
//! `kid` triggers an immediate reload, at most once per [`RELOAD_MIN_INTERVAL`], so a flood of
//! forged `kid`s cannot turn into a flood of queries. The signer is chosen from the cached keys
//! at each signing, by time, so every replica switches at the same moment.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

use scimd_store::oauth::SigningKey;
use scimd_store::{Clock, Store, StoreError};

/// How long a replica signs with the key it loaded before looking for a newer one.
pub const REFRESH: Duration = Duration::seconds(60);
/// How long clients may cache the JWK Set (`Cache-Control: max-age` of `/oauth2/jwks`).
pub const JWKS_MAX_AGE: Duration = Duration::seconds(60);
/// How long a rotated-in key is published before it signs: every replica's cache and every
/// client's cached JWK Set has picked it up by then.
pub const PUBLICATION_DELAY: Duration =
    Duration::seconds(REFRESH.whole_seconds() + JWKS_MAX_AGE.whole_seconds());
/// The least time between two reloads caused by unknown `kid`s.
pub const RELOAD_MIN_INTERVAL: Duration = Duration::seconds(1);
/// The one algorithm scimd signs with.
pub const ALG: &str = "EdDSA";

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be decoded.
    #[error("signing key {kid}: {detail}")]
    Corrupt {
        /// The key's id.
        kid: String,
        /// What was wrong.
        detail: String,
    },
}

/// A fresh Ed25519 key from the clock's CSPRNG. The `kid` is the key's RFC 7638 JWK thumbprint,
/// so it is derived from the key itself and cannot collide by accident.
pub fn generate(clock: &dyn Clock) -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    clock.random_bytes(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
    let thumbprint = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Corrupt { kid: kid.clone(), detail: format!("PKCS#8 encoding: {e}") })?;
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALG, "use": "sig"});
    Ok(SigningKey {
        kid,
        alg: ALG.to_owned(),
        private_der: der.as_bytes().to_vec(),
        public_jwk: jwk.to_string(),
        created: clock.now(),
        retired: None,
    })
}

/// A key that may sign: from `from` until `until`.
struct Signer {
    kid: String,
    key: EncodingKey,
    from: OffsetDateTime,
    until: Option<OffsetDateTime>,
}

struct Loaded {
    /// The keys that may sign, newest first; which one does depends on the time.
    signers: Vec<Signer>,
    /// Every key that verifies, by kid.
    verifying: HashMap<String, DecodingKey>,
    /// The JWK Set document.
    jwks: Value,
    /// When this was read from the store.
    at: OffsetDateTime,
}

/// The signing and verification keys, cached from the store.
pub struct KeyRing {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

fn decode(key: &SigningKey) -> Result<(EncodingKey, DecodingKey), KeyError> {
    let corrupt = |detail: String| KeyError::Corrupt { kid: key.kid.clone(), detail };
    if key.alg != ALG {
        return Err(corrupt(format!("unsupported algorithm {:?}", key.alg)));
    }
    let jwk: Value = serde_json::from_str(&key.public_jwk).map_err(|e| corrupt(e.to_string()))?;
    let x = jwk.get("x").and_then(Value::as_str).ok_or_else(|| corrupt("public JWK has no x".into()))?;
    let decoding = DecodingKey::from_ed_components(x).map_err(|e| corrupt(e.to_string()))?;
    Ok((EncodingKey::from_ed_der(&key.private_der), decoding))
}

impl KeyRing {
    /// A key ring over the store's keys; nothing is read until first use.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, loaded: RwLock::new(None) }
    }

    fn cached(&self) -> Option<Arc<Loaded>> {
        self.loaded.read().ok().and_then(|g| g.clone())
    }

    async fn load(&self) -> Result<Arc<Loaded>, KeyError> {
        let keys = self.store.signing_keys().await?;
        let mut verifying = HashMap::new();
        let mut signers = Vec::new();
        let mut jwks = Vec::new();
        for key in &keys {
            let (enc, dec) = match decode(key) {
                Ok(pair) => pair,
                Err(e) => {
                    // One bad row must not take the others down; it is reported and skipped.
                    tracing::error!(error = %e, "skipping a signing key that cannot be decoded");
                    continue;
                }
            };
            let now = self.clock.now();
            if key.retired.is_none_or(|r| r > now) {
                signers.push(Signer {
                    kid: key.kid.clone(),
                    key: enc,
                    from: key.created,
                    until: key.retired,
                });
            }
            verifying.insert(key.kid.clone(), dec);
            if let Ok(v) = serde_json::from_str::<Value>(&key.public_jwk) {
                jwks.push(v);
            }
        }
        let loaded =
            Arc::new(Loaded { signers, verifying, jwks: json!({"keys": jwks}), at: self.clock.now() });
        if let Ok(mut g) = self.loaded.write() {
            *g = Some(loaded.clone());
        }
        Ok(loaded)
    }

    async fn current(&self) -> Result<Arc<Loaded>, KeyError> {
        match self.cached() {
            Some(l) if self.clock.now() - l.at < REFRESH => Ok(l),
            _ => self.load().await,
        }
    }

    /// The key that signs now: the newest whose time has come and has not passed.
    fn signer(&self, loaded: &Loaded) -> Option<(String, EncodingKey)> {
        let now = self.clock.now();
        loaded
            .signers
            .iter()
            .find(|k| k.from <= now && k.until.is_none_or(|u| now < u))
            .map(|k| (k.kid.clone(), k.key.clone()))
    }

    /// The key to sign with, creating the first one when the database has none.
    pub async fn signing_key(&self) -> Result<(String, EncodingKey), KeyError> {
        if let Some(pair) = self.signer(&*self.current().await?) {
            return Ok(pair);
        }
        // No key yet (a fresh database): create one. Nothing is retired, so nothing is pruned;
        // a day is the longest access-token lifetime the configuration allows.
        self.rotate(Duration::days(1)).await?;
        self.signer(&*self.load().await?).ok_or_else(|| KeyError::Corrupt {
            kid: String::new(),
            detail: "no usable signing key after creating one".into(),
        })
    }

    /// The key with this `kid`, if it is one of ours.
    pub async fn verifying_key(&self, kid: &str) -> Result<Option<DecodingKey>, KeyError> {
        let loaded = self.current().await?;
        if let Some(k) = loaded.verifying.get(kid) {
            return Ok(Some(k.clone()));
        }
        if self.clock.now() - loaded.at < RELOAD_MIN_INTERVAL {
            return Ok(None);
        }
        Ok(self.load().await?.verifying.get(kid).cloned())
    }

    /// The JWK Set (RFC 7517 §5) of every key that may verify a live token.
    pub async fn jwks(&self) -> Result<Value, KeyError> {
        Ok(self.current().await?.jwks.clone())
    }

    /// Adds a new signing key, published at once and signing after [`PUBLICATION_DELAY`], when
    /// the others retire; keys retired more than `keep_retired` ago (the access-token lifetime:
    /// their tokens have expired) are deleted. The first key of a database signs at once (nobody
    /// can hold a token to verify yet). Returns the new `kid` and when it starts signing.
    pub async fn rotate(&self, keep_retired: Duration) -> Result<(String, OffsetDateTime), KeyError> {
        let now = self.clock.now();
        let live = self.store.signing_keys().await?.iter().any(|k| k.retired.is_none_or(|r| r > now));
        let mut key = generate(&*self.clock)?;
        if live {
            key.created = now + PUBLICATION_DELAY;
        }
        let (kid, from) = (key.kid.clone(), key.created);
        self.store.rotate_signing_key(key, now - keep_retired).await?;
        self.load().await?;
        Ok((kid, from))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use scimd_store::MockClock;

    #[test]
    fn generated_keys_sign_and_verify() {
        let clock = MockClock::new(datetime!(2026-01-01 0:00 UTC));
        let key = generate(&clock).unwrap();
        let other = generate(&clock).unwrap();
        assert_ne!(key.kid, other.kid);
        assert_eq!(key.kid.len(), 43, "a base64url SHA-256 thumbprint");
        let (enc, dec) = decode(&key).unwrap();
        let (_, other_dec) = decode(&other).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        let token = jsonwebtoken::encode(&header, &json!({"sub": "x"}), &enc).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        assert!(jsonwebtoken::decode::<Value>(&token, &dec, &validation).is_ok());
        assert!(jsonwebtoken::decode::<Value>(&token, &other_dec, &validation).is_err());
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["kid"], key.kid.as_str());
        assert!(jwk.get("d").is_none(), "the JWK is the public half only");
    }
}
