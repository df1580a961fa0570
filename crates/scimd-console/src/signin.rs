//! Signing in and out (docs/console.md, "Sessions"). The password check is the authorization
//! page's: the same accounts, the same throttles (per address in the process, per account and per
//! account and address in the database), the same Argon2 bound.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use scimd_http::AppState;
use scimd_oauth::LoginError;
use scimd_oauth::secret::Secret;

use crate::ConsoleConfig;
use crate::error::ConsoleError;
use crate::session::{self, Form, LOGIN_COOKIE, SESSION_COOKIE, SignedIn};
use crate::view::{self, Layout};

/// The sign-in form's token lives an hour: long enough to type a password.
const LOGIN_TOKEN_SECONDS: i64 = 3600;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    l: Layout,
    csrf: &'a str,
    tenant: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

/// The double-submit token of the sign-in form: the browser's, when it has a plausible one, so
/// several open sign-in tabs keep working; otherwise a new one. Only its shape is checked here;
/// the POST compares it with the form's copy.
fn login_token(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match session::cookie(headers, LOGIN_COOKIE) {
        Some(v)
            if (32..=128).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            (v.to_owned(), false)
        }
        _ => (Secret::generate(&*state.clock, "").expose().to_owned(), true),
    }
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    tenant: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (token, fresh) = login_token(state, headers);
    let mut resp =
        view::render(status, &LoginPage { l: Layout::public("Sign in"), csrf: &token, tenant, email, error });
    if fresh {
        // Strict: the sign-in form is only ever posted from itself.
        session::set_cookie(
            &mut resp,
            LOGIN_COOKIE,
            &token,
            "Strict",
            session::secure(state, headers),
            LOGIN_TOKEN_SECONDS,
        );
    }
    resp
}

/// `GET /console/login`.
pub(crate) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let error = get("expired").map(|_| "Your session ended. Sign in again.");
    login_page(&state, &headers, StatusCode::OK, get("tenant").unwrap_or(""), "", error)
}

/// `POST /console/login`: checks the form's token, then the password; a new session on success.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ConsoleConfig>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let tenant_slug = form.get("tenant").unwrap_or("").trim().to_owned();
    let email = form.get("email").unwrap_or("").to_owned();
    // OWASP CSRF Prevention Cheat Sheet, "Login CSRF": the sign-in form is protected too, or a
    // site could sign a victim in to the attacker's tenant.
    let sent = form.get("csrf").unwrap_or("");
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        return login_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &tenant_slug,
            &email,
            Some("The sign-in form was out of date. Please try again."),
        );
    }
    // An unknown tenant is checked like an unknown email of a real one: the same throttles, a
    // dummy password hash, one message, so tenants cannot be discovered by guessing.
    let tenant = match state.store.tenant_by_slug(&tenant_slug).await {
        Ok(t) => t,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let tenant_id = tenant.as_ref().map_or(Uuid::nil(), |t| t.id);
    let password = form.get("password").unwrap_or("").to_owned();
    let addr = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let refused = match state.oauth.login(tenant_id, &email, password, addr).await {
        Ok(admin) => {
            let now = state.clock.now();
            let expires = now + config.idle_timeout.min(config.absolute_timeout);
            let (cookie, _) = match state.oauth.open_session(&admin, expires).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "could not open a console session");
                    return ConsoleError::Unavailable.into_response();
                }
            };
            tracing::info!(admin = %admin.id, tenant = %admin.tenant, "admin signed in to the console");
            let secure = session::secure(&state, &headers);
            let mut resp = Redirect::to("/console/").into_response();
            session::set_cookie(
                &mut resp,
                SESSION_COOKIE,
                cookie.expose(),
                "Lax",
                secure,
                config.absolute_timeout.whole_seconds(),
            );
            session::set_cookie(&mut resp, LOGIN_COOKIE, "", "Strict", secure, 0);
            return resp;
        }
        Err(LoginError::Unavailable(e)) => {
            tracing::error!(error = %e, "console sign-in check failed");
            return ConsoleError::Unavailable.into_response();
        }
        Err(refused) => refused,
    };
    let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    // The tenant is one of the three things that can be wrong, and the message says so.
    let message = if matches!(refused, LoginError::Invalid) {
        "Wrong tenant, email or password.".to_owned()
    } else {
        refused.message()
    };
    let mut resp = login_page(&state, &headers, status, &tenant_slug, &email, Some(&message));
    if let Some(secs) = refused.retry_after() {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `POST /console/logout`: ends the session on the server, not only the cookie.
pub(crate) async fn logout(State(state): State<AppState>, who: SignedIn, body: Bytes) -> Response {
    if let Err(e) = who.check_csrf(&Form::parse(&body)) {
        return e.into_response();
    }
    if let Err(e) = state.oauth.end_session(&who.session).await {
        tracing::warn!(error = %e, "could not end a console session");
        return ConsoleError::Unavailable.into_response();
    }
    tracing::info!(admin = %who.admin.id, "admin signed out of the console");
    session::to_sign_in(false)
}
