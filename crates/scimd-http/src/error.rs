//! The one table from every error the HTTP layer can meet to its response: status, `scimType`, a `detail` for the client, and whether it is a bug to log.
//!
//! Everything renders as the RFC 7644 §3.12 error body with `Content-Type: application/scim+json`.
//! Internal errors never show their text: the client gets a generic detail with the request id,
//! and the log line (inside the request's span) has the cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use scimd_schema::{ScimError, ScimType};
use scimd_store::StoreError;

use crate::auth::{AuthError, REALM};
use crate::request_id;

/// The SCIM media type (RFC 7644 §3.1, §8.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// An error on the way to a response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol error, shown as it is.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// A storage error, mapped by this module's table (404, 409, 412, 503, 500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Missing, invalid or insufficient credentials.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A bug or an unexpected state: logged, shown only as "internal error" with the request id.
    #[error("internal error: {0}")]
    Internal(String),
    /// The credential is over its tenant's rate limit; retry after this many seconds.
    #[error("too many requests: retry after {0} s")]
    RateLimited(u64),
}

/// What an error renders as.
struct Parts {
    status: StatusCode,
    scim_type: Option<ScimType>,
    detail: String,
    /// RFC 6750 §3: the `WWW-Authenticate` challenge of a 401 or 403.
    challenge: Option<String>,
    /// Log at error level: the client did nothing wrong.
    server_fault: bool,
}

impl ApiError {
    /// The table.
    fn parts(&self) -> Parts {
        let rid = request_id::current().map_or_else(String::new, |id| format!(" (request id {id})"));
        let client = |status: StatusCode, scim_type: Option<ScimType>, detail: String| Parts {
            status,
            scim_type,
            detail,
            challenge: None,
            server_fault: false,
        };
        match self {
            ApiError::Scim(e) => {
                let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                // RFC 9110 §15.6.2: 501 says an optional feature (RFC 7644 §3.7 Bulk, §3.11 /Me)
                // is absent; nothing failed, so it is answered as a client error is.
                if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
                    Parts {
                        status,
                        scim_type: e.scim_type,
                        detail: format!("{}{rid}", e.detail),
                        challenge: None,
                        server_fault: true,
                    }
                } else {
                    client(status, e.scim_type, e.detail.clone())
                }
            }
            ApiError::Store(e) => match e {
                StoreError::NotFound => client(StatusCode::NOT_FOUND, None, "resource not found".into()),
                // RFC 7644 §3.12: 409 uniqueness.
                StoreError::Conflict(attr) => client(
                    StatusCode::CONFLICT,
                    Some(ScimType::Uniqueness),
                    format!("{attr} is already in use"),
                ),
                // RFC 7644 §3.14: If-Match that does not match → 412 Precondition Failed.
                StoreError::VersionMismatch => client(
                    StatusCode::PRECONDITION_FAILED,
                    None,
                    "the resource has changed: If-Match does not name its current version".into(),
                ),
                StoreError::Scim(e) => ApiError::Scim(e.clone()).parts(),
                // RFC 9110 §15.5.11 410 Gone: the events after the reader's cursor were pruned by
                // retention and will not come back; it must start over (docs/events.md).
                StoreError::EventsPruned(oldest) => client(
                    StatusCode::GONE,
                    None,
                    format!(
                        "events after this cursor were pruned by retention; the oldest event held is seq {oldest}: \
                         read head, re-list through SCIM, then continue after head"
                    ),
                ),
                StoreError::Unavailable(_) => Parts {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    scim_type: None,
                    detail: format!("the database is unavailable; retry later{rid}"),
                    challenge: None,
                    server_fault: true,
                },
                StoreError::Internal(_) => internal(&rid),
            },
            ApiError::Auth(e) => {
                let (status, challenge) = match e {
                    // RFC 6750 §3.1: no credential → no error code in the challenge.
                    AuthError::Missing => (StatusCode::UNAUTHORIZED, format!("Bearer realm=\"{REALM}\"")),
                    // RFC 7617 §2: a failed Basic authentication is challenged with Basic.
                    AuthError::InvalidBasic => {
                        (StatusCode::UNAUTHORIZED, format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""))
                    }
                    AuthError::Invalid => (
                        StatusCode::UNAUTHORIZED,
                        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
                    ),
                    // RFC 6750 §3.1: insufficient_scope → 403, naming the scope needed.
                    AuthError::MissingScope(scope) => (
                        StatusCode::FORBIDDEN,
                        format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""),
                    ),
                    AuthError::WrongTenant(_) => (
                        StatusCode::FORBIDDEN,
                        format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\""),
                    ),
                };
                Parts {
                    status,
                    scim_type: None,
                    detail: e.to_string(),
                    challenge: Some(challenge),
                    server_fault: false,
                }
            }
            ApiError::Internal(_) => internal(&rid),
            // RFC 6585 §4: 429 with Retry-After; Entra backs off and retries.
            ApiError::RateLimited(secs) => client(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                format!("too many requests: retry after {secs} s"),
            ),
        }
    }
}

fn internal(rid: &str) -> Parts {
    Parts {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        scim_type: None,
        detail: format!("internal error{rid}"),
        challenge: None,
        server_fault: true,
    }
}

impl ApiError {
    /// What the table tells a client, as a SCIM error (status, `scimType`, detail), logged as a
    /// response would be: for surfaces that show errors their own way (the console's pages), so
    /// that a storage fault reads the same and stays as hidden there as in a SCIM response.
    #[must_use]
    pub fn to_scim(&self) -> ScimError {
        let parts = self.logged_parts();
        ScimError { status: parts.status.as_u16(), scim_type: parts.scim_type, detail: parts.detail }
    }

    fn logged_parts(&self) -> Parts {
        let parts = self.parts();
        if parts.server_fault {
            // Inside the request's span: the log line carries the request id.
            tracing::error!(status = parts.status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = parts.status.as_u16(), error = %self, "request refused");
        }
        parts
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = self.logged_parts();
        let body =
            ScimError { status: parts.status.as_u16(), scim_type: parts.scim_type, detail: parts.detail };
        let mut resp = scim_error_response(&body);
        if let Some(challenge) = parts.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        if parts.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::RateLimited(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// RFC 7644 §3.12: the error as a response, `status` as a string in the body.
pub(crate) fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))], e.to_json().to_string())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn render(e: ApiError) -> (u16, Option<ScimType>, String, Option<String>) {
        let p = e.parts();
        (p.status.as_u16(), p.scim_type, p.detail, p.challenge)
    }

    #[test]
    fn store_errors() {
        assert_eq!(render(StoreError::NotFound.into()).0, 404);
        let (s, t, d, _) = render(StoreError::Conflict("userName".into()).into());
        assert_eq!((s, t), (409, Some(ScimType::Uniqueness)));
        assert!(d.contains("userName"));
        assert_eq!(render(StoreError::VersionMismatch.into()).0, 412);
        assert_eq!(render(StoreError::Unavailable("disk on fire".into()).into()).0, 503);
        let (s, _, d, _) = render(StoreError::Internal("SELECT secret FROM x".into()).into());
        assert_eq!(s, 500);
        assert!(!d.contains("secret"), "internal text never reaches the client: {d}");
        let (s, t, _, _) = render(StoreError::Scim(ScimError::invalid_filter("bad")).into());
        assert_eq!((s, t), (400, Some(ScimType::InvalidFilter)));
    }

    #[test]
    fn auth_errors_carry_challenges() {
        let (s, _, _, c) = render(AuthError::Missing.into());
        assert_eq!((s, c.as_deref()), (401, Some("Bearer realm=\"scimd\"")));
        let (s, _, _, c) = render(AuthError::Invalid.into());
        assert_eq!(s, 401);
        assert!(c.unwrap().contains("invalid_token"));
        let (s, _, d, c) = render(AuthError::MissingScope(Scope::UsersRead).into());
        assert_eq!(s, 403);
        assert!(d.contains("users:read"));
        assert!(c.unwrap().contains("scope=\"users:read\""));
    }

    #[test]
    fn scim_errors_pass_through() {
        let (s, t, d, _) = render(ScimError::mutability("id is readOnly").into());
        assert_eq!((s, t, d.as_str()), (400, Some(ScimType::Mutability), "id is readOnly"));
    }
}
