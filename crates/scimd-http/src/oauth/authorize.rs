//! `/oauth2/authorize` (RFC 6749 §4.1.1–4.1.2): the browser flow an Okta admin goes through.
//!
//! `GET` checks the request, then shows the sign-in form (no signed-in session for the client's
//! tenant) or the consent page. `POST` carries the request's parameters through hidden fields and
//! is one of `action=login`, `approve` or `deny`; every POST re-checks the request (the fields
//! could have been edited) and the CSRF token bound to the session. After a sign-in the browser is
//! sent back to `GET` (post/redirect/get), so reloading never re-submits a password.
//!
//! The session cookie is HttpOnly, SameSite=Lax (the redirect back from the IdP is a top-level
//! GET, which Lax allows; cross-site POSTs do not carry it), scoped to `/oauth2`, and Secure when
//! the issuer is https.

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;

use scimd_oauth::secret::Secret;
use scimd_oauth::{AuthorizeError, AuthorizeParams, AuthorizeRequest, LoginError};
use scimd_store::Tenant;
use scimd_store::oauth::SessionRecord;

use super::{issuer, pages};
use crate::AppState;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "scimd_session";

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    super::cookie(headers, COOKIE).map(str::to_owned)
}

fn set_cookie(resp: &mut Response, value: &Secret, secure: bool, max_age: i64) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/oauth2; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        value.expose()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn unavailable() -> Response {
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server cannot handle the request right now. Try again in a moment.",
    )
}

async fn tenant_slug(state: &AppState, req: &AuthorizeRequest) -> Result<Tenant, Response> {
    match state.store.tenant_by_id(req.client.tenant).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(pages::error(StatusCode::BAD_REQUEST, "The client's tenant no longer exists.")),
        Err(_) => Err(unavailable()),
    }
}

/// Checks the request; a response when it fails (an error page, or a redirect to the client).
async fn check(
    state: &AppState,
    params: &AuthorizeParams,
    issuer: &str,
) -> Result<AuthorizeRequest, Response> {
    state.oauth.check_authorize(params, issuer).await.map_err(|e| match e {
        AuthorizeError::Show(message) => pages::error(StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect(url) => Redirect::to(&url).into_response(),
    })
}

/// The live session behind the request's cookie, or a new one (with its cookie to set).
async fn session(state: &AppState, headers: &HeaderMap) -> Result<(SessionRecord, Option<Secret>), Response> {
    if let Some(cookie) = session_cookie(headers) {
        match state.oauth.session(&cookie).await {
            Ok(Some(s)) => return Ok((s, None)),
            Ok(None) => {}
            Err(_) => return Err(unavailable()),
        }
    }
    let (cookie, record) = state.oauth.start_session().await.map_err(|_| unavailable())?;
    Ok((record, Some(cookie)))
}

struct Ctx {
    issuer: String,
    secure: bool,
    max_age: i64,
}

fn ctx(state: &AppState, headers: &HeaderMap) -> Ctx {
    let issuer = issuer(&state.config, headers);
    Ctx {
        secure: issuer.starts_with("https://"),
        issuer,
        max_age: state.config.oauth.session_ttl.whole_seconds(),
    }
}

/// The page for this session: consent when signed in as an admin of the client's tenant, else
/// the sign-in form.
async fn render(
    state: &AppState,
    ctx: &Ctx,
    params: &AuthorizeParams,
    req: &AuthorizeRequest,
    session: &SessionRecord,
    new_cookie: Option<&Secret>,
    login_error: Option<(StatusCode, &str)>,
) -> Response {
    let tenant = match tenant_slug(state, req).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let admin = match state.oauth.session_admin(session).await {
        Ok(a) => a.filter(|a| a.tenant == req.client.tenant),
        Err(_) => return unavailable(),
    };
    let mut resp = match (admin, login_error) {
        (Some(admin), None) => pages::consent(&pages::Consent {
            params,
            csrf: &session.csrf,
            client: &req.client.name,
            tenant: &tenant.slug,
            admin: &admin.email,
            redirect_uri: &req.redirect_uri,
            scopes: req.scopes,
        }),
        (_, error) => {
            let status = error.map_or(StatusCode::OK, |(s, _)| s);
            pages::login(status, params, &session.csrf, &req.client.name, &tenant.slug, error.map(|(_, m)| m))
        }
    };
    if let Some(cookie) = new_cookie {
        set_cookie(&mut resp, cookie, ctx.secure, ctx.max_age);
    }
    resp
}

/// The authorization request from the query string. RFC 6749 §3.1: parameters sent without a
/// value are treated as omitted, and none may be repeated.
fn parse_query(query: Option<&str>) -> Result<AuthorizeParams, String> {
    let mut params = AuthorizeParams::default();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if v.is_empty() {
            continue;
        }
        if !seen.insert(k.clone().into_owned()) {
            return Err(format!("The request repeats the parameter {k}."));
        }
        // RFC 6749 §3.1: unrecognised parameters are ignored.
        let Some(slot) = params.slot(&k) else { continue };
        *slot = Some(v.into_owned());
    }
    Ok(params)
}

/// `GET /oauth2/authorize`.
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match parse_query(query.as_deref()) {
        Ok(p) => p,
        Err(message) => return pages::error(StatusCode::BAD_REQUEST, &message),
    };
    let ctx = ctx(&state, &headers);
    let req = match check(&state, &params, &ctx.issuer).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (session, cookie) = match session(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    render(&state, &ctx, &params, &req, &session, cookie.as_ref(), None).await
}

/// `POST /oauth2/authorize`: sign-in, approve or deny.
pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let ctx = ctx(&state, &headers);
    let mut form: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        // First value wins; the fields are ours, a repeated one is a tampered form.
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty()).cloned();
    let mut params = AuthorizeParams::default();
    for name in AuthorizeParams::NAMES {
        if let Some(slot) = params.slot(name) {
            *slot = field(name);
        }
    }
    let req = match check(&state, &params, &ctx.issuer).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (session, new_cookie) = match session(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    // CSRF: the form must carry this session's token. A new session (no or expired cookie) cannot
    // match; the admin gets a fresh form.
    let csrf_ok = field("csrf").is_some_and(|t| bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())));
    if new_cookie.is_some() || !csrf_ok {
        let msg = "Your session expired or the form was out of date. Please sign in again.";
        return render(
            &state,
            &ctx,
            &params,
            &req,
            &session,
            new_cookie.as_ref(),
            Some((StatusCode::FORBIDDEN, msg)),
        )
        .await;
    }
    match field("action").as_deref() {
        Some("login") => {
            let email = field("email").unwrap_or_default();
            let password = field("password").unwrap_or_default();
            let addr = peer.map(|Extension(ConnectInfo(a))| a.ip());
            // A refused sign-in is the page again with its error: the status, the message, and
            // the seconds for Retry-After where waiting helps.
            let refused = match state.oauth.login(req.client.tenant, &email, password, addr).await {
                Ok(admin) => {
                    let Ok((cookie, _csrf)) = state.oauth.sign_in(&session, &admin).await else {
                        return unavailable();
                    };
                    tracing::info!(admin = %admin.id, client = %req.client.client_id, "admin signed in on the authorization page");
                    // Post/redirect/get back to the consent page, with the same request.
                    let query = query_string(&params);
                    let mut resp = Redirect::to(&format!("/oauth2/authorize?{query}")).into_response();
                    set_cookie(&mut resp, &cookie, ctx.secure, ctx.max_age);
                    return resp;
                }
                Err(LoginError::Unavailable(e)) => {
                    tracing::error!(error = %e, "sign-in check failed");
                    return unavailable();
                }
                Err(refused) => refused,
            };
            let status = StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let (msg, retry_after) = (refused.message(), refused.retry_after());
            let mut resp = render(&state, &ctx, &params, &req, &session, None, Some((status, &msg))).await;
            if let Some(secs) = retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
        Some(action @ ("approve" | "deny")) => {
            let admin = match state.oauth.session_admin(&session).await {
                Ok(a) => a.filter(|a| a.tenant == req.client.tenant),
                Err(_) => return unavailable(),
            };
            let Some(admin) = admin else {
                return render(
                    &state,
                    &ctx,
                    &params,
                    &req,
                    &session,
                    None,
                    Some((StatusCode::FORBIDDEN, "Sign in first.")),
                )
                .await;
            };
            // One decision per sign-in: the session ends here either way.
            if let Err(e) = state.oauth.end_session(&session).await {
                tracing::warn!(error = %e, "could not end the authorization session");
            }
            let url = if action == "approve" {
                match state.oauth.approve(&req, &admin, &ctx.issuer).await {
                    Ok(url) => url,
                    Err(_) => return unavailable(),
                }
            } else {
                state.oauth.deny(&req, &ctx.issuer)
            };
            tracing::info!(admin = %admin.id, client = %req.client.client_id, action, "authorization decided");
            let mut resp = Redirect::to(&url).into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("{COOKIE}=; Path=/oauth2; HttpOnly; SameSite=Lax; Max-Age=0"))
            {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "The form was incomplete (no action)."),
    }
}

/// The authorization parameters as a query string, for the redirect back to `GET`.
fn query_string(p: &AuthorizeParams) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(p.pairs()).finish()
}
