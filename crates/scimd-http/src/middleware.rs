//! The request checks and response guarantees every SCIM client can rely on, whatever the handler:
//!
//! - a body larger than the configured limit → 413, before anything reads it;
//! - a SCIM request body must be JSON: `application/scim+json` or `application/json`, any
//!   parameters (RFC 7644 §3.1, §3.8) → else 415;
//! - SCIM responses are `application/scim+json` (RFC 7644 §3.1);
//! - every error response carries an RFC 7644 §3.12 body, including axum's own 404, 405, 413 and
//!   extractor rejections, and a panic becomes a 500 with one (there should be none).

use std::any::Any;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use scimd_schema::ScimError;

use crate::AppState;
use crate::error::{ApiError, SCIM_JSON};

/// Whether the path is under a SCIM prefix (`/scim/v2`, `/tenants/{slug}/scim/v2`).
pub(crate) fn is_scim_path(path: &str) -> bool {
    let rest = match path.strip_prefix("/tenants/") {
        Some(rest) => rest.split_once('/').map_or("", |(_, r)| r),
        None => path.strip_prefix('/').unwrap_or(path),
    };
    rest == "scim/v2" || rest.starts_with("scim/v2/")
}

/// The media type without parameters, lower-cased (RFC 9110 §8.3.1: type and subtype are
/// case-insensitive).
fn essence(content_type: &HeaderValue) -> Option<String> {
    let s = content_type.to_str().ok()?;
    Some(s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn has_body(headers: &HeaderMap) -> bool {
    let length =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// Middleware: 413 and 415 before the handler; `application/scim+json` on SCIM responses.
pub(crate) async fn scim_request_checks(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let max = state.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX)) {
        return too_large(max);
    }
    let scim = is_scim_path(req.uri().path());
    if scim && has_body(req.headers()) {
        // A body without Content-Type is read as JSON (lenient: some scripts omit it); a declared
        // type must be JSON.
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ok = essence(ct).is_some_and(|e| e == SCIM_JSON || e == "application/json");
            if !ok {
                let shown = ct.to_str().unwrap_or("(not text)");
                return ApiError::from(ScimError::status(
                    415,
                    format!(
                        "unsupported Content-Type {shown:?}: send application/scim+json or application/json"
                    ),
                ))
                .into_response();
            }
        }
    }
    let mut resp = next.run(req).await;
    if scim {
        let is_plain_json = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(essence)
            .is_some_and(|e| e == "application/json");
        if is_plain_json {
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        }
    }
    resp
}

/// RFC 9110 §15.5.14 413 Content Too Large for a body over the configured limit, declared so
/// (`Content-Length`, here) or found so while reading it (the provisioning log, which reads write
/// bodies first). A chunked body that no log reads is cut by axum's `DefaultBodyLimit`, whose
/// plain-text rejection [`scim_error_bodies`] turns into a SCIM 413 as well.
pub(crate) fn too_large(max: usize) -> Response {
    ApiError::from(ScimError::status(
        413,
        format!("the request body is larger than the limit of {max} bytes"),
    ))
    .into_response()
}

/// The fallback: RFC 7644 §3.12 404 for a path no route serves.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ScimError::not_found(format!("no endpoint at {}", uri.path())).into()
}

/// How much of a bare error body is kept as the detail.
const MAX_BARE_DETAIL: usize = 1024;

/// Middleware: an error response that is not JSON (axum's 405 with an empty body, an extractor's
/// text rejection, a 413 from the body limit) gets a SCIM error body. JSON error bodies are left
/// alone: they are already SCIM's, or another surface's (OAuth's RFC 6749 errors).
pub(crate) async fn scim_error_bodies(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // JSON bodies (SCIM errors, OAuth's RFC 6749 §5.2 errors) and the authorization pages' HTML
    // error pages are already what the client should see.
    let ready = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(essence)
        .is_some_and(|e| e.ends_with("json") || e == "text/html");
    if ready {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_BARE_DETAIL)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::NOT_FOUND => ScimError::not_found(format!("no endpoint at {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("");
            ScimError::status(405, format!("{method} is not allowed on {path}; allowed: {allow}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ScimError::status(413, "the request body is larger than the configured limit".to_owned())
        }
        s if s.is_client_error() && !text.is_empty() => ScimError::status(s.as_u16(), text),
        s if s.is_client_error() => {
            ScimError::status(s.as_u16(), s.canonical_reason().unwrap_or("request refused").to_owned())
        }
        // 5xx: the text may be internal; the table shows a generic detail with the request id.
        _ => {
            let mut resp = ApiError::Internal(text).into_response();
            *resp.status_mut() = status;
            return resp;
        }
    };
    let mut new = ApiError::from(error).into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            new.headers_mut().insert(name, v.clone());
        }
    }
    new
}

/// A tenant URL typed with a trailing slash (Microsoft's own example is
/// `https://api.contoso.com/scim/`) becomes `…/scim/v2//Users` once the IdP appends `/Users`.
/// An empty path segment means nothing in a SCIM URL (RFC 7644 §3.2 names resources by endpoint
/// and id), so runs of `/` are collapsed into one before routing. Only the path changes; the
/// query string is kept byte for byte (its percent-encoding matters to the filter).
pub(crate) fn collapse_slashes<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let Some(path) = collapsed(req.uri().path()) else { return req };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    // A path built from a valid path minus some `/` is valid; if not, the request goes on as sent.
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The path with runs of `/` collapsed, or `None` when it has none.
fn collapsed(path: &str) -> Option<String> {
    if !path.contains("//") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    Some(out)
}

/// tower-http's catch-panic handler: 500 with a SCIM body. The panic message is logged (inside the
/// request's span), never sent.
pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_paths() {
        assert!(is_scim_path("/scim/v2"));
        assert!(is_scim_path("/scim/v2/Users"));
        assert!(is_scim_path("/tenants/acme/scim/v2/Users"));
        assert!(!is_scim_path("/scim/v20"));
        assert!(!is_scim_path("/healthz"));
        assert!(!is_scim_path("/oauth2/token"));
        assert!(!is_scim_path("/tenants/acme/admin"));
    }

    #[test]
    fn repeated_slashes_collapse() {
        // An identity provider joins a base URL with a trailing slash + "/Users".
        assert_eq!(collapsed("/scim/v2//Users").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(
            collapsed("//tenants//acme///scim/v2//Groups/").as_deref(),
            Some("/tenants/acme/scim/v2/Groups/")
        );
        assert_eq!(collapsed("/scim/v2/Users"), None);
        let req =
            axum::http::Request::get("/scim/v2//Users?filter=userName+eq+%22a%2F%2Fb%22").body(()).unwrap();
        assert_eq!(
            collapse_slashes(req).uri().to_string(),
            "/scim/v2/Users?filter=userName+eq+%22a%2F%2Fb%22"
        );
    }

    #[test]
    fn media_type_essence() {
        let e = |s: &'static str| essence(&HeaderValue::from_static(s));
        assert_eq!(e("application/scim+json; charset=utf-8").as_deref(), Some("application/scim+json"));
        assert_eq!(e("Application/JSON;charset=UTF-8").as_deref(), Some("application/json"));
        assert_eq!(e("text/plain").as_deref(), Some("text/plain"));
    }
}
