//! What scimd's OAuth 2.0 authorization server keeps: clients, tenant admins and their
//! login sessions, grants with their authorization codes and refresh tokens, and the keys access
//! tokens are signed with.
//!
//! Secrets never reach the store (docs/architecture.md "Data"): client secrets, authorization codes, refresh
//! tokens and session cookies are kept as SHA-256 digests and looked up through unique indexes;
//! admin passwords arrive already hashed with Argon2id. The one exception is the signing keys'
//! private halves, which every replica needs in order to sign (the keys are shared
//! through the database); protect the database accordingly.
//!
//! A **grant** is one act of authorisation: an admin approving a client (authorization code), or
//! a client authenticating with its secret (client credentials). Access tokens name their grant,
//! and every code and refresh token belongs to one, so revoking the grant revokes everything issued
//! under it — what RFC 6749 §4.1.2 (a reused code), RFC 9700 §4.14.2 (a reused refresh token) and
//! RFC 7009 §2.1 (revocation) ask for. Single use is enforced by the database: `consume_*` marks a
//! code or refresh token used in the same statement that reads it, so two replicas racing on one
//! code cannot both win.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// Redacts a digest or secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The OAuth grant types a client may be registered for (RFC 6749 §4.1, §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.4: the client authenticates with its own secret (Microsoft Entra ID).
    ClientCredentials,
    /// RFC 6749 §4.1 with PKCE (RFC 7636): an admin approves the client in a browser (Okta).
    AuthorizationCode,
}

impl GrantType {
    /// The RFC 6749 name (`client_credentials`, `authorization_code`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
        }
    }

    /// The grant type with this RFC 6749 name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_credentials" => Some(GrantType::ClientCredentials),
            "authorization_code" => Some(GrantType::AuthorizationCode),
            _ => None,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client to register.
#[derive(Clone)]
pub struct NewClient {
    /// The tenant the client acts for.
    pub tenant: Uuid,
    /// The public identifier (RFC 6749 §2.2), unique across tenants.
    pub client_id: String,
    /// A label for people.
    pub name: String,
    /// The one grant type the client may use.
    pub grant: GrantType,
    /// SHA-256 of the client secret; `None` for a public client (RFC 6749 §2.1), which must use
    /// PKCE.
    pub secret_digest: Option<[u8; 32]>,
    /// Registered redirect URIs, compared exactly (RFC 9700 §4.1.1).
    pub redirect_uris: Vec<String>,
    /// The most the client may be granted, canonical scope names.
    pub scopes: Vec<String>,
}

impl fmt::Debug for NewClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClient")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("grant", &self.grant)
            .field("secret_digest", &self.secret_digest.map(|_| Redacted))
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A registered client, as read back.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The public identifier.
    pub client_id: String,
    /// The tenant it acts for.
    pub tenant: Uuid,
    /// A label for people.
    pub name: String,
    /// The grant type it may use.
    pub grant: GrantType,
    /// SHA-256 of its secret; `None` for a public client.
    pub secret_digest: Option<[u8; 32]>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The most it may be granted.
    pub scopes: Vec<String>,
    /// When it was registered.
    pub created: OffsetDateTime,
    /// When its secret was last replaced, if ever.
    pub secret_rotated: Option<OffsetDateTime>,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("grant", &self.grant)
            .field("secret_digest", &self.secret_digest.map(|_| Redacted))
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("created", &self.created)
            .field("secret_rotated", &self.secret_rotated)
            .finish()
    }
}

/// A tenant admin to create: a person who signs in on the authorization page to approve a client.
#[derive(Clone)]
pub struct NewAdmin {
    /// The tenant.
    pub tenant: Uuid,
    /// The sign-in name, as given.
    pub email: String,
    /// Argon2id PHC string of the password.
    pub password_hash: String,
    /// An operator: may act in every tenant from the console.
    pub operator: bool,
}

impl fmt::Debug for NewAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdmin")
            .field("tenant", &self.tenant)
            .field("email", &self.email)
            .field("password_hash", &Redacted)
            .finish()
    }
}

/// A tenant admin, as read back.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// Internal id.
    pub id: Uuid,
    /// The tenant.
    pub tenant: Uuid,
    /// The sign-in name, as given at creation.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Failed sign-ins since the last successful one (per-account throttling).
    pub failed_logins: u32,
    /// When the last failed sign-in happened.
    pub last_failed_login: Option<OffsetDateTime>,
    /// When the admin was created.
    pub created: OffsetDateTime,
    /// An operator: may act in every tenant from the console (`scimd admin create --operator`).
    pub operator: bool,
}

impl fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("email", &self.email)
            .field("password_hash", &Redacted)
            .field("failed_logins", &self.failed_logins)
            .field("last_failed_login", &self.last_failed_login)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

/// A browser session on the authorization pages. Exists before sign-in (it carries the CSRF
/// secret the login form is checked against) and names the admin after it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Internal id.
    pub id: Uuid,
    /// SHA-256 of the cookie value.
    pub digest: [u8; 32],
    /// The CSRF token the session's forms must echo (compared in constant time).
    pub csrf: String,
    /// The admin who signed in, once one has.
    pub admin: Option<Uuid>,
    /// When the session stops working unless it is moved forward ([`OAuthStore::touch_session`]:
    /// the console's idle timeout).
    pub expires: OffsetDateTime,
    /// When it was started: the console's absolute timeout counts from here. Sessions stored
    /// before the column existed have none and are treated as started at `expires`.
    pub created: OffsetDateTime,
    /// The tenant an operator chose to act in; `None`: the admin's own.
    pub tenant: Option<Uuid>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("digest", &Redacted)
            .field("csrf", &Redacted)
            .field("admin", &self.admin)
            .field("expires", &self.expires)
            .field("created", &self.created)
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// An act of authorisation, under which tokens are issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    /// Internal id; access tokens carry it.
    pub id: Uuid,
    /// The tenant.
    pub tenant: Uuid,
    /// The client it was granted to.
    pub client_id: String,
    /// The admin who approved it (authorization code); `None` for client credentials.
    pub admin: Option<Uuid>,
    /// The scopes granted, canonical names.
    pub scopes: Vec<String>,
    /// When it was granted.
    pub created: OffsetDateTime,
    /// When it was revoked; nothing issued under a revoked grant works.
    pub revoked: Option<OffsetDateTime>,
}

/// A grant to record.
#[derive(Clone, Debug)]
pub struct NewGrant {
    /// The tenant.
    pub tenant: Uuid,
    /// The client.
    pub client_id: String,
    /// The approving admin, if any.
    pub admin: Option<Uuid>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// An authorization code to store (RFC 6749 §4.1.2), bound to its grant, redirect URI and PKCE
/// challenge.
#[derive(Clone)]
pub struct NewCode {
    /// SHA-256 of the code.
    pub digest: [u8; 32],
    /// The grant the code redeems into.
    pub grant: Uuid,
    /// The redirect URI named in the authorization request, if it named one; the token request
    /// must then repeat it exactly (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE S256 challenge (RFC 7636 §4.2), when one was sent.
    pub code_challenge: Option<String>,
    /// When the code stops working.
    pub expires: OffsetDateTime,
}

impl fmt::Debug for NewCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCode")
            .field("digest", &Redacted)
            .field("grant", &self.grant)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A stored authorization code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRecord {
    /// Its grant.
    pub grant: GrantRecord,
    /// The redirect URI the authorization request named, if any.
    pub redirect_uri: Option<String>,
    /// The PKCE challenge it is bound to.
    pub code_challenge: Option<String>,
    /// When it stops working.
    pub expires: OffsetDateTime,
}

/// A refresh token to store, in a grant's family.
#[derive(Clone)]
pub struct NewRefreshToken {
    /// SHA-256 of the token.
    pub digest: [u8; 32],
    /// The grant (the rotation family, RFC 9700 §4.14.2).
    pub grant: Uuid,
    /// When it stops working.
    pub expires: OffsetDateTime,
}

impl fmt::Debug for NewRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRefreshToken")
            .field("digest", &Redacted)
            .field("grant", &self.grant)
            .field("expires", &self.expires)
            .finish()
    }
}

/// A stored refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    /// Its grant.
    pub grant: GrantRecord,
    /// When it stops working.
    pub expires: OffsetDateTime,
}

/// What happened when a single-use secret (code or refresh token) was presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consumed<T> {
    /// No such secret.
    Unknown,
    /// First use: it is now marked used; here is what it stood for.
    First(T),
    /// It had been used before: a replay (RFC 6749 §4.1.2, RFC 9700 §4.14.2). The caller revokes
    /// the grant.
    Reused(T),
}

/// A key access tokens are signed with (RFC 7517 for its public half).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id, the JWT header's `kid`.
    pub kid: String,
    /// JWS algorithm (`EdDSA`, `ES256`).
    pub alg: String,
    /// The private key, PKCS#8 DER.
    pub private_der: Vec<u8>,
    /// The public key as a JWK (JSON text), as served at `/oauth2/jwks`.
    pub public_jwk: String,
    /// When it starts signing (until then it is only published); its creation time, or later for
    /// a key published ahead of use.
    pub created: OffsetDateTime,
    /// When it stops (or stopped) signing: a newer key takes over; it still verifies until the
    /// tokens it signed have expired.
    pub retired: Option<OffsetDateTime>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_der", &Redacted)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

/// One sign-in throttle's rule (OWASP Authentication Cheat Sheet, "Login Throttling"): the
/// first `free` attempts within `window` go through; from then on each further attempt must wait
/// a delay that starts at `base_delay` and doubles with every attempt, up to `max_delay`. A rule
/// with `base_delay == max_delay == window` is a plain "`free` per `window`" limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Attempts allowed before delays start.
    pub free: u32,
    /// A throttle with no attempt and no delay running for this long starts over (and its row may
    /// be deleted).
    pub window: time::Duration,
    /// The first delay.
    pub base_delay: time::Duration,
    /// The longest delay.
    pub max_delay: time::Duration,
}

/// A throttle's state, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Attempts reserved since the throttle last started over.
    pub attempts: u32,
    /// When the last one was reserved.
    pub last_attempt: OffsetDateTime,
    /// No attempt is reserved before this time.
    pub blocked_until: OffsetDateTime,
}

impl ThrottleRule {
    /// The state after reserving one attempt at `now` on `state` (`None`: no row yet), or
    /// `Err(until)` when the throttle refuses attempts until then. Both stores run this inside
    /// one serialised read-modify-write, so concurrent reservations see each other.
    pub fn reserve(
        &self,
        state: Option<ThrottleState>,
        now: OffsetDateTime,
    ) -> std::result::Result<ThrottleState, OffsetDateTime> {
        // A throttle starts over only after a whole window with no attempt and no delay running:
        // waiting out a delay does not reset the count.
        let live = state.filter(|s| now - s.last_attempt.max(s.blocked_until) < self.window);
        if let Some(s) = live
            && s.blocked_until > now
        {
            return Err(s.blocked_until);
        }
        let attempts = live.map_or(0, |s| s.attempts).saturating_add(1);
        let blocked_until = match attempts.checked_sub(self.free) {
            // Within the free attempts.
            None => now,
            // The `free`-th attempt and each after it delay the next: base × 2^(over), capped.
            Some(over) => {
                let factor = 1i32 << over.min(20);
                now + (self.base_delay * factor).min(self.max_delay)
            }
        };
        Ok(ThrottleState { attempts, last_attempt: now, blocked_until })
    }
}

/// Storing and finding everything the authorization server keeps.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    // ---- clients ----

    /// Registers a client. Errors: `NotFound` (no tenant), `Conflict("client_id")`.
    async fn create_client(&self, new: NewClient) -> Result<ClientRecord>;
    /// The client with this id, in any tenant.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    /// The tenant's clients, oldest first.
    async fn list_clients(&self, tenant: Uuid) -> Result<Vec<ClientRecord>>;
    /// Replaces the client's secret digest and revokes every grant it holds (a rotated secret is
    /// usually a leaked one). Errors: `NotFound`.
    async fn rotate_client_secret(&self, client_id: &str, digest: [u8; 32]) -> Result<ClientRecord>;
    /// Deletes the client with its grants, codes and refresh tokens. Errors: `NotFound`.
    async fn delete_client(&self, client_id: &str) -> Result<()>;

    // ---- admins and their sessions ----

    /// Creates an admin. Errors: `NotFound` (no tenant), `Conflict("email")` (emails are unique
    /// per tenant, compared case-insensitively).
    async fn create_admin(&self, new: NewAdmin) -> Result<AdminRecord>;
    /// The tenant's admin with this email (case-insensitive).
    async fn admin_by_email(&self, tenant: Uuid, email: &str) -> Result<Option<AdminRecord>>;
    /// The admin with this id.
    async fn admin(&self, id: Uuid) -> Result<Option<AdminRecord>>;
    /// The tenant's admins, oldest first.
    async fn list_admins(&self, tenant: Uuid) -> Result<Vec<AdminRecord>>;
    /// Removes an admin; their sessions end with them. Errors: `NotFound`.
    async fn delete_admin(&self, id: Uuid) -> Result<()>;
    /// Replaces an admin's password hash and ends every session they have (OWASP Session
    /// Management Cheat Sheet, "Renew the Session ID After Any Privilege Level Change": a new
    /// password signs out whoever knew the old one). Errors: `NotFound`.
    async fn set_admin_password(&self, id: Uuid, password_hash: &str) -> Result<()>;
    /// Records a sign-in outcome: success resets the failure count, failure increments it.
    async fn record_login(&self, admin: Uuid, success: bool) -> Result<()>;
    /// Reserves one sign-in attempt on every throttle of `throttles` — a digest naming an account
    /// or an account and address (it need not name an existing admin), and its rule — or on none
    /// of them: atomically, across replicas too, so N concurrent attempts never get more than the
    /// rules allow, and an attempt one throttle refuses spends nothing on the others. `Ok(None)`:
    /// reserved; `Ok(Some(until))`: refused until then. Throttles idle for their window are
    /// deleted as it goes, so unknown names cannot grow the table without bound.
    async fn reserve_login_attempt(
        &self,
        throttles: &[([u8; 32], ThrottleRule)],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>>;
    /// Forgets these throttles (a successful sign-in).
    async fn clear_login_throttles(&self, keys: &[[u8; 32]]) -> Result<()>;
    /// Starts a session. `csrf` is its form token; `expires` when it stops working.
    async fn create_session(
        &self,
        digest: [u8; 32],
        csrf: String,
        expires: OffsetDateTime,
    ) -> Result<SessionRecord>;
    /// The session with this cookie digest (expired ones too; the caller checks).
    async fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>>;
    /// Binds a session to the admin who signed in, with a fresh digest and CSRF token (the session
    /// id changes at sign-in, against fixation). Errors: `NotFound`.
    async fn sign_in_session(&self, id: Uuid, admin: Uuid, new_digest: [u8; 32], csrf: String) -> Result<()>;
    /// Moves a live session's deadline to `expires` (the console's idle timeout: activity keeps a
    /// session alive, up to its absolute bound, which the caller applies). A session that is gone
    /// or already expired stays so: `NotFound`.
    async fn touch_session(&self, id: Uuid, expires: OffsetDateTime) -> Result<()>;
    /// Sets the tenant an operator's session acts in (`None`: the admin's own). Errors: `NotFound`.
    async fn set_session_tenant(&self, id: Uuid, tenant: Option<Uuid>) -> Result<()>;
    /// Ends a session (and every expired one, as housekeeping).
    async fn delete_session(&self, id: Uuid) -> Result<()>;

    // ---- grants, codes, refresh tokens ----

    /// Records a grant. Errors: `NotFound` (no such client).
    async fn create_grant(&self, new: NewGrant) -> Result<GrantRecord>;
    /// The grant with this id.
    async fn grant(&self, id: Uuid) -> Result<Option<GrantRecord>>;
    /// Revokes a grant and with it every token issued under it. Revoking twice keeps the first
    /// time; a missing grant is not an error.
    async fn revoke_grant(&self, id: Uuid) -> Result<()>;
    /// Stores an authorization code.
    async fn create_code(&self, new: NewCode) -> Result<()>;
    /// Marks the code with this digest used, atomically, and says what it was.
    async fn consume_code(&self, digest: &[u8; 32]) -> Result<Consumed<CodeRecord>>;
    /// Stores a refresh token.
    async fn create_refresh_token(&self, new: NewRefreshToken) -> Result<()>;
    /// Marks the refresh token with this digest used, atomically, and says what it was.
    async fn consume_refresh_token(&self, digest: &[u8; 32]) -> Result<Consumed<RefreshRecord>>;
    /// The refresh token with this digest, without consuming it (revocation, introspection).
    async fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>>;

    // ---- signing keys ----

    /// Adds a key and retires every other unretired key at the new key's `created` time, which
    /// may lie in the future: from then on the new key signs, and until then it is only published
    /// (so verifiers learn it before any token signed with it exists). Keys retired before
    /// `prune_before` are deleted (their tokens have expired).
    async fn rotate_signing_key(&self, key: SigningKey, prune_before: OffsetDateTime) -> Result<()>;
    /// Every stored key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>>;
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn throttles_allow_the_free_attempts_then_delays_that_double_up_to_the_cap() {
        let rule = ThrottleRule {
            free: 3,
            window: Duration::minutes(15),
            base_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
        };
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let mut state = None;
        for _ in 0..2 {
            let s = rule.reserve(state, t0).unwrap();
            assert_eq!(s.blocked_until, t0);
            state = Some(s);
        }
        // The third (last free) attempt delays the next by the base delay.
        let s = rule.reserve(state, t0).unwrap();
        assert_eq!(s.blocked_until, t0 + Duration::seconds(1));
        assert_eq!(rule.reserve(Some(s), t0), Err(t0 + Duration::seconds(1)));
        let t1 = t0 + Duration::seconds(1);
        let s = rule.reserve(Some(s), t1).unwrap();
        assert_eq!(s.blocked_until, t1 + Duration::seconds(2), "doubles");
        let mut s = s;
        for _ in 0..40 {
            s = rule.reserve(Some(s), s.blocked_until).unwrap();
        }
        assert_eq!(s.blocked_until - s.last_attempt, Duration::minutes(15), "capped, no overflow");
        // Idle for the window after the last delay: starts over.
        let later = s.blocked_until + Duration::minutes(15);
        assert_eq!(rule.reserve(Some(s), later).unwrap().attempts, 1);
    }

    #[test]
    fn a_plain_limit_per_window() {
        let window = Duration::minutes(15);
        let rule = ThrottleRule { free: 2, window, base_delay: window, max_delay: window };
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let s = rule.reserve(None, t0).unwrap();
        let s = rule.reserve(Some(s), t0).unwrap();
        assert_eq!(rule.reserve(Some(s), t0 + Duration::minutes(14)), Err(t0 + window));
        assert!(rule.reserve(Some(s), t0 + window).is_ok());
    }
}
