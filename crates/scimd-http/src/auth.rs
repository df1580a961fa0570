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

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use time::OffsetDateTime;

use scimd_schema::ScimError;
use scimd_store::token::{PREFIX, digest, digests_equal};
use scimd_store::{Clock, NewToken, Store, StoreError, Tenant, TokenRecord, TokenSecret};

use scimd_oauth::AuthorizationServer;
pub use scimd_oauth::scope::{Scope, Scopes, UnknownScope};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::TenantLabel;

/// The `realm` of scimd's `WWW-Authenticate` challenges (RFC 6750 §3).
pub const REALM: &str = "scimd";

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
    /// HTTP Basic credentials whose password is no valid token (→ 401 with a Basic challenge,
    /// RFC 7617 §2).
    #[error("the Basic credentials are invalid: the password must be a valid, unexpired scimd token")]
    InvalidBasic,
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
    /// A JWT access token issued by scimd's authorization server to an OAuth client.
    OAuthAccessToken,
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
    /// The tenant it belongs to: [`Principal::tenant`] unless an operator names another.
    pub home: uuid::Uuid,
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

/// This server's issuer identifier for the request at hand, built on demand.
pub type Issuer<'a> = dyn Fn() -> String + Send + Sync + 'a;

/// Checks a presented bearer token.
#[async_trait]
pub trait CredentialVerifier: Send + Sync + 'static {
    /// `Ok(Some(_))` for a valid credential; `Ok(None)` when the token is not one this verifier
    /// accepts (unknown, expired, revoked, or of another kind — the next verifier may know it);
    /// `Err` when the check itself failed (database down → 503). `issuer` gives this server's
    /// issuer identifier as the request reaches it (`--base-url`, else `http://` and the allowed
    /// `Host`): a token scimd issued is valid only under the issuer that minted it (RFC 9068 §4).
    /// It is a function so that verifiers that do not need it (static tokens, on every request)
    /// do not build it.
    async fn verify(&self, token: &str, issuer: &Issuer<'_>) -> Result<Option<Principal>, ApiError>;
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
    /// A static token is the tenant's, whatever name the server is reached by: `issuer` is unused.
    async fn verify(&self, token: &str, _issuer: &Issuer<'_>) -> Result<Option<Principal>, ApiError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let presented = digest(token);
        // Token and tenant in one call (one statement on SQLite): this runs on every request.
        let Some((record, tenant)) = self.store.token_and_tenant(&presented).await? else {
            return Ok(None);
        };
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
        let Some(tenant) = tenant else { return Ok(None) };
        if record.needs_touch(now) {
            // Bookkeeping must not fail the request.
            if let Err(e) = self.store.touch_token(record.id, now).await {
                tracing::warn!(credential = %record.id, error = %e, "could not record the token's last use");
            }
        }
        let home = tenant.id;
        Ok(Some(Principal {
            tenant,
            scopes: Scopes::parse_lenient(record.scopes.iter().map(String::as_str)),
            credential: CredentialInfo {
                id: record.id.to_string(),
                name: record.name,
                kind: CredentialKind::StaticToken,
                operator: record.operator,
                home,
            },
        }))
    }
}

/// OAuth access tokens (JWTs from `/oauth2/token`): signature against the database's keys, expiry
/// by the injected clock, and the grant still standing (scimd-oauth).
#[derive(Clone)]
pub struct AccessTokenVerifier {
    store: Arc<dyn Store>,
    server: Arc<AuthorizationServer>,
}

impl AccessTokenVerifier {
    /// A verifier for the tokens `server` issues.
    pub fn new(store: Arc<dyn Store>, server: Arc<AuthorizationServer>) -> Self {
        Self { store, server }
    }
}

#[async_trait]
impl CredentialVerifier for AccessTokenVerifier {
    async fn verify(&self, token: &str, issuer: &Issuer<'_>) -> Result<Option<Principal>, ApiError> {
        // A JWS compact serialisation has three dot-separated parts (RFC 7515 §7.1); anything else
        // is not ours to check.
        if token.split('.').count() != 3 {
            return Ok(None);
        }
        let verified = self.server.verify_access_token(token, &issuer()).await.map_err(|e| match e.code {
            scimd_oauth::ErrorCode::TemporarilyUnavailable => {
                ApiError::Store(StoreError::Unavailable(e.description))
            }
            _ => ApiError::Internal(e.description),
        })?;
        let Some(access) = verified else { return Ok(None) };
        let Some(tenant) = self.store.tenant_by_id(access.tenant).await? else { return Ok(None) };
        Ok(Some(Principal {
            tenant,
            scopes: access.scopes,
            credential: CredentialInfo {
                id: access.jti,
                name: access.client_id,
                kind: CredentialKind::OAuthAccessToken,
                operator: false,
                home: access.tenant,
            },
        }))
    }
}

/// Tries verifiers in order; the first that recognises the token decides.
pub struct ChainVerifier(pub Vec<Arc<dyn CredentialVerifier>>);

#[async_trait]
impl CredentialVerifier for ChainVerifier {
    async fn verify(&self, token: &str, issuer: &Issuer<'_>) -> Result<Option<Principal>, ApiError> {
        for v in &self.0 {
            if let Some(p) = v.verify(token, issuer).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

/// The presented credential: RFC 6750 §2.1 `Authorization: Bearer <token>`, or RFC 7617 `Basic`
/// with a scimd token as the password (Okta's SCIM documentation: its "Basic Auth" mode sends a
/// user name and password; the user name is not checked — by convention the tenant slug). Schemes are
/// case-insensitive (RFC 9110 §11.1). Anything else, or an empty token, is no credential.
fn credential(parts: &Parts) -> Option<String> {
    credential_and_scheme(parts).map(|(token, _)| token)
}

/// Whether the request authenticated with `Authorization: Basic` (RFC 7617), whose failure is
/// answered with a Basic challenge.
fn is_basic(parts: &Parts) -> bool {
    credential_and_scheme(parts).is_some_and(|(_, basic)| basic)
}

/// [`credential`] and whether it came as Basic.
fn credential_and_scheme(parts: &Parts) -> Option<(String, bool)> {
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    raw_credential(parts).map(|t| (t, basic))
}

fn raw_credential(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(token.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
        let (_, password) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let Some(token) = credential(parts) else { return Err(refused(parts, state, AuthError::Missing)) };
        let invalid = if is_basic(parts) { AuthError::InvalidBasic } else { AuthError::Invalid };
        let headers = &parts.headers;
        let issuer = || crate::oauth::issuer(&state.config, headers);
        let Some(mut principal) = state.verifier.verify(&token, &issuer).await? else {
            return Err(refused(parts, state, invalid));
        };

        let slug = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(k, _)| *k == "slug").map(|(_, v)| v.to_owned()));
        if let Some(slug) = slug.filter(|s| *s != principal.tenant.slug) {
            if !principal.credential.operator {
                return Err(refused(parts, state, AuthError::WrongTenant(slug)));
            }
            principal.tenant = state
                .store
                .tenant_by_slug(&slug)
                .await?
                .ok_or_else(|| ScimError::not_found(format!("no tenant {slug:?}")))?;
        }

        // The provisioning log records the credential from here on, a 429 below included.
        if let Some(slot) = parts.extensions.get::<crate::provisioning_log::LogSlot>() {
            slot.set(&principal);
        }
        // The tenant's per-credential rate limit (after authentication, so an unknown token
        // cannot spend a real credential's budget).
        let rate = principal.tenant.settings.rate_limit.unwrap_or(scimd_store::DEFAULT_RATE_LIMIT);
        if rate != 0 {
            let key = match principal.credential.kind {
                // Each access token has its own jti; the budget is the client's.
                CredentialKind::OAuthAccessToken => format!("client:{}", principal.credential.name),
                CredentialKind::StaticToken => format!("token:{}", principal.credential.id),
            };
            state.limits.check(key, rate).map_err(ApiError::RateLimited)?;
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

/// A request refused before it reached a tenant: counted by reason at `/metrics`, never written to
/// a provisioning log (the recorder logs only requests with a principal), and limited per peer
/// address — over [`crate::HttpConfig::refused_rate_limit`] it is 429 with `Retry-After` (RFC 6585
/// §4) instead of the 401 or 403.
fn refused(parts: &Parts, state: &AppState, e: AuthError) -> ApiError {
    let reason = match e {
        AuthError::Missing => "missing",
        AuthError::WrongTenant(_) => "wrong_tenant",
        AuthError::Invalid | AuthError::InvalidBasic | AuthError::MissingScope(_) => "invalid",
    };
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let over = peer.and_then(|ip| state.limits.refused(ip, state.config.refused_rate_limit).err());
    match over {
        Some(seconds) => {
            state.metrics.refused("throttled");
            ApiError::RateLimited(seconds)
        }
        None => {
            state.metrics.refused(reason);
            e.into()
        }
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
    // The same rule as OAuth client names: a name is shown in lists and logs, so it is bounded
    // and free of control characters.
    scimd_oauth::server::valid_text("the token name", &request.name, scimd_oauth::server::MAX_NAME_CHARS)
        .map_err(|e| StoreError::Scim(scimd_schema::ScimError::invalid_value(e)))?;
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
    fn credential_parsing() {
        use base64::Engine as _;
        let parts = |v: &str| {
            let (parts, ()) =
                axum::http::Request::builder().header("authorization", v).body(()).unwrap().into_parts();
            parts
        };
        assert_eq!(credential(&parts("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(credential(&parts("bearer abc")).as_deref(), Some("abc"));
        assert_eq!(credential(&parts("Bearer ")), None);
        assert_eq!(credential(&parts("Bearer")), None);
        assert_eq!(credential(&parts("non-token")), None);
        let basic = base64::engine::general_purpose::STANDARD.encode("acme:scimd_tok:en");
        assert_eq!(credential(&parts(&format!("Basic {basic}"))).as_deref(), Some("scimd_tok:en"));
        let no_password = base64::engine::general_purpose::STANDARD.encode("acme:");
        assert_eq!(credential(&parts(&format!("Basic {no_password}"))), None);
        assert_eq!(credential(&parts("Basic !!!")), None);
    }
}
