//! The OAuth error: an RFC 6749 §5.2 / §4.1.2.1 error code with a description for people. The HTTP
//! layer renders it (status, JSON body or redirect) in one place.

use std::fmt;

use scimd_store::StoreError;

/// RFC 6749 §5.2 and §4.1.2.1 error codes, plus RFC 7009 §2.2.1's `unsupported_token_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A parameter is missing, repeated, malformed or unsupported.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret, no or several methods).
    InvalidClient,
    /// The code, refresh token or credentials are invalid, expired, revoked, reused, or were
    /// issued to another client or redirect URI.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The server does not support this grant type.
    UnsupportedGrantType,
    /// The scope is unknown or exceeds what the client may have.
    InvalidScope,
    /// The admin denied the request (authorization endpoint).
    AccessDenied,
    /// The authorization endpoint supports only `response_type=code`.
    UnsupportedResponseType,
    /// RFC 7009 §2.2.1: revocation of this token type is not supported.
    UnsupportedTokenType,
    /// An unexpected failure (500).
    ServerError,
    /// The database is unavailable (503).
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status of a token-endpoint error response (RFC 6749 §5.2: 400, except 401 for
    /// `invalid_client`).
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth error with its description (RFC 6749 §5.2 `error_description`: ASCII, for the
/// developer, never internal details).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct OAuthError {
    /// The error code.
    pub code: ErrorCode,
    /// What went wrong, for the developer reading it.
    pub description: String,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl OAuthError {
    /// An error with this code and description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self { code, description: description.into() }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }
}

impl From<StoreError> for OAuthError {
    /// Store failures become `temporarily_unavailable` (retryable) or `server_error`; their text is
    /// logged, never sent.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable during an OAuth request");
                Self::new(ErrorCode::TemporarilyUnavailable, "the database is unavailable; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "store error during an OAuth request");
                Self::new(ErrorCode::ServerError, "internal error")
            }
        }
    }
}
