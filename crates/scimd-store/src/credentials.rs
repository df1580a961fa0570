//! Static bearer tokens (the Auth0 "API token" style): opaque secrets an operator creates with
//! `scimd token create` and pastes into an identity provider.
//!
//! The store never sees a secret: it keeps the SHA-256 digest (docs/architecture.md "Data"), looks tokens up
//! by digest through a unique index, and hands back a [`TokenRecord`]. Turning a presented token into
//! a principal (expiry, revocation, scopes) is the HTTP layer's job; the secret itself lives in
//! [`crate::token`].

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// A token to store.
#[derive(Clone)]
pub struct NewToken {
    /// The tenant the token acts for.
    pub tenant: Uuid,
    /// A label for people (`"entra"`, `"bootstrap"`), shown in listings and audit records.
    pub name: String,
    /// SHA-256 of the secret ([`crate::token::TokenSecret::digest`]).
    pub digest: [u8; 32],
    /// Canonical scope names (`users:read`, …), already validated and expanded by the caller.
    pub scopes: Vec<String>,
    /// When the token stops working, if ever.
    pub expires: Option<OffsetDateTime>,
    /// An operator token reaches every tenant (docs/operations.md, `scimd token create --operator`).
    pub operator: bool,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("digest", &"***")
            .field("scopes", &self.scopes)
            .field("expires", &self.expires)
            .field("operator", &self.operator)
            .finish()
    }
}

/// A stored token, as read back.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id (UUIDv7); names the credential in logs and audit records.
    pub id: Uuid,
    /// The tenant the token acts for.
    pub tenant: Uuid,
    /// A label for people.
    pub name: String,
    /// SHA-256 of the secret, for the constant-time check after the index lookup.
    pub digest: [u8; 32],
    /// Canonical scope names as stored.
    pub scopes: Vec<String>,
    /// Whether the token reaches every tenant.
    pub operator: bool,
    /// When it was created.
    pub created: OffsetDateTime,
    /// When it stops working, if ever.
    pub expires: Option<OffsetDateTime>,
    /// When it was last used, to within [`TOUCH_GRANULARITY`]; `None` if never.
    pub last_used: Option<OffsetDateTime>,
    /// When it was revoked; a revoked token never authenticates again.
    pub revoked: Option<OffsetDateTime>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("digest", &"***")
            .field("scopes", &self.scopes)
            .field("operator", &self.operator)
            .field("created", &self.created)
            .field("expires", &self.expires)
            .field("last_used", &self.last_used)
            .field("revoked", &self.revoked)
            .finish()
    }
}

impl TokenRecord {
    /// Whether the token may authenticate at `now`: not revoked and not expired.
    #[must_use]
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked.is_none() && self.expires.is_none_or(|e| now < e)
    }

    /// Whether [`CredentialStore::touch_token`] would change anything at `now`: the stored last-used
    /// time is missing or older than [`TOUCH_GRANULARITY`]. Lets the caller skip the write entirely.
    #[must_use]
    pub fn needs_touch(&self, now: OffsetDateTime) -> bool {
        self.last_used.is_none_or(|t| now - t >= TOUCH_GRANULARITY)
    }
}

/// The last-used time is kept to within this much, so a token used on every request costs one
/// write a minute rather than one per request.
pub const TOUCH_GRANULARITY: time::Duration = time::Duration::minutes(1);

/// Storing, finding and revoking static bearer tokens.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Stores a token. Errors: [`crate::StoreError::NotFound`] when the tenant does not exist,
    /// [`crate::StoreError::Conflict`] when the digest is already stored (a repeated secret).
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord>;

    /// The token whose secret has this digest: an exact lookup through a unique index, never a
    /// scan. Returns revoked and expired tokens too; the caller decides.
    async fn token_by_digest(&self, digest: &[u8; 32]) -> Result<Option<TokenRecord>>;

    /// Records that the token was used at `at`. Cheap: writes only when the stored time is missing
    /// or older than [`TOUCH_GRANULARITY`]; a missing token is not an error.
    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()>;

    /// The tenant's tokens, oldest first.
    async fn list_tokens(&self, tenant: Uuid) -> Result<Vec<TokenRecord>>;

    /// Revokes a token at the clock's time. Errors: [`crate::StoreError::NotFound`] when no such
    /// token exists. Revoking a revoked token keeps the first revocation time.
    async fn revoke_token(&self, id: Uuid) -> Result<()>;
}
