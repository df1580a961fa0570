//! scimd's web console (docs/console.md): the pages a tenant's admin uses instead of the CLI to
//! connect Entra ID or Okta — the connection's URLs and setup steps, tokens and OAuth apps with
//! their secrets shown once, the tenant's policies, its users and groups, and the provisioning log.
//!
//! Server-rendered HTML ([askama](https://docs.rs/askama) templates, every inserted value escaped)
//! with forms that work without JavaScript; the small script and htmx, both served from the binary,
//! only add copy buttons and filtering as one types. The console holds no SQL: it calls the store
//! and the authorization server as the admin API does, so a page can do nothing the API could not.
//!
//! Mounted at `/console` by the binary beside the SCIM, OAuth and admin routes
//! ([`scimd_http::router_mounting`]): the request id, the `Host` check and the metrics apply as
//! everywhere. Every response carries a Content-Security-Policy that allows only the console's own
//! files (`default-src 'self'`, no inline script or style) and forbids framing.
#![warn(missing_docs)]

mod admins;
mod assets;
mod clients;
mod connection;
mod domains;
mod error;
mod logs;
mod resources;
mod session;
mod settings;
mod signin;
mod tenants;
mod tokens;
mod view;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};

use scimd_http::AppState;

/// How long console sessions last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// A session unused this long ends (OWASP Session Management Cheat Sheet, "Idle Timeout":
    /// 15–30 minutes for applications of high value).
    pub idle_timeout: time::Duration,
    /// A session ends this long after sign-in, however busy ("Absolute Timeout": a working day).
    pub absolute_timeout: time::Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { idle_timeout: time::Duration::minutes(30), absolute_timeout: time::Duration::hours(12) }
    }
}

/// The console's routes, to merge at the top level of the application.
pub fn routes(config: ConsoleConfig) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(connection::show))
        .route("/test", post(connection::test))
        .route("/login", get(signin::form).post(signin::submit))
        .route("/logout", post(signin::logout))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/new", get(tokens::new_form))
        .route("/tokens/{id}/revoke", get(tokens::confirm_revoke).post(tokens::revoke))
        .route("/clients", get(clients::list).post(clients::create))
        .route("/clients/new", get(clients::new_form))
        .route("/clients/{client_id}/rotate", get(clients::confirm_rotate).post(clients::rotate))
        .route("/clients/{client_id}/delete", get(clients::confirm_delete).post(clients::delete))
        .route("/domains", get(domains::list).post(domains::add))
        .route("/domains/{domain}/verify", post(domains::verify))
        .route("/domains/{domain}/remove", get(domains::confirm_remove).post(domains::remove))
        .route("/admins", get(admins::list).post(admins::create))
        .route("/admins/{id}/password", get(admins::password_form).post(admins::reset_password))
        .route("/admins/{id}/remove", get(admins::confirm_remove).post(admins::remove))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhooks::show))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/enabled", post(webhooks::set_enabled))
        .route("/webhooks/{id}/replay", post(webhooks::replay))
        .route("/webhooks/{id}/rotate", get(webhooks::confirm_rotate).post(webhooks::rotate))
        .route("/webhooks/{id}/delete", get(webhooks::confirm_delete).post(webhooks::delete))
        .route("/events", get(webhooks::events))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/tenants/select", post(tenants::select))
        .route("/tenants/{slug}/delete", get(tenants::confirm_delete).post(tenants::delete))
        .route("/users", get(resources::list_users))
        .route("/users/{id}", get(resources::show_user))
        .route("/groups", get(resources::list_groups))
        .route("/groups/{id}", get(resources::show_group))
        .route("/logs", get(logs::list))
        .route("/logs/stream", get(logs::stream))
        .route("/logs/{id}", get(logs::show))
        .route("/assets/{file}", get(assets::serve))
        .fallback(error::not_found)
        .layer(axum::Extension(Arc::new(config)))
        .layer(axum::middleware::map_response(security_headers));
    // The application trims trailing slashes before routing, so `/console/` and `/console` are
    // both the Connection page.
    Router::new().nest("/console", pages)
}

/// The headers every console response carries.
async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        // No inline script or style at all; forms post only to the console; no framing
        // (clickjacking of the token and revoke buttons).
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages hold secrets shown once and CSRF tokens: never stored by the browser or a proxy.
    // The assets set their own (immutable, they are compiled in).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
