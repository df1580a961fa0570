//! `scimd tenant set --groups` through the binary, and `scimd tenant delete` and
//! `DELETE /admin/v1/tenants/{slug}` on both backends: after the
//! deletion every table holds exactly the rows it held before the tenant existed — its users,
//! groups, memberships, events, deliveries, credentials, OAuth grants and codes, admins and
//! sessions, domains and provisioning log all gone — while the other tenant is untouched.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use scimd_testkit::pg::{self, TestDatabase};
use scimd_testkit::tables::row_counts;

use super::oauth::{admin_with_password, entra_token, okta_client, okta_connects};
use super::{PATIENCE, Server, client, scimd_on, stderr, stdout};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Runs a command that must succeed; its stdout.
fn ok(database: &str, args: &[&str]) -> String {
    let o = scimd_on(database, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// Rows per table of the data database and (SQLite) the log's, keyed `file:table`.
async fn counts(database: &str, log: Option<&str>, tenant: Option<&str>) -> BTreeMap<String, i64> {
    let mut all: BTreeMap<String, i64> =
        row_counts(database, tenant).await.into_iter().map(|(t, n)| (format!("data:{t}"), n)).collect();
    if let Some(log) = log {
        all.extend(row_counts(log, tenant).await.into_iter().map(|(t, n)| (format!("log:{t}"), n)));
    }
    all
}

/// A SCIM request below `/tenants/{slug}/scim/v2`: status and body.
async fn scim(
    base: &str,
    slug: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{base}/tenants/{slug}/scim/v2{path}")).bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// What an IdP does to a tenant: three users with emails, a group of two, a deactivation and a
/// deletion (which ends a membership). Leaves two users and one group.
async fn provision(base: &str, slug: &str, token: &str) {
    let mut ids = Vec::new();
    for name in ["ada", "grace", "linus"] {
        let user = json!({"schemas": [USER], "userName": format!("{name}@{slug}.example"),
            "emails": [{"value": format!("{name}@{slug}.example"), "type": "work", "primary": true}]});
        let (status, body) = scim(base, slug, token, reqwest::Method::POST, "/Users", Some(user)).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let group = json!({"schemas": [GROUP], "displayName": format!("{slug} staff"),
        "members": [{"value": ids[0]}, {"value": ids[2]}]});
    let (status, body) = scim(base, slug, token, reqwest::Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, 201, "{body}");
    let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (status, body) =
        scim(base, slug, token, reqwest::Method::PATCH, &format!("/Users/{}", ids[1]), Some(off)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        scim(base, slug, token, reqwest::Method::DELETE, &format!("/Users/{}", ids[2]), None).await;
    assert_eq!(status, 204, "{body}");
}

/// The whole story on one database: `beta` provisioned, the row counts taken, `acme` created and
/// used in every way that writes a row, then deleted (`through_api`: by an operator token on the
/// running server; otherwise by `scimd tenant delete` with the server stopped), and the counts
/// compared.
async fn every_row_of_the_tenant_goes(database: &str, log: Option<&str>, through_api: bool) {
    ok(database, &["migrate"]);
    ok(database, &["tenant", "create", "beta"]);
    let beta = ok(database, &["token", "create", "--tenant", "beta", "--name", "beta-idp"]).trim().to_owned();
    let operator = ok(database, &["token", "create", "--tenant", "beta", "--operator", "--name", "ops"])
        .trim()
        .to_owned();
    let beta_entra: Value = serde_json::from_str(&ok(
        database,
        &["client", "create", "--tenant", "beta", "--grant", "client_credentials", "--name", "Entra"],
    ))
    .unwrap();
    let mut server = Server::start_on(database, &[]);
    let base = format!("http://{}", server.addr());
    provision(&base, "beta", &beta).await;
    // What is not a tenant's: the server's signing key, made for the first access token it issues.
    entra_token(&base, &beta_entra).await;
    // A read of the event log numbers what waits (on PostgreSQL after the commit): beta's
    // counter row exists before the counts are taken.
    let r =
        client().get(format!("{base}/admin/v1/tenants/beta/events/head")).bearer_auth(&operator).send().await;
    assert_eq!(r.unwrap().status(), 200);
    let (exit, log_lines, _) = server.terminate();
    assert!(exit.success(), "{log_lines:#?}");
    let before = counts(database, log, None).await;

    // acme, in every way that writes a row: credentials of each kind, an admin who signs in and
    // approves Okta, a domain, a webhook with deliveries, SCIM writes with events and log records.
    ok(database, &["tenant", "create", "acme"]);
    let acme = ok(database, &["token", "create", "--tenant", "acme", "--name", "acme-idp"]).trim().to_owned();
    let entra: Value = serde_json::from_str(&ok(
        database,
        &["client", "create", "--tenant", "acme", "--grant", "client_credentials", "--name", "Entra"],
    ))
    .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let okta = okta_client(database, "acme", redirect);
    let o = admin_with_password(database, "create", "acme", "it@acme.example", "correct horse battery");
    assert!(o.status.success(), "{}", stderr(&o));
    ok(database, &["domain", "add", "--tenant", "acme", "acme.example"]);
    let hook: Value = serde_json::from_str(&ok(
        database,
        &["webhook", "add", "--tenant", "acme", "--url", "https://127.0.0.1:9/scim", "--allow-private"],
    ))
    .unwrap();
    let acme_id = ok(database, &["tenant", "list"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|t| t["slug"] == "acme")
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .unwrap();

    let mut running = Server::start_on(database, &[]);
    let base = format!("http://{}", running.addr());
    let mut server = Some(running);
    provision(&base, "acme", &acme).await;
    let c = client();
    let (status, _) =
        scim(&base, "acme", &entra_token(&base, &entra).await, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 200);
    let okta_token = okta_connects(&base, &okta, redirect, "it@acme.example", "correct horse battery").await;
    let user = json!({"schemas": [USER], "userName": "okta-user@acme.example"});
    let (status, body) = scim(
        &base,
        "acme",
        okta_token["access_token"].as_str().unwrap(),
        reqwest::Method::POST,
        "/Users",
        Some(user),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    ok(database, &["webhook", "test", "--tenant", "acme", "--id", hook["id"].as_str().unwrap()]);
    // The delivery worker fans the events out to the webhook (whose attempts fail: a private
    // address is refused); wait until it has, until PostgreSQL's sweep has numbered them, and
    // until the provisioning log has written its first batch.
    let started = Instant::now();
    loop {
        let rows = counts(database, log, Some(&acme_id)).await;
        let logged = rows.get("log:log").or(rows.get("data:log")).copied().unwrap_or(0);
        if rows["data:deliveries"] > 1 && rows["data:event_heads"] == 1 && logged > 0 {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no deliveries: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !through_api {
        let (exit, log_lines, _) = server.take().unwrap().terminate();
        assert!(exit.success(), "{log_lines:#?}");
    }

    // The test reaches every table that names a tenant (so a table the deletion forgot fails it),
    // and the OAuth tables that hang off the tenant's rows.
    let held = counts(database, log, Some(&acme_id)).await;
    for (table, n) in &held {
        // A session names a tenant only when an operator acts in one from the console.
        if table != "data:oauth_sessions" {
            assert!(*n > 0, "acme has no rows in {table}: {held:?}");
        }
    }
    let with_acme = counts(database, log, None).await;
    for table in ["data:oauth_codes", "data:oauth_refresh_tokens", "data:oauth_grants"] {
        assert!(with_acme[table] > before[table], "{table}: {} then {}", before[table], with_acme[table]);
    }

    // Without --yes nothing happens, and the operator is told what would go.
    let o = scimd_on(database, &["tenant", "delete", "acme"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds 3 users and 1 groups") && stderr(&o).contains("--yes"),
        "{}",
        stderr(&o)
    );
    // (A running server may still be writing its provisioning log meanwhile.)
    let settled = |mut m: BTreeMap<String, i64>| {
        if through_api {
            m.retain(|t, _| !t.ends_with(":log"));
        }
        m
    };
    assert_eq!(
        settled(counts(database, log, None).await),
        settled(with_acme),
        "nothing deleted without --yes"
    );

    let deleted: Value = if through_api {
        let delete = |slug: &str, token: &str| {
            c.delete(format!("{base}/admin/v1/tenants/{slug}")).bearer_auth(token.to_owned()).send()
        };
        let r = delete("acme", &acme).await.unwrap();
        assert_eq!(r.status(), 403, "the tenant's own token is not an operator's");
        let r = delete("beta", &operator).await.unwrap();
        assert_eq!(r.status(), 400, "an operator token does not delete its own tenant");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["scimType"], "mutability", "{body}");
        let r = delete("nobody", &operator).await.unwrap();
        assert_eq!(r.status(), 404);
        let r = delete("acme", &operator).await.unwrap();
        assert_eq!(r.status(), 200);
        let deleted = r.json().await.unwrap();
        // Its credentials are refused at once, on the server that deleted it.
        let (status, _) = scim(&base, "acme", &acme, reqwest::Method::GET, "/Users", None).await;
        assert_eq!(status, 401);
        let (exit, log_lines, _) = server.take().unwrap().terminate();
        assert!(exit.success(), "{log_lines:#?}");
        deleted
    } else {
        serde_json::from_str(&ok(database, &["tenant", "delete", "acme", "--yes"])).unwrap()
    };
    assert_eq!((&deleted["slug"], &deleted["id"]), (&json!("acme"), &json!(acme_id)), "{deleted}");
    // 3 users and 1 group left, 1 user deleted before.
    assert_eq!(deleted["deleted"]["resources"], 4, "{deleted}");
    assert_eq!(deleted["deleted"]["tenants"], 1, "{deleted}");
    assert!(deleted["deleted"]["log"].as_u64().unwrap() > 0, "{deleted}");

    let after = counts(database, log, None).await;
    let changed: Vec<_> = after.iter().filter(|(t, n)| before.get(*t) != Some(n)).collect();
    assert!(changed.is_empty(), "left behind (table, rows now) against {before:?}: {changed:?}");

    // beta goes on as before; acme is gone from every listing, and a second deletion says so.
    let mut server = Server::start_on(database, &[]);
    let base = format!("http://{}", server.addr());
    let (status, body) = scim(&base, "beta", &beta, reqwest::Method::GET, "/Users", None).await;
    assert_eq!((status, &body["totalResults"]), (200, &json!(2)), "{body}");
    let (status, _) = scim(&base, "acme", &operator, reqwest::Method::GET, "/Users", None).await;
    assert_eq!(status, 404, "no tenant acme for an operator either");
    let (exit, log_lines, _) = server.terminate();
    assert!(exit.success(), "{log_lines:#?}");
    assert!(!ok(database, &["tenant", "list"]).contains("acme"));
    let o = scimd_on(database, &["tenant", "delete", "acme", "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no tenant \"acme\""), "{}", stderr(&o));
}

#[tokio::test]
async fn tenant_delete_leaves_no_row_behind_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("scimd.db").display());
    let log = format!("sqlite://{}", dir.path().join("scimd-log.db").display());
    every_row_of_the_tenant_goes(&database, Some(&log), false).await;
}

#[tokio::test]
async fn tenant_delete_through_the_admin_api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("scimd.db").display());
    let log = format!("sqlite://{}", dir.path().join("scimd-log.db").display());
    every_row_of_the_tenant_goes(&database, Some(&log), true).await;
}

#[tokio::test]
async fn tenant_delete_leaves_no_row_behind_on_postgres() {
    if !pg::available_or_skip("tenant_delete_leaves_no_row_behind_on_postgres") {
        return;
    }
    let db = TestDatabase::create().await;
    every_row_of_the_tenant_goes(&db.url, None, false).await;
}

#[tokio::test]
async fn tenant_delete_through_the_admin_api_on_postgres() {
    if !pg::available_or_skip("tenant_delete_through_the_admin_api_on_postgres") {
        return;
    }
    let db = TestDatabase::create().await;
    every_row_of_the_tenant_goes(&db.url, None, true).await;
}

#[tokio::test]
async fn tenant_set_turns_groups_off_and_on() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("scimd.db").display());
    ok(&database, &["tenant", "create", "acme"]);
    let token = ok(&database, &["token", "create", "--tenant", "acme"]).trim().to_owned();
    let shown: Value = serde_json::from_str(&ok(&database, &["tenant", "show", "acme"])).unwrap();
    assert_eq!(shown["groups"], "on", "{shown}");
    let set: Value =
        serde_json::from_str(&ok(&database, &["tenant", "set", "acme", "--groups", "off"])).unwrap();
    assert_eq!(
        (&set["groups"], &set["strict"]),
        (&json!("off"), &json!(false)),
        "only groups changed: {set}"
    );
    let o = scimd_on(&database, &["tenant", "set", "acme", "--groups", "maybe"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let mut server = Server::start_on(&database, &[]);
    let base = format!("http://{}", server.addr());
    let (status, body) = scim(&base, "acme", &token, reqwest::Method::GET, "/Groups", None).await;
    assert_eq!(status, 404, "{body}");
    ok(&database, &["tenant", "set", "acme", "--groups", "on"]);
    let (status, body) = scim(&base, "acme", &token, reqwest::Method::GET, "/Groups", None).await;
    assert_eq!(status, 200, "the next request sees the setting: {body}");
    let (exit, log_lines, _) = server.terminate();
    assert!(exit.success(), "{log_lines:#?}");
}
