//! The credential commands (`token list|revoke`, `client …`, `admin create`, `key rotate`) and
//! both identity-provider connections through the real binary: Entra-style client credentials and
//! Okta-style authorization code with the sign-in and consent pages.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{BIN, Server, client, db_url, scimd, stderr, stdout};

fn json_lines(s: &str) -> Vec<Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn admin_create(dir: &Path, tenant: &str, email: &str, password: &str) -> std::process::Output {
    admin_with_password(&db_url(dir), "create", tenant, email, password)
}

/// `scimd admin create|reset-password … --password-stdin` with `password` on stdin.
pub(super) fn admin_with_password(
    database: &str,
    command: &str,
    tenant: &str,
    email: &str,
    password: &str,
) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args([
            "--database",
            database,
            "admin",
            command,
            "--tenant",
            tenant,
            "--email",
            email,
            "--password-stdin",
        ])
        .env_remove("SCIMD_DATABASE_URL")
        .env_remove("SCIMD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn admin_list_reset_password_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    assert!(scimd(dir.path(), &["tenant", "create", "other"]).status.success());
    for email in ["it@acme.example", "ops@acme.example"] {
        let o = admin_create(dir.path(), "acme", email, "correct horse battery");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = scimd(dir.path(), &["admin", "list", "--tenant", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = json_lines(&stdout(&o));
    assert_eq!(
        listed.iter().map(|a| a["email"].as_str().unwrap()).collect::<Vec<_>>(),
        ["it@acme.example", "ops@acme.example"]
    );
    assert!(!stdout(&o).contains("argon2"), "never the hash");
    assert!(json_lines(&stdout(&scimd(dir.path(), &["admin", "list", "--tenant", "other"]))).is_empty());

    let o = admin_with_password(&db_url(dir.path()), "reset-password", "acme", "IT@acme.example", "short");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 12 characters"), "{}", stderr(&o));
    let o = admin_with_password(
        &db_url(dir.path()),
        "reset-password",
        "acme",
        "IT@acme.example",
        "a brand new passphrase",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = admin_with_password(
        &db_url(dir.path()),
        "reset-password",
        "other",
        "it@acme.example",
        "a brand new passphrase",
    );
    assert!(!o.status.success(), "another tenant's admin is not found");

    let o = scimd(dir.path(), &["admin", "delete", "--tenant", "acme", "--email", "ops@acme.example"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = json_lines(&stdout(&scimd(dir.path(), &["admin", "list", "--tenant", "acme"])));
    assert_eq!(listed.len(), 1);
    let o = scimd(dir.path(), &["admin", "delete", "--tenant", "acme", "--email", "ops@acme.example"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("has no admin"), "{}", stderr(&o));

    // An operator, and the tenants an operator sees.
    let mut child = Command::new(BIN)
        .args([
            "--database",
            &db_url(dir.path()),
            "admin",
            "create",
            "--tenant",
            "acme",
            "--email",
            "root@scimd.example",
            "--password-stdin",
            "--operator",
        ])
        .env_remove("SCIMD_DATABASE_URL")
        .env_remove("SCIMD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let created: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(created["operator"], true);
    let listed = json_lines(&stdout(&scimd(dir.path(), &["admin", "list", "--tenant", "acme"])));
    assert_eq!(listed.iter().map(|a| a["operator"].as_bool().unwrap()).collect::<Vec<_>>(), [false, true]);
    let o = scimd(dir.path(), &["tenant", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tenants = json_lines(&stdout(&o));
    assert_eq!(tenants.iter().map(|t| t["slug"].as_str().unwrap()).collect::<Vec<_>>(), ["acme", "other"]);
}

#[test]
fn token_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let token = stdout(&scimd(
        dir.path(),
        &["token", "create", "--tenant", "acme", "--name", "entra", "--scope", "scim"],
    ));
    let token = token.trim();
    let o = scimd(dir.path(), &["token", "list", "--tenant", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = json_lines(&stdout(&o));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "entra");
    assert_eq!(listed[0]["scopes"].as_array().unwrap().len(), 8);
    assert!(listed[0]["revoked"].is_null());
    assert!(!stdout(&o).contains(token), "a listing never shows the secret");

    let id = listed[0]["id"].as_str().unwrap();
    let o = scimd(dir.path(), &["token", "revoke", "--tenant", "acme", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = json_lines(&stdout(&scimd(dir.path(), &["token", "list", "--tenant", "acme"])));
    assert!(listed[0]["revoked"].is_string());
    // Another tenant's token id, or garbage, is refused.
    assert!(scimd(dir.path(), &["tenant", "create", "other"]).status.success());
    assert!(!scimd(dir.path(), &["token", "revoke", "--tenant", "other", id]).status.success());
    assert!(!scimd(dir.path(), &["token", "revoke", "--tenant", "acme", "not-a-uuid"]).status.success());
}

#[test]
fn client_admin_and_key_commands() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let o = scimd(
        dir.path(),
        &["client", "create", "--tenant", "acme", "--grant", "client_credentials", "--scope", "users:read"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let created: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("scimd_cs_"));

    let list = stdout(&scimd(dir.path(), &["client", "list", "--tenant", "acme"]));
    let listed = json_lines(&list);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(listed[0]["scopes"], serde_json::json!(["users:read"]));
    assert!(!list.contains(&secret));

    let o = scimd(dir.path(), &["client", "rotate", "--tenant", "acme", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);

    // Bad registrations say why.
    let o = scimd(dir.path(), &["client", "create", "--tenant", "acme", "--grant", "authorization_code"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("redirect-uri"), "{}", stderr(&o));
    let o = scimd(
        dir.path(),
        &[
            "client",
            "create",
            "--tenant",
            "acme",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
    );
    assert!(!o.status.success());
    let o = scimd(dir.path(), &["client", "create", "--tenant", "acme", "--grant", "password"]);
    assert!(!o.status.success());

    let o = scimd(dir.path(), &["client", "delete", "--tenant", "acme", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&scimd(dir.path(), &["client", "list", "--tenant", "acme"])).is_empty());
    assert!(!scimd(dir.path(), &["client", "delete", "--tenant", "acme", &id]).status.success());

    let o = admin_create(dir.path(), "acme", "okta-admin@example.com", "a long enough password");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = admin_create(dir.path(), "acme", "OKTA-admin@example.com", "a long enough password");
    assert!(!o.status.success(), "emails are unique per tenant, case-insensitively");
    let o = admin_create(dir.path(), "acme", "short@example.com", "short");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("12 characters"), "{}", stderr(&o));

    let first = stdout(&scimd(dir.path(), &["key", "rotate"]));
    let second = stdout(&scimd(dir.path(), &["key", "rotate"]));
    assert_eq!(first.trim().len(), 43, "{first:?}");
    assert_ne!(first, second);
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[at..at + html[at..].find('"').unwrap()].replace("&amp;", "&")
}

/// `scimd client create --grant authorization_code` for Okta: the client as printed, secret
/// included.
pub(super) fn okta_client(database: &str, tenant: &str, redirect: &str) -> Value {
    let args =
        ["client", "create", "--tenant", tenant, "--grant", "authorization_code", "--redirect-uri", redirect];
    let o = super::scimd_on(database, &[&args[..], &["--name", "Okta"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Entra's connection: an access token for the client credentials of `client_json` (what
/// `scimd client create --grant client_credentials` printed).
pub(super) async fn entra_token(base: &str, client_json: &Value) -> String {
    let r = client()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_json["client_id"].as_str().unwrap(), client_json["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Okta's authorization-code connection: the admin signs in on the authorization page and
/// approves, and Okta exchanges the code; the token response (with a refresh token).
pub(super) async fn okta_connects(
    base: &str,
    okta: &Value,
    redirect: &str,
    email: &str,
    password: &str,
) -> Value {
    let c = client();
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let okta_id = okta["client_id"].as_str().unwrap();
    let auth = format!(
        "{base}/oauth2/authorize?response_type=code&client_id={okta_id}&redirect_uri={redirect}&state=okta-state"
    );
    let html = b.get(&auth).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(format!("{base}/oauth2/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", okta_id),
            ("redirect_uri", redirect),
            ("state", "okta-state"),
            ("csrf", &field(&html, "csrf")),
            ("action", "login"),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = b.get(&auth).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Approve access"), "{html}");
    let r = b
        .post(format!("{base}/oauth2/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", okta_id),
            ("redirect_uri", redirect),
            ("state", "okta-state"),
            ("csrf", &field(&html, "csrf")),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let r = c
        .post(format!("{base}/oauth2/token"))
        .basic_auth(okta_id, okta["client_secret"].as_str())
        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn entra_and_okta_connect_to_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let o = scimd(
        dir.path(),
        &["client", "create", "--tenant", "acme", "--grant", "client_credentials", "--name", "Entra"],
    );
    let entra: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let okta = okta_client(&db_url(dir.path()), "acme", redirect);
    assert!(admin_create(dir.path(), "acme", "it@acme.example", "correct horse battery").status.success());

    let mut server = Server::start(dir.path());
    let base = format!("http://{}", server.addr());
    let c = client();

    // Entra: client credentials, then the SCIM URL.
    let r = c
        .get(format!("{base}/tenants/acme/scim/v2/Users?aadOptscim062020"))
        .bearer_auth(entra_token(&base, &entra).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Okta: the admin signs in and approves; Okta exchanges the code.
    let okta_id = okta["client_id"].as_str().unwrap();
    let t = okta_connects(&base, &okta, redirect, "it@acme.example", "correct horse battery").await;
    let r = c
        .post(format!("{base}/oauth2/token"))
        .basic_auth(okta_id, okta["client_secret"].as_str())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let r = c
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "okta-user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}
