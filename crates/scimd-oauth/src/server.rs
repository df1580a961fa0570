//! The authorization server: the token endpoint's three grants, the authorization endpoint's
//! checks and decisions, admin sign-in with throttling, revocation, introspection and the access
//! tokens themselves. Everything the HTTP routes do beyond parsing and rendering is here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use scimd_store::oauth::{
    AdminRecord, ClientRecord, Consumed, GrantRecord, GrantType, NewAdmin, NewClient, NewCode, NewGrant,
    NewRefreshToken, SessionRecord, ThrottleRule,
};
use scimd_store::token::digests_equal;
use scimd_store::{Clock, Store, StoreError, Tenant};

use crate::error::{ErrorCode, OAuthError};
use crate::keys::{KeyError, KeyRing};
use crate::scope::Scopes;
use crate::secret::{CLIENT_SECRET_PREFIX, REFRESH_TOKEN_PREFIX, Secret};
use crate::{password, pkce};

/// Lifetimes and limits. The defaults are what Entra and Okta work with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthConfig {
    /// Access-token lifetime. Entra's gallery check wants `expires_in` between 60 and 360 minutes;
    /// one hour is the default.
    pub access_token_ttl: Duration,
    /// Authorization-code lifetime. RFC 6749 §4.1.2: short, at most 10 minutes recommended; Okta
    /// redeems the code immediately.
    pub code_ttl: Duration,
    /// Refresh-token lifetime, renewed at each rotation: a connection that refreshes at least this
    /// often never needs the admin again.
    pub refresh_token_ttl: Duration,
    /// How long a browser session on the authorization pages lasts.
    pub session_ttl: Duration,
    /// Sign-in attempts per account (known or not) within [`OAuthConfig::login_lockout`] before
    /// each further one waits a growing delay ([`OAuthConfig::login_delay`], doubling, at most
    /// `login_lockout`): the account is slowed, never locked.
    pub max_failed_logins_per_account: u32,
    /// Failed sign-ins per account from one client address within
    /// [`OAuthConfig::login_lockout`] before that address may not try that account until the
    /// window has passed.
    pub max_failed_logins_per_account_and_address: u32,
    /// Failed sign-ins per client address within [`OAuthConfig::login_lockout`] before the
    /// address is throttled.
    pub max_failed_logins_per_address: u32,
    /// The throttling window, and the longest delay.
    pub login_lockout: Duration,
    /// The first delay once an account's free attempts are spent.
    pub login_delay: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::hours(1),
            code_ttl: Duration::minutes(2),
            refresh_token_ttl: Duration::days(90),
            session_ttl: Duration::minutes(30),
            max_failed_logins_per_account: 5,
            max_failed_logins_per_account_and_address: 5,
            max_failed_logins_per_address: 20,
            login_lockout: Duration::minutes(15),
            login_delay: Duration::seconds(1),
        }
    }
}

/// How the client authenticated at the token, revocation or introspection endpoint (RFC 6749
/// §2.3.1), as parsed by the HTTP layer.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-decoded id and secret.
    Basic {
        /// The client id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post {
        /// The client id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// A public client (`none`): only `client_id` in the body.
    Public {
        /// The client id.
        id: String,
    },
    /// No client identification at all.
    Absent,
    /// More than one method at once (RFC 6749 §2.3: the client MUST NOT).
    Several,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Basic { id, .. } => write!(f, "Basic({id}, ***)"),
            ClientAuth::Post { id, .. } => write!(f, "Post({id}, ***)"),
            ClientAuth::Public { id } => write!(f, "Public({id})"),
            ClientAuth::Absent => f.write_str("Absent"),
            ClientAuth::Several => f.write_str("Several"),
        }
    }
}

/// The token request's parameters (RFC 6749 §4.1.3, §4.4.2, §6), already form-decoded.
#[derive(Clone, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `code` (authorization_code).
    pub code: Option<String>,
    /// `redirect_uri` (authorization_code).
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// RFC 6749 §5.1's successful response.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A new refresh token (authorization_code and refresh_token grants only; RFC 6749 §4.4.3:
    /// none for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes (always sent, so the client need not guess).
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The claims of a scimd access token: the RFC 9068 JWT profile plus the tenant and grant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer: the server's base URL.
    pub iss: String,
    /// Subject: the approving admin's id, or the client id when no person was involved (RFC 9068
    /// §2.2).
    pub sub: String,
    /// Audience: the SCIM base URL of the issuer.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique id of this token.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The tenant (id) the token acts in.
    pub tenant: String,
    /// The grant it was issued under; revoking the grant revokes the token.
    pub gid: String,
}

/// The audience of the access tokens `issuer` mints: its SCIM base URL, the resource they are for
/// (RFC 9068 §3, RFC 8707 §2).
fn audience(issuer: &str) -> String {
    format!("{issuer}/scim/v2")
}

/// A verified access token: what the HTTP layer turns into a principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAccess {
    /// The tenant it acts in.
    pub tenant: Uuid,
    /// What it may do.
    pub scopes: Scopes,
    /// The client it was issued to.
    pub client_id: String,
    /// Its grant.
    pub grant: Uuid,
    /// Its `jti`.
    pub jti: String,
}

/// The authorization request's parameters (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// Where to send the admin back; optional when the client registered exactly one.
    pub redirect_uri: Option<String>,
    /// Requested scopes; default: the client's.
    pub scope: Option<String>,
    /// Opaque value echoed back (CSRF protection for the client).
    pub state: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method; only `S256`.
    pub code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    /// The parameters' names (RFC 6749 §4.1.1, RFC 7636 §4.3), in the order they are written back.
    pub const NAMES: [&'static str; 7] = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ];

    /// Each parameter that has a value, with its name: what a form or a query string carries on.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let values = [
            &self.response_type,
            &self.client_id,
            &self.redirect_uri,
            &self.scope,
            &self.state,
            &self.code_challenge,
            &self.code_challenge_method,
        ];
        Self::NAMES.into_iter().zip(values).filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
    }

    /// The parameter called `name`, to fill in; `None` for a name that is not one of
    /// [`AuthorizeParams::NAMES`] (RFC 6749 §3.1: unrecognised parameters are ignored).
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "response_type" => Some(&mut self.response_type),
            "client_id" => Some(&mut self.client_id),
            "redirect_uri" => Some(&mut self.redirect_uri),
            "scope" => Some(&mut self.scope),
            "state" => Some(&mut self.state),
            "code_challenge" => Some(&mut self.code_challenge),
            "code_challenge_method" => Some(&mut self.code_challenge_method),
            _ => None,
        }
    }
}

/// A checked authorization request.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    /// The client asking.
    pub client: ClientRecord,
    /// Where the admin goes back to.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (then the token request must repeat it, RFC 6749
    /// §4.1.3).
    pub redirect_uri_given: bool,
    /// The scopes asked for.
    pub scopes: Scopes,
    /// Echoed back.
    pub state: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
}

/// Why an authorization request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: RFC 6749 §4.1.2.1 forbids redirecting, so the
    /// page shows the message instead.
    Show(String),
    /// Redirect the error to the client (a URL with `error`, `error_description`, `state`, `iss`).
    Redirect(String),
}

/// Why a sign-in failed. One message for unknown account and wrong password, so the page does not
/// reveal which accounts exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown email or wrong password.
    Invalid,
    /// Too many failures for this account or address; try again after this long.
    Throttled(Duration),
    /// Too many password checks at once (the process's Argon2 bound); retry in a moment.
    Busy,
    /// The check itself failed.
    Unavailable(String),
}

impl LoginError {
    /// The HTTP status of a refused sign-in: 401 for wrong credentials, 429 when throttled
    /// (RFC 6585 §4), 503 when busy or failing (RFC 9110 §15.6.4).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            LoginError::Invalid => 401,
            LoginError::Throttled(_) => 429,
            LoginError::Busy | LoginError::Unavailable(_) => 503,
        }
    }

    /// `Retry-After` in whole seconds, rounded up (RFC 9110 §10.2.3), where waiting helps.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            LoginError::Throttled(wait) => {
                Some((wait.whole_milliseconds().max(0) as u64).div_ceil(1000).max(1))
            }
            // The process's bound on concurrent password hashing frees within a second.
            LoginError::Busy => Some(1),
            LoginError::Invalid | LoginError::Unavailable(_) => None,
        }
    }

    /// What a sign-in page tells the person: one message for an unknown account and a wrong
    /// password (RFC 9700 §4.16), and how long to wait when throttled.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            LoginError::Invalid => "Wrong email or password.".to_owned(),
            LoginError::Throttled(_) => {
                let secs = self.retry_after().unwrap_or(1);
                let wait = if secs < 120 {
                    format!("{secs} seconds")
                } else {
                    format!("{} minutes", secs.div_ceil(60))
                };
                format!("Too many failed sign-ins. Wait {wait} and try again.")
            }
            LoginError::Busy => {
                "The server is busy checking other sign-ins. Try again in a moment.".to_owned()
            }
            LoginError::Unavailable(_) => {
                "The server cannot check sign-ins right now. Try again in a moment.".to_owned()
            }
        }
    }
}

/// Why a client registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The registration itself is wrong (shown to whoever asked).
    #[error("{0}")]
    Invalid(String),
    /// The store failed: the caller maps it as any storage error (its text is logged, never
    /// shown to a client).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registration result: the record and, for confidential clients, the secret shown once.
#[derive(Debug)]
pub struct RegisteredClient {
    /// What was stored.
    pub record: ClientRecord,
    /// The secret, `None` for a public client.
    pub secret: Option<Secret>,
}

/// What to register a client with.
#[derive(Clone, Debug)]
pub struct ClientRegistration {
    /// A label for people.
    pub name: String,
    /// The grant type.
    pub grant: GrantType,
    /// Redirect URIs (authorization_code only; at least one).
    pub redirect_uris: Vec<String>,
    /// Scopes; default every SCIM scope.
    pub scopes: Scopes,
    /// A public client (no secret, PKCE required). authorization_code only.
    pub public: bool,
}

/// The rule for admins' passwords, at creation and reset alike: a minimum length and no
/// composition rules (NIST SP 800-63B-4 §3.1.1.2 asks for length, not character classes).
fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 12 {
        return Err("the password must be at least 12 characters long".into());
    }
    Ok(())
}

/// The authorization server.
pub struct AuthorizationServer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: OAuthConfig,
    /// Shared with the event delivery worker, which signs SETs with the same keys: one cache, so
    /// the JWKS this server publishes always holds the key a SET was just signed with.
    keys: Arc<KeyRing>,
    /// Sign-in attempts per client address (IPv6 by /64): (count, window start). Per process:
    /// with several replicas the per-address limit applies per replica; the per-account limits
    /// are in the database and shared.
    failures_by_address: Mutex<HashMap<IpAddr, (u32, OffsetDateTime)>>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer").field("config", &self.config).finish_non_exhaustive()
    }
}

fn key_error(e: KeyError) -> OAuthError {
    match e {
        KeyError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "signing key unusable");
            OAuthError::new(ErrorCode::ServerError, "internal error")
        }
    }
}

/// Appends query parameters to a redirect URI that may already have a query (RFC 6749 §3.1.2: the
/// query component MUST be retained).
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs are validated absolute URLs; this branch is unreachable in practice and
        // degrades to plain concatenation.
        Err(_) => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let q: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    format!("{k}={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())
                })
                .collect();
            format!("{uri}{sep}{}", q.join("&"))
        }
    }
}

/// The longest client name (a label shown on the consent page).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest admin email (RFC 5321 §4.5.3.1.3 with RFC 3696 errata: 254 octets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest redirect URI accepted at registration.
pub const MAX_REDIRECT_URI_CHARS: usize = 2000;

/// A free-text field is 1 to `max` characters with no control characters.
pub fn valid_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

/// RFC 6749 §3.1.2: an absolute URI without a fragment. RFC 9700 §4.1.1 and RFC 8252 §7.3/§8.3:
/// https, or http only on a loopback host (127.0.0.1, `[::1]`, localhost); custom schemes are not
/// needed by the identity providers scimd serves. No userinfo (RFC 9110 §4.2.4: deprecated, and a
/// phishing vector), and the host must be written canonically: the url crate reads `0x7f000001`
/// or `127.1` as 127.0.0.1 (WHATWG URL host parsing), so a URI that is not what it looks like is
/// refused rather than registered.
pub fn valid_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.chars().count() > MAX_REDIRECT_URI_CHARS {
        return Err(format!("a redirect URI is longer than {MAX_REDIRECT_URI_CHARS} characters"));
    }
    let url =
        url::Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not have a fragment (RFC 6749 §3.1.2)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain a user name or password"));
    }
    let written = uri
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .map(|authority| authority.rsplit_once('@').map_or(authority, |(_, h)| h))
        .map(|hostport| match (hostport.find(']'), hostport.rsplit_once(':')) {
            // An IPv6 literal: the host is the bracketed part.
            (Some(end), _) if hostport.starts_with('[') => &hostport[..=end],
            (_, Some((h, port))) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => hostport,
        })
        .unwrap_or("");
    let canonical = url.host_str().unwrap_or("");
    if !written.eq_ignore_ascii_case(canonical) {
        return Err(format!(
            "redirect URI {uri:?}: write the host as {canonical:?} (non-canonical hosts are refused)"
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        other => Err(format!(
            "redirect URI {uri:?}: scheme {other:?} is not allowed; use https (http only for localhost)"
        )),
    }
}

fn parse_scope(scope: Option<&str>, allowed: Scopes) -> Result<Scopes, OAuthError> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else { return Ok(allowed) };
    let asked = Scopes::parse(scope.split_ascii_whitespace())
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    if !asked.is_subset_of(allowed) {
        return Err(OAuthError::invalid_scope(format!(
            "the requested scope exceeds what this client may have ({})",
            allowed.to_scope_string()
        )));
    }
    if asked.is_empty() {
        return Err(OAuthError::invalid_scope("the requested scope is empty"));
    }
    Ok(asked)
}

/// The throttle key of an account (`addr` `None`) or of an account and client address: a
/// SHA-256 digest of the tenant and the case-folded email (Unicode lower-case, as the store folds
/// `email_key`), so the store keeps no email and an unknown email has a throttle like a known one.
fn throttle_key(tenant: Uuid, email: &str, addr: Option<IpAddr>) -> [u8; 32] {
    let email = email.to_lowercase();
    let text = match addr {
        None => format!("scimd sign-in throttle\0account\0{tenant}\0{email}"),
        Some(ip) => format!("scimd sign-in throttle\0account and address\0{tenant}\0{email}\0{ip}"),
    };
    scimd_store::token::digest(&text)
}

/// The unit an address is throttled by: IPv4 addresses one by one, IPv6 by /64 (the smallest
/// prefix RFC 4291 §2.5.4 gives one network, so one host cannot rotate through its addresses).
fn address_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn client_scopes(client: &ClientRecord) -> Scopes {
    Scopes::parse_lenient(client.scopes.iter().map(String::as_str))
}

impl AuthorizationServer {
    /// A server over the store.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: OAuthConfig) -> Self {
        let keys = Arc::new(KeyRing::new(store.clone(), clock.clone()));
        Self { store, clock, config, keys, failures_by_address: Mutex::new(HashMap::new()) }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// The key ring (JWKS, rotation).
    #[must_use]
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The key ring, for another signer of this process (SETs of event delivery).
    #[must_use]
    pub fn shared_keys(&self) -> Arc<KeyRing> {
        self.keys.clone()
    }

    // ---------------------------------------------------------------- clients and admins

    /// Registers a client for `tenant` and returns its secret once.
    pub async fn register_client(
        &self,
        tenant: &Tenant,
        reg: ClientRegistration,
    ) -> Result<RegisteredClient, RegisterError> {
        let invalid = |m: &str| RegisterError::Invalid(m.to_owned());
        valid_text("the client name", &reg.name, MAX_NAME_CHARS).map_err(RegisterError::Invalid)?;
        if reg.redirect_uris.len() > 20 {
            return Err(invalid("a client has at most 20 redirect URIs"));
        }
        match reg.grant {
            GrantType::AuthorizationCode => {
                if reg.redirect_uris.is_empty() {
                    return Err(invalid("an authorization_code client needs at least one --redirect-uri"));
                }
                for uri in &reg.redirect_uris {
                    valid_redirect_uri(uri).map_err(RegisterError::Invalid)?;
                }
            }
            GrantType::ClientCredentials => {
                if !reg.redirect_uris.is_empty() {
                    return Err(invalid("a client_credentials client has no redirect URIs"));
                }
                if reg.public {
                    return Err(invalid(
                        "a client_credentials client must be confidential (it authenticates with its secret)",
                    ));
                }
            }
        }
        if reg.scopes.is_empty() {
            return Err(invalid("a client needs at least one scope"));
        }
        let secret = (!reg.public).then(|| Secret::generate(&*self.clock, CLIENT_SECRET_PREFIX));
        let record = self
            .store
            .create_client(NewClient {
                tenant: tenant.id,
                client_id: self.clock.new_id().to_string(),
                name: reg.name,
                grant: reg.grant,
                secret_digest: secret.as_ref().map(Secret::digest),
                redirect_uris: reg.redirect_uris,
                scopes: reg.scopes.names(),
            })
            .await?;
        Ok(RegisteredClient { record, secret })
    }

    /// Replaces a confidential client's secret; every grant it holds is revoked.
    pub async fn rotate_client_secret(&self, client: &ClientRecord) -> Result<Secret, StoreError> {
        if client.secret_digest.is_none() {
            return Err(StoreError::Conflict("a public client has no secret".into()));
        }
        let secret = Secret::generate(&*self.clock, CLIENT_SECRET_PREFIX);
        self.store.rotate_client_secret(&client.client_id, secret.digest()).await?;
        Ok(secret)
    }

    /// Creates a tenant admin with an Argon2id-hashed password.
    pub async fn create_admin(
        &self,
        tenant: &Tenant,
        email: &str,
        password: String,
    ) -> Result<AdminRecord, String> {
        self.create_account(tenant, email, password, false).await
    }

    /// Creates an admin of `tenant` who may also act in every other tenant from the console
    /// (`scimd admin create --operator`). The authorization pages still let them approve
    /// connections for their own tenant only.
    pub async fn create_operator(
        &self,
        tenant: &Tenant,
        email: &str,
        password: String,
    ) -> Result<AdminRecord, String> {
        self.create_account(tenant, email, password, true).await
    }

    async fn create_account(
        &self,
        tenant: &Tenant,
        email: &str,
        password: String,
        operator: bool,
    ) -> Result<AdminRecord, String> {
        let email = email.trim();
        valid_text("the email", email, MAX_EMAIL_CHARS)?;
        if !email.contains('@') {
            return Err(format!("{email:?} is not an email address"));
        }
        check_password(&password)?;
        let hash = password::hash(password, &self.clock).await.map_err(|e| e.to_string())?;
        self.store
            .create_admin(NewAdmin {
                tenant: tenant.id,
                email: email.to_owned(),
                password_hash: hash,
                operator,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    format!("an admin with email {email:?} already exists in this tenant")
                }
                other => other.to_string(),
            })
    }

    // ---------------------------------------------------------------- client authentication

    /// RFC 6749 §2.3: identifies and authenticates the client. A confidential client must present
    /// its secret (compared as SHA-256 digests in constant time); a public client only its id.
    pub async fn authenticate_client(&self, auth: &ClientAuth) -> Result<ClientRecord, OAuthError> {
        let (id, secret) = match auth {
            ClientAuth::Basic { id, secret } | ClientAuth::Post { id, secret } => (id, Some(secret)),
            ClientAuth::Public { id } => (id, None),
            ClientAuth::Absent => {
                return Err(OAuthError::invalid_client("client authentication is required"));
            }
            ClientAuth::Several => {
                return Err(OAuthError::invalid_request(
                    "the client used more than one authentication method (RFC 6749 §2.3)",
                ));
            }
        };
        let failed = || OAuthError::invalid_client("unknown client or wrong client secret");
        let client = self.store.client(id).await?.ok_or_else(failed)?;
        match (&client.secret_digest, secret) {
            (Some(stored), Some(given)) if digests_equal(stored, &scimd_store::token::digest(given)) => {
                Ok(client)
            }
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client("this is a public client: it has no secret")),
            _ => Err(failed()),
        }
    }

    // ---------------------------------------------------------------- the token endpoint

    /// RFC 6749 §3.2: the token endpoint. `issuer` is the server's base URL.
    pub async fn token(
        &self,
        auth: &ClientAuth,
        req: TokenRequest,
        issuer: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type =
            req.grant_type.as_deref().ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let kind = match grant_type {
            "client_credentials" | "authorization_code" | "refresh_token" => grant_type,
            other => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!(
                        "grant_type {other:?} is not supported; use client_credentials, authorization_code or refresh_token"
                    ),
                ));
            }
        };
        let client = self.authenticate_client(auth).await?;
        match kind {
            "client_credentials" => self.client_credentials(&client, &req, issuer).await,
            "authorization_code" => self.authorization_code(&client, &req, issuer).await,
            _ => self.refresh(&client, &req, issuer).await,
        }
    }

    fn require_grant(client: &ClientRecord, grant: GrantType) -> Result<(), OAuthError> {
        if client.grant == grant {
            Ok(())
        } else {
            Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client is registered for {}, not {grant}", client.grant),
            ))
        }
    }

    /// RFC 6749 §4.4.
    async fn client_credentials(
        &self,
        client: &ClientRecord,
        req: &TokenRequest,
        issuer: &str,
    ) -> Result<TokenResponse, OAuthError> {
        Self::require_grant(client, GrantType::ClientCredentials)?;
        // RFC 6749 §4.4.2 / §3.3: the requested scope, which must be within the client's; none
        // requested means all of the client's.
        let scopes = parse_scope(req.scope.as_deref(), client_scopes(client))?;
        let grant = self
            .store
            .create_grant(NewGrant {
                tenant: client.tenant,
                client_id: client.client_id.clone(),
                admin: None,
                scopes: scopes.names(),
            })
            .await?;
        let access = self.mint(&grant, scopes, issuer).await?;
        // RFC 6749 §4.4.3: no refresh token for client credentials.
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: self.config.access_token_ttl.whole_seconds(),
            refresh_token: None,
            scope: scopes.to_scope_string(),
        })
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5–4.6.
    async fn authorization_code(
        &self,
        client: &ClientRecord,
        req: &TokenRequest,
        issuer: &str,
    ) -> Result<TokenResponse, OAuthError> {
        Self::require_grant(client, GrantType::AuthorizationCode)?;
        let code = req.code.as_deref().ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let record = match self.store.consume_code(&scimd_store::token::digest(code)).await? {
            Consumed::Unknown => return Err(OAuthError::invalid_grant("the authorization code is invalid")),
            Consumed::Reused(record) => {
                // RFC 6749 §4.1.2: a code used twice → deny, and SHOULD revoke the tokens issued on
                // it (the first redemption may have been an attacker's or the victim's).
                tracing::warn!(grant = %record.grant.id, client = %client.client_id, "authorization code reused: revoking its grant");
                self.store.revoke_grant(record.grant.id).await?;
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used; the tokens issued with it are revoked",
                ));
            }
            Consumed::First(record) => record,
        };
        // From here every failure leaves the code used: a code that failed once is not retried.
        if record.grant.client_id != client.client_id {
            // RFC 6749 §4.1.3: the code was issued to another client — a leaked code.
            self.store.revoke_grant(record.grant.id).await?;
            return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
        }
        if self.clock.now() >= record.expires {
            return Err(OAuthError::invalid_grant("the authorization code has expired"));
        }
        if record.grant.revoked.is_some() {
            return Err(OAuthError::invalid_grant("the authorization has been revoked"));
        }
        // RFC 6749 §4.1.3: redirect_uri required if it was in the authorization request, and then
        // identical (exact string match, RFC 9700 §4.1.3).
        match (&record.redirect_uri, req.redirect_uri.as_deref()) {
            (Some(expected), Some(given)) if expected == given => {}
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "redirect_uri is required: the authorization request had one",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
            (None, None) => {}
            (None, Some(given)) => {
                if !client.redirect_uris.iter().any(|u| u == given) {
                    return Err(OAuthError::invalid_grant(
                        "redirect_uri does not match the authorization request",
                    ));
                }
            }
        }
        // RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a challenge is rejected too.
        match (&record.code_challenge, req.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => {
                if !pkce::verify(verifier, challenge) {
                    return Err(OAuthError::invalid_grant(
                        "the PKCE code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier is required: the authorization request had a code_challenge",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent, but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        let scopes = Scopes::parse_lenient(record.grant.scopes.iter().map(String::as_str));
        self.issue_pair(&record.grant, scopes, issuer).await
    }

    /// RFC 6749 §6 with rotation (RFC 9700 §4.14.2).
    async fn refresh(
        &self,
        client: &ClientRecord,
        req: &TokenRequest,
        issuer: &str,
    ) -> Result<TokenResponse, OAuthError> {
        Self::require_grant(client, GrantType::AuthorizationCode)?;
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let digest = scimd_store::token::digest(token);
        // RFC 6749 §6: the request is validated in full before the token is spent, so a refresh
        // with a bad `scope` leaves the grant and the refresh token as they were. The grant's
        // scopes never change, so reading them before the atomic consumption below is safe.
        if req.scope.is_some()
            && let Some(known) = self.store.refresh_token(&digest).await?
            && known.grant.client_id == client.client_id
        {
            let granted = Scopes::parse_lenient(known.grant.scopes.iter().map(String::as_str));
            parse_scope(req.scope.as_deref(), granted)?;
        }
        let record = match self.store.consume_refresh_token(&digest).await? {
            Consumed::Unknown => return Err(OAuthError::invalid_grant("the refresh token is invalid")),
            Consumed::Reused(record) => {
                // RFC 9700 §4.14.2: a rotated refresh token presented again means one of the two
                // parties holding it is an attacker: revoke the whole family.
                tracing::warn!(grant = %record.grant.id, client = %client.client_id, "refresh token reused: revoking its grant");
                self.store.revoke_grant(record.grant.id).await?;
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; the authorization is revoked",
                ));
            }
            Consumed::First(record) => record,
        };
        if record.grant.client_id != client.client_id {
            self.store.revoke_grant(record.grant.id).await?;
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if record.grant.revoked.is_some() {
            return Err(OAuthError::invalid_grant("the authorization has been revoked"));
        }
        if self.clock.now() >= record.expires {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        // RFC 6749 §6: a narrower scope may be asked for; the refresh token keeps the grant's.
        let granted = Scopes::parse_lenient(record.grant.scopes.iter().map(String::as_str));
        let scopes = parse_scope(req.scope.as_deref(), granted)?;
        self.issue_pair(&record.grant, scopes, issuer).await
    }

    async fn issue_pair(
        &self,
        grant: &GrantRecord,
        scopes: Scopes,
        issuer: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let access = self.mint(grant, scopes, issuer).await?;
        let refresh = Secret::generate(&*self.clock, REFRESH_TOKEN_PREFIX);
        self.store
            .create_refresh_token(NewRefreshToken {
                digest: refresh.digest(),
                grant: grant.id,
                expires: self.clock.now() + self.config.refresh_token_ttl,
            })
            .await?;
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: self.config.access_token_ttl.whole_seconds(),
            refresh_token: Some(refresh.expose().to_owned()),
            scope: scopes.to_scope_string(),
        })
    }

    /// Signs an access token (RFC 9068: header `typ: at+jwt`).
    async fn mint(&self, grant: &GrantRecord, scopes: Scopes, issuer: &str) -> Result<String, OAuthError> {
        let (kid, key) = self.keys.signing_key().await.map_err(key_error)?;
        let now = self.clock.now();
        let claims = AccessClaims {
            iss: issuer.to_owned(),
            sub: grant.admin.map_or_else(|| grant.client_id.clone(), |a| a.to_string()),
            aud: audience(issuer),
            exp: (now + self.config.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: self.clock.new_id().to_string(),
            client_id: grant.client_id.clone(),
            scope: scopes.to_scope_string(),
            tenant: grant.tenant.to_string(),
            gid: grant.id.to_string(),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an access token");
            OAuthError::new(ErrorCode::ServerError, "internal error")
        })
    }

    /// Checks a JWT's signature against our keys, its issuer and audience, and decodes its claims,
    /// ignoring expiry (the caller decides: revocation accepts expired tokens, authentication does
    /// not). `issuer` is this server's issuer identifier as the request reaches it.
    ///
    /// RFC 9068 §4: the `iss` claim must exactly match the issuer identifier, and `aud` must name
    /// this resource server — the SCIM base under that issuer (`{issuer}/scim/v2`, as [`Self::mint`]
    /// writes it). A token minted under another base URL or `Host` is not one of this server's.
    async fn decode(&self, token: &str, issuer: &str) -> Result<Option<AccessClaims>, OAuthError> {
        let Ok(header) = jsonwebtoken::decode_header(token) else { return Ok(None) };
        // RFC 9068 §4: reject JWTs of other types (an ID token is not an access token), and any
        // algorithm but ours (RFC 8725 §3.1).
        if header.alg != jsonwebtoken::Algorithm::EdDSA
            || !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Ok(None);
        }
        let Some(kid) = header.kid else { return Ok(None) };
        let Some(key) = self.keys.verifying_key(&kid).await.map_err(key_error)? else { return Ok(None) };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        // Expiry is checked against the injected clock below, not the system clock.
        validation.validate_exp = false;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience(issuer)]);
        validation.set_required_spec_claims(&["iss", "aud"]);
        Ok(jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).ok().map(|d| d.claims))
    }

    /// Authenticates a bearer access token (RFC 6750): signature, expiry by the injected clock, and
    /// the grant still standing in the database. `Ok(None)` for anything that is not a valid,
    /// live scimd access token.
    pub async fn verify_access_token(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<Option<VerifiedAccess>, OAuthError> {
        let Some(claims) = self.decode(token, issuer).await? else { return Ok(None) };
        if self.clock.now().unix_timestamp() >= claims.exp {
            return Ok(None);
        }
        let (Ok(grant_id), Ok(tenant)) = (Uuid::parse_str(&claims.gid), Uuid::parse_str(&claims.tenant))
        else {
            return Ok(None);
        };
        let Some(grant) = self.store.grant(grant_id).await? else { return Ok(None) };
        if grant.revoked.is_some() || grant.tenant != tenant || grant.client_id != claims.client_id {
            return Ok(None);
        }
        Ok(Some(VerifiedAccess {
            tenant,
            scopes: Scopes::parse_lenient(claims.scope.split_ascii_whitespace()),
            client_id: claims.client_id,
            grant: grant_id,
            jti: claims.jti,
        }))
    }

    // ---------------------------------------------------------------- revocation, introspection

    /// RFC 7009: revokes an access or refresh token issued to `client`. Revoking either revokes
    /// its grant, so the other tokens issued under it stop working too (RFC 7009 §2.1). Unknown
    /// tokens are not an error (§2.2).
    pub async fn revoke(&self, client: &ClientRecord, token: &str, issuer: &str) -> Result<(), OAuthError> {
        if let Some(claims) = self.decode(token, issuer).await? {
            if claims.client_id != client.client_id {
                return Err(OAuthError::invalid_request("the token was not issued to this client"));
            }
            if let Ok(gid) = Uuid::parse_str(&claims.gid) {
                self.store.revoke_grant(gid).await?;
            }
            return Ok(());
        }
        if let Some(record) = self.store.refresh_token(&scimd_store::token::digest(token)).await? {
            if record.grant.client_id != client.client_id {
                return Err(OAuthError::invalid_request("the token was not issued to this client"));
            }
            self.store.revoke_grant(record.grant.id).await?;
        }
        Ok(())
    }

    /// RFC 7662: what a token is. Tokens of other tenants than the asking client's are reported
    /// inactive, so introspection cannot cross tenants.
    pub async fn introspect(
        &self,
        client: &ClientRecord,
        token: &str,
        issuer: &str,
    ) -> Result<Value, OAuthError> {
        let inactive = json!({"active": false});
        if let Some(claims) = self.decode(token, issuer).await? {
            let Some(live) = self.verify_access_token(token, issuer).await? else { return Ok(inactive) };
            if live.tenant != client.tenant {
                return Ok(inactive);
            }
            return Ok(json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            }));
        }
        if let Some(record) = self.store.refresh_token(&scimd_store::token::digest(token)).await? {
            let live = record.grant.revoked.is_none() && self.clock.now() < record.expires;
            if !live || record.grant.tenant != client.tenant {
                return Ok(inactive);
            }
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": record.grant.scopes.join(" "),
                "client_id": record.grant.client_id,
                "exp": record.expires.unix_timestamp(),
            }));
        }
        Ok(inactive)
    }

    // ---------------------------------------------------------------- the authorization endpoint

    /// RFC 6749 §4.1.1 / §4.1.2.1: checks an authorization request. The client and redirect URI
    /// are checked first; until both are trusted nothing is redirected.
    pub async fn check_authorize(
        &self,
        params: &AuthorizeParams,
        issuer: &str,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let client_id = params.client_id.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
            AuthorizeError::Show("The request names no client (client_id is missing).".into())
        })?;
        let client = match self.store.client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(AuthorizeError::Show("The request names a client that does not exist.".into()));
            }
            Err(e) => {
                return Err(AuthorizeError::Show(format!(
                    "The server cannot check the request right now ({}).",
                    OAuthError::from(e).description
                )));
            }
        };
        // RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: exact match against a registered URI; optional
        // only when exactly one is registered.
        let (redirect_uri, given) = match params.redirect_uri.as_deref() {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => (uri.to_owned(), true),
            Some(_) => {
                return Err(AuthorizeError::Show(
                    "The redirect URI is not one registered for this client.".into(),
                ));
            }
            None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
            None => {
                return Err(AuthorizeError::Show(
                    "The request has no redirect_uri and the client has several registered.".into(),
                ));
            }
        };
        let redirect = |code: ErrorCode, description: &str| {
            let mut q = vec![("error", code.as_str()), ("error_description", description), ("iss", issuer)];
            if let Some(state) = params.state.as_deref() {
                q.push(("state", state));
            }
            AuthorizeError::Redirect(with_query(&redirect_uri, &q))
        };
        if params.response_type.as_deref() != Some("code") {
            return Err(redirect(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"));
        }
        if client.grant != GrantType::AuthorizationCode {
            return Err(redirect(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for authorization_code",
            ));
        }
        let scopes = parse_scope(params.scope.as_deref(), client_scopes(&client))
            .map_err(|e| redirect(e.code, &e.description))?;
        let challenge = match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
            (None, Some(_)) => {
                return Err(redirect(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method without code_challenge",
                ));
            }
            (None, None) if client.secret_digest.is_none() => {
                // RFC 9700 §2.1.1: public clients MUST use PKCE.
                return Err(redirect(
                    ErrorCode::InvalidRequest,
                    "PKCE is required for this client: send code_challenge with S256",
                ));
            }
            (None, None) => None,
            // RFC 7636 §4.3: the method defaults to plain, which scimd does not support.
            (Some(_), None | Some("plain")) => {
                return Err(redirect(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
            (Some(_), Some(m)) if m != "S256" => {
                return Err(redirect(ErrorCode::InvalidRequest, "code_challenge_method must be S256"));
            }
            (Some(c), Some(_)) if !pkce::valid_challenge(c) => {
                return Err(redirect(
                    ErrorCode::InvalidRequest,
                    "code_challenge is not a base64url SHA-256 value",
                ));
            }
            (Some(c), Some(_)) => Some(c.to_owned()),
        };
        Ok(AuthorizeRequest {
            client,
            redirect_uri,
            redirect_uri_given: given,
            scopes,
            state: params.state.clone(),
            code_challenge: challenge,
        })
    }

    /// The admin approved: records the grant, stores a code bound to it, and returns the redirect
    /// with `code`, `state` and `iss` (RFC 9207).
    pub async fn approve(
        &self,
        req: &AuthorizeRequest,
        admin: &AdminRecord,
        issuer: &str,
    ) -> Result<String, OAuthError> {
        if admin.tenant != req.client.tenant {
            return Err(OAuthError::new(ErrorCode::AccessDenied, "the admin belongs to another tenant"));
        }
        let grant = self
            .store
            .create_grant(NewGrant {
                tenant: req.client.tenant,
                client_id: req.client.client_id.clone(),
                admin: Some(admin.id),
                scopes: req.scopes.names(),
            })
            .await?;
        let code = Secret::generate(&*self.clock, "");
        self.store
            .create_code(NewCode {
                digest: code.digest(),
                grant: grant.id,
                redirect_uri: req.redirect_uri_given.then(|| req.redirect_uri.clone()),
                code_challenge: req.code_challenge.clone(),
                expires: self.clock.now() + self.config.code_ttl,
            })
            .await?;
        let mut q = vec![("code", code.expose()), ("iss", issuer)];
        if let Some(state) = req.state.as_deref() {
            q.push(("state", state));
        }
        Ok(with_query(&req.redirect_uri, &q))
    }

    /// The admin denied: the redirect with `error=access_denied` (RFC 6749 §4.1.2.1).
    #[must_use]
    pub fn deny(&self, req: &AuthorizeRequest, issuer: &str) -> String {
        let mut q = vec![
            ("error", "access_denied"),
            ("error_description", "the administrator denied the request"),
            ("iss", issuer),
        ];
        if let Some(state) = req.state.as_deref() {
            q.push(("state", state));
        }
        with_query(&req.redirect_uri, &q)
    }

    // ---------------------------------------------------------------- sign-in and sessions

    /// Checks an admin's email and password, throttled (OWASP Authentication Cheat Sheet, "Login
    /// Throttling" and "Account Lockout"): an attempt is reserved on every throttle *before* the
    /// password is checked — per client address in this process, per account and per (account,
    /// address) in the database, shared by replicas — so concurrent guesses never get more than
    /// the limits. The per-account throttle slows (growing delays) rather than locks, and a hard
    /// limit applies only per (account, address): an attacker who knows an admin's email can
    /// exhaust their own addresses, not the admin's. Throttles are keyed by a digest of the email
    /// whether or not such an admin exists, and an unknown email is checked against a dummy hash,
    /// so known and unknown emails get the same answers in the same time (RFC 9700 §4.16 / OWASP:
    /// one message for unknown account and wrong password).
    pub async fn login(
        &self,
        tenant: Uuid,
        email: &str,
        password: String,
        addr: Option<IpAddr>,
    ) -> Result<AdminRecord, LoginError> {
        let now = self.clock.now();
        let addr = addr.map(address_bucket);
        if let Some(ip) = addr {
            self.reserve_address(ip, now)?;
        }
        let account = throttle_key(tenant, email, None);
        let pair = throttle_key(tenant, email, addr);
        let window = self.config.login_lockout;
        let throttles = [
            (
                account,
                ThrottleRule {
                    free: self.config.max_failed_logins_per_account,
                    window,
                    base_delay: self.config.login_delay,
                    max_delay: window,
                },
            ),
            (
                pair,
                ThrottleRule {
                    free: self.config.max_failed_logins_per_account_and_address,
                    window,
                    base_delay: window,
                    max_delay: window,
                },
            ),
        ];
        let refund = || {
            if let Some(ip) = addr {
                self.refund_address(ip);
            }
        };
        let unavailable = |e: StoreError| LoginError::Unavailable(e.to_string());
        match self.store.reserve_login_attempt(&throttles, now).await {
            Ok(None) => {}
            Ok(Some(until)) => {
                refund();
                return Err(LoginError::Throttled(until - now));
            }
            Err(e) => {
                refund();
                return Err(unavailable(e));
            }
        }
        let admin = self.store.admin_by_email(tenant, email).await.map_err(unavailable)?;
        let ok = match password::verify(password, admin.as_ref().map(|a| a.password_hash.clone())).await {
            Ok(ok) => ok,
            Err(password::PasswordError::Busy) => {
                refund();
                return Err(LoginError::Busy);
            }
            Err(e) => return Err(LoginError::Unavailable(e.to_string())),
        };
        match admin {
            Some(a) if ok => {
                refund();
                self.store.clear_login_throttles(&[account, pair]).await.map_err(unavailable)?;
                Ok(a)
            }
            _ => Err(LoginError::Invalid),
        }
    }

    /// Reserves an attempt for the address: the check and the increment are one step under the
    /// lock, so concurrent attempts from one address cannot overtake the limit.
    fn reserve_address(&self, ip: IpAddr, now: OffsetDateTime) -> Result<(), LoginError> {
        let window = self.config.login_lockout;
        let Ok(mut map) = self.failures_by_address.lock() else {
            return Err(LoginError::Unavailable("the address throttle's lock is poisoned".into()));
        };
        // Bound the map: forget addresses whose window has passed.
        if map.len() >= 10_000 {
            map.retain(|_, (_, since)| now - *since < window);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now - entry.1 >= window {
            *entry = (0, now);
        }
        if entry.0 >= self.config.max_failed_logins_per_address {
            return Err(LoginError::Throttled(window - (now - entry.1)));
        }
        entry.0 += 1;
        Ok(())
    }

    /// Gives back an address's reserved attempt: it was not a failed sign-in (it succeeded, or
    /// was refused before any check).
    fn refund_address(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures_by_address.lock()
            && let Some(entry) = map.get_mut(&ip)
        {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    /// Starts a browser session: returns the cookie value (shown once, stored as a digest) and the
    /// record with its CSRF token.
    pub async fn start_session(&self) -> Result<(Secret, SessionRecord), OAuthError> {
        let cookie = Secret::generate(&*self.clock, "");
        let csrf = Secret::generate(&*self.clock, "");
        let record = self
            .store
            .create_session(
                cookie.digest(),
                csrf.expose().to_owned(),
                self.clock.now() + self.config.session_ttl,
            )
            .await?;
        Ok((cookie, record))
    }

    /// The live session behind a cookie value.
    pub async fn session(&self, cookie: &str) -> Result<Option<SessionRecord>, OAuthError> {
        let Some(s) = self.store.session(&scimd_store::token::digest(cookie)).await? else { return Ok(None) };
        Ok((self.clock.now() < s.expires).then_some(s))
    }

    /// Binds the session to the admin with a new cookie value and CSRF token (against session
    /// fixation); returns the new cookie and CSRF token.
    pub async fn sign_in(
        &self,
        session: &SessionRecord,
        admin: &AdminRecord,
    ) -> Result<(Secret, String), OAuthError> {
        let cookie = Secret::generate(&*self.clock, "");
        let csrf = Secret::generate(&*self.clock, "");
        self.store.sign_in_session(session.id, admin.id, cookie.digest(), csrf.expose().to_owned()).await?;
        Ok((cookie, csrf.expose().to_owned()))
    }

    /// The admin a session is signed in as.
    pub async fn session_admin(&self, session: &SessionRecord) -> Result<Option<AdminRecord>, OAuthError> {
        match session.admin {
            Some(id) => Ok(self.store.admin(id).await?),
            None => Ok(None),
        }
    }

    /// Gives an admin a new password, ending every session they have (whoever knew the old one
    /// is signed out). The same rule as at creation.
    pub async fn reset_admin_password(&self, admin: &AdminRecord, password: String) -> Result<(), String> {
        check_password(&password)?;
        let hash = password::hash(password, &self.clock).await.map_err(|e| e.to_string())?;
        self.store.set_admin_password(admin.id, &hash).await.map_err(|e| e.to_string())
    }

    /// Opens a session already signed in as `admin`, working until `expires` unless moved forward
    /// (the console: it keeps no session before the sign-in, so there is none an attacker could
    /// have planted to fix; the cookie is new here). Returns the cookie value, shown only in the
    /// `Set-Cookie` of this response, and the record with its CSRF token.
    pub async fn open_session(
        &self,
        admin: &AdminRecord,
        expires: OffsetDateTime,
    ) -> Result<(Secret, SessionRecord), OAuthError> {
        let cookie = Secret::generate(&*self.clock, "");
        let csrf = Secret::generate(&*self.clock, "");
        let mut record =
            self.store.create_session(cookie.digest(), csrf.expose().to_owned(), expires).await?;
        self.store.sign_in_session(record.id, admin.id, cookie.digest(), record.csrf.clone()).await?;
        record.admin = Some(admin.id);
        Ok((cookie, record))
    }

    /// Ends a session.
    pub async fn end_session(&self, session: &SessionRecord) -> Result<(), OAuthError> {
        Ok(self.store.delete_session(session.id).await?)
    }

    // ---------------------------------------------------------------- metadata

    /// RFC 8414 §2: the authorization server metadata for `issuer`.
    #[must_use]
    pub fn metadata(&self, issuer: &str) -> Value {
        let scopes: Vec<&str> = crate::scope::Scope::ALL.iter().map(|s| s.as_str()).collect();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "jwks_uri": format!("{issuer}/oauth2/jwks"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(
            valid_redirect_uri("https://system-admin.okta.com/admin/app/cpc/scimd/oauth/callback").is_ok()
        );
        assert!(valid_redirect_uri("http://127.0.0.1:9999/cb").is_ok());
        assert!(valid_redirect_uri("http://localhost/cb").is_ok());
        assert!(valid_redirect_uri("http://example.com/cb").is_err());
        assert!(valid_redirect_uri("https://example.com/cb#frag").is_err());
        assert!(valid_redirect_uri("/relative").is_err());
        assert!(valid_redirect_uri("javascript:alert(1)").is_err());
        assert!(valid_redirect_uri("https://user:pass@a.example/cb").is_err(), "userinfo");
        assert!(valid_redirect_uri("https://user@a.example/cb").is_err(), "userinfo");
        assert!(valid_redirect_uri("http://0x7f000001/cb").is_err(), "non-canonical numeric host");
        assert!(valid_redirect_uri("http://127.1/cb").is_err(), "non-canonical numeric host");
        assert!(valid_redirect_uri("http://[::1]:8080/cb").is_ok());
        assert!(valid_redirect_uri("https://A.Example:8443/cb?x=1").is_ok());
        assert!(valid_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn free_text_fields_are_bounded() {
        assert!(valid_text("name", "Okta", MAX_NAME_CHARS).is_ok());
        assert!(valid_text("name", &"x".repeat(100_000), MAX_NAME_CHARS).is_err());
        assert!(valid_text("name", "a\u{0}b", MAX_NAME_CHARS).is_err());
        assert!(valid_text("name", "   ", MAX_NAME_CHARS).is_err());
    }

    #[test]
    fn redirect_keeps_the_existing_query_and_encodes() {
        let u = with_query("https://idp.example/cb?x=1", &[("code", "a b"), ("state", "s&t")]);
        assert_eq!(u, "https://idp.example/cb?x=1&code=a+b&state=s%26t");
    }

    #[test]
    fn authorize_params_round_trip_by_name() {
        let mut p = AuthorizeParams::default();
        for name in AuthorizeParams::NAMES {
            *p.slot(name).unwrap() = Some(format!("v-{name}"));
        }
        assert!(p.slot("nonce").is_none());
        let pairs: Vec<(&str, String)> = p.pairs().map(|(n, v)| (n, v.to_owned())).collect();
        assert_eq!(pairs.len(), 7);
        assert!(pairs.iter().all(|(n, v)| *v == format!("v-{n}")));
        assert_eq!(p.state.as_deref(), Some("v-state"));
        p.scope = None;
        assert!(p.pairs().all(|(n, _)| n != "scope"), "absent parameters are not written");
    }

    #[test]
    fn scope_requests() {
        let client = Scopes::parse(["users:read", "users:create"]).unwrap();
        assert_eq!(parse_scope(None, client).unwrap(), client);
        assert_eq!(parse_scope(Some("  "), client).unwrap(), client);
        assert_eq!(parse_scope(Some("users:read"), client).unwrap().names(), ["users:read"]);
        assert_eq!(parse_scope(Some("users:delete"), client).unwrap_err().code, ErrorCode::InvalidScope);
        assert_eq!(parse_scope(Some("nope"), client).unwrap_err().code, ErrorCode::InvalidScope);
        assert_eq!(parse_scope(Some("scim"), client).unwrap_err().code, ErrorCode::InvalidScope);
    }
}
