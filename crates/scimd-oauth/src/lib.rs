//! scimd's OAuth 2.0 authorization server as a library (no HTTP): the grants identity providers
//! use to connect — client credentials (RFC 6749 §4.4, Microsoft Entra ID) and authorization code
//! with PKCE (RFC 6749 §4.1, RFC 7636, Okta) with rotating refresh tokens (RFC 9700 §4.14) — plus
//! JWT access tokens (RFC 9068) signed with keys kept in the database, revocation (RFC 7009),
//! introspection (RFC 7662), metadata (RFC 8414), admin sign-in, and the scopes every credential
//! carries.
//!
//! The HTTP routes in scimd-http parse requests into the types here and render what comes back;
//! every rule lives in this crate.
#![warn(missing_docs)]

pub mod error;
pub mod keys;
pub mod password;
pub mod pkce;
pub mod scope;
pub mod secret;
pub mod server;

pub use error::{ErrorCode, OAuthError};
pub use scope::{Scope, Scopes, UnknownScope};
pub use server::{
    AuthorizationServer, AuthorizeError, AuthorizeParams, AuthorizeRequest, ClientAuth, ClientRegistration,
    LoginError, OAuthConfig, RegisterError, TokenRequest, TokenResponse, VerifiedAccess,
};
