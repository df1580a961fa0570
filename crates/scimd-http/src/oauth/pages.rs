//! The authorization pages: sign-in, consent, and the error page for requests that cannot be
//! redirected. Plain server-rendered HTML with a little inline CSS; no JavaScript. Every value
//! inserted is escaped.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use scimd_oauth::{AuthorizeParams, Scopes};

/// HTML-escapes text for element content and double-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}\
input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}\
button{padding:.55rem 1.2rem;margin:1rem .5rem 0 0;border-radius:4px;border:1px solid #888;cursor:pointer}\
button.primary{background:#1f5fbf;color:#fff;border-color:#1f5fbf}.error{color:#a40000}\
ul{padding-left:1.2rem}code{background:#eee;padding:0 .2rem}small{color:#555}";

/// A whole page, with the headers every authorization page carries: not cached (it holds a CSRF
/// token), and not framable (RFC 6749 §10.13: clickjacking of the consent page).
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · scimd</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                ),
            ),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        html,
    )
        .into_response()
}

/// The authorization request's parameters as hidden fields, so the forms carry it through.
fn hidden_params(p: &AuthorizeParams) -> String {
    let mut out = String::new();
    for (name, value) in p.pairs() {
        let _ = write!(out, "<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value));
    }
    out
}

/// The sign-in form for the tenant's admins.
pub(crate) fn login(
    status: StatusCode,
    params: &AuthorizeParams,
    csrf: &str,
    client: &str,
    tenant: &str,
    error: Option<&str>,
) -> Response {
    let error =
        error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to scimd</h1>\
         <p><strong>{client}</strong> asks to connect to tenant <code>{tenant}</code>. Sign in as an administrator of this tenant to continue.</p>\
         {error}\
         <form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"login\">\
         <label for=\"email\">Email</label><input id=\"email\" type=\"email\" name=\"email\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button class=\"primary\" type=\"submit\">Sign in</button></form>",
        client = escape(client),
        tenant = escape(tenant),
        hidden = hidden_params(params),
        csrf = escape(csrf),
    );
    page(status, "Sign in", &body)
}

/// What the consent page shows.
pub(crate) struct Consent<'a> {
    pub(crate) params: &'a AuthorizeParams,
    pub(crate) csrf: &'a str,
    pub(crate) client: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) admin: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) scopes: Scopes,
}

/// The consent page: who asks, for what, where the answer goes; Approve or Deny.
pub(crate) fn consent(c: &Consent<'_>) -> Response {
    let items: String = c
        .scopes
        .iter()
        .map(|s| format!("<li>{} <small><code>{}</code></small></li>", s.describe(), s.as_str()))
        .collect();
    let body = format!(
        "<h1>Approve access</h1>\
         <p>Signed in as <strong>{admin}</strong>.</p>\
         <p><strong>{client}</strong> asks for access to tenant <code>{tenant}</code>:</p><ul>{items}</ul>\
         <p><small>You will be sent back to {redirect}</small></p>\
         <form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"primary\" type=\"submit\" name=\"action\" value=\"approve\">Approve access</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
        admin = escape(c.admin),
        client = escape(c.client),
        tenant = escape(c.tenant),
        redirect = escape(c.redirect_uri),
        hidden = hidden_params(c.params),
        csrf = escape(c.csrf),
    );
    page(StatusCode::OK, "Approve access", &body)
}

/// An error that must not be redirected (RFC 6749 §4.1.2.1: unknown client, bad redirect URI).
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>This request cannot be completed</h1><p class=\"error\">{}</p>\
         <p>Check the client id and redirect URI configured in your identity provider against \
         <code>scimd client list</code>.</p>",
        escape(message)
    );
    page(status, "Error", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn hidden_fields_are_escaped() {
        let p = AuthorizeParams { state: Some("\"><script>".into()), ..AuthorizeParams::default() };
        let h = hidden_params(&p);
        assert!(h.contains("value=\"&quot;&gt;&lt;script&gt;\""), "{h}");
        assert!(!h.contains("<script>"));
    }
}
