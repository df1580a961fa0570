//! The console against the real server on 127.0.0.1:0: over HTTP as a browser speaks it
//! (`http`), and in Chromium through WebDriver (`browser`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests: a panic is a failed test (clippy's test exemption misses helper fns)"
)]

mod browser;
mod http;

use std::sync::Arc;

use reqwest::redirect::Policy;
use scimd_store::{Clock, Tenant};
use scimd_testkit::{Backend, Options, TestServer};

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const EMAIL: &str = "it@acme.example";

/// A server with the console mounted as the binary mounts it, and an admin of tenant `default`.
pub(crate) async fn start(backend: Backend) -> TestServer {
    start_opts(Options { backend, ..Options::default() }).await
}

pub(crate) async fn start_opts(options: Options) -> TestServer {
    let options =
        Options { pages: scimd_console::routes(scimd_console::ConsoleConfig::default()), ..options };
    let s = TestServer::start_opts(options).await;
    add_admin(&s, &s.tenant, EMAIL).await;
    s
}

pub(crate) async fn add_admin(s: &TestServer, tenant: &Tenant, email: &str) {
    let server = scimd_oauth::AuthorizationServer::new(
        s.store.clone(),
        s.clock.clone(),
        scimd_oauth::OAuthConfig::default(),
    );
    server.create_admin(tenant, email, PASSWORD.into()).await.unwrap();
}

/// A browser: keeps cookies, does not follow redirects (the tests look at them).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).no_proxy().build().unwrap()
}

/// The value of the hidden field `name` in a page.
pub(crate) fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A page: status, headers, body.
pub(crate) async fn get(
    b: &reqwest::Client,
    s: &TestServer,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = b.get(s.url(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// Posts a form; the response as [`get`] gives it.
pub(crate) async fn post(
    b: &reqwest::Client,
    s: &TestServer,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = b.post(s.url(path)).form(form).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// Signs `b` in through the form; returns the POST's response.
pub(crate) async fn sign_in(
    b: &reqwest::Client,
    s: &TestServer,
    tenant: &str,
    email: &str,
    password: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let (_, _, form) = get(b, s, "/console/login").await;
    let csrf = field(&form, "csrf");
    post(
        b,
        s,
        "/console/login",
        &[("csrf", &csrf), ("tenant", tenant), ("email", email), ("password", password)],
    )
    .await
}

/// A signed-in browser and the CSRF token of its session.
pub(crate) async fn signed_in(s: &TestServer) -> (reqwest::Client, String) {
    let b = browser();
    let (status, headers, _) = sign_in(&b, s, "default", EMAIL, PASSWORD).await;
    assert_eq!(status, 303, "sign-in");
    assert_eq!(headers["location"], "/console/");
    let (status, _, home) = get(&b, s, "/console/").await;
    assert_eq!(status, 200);
    let csrf = field(&home, "csrf");
    (b, csrf)
}

/// The server's clock as a mock, for tests that move time.
pub(crate) fn mock_clock() -> (scimd_store::MockClock, Arc<dyn Clock>) {
    let clock = scimd_store::MockClock::new(time::macros::datetime!(2026-12-03 09:00 UTC));
    (clock.clone(), Arc::new(clock))
}
