//! The console in a real browser: Debian's Chromium, headless, driven through WebDriver
//! (chromedriver) against the real server. What an admin setting up Entra ID or Okta does: sign in,
//! make a token and see it once, use it, revoke it, make an OAuth app and run client credentials
//! with it, browse what was provisioned, read the log, filter, sign out. Screenshots are saved
//! under the target directory's `tmp/console-screenshots` (docs/console.md shows some).
//!
//! Without chromedriver the tests say so and pass, unless `CI` is set: `.ci/run` installs Chromium
//! and chromedriver, so there a missing browser is a failure, not a skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use scimd_testkit::{Backend, TestServer};

use super::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process and a browser session on it; both end when this is dropped.
struct Chrome {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Chromium, or `None` (with a message) where it is not installed and CI is not set.
async fn chrome(test: &str) -> Option<Chrome> {
    let driver = std::env::var("SCIMD_TEST_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
    let chromium = std::env::var("SCIMD_TEST_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !std::path::Path::new(&driver).exists() || !std::path::Path::new(&chromium).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {driver} or {chromium} is missing (apt-get install chromium chromium-driver; .ci/run does)"
        );
        eprintln!("skipping {test}: no {driver} or {chromium} (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }
    });
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps.as_object().unwrap().clone());
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen.
    let mut last = None;
    for _ in 0..100 {
        match builder.connect(&url).await {
            Ok(client) => return Some(Chrome { client, driver: child, _profile: profile }),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{test}: no WebDriver session: {last:?}");
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.wait().for_element(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks what changes nothing but the page it is on (a checkbox, a copy button).
async fn click(c: &Client, css: &str) {
    c.wait().for_element(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Clicks what loads another page (a submit button, a link) and waits until the old page is gone,
/// so that the next look finds the new one, however slow the machine.
async fn submit(c: &Client, css: &str) {
    follow(c, c.wait().for_element(Locator::Css(css)).await.unwrap()).await;
}

async fn follow(c: &Client, e: fantoccini::elements::Element) {
    let _ = c;
    e.click().await.unwrap();
    for _ in 0..300 {
        // An element of a page that was replaced is "stale".
        if e.is_enabled().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the click did not load another page");
}

async fn path(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Waits (a few seconds at most) until `ready` says yes; the browser works asynchronously.
async fn eventually<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen");
}

async fn scim_status(s: &TestServer, path: &str, token: &str) -> u16 {
    s.client.get(s.url(path)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_admin_connects_an_identity_provider_in_chromium() {
    let Some(chrome) = chrome("an_admin_connects_an_identity_provider_in_chromium").await else { return };
    let c = &chrome.client;
    let s = start(Backend::Sqlite).await;

    // Signed out: the console sends the browser to the sign-in form.
    c.goto(&s.url("/console/tokens")).await.unwrap();
    assert_eq!(path(c).await, "/console/login");
    fill(c, "#tenant", "default").await;
    fill(c, "#email", EMAIL).await;
    fill(c, "#password", "not the password").await;
    submit(c, "#sign-in").await;
    assert_eq!(text(c, "#login-error").await, "Wrong tenant, email or password.");
    shot(c, "sign-in-refused").await;
    fill(c, "#password", PASSWORD).await;
    submit(c, "#sign-in").await;
    assert_eq!(path(c).await, "/console/");
    let scim_url = format!("{}/tenants/default/scim/v2", s.base_url);
    assert_eq!(text(c, "#scim-url").await, scim_url);
    shot(c, "connection").await;

    // A token, shown once; "Done" needs the "I have stored it" box.
    follow(c, c.find(Locator::LinkText("Tokens")).await.unwrap()).await;
    assert_eq!(path(c).await, "/console/tokens");
    submit(c, "#new-token").await;
    assert_eq!(path(c).await, "/console/tokens/new");
    fill(c, "#name", "Microsoft Entra ID").await;
    fill(c, "#expires_days", "90").await;
    submit(c, "#create-token").await;
    let secret = text(c, "#secret").await;
    assert!(secret.len() > 30, "{secret}");
    shot(c, "token-created").await;
    click(c, "#done").await;
    assert_eq!(path(c).await, "/console/tokens", "the required box blocks Done");
    assert!(c.source().await.unwrap().contains(&secret), "still on the secret page");
    click(c, "#stored").await;
    submit(c, "#done").await;
    eventually("back on the list", || async {
        path(c).await.starts_with("/console/tokens") && !c.source().await.unwrap().contains(&secret)
    })
    .await;
    assert_eq!(scim_status(&s, "/scim/v2/Users", &secret).await, 200, "the token works");

    // Revoked after a confirmation: refused on the very next request.
    c.find(Locator::XPath(
        "//table[@id='tokens']//tr[td[1][text()='Microsoft Entra ID']]//a[text()='Revoke']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    assert!(text(c, "h1").await.starts_with("Revoke the token"));
    submit(c, "#confirm").await;
    assert!(text(c, ".notice").await.contains("was revoked"));
    shot(c, "tokens").await;
    assert_eq!(scim_status(&s, "/scim/v2/Users", &secret).await, 401, "revoked");

    // An OAuth app for Entra's client credentials.
    c.goto(&s.url("/console/clients/new")).await.unwrap();
    fill(c, "#name", "Entra (OAuth)").await;
    click(c, "#grant-cc").await;
    submit(c, "#create-client").await;
    let client_id = text(c, "#client-id").await;
    let client_secret = text(c, "#secret").await;
    shot(c, "client-created").await;
    let r = s
        .client
        .post(s.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let access: serde_json::Value = r.json().await.unwrap();
    assert_eq!(scim_status(&s, "/scim/v2/Users", access["access_token"].as_str().unwrap()).await, 200);

    // What a SCIM client provisioned, shown as text: the script in the userName never runs.
    let evil = "<script>alert('xss')</script>@acme.example";
    for name in [evil, "alice@acme.example"] {
        let r = s
            .post("/scim/v2/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "password": "hunter2 hunter2"}))
            .await;
        assert_eq!(r.status, 201);
    }
    c.goto(&s.url("/console/users")).await.unwrap();
    let names: Vec<String> = {
        let mut v = Vec::new();
        for e in c.find_all(Locator::Css("#resources tbody td:first-child a")).await.unwrap() {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert!(names.contains(&evil.to_owned()), "{names:?}");
    assert!(c.get_alert_text().await.is_err(), "no script ran");
    shot(c, "users").await;

    // The filter box: the API's error for a bad filter, and (htmx) results as one types.
    fill(c, "#filter", "userName eq").await;
    submit(c, "#apply-filter").await;
    assert!(text(c, "#filter-error").await.starts_with("invalidFilter: "));
    shot(c, "filter-error").await;
    c.goto(&s.url("/console/users")).await.unwrap();
    c.find(Locator::Css("#filter")).await.unwrap().send_keys("userName sw \"alice\"").await.unwrap();
    eventually("the list filtered as one types", || async {
        // htmx swaps the results in: an element found before the swap goes stale.
        match c.find(Locator::Css("#total")).await {
            Ok(e) => e.text().await.is_ok_and(|t| t == "1–1 of 1"),
            Err(_) => false,
        }
    })
    .await;

    // The user's page, and its history in the provisioning log.
    c.goto(&s.url("/console/users")).await.unwrap();
    follow(c, c.find(Locator::LinkText(evil)).await.unwrap()).await;
    assert_eq!(text(c, "#resource-title").await, evil);
    assert!(!c.source().await.unwrap().contains("hunter2"));
    shot(c, "user").await;
    c.goto(&s.url("/console/logs")).await.unwrap();
    eventually("the log has both creates", || async {
        c.refresh().await.unwrap();
        c.source().await.unwrap().matches("POST /scim/v2/Users").count() >= 2
    })
    .await;
    shot(c, "log").await;
    follow(c, c.find(Locator::Css("#log tbody tr a")).await.unwrap()).await;
    assert!(text(c, "#request-body").await.contains("***"));

    // The live tail adds a request as it arrives.
    c.goto(&s.url("/console/logs")).await.unwrap();
    let rows = c.find_all(Locator::Css("#log tbody tr")).await.unwrap().len();
    click(c, "#live").await;
    // The tail starts from what the page showed; give it its first poll before the request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.get("/scim/v2/Users?filter=userName%20eq%20%22alice%40acme.example%22").await.status, 200);
    eventually("the live tail shows the new request", || async {
        c.find_all(Locator::Css("#log tbody tr")).await.unwrap().len() > rows
    })
    .await;
    assert!(text(c, "#log tbody tr:first-child").await.contains("GET /scim/v2/Users"));

    // A webhook for the application, its secret once, and the events it will carry.
    follow(c, c.find(Locator::LinkText("Events")).await.unwrap()).await;
    assert_eq!(path(c).await, "/console/webhooks");
    fill(c, "#url", "https://app.example.com/scim-events").await;
    fill(c, "#types", "user.* group.member_added").await;
    submit(c, "#create-webhook").await;
    assert!(text(c, "#secret").await.starts_with("whsec_"));
    click(c, "#stored").await;
    submit(c, "#done").await;
    eventually("the webhook's page", || async { path(c).await.starts_with("/console/webhooks/") }).await;
    submit(c, "#send-test").await;
    assert!(text(c, "#notice").await.contains("ping is queued"));
    shot(c, "webhook").await;
    c.goto(&s.url("/console/events")).await.unwrap();
    assert!(text(c, "#events tbody tr:first-child").await.contains("user.created"));
    shot(c, "events").await;
    c.goto(&s.url("/console/admins")).await.unwrap();
    assert!(text(c, "#admins").await.contains(EMAIL));
    shot(c, "admins").await;

    // Signing out ends the session.
    submit(c, "#sign-out").await;
    assert_eq!(path(c).await, "/console/login");
    c.goto(&s.url("/console/tokens")).await.unwrap();
    assert_eq!(path(c).await, "/console/login");
    chrome.client.clone().close().await.unwrap();
}

/// A page on another origin that posts a token form to the console as soon as it loads: the
/// browser sends the console's cookie with it (127.0.0.1 on another port is the same *site*, so
/// SameSite does not stop it), and the missing CSRF token does.
#[tokio::test]
async fn a_form_posted_from_another_site_changes_nothing() {
    let Some(chrome) = chrome("a_form_posted_from_another_site_changes_nothing").await else { return };
    let c = &chrome.client;
    let s = start(Backend::Sqlite).await;
    c.goto(&s.url("/console/login")).await.unwrap();
    fill(c, "#tenant", "default").await;
    fill(c, "#email", EMAIL).await;
    fill(c, "#password", PASSWORD).await;
    submit(c, "#sign-in").await;
    assert_eq!(path(c).await, "/console/");
    let before = s.store.list_tokens(s.tenant.id).await.unwrap().len();

    let target = s.url("/console/tokens");
    let page = format!(
        "<!doctype html><form method=post action=\"{target}\"><input name=name value=stolen>\
         <input name=scope value=users:read></form><script>document.forms[0].submit()</script>"
    );
    let app =
        axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let attacker = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    c.goto(&attacker).await.unwrap();
    eventually("the forged form reached the console", || async { path(c).await == "/console/tokens" }).await;
    assert!(text(c, ".error").await.contains("did not come from this console"));
    shot(c, "csrf-refused").await;
    assert_eq!(s.store.list_tokens(s.tenant.id).await.unwrap().len(), before, "no token was made");
    chrome.client.clone().close().await.unwrap();
}

/// Guessing from the browser: after the account's free attempts the form says to wait, and the
/// right password waits too.
#[tokio::test]
async fn guesses_in_the_browser_meet_the_throttle() {
    let Some(chrome) = chrome("guesses_in_the_browser_meet_the_throttle").await else { return };
    let c = &chrome.client;
    let s = start(Backend::Sqlite).await;
    c.goto(&s.url("/console/login")).await.unwrap();
    let mut messages = Vec::new();
    for i in 0..6 {
        fill(c, "#tenant", "default").await;
        fill(c, "#email", EMAIL).await;
        fill(c, "#password", &format!("wrong guess {i}")).await;
        submit(c, "#sign-in").await;
        messages.push(text(c, "#login-error").await);
    }
    assert!(messages[..5].iter().all(|m| m == "Wrong tenant, email or password."), "{messages:?}");
    assert!(messages[5].starts_with("Too many failed sign-ins. Wait "), "{messages:?}");
    fill(c, "#password", PASSWORD).await;
    submit(c, "#sign-in").await;
    assert!(text(c, "#login-error").await.starts_with("Too many failed sign-ins"));
    assert_eq!(path(c).await, "/console/login");
    shot(c, "sign-in-throttled").await;
    chrome.client.clone().close().await.unwrap();
}
