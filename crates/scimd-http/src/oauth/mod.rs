//! The OAuth 2.0 endpoints (docs/operations.md, "Authentication at a glance"): `/oauth2/token`,
//! `/oauth2/authorize`, `/oauth2/revoke`, `/oauth2/introspect`, `/oauth2/jwks` and RFC 8414's
//! `/.well-known/oauth-authorization-server`. Handlers parse the form and the client's credentials, call
//! scimd-oauth, and render its answer; this surface's errors are RFC 6749 §5.2 JSON (its own table,
//! `OAuthReply`), not SCIM error bodies.

mod authorize;
mod pages;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use scimd_oauth::{ClientAuth, ErrorCode, OAuthError, TokenRequest};

use crate::{AppState, HttpConfig};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/authorize", get(authorize::show).post(authorize::submit))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// The value of the cookie `name` in a request (RFC 6265 §5.4: `Cookie: a=1; b=2`, possibly in
/// several header lines), the first one if it repeats; an empty value is no cookie. For the
/// browser pages: the authorization pages here and the console.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n == name && !value.is_empty()).then_some(value)
        })
}

/// The issuer identifier (RFC 8414 §2): `--base-url` when set, else `http://` and the request's
/// Host (one of the allowed hosts, [`crate::head`]). Behind TLS, set `--base-url https://…`: the
/// issuer must be the URL clients use.
pub fn issuer(config: &HttpConfig, headers: &HeaderMap) -> String {
    match &config.base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("http://{}", crate::head::request_host(headers)),
    }
}

/// An OAuth error response (RFC 6749 §5.2): JSON `{error, error_description}`, 400 (401 for
/// `invalid_client`), never cached. When the client tried to authenticate with the Authorization
/// header, a 401 carries `WWW-Authenticate: Basic` (§5.2).
pub(crate) struct OAuthReply {
    error: OAuthError,
    header_auth: bool,
}

impl OAuthReply {
    fn new(error: OAuthError, auth: &ClientAuth) -> Self {
        Self { error, header_auth: matches!(auth, ClientAuth::Basic { .. }) }
    }
}

impl IntoResponse for OAuthReply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        if status.is_server_error() {
            tracing::error!(error = %self.error, "OAuth request failed");
        } else {
            tracing::info!(error = %self.error, "OAuth request refused");
        }
        let body = json!({"error": self.error.code.as_str(), "error_description": self.error.description});
        let mut resp = (status, no_store(), axum::Json(body)).into_response();
        if self.error.code == ErrorCode::InvalidClient && self.header_auth {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"scimd\""));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// RFC 6749 §5.1: responses with tokens or credentials are not cached.
fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// RFC 6749 §3.2 / Appendix B: the body is `application/x-www-form-urlencoded`; a parameter sent
/// without a value is treated as omitted (§3.1) and none may appear twice.
fn parse_form(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(OAuthError::invalid_request("send the parameters as application/x-www-form-urlencoded"));
    }
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if v.is_empty() {
            continue;
        }
        if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
        }
    }
    Ok(map)
}

/// RFC 6749 §2.3.1: the client's credentials from `Authorization: Basic` (id and secret each
/// form-urlencoded before base64) or from the body; both at once is an error (§2.3).
fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> ClientAuth {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, b64)| {
            // An undecodable header is still an attempt to authenticate by header: it fails as an
            // unknown client, with the Basic challenge.
            STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|s| {
                    let (id, secret) = s.split_once(':')?;
                    let decode = |p: &str| {
                        url::form_urlencoded::parse(format!("x={p}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                    };
                    Some((decode(id)?, decode(secret)?))
                })
                .unwrap_or_default()
        });
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => ClientAuth::Several,
        (Some((id, _)), Some(body), None) if *body != id => ClientAuth::Several,
        (Some((id, secret)), _, None) => ClientAuth::Basic { id, secret },
        (None, Some(id), Some(secret)) => ClientAuth::Post { id: id.clone(), secret: secret.clone() },
        (None, Some(id), None) => ClientAuth::Public { id: id.clone() },
        (None, None, Some(_)) => ClientAuth::Absent,
        (None, None, None) => ClientAuth::Absent,
    }
}

/// `POST /oauth2/token` (RFC 6749 §3.2).
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(e) => return OAuthReply::new(e, &ClientAuth::Absent).into_response(),
    };
    let auth = client_auth(&headers, &form);
    let request = TokenRequest {
        grant_type: form.get("grant_type").cloned(),
        code: form.get("code").cloned(),
        redirect_uri: form.get("redirect_uri").cloned(),
        code_verifier: form.get("code_verifier").cloned(),
        refresh_token: form.get("refresh_token").cloned(),
        scope: form.get("scope").cloned(),
    };
    match state.oauth.token(&auth, request, &issuer(&state.config, &headers)).await {
        Ok(response) => (StatusCode::OK, no_store(), axum::Json(response)).into_response(),
        Err(e) => OAuthReply::new(e, &auth).into_response(),
    }
}

/// `POST /oauth2/revoke` (RFC 7009 §2): 200 whether or not the token was known.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(e) => return OAuthReply::new(e, &ClientAuth::Absent).into_response(),
    };
    let auth = client_auth(&headers, &form);
    let result = async {
        let client = state.oauth.authenticate_client(&auth).await?;
        let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        state.oauth.revoke(&client, token, &issuer(&state.config, &headers)).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => OAuthReply::new(e, &auth).into_response(),
    }
}

/// `POST /oauth2/introspect` (RFC 7662 §2): client-authenticated.
async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(e) => return OAuthReply::new(e, &ClientAuth::Absent).into_response(),
    };
    let auth = client_auth(&headers, &form);
    let result = async {
        // RFC 7662 §2.1: the endpoint requires authorisation; public clients cannot introspect.
        if matches!(auth, ClientAuth::Public { .. }) {
            return Err(OAuthError::invalid_client("introspection needs a confidential client"));
        }
        let client = state.oauth.authenticate_client(&auth).await?;
        let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        state.oauth.introspect(&client, token, &issuer(&state.config, &headers)).await
    }
    .await;
    match result {
        Ok(v) => (StatusCode::OK, no_store(), axum::Json(v)).into_response(),
        Err(e) => OAuthReply::new(e, &auth).into_response(),
    }
}

/// `GET /oauth2/jwks` (RFC 7517 §5): the public keys access tokens are signed with.
async fn jwks(State(state): State<AppState>) -> Response {
    match state.oauth.keys().jwks().await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, format!("max-age={}", scimd_oauth::keys::JWKS_MAX_AGE.whole_seconds()))],
            axum::Json::<Value>(v),
        )
            .into_response(),
        Err(e) => {
            let error = match e {
                scimd_oauth::keys::KeyError::Store(s) => OAuthError::from(s),
                other => {
                    tracing::error!(error = %other, "cannot serve the JWKS");
                    OAuthError::new(ErrorCode::ServerError, "internal error")
                }
            };
            OAuthReply::new(error, &ClientAuth::Absent).into_response()
        }
    }
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3).
async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    axum::Json(state.oauth.metadata(&issuer(&state.config, &headers))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    #[test]
    fn forms() {
        let f = parse_form(&headers(&[FORM]), &Bytes::from("a=1&b=&c=x%20y")).unwrap();
        assert_eq!(f.get("a").map(String::as_str), Some("1"));
        assert!(!f.contains_key("b"), "an empty value counts as omitted");
        assert_eq!(f.get("c").map(String::as_str), Some("x y"));
        assert_eq!(
            parse_form(&headers(&[FORM]), &Bytes::from("a=1&a=2")).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert!(parse_form(&headers(&[("content-type", "application/json")]), &Bytes::from("{}")).is_err());
    }

    #[test]
    fn client_credentials_from_header_and_body() {
        let form =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        // RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials.
        let b64 = STANDARD.encode("my%20id:s%3Acret");
        let auth = client_auth(&headers(&[("authorization", &format!("Basic {b64}"))]), &HashMap::new());
        assert_eq!(auth, ClientAuth::Basic { id: "my id".into(), secret: "s:cret".into() });
        let auth = client_auth(&HeaderMap::new(), &form(&[("client_id", "a"), ("client_secret", "b")]));
        assert_eq!(auth, ClientAuth::Post { id: "a".into(), secret: "b".into() });
        assert_eq!(
            client_auth(&HeaderMap::new(), &form(&[("client_id", "a")])),
            ClientAuth::Public { id: "a".into() }
        );
        let both = client_auth(
            &headers(&[("authorization", &format!("Basic {b64}"))]),
            &form(&[("client_secret", "b")]),
        );
        assert_eq!(both, ClientAuth::Several);
        let garbage = client_auth(&headers(&[("authorization", "Basic !!!")]), &HashMap::new());
        assert!(matches!(garbage, ClientAuth::Basic { .. }));
        assert_eq!(client_auth(&HeaderMap::new(), &HashMap::new()), ClientAuth::Absent);
    }
}
