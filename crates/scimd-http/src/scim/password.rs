//! User passwords (RFC 7643 §4.1.1 `password`, writeOnly): hashed with Argon2id before they reach
//! the store, on a blocking thread so the hash's deliberate cost never stalls the async runtime.
//! The plaintext is never stored, logged or returned.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, SaltString};
use serde_json::Value;

use scimd_schema::ScimError;
use scimd_store::Clock;

/// Removes `password` from a normalised document and returns its Argon2id PHC string, if present.
pub(crate) async fn take_and_hash(
    doc: &mut Value,
    clock: &Arc<dyn Clock>,
) -> Result<Option<String>, ScimError> {
    let Some(Value::String(plain)) = doc.as_object_mut().and_then(|o| o.remove("password")) else {
        return Ok(None);
    };
    hash(plain, clock).await.map(Some)
}

/// Hashes a password with Argon2id (RFC 9106; the `argon2` crate's defaults follow OWASP's
/// minimum: m=19 MiB, t=2, p=1) and a 16-byte salt from the clock's CSPRNG.
pub(crate) async fn hash(plain: String, clock: &Arc<dyn Clock>) -> Result<String, ScimError> {
    let mut salt = [0u8; 16];
    clock.random_bytes(&mut salt);
    let joined = tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        argon2::Argon2::default()
            .hash_password(plain.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await;
    match joined {
        Ok(Ok(phc)) => Ok(phc),
        Ok(Err(e)) => Err(ScimError::invalid_value(format!("password cannot be hashed: {e}"))),
        Err(_) => Err(ScimError::status(500, "password hashing was interrupted")),
    }
}
