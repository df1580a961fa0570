//! User passwords (RFC 7643 §4.1.1 `password`, writeOnly): hashed with Argon2id before they reach
//! the store, on a blocking thread so the hash's deliberate cost never stalls the async runtime.
//! The plaintext is never stored, logged or returned.

use std::sync::Arc;

use serde_json::Value;

use scimd_schema::ScimError;
use scimd_store::Clock;

/// Removes `password` from a normalised document and returns the Argon2id PHC string of `plain`,
/// the request's new password as [`scimd_schema::writes::new_password`] found it, if any.
pub(crate) async fn take_and_hash(
    doc: &mut Value,
    plain: Option<String>,
    clock: &Arc<dyn Clock>,
) -> Result<Option<String>, ScimError> {
    let stored = doc.as_object_mut().and_then(|o| o.remove("password"));
    match plain {
        // The validator stored the value the request set; the two are found by the same resolution.
        Some(plain) if stored.as_ref().and_then(Value::as_str) == Some(plain.as_str()) => {
            hash(plain, clock).await.map(Some)
        }
        _ => Ok(None),
    }
}

/// Hashes with Argon2id off the runtime (scimd-oauth's [`scimd_oauth::password::hash`]).
pub(crate) async fn hash(plain: String, clock: &Arc<dyn Clock>) -> Result<String, ScimError> {
    match scimd_oauth::password::hash(plain, clock).await {
        Ok(phc) => Ok(phc),
        Err(scimd_oauth::password::PasswordError::Hash(e)) => {
            Err(ScimError::invalid_value(format!("password cannot be hashed: {e}")))
        }
        Err(scimd_oauth::password::PasswordError::Interrupted) => {
            Err(ScimError::status(500, "password hashing was interrupted"))
        }
        // The process's bound on concurrent Argon2 hashes (scimd-oauth's `password` module).
        Err(scimd_oauth::password::PasswordError::Busy) => {
            Err(ScimError::status(503, "too many password hashes at once; retry shortly"))
        }
    }
}
