//! Console sessions and the forms' CSRF protection (docs/console.md, "Sessions").
//!
//! - Before sign-in there is no session and nothing is stored: the sign-in form is protected by a
//!   double-submit token (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit Cookie" without
//!   the signature, since the cookie is HttpOnly, SameSite=Strict and scoped to `/console`), so an
//!   unauthenticated visitor costs the server no row.
//! - A successful sign-in opens a new session with a new cookie value and CSRF token (against
//!   fixation); the cookie is HttpOnly, SameSite=Lax, `Path=/console`, Secure when scimd is reached
//!   over https, and only its SHA-256 is stored.
//! - A session ends after [`ConsoleConfig::idle_timeout`] without a request and after
//!   [`ConsoleConfig::absolute_timeout`] whatever the activity (OWASP Session Management Cheat
//!   Sheet, "Session Expiration"). Each page moves the idle deadline, writing at most once a minute.
//! - Every POST carries the session's CSRF token, compared in constant time.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;

use scimd_http::AppState;
use scimd_store::Tenant;
use scimd_store::oauth::{AdminRecord, SessionRecord};

use crate::ConsoleConfig;
use crate::error::ConsoleError;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "scimd_console";
/// The sign-in form's double-submit token.
pub(crate) const LOGIN_COOKIE: &str = "scimd_console_login";
/// The idle deadline is moved forward only when it would gain more than this: a page view does
/// not write a row every time.
const TOUCH_GRANULARITY: time::Duration = time::Duration::minutes(1);

pub(crate) use scimd_http::oauth::cookie;

/// Whether cookies must be `Secure`: scimd is reached over https (its base URL says so).
pub(crate) fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    scimd_http::oauth::issuer(&state.config, headers).starts_with("https://")
}

/// Appends a `Set-Cookie` for `/console`; `max_age` 0 deletes it.
pub(crate) fn set_cookie(
    resp: &mut Response,
    name: &str,
    value: &str,
    same_site: &str,
    secure: bool,
    max_age: i64,
) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Path=/console; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Sends the browser to the sign-in page (303, so a POST becomes a GET), clearing the session
/// cookie; `expired` shows why.
pub(crate) fn to_sign_in(expired: bool) -> Response {
    let mut resp =
        Redirect::to(if expired { "/console/login?expired=1" } else { "/console/login" }).into_response();
    set_cookie(&mut resp, SESSION_COOKIE, "", "Lax", false, 0);
    resp
}

/// The signed-in admin of a console request, with the tenant they administer. Extracting it
/// sends anyone else to the sign-in page.
pub(crate) struct SignedIn {
    pub(crate) admin: AdminRecord,
    pub(crate) tenant: Tenant,
    pub(crate) session: SessionRecord,
}

impl SignedIn {
    /// Refuses a form that does not carry this session's CSRF token (403, nothing done).
    pub(crate) fn check_csrf(&self, form: &Form) -> Result<(), ConsoleError> {
        let sent = form.get("csrf").unwrap_or("");
        if bool::from(sent.as_bytes().ct_eq(self.session.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(
                "The form was out of date or did not come from this console; nothing was changed. Reload the page and try again."
                    .into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let config = parts.extensions.get::<Arc<ConsoleConfig>>().cloned().unwrap_or_default();
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_sign_in(false)) };
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "console session check failed");
            ConsoleError::Unavailable.into_response()
        };
        let session = match state.oauth.session(value).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_sign_in(true)),
            Err(e) => return Err(unavailable(&e)),
        };
        let now = state.clock.now();
        let end = session.created + config.absolute_timeout;
        if now >= end {
            let _ = state.oauth.end_session(&session).await;
            return Err(to_sign_in(true));
        }
        let admin = match state.oauth.session_admin(&session).await {
            Ok(Some(a)) => a,
            // A session of the authorization page before its sign-in, or an admin since removed.
            Ok(None) => return Err(to_sign_in(false)),
            Err(e) => return Err(unavailable(&e)),
        };
        // An operator acts in the tenant they chose (the Tenants page), while it exists; everyone
        // else, and an operator who chose none, in their own.
        let acting = session.tenant.filter(|_| admin.operator).unwrap_or(admin.tenant);
        let tenant = match state.store.tenant_by_id(acting).await {
            Ok(Some(t)) => Ok(Some(t)),
            Ok(None) if acting != admin.tenant => state.store.tenant_by_id(admin.tenant).await,
            other => other,
        };
        let tenant = match tenant {
            Ok(Some(t)) => t,
            Ok(None) => return Err(to_sign_in(false)),
            Err(e) => return Err(unavailable(&e)),
        };
        let deadline = (now + config.idle_timeout).min(end);
        if deadline - session.expires > TOUCH_GRANULARITY {
            match state.store.touch_session(session.id, deadline).await {
                Ok(()) => {}
                // Ended meanwhile (signed out in another tab, or expired this instant).
                Err(scimd_store::StoreError::NotFound) => return Err(to_sign_in(true)),
                Err(e) => return Err(unavailable(&e)),
            }
        }
        Ok(SignedIn { admin, tenant, session })
    }
}

/// An `application/x-www-form-urlencoded` body: every pair in order (checkboxes repeat a name).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Form(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `name`, if it is not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; scimd_console=abc; b=2"));
        h.append(header::COOKIE, HeaderValue::from_static("scimd_console_login=xyz"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn an_empty_cookie_is_no_cookie() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("scimd_console="));
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
    }

    #[test]
    fn forms_keep_repeated_fields_in_order() {
        let f = Form::parse(b"scope=users%3Aread&name=a+b&scope=groups%3Aread&empty=");
        assert_eq!(f.get("name"), Some("a b"));
        assert_eq!(f.all("scope").collect::<Vec<_>>(), ["users:read", "groups:read"]);
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.get("absent"), None);
    }
}
