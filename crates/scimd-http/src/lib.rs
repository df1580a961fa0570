//! scimd's HTTP surface as a library: [`router`] builds the whole axum application from an
//! [`AppState`]; the binary (and the test kit) only bind a listener and serve it.
//!
//! Keeping the listener out makes the router testable in-process and lets embedding applications
//! mount it. Around the routes sit, outermost first: path normalisation (repeated and trailing slashes), the request id
//! and its tracing span, the request head's checks (an allowed `Host`, bounded size), the provisioning log, metrics, panic → 500, the body-size and content-type checks for SCIM, and
//! the guarantee that every error response carries an RFC 7644 §3.12 SCIM error body.
#![warn(missing_docs)]

mod admin;
pub mod auth;
pub mod domains;
pub mod duration;
pub mod error;
pub mod events;
pub mod head;
mod health;
pub mod listener;
pub mod metrics;
mod middleware;
pub mod oauth;
pub mod provisioning_log;
pub mod rate_limit;
pub mod request_id;
mod scim;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePathLayer;

use scimd_store::{Clock, Store};

pub use admin::{
    admin_json, client_json, delete_tenant_everywhere, delete_tenant_serving, domain_json, resource_totals,
    tenant_json, token_json,
};
pub use auth::{
    AccessTokenVerifier, ChainVerifier, CredentialVerifier, Principal, Scope, Scopes, StaticTokenVerifier,
};
pub use error::ApiError;
pub use head::AllowedHosts;
pub use listener::ListenerConfig;
pub use metrics::Metrics;
pub use provisioning_log::ProvisioningLog;
pub use scimd_oauth::{AuthorizationServer, OAuthConfig};

/// Settings of the HTTP layer (the `serve` flags and config file keys that concern it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// The public URL scimd is reached at (`https://scim.example.com`), for absolute `meta.location`
    /// and `Location` values behind a proxy. `None`: taken from each request's `Host`.
    pub base_url: Option<String>,
    /// The hosts a request's `Host` may name ([`head`]); the base URL's host is always allowed.
    pub allowed_hosts: AllowedHosts,
    /// The largest request body accepted; larger ones get 413 (RFC 7644 §3.12 body).
    pub max_body_bytes: usize,
    /// The most resources one list response holds (RFC 7644 §3.4.2.4: a larger `count` is capped);
    /// also ServiceProviderConfig's `filter.maxResults`.
    pub max_page_size: u64,
    /// The page size when a list request names no `count`.
    pub default_page_size: u64,
    /// The most operations one PATCH request may carry (more: 413 naming the limit).
    pub max_patch_operations: usize,
    /// The most values a request may leave in one multi-valued attribute other than Group
    /// `members` (more: 413 naming the limit).
    pub max_attribute_values: usize,
    /// The authorization server's lifetimes and limits.
    pub oauth: OAuthConfig,
    /// The DNS server domain verification asks (`serve --dns-server`, for split-horizon DNS and
    /// tests); the system's resolver when `None`.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Requests per second per peer address that fail authentication (no credential, an unknown
    /// one, another tenant's) before they are answered 429; 0: unlimited.
    pub refused_rate_limit: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            allowed_hosts: AllowedHosts::default(),
            max_body_bytes: 1024 * 1024,
            max_page_size: 1000,
            default_page_size: 100,
            max_patch_operations: 1000,
            max_attribute_values: 1000,
            oauth: OAuthConfig::default(),
            refused_rate_limit: 20,
            dns_server: None,
        }
    }
}

/// What every handler can reach. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub store: Arc<dyn Store>,
    /// Time, ids and randomness.
    pub clock: Arc<dyn Clock>,
    /// HTTP settings.
    pub config: Arc<HttpConfig>,
    /// Request counters and latency histograms, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Turns a bearer token into a [`Principal`]: static tokens, then OAuth access tokens.
    pub verifier: Arc<dyn CredentialVerifier>,
    /// The OAuth 2.0 authorization server behind `/oauth2/*`.
    pub oauth: Arc<AuthorizationServer>,
    /// The provisioning log, when the application keeps one ([`AppState::with_log`]).
    pub log: Option<Arc<ProvisioningLog>>,
    /// Per-credential request rates.
    pub limits: Arc<rate_limit::RateLimits>,
}

impl AppState {
    /// State with the authorization server, a verifier that accepts static tokens and its access
    /// tokens, and fresh metrics.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, mut config: HttpConfig) -> Self {
        if let Some(base) = config.base_url.clone() {
            // A base URL that does not parse was refused when the settings were read; here it
            // can only fail to add a host, and the requests naming it are then refused.
            let _ = config.allowed_hosts.allow_url(&base);
        }
        let oauth = Arc::new(AuthorizationServer::new(store.clone(), clock.clone(), config.oauth.clone()));
        let verifier = Arc::new(ChainVerifier(vec![
            Arc::new(StaticTokenVerifier::new(store.clone(), clock.clone())),
            Arc::new(AccessTokenVerifier::new(store.clone(), oauth.clone())),
        ]));
        Self {
            store,
            clock,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            verifier,
            oauth,
            log: None,
            limits: Arc::default(),
        }
    }

    /// Records every SCIM request in `log` (the provisioning log), keeping `retention` of it.
    /// Starts the background writer on the current tokio runtime.
    #[must_use]
    pub fn with_log(mut self, log: Arc<dyn scimd_store::LogStore>, retention: time::Duration) -> Self {
        self.log = Some(ProvisioningLog::start(log, self.clock.clone(), retention));
        self
    }

    /// Replaces the credential verifier (e.g. with a chain of static and OAuth verifiers).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Arc<dyn CredentialVerifier>) -> Self {
        self.verifier = verifier;
        self
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The scimd application: SCIM under `/scim/v2` and `/tenants/{slug}/scim/v2`, `/healthz`,
/// `/readyz`, `/metrics`.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with `extra` routes merged into the SCIM router (so they appear under both SCIM
/// prefixes and get the same middleware and authentication). For embedding applications and tests.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    router_mounting(state, extra, Router::new())
}

/// [`router_with`], with `pages` merged at the top level beside the SCIM, OAuth and admin routes
/// (the binary mounts the console here): they get the request id, `Host` check, metrics and panic
/// guard of every route, not SCIM's authentication, and their HTML error pages pass through as
/// they are.
pub fn router_mounting(state: AppState, extra: Router<AppState>, pages: Router<AppState>) -> Router {
    let scim = scim::routes().merge(extra);
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .nest("/scim/v2", scim.clone())
        // The tenant named in the URL; `Principal` checks it against the credential.
        .nest("/tenants/{slug}/scim/v2", scim)
        .merge(oauth::routes())
        .nest("/admin/v1/tenants/{slug}", admin::routes())
        .nest("/admin/v1/tenants", admin::tenant_routes())
        .merge(pages)
        .fallback(middleware::not_found)
        // Layers run outside-in in the order listed (the first wraps all the others).
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(state.clone(), request_id::middleware))
                .layer(axum::middleware::from_fn_with_state(state.clone(), head::check))
                .layer(axum::middleware::from_fn_with_state(state.clone(), provisioning_log::record))
                .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
                .layer(axum::middleware::from_fn(middleware::scim_error_bodies))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::scim_request_checks))
                .layer(DefaultBodyLimit::max(state.config.max_body_bytes)),
        )
        .with_state(state);
    // Routing happens inside `app`, so the path must be normalised before it: `/scim/v2/Users/`
    // and `/scim/v2//Users` reach the `/scim/v2/Users` route.
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(middleware::collapse_slashes::<axum::body::Body>)
            .layer(NormalizePathLayer::trim_trailing_slash())
            .service(app),
    )
}
