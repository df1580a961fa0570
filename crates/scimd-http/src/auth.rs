//! Who is calling: the bearer credential (RFC 6750) turned into a [`Principal`] — tenant, scopes,
//! credential — and the scope checks handlers make.
//!
//! Credentials are checked by a [`CredentialVerifier`]. [`StaticTokenVerifier`] handles the opaque
//! tokens `scimd token create` prints; OAuth access tokens plug in as a second verifier (chain them
//! with [`ChainVerifier`]) without changing any handler.
//!
//! Tenant routing: under `/scim/v2` the tenant is the credential's. Under `/tenants/{slug}/scim/v2`
//! the slug must name the credential's tenant, else 403 — also when no tenant has that slug, so a
//! credential cannot probe which tenants exist. An operator token (`--operator`) reaches every
//! tenant: for it the slug selects the tenant, and an unknown slug is 404.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use time::OffsetDateTime;

use scimd_schema::ScimError;
use scimd_store::token::{PREFIX, digest, digests_equal};
use scimd_store::{Clock, NewToken, Store, StoreError, Tenant, TokenRecord, TokenSecret};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::TenantLabel;

/// The `realm` of scimd's `WWW-Authenticate` challenges (RFC 6750 §3).
pub const REALM: &str = "scimd";

/// One SCIM permission (DESIGN.md "Scopes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read Users (GET, list, search).
    UsersRead,
    /// Create Users (POST).
    UsersCreate,
    /// Change Users (PUT, PATCH).
    UsersUpdate,
    /// Delete Users.
    UsersDelete,
    /// Read Groups.
    GroupsRead,
    /// Create Groups.
    GroupsCreate,
    /// Change Groups (PUT, PATCH, membership).
    GroupsUpdate,
    /// Delete Groups.
    GroupsDelete,
}

impl Scope {
    /// Every SCIM scope, in canonical order.
    pub const ALL: [Scope; 8] = [
        Scope::UsersRead,
        Scope::UsersCreate,
        Scope::UsersUpdate,
        Scope::UsersDelete,
        Scope::GroupsRead,
        Scope::GroupsCreate,
        Scope::GroupsUpdate,
        Scope::GroupsDelete,
    ];

    /// The canonical name (`users:read`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersCreate => "users:create",
            Scope::UsersUpdate => "users:update",
            Scope::UsersDelete => "users:delete",
            Scope::GroupsRead => "groups:read",
            Scope::GroupsCreate => "groups:create",
            Scope::GroupsUpdate => "groups:update",
            Scope::GroupsDelete => "groups:delete",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no scope scimd knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; known scopes: {known}", known = Scopes::KNOWN_NAMES.join(", "))]
pub struct UnknownScope(pub String);

/// A set of [`Scope`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// Every name accepted, canonical names first, then `scim` and the Auth0-style aliases.
    pub const KNOWN_NAMES: [&'static str; 19] = [
        "users:read",
        "users:create",
        "users:update",
        "users:delete",
        "groups:read",
        "groups:create",
        "groups:update",
        "groups:delete",
        "scim",
        "get:users",
        "post:users",
        "put:users",
        "patch:users",
        "delete:users",
        "get:groups",
        "post:groups",
        "put:groups",
        "patch:groups",
        "delete:groups",
    ];

    /// No scope.
    #[must_use]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// All eight SCIM scopes (what `scim` stands for, and what a token created without `--scope`
    /// gets).
    #[must_use]
    pub const fn all() -> Self {
        Self(u8::MAX)
    }

    /// The scopes one name stands for: a canonical name, `scim` (all eight), or an Auth0-style
    /// alias (`get:users` = `users:read`, `post:users` = `users:create`, `put:users` and
    /// `patch:users` = `users:update`, `delete:users` = `users:delete`; the same for groups).
    /// Names are case-sensitive, as OAuth scope tokens are (RFC 6749 §3.3).
    #[must_use]
    pub fn parse_name(name: &str) -> Option<Self> {
        let one = |s: Scope| Some(Self(s.bit()));
        match name {
            "scim" => Some(Self::all()),
            "users:read" | "get:users" => one(Scope::UsersRead),
            "users:create" | "post:users" => one(Scope::UsersCreate),
            "users:update" | "put:users" | "patch:users" => one(Scope::UsersUpdate),
            "users:delete" | "delete:users" => one(Scope::UsersDelete),
            "groups:read" | "get:groups" => one(Scope::GroupsRead),
            "groups:create" | "post:groups" => one(Scope::GroupsCreate),
            "groups:update" | "put:groups" | "patch:groups" => one(Scope::GroupsUpdate),
            "groups:delete" | "delete:groups" => one(Scope::GroupsDelete),
            _ => None,
        }
    }

    /// The union of the scopes the names stand for; the first unknown name is an error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownScope> {
        names.into_iter().try_fold(Self::empty(), |acc, n| {
            Self::parse_name(n).map(|s| acc.union(s)).ok_or_else(|| UnknownScope(n.to_owned()))
        })
    }

    /// Like [`Scopes::parse`] but skips names it does not know (stored credentials may carry scopes
    /// of a later version, such as `admin`, which grant nothing here).
    #[must_use]
    pub fn parse_lenient<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().filter_map(Self::parse_name).fold(Self::empty(), Self::union)
    }

    /// Both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes held, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Canonical names of the scopes held: what the store keeps.
    #[must_use]
    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Scope::as_str)).finish()
    }
}

/// Why a request has no usable principal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header (RFC 6750 §3.1 → 401 without an error code).
    #[error("this endpoint needs a bearer token: send Authorization: Bearer <token>")]
    Missing,
    /// A token no verifier accepts: unknown, malformed, expired or revoked (→ 401 invalid_token).
    /// Deliberately one message for all four, so a caller learns nothing about which.
    #[error("the bearer token is invalid, expired or revoked")]
    Invalid,
    /// The credential lacks the scope the operation needs (→ 403 insufficient_scope).
    #[error("the credential lacks the scope {0} that this operation needs")]
    MissingScope(Scope),
    /// `/tenants/{slug}/…` names a tenant the credential does not belong to (→ 403).
    #[error("the credential is not valid for tenant {0:?}")]
    WrongTenant(String),
}

/// What kind of credential authenticated the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKind {
    /// An opaque token created with `scimd token create`.
    StaticToken,
}

/// The credential behind a principal, for logs and audit records. Never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The credential's id (a token id).
    pub id: String,
    /// Its human label.
    pub name: String,
    /// Its kind.
    pub kind: CredentialKind,
    /// Whether it reaches every tenant.
    pub operator: bool,
}

/// The authenticated caller of a request: the tenant it acts in, what it may do, and by which
/// credential. An axum extractor: a handler that takes a `Principal` is authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The tenant the request acts in (the credential's, or for an operator the URL's).
    pub tenant: Tenant,
    /// What the credential may do.
    pub scopes: Scopes,
    /// Which credential.
    pub credential: CredentialInfo,
}

impl Principal {
    /// `Ok` when the credential holds `scope`; otherwise 403 naming it (RFC 6750 §3.1
    /// `insufficient_scope`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) { Ok(()) } else { Err(AuthError::MissingScope(scope).into()) }
    }
}

/// Checks a presented bearer token.
#[async_trait]
pub trait CredentialVerifier: Send + Sync + 'static {
    /// `Ok(Some(_))` for a valid credential; `Ok(None)` when the token is not one this verifier
    /// accepts (unknown, expired, revoked, or of another kind — the next verifier may know it);
    /// `Err` when the check itself failed (database down → 503).
    async fn verify(&self, token: &str) -> Result<Option<Principal>, ApiError>;
}

/// Static tokens: digest lookup, expiry, revocation, last-used time.
#[derive(Clone)]
pub struct StaticTokenVerifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl StaticTokenVerifier {
    /// A verifier over the store's tokens.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl CredentialVerifier for StaticTokenVerifier {
    async fn verify(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let presented = digest(token);
        let Some(record) = self.store.token_by_digest(&presented).await? else { return Ok(None) };
        // The index lookup already matched; the constant-time check guards against a backend
        // whose comparison is looser than byte equality.
        if !digests_equal(&record.digest, &presented) {
            return Ok(None);
        }
        let now = self.clock.now();
        if !record.is_active(now) {
            tracing::info!(credential = %record.id, "refused an expired or revoked token");
            return Ok(None);
        }
        let Some(tenant) = self.store.tenant_by_id(record.tenant).await? else { return Ok(None) };
        if record.needs_touch(now) {
            // Bookkeeping must not fail the request.
            if let Err(e) = self.store.touch_token(record.id, now).await {
                tracing::warn!(credential = %record.id, error = %e, "could not record the token's last use");
            }
        }
        Ok(Some(Principal {
            tenant,
            scopes: Scopes::parse_lenient(record.scopes.iter().map(String::as_str)),
            credential: CredentialInfo {
                id: record.id.to_string(),
                name: record.name,
                kind: CredentialKind::StaticToken,
                operator: record.operator,
            },
        }))
    }
}

/// Tries verifiers in order; the first that recognises the token decides.
pub struct ChainVerifier(pub Vec<Arc<dyn CredentialVerifier>>);

#[async_trait]
impl CredentialVerifier for ChainVerifier {
    async fn verify(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        for v in &self.0 {
            if let Some(p) = v.verify(token).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110
/// §11.1). Other schemes and an empty token count as no bearer credential.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        let mut principal = state.verifier.verify(token).await?.ok_or(AuthError::Invalid)?;

        let slug = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(k, _)| *k == "slug").map(|(_, v)| v.to_owned()));
        if let Some(slug) = slug.filter(|s| *s != principal.tenant.slug) {
            if !principal.credential.operator {
                return Err(AuthError::WrongTenant(slug).into());
            }
            principal.tenant = state
                .store
                .tenant_by_slug(&slug)
                .await?
                .ok_or_else(|| ScimError::not_found(format!("no tenant {slug:?}")))?;
        }

        if let Some(label) = parts.extensions.get::<TenantLabel>() {
            label.set(&principal.tenant.slug);
        }
        tracing::Span::current().record("tenant", principal.tenant.slug.as_str());
        tracing::Span::current().record("credential", principal.credential.id.as_str());
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// What to create a static token with.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// A label for people.
    pub name: String,
    /// What it may do.
    pub scopes: Scopes,
    /// When it stops working.
    pub expires: Option<OffsetDateTime>,
    /// Whether it reaches every tenant.
    pub operator: bool,
}

/// Creates a static token for `tenant`: generates the secret, stores its digest and the canonical
/// scope names, and returns the secret — the only time it exists outside the caller's hands.
pub async fn create_static_token(
    store: &dyn Store,
    clock: &dyn Clock,
    tenant: &Tenant,
    request: TokenRequest,
) -> Result<(TokenSecret, TokenRecord), StoreError> {
    let secret = TokenSecret::generate(clock);
    let record = store
        .create_token(NewToken {
            tenant: tenant.id,
            name: request.name,
            digest: secret.digest(),
            scopes: request.scopes.names(),
            expires: request.expires,
            operator: request.operator,
        })
        .await?;
    Ok((secret, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_and_aliases() {
        assert_eq!(Scopes::parse(["scim"]).unwrap(), Scopes::all());
        assert_eq!(Scopes::parse(["get:users"]).unwrap(), Scopes::parse(["users:read"]).unwrap());
        let upd = Scopes::parse(["users:update"]).unwrap();
        assert_eq!(Scopes::parse(["put:users"]).unwrap(), upd);
        assert_eq!(Scopes::parse(["patch:users"]).unwrap(), upd);
        assert_eq!(
            Scopes::parse(["delete:groups"]).unwrap().iter().collect::<Vec<_>>(),
            [Scope::GroupsDelete]
        );
        assert_eq!(Scopes::parse(["users:read", "nope"]), Err(UnknownScope("nope".into())));
        assert!(Scopes::parse(["Users:Read"]).is_err(), "scope names are case-sensitive");
        assert_eq!(Scopes::parse_lenient(["admin", "groups:read"]).names(), ["groups:read"]);
        assert_eq!(Scopes::all().names().len(), 8);
        assert!(Scopes::empty().is_empty());
        for name in Scopes::KNOWN_NAMES {
            assert!(Scopes::parse_name(name).is_some(), "{name}");
        }
        for s in Scope::ALL {
            assert_eq!(Scopes::parse([s.as_str()]).unwrap().iter().collect::<Vec<_>>(), [s]);
        }
    }

    #[test]
    fn unknown_scope_message_lists_the_known_ones() {
        let msg = UnknownScope("users:write".into()).to_string();
        assert!(msg.contains("users:write") && msg.contains("users:update") && msg.contains("patch:users"));
    }

    #[test]
    fn bearer_parsing() {
        let parts = |v: &str| {
            let (parts, ()) =
                axum::http::Request::builder().header("authorization", v).body(()).unwrap().into_parts();
            parts
        };
        assert_eq!(bearer(&parts("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&parts("bearer abc")), Some("abc"));
        assert_eq!(bearer(&parts("Basic abc")), None);
        assert_eq!(bearer(&parts("Bearer ")), None);
        assert_eq!(bearer(&parts("Bearer")), None);
    }
}
